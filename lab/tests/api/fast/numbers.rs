use serde_json::{Value, json};
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Match, Mock, Request, ResponseTemplate};

use crate::helpers::{PUBLIC_BASE_URL, TRACKED_NUMBER, TestApp};
use crate::world::{Auth, World};

const ACCOUNT: &str = "ACae6d5b1f2c3e4d5a6b7c8d9e0f1a2b3c";
pub(crate) const BOUGHT_SID: &str = "PN7a1b2c3d4e5f60718293a4b5c6d7e8f9";

pub(crate) fn numbers_path() -> String {
    format!("/2010-04-01/Accounts/{ACCOUNT}/IncomingPhoneNumbers.json")
}

fn tracked_number_url(world: &World) -> String {
    format!(
        "/api/v1/tracked-numbers/{}",
        world.campaign.tracked_number_id
    )
}

pub(crate) fn number_path(sid: &str) -> String {
    format!("/2010-04-01/Accounts/{ACCOUNT}/IncomingPhoneNumbers/{sid}.json")
}

/// Matches a form body carrying every one of these fields with these values.
struct FormHas(Vec<(&'static str, String)>);

impl Match for FormHas {
    fn matches(&self, request: &Request) -> bool {
        let fields: Vec<(String, String)> =
            form_urlencoded::parse(&request.body).into_owned().collect();
        self.0
            .iter()
            .all(|(k, v)| fields.iter().any(|(fk, fv)| fk == k && fv == v))
    }
}

fn pointed_at_us(extra: (&'static str, &str)) -> FormHas {
    FormHas(vec![
        (extra.0, extra.1.to_owned()),
        ("VoiceUrl", format!("{PUBLIC_BASE_URL}/twilio/voice")),
        ("VoiceMethod", "POST".into()),
        ("StatusCallback", format!("{PUBLIC_BASE_URL}/twilio/status")),
        ("StatusCallbackMethod", "POST".into()),
        (
            "VoiceFallbackUrl",
            format!("{PUBLIC_BASE_URL}/twilio/voice-fallback?forward=%2B14155550199"),
        ),
    ])
}

pub(crate) fn sold(number: &str) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({
        "sid": BOUGHT_SID,
        "account_sid": ACCOUNT,
        "phone_number": number,
        "friendly_name": "calltrack campaign",
        "voice_url": format!("{PUBLIC_BASE_URL}/twilio/voice"),
        "voice_method": "POST",
        "status_callback": format!("{PUBLIC_BASE_URL}/twilio/status"),
        "capabilities": { "voice": true, "sms": true, "mms": true },
    }))
}

async fn manager(app: &TestApp, world: &World) -> Auth {
    Auth::user(
        app.seed_user(&["company_owner"], Some(world.client_id), None)
            .await,
    )
}

async fn buy(app: &TestApp, world: &World, auth: &Auth, body: Value) -> (u16, Value) {
    app.api_post(
        &format!("/api/v1/campaigns/{}/tracked-numbers", world.campaign.id),
        auth,
        &body,
    )
    .await
}

async fn numbers_of(app: &TestApp, campaign: Uuid) -> i64 {
    app.db
        .query_one(
            "SELECT count(*) FROM tracked_phone_numbers WHERE campaign_id = $1",
            &[&campaign],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn buying_by_area_code_points_the_number_at_the_service_and_stores_it() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    Mock::given(method("POST"))
        .and(path(numbers_path()))
        .and(pointed_at_us(("AreaCode", "415")))
        .respond_with(sold("+14155550123"))
        .expect(1)
        .mount(&app.twilio)
        .await;

    let (status, body) = buy(
        &app,
        &world,
        &manager(&app, &world).await,
        json!({ "area_code": "415", "forward_to_number": "(415) 555-0199" }),
    )
    .await;

    assert_eq!(status, 201, "{body}");
    assert_eq!(body["phone_number"], "+14155550123");
    assert_eq!(body["forward_to_number"], "+14155550199");
    assert_eq!(body["provider_sid"], BOUGHT_SID);
    assert_eq!(body["is_active"], true);
    assert!(body["id"].is_string());
    let row = app.db.query_one("SELECT provider, provider_sid, campaign_id FROM tracked_phone_numbers WHERE phone_number = '+14155550123'", &[]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "twilio");
    assert_eq!(row.get::<_, String>(1), BOUGHT_SID);
    assert_eq!(row.get::<_, Uuid>(2), world.campaign.id);
}

#[tokio::test]
async fn a_bought_number_is_given_the_connection_overrides_at_the_end_of_each_url() {
    let app = TestApp::builder()
        .env(&[(
            "PUBLIC_BASE_URL",
            "https://calltrack.example.com#rc=3&ct=1000",
        )])
        .spawn()
        .await;
    let world = app.world(0).await;
    Mock::given(method("POST"))
        .and(path(numbers_path()))
        .and(FormHas(vec![
            (
                "VoiceUrl",
                format!("{PUBLIC_BASE_URL}/twilio/voice#rc=3&ct=1000"),
            ),
            (
                "StatusCallback",
                format!("{PUBLIC_BASE_URL}/twilio/status#rc=3&ct=1000"),
            ),
            (
                "VoiceFallbackUrl",
                format!(
                    "{PUBLIC_BASE_URL}/twilio/voice-fallback?forward=%2B14155550199#rc=3&ct=1000"
                ),
            ),
        ]))
        .respond_with(sold("+14155550123"))
        .expect(1)
        .mount(&app.twilio)
        .await;

    let (status, body) = buy(
        &app,
        &world,
        &manager(&app, &world).await,
        json!({ "area_code": "415", "forward_to_number": "+14155550199" }),
    )
    .await;

    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn buying_an_exact_number_sends_it_and_an_api_key_may_do_it() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    Mock::given(method("POST"))
        .and(path(numbers_path()))
        .and(pointed_at_us(("PhoneNumber", "+14155550177")))
        .respond_with(sold("+14155550177"))
        .expect(1)
        .mount(&app.twilio)
        .await;
    let key = app.seed_api_key(world.client_id).await;

    let (status, body) = buy(
        &app,
        &world,
        &Auth::ApiKey(key.clone()),
        json!({ "phone_number": "+1 415 555 0177", "forward_to_number": "+14155550199" }),
    )
    .await;

    assert_eq!(status, 201, "{body}");
    let (status, list) = app
        .api_get(
            &format!("/api/v1/campaigns/{}/tracked-numbers", world.campaign.id),
            &Auth::ApiKey(key),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert_eq!(list["next_cursor"], Value::Null);
}

fn twilio_error(status: u16, code: i32, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status,
    }))
}

