//! The manager console: its page and assets under the strict policy, and a company owner
//! working the demo campaign in headless Chromium.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use calltrack::commands::demo::seed;
use fantoccini::Locator;
use serde_json::json;
use uuid::Uuid;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, ResponseTemplate};

use super::chromium::{Browser, eventually};
use crate::helpers::TestApp;
use crate::world::{cipher, token};

const ACCOUNT: &str = "ACae6d5b1f2c3e4d5a6b7c8d9e0f1a2b3c";
const BOUGHT: &str = "+14155550123";

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.http
        .get(format!("{}{path}", app.address))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_manager_page_and_its_assets_are_served_under_the_consoles_policy() {
    let app = TestApp::spawn().await;

    let page = get(&app, "/manage").await;

    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(csp, calltrack::routes::agent::CONTENT_SECURITY_POLICY);
    assert!(!csp.contains("unsafe"));
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"<script src="/manage/app.js" defer></script>"#));
    assert!(html.contains(r#"<script src="/manage/charts.js" defer></script>"#));
    assert_eq!(
        html.matches("<script").count(),
        2,
        "only the two script files"
    );
    assert!(!html.contains("style="), "no inline styles");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "nothing from the network"
    );
    for (path, kind) in [
        ("/manage/app.js", "text/javascript"),
        ("/manage/charts.js", "text/javascript"),
        ("/manage/app.css", "text/css"),
    ] {
        let response = get(&app, path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind),
            "{path}"
        );
        let source = response.text().await.unwrap();
        for forbidden in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
        ] {
            assert!(!source.contains(forbidden), "{path} uses {forbidden}");
        }
    }
}

/// The campaign of a world with the demo's week of history, and its company owner.
async fn demo_world(app: &TestApp) -> (crate::world::World, Uuid) {
    let world = app.world(3).await;
    let cipher = cipher();
    let cards: Vec<(String, String)> = (0..10)
        .map(|n| (cipher.encrypt(&format!("HIST-{n}")), cipher.encrypt("1234")))
        .collect();
    // The demo imports these through the API; this world is seeded directly.
    app.db
        .execute(
            "UPDATE campaigns SET mail_date = current_date - 8 WHERE id = $1",
            &[&world.campaign.id],
        )
        .await
        .unwrap();
    let mut callers = Vec::new();
    for n in 0..24 {
        let phone = format!("+1415555{:04}", 200 + n);
        let row = app
            .db
            .query_one(
                "INSERT INTO recipients (campaign_id, redemption_code, first_name, phone)
                 VALUES ($1, $2, 'Caller', $3) RETURNING id",
                &[
                    &world.campaign.id,
                    &format!("HIST-{}-{n}", world.campaign.id),
                    &phone,
                ],
            )
            .await
            .unwrap();
        callers.push((row.get::<_, Uuid>(0), phone));
    }
    seed::demo_history(
        &app.db,
        world.campaign.id,
        world.campaign.tracked_number_id,
        &callers,
        &cards,
    )
    .await
    .unwrap();
    let owner = app
        .seed_user(&["company_owner"], Some(world.client_id), None)
        .await;
    (world, owner)
}

async fn click(browser: &Browser, css: &str) {
    browser.wait_for_visible(css).await.click().await.unwrap();
}

