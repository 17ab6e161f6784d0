//! The voice fallback forwards to the number its signed URL carries, without the database;
//! buying and re-pointing a number keep that URL on the number's forward-to number.

use std::time::{Duration, Instant};

use calltrack::config::DatabaseSource;
use calltrack::startup::Application;
use calltrack::twilio::form::FormPairs;
use calltrack::twilio::simulated::SimulatedCall;
use serde_json::{Value, json};
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{FORWARD_TO, PUBLIC_BASE_URL, TRACKED_NUMBER, TestApp, settings_with, sign};
use crate::world::{Auth, World};

const ACCOUNT: &str = "ACae6d5b1f2c3e4d5a6b7c8d9e0f1a2b3c";
const NUMBER_SID: &str = "PN5f0e1d2c3b4a59687766554433221100";
/// The fallback of a number forwarding to [`FORWARD_TO`], as Twilio is given it.
const FALLBACK: &str = "/twilio/voice-fallback?forward=%2B14155550199";
const NEW_FORWARD_TO: &str = "+12125550142";
const NEW_FALLBACK: &str = "/twilio/voice-fallback?forward=%2B12125550142";

fn call() -> SimulatedCall {
    SimulatedCall::new("+14155550100", TRACKED_NUMBER, FORWARD_TO)
}

async fn text_of(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

#[tokio::test]
async fn the_fallback_forwards_to_its_signed_number_exactly_as_the_voice_webhook_would() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    // The flow (carried to the dial action) comes from the copy; without it the fallback
    // forwards plainly and leaves the voicemail to the copy at the dial action.
    app.wait_for_routing(TRACKED_NUMBER).await;

    let fallback = app.post_signed(FALLBACK, &call().voice()).await;
    let (status, content_type, fallback_twiml) = text_of(fallback).await;

    assert_eq!(status, 200, "{fallback_twiml}");
    assert!(content_type.starts_with("text/xml"), "{content_type}");
    assert!(
        fallback_twiml.contains(&format!(">{FORWARD_TO}</Number>")),
        "{fallback_twiml}"
    );
    let voice_twiml = app.voice_answer("+14155550100").await;
    assert_eq!(fallback_twiml, voice_twiml);
    // The fallback wrote nothing itself: its call was spooled, and the replay records it
    // like any other.
    assert_eq!(
        app.wait_for_count("SELECT count(*) FROM call_sessions", 2, 10)
            .await,
        2
    );
}

#[tokio::test]
async fn a_fallback_body_that_does_not_parse_still_forwards() {
    let app = TestApp::spawn().await;
    let form = FormPairs::from_pairs([("AccountSid", ACCOUNT), ("CallStatus", "ringing")]);

    let (status, _, twiml) = text_of(app.post_signed(FALLBACK, &form).await).await;

    assert_eq!(status, 200, "{twiml}");
    assert!(
        twiml.contains(&format!(">{FORWARD_TO}</Number>")),
        "{twiml}"
    );
}

/// A server over a database that cannot be reached at `database`.
async fn spawn_over(database: tokio_postgres::Config) -> String {
    let mut settings = settings_with(&[("TWILIO_API_BASE_URL", "http://127.0.0.1:9")]);
    settings.database = DatabaseSource::Located(Box::new(database));
    settings.pool_size = 4;
    // A hung database holds the start this long before it goes on without it.
    settings.start_connect_timeout = std::time::Duration::from_millis(300);
    let app = Application::build(settings).await.unwrap();
    let address = format!("http://{}", app.local_addr().unwrap());
    tokio::spawn(app.run_until(std::future::pending()));
    address
}