#[tokio::test]
async fn a_choice_twilio_cannot_fill_is_a_422_with_twilios_code_and_message_and_nothing_is_stored()
{
    for (code, message, body) in [
        (
            21452,
            "No phone numbers found in area code 999",
            json!({ "area_code": "999", "forward_to_number": "+14155550199" }),
        ),
        (
            21451,
            "Invalid area code",
            // Well formed, so only Twilio can say it is no area code (111 never leaves here).
            json!({ "area_code": "290", "forward_to_number": "+14155550199" }),
        ),
        (
            21422,
            "PhoneNumber +14155550177 is not available",
            json!({ "phone_number": "+14155550177", "forward_to_number": "+14155550199" }),
        ),
    ] {
        let app = TestApp::spawn().await;
        let world = app.world(0).await;
        Mock::given(method("POST"))
            .and(path(numbers_path()))
            .respond_with(twilio_error(400, code, message))
            .mount(&app.twilio)
            .await;

        let (status, body) = buy(&app, &world, &manager(&app, &world).await, body).await;

        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["code"], "twilio_refused");
        assert_eq!(body["error"]["twilio_code"], code);
        assert_eq!(
            body["error"]["message"],
            format!("Twilio refused: {message}")
        );
        assert_eq!(numbers_of(&app, world.campaign.id).await, 1);
    }
}