async fn sign_in(browser: &Browser, secret: &str) {
    let input = browser.wait_for_visible(r#"[data-testid="secret"]"#).await;
    input.clear().await.unwrap();
    input.send_keys(secret).await.unwrap();
    click(browser, r#"[data-testid="sign-in-submit"]"#).await;
}

async fn count(app: &TestApp, sql: &str, campaign: Uuid) -> i64 {
    app.db.query_one(sql, &[&campaign]).await.unwrap().get(0)
}

#[tokio::test]
async fn a_company_owner_reads_the_charts_manages_a_number_links_a_caller_and_downloads_the_calls()
{
    if super::chromium::skip_without_chromium() {
        return;
    }
    let started = Instant::now();
    let app = TestApp::spawn().await;
    let (world, owner) = demo_world(&app).await;
    let campaign = world.campaign.id;
    let downloads = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("downloads-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&downloads).unwrap();
    let browser = Browser::start_with_downloads(&downloads).await;
    let client = &browser.client;
    client
        .goto(&format!("{}/manage", app.address))
        .await
        .unwrap();

    // An agent is told in words that this console is not for their role.
    sign_in(&browser, &token(world.agent)).await;
    browser
        .wait_for_text(r#"[data-testid="error"]"#, "not one of them")
        .await;
    let link = browser
        .wait_for_visible(r#"[data-testid="error-link"]"#)
        .await;
    assert_eq!(link.attr("href").await.unwrap().as_deref(), Some("/agent"));

    // The owner sees the campaign with its counts as the database holds them.
    sign_in(&browser, &token(owner)).await;
    let card = format!(r#"[data-testid="campaign-card"][data-campaign-id="{campaign}"]"#);
    browser.wait_for_visible(&card).await;
    let week = count(
        &app,
        "SELECT count(*) FROM call_sessions WHERE campaign_id = $1
         AND created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '6 days'",
        campaign,
    )
    .await;
    assert_eq!(
        browser
            .text(&format!(r#"{card} [data-testid="calls-week"]"#))
            .await,
        Some(week.to_string())
    );
    save_screenshot(&browser, "manage-dashboard.png").await;

    // The campaign page draws the calls per day by outcome.
    click(
        &browser,
        &format!(r#"{card} [data-testid="campaign-link"]"#),
    )
    .await;
    browser
        .wait_for_text(r#"[data-testid="campaign-title"]"#, "Spring mailer")
        .await;
    let answered = count(
        &app,
        "SELECT count(*) FROM call_sessions WHERE campaign_id = $1 AND call_outcome = 'answered'",
        campaign,
    )
    .await;
    assert!(answered > 10, "the demo's history has answered calls");
    browser
        .wait_for_text(
            r#"[data-testid="legend-answered"]"#,
            &format!("Answered {answered}"),
        )
        .await;
    let days_answered = count(
        &app,
        "SELECT count(DISTINCT date_trunc('day', created_at, 'UTC')) FROM call_sessions
         WHERE campaign_id = $1 AND call_outcome = 'answered'",
        campaign,
    )
    .await;
    let segments = client
        .find_all(Locator::Css(
            r#"[data-testid="chart-calls"] rect.s-answered"#,
        ))
        .await
        .unwrap();
    assert_eq!(
        segments.len() as i64,
        days_answered,
        "one answered segment for each day with answered calls"
    );
    browser
        .wait_for_visible(r#"[data-testid="chart-decay"] svg"#)
        .await;
    browser
        .wait_for_visible(r#"[data-testid="chart-funnel"] svg"#)
        .await;
    // Tall enough for every chart of the overview.
    client.set_window_size(1366, 1500).await.unwrap();
    save_screenshot(&browser, "manage-campaign.png").await;
    // On a phone's width the page itself never scrolls sideways (wide charts and tables
    // scroll inside their cards).
    client.set_window_size(390, 844).await.unwrap();
    let overflow = eventually("the layout to settle at a phone's width", || async {
        let width = client
            .execute(
                "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];",
                vec![],
            )
            .await
            .ok()?;
        let (scroll, client_width) = (width[0].as_i64()?, width[1].as_i64()?);
        (client_width <= 400).then_some(scroll - client_width)
    })
    .await;
    assert_eq!(overflow, 0, "the page is wider than a phone's screen");
    save_screenshot(&browser, "manage-campaign-phone.png").await;
    client.set_window_size(1366, 900).await.unwrap();

    // Numbers: Twilio's refusal in words, then a purchase.
    Mock::given(method("POST"))
        .and(path(format!(
            "/2010-04-01/Accounts/{ACCOUNT}/IncomingPhoneNumbers.json"
        )))
        .and(body_string_contains("AreaCode=999"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "code": 21452, "message": "No phone numbers found in area code 999", "status": 400,
        })))
        .mount(&app.twilio)
        .await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/2010-04-01/Accounts/{ACCOUNT}/IncomingPhoneNumbers.json"
        )))
        .and(body_string_contains("AreaCode=415"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "sid": "PN7a1b2c3d4e5f60718293a4b5c6d7e8f9", "phone_number": BOUGHT,
        })))
        .expect(1)
        .mount(&app.twilio)
        .await;
    click(&browser, r#"[data-testid="tab-numbers"]"#).await;
    browser.wait_for_visible(r#"[data-testid="number"]"#).await;
    let area = browser
        .wait_for_visible(r#"[data-testid="buy-area"]"#)
        .await;
    area.send_keys("999").await.unwrap();
    browser
        .wait_for_visible(r#"[data-testid="buy-forward"]"#)
        .await
        .send_keys("(415) 555-0199")
        .await
        .unwrap();
    click(&browser, r#"[data-testid="buy-submit"]"#).await;
    browser
        .wait_for_text(
            r#"[data-testid="error"]"#,
            "Twilio refused: No phone numbers found in area code 999. (Twilio error 21452)",
        )
        .await;
    area.clear().await.unwrap();
    area.send_keys("415").await.unwrap();
    click(&browser, r#"[data-testid="buy-submit"]"#).await;
    let bought = format!(r#"[data-testid="number"][data-phone="{BOUGHT}"]"#);
    browser.wait_for_visible(&bought).await;
    browser
        .wait_for_text(r#"[data-testid="status"]"#, "Bought +1 (415) 555-0123")
        .await;

    // Its whisper, changed through the edit form.
    click(
        &browser,
        &format!(r#"{bought} [data-testid="edit-number"]"#),
    )
    .await;
    let whisper = browser
        .wait_for_visible(&format!(r#"{bought} [data-testid="edit-whisper"]"#))
        .await;
    whisper
        .send_keys("Call from the spring mailer")
        .await
        .unwrap();
    click(
        &browser,
        &format!(r#"{bought} [data-testid="save-number"]"#),
    )
    .await;
    browser
        .wait_for_text(
            &format!(r#"{bought} [data-testid="number-whisper"]"#),
            "Call from the spring mailer",
        )
        .await;
    browser
        .wait_for_text(
            &format!(r#"{bought} [data-testid="number-screening"]"#),
            "presses a key",
        )
        .await;
    let row = app
        .db
        .query_one(
            "SELECT whisper, require_keypress FROM tracked_phone_numbers WHERE phone_number = $1",
            &[&BOUGHT],
        )
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, Option<String>>(0).as_deref(),
        Some("Call from the spring mailer")
    );
    // Screening follows the whisper by default; NULL is that default.
    assert_ne!(row.get::<_, Option<bool>>(1), Some(false));

    // Releasing asks first; keeping the number changes nothing.
    Mock::given(method("DELETE"))
        .and(path(format!(
            "/2010-04-01/Accounts/{ACCOUNT}/IncomingPhoneNumbers/PN7a1b2c3d4e5f60718293a4b5c6d7e8f9.json"
        )))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&app.twilio)
        .await;
    click(
        &browser,
        &format!(r#"{bought} [data-testid="release-number"]"#),
    )
    .await;
    click(
        &browser,
        &format!(r#"{bought} [data-testid="cancel-release"]"#),
    )
    .await;
    assert_eq!(
        browser
            .text(&format!(r#"{bought} [data-testid="number-state"]"#))
            .await
            .as_deref(),
        Some("Active")
    );
    click(
        &browser,
        &format!(r#"{bought} [data-testid="release-number"]"#),
    )
    .await;
    click(
        &browser,
        &format!(r#"{bought} [data-testid="confirm-release"]"#),
    )
    .await;
    browser
        .wait_for_text(
            &format!(r#"{bought} [data-testid="number-state"]"#),
            "Released",
        )
        .await;
    let active: bool = app
        .db
        .query_one(
            "SELECT is_active FROM tracked_phone_numbers WHERE phone_number = $1",
            &[&BOUGHT],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!active, "released numbers stay, switched off");

    // Calls: the CSV download holds every session of the campaign, as stored.
    click(&browser, r#"[data-testid="tab-calls"]"#).await;
    browser
        .wait_for_visible(r#"[data-testid="call-row"]"#)
        .await;
    // An unmatched caller, linked by the code on their mail piece.
    let code = app.redemption_code(world.recipient_id).await;
    let first = browser
        .wait_for_visible(r#"[data-testid="unmatched-call"]"#)
        .await;
    let unmatched: Uuid = first
        .attr("data-session-id")
        .await
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();
    let item = format!(r#"[data-testid="unmatched-call"][data-session-id="{unmatched}"]"#);
    browser
        .wait_for_visible(&format!(r#"{item} [data-testid="link-code"]"#))
        .await
        .send_keys(&code)
        .await
        .unwrap();
    click(&browser, &format!(r#"{item} [data-testid="link-submit"]"#)).await;
    browser
        .wait_for_text(r#"[data-testid="status"]"#, "Caller linked to Dana")
        .await;
    eventually("the linked call to leave the unmatched list", || async {
        client
            .find(Locator::Css(&item))
            .await
            .is_err()
            .then_some(())
    })
    .await;
    let linked: Option<Uuid> = app
        .db
        .query_one(
            "SELECT recipient_id FROM call_sessions WHERE id = $1",
            &[&unmatched],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(linked, Some(world.recipient_id));

    click(&browser, r#"[data-testid="download-csv"]"#).await;
    let file = eventually("the CSV to be downloaded", || async {
        downloaded_csv(&downloads)
    })
    .await;
    let text = std::fs::read_to_string(&file).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let id_at = header.iter().position(|h| h == "id").unwrap();
    let caller_at = header.iter().position(|h| h == "caller_phone").unwrap();
    let rows: Vec<(String, String)> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[id_at].to_owned(), r[caller_at].to_owned())
        })
        .collect();
    let stored: HashSet<(String, String)> = app
        .db
        .query(
            "SELECT id::text, coalesce(caller_phone, '') FROM call_sessions WHERE campaign_id = $1",
            &[&campaign],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(rows.len(), stored.len());
    assert_eq!(rows.into_iter().collect::<HashSet<_>>(), stored);

    browser.close().await;
    let _ = std::fs::remove_dir_all(&downloads);
    eprintln!("manager browser test took {:?}", started.elapsed());
}

/// A finished download (Chromium writes `.crdownload` until it is complete).
fn downloaded_csv(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "csv"))
}

/// Always written under the target directory; the docs' copy in `docs/` is replaced only
/// when `UPDATE_SCREENSHOTS` is set (or it is missing), so test runs leave the tree clean.
async fn save_screenshot(browser: &Browser, name: &str) {
    // Let the charts settle (fonts, the last request) before the picture.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let png = browser.client.screenshot().await.unwrap();
    std::fs::write(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name), &png).unwrap();
    let docs = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .join("docs")
        .join(name);
    if std::env::var_os("UPDATE_SCREENSHOTS").is_some() || !docs.exists() {
        std::fs::create_dir_all(docs.parent().unwrap()).unwrap();
        std::fs::write(docs, png).unwrap();
    }
}
