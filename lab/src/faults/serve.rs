//! `calltrack serve` as a child process, to kill and restart on its own spool.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use tokio::process::{Child, Command};

use super::{FaultError, Result};
use calltrack::commands::simulate::Target;
use calltrack::twilio::PublicBaseUrl;

/// How long a start may take before it counts as failed: a database that hangs at start
/// costs `serve` its five-second connect timeout.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// What one `serve` process is started with.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The `calltrack` binary.
    pub binary: PathBuf,
    pub database_url: String,
    /// The instance's own directory: its spool in `spool/`, a log per start in `serve-N.log`.
    pub dir: PathBuf,
    /// What webhooks are signed against (`PUBLIC_BASE_URL`).
    pub public_base_url: PublicBaseUrl,
    /// `TWILIO_AUTH_TOKEN`: what webhooks are signed with.
    pub auth_token: String,
    /// `VOICE_DEADLINE_MS`.
    pub deadline: Duration,
    /// `JWT_SECRET`: what API callers' tokens are signed with.
    pub jwt_secret: String,
    /// More environment for the process, set after (and so over) the variables above: a
    /// build's own settings, for measuring it as it would be run.
    pub more_env: Vec<(String, String)>,
}

impl ServeConfig {
    /// A config with made-up secrets, signing against `https://calltrack.invalid`.
    pub fn new(binary: &Path, database_url: &str, dir: PathBuf, deadline: Duration) -> Self {
        Self {
            binary: binary.to_owned(),
            database_url: database_url.to_owned(),
            dir,
            public_base_url: PublicBaseUrl::parse("https://calltrack.invalid")
                .unwrap_or_else(|_| unreachable!("a valid literal URL")),
            auth_token: calltrack::crypto::random_secret(24),
            deadline,
            jwt_secret: calltrack::crypto::random_secret(32),
            more_env: Vec::new(),
        }
    }
}

/// A running (or killed, awaiting restart) `calltrack serve`. Dropping it kills the process.
#[derive(Debug)]
pub struct ServeProcess {
    config: ServeConfig,
    child: Option<Child>,
    addr: Option<SocketAddr>,
    starts: u32,
    log: PathBuf,
}

impl ServeProcess {
    /// Starts `serve` on a free port and waits until it logs where it listens.
    pub async fn start(config: ServeConfig) -> Result<Self> {
        std::fs::create_dir_all(&config.dir)
            .map_err(|e| FaultError::io(format!("cannot create {}", config.dir.display()), e))?;
        let mut serve = Self {
            log: config.dir.join("serve-1.log"),
            config,
            child: None,
            addr: None,
            starts: 0,
        };
        serve.launch().await?;
        Ok(serve)
    }

    /// Starts the process again on the same spool (after a kill or a stop); it listens on a
    /// new port.
    pub async fn restart(&mut self) -> Result<()> {
        if self.child.is_some() {
            self.kill().await?;
        }
        self.launch().await
    }