#[tokio::test]
async fn another_refusal_by_twilio_is_a_502_with_its_code_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    Mock::given(method("POST"))
        .and(path(numbers_path()))
        .respond_with(twilio_error(
            400,
            21631,
            "Phone Number Requires an Address but the 'AddressSid' parameter was empty.",
        ))
        .mount(&app.twilio)
        .await;

    let (status, body) = buy(
        &app,
        &world,
        &manager(&app, &world).await,
        json!({ "area_code": "415", "forward_to_number": "+14155550199" }),
    )
    .await;

    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "twilio_error");
    assert_eq!(body["error"]["twilio_code"], 21631);
    assert_eq!(numbers_of(&app, world.campaign.id).await, 1);
}

#[tokio::test]
async fn a_twilio_server_error_is_a_502_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    Mock::given(method("POST"))
        .and(path(numbers_path()))
        .respond_with(twilio_error(503, 20503, "Service Unavailable"))
        .mount(&app.twilio)
        .await;

    let (status, body) = buy(
        &app,
        &world,
        &manager(&app, &world).await,
        json!({ "area_code": "415", "forward_to_number": "+14155550199" }),
    )
    .await;

    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "twilio_unavailable");
    assert_eq!(numbers_of(&app, world.campaign.id).await, 1);
}

/// The Twilio client's timeout in these tests: long for a local stand-in.
const CLIENT_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

async fn spawn_impatient_app() -> TestApp {
    TestApp::builder()
        .tune(|settings| {
            settings.twilio.request_timeout = CLIENT_TIMEOUT;
        })
        .spawn()
        .await
}

/// Twilio sells `number` but answers only after the client stopped waiting.
async fn twilio_sells_too_late(app: &TestApp, number: &'static str) {
    Mock::given(method("POST"))
        .and(path(numbers_path()))
        .respond_with(move |_: &Request| sold(number).set_delay(CLIENT_TIMEOUT * 4))
        .expect(1)
        .mount(&app.twilio)
        .await;
}

/// The friendly name the one purchase POST carried.
async fn purchase_name(app: &TestApp) -> String {
    let requests = app.twilio.received_requests().await.unwrap();
    let post = requests
        .iter()
        .find(|r| r.method.as_str() == "POST" && r.url.path() == numbers_path())
        .unwrap();
    form_urlencoded::parse(&post.body)
        .find(|(k, _)| k == "FriendlyName")
        .unwrap()
        .1
        .into_owned()
}

/// IncomingPhoneNumbers.json lists `number` under whatever friendly name is asked for, as
/// Twilio does once the purchase went through.
async fn twilio_lists_the_purchase(app: &TestApp, number: &'static str) {
    Mock::given(method("GET"))
        .and(path(numbers_path()))
        .and(wiremock::matchers::query_param("PageSize", "50"))
        .respond_with(move |request: &Request| {
            let name = request
                .url
                .query_pairs()
                .find(|(k, _)| k == "FriendlyName")
                .map(|(_, v)| v.into_owned());
            ResponseTemplate::new(200).set_body_json(json!({
                "incoming_phone_numbers": [{
                    "sid": BOUGHT_SID,
                    "account_sid": ACCOUNT,
                    "phone_number": number,
                    "friendly_name": name,
                    "voice_url": format!("{PUBLIC_BASE_URL}/twilio/voice"),
                }],
                "next_page_uri": null,
                "page": 0,
                "page_size": 50,
            }))
        })
        .mount(&app.twilio)
        .await;
}

fn requests_with(requests: &[Request], verb: &str) -> usize {
    requests
        .iter()
        .filter(|r| r.method.as_str() == verb && r.url.path().contains("IncomingPhoneNumbers"))
        .count()
}

