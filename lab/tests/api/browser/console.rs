//! The agent console: the page's headers, and an agent working a live call in Chromium.

use std::path::PathBuf;
use std::time::Instant;

use calltrack::twilio::simulated::Fixture;
use fantoccini::Locator;
use uuid::Uuid;

use super::chromium::{Browser, eventually};
use crate::helpers::TestApp;
use crate::world::{CALLER, token};

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.http
        .get(format!("{}{path}", app.address))
        .send()
        .await
        .unwrap()
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_agent_page_is_html_under_a_strict_content_security_policy() {
    let app = TestApp::spawn().await;

    let response = get(&app, "/agent").await;

    assert_eq!(response.status(), 200);
    assert!(header(&response, "content-type").starts_with("text/html"));
    let csp = header(&response, "content-security-policy");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    assert_eq!(header(&response, "x-content-type-options"), "nosniff");
    let html = response.text().await.unwrap();
    assert!(html.contains(r#"<script src="/agent/app.js" defer></script>"#));
    assert!(html.contains(r#"<link rel="stylesheet" href="/agent/app.css">"#));
    // The policy would block inline code and styles, so the page must not depend on them.
    assert_eq!(
        html.matches("<script").count(),
        1,
        "only the one script file"
    );
    assert!(!html.contains("style="), "no inline styles");
    assert!(!has_inline_handler(&html), "no inline event handlers");
    for testid in ["sign-in-form", "secret", "call-list", "detail", "status"] {
        assert!(
            html.contains(&format!(r#"data-testid="{testid}""#)),
            "{testid}"
        );
    }
}

#[tokio::test]
async fn the_console_script_and_stylesheet_are_served_with_their_types() {
    let app = TestApp::spawn().await;

    let script = get(&app, "/agent/app.js").await;
    let stylesheet = get(&app, "/agent/app.css").await;

    assert_eq!(script.status(), 200);
    assert!(header(&script, "content-type").starts_with("text/javascript"));
    assert!(header(&script, "content-security-policy").contains("script-src 'self'"));
    assert_eq!(stylesheet.status(), 200);
    assert!(header(&stylesheet, "content-type").starts_with("text/css"));
    let source = script.text().await.unwrap();
    // API values are someone's input: they reach the DOM as text, never as markup.
    for forbidden in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
    ] {
        assert!(!source.contains(forbidden), "the script uses {forbidden}");
    }
}

#[tokio::test]
async fn the_console_library_is_served_with_its_types_and_both_consoles_load_it() {
    let app = TestApp::spawn().await;

    let script = get(&app, "/console/common.js").await;
    let stylesheet = get(&app, "/console/common.css").await;

    assert_eq!(script.status(), 200);
    assert!(header(&script, "content-type").starts_with("text/javascript"));
    assert_eq!(
        header(&script, "content-security-policy"),
        calltrack::routes::console::CONTENT_SECURITY_POLICY
    );
    assert_eq!(header(&script, "x-content-type-options"), "nosniff");
    assert_eq!(stylesheet.status(), 200);
    assert!(header(&stylesheet, "content-type").starts_with("text/css"));
    assert!(
        script.text().await.unwrap().contains("window.Console"),
        "one namespace object"
    );
    for console in ["agent", "manage"] {
        let html = get(&app, &format!("/{console}"))
            .await
            .text()
            .await
            .unwrap();
        assert!(
            html.contains(r#"<link rel="stylesheet" href="/console/common.css">"#),
            "{console}"
        );
        let own = get(&app, &format!("/{console}/app.js"))
            .await
            .text()
            .await
            .unwrap();
        assert!(
            own.contains(r#"import("/console/common.js")"#),
            "{console}'s script loads the library"
        );
    }
}

/// Whether any attribute looks like `onclick=`, `onload=`, …
fn has_inline_handler(html: &str) -> bool {
    html.match_indices(" on").any(|(at, _)| {
        let rest = &html[at + 3..];
        let name_len = rest.chars().take_while(char::is_ascii_alphabetic).count();
        name_len > 0 && rest[name_len..].starts_with('=')
    })
}

/// Posts one Twilio callback and checks it was accepted.
async fn play(app: &TestApp, path: &str, form: &calltrack::twilio::form::FormPairs) {
    let response = app.post_signed(path, form).await;
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
}

async fn session_id(app: &TestApp, call_sid: &str) -> Uuid {
    app.session(call_sid).await["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn row(session: Uuid) -> String {
    format!(r#"[data-testid="call-row"][data-session-id="{session}"]"#)
}

#[tokio::test]
async fn an_agent_sees_a_call_arrive_live_marks_a_condition_and_watches_the_reward_go_out() {
    if super::chromium::skip_without_chromium() {
        return;
    }
    let started = Instant::now();
    let app = TestApp::spawn().await;
    let world = app.world(3).await;
    let code = app.redemption_code(world.recipient_id).await;
    let browser = Browser::start().await;
    let client = &browser.client;
    client
        .goto(&format!("{}/agent", app.address))
        .await
        .unwrap();

    // A bad token is refused in words, and the form stays.
    let secret = browser.wait_for_visible(r#"[data-testid="secret"]"#).await;
    secret.send_keys("not-a-real-token").await.unwrap();
    submit_sign_in(&browser).await;
    browser
        .wait_for_text(r#"[data-testid="error"]"#, "expired or is not valid")
        .await;

    secret.clear().await.unwrap();
    secret.send_keys(&token(world.agent)).await.unwrap();
    submit_sign_in(&browser).await;
    browser.wait_for_visible(&row(world.session_id)).await;

    // A new call arrives while the page is open, and rings, then is answered, in the list.
    let call = app.start_call(CALLER).await;
    let live = session_id(&app, &call.call_sid).await;
    let row_text = browser.wait_for_text(&row(live), "Ringing").await;
    assert!(row_text.contains("+1415***0100"), "{row_text}");
    assert!(
        row_text.contains("Spring mailer"),
        "the row names the campaign: {row_text}"
    );
    assert!(row_text.contains("Matched"), "{row_text}");
    play(
        &app,
        "/twilio/status",
        &call.child_status(Fixture::StatusChildAnswered, chrono::Utc::now()),
    )
    .await;
    browser.wait_for_text(&row(live), "In progress").await;

    // Open it: the recipient, and the campaign's active conditions only.
    client
        .find(Locator::Css(&row(live)))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait_for_text(r#"[data-testid="recipient-name"]"#, "Dana")
        .await;
    assert_eq!(
        browser.text(r#"[data-testid="recipient-code"]"#).await,
        Some(code.clone())
    );
    browser
        .wait_for_text(r#"[data-testid="condition-1"]"#, "Booked an appointment")
        .await;
    assert!(
        browser
            .text(r#"[data-testid="condition-2"]"#)
            .await
            .is_some()
    );
    assert!(
        browser
            .text(r#"[data-testid="condition-3"]"#)
            .await
            .is_none()
    );

    // Twilio (a wiremock stand-in) accepts the reward SMS after a moment, so the console
    // shows the reward provisioned and pending before the outbox worker's send completes.
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path_regex(r"/Messages\.json$"))
        .respond_with(
            wiremock::ResponseTemplate::new(201)
                .set_body_json(serde_json::json!({ "sid": "SM0123456789abcdef0123456789abcdef", "status": "queued" }))
                .set_delay(std::time::Duration::from_secs(2)),
        )
        .expect(1)
        .mount(&app.twilio)
        .await;

    // Mark condition 1: the reward is provisioned and the button is spent.
    client
        .find(Locator::Css(r#"[data-testid="mark-1"]"#))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let reward = browser
        .wait_for_text(r#"[data-testid="reward-state-1"]"#, "provisioned")
        .await;
    assert!(reward.contains("SMS pending"), "{reward}");
    let mark = client
        .find(Locator::Css(r#"[data-testid="mark-1"]"#))
        .await
        .unwrap();
    assert!(
        !mark.is_enabled().await.unwrap(),
        "Mark met is disabled once met"
    );
    browser
        .wait_for_text(r#"[data-testid="status"]"#, "Condition 1 marked met")
        .await;

    // The outbox worker sends the SMS and the console follows without a reload.
    browser
        .wait_for_text(r#"[data-testid="reward-state-1"]"#, "SMS sent")
        .await;

    // The call ends and its recording arrives; the link appears without a reload.
    play(
        &app,
        "/twilio/dial-complete",
        &call.dial_action("completed", 42, true),
    )
    .await;
    play(
        &app,
        "/twilio/status",
        &call.parent_completed(48, chrono::Utc::now()),
    )
    .await;
    play(&app, "/twilio/recording", &call.recording(41)).await;
    browser.wait_for_text(&row(live), "Ended").await;
    let link = browser
        .wait_for_visible(r#"[data-testid="recording-link"]"#)
        .await;
    assert_eq!(link.attr("href").await.unwrap(), Some(call.recording_url()));

    // The full number never reaches the page.
    let source = client.source().await.unwrap();
    assert!(!source.contains(CALLER), "the caller's number is masked");
    save_screenshot(&browser).await;

    browser.close().await;
    eprintln!("browser test took {:?}", started.elapsed());
}

#[tokio::test]
async fn an_agent_links_an_unmatched_caller_by_redemption_code_in_the_browser() {
    if super::chromium::skip_without_chromium() {
        return;
    }
    let app = TestApp::spawn().await;
    let world = app.world(1).await;
    let code = app.redemption_code(world.recipient_id).await;
    let stranger = app.start_call("+12125550142").await;
    let unmatched = session_id(&app, &stranger.call_sid).await;
    let browser = Browser::start().await;
    let client = &browser.client;
    client
        .goto(&format!("{}/agent", app.address))
        .await
        .unwrap();
    let key = app.seed_api_key(world.client_id).await;

    // Sign in with the client's API key this time.
    client
        .find(Locator::Css(r#"[data-testid="kind-api-key"]"#))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait_for_visible(r#"[data-testid="secret"]"#)
        .await
        .send_keys(&key)
        .await
        .unwrap();
    submit_sign_in(&browser).await;
    let row_text = browser.wait_for_text(&row(unmatched), "Not matched").await;
    assert!(row_text.contains("+1212***0142"), "{row_text}");
    client
        .find(Locator::Css(&row(unmatched)))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let input = browser
        .wait_for_visible(r#"[data-testid="link-code"]"#)
        .await;

    // An unknown code is refused in the API's words.
    input.send_keys("NO-SUCH-CODE").await.unwrap();
    click(&browser, r#"[data-testid="link-submit"]"#).await;
    browser
        .wait_for_text(r#"[data-testid="error"]"#, "No recipient of this campaign")
        .await;

    input.clear().await.unwrap();
    input.send_keys(&code).await.unwrap();
    click(&browser, r#"[data-testid="link-submit"]"#).await;
    browser
        .wait_for_text(r#"[data-testid="recipient-name"]"#, "Dana")
        .await;
    browser
        .wait_for_text(r#"[data-testid="status"]"#, "Caller linked to Dana")
        .await;
    browser.wait_for_text(&row(unmatched), "Matched").await;
    eventually("the link form to hide", || async {
        let form = client
            .find(Locator::Css(r#"[data-testid="link-form"]"#))
            .await
            .ok()?;
        (!form.is_displayed().await.ok()?).then_some(())
    })
    .await;
    browser.close().await;
}

#[tokio::test]
async fn a_list_the_database_cannot_finish_in_time_is_explained_and_polled_ever_more_slowly() {
    if super::chromium::skip_without_chromium() {
        return;
    }
    let app = TestApp::builder()
        .env(&[("API_DEADLINE_MS", "200")])
        .spawn()
        .await;
    let world = app.world(0).await;
    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("{}/agent", app.address))
        .await
        .unwrap();
    browser
        .wait_for_visible(r#"[data-testid="secret"]"#)
        .await
        .send_keys(&token(world.agent))
        .await
        .unwrap();
    submit_sign_in(&browser).await;
    browser.wait_for_visible(&row(world.session_id)).await;

    // Every read of the sessions now waits on this lock past the API deadline.
    let lock = calltrack::db::pool::connect(&app.db_config).await.unwrap();
    lock.batch_execute("BEGIN; LOCK TABLE call_sessions IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let error = r#"[data-testid="error"]"#;
    let first = browser
        .wait_for_text(error, "This page tries again in 4 s.")
        .await;
    assert!(
        first.starts_with("The database did not answer within 0.2 s, so the request was stopped;"),
        "{first}"
    );
    // Not every 2 s: the wait doubles while the answers keep timing out.
    browser
        .wait_for_text(error, "This page tries again in 8 s.")
        .await;
    drop(lock);

    // The first answer after the lock takes the message down.
    eventually("the error to clear", || async {
        browser.text(error).await.filter(String::is_empty)
    })
    .await;
    browser.wait_for_visible(&row(world.session_id)).await;
    browser.close().await;
}

async fn click(browser: &Browser, css: &str) {
    browser.wait_for_visible(css).await.click().await.unwrap();
}

async fn submit_sign_in(browser: &Browser) {
    click(browser, r#"[data-testid="sign-in-submit"]"#).await;
}

/// Always written under the target directory; the docs' copy in `docs/` is replaced only
/// when `UPDATE_SCREENSHOTS` is set (or it is missing), so test runs leave the tree clean.
async fn save_screenshot(browser: &Browser) {
    let png = browser.client.screenshot().await.unwrap();
    std::fs::write(
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("agent-console.png"),
        &png,
    )
    .unwrap();
    let docs =
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join("docs/agent-console.png");
    if std::env::var_os("UPDATE_SCREENSHOTS").is_some() || !docs.exists() {
        std::fs::create_dir_all(docs.parent().unwrap()).unwrap();
        std::fs::write(docs, png).unwrap();
    }
}

#[tokio::test]
async fn an_agent_sees_how_conditions_met_themselves_and_has_no_button_for_crm_or_time_ones() {
    if super::chromium::skip_without_chromium() {
        return;
    }
    let app = TestApp::spawn().await;
    let world = app.world(5).await;
    crate::fast::auto_conditions::automatic_conditions(&app, &world, 60).await;
    // An answered call of 72 s meets condition 1 by its rule and starts condition 5's timer.
    let (call, webhooks) = crate::fast::auto_conditions::answered_call(CALLER, 72);
    for (path, form) in &webhooks {
        play(&app, path, form).await;
    }
    let session = session_id(&app, &call.call_sid).await;
    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("{}/agent", app.address))
        .await
        .unwrap();
    let secret = browser.wait_for_visible(r#"[data-testid="secret"]"#).await;
    secret.send_keys(&token(world.agent)).await.unwrap();
    submit_sign_in(&browser).await;
    browser.wait_for_visible(&row(session)).await;
    click(&browser, &row(session)).await;

    browser
        .wait_for_text(
            r#"[data-testid="met-by-1"]"#,
            "Met automatically: talked 1 min 12 s.",
        )
        .await;
    browser
        .wait_for_text(r#"[data-testid="reward-state-1"]"#, "provisioned")
        .await;
    browser
        .wait_for_text(
            r#"[data-testid="met-by-4"]"#,
            "Met automatically when the CRM reports appointment_kept.",
        )
        .await;
    browser
        .wait_for_text(r#"[data-testid="met-by-5"]"#, "Due ")
        .await;
    for number in [4, 5] {
        let button = browser
            .client
            .find(fantoccini::Locator::Css(&format!(
                r#"[data-testid="mark-{number}"]"#
            )))
            .await
            .unwrap();
        assert!(
            !button.is_displayed().await.unwrap(),
            "no Mark met button for condition {number}"
        );
    }
}