    async fn launch(&mut self) -> Result<()> {
        self.starts += 1;
        self.log = self.config.dir.join(format!("serve-{}.log", self.starts));
        let log = std::fs::File::create(&self.log)
            .map_err(|e| FaultError::io(format!("cannot create {}", self.log.display()), e))?;
        let log_err = log
            .try_clone()
            .map_err(|e| FaultError::io("cannot share the serve log", e))?;
        let config = &self.config;
        let child = Command::new(&config.binary)
            .arg("serve")
            // The instance's directory, so no `.env` of the caller's is read.
            .current_dir(&config.dir)
            .env("DATABASE_URL", &config.database_url)
            .env("BIND_ADDR", "127.0.0.1:0")
            .env("PUBLIC_BASE_URL", config.public_base_url.as_str())
            .env(
                "TWILIO_ACCOUNT_SID",
                calltrack::twilio::simulated::random_sid("AC"),
            )
            .env("TWILIO_AUTH_TOKEN", &config.auth_token)
            // Nothing answers there: no test may reach the real Twilio.
            .env("TWILIO_API_BASE_URL", "http://127.0.0.1:9")
            .env("JWT_SECRET", &config.jwt_secret)
            .env("GIFT_CARD_KEY", calltrack::crypto::random_secret(32))
            .env("CALLTRACK_SPOOL_DIR", self.spool_dir())
            .env("VOICE_DEADLINE_MS", config.deadline.as_millis().to_string())
            .env("RECONCILE_ON_START", "false")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .envs(config.more_env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                FaultError::io(format!("cannot run {} serve", config.binary.display()), e)
            })?;
        self.child = Some(child);
        self.addr = None;
        let started = Instant::now();
        while started.elapsed() < START_TIMEOUT {
            if let Some(addr) = serving_addr(&self.log) {
                self.addr = Some(addr);
                return Ok(());
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(FaultError::ServeExited {
                    status,
                    log_tail: self.log_tail(20),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(FaultError::ServeDidNotStart {
            waited: START_TIMEOUT,
            log_tail: self.log_tail(20),
        })
    }

    /// The process id of the running process.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Where the process listens, e.g. `http://127.0.0.1:40123`.
    pub fn base_url(&self) -> Result<String> {
        self.addr
            .filter(|_| self.child.is_some())
            .map(|addr| format!("http://{addr}"))
            .ok_or(FaultError::ServeNotRunning)
    }

    /// Where to send webhooks and how to sign them.
    pub fn target(&self) -> Result<Target> {
        Ok(Target {
            send_to: self.base_url()?,
            signed_as: self.config.public_base_url.clone(),
            auth_token: SecretString::from(self.config.auth_token.clone()),
        })
    }

    pub fn config(&self) -> &ServeConfig {
        &self.config
    }

    /// `CALLTRACK_SPOOL_DIR` of this instance; the same across restarts.
    pub fn spool_dir(&self) -> PathBuf {
        self.config.dir.join("spool")
    }

    /// Spool segment files on disk now.
    pub fn spool_segments(&self) -> usize {
        std::fs::read_dir(self.spool_dir())
            .map(|dir| {
                dir.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".spool"))
                    .count()
            })
            .unwrap_or(0)
    }

    /// `SIGKILL`: the process dies at once, between any two instructions.
    pub async fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child
                .kill()
                .await
                .map_err(|e| FaultError::io("cannot kill serve", e))?;
        }
        Ok(())
    }

    /// `SIGTERM`, then waits up to `grace` for a graceful stop (in-flight requests finish);
    /// after that, `SIGKILL`. Returns whether it stopped by itself with success.
    pub async fn terminate(&mut self, grace: Duration) -> Result<bool> {
        let Some(mut child) = self.child.take() else {
            return Ok(false);
        };
        if let Some(pid) = child.id() {
            let status = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await
                .map_err(|e| FaultError::io("cannot run kill", e))?;
            if !status.success() {
                return Err(FaultError::Command {
                    command: format!("kill -TERM {pid}"),
                    status,
                    output: String::new(),
                });
            }
        }
        match tokio::time::timeout(grace, child.wait()).await {
            Ok(Ok(status)) => Ok(status.success()),
            Ok(Err(e)) => Err(FaultError::io("cannot wait for serve", e)),
            Err(_) => {
                child
                    .kill()
                    .await
                    .map_err(|e| FaultError::io("cannot kill serve", e))?;
                Ok(false)
            }
        }
    }

    /// The routing snapshot lists every one of `numbers`: the instance can forward them
    /// without the database, even after a restart.
    pub async fn wait_for_routing(&self, numbers: &[&str], within: Duration) -> Result<()> {
        let path = self.spool_dir().join("routing.json");
        let until = Instant::now() + within;
        loop {
            if std::fs::read_to_string(&path)
                .is_ok_and(|snapshot| numbers.iter().all(|n| snapshot.contains(n)))
            {
                return Ok(());
            }
            if Instant::now() > until {
                return Err(FaultError::Timeout(
                    "the routing snapshot never listed every number",
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Scrapes `/metrics`.
    pub async fn metrics(&self, http: &reqwest::Client) -> Result<Metrics> {
        Metrics::scrape(http, &self.base_url()?).await
    }

    /// The last `lines` lines of the current start's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(lines).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// Log lines of every start so far at `level` (`"WARN"`, `"ERROR"`) whose message
    /// contains `needle`.
    pub fn log_lines(&self, level: &str, needle: &str) -> Vec<String> {
        (1..=self.starts)
            .flat_map(|n| {
                std::fs::read_to_string(self.config.dir.join(format!("serve-{n}.log")))
                    .unwrap_or_default()
                    .lines()
                    .filter(|line| {
                        serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| {
                            v["level"] == level
                                && v["fields"]["message"]
                                    .as_str()
                                    .is_some_and(|m| m.contains(needle))
                        })
                    })
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

/// The address of the "calltrack serving" line of a JSON log, once it is there.
fn serving_addr(log: &Path) -> Option<SocketAddr> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines().find_map(|line| {
        let value: serde_json::Value = serde_json::from_str(line).ok()?;
        let fields = &value["fields"];
        (fields["message"] == "calltrack serving")
            .then(|| fields["addr"].as_str()?.parse().ok())
            .flatten()
    })
}

/// One scrape of `/metrics`.
#[derive(Debug, Clone)]
pub struct Metrics {
    pub text: String,
}

impl Metrics {
    /// Scrapes `/metrics` of the instance at `base_url`.
    pub async fn scrape(http: &reqwest::Client, base_url: &str) -> Result<Self> {
        let text = http
            .get(format!("{base_url}/metrics"))
            .timeout(Duration::from_secs(10))
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?;
        Ok(Self { text })
    }

    /// The sum of every series of `name` whose labels contain each of `labels`
    /// (`webhook="voice"`); 0 when there is none.
    pub fn sum(&self, name: &str, labels: &[&str]) -> f64 {
        self.text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let (series, value) = line.rsplit_once(' ')?;
                let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
                (metric == name && labels.iter().all(|l| rest.contains(l)))
                    .then(|| value.trim().parse::<f64>().ok())
                    .flatten()
            })
            // Folded from +0.0: an empty float sum is -0.0.
            .fold(0.0, |total, value| total + value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_summed_over_the_series_whose_labels_match() {
        let metrics = Metrics {
            text: "# TYPE calltrack_fail_open_answers_total counter\n\
                   calltrack_fail_open_answers_total{webhook=\"voice\"} 3\n\
                   calltrack_fail_open_answers_total{webhook=\"status\"} 4\n\
                   calltrack_spool_depth 0\n\
                   calltrack_spool_depth_other 9\n"
                .into(),
        };
        assert_eq!(metrics.sum("calltrack_fail_open_answers_total", &[]), 7.0);
        assert_eq!(
            metrics.sum("calltrack_fail_open_answers_total", &["webhook=\"voice\""]),
            3.0
        );
        assert_eq!(metrics.sum("calltrack_spool_depth", &[]), 0.0);
        assert_eq!(metrics.sum("calltrack_missing", &[]), 0.0);
    }

    #[test]
    fn the_serving_line_of_a_json_log_gives_the_address() {
        let dir = std::env::temp_dir().join(format!("faults-log-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let log = dir.join("serve-1.log");
        std::fs::write(
            &log,
            "{\"level\":\"INFO\",\"fields\":{\"message\":\"spool: opened\"}}\n\
             {\"level\":\"INFO\",\"fields\":{\"message\":\"calltrack serving\",\"addr\":\"127.0.0.1:40123\"}}\n",
        )
        .expect("written");

        assert_eq!(serving_addr(&log), "127.0.0.1:40123".parse().ok());
        std::fs::remove_dir_all(dir).ok();
    }
}