#[tokio::test]
async fn an_area_code_purchase_whose_answer_timed_out_is_found_at_twilio_and_stored_once() {
    let app = spawn_impatient_app().await;
    let world = app.world(0).await;
    twilio_sells_too_late(&app, "+14155550123").await;
    twilio_lists_the_purchase(&app, "+14155550123").await;

    let (status, body) = buy(
        &app,
        &world,
        &manager(&app, &world).await,
        json!({ "area_code": "415", "forward_to_number": "+14155550199" }),
    )
    .await;

    assert_eq!(status, 201, "{body}");
    assert_eq!(body["phone_number"], "+14155550123");
    assert_eq!(body["provider_sid"], BOUGHT_SID);
    assert_eq!(numbers_of(&app, world.campaign.id).await, 2);
    let name = purchase_name(&app).await;
    assert!(
        name.starts_with(&format!("calltrack {} #", world.campaign.id)),
        "{name}"
    );
    let requests = app.twilio.received_requests().await.unwrap();
    let lookup = requests
        .iter()
        .find(|r| r.method.as_str() == "GET")
        .unwrap();
    assert!(
        lookup
            .url
            .query_pairs()
            .any(|(k, v)| k == "FriendlyName" && v == name),
        "the lookup asks for this purchase's own name: {}",
        lookup.url
    );
    assert_eq!(requests_with(&requests, "POST"), 1);
    assert_eq!(requests_with(&requests, "DELETE"), 0);
}

#[tokio::test]
async fn an_exact_purchase_whose_answer_timed_out_is_looked_up_by_number_and_stored_once() {
    let app = spawn_impatient_app().await;
    let world = app.world(0).await;
    twilio_sells_too_late(&app, "+14155550177").await;
    twilio_lists_the_purchase(&app, "+14155550177").await;

    let (status, body) = buy(
        &app,
        &world,
        &manager(&app, &world).await,
        json!({ "phone_number": "+14155550177", "forward_to_number": "+14155550199" }),
    )
    .await;

    assert_eq!(status, 201, "{body}");
    assert_eq!(
        app.count("SELECT count(*) FROM tracked_phone_numbers WHERE phone_number = '+14155550177'")
            .await,
        1
    );
    let requests = app.twilio.received_requests().await.unwrap();
    let lookup = requests
        .iter()
        .find(|r| r.method.as_str() == "GET")
        .unwrap();
    assert!(
        lookup
            .url
            .query_pairs()
            .any(|(k, v)| k == "PhoneNumber" && v == "+14155550177"),
        "{}",
        lookup.url
    );
    assert_eq!(requests_with(&requests, "POST"), 1);
}

#[tokio::test]
async fn a_purchase_whose_answer_was_lost_and_that_twilio_does_not_show_is_a_502_and_nothing_is_stored()
 {
    let app = spawn_impatient_app().await;
    let world = app.world(0).await;
    twilio_sells_too_late(&app, "+14155550123").await;
    Mock::given(method("GET"))
        .and(path(numbers_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "incoming_phone_numbers": [],
            "next_page_uri": null,
        })))
        .mount(&app.twilio)
        .await;

    let (status, body) = buy(
        &app,
        &world,
        &manager(&app, &world).await,
        json!({ "area_code": "415", "forward_to_number": "+14155550199" }),
    )
    .await;

    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "twilio_outcome_unknown");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&purchase_name(&app).await),
        "{body}"
    );
    assert_eq!(numbers_of(&app, world.campaign.id).await, 1);
    let requests = app.twilio.received_requests().await.unwrap();
    assert_eq!(requests_with(&requests, "GET"), 3, "looked up three times");
}

#[tokio::test]
async fn twilio_down_is_a_502_and_nothing_is_stored() {
    let app = TestApp::builder()
        .env(&[("TWILIO_API_BASE_URL", "http://127.0.0.1:9")])
        .spawn()
        .await;
    let world = app.world(0).await;

    let (status, body) = buy(
        &app,
        &world,
        &manager(&app, &world).await,
        json!({ "area_code": "415", "forward_to_number": "+14155550199" }),
    )
    .await;

    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "twilio_unavailable");
    assert_eq!(numbers_of(&app, world.campaign.id).await, 1);
}