#[tokio::test]
async fn the_fallback_forwards_well_within_the_deadline_while_the_database_is_down_or_hung() {
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Connections to a listener that never accepts complete in the backlog, then hang.
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hung_port = hung.local_addr().unwrap().port();
    let deadline = settings_with(&[]).db_deadline;
    let http = reqwest::Client::new();
    let form = call().voice();
    let signature = sign(&format!("{PUBLIC_BASE_URL}{FALLBACK}"), &form);

    for port in [closed_port, hung_port] {
        let database = format!("postgres://postgres@127.0.0.1:{port}/postgres")
            .parse()
            .unwrap();
        let address = spawn_over(database).await;

        let started = Instant::now();
        let response = tokio::time::timeout(
            Duration::from_secs(5),
            http.post(format!("{address}{FALLBACK}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("x-twilio-signature", &signature)
                .body(form.encode())
                .send(),
        )
        .await
        .expect("the fallback waited on the database")
        .unwrap();
        let took = started.elapsed();
        let (status, _, twiml) = text_of(response).await;

        assert_eq!(status, 200, "port {port}: {twiml}");
        assert!(
            twiml.contains(&format!(">{FORWARD_TO}</Number>")),
            "{twiml}"
        );
        assert!(took < deadline, "port {port}: answered after {took:?}");
        let ready = http.get(format!("{address}/readyz")).send().await.unwrap();
        assert_eq!(
            ready.status(),
            503,
            "port {port}: the database is out of reach"
        );
    }
    drop(hung);
}

#[tokio::test]
async fn a_forward_number_changed_after_signing_is_refused_with_an_empty_403() {
    let app = TestApp::spawn().await;
    let form = call().voice();
    let signature = sign(&format!("{PUBLIC_BASE_URL}{FALLBACK}"), &form);

    for altered in [
        NEW_FALLBACK,
        "/twilio/voice-fallback",
        "/twilio/voice-fallback?forward=%2B14155550199&forward=%2B12125550142",
        "/twilio/voice-fallback?forward=+14155550199",
    ] {
        let response = app
            .post_form(altered, form.encode(), Some(&signature))
            .await;
        let (status, _, body) = text_of(response).await;
        assert_eq!(status, 403, "{altered}");
        assert_eq!(body, "", "{altered}");
    }
}

#[tokio::test]
async fn a_fallback_without_a_usable_forward_number_apologises_with_200() {
    let app = TestApp::spawn().await;
    let form = call().voice();

    for url in [
        "/twilio/voice-fallback",
        "/twilio/voice-fallback?forward=",
        "/twilio/voice-fallback?forward=garbage",
        "/twilio/voice-fallback?forward=%2",
        "/twilio/voice-fallback?number=%2B14155550199",
        "/twilio/voice-fallback?forward=%2B14155550199&forward=%2B12125550142",
    ] {
        let (status, content_type, twiml) = text_of(app.post_signed(url, &form).await).await;
        assert_eq!(status, 200, "{url}: {twiml}");
        assert!(
            content_type.starts_with("text/xml"),
            "{url}: {content_type}"
        );
        assert!(
            twiml.contains("cannot take your call") && twiml.contains("<Hangup/>"),
            "{url}: {twiml}"
        );
        assert!(!twiml.contains("<Dial"), "{url}: {twiml}");
    }
}

fn numbers_path() -> String {
    format!("/2010-04-01/Accounts/{ACCOUNT}/IncomingPhoneNumbers.json")
}

fn number_path() -> String {
    format!("/2010-04-01/Accounts/{ACCOUNT}/IncomingPhoneNumbers/{NUMBER_SID}.json")
}

fn sold(number: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "sid": NUMBER_SID,
        "phone_number": number,
        "friendly_name": "calltrack campaign",
    }))
}

/// The `VoiceFallbackUrl` of every request Twilio received at `path`, in order.
async fn fallback_urls_sent(app: &TestApp, path: &str) -> Vec<String> {
    app.twilio
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|request| request.url.path() == path)
        .map(|request| {
            form_urlencoded::parse(&request.body)
                .find(|(key, _)| key == "VoiceFallbackUrl")
                .map(|(_, value)| value.into_owned())
                .unwrap_or_default()
        })
        .collect()
}

async fn manager(app: &TestApp, world: &World) -> Auth {
    Auth::user(
        app.seed_user(&["company_owner"], Some(world.client_id), None)
            .await,
    )
}

/// The seeded number, as one Twilio holds under [`NUMBER_SID`].
async fn bought_world(app: &TestApp) -> (World, String) {
    let world = app.world(0).await;
    app.db
        .execute(
            "UPDATE tracked_phone_numbers SET provider_sid = $1",
            &[&NUMBER_SID],
        )
        .await
        .unwrap();
    let url = format!(
        "/api/v1/tracked-numbers/{}",
        world.campaign.tracked_number_id
    );
    (world, url)
}

