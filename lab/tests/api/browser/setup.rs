//! Issue 29 end to end: from an empty database to a delivered reward through the manager
//! console and the API alone. The only SQL after the migrations is the sign-in's: an
//! organization, its client and the client's owner (`seed_client`, `seed_user`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use calltrack::commands::simulate::{Outcome, Target, play};
use calltrack::twilio::PublicBaseUrl;
use calltrack::twilio::simulated::sms_status;
use fantoccini::Locator;
use secrecy::SecretString;
use serde_json::{Value, json};
use uuid::Uuid;
use wiremock::matchers::{body_string_contains, method, path, path_regex};
use wiremock::{Mock, ResponseTemplate};

use super::chromium::{Browser, eventually};
use crate::helpers::{AUTH_TOKEN, PUBLIC_BASE_URL, TestApp};
use crate::world::{Auth, token};

const ACCOUNT: &str = "ACae6d5b1f2c3e4d5a6b7c8d9e0f1a2b3c";
const BOUGHT: &str = "+14155550123";
const CALLER: &str = "+14155550100";
const MESSAGE_SID: &str = "SM29a1b2c3d4e5f60718293a4b5c6d7e8f";

/// Four recipients, the caller first; the last line's phone is not a phone.
const RECIPIENTS: &str = "first_name,last_name,phone,redemption_code
Dana,Reyes,(415) 555-0100,RC-1001
Sam,Okafor,415-555-0101,RC-1002
Lee,Nguyen,+1 415 555 0102,RC-1003
Pat,Broken,not a phone,RC-1004
";

const CARDS: &str = "card_code,pin_code,value_amount
AMZN-SETUP-0001,1111,25.00
AMZN-SETUP-0002,2222,25.00
AMZN-SETUP-0003,3333,25.00
";

async fn click(browser: &Browser, css: &str) {
    browser.wait_for_visible(css).await.click().await.unwrap();
}

async fn type_into(browser: &Browser, css: &str, text: &str) {
    let input = browser.wait_for_visible(css).await;
    input.clear().await.unwrap();
    input.send_keys(text).await.unwrap();
}

/// Chooses the `<option>` of `value` in the `<select>` matching `css`.
async fn choose(browser: &Browser, css: &str, value: &str) {
    browser
        .wait_for_visible(css)
        .await
        .select_by_value(value)
        .await
        .unwrap();
}

/// A file for a file input (chromedriver uploads it from this path).
fn write_file(dir: &Path, name: &str, text: &str) -> String {
    let file = dir.join(name);
    std::fs::write(&file, text).unwrap();
    file.display().to_string()
}

/// The page is no wider than a phone's screen.
async fn fits_a_phone(browser: &Browser, what: &str) {
    let client = &browser.client;
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
    assert_eq!(overflow, 0, "{what} is wider than a phone's screen");
    client.set_window_size(1366, 900).await.unwrap();
}