/// Twilio sells a number that is already an active tracked number here, so storing it fails.
async fn buy_a_number_already_tracked(app: &TestApp, world: &World) -> (u16, Value) {
    Mock::given(method("POST"))
        .and(path(numbers_path()))
        .respond_with(sold(TRACKED_NUMBER))
        .mount(&app.twilio)
        .await;
    let body = json!({ "area_code": "800", "forward_to_number": "+14155550199" });
    buy(app, world, &manager(app, world).await, body).await
}

#[tokio::test]
async fn a_number_that_cannot_be_stored_after_purchase_is_released_again() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    Mock::given(method("DELETE"))
        .and(path(number_path(BOUGHT_SID)))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&app.twilio)
        .await;

    let (status, body) = buy_a_number_already_tracked(&app, &world).await;

    assert_eq!(status, 409, "{body}");
    assert_eq!(numbers_of(&app, world.campaign.id).await, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM number_releases_pending")
            .await,
        0
    );
}

#[tokio::test]
async fn a_release_that_fails_is_owed_and_settled_later() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    Mock::given(method("DELETE"))
        .and(path(number_path(BOUGHT_SID)))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&app.twilio)
        .await;

    let (status, _) = buy_a_number_already_tracked(&app, &world).await;
    assert_eq!(status, 409);
    assert_eq!(
        app.count("SELECT count(*) FROM number_releases_pending WHERE released_at IS NULL")
            .await,
        1
    );

    Mock::given(method("DELETE"))
        .and(path(number_path(BOUGHT_SID)))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&app.twilio)
        .await;
    let numbers = calltrack::app::numbers::Numbers {
        pool: calltrack::db::pool::pool(app.db_config.clone(), 2).unwrap(),
        twilio: calltrack::twilio::client::TwilioClient::new(
            &crate::helpers::settings_with(&[("TWILIO_API_BASE_URL", &app.twilio.uri())]).twilio,
        )
        .unwrap(),
        public_base_url: calltrack::twilio::PublicBaseUrl::parse(PUBLIC_BASE_URL).unwrap(),
        routing: None,
    };
    assert_eq!(
        calltrack::app::numbers::settle_owed_releases(&numbers)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM number_releases_pending WHERE released_at IS NULL")
            .await,
        0
    );
}

#[tokio::test]
async fn a_new_forward_number_takes_effect_on_the_next_call() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    app.db
        .execute(
            "UPDATE tracked_phone_numbers SET provider_sid = $1",
            &[&BOUGHT_SID],
        )
        .await
        .unwrap();
    Mock::given(method("POST"))
        .and(path(number_path(BOUGHT_SID)))
        .and(FormHas(vec![(
            "VoiceFallbackUrl",
            format!("{PUBLIC_BASE_URL}/twilio/voice-fallback?forward=%2B12125550142"),
        )]))
        .respond_with(sold(TRACKED_NUMBER))
        .expect(1)
        .mount(&app.twilio)
        .await;
    let auth = manager(&app, &world).await;

    let (status, body) = app
        .api_patch(
            &tracked_number_url(&world),
            &auth,
            &json!({ "forward_to_number": "+1 (212) 555-0142" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["forward_to_number"], "+12125550142");

    let twiml = app.voice_answer("+14155550100").await;
    assert!(twiml.contains(">+12125550142</Number>"), "{twiml}");

    let (status, body) = app
        .api_patch(
            &tracked_number_url(&world),
            &auth,
            &json!({ "forward_to_number": TRACKED_NUMBER }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "forward_to_self");
}

#[tokio::test]
async fn deleting_releases_at_twilio_and_later_calls_hear_the_inactive_message() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    app.db
        .execute(
            "UPDATE tracked_phone_numbers SET provider_sid = $1",
            &[&BOUGHT_SID],
        )
        .await
        .unwrap();
    Mock::given(method("DELETE"))
        .and(path(number_path(BOUGHT_SID)))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&app.twilio)
        .await;
    let auth = manager(&app, &world).await;

    let (status, body) = app.api_delete(&tracked_number_url(&world), &auth).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["is_active"], false);
    assert!(body["released_at"].is_string());
    let twiml = app.voice_answer("+14155550100").await;
    assert!(twiml.contains("no longer in service"), "{twiml}");
    let (status, _) = app
        .api_patch(
            &tracked_number_url(&world),
            &auth,
            &json!({ "is_active": true }),
        )
        .await;
    assert_eq!(status, 409, "a released number stays released");
}

