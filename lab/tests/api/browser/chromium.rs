//! Headless Chromium from Debian's packages, driven through chromedriver by fantoccini.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Generous: the suite runs many tests at once on two cores.
pub const WAIT: Duration = Duration::from_secs(20);

/// What a newcomer without Chromium sees instead of a failure.
pub const SKIPPED: &str = "browser test skipped: Chromium not installed; install with `apt-get install chromium chromium-driver`";

/// True when the browser test should return at once: Chromium or chromedriver is missing and
/// this is not CI. Says so on stderr, past the test harness's capture, so `cargo test` shows
/// it. Under `CI=true` a missing browser fails the test instead: a browser test that silently
/// passed without a browser would prove nothing.
pub fn skip_without_chromium() -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    skip_without(&[CHROMIUM, CHROMEDRIVER], ci, &mut std::io::stderr().lock())
}

fn skip_without(binaries: &[&str], ci: bool, out: &mut impl std::io::Write) -> bool {
    let missing: Vec<&str> = binaries
        .iter()
        .copied()
        .filter(|b| !Path::new(b).exists())
        .collect();
    if missing.is_empty() {
        return false;
    }
    assert!(
        !ci,
        "{} missing, and CI=true: the agent console's browser test needs Debian's Chromium and \
         chromedriver (`apt-get install chromium chromium-driver`; .ci/run installs them)",
        missing.join(" and ")
    );
    let _ = writeln!(out, "{SKIPPED}");
    true
}

#[test]
fn without_chromium_the_browser_test_is_skipped_except_on_ci() {
    let absent = ["/nonexistent/chromium", CHROMEDRIVER];
    let mut said = Vec::new();
    assert!(skip_without(&absent, false, &mut said));
    assert_eq!(String::from_utf8(said).unwrap(), format!("{SKIPPED}\n"));
    let on_ci = std::panic::catch_unwind(|| skip_without(&absent, true, &mut Vec::new()));
    let message = on_ci.unwrap_err();
    let message = message.downcast_ref::<String>().unwrap();
    // chromedriver may be missing too on this machine, and is then named beside it.
    assert!(
        message.starts_with("/nonexistent/chromium") && message.contains("missing, and CI=true"),
        "{message}"
    );
    assert!(message.contains("apt-get install chromium chromium-driver"));
    assert!(
        !skip_without(&[], true, &mut Vec::new()),
        "nothing missing, nothing skipped"
    );
}

/// A chromedriver process and one browser session; both end when this is dropped.
pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: PathBuf,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a 1366×900 headless Chromium. Fails,
    /// naming the packages, when Chromium or chromedriver is not installed; tests call
    /// [`skip_without_chromium`] first.
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// Like [`Self::start`], saving downloads into `downloads` without asking.
    pub async fn start_with_downloads(downloads: &Path) -> Self {
        Self::start_with(Some(downloads)).await
    }

    async fn start_with(downloads: Option<&Path>) -> Self {
        for binary in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(binary).exists(),
                "{binary} is missing: the agent console's browser test needs Debian's Chromium \
                 and chromedriver (`apt-get install chromium chromium-driver`; .ci/run installs them)"
            );
        }
        let port = free_port();
        let profile = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("chromium-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&profile).unwrap();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        let mut browser = PartialBrowser {
            driver: Some(driver),
            profile: profile.clone(),
        };
        let url = format!("http://127.0.0.1:{port}");
        wait_for_driver(&url).await;
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities(&profile, downloads))
            .connect(&url)
            .await
            .unwrap_or_else(|e| panic!("chromedriver could not start Chromium: {e}"));
        Self {
            client,
            driver: browser.driver.take().unwrap(),
            profile,
        }
    }

    /// Ends the browser session cleanly; dropping kills whatever is left.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }

    /// The element's text, or `None` while it does not exist.
    pub async fn text(&self, css: &str) -> Option<String> {
        self.client
            .find(Locator::Css(css))
            .await
            .ok()?
            .text()
            .await
            .ok()
    }

    /// Waits until the element matching `css` shows text containing `needle`; returns it.
    pub async fn wait_for_text(&self, css: &str, needle: &str) -> String {
        eventually(&format!("{css} to show {needle:?}"), || async {
            self.text(css).await.filter(|text| text.contains(needle))
        })
        .await
    }

    /// Waits until an element matching `css` exists and is displayed.
    pub async fn wait_for_visible(&self, css: &str) -> fantoccini::elements::Element {
        eventually(&format!("{css} to be visible"), || async {
            let element = self.client.find(Locator::Css(css)).await.ok()?;
            element.is_displayed().await.ok()?.then_some(element)
        })
        .await
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        kill_group(&mut self.driver, &self.profile);
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Cleans up if starting the browser fails half way.
struct PartialBrowser {
    driver: Option<Child>,
    profile: PathBuf,
}

impl Drop for PartialBrowser {
    fn drop(&mut self) {
        if let Some(driver) = self.driver.as_mut() {
            kill_group(driver, &self.profile);
            let _ = std::fs::remove_dir_all(&self.profile);
        }
    }
}

fn kill_group(driver: &mut Child, profile: &Path) {
    // Signals go to exact processes only: chromedriver by pid, and the Chromium processes
    // whose command line names this test's own profile directory.
    let _ = driver.kill();
    let _ = driver.wait();
    let _ = Command::new("pkill")
        .args(["-KILL", "-f", "--"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .stderr(Stdio::null())
        .status();
}

fn capabilities(
    profile: &Path,
    downloads: Option<&Path>,
) -> serde_json::Map<String, serde_json::Value> {
    let args = [
        "--headless=new".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        "--no-first-run".to_owned(),
        "--window-size=1366,900".to_owned(),
        format!("--user-data-dir={}", profile.display()),
    ];
    let mut options = serde_json::json!({ "binary": CHROMIUM, "args": args });
    if let Some(dir) = downloads {
        options["prefs"] = serde_json::json!({
            "download.default_directory": dir.display().to_string(),
            "download.prompt_for_download": false,
        });
    }
    let caps = serde_json::json!({
        "browserName": "chrome",
        "goog:chromeOptions": options,
    });
    match caps {
        serde_json::Value::Object(map) => map,
        _ => unreachable!(),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_for_driver(url: &str) {
    let http = reqwest::Client::new();
    eventually("chromedriver to answer /status", || async {
        let response = http.get(format!("{url}/status")).send().await.ok()?;
        let body: serde_json::Value = response.json().await.ok()?;
        (body["value"]["ready"] == true).then_some(())
    })
    .await;
}

/// Polls `probe` every 100 ms until it yields a value; fails the test after [`WAIT`].
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {WAIT:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