#[tokio::test]
async fn a_company_owner_sets_up_a_campaign_in_the_console_and_a_call_earns_a_delivered_reward() {
    if super::chromium::skip_without_chromium() {
        return;
    }
    let started = Instant::now();
    let app = TestApp::spawn().await;
    let (_, client_id) = app.seed_client().await;
    let owner = app
        .seed_user(&["company_owner"], Some(client_id), None)
        .await;
    let auth = Auth::user(owner);
    let files = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("setup-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&files).unwrap();
    let browser = Browser::start().await;
    let client = &browser.client;
    client
        .goto(&format!("{}/manage", app.address))
        .await
        .unwrap();
    type_into(&browser, r#"[data-testid="secret"]"#, &token(owner)).await;
    click(&browser, r#"[data-testid="sign-in-submit"]"#).await;
    browser
        .wait_for_visible(r#"[data-testid="campaigns-empty"]"#)
        .await;

    // A new campaign, submitted with Enter; the console opens it on its Recipients tab.
    click(&browser, r#"[data-testid="new-campaign"]"#).await;
    choose(&browser, r#"[data-testid="new-status"]"#, "mailed").await;
    type_into(
        &browser,
        r#"[data-testid="new-name"]"#,
        "Spring mailer\u{E007}",
    )
    .await;
    browser
        .wait_for_text(r#"[data-testid="campaign-title"]"#, "Spring mailer")
        .await;
    browser
        .wait_for_visible(r#"[data-testid="panel-recipients"]"#)
        .await;
    eventually("focus to move to the new campaign's title", || async {
        let focused = client
            .execute("return document.activeElement.id;", vec![])
            .await
            .ok()?;
        (focused == json!("campaign-title")).then_some(())
    })
    .await;
    let url = client.current_url().await.unwrap();
    let campaign: Uuid = url
        .fragment()
        .and_then(|f| f.split('/').nth(2))
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("no campaign id in {url}"));
    let (status, stored) = app
        .api_get(&format!("/api/v1/campaigns/{campaign}"), &auth)
        .await;
    assert_eq!(status, 200, "{stored}");
    assert_eq!(stored["status"], "mailed");
    assert_eq!(stored["client_id"], json!(client_id));

    // Recipients from a CSV file: three added, the fourth line rejected in words.
    let csv = write_file(&files, "recipients.csv", RECIPIENTS);
    browser
        .wait_for_visible(r#"[data-testid="recipients-file"]"#)
        .await
        .send_keys(&csv)
        .await
        .unwrap();
    click(&browser, r#"[data-testid="recipients-upload-submit"]"#).await;
    browser
        .wait_for_text(
            r#"[data-testid="recipients-summary"]"#,
            "Added 3 recipients, updated 0, rejected 1 line.",
        )
        .await;
    // File lines, the header being line 1.
    let rejected = browser
        .wait_for_text(r#"[data-testid="rejected-line"]"#, "Line 5:")
        .await;
    assert!(!rejected.contains("not a phone"), "{rejected}");
    let rows = client
        .find_all(Locator::Css(r#"[data-testid="recipient-row"]"#))
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    // Searched by the start of a redemption code.
    type_into(
        &browser,
        r#"[data-testid="recipients-q"]"#,
        "RC-1002\u{E007}",
    )
    .await;
    eventually("the search to leave one recipient", || async {
        let rows = client
            .find_all(Locator::Css(r#"[data-testid="recipient-row"]"#))
            .await
            .ok()?;
        (rows.len() == 1).then_some(())
    })
    .await;
    browser
        .wait_for_text(r#"[data-testid="recipient-code"]"#, "RC-1002")
        .await;
    fits_a_phone(&browser, "the Recipients tab").await;

    // A pool on the Gift cards page: empty, so flagged, then three cards uploaded.
    click(&browser, r#"[data-testid="nav-pools"]"#).await;
    browser
        .wait_for_visible(r#"[data-testid="pools-empty"]"#)
        .await;
    click(&browser, r#"[data-testid="new-pool"]"#).await;
    type_into(
        &browser,
        r#"[data-testid="pool-name"]"#,
        "Amazon $25 spring",
    )
    .await;
    type_into(&browser, r#"[data-testid="pool-brand"]"#, "Amazon").await;
    type_into(&browser, r#"[data-testid="pool-value"]"#, "25.00\u{E007}").await;
    let pool_item = browser.wait_for_visible(r#"[data-testid="pool"]"#).await;
    let pool: Uuid = pool_item
        .attr("data-pool-id")
        .await
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();
    let pool_css = format!(r#"[data-testid="pool"][data-pool-id="{pool}"]"#);
    browser
        .wait_for_text(
            &format!(r#"{pool_css} [data-testid="pool-warning"]"#),
            "No cards left.",
        )
        .await;
    let cards = write_file(&files, "cards.csv", CARDS);
    browser
        .wait_for_visible(&format!(r#"{pool_css} [data-testid="pool-file"]"#))
        .await
        .send_keys(&cards)
        .await
        .unwrap();
    click(
        &browser,
        &format!(r#"{pool_css} [data-testid="pool-upload"]"#),
    )
    .await;
    browser
        .wait_for_text(
            &format!(r#"{pool_css} [data-testid="pool-summary"]"#),
            "Added 3 cards, rejected 0 lines.",
        )
        .await;
    browser
        .wait_for_text(
            &format!(r#"{pool_css} [data-testid="pool-available"]"#),
            "3",
        )
        .await;
    // Three cards are fewer than five: still low, and it says so.
    browser
        .wait_for_text(
            &format!(r#"{pool_css} [data-testid="pool-warning"]"#),
            "Low: only 3 cards left.",
        )
        .await;
    fits_a_phone(&browser, "the Gift cards page").await;

    // Condition 1, rewarded from the pool; the API's refusal of a bad template is shown
    // beside the form first.
    click(&browser, r#"[data-testid="nav-campaigns"]"#).await;
    click(
        &browser,
        &format!(
            r#"[data-testid="campaign-card"][data-campaign-id="{campaign}"] [data-testid="campaign-link"]"#
        ),
    )
    .await;
    click(&browser, r#"[data-testid="tab-conditions"]"#).await;
    browser
        .wait_for_visible(r#"[data-testid="conditions-empty"]"#)
        .await;
    browser
        .wait_for_text(r#"[data-testid="add-condition"]"#, "Add condition 1")
        .await;
    click(&browser, r#"[data-testid="add-condition"]"#).await;
    let form = r#"#add-condition-box [data-testid="condition-form"]"#;
    type_into(
        &browser,
        &format!(r#"{form} [data-testid="condition-name-input"]"#),
        "Booked an appointment",
    )
    .await;
    choose(
        &browser,
        &format!(r#"{form} [data-testid="condition-pool"]"#),
        &pool.to_string(),
    )
    .await;
    type_into(
        &browser,
        &format!(r#"{form} [data-testid="condition-description"]"#),
        "$25 Amazon gift card",
    )
    .await;
    type_into(
        &browser,
        &format!(r#"{form} [data-testid="condition-sms-input"]"#),
        "Hi {nickname}, here is your card",
    )
    .await;
    click(
        &browser,
        &format!(r#"{form} [data-testid="save-condition"]"#),
    )
    .await;
    let refusal = browser
        .wait_for_visible(&format!(r#"{form} [data-testid="condition-error"]"#))
        .await
        .text()
        .await
        .unwrap();
    assert!(!refusal.trim().is_empty(), "the 422 is shown in words");
    type_into(
        &browser,
        &format!(r#"{form} [data-testid="condition-sms-input"]"#),
        "Hi {first_name}, your {brand} card worth ${value}: {card_code} PIN {pin_code}",
    )
    .await;
    click(
        &browser,
        &format!(r#"{form} [data-testid="save-condition"]"#),
    )
    .await;
    let condition = r#"[data-testid="condition"][data-number="1"]"#;
    browser
        .wait_for_text(
            &format!(r#"{condition} [data-testid="condition-rule"]"#),
            "Met by an agent",
        )
        .await;
    browser
        .wait_for_text(
            &format!(r#"{condition} [data-testid="condition-reward"]"#),
            "$25 Amazon gift card",
        )
        .await;
    browser
        .wait_for_text(
            &format!(r#"{condition} [data-testid="condition-stock"]"#),
            "3 of 3 cards available",
        )
        .await;
    browser
        .wait_for_text(r#"[data-testid="add-condition"]"#, "Add condition 2")
        .await;
    fits_a_phone(&browser, "the Conditions & rewards tab").await;

    // A number bought at the (wiremock) Twilio.
    Mock::given(method("POST"))
        .and(path(format!(
            "/2010-04-01/Accounts/{ACCOUNT}/IncomingPhoneNumbers.json"
        )))
        .and(body_string_contains("AreaCode=415"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "sid": "PN29a1b2c3d4e5f60718293a4b5c6d7e8f", "phone_number": BOUGHT,
        })))
        .expect(1)
        .mount(&app.twilio)
        .await;
    click(&browser, r#"[data-testid="tab-numbers"]"#).await;
    type_into(&browser, r#"[data-testid="buy-area"]"#, "415").await;
    type_into(&browser, r#"[data-testid="buy-forward"]"#, "(415) 555-0199").await;
    click(&browser, r#"[data-testid="buy-submit"]"#).await;
    browser
        .wait_for_visible(&format!(r#"[data-testid="number"][data-phone="{BOUGHT}"]"#))
        .await;

    // Dana calls it, as the simulator plays a call.
    app.wait_for_routing(BOUGHT).await;
    let target = Target {
        send_to: app.address.clone(),
        signed_as: PublicBaseUrl::parse(PUBLIC_BASE_URL).unwrap(),
        auth_token: SecretString::from(AUTH_TOKEN.to_owned()),
    };
    play(&target, CALLER, BOUGHT, Outcome::Answered, 42, |_| {})
        .await
        .unwrap();
    let (status, page) = app
        .api_get(
            &format!("/api/v1/call-sessions?campaign_id={campaign}"),
            &auth,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    let sessions = page["items"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{page}");
    assert_eq!(sessions[0]["match_status"], "matched", "{page}");
    let session = sessions[0]["id"].as_str().unwrap().to_owned();

    // The condition marked met: the card goes out by SMS and Twilio reports it delivered.
    Mock::given(method("POST"))
        .and(path_regex(r"/Messages\.json$"))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({ "sid": MESSAGE_SID, "status": "queued" })),
        )
        .mount(&app.twilio)
        .await;
    let (status, marked) = app
        .api_post(
            &format!("/api/v1/call-sessions/{session}/conditions"),
            &auth,
            &json!({ "condition_number": 1, "notes": "booked for Tuesday" }),
        )
        .await;
    assert_eq!(status, 201, "{marked}");
    assert_eq!(marked["reward"]["status"], "provisioned", "{marked}");
    let sms = eventually("the reward's SMS to reach Twilio", || async {
        app.twilio
            .received_requests()
            .await?
            .into_iter()
            .find(|r| r.url.path().ends_with("/Messages.json"))
    })
    .await;
    let form: std::collections::HashMap<String, String> =
        form_urlencoded::parse(&sms.body).into_owned().collect();
    assert_eq!(form["To"], CALLER);
    assert!(
        form["Body"].starts_with("Hi Dana, your Amazon card worth $25"),
        "{}",
        form["Body"]
    );
    assert!(
        form["Body"].contains("AMZN-SETUP-000"),
        "the card's code is in the SMS"
    );
    eventually("the delivery to be sent", || async {
        let (_, detail) = app
            .api_get(&format!("/api/v1/call-sessions/{session}"), &auth)
            .await;
        (delivery_status(&detail).as_deref() == Some("sent")).then_some(())
    })
    .await;
    let report = sms_status(MESSAGE_SID, CALLER, "delivered", None);
    let response = app.post_signed("/twilio/sms-status", &report).await;
    assert!(response.status().is_success(), "{}", response.status());

    eventually("the delivery to be delivered", || async {
        let (_, detail) = app
            .api_get(&format!("/api/v1/call-sessions/{session}"), &auth)
            .await;
        (delivery_status(&detail).as_deref() == Some("delivered")).then_some(())
    })
    .await;

    // The console shows it: one reward delivered, one card fewer in the pool.
    click(&browser, r#"[data-testid="home"]"#).await;
    let card = format!(r#"[data-testid="campaign-card"][data-campaign-id="{campaign}"]"#);
    browser
        .wait_for_text(&format!(r#"{card} [data-testid="rewards-delivered"]"#), "1")
        .await;
    assert_eq!(
        browser
            .text(&format!(r#"{card} [data-testid="conditions-met"]"#))
            .await
            .as_deref(),
        Some("1")
    );
    click(&browser, r#"[data-testid="nav-pools"]"#).await;
    browser
        .wait_for_text(
            &format!(r#"{pool_css} [data-testid="pool-available"]"#),
            "2",
        )
        .await;

    browser.close().await;
    let _ = std::fs::remove_dir_all(&files);
    eprintln!("setup browser test took {:?}", started.elapsed());
}

/// The delivery status of the session's first condition met, as the session detail shows it.
fn delivery_status(detail: &Value) -> Option<String> {
    detail["conditions_met"]
        .as_array()?
        .first()?
        .get("delivery_status")?
        .as_str()
        .map(str::to_owned)
}