#[tokio::test]
async fn agents_may_not_manage_numbers() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    let agent = Auth::user(world.agent);
    let number = tracked_number_url(&world);

    let (status, body) = app
        .api_get(
            &format!("/api/v1/campaigns/{}/tracked-numbers", world.campaign.id),
            &agent,
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    assert_eq!(
        buy(
            &app,
            &world,
            &agent,
            json!({ "area_code": "415", "forward_to_number": "+14155550199" })
        )
        .await
        .0,
        403
    );
    assert_eq!(
        app.api_patch(&number, &agent, &json!({ "is_active": false }))
            .await
            .0,
        403
    );
    assert_eq!(app.api_delete(&number, &agent).await.0, 403);
    assert!(app.twilio.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn another_clients_campaign_and_numbers_are_404() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    let (other_client, _) = app.other_client_session().await;
    let outsider = Auth::user(
        app.seed_user(&["company_owner"], Some(other_client), None)
            .await,
    );

    let (status, _) = app
        .api_get(
            &format!("/api/v1/campaigns/{}/tracked-numbers", world.campaign.id),
            &outsider,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = buy(
        &app,
        &world,
        &outsider,
        json!({ "area_code": "415", "forward_to_number": "+14155550199" }),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = app.api_delete(&tracked_number_url(&world), &outsider).await;
    assert_eq!(status, 404);
    assert!(app.twilio.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn switching_a_number_back_on_re_points_it_at_the_service() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    app.db
        .execute(
            "UPDATE tracked_phone_numbers SET provider_sid = $1",
            &[&BOUGHT_SID],
        )
        .await
        .unwrap();
    Mock::given(method("POST"))
        .and(path(number_path(BOUGHT_SID)))
        .and(FormHas(vec![
            ("VoiceUrl", format!("{PUBLIC_BASE_URL}/twilio/voice")),
            ("StatusCallback", format!("{PUBLIC_BASE_URL}/twilio/status")),
        ]))
        .respond_with(sold(TRACKED_NUMBER))
        .expect(1)
        .mount(&app.twilio)
        .await;
    let auth = manager(&app, &world).await;
    let number = tracked_number_url(&world);

    let (status, off) = app
        .api_patch(&number, &auth, &json!({ "is_active": false }))
        .await;
    assert_eq!((status, &off["is_active"]), (200, &json!(false)));
    let twiml = app.voice_answer("+14155550100").await;
    assert!(twiml.contains("no longer in service"), "{twiml}");

    let (status, on) = app
        .api_patch(&number, &auth, &json!({ "is_active": true }))
        .await;
    assert_eq!((status, &on["is_active"]), (200, &json!(true)), "{on}");
}

#[tokio::test]
async fn the_client_searches_available_numbers_with_twilios_filters() {
    let twilio = wiremock::MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/2010-04-01/Accounts/{ACCOUNT}/AvailablePhoneNumbers/US/Local.json")))
        .and(wiremock::matchers::query_param("AreaCode", "415"))
        .and(wiremock::matchers::query_param("Contains", "555"))
        .and(wiremock::matchers::query_param("InRegion", "CA"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "available_phone_numbers": [
                { "phone_number": "+14155550188", "friendly_name": "(415) 555-0188", "locality": "San Francisco", "region": "CA", "iso_country": "US" }
            ],
            "uri": "/2010-04-01/Accounts/AC.../AvailablePhoneNumbers/US/Local.json",
        })))
        .expect(1)
        .mount(&twilio)
        .await;
    let settings = crate::helpers::settings_with(&[("TWILIO_API_BASE_URL", &twilio.uri())]);
    let client = calltrack::twilio::client::TwilioClient::new(&settings.twilio).unwrap();
    let search = calltrack::twilio::client::AvailableSearch {
        area_code: Some("415".into()),
        contains: Some("555".into()),
        in_region: Some("CA".into()),
    };

    let found = client.search_available("US", &search).await.unwrap();

    assert_eq!(found.len(), 1);
    assert_eq!(found[0].phone_number, "+14155550188");
    assert_eq!(found[0].locality.as_deref(), Some("San Francisco"));
}

#[tokio::test]
async fn operators_list_and_release_numbers_from_the_command_line() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    app.db
        .execute(
            "UPDATE tracked_phone_numbers SET provider_sid = $1",
            &[&BOUGHT_SID],
        )
        .await
        .unwrap();
    Mock::given(method("DELETE"))
        .and(path(number_path(BOUGHT_SID)))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&app.twilio)
        .await;
    let cli = |args: Vec<String>| {
        tokio::process::Command::new(calltrack_lab::calltrack_binary().unwrap())
            .arg("numbers")
            .args(args)
            .env("DATABASE_URL", crate::helpers::conninfo(&app.db_config))
            .env("TWILIO_ACCOUNT_SID", ACCOUNT)
            .env("TWILIO_AUTH_TOKEN", crate::helpers::AUTH_TOKEN)
            .env("TWILIO_API_BASE_URL", app.twilio.uri())
            .env("PUBLIC_BASE_URL", PUBLIC_BASE_URL)
            // Number management needs neither the JWT secret nor the gift-card key.
            .env_remove("JWT_SECRET")
            .env_remove("GIFT_CARD_KEY")
            .output()
    };

    let listed = cli(vec![
        "list".into(),
        "--campaign".into(),
        world.campaign.id.to_string(),
    ])
    .await
    .unwrap();
    let released = cli(vec![
        "release".into(),
        "--id".into(),
        world.campaign.tracked_number_id.to_string(),
    ])
    .await
    .unwrap();

    let listed_out = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    assert!(
        listed_out.contains(TRACKED_NUMBER) && listed_out.contains("active"),
        "{listed_out}"
    );
    let released_out = String::from_utf8_lossy(&released.stdout);
    assert!(
        released.status.success(),
        "{}",
        String::from_utf8_lossy(&released.stderr)
    );
    assert!(released_out.contains("released"), "{released_out}");
    let active: bool = app
        .db
        .query_one("SELECT is_active FROM tracked_phone_numbers", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!active);
}