async fn stored_forward_to(app: &TestApp, id: Uuid) -> String {
    app.db
        .query_one(
            "SELECT forward_to_number FROM tracked_phone_numbers WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn buying_a_number_gives_it_a_fallback_that_forwards_to_its_forward_number() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    Mock::given(method("POST"))
        .and(path(numbers_path()))
        .respond_with(sold("+14155550123"))
        .expect(1)
        .mount(&app.twilio)
        .await;

    let (status, body) = app
        .api_post(
            &format!("/api/v1/campaigns/{}/tracked-numbers", world.campaign.id),
            &manager(&app, &world).await,
            &json!({ "area_code": "415", "forward_to_number": "(212) 555-0142" }),
        )
        .await;

    assert_eq!(status, 201, "{body}");
    assert_eq!(
        fallback_urls_sent(&app, &numbers_path()).await,
        [format!("{PUBLIC_BASE_URL}{NEW_FALLBACK}")]
    );
    // The URL Twilio was given is one the fallback takes, signed as Twilio signs it.
    let twiml = app
        .post_signed(NEW_FALLBACK, &call().voice())
        .await
        .text()
        .await
        .unwrap();
    assert!(
        twiml.contains(&format!(">{NEW_FORWARD_TO}</Number>")),
        "{twiml}"
    );
}

#[tokio::test]
async fn re_pointing_a_number_moves_its_fallback_at_twilio_to_the_new_forward_number() {
    let app = TestApp::spawn().await;
    let (world, number) = bought_world(&app).await;
    Mock::given(method("POST"))
        .and(path(number_path()))
        .respond_with(sold(TRACKED_NUMBER))
        .expect(1)
        .mount(&app.twilio)
        .await;

    let (status, body) = app
        .api_patch(
            &number,
            &manager(&app, &world).await,
            &json!({ "forward_to_number": "+1 (212) 555-0142" }),
        )
        .await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["forward_to_number"], NEW_FORWARD_TO);
    assert_eq!(
        fallback_urls_sent(&app, &number_path()).await,
        [format!("{PUBLIC_BASE_URL}{NEW_FALLBACK}")]
    );
}

#[tokio::test]
async fn a_re_pointing_twilio_refuses_changes_nothing_and_says_so() {
    let app = TestApp::spawn().await;
    let (world, number) = bought_world(&app).await;
    Mock::given(method("POST"))
        .and(path(number_path()))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "code": 20404,
            "message": "The requested resource was not found",
            "status": 404,
        })))
        .expect(1)
        .mount(&app.twilio)
        .await;

    let (status, body) = app
        .api_patch(
            &number,
            &manager(&app, &world).await,
            &json!({ "forward_to_number": NEW_FORWARD_TO }),
        )
        .await;

    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["twilio_code"], 20404);
    assert_eq!(
        stored_forward_to(&app, world.campaign.tracked_number_id).await,
        FORWARD_TO
    );
}

#[tokio::test]
async fn a_re_pointing_the_database_refuses_is_pointed_back_at_twilio() {
    let app = TestApp::spawn().await;
    let (world, number) = bought_world(&app).await;
    Mock::given(method("POST"))
        .and(path(number_path()))
        .respond_with(sold(TRACKED_NUMBER))
        .expect(2)
        .mount(&app.twilio)
        .await;
    // Another active row with the same phone number: switching this one on again must fail.
    app.db
        .batch_execute(&format!(
            "UPDATE tracked_phone_numbers SET is_active = false;
             INSERT INTO tracked_phone_numbers (campaign_id, phone_number, forward_to_number)
             VALUES ('{}', '{TRACKED_NUMBER}', '+13125550100')",
            world.campaign.id
        ))
        .await
        .unwrap();

    let (status, body) = app
        .api_patch(
            &number,
            &manager(&app, &world).await,
            &json!({ "forward_to_number": NEW_FORWARD_TO, "is_active": true }),
        )
        .await;

    assert_eq!(status, 409, "{body}");
    assert_eq!(
        stored_forward_to(&app, world.campaign.tracked_number_id).await,
        FORWARD_TO
    );
    assert_eq!(
        fallback_urls_sent(&app, &number_path()).await,
        [
            format!("{PUBLIC_BASE_URL}{NEW_FALLBACK}"),
            format!("{PUBLIC_BASE_URL}{FALLBACK}"),
        ],
        "re-pointed, then pointed back at the stored forward-to number"
    );
}

#[tokio::test]
async fn switching_a_number_off_and_on_keeps_its_fallback_on_its_forward_number() {
    let app = TestApp::spawn().await;
    let (world, number) = bought_world(&app).await;
    Mock::given(method("POST"))
        .and(path(number_path()))
        .respond_with(sold(TRACKED_NUMBER))
        .expect(1)
        .mount(&app.twilio)
        .await;
    let auth = manager(&app, &world).await;

    let (status, off) = app
        .api_patch(&number, &auth, &json!({ "is_active": false }))
        .await;
    assert_eq!(status, 200, "{off}");
    assert!(
        fallback_urls_sent(&app, &number_path()).await.is_empty(),
        "switching off needs no Twilio call"
    );
    let (status, on) = app
        .api_patch(&number, &auth, &json!({ "is_active": true }))
        .await;

    assert_eq!(
        (status, &on["is_active"]),
        (200, &Value::Bool(true)),
        "{on}"
    );
    assert_eq!(
        fallback_urls_sent(&app, &number_path()).await,
        [format!("{PUBLIC_BASE_URL}{FALLBACK}")]
    );
}