#[tokio::test]
async fn a_manager_sets_and_clears_a_numbers_call_flow_without_touching_twilio() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    let auth = manager(&app, &world).await;
    let hours = json!({"timezone": "America/Chicago", "weekly": {"mon": [["08:00", "17:00"]]}});

    let (status, body) = app
        .api_patch(
            &tracked_number_url(&world),
            &auth,
            &json!({
                "whisper": "Call from the spring mailer.",
                "voicemail_greeting": "Acme Roofing, leave a message.",
                "business_hours": hours,
            }),
        )
        .await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["whisper"], "Call from the spring mailer.");
    assert_eq!(
        body["require_keypress"], true,
        "a whisper screens by default"
    );
    assert_eq!(body["voicemail"], true);
    assert_eq!(body["business_hours"]["timezone"], "America/Chicago");
    assert_eq!(
        body["business_hours"]["weekly"]["mon"],
        json!([["08:00", "17:00"]])
    );
    assert!(
        app.twilio.received_requests().await.unwrap().is_empty(),
        "a call-flow change needs nothing from Twilio"
    );

    let (status, body) = app
        .api_patch(
            &tracked_number_url(&world),
            &auth,
            &json!({ "whisper": null, "business_hours": null, "voicemail": false }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["whisper"].is_null() && body["business_hours"].is_null());
    assert_eq!(body["require_keypress"], false);
    assert_eq!(body["voicemail"], false);
    assert_eq!(
        body["voicemail_greeting"], "Acme Roofing, leave a message.",
        "kept"
    );

    let (status, body) = app
        .api_patch(
            &tracked_number_url(&world),
            &auth,
            &json!({ "business_hours": {"timezone": "America/Chicgo", "weekly": {}} }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("America/Chicgo"),
        "{body}"
    );
}

#[tokio::test]
async fn a_forward_to_number_nobody_can_dial_is_a_422_and_twilio_is_never_asked() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    app.db
        .execute(
            "UPDATE tracked_phone_numbers SET provider_sid = $1",
            &[&BOUGHT_SID],
        )
        .await
        .unwrap();
    // This Twilio would sell and re-point anything: only the service can refuse.
    Mock::given(wiremock::matchers::any())
        .respond_with(sold("+14155550123"))
        .mount(&app.twilio)
        .await;
    let auth = manager(&app, &world).await;

    let mut answers = Vec::new();
    // The outside probe's two: seven digits after +1, and an area code starting with 0.
    for bad in ["+13079276", "+1015961"] {
        for choice in [
            json!({ "area_code": "415", "forward_to_number": bad }),
            json!({ "phone_number": "+14155550123", "forward_to_number": bad }),
        ] {
            answers.push(buy(&app, &world, &auth, choice).await);
        }
        answers.push(
            app.api_patch(
                &tracked_number_url(&world),
                &auth,
                &json!({ "forward_to_number": bad, "is_active": true }),
            )
            .await,
        );
    }

    for (status, body) in &answers {
        assert_eq!(*status, 422, "{body}");
        assert_eq!(body["error"]["code"], "invalid_forward_to_number");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with("forward_to_number is not a number in use"),
            "{message}"
        );
    }
    assert_eq!(app.twilio.received_requests().await.unwrap().len(), 0);
    assert_eq!(numbers_of(&app, world.campaign.id).await, 1);
    let forward: String = app
        .db
        .query_one("SELECT forward_to_number FROM tracked_phone_numbers", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(forward, crate::helpers::FORWARD_TO);
}

#[tokio::test]
async fn the_command_line_refuses_a_forward_to_number_nobody_can_dial_before_asking_twilio() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    Mock::given(wiremock::matchers::any())
        .respond_with(sold("+14155550123"))
        .mount(&app.twilio)
        .await;

    let bought = tokio::process::Command::new(calltrack_lab::calltrack_binary().unwrap())
        .args(["numbers", "buy", "--campaign"])
        .arg(world.campaign.id.to_string())
        .args(["--area-code", "415", "--forward-to", "+13079276"])
        .env("DATABASE_URL", crate::helpers::conninfo(&app.db_config))
        .env("TWILIO_ACCOUNT_SID", ACCOUNT)
        .env("TWILIO_AUTH_TOKEN", crate::helpers::AUTH_TOKEN)
        .env("TWILIO_API_BASE_URL", app.twilio.uri())
        .env("PUBLIC_BASE_URL", PUBLIC_BASE_URL)
        .output()
        .await
        .unwrap();

    assert!(!bought.status.success());
    let stderr = String::from_utf8_lossy(&bought.stderr);
    assert!(stderr.contains("--forward-to"), "{stderr}");
    assert!(stderr.contains("not a number in use"), "{stderr}");
    assert_eq!(app.twilio.received_requests().await.unwrap().len(), 0);
    assert_eq!(numbers_of(&app, world.campaign.id).await, 1);
}
