//! The reward SMS pipeline: the outbox worker against a wiremock Twilio, and the signed
//! `/twilio/sms-status` callback.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use calltrack::config::DatabaseSource;
use calltrack::crypto::CardCipher;
use calltrack::startup::Application;
use calltrack::twilio::form::FormPairs;
use calltrack::twilio::simulated::{random_sid, sms_status};
use calltrack::workers::outbox::MAX_ATTEMPTS;
use serde_json::json;
use uuid::Uuid;
use wiremock::matchers::{basic_auth, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, Request, ResponseTemplate};

use crate::helpers::{AUTH_TOKEN, PUBLIC_BASE_URL, TestApp, settings_with};

const ACCOUNT_SID: &str = "ACae6d5b1f2c3e4d5a6b7c8d9e0f1a2b3c";
const SMS_FROM: &str = "+18005550000";
/// The `GIFT_CARD_KEY` of the test settings in helpers.rs.
const GIFT_CARD_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const TEMPLATE: &str = "Hi {first_name}! Your {brand} card (${value}): {card_code} PIN {pin_code}";
const MESSAGES_PATH: &str = "/2010-04-01/Accounts/ACae6d5b1f2c3e4d5a6b7c8d9e0f1a2b3c/Messages.json";
/// How long the worker may take to reach an expected state (retries back off 1 s, 2 s).
const PATIENCE: Duration = Duration::from_secs(30);

/// The campaign, pool and reward config every reward of a test belongs to.
struct World {
    campaign_id: Uuid,
    tracked_number_id: Uuid,
    pool_id: Uuid,
    reward_config_id: Uuid,
}

/// A reward's caller and card, in plaintext, before it is seeded.
#[derive(Clone)]
struct Planned {
    phone: String,
    card_code: String,
    pin_code: String,
}

/// One provisioned reward waiting in the outbox.
struct Reward {
    outbox_id: Uuid,
    condition_id: Uuid,
    gift_card_id: Uuid,
    phone: String,
    card_code: String,
    pin_code: String,
}

/// `count` callers with distinct numbers (`+14155550100`, ...) and distinct cards.
fn plan_rewards(count: usize) -> Vec<Planned> {
    (0..count)
        .map(|i| Planned {
            phone: format!("+1415555{:04}", 100 + i),
            card_code: format!("GC-{:04}-{}", i, &Uuid::new_v4().simple().to_string()[..12]),
            pin_code: format!("{:04}", 1000 + i),
        })
        .collect()
}

impl Planned {
    fn expected_body(&self) -> String {
        format!(
            "Hi Dana! Your Amazon card ($25): {} PIN {}",
            self.card_code, self.pin_code
        )
    }
}

impl Reward {
    fn expected_body(&self) -> String {
        format!(
            "Hi Dana! Your Amazon card ($25): {} PIN {}",
            self.card_code, self.pin_code
        )
    }
}

/// A test app whose worker polls often, so results arrive quickly.
async fn spawn_app() -> TestApp {
    TestApp::builder()
        .env(&[("OUTBOX_POLL_MS", "20")])
        .spawn()
        .await
}

/// The auth token of the second worker, so its requests can be told apart.
const SECOND_WORKER_TOKEN: &str = "second-worker-token";

/// A second server (and so a second worker) on `app`'s database and fake Twilio.
async fn spawn_second_worker(app: &TestApp) {
    let twilio = app.twilio.uri();
    let mut settings = settings_with(&[
        ("TWILIO_API_BASE_URL", twilio.as_str()),
        ("TWILIO_AUTH_TOKEN", SECOND_WORKER_TOKEN),
        ("OUTBOX_POLL_MS", "20"),
    ]);
    settings.database = DatabaseSource::Located(Box::new(app.db_config.clone()));
    settings.pool_size = 8;
    let second = Application::build(settings).await.unwrap();
    tokio::spawn(second.run_until(std::future::pending()));
}

async fn seed_world(app: &TestApp) -> World {
    let campaign = app.seed_campaign().await;
    let row = app
        .db
        .query_one(
            "WITH b AS (INSERT INTO gift_card_brands (brand_name) VALUES ('Amazon') RETURNING id),
                  p AS (INSERT INTO gift_card_pools (client_id, brand_id, pool_name, value_amount,
                            total_cards, available_cards, reserved_cards, delivered_cards)
                        SELECT k.client_id, b.id, 'Amazon $25', 25.00, 100, 0, 0, 0
                        FROM b, campaigns k WHERE k.id = $1 RETURNING id),
                  rc AS (INSERT INTO campaign_reward_configs (campaign_id, condition_number,
                            gift_card_pool_id, reward_description, sms_template)
                        SELECT $1, 1, p.id, '$25 Amazon card', $2 FROM p RETURNING id)
             SELECT p.id, rc.id FROM p, rc",
            &[&campaign.id, &TEMPLATE],
        )
        .await
        .unwrap();
    World {
        campaign_id: campaign.id,
        tracked_number_id: campaign.tracked_number_id,
        pool_id: row.get(0),
        reward_config_id: row.get(1),
    }
}

async fn seed_rewards(app: &TestApp, world: &World, count: usize) -> Vec<Reward> {
    insert_rewards(app, world, &plan_rewards(count), false).await
}

/// The planned rewards, provisioned in one statement (so competing workers see them at
/// once): a recipient, a call session, a claimed card with encrypted code and PIN, the met
/// condition and its outbox row. With `interrupted`, the row is left as a crashed worker
/// leaves it: `sending`, attempted once, its lease expired.
async fn insert_rewards(
    app: &TestApp,
    world: &World,
    planned: &[Planned],
    interrupted: bool,
) -> Vec<Reward> {
    insert_rewards_after(app, world, planned, interrupted, 0).await
}

/// Like [`insert_rewards`], with `earlier_attempts` attempts already made and failed.
async fn insert_rewards_after(
    app: &TestApp,
    world: &World,
    planned: &[Planned],
    interrupted: bool,
    earlier_attempts: i32,
) -> Vec<Reward> {
    let key = calltrack::config::parse_gift_card_key(GIFT_CARD_KEY).unwrap();
    let cipher = CardCipher::new(&key);
    let phones: Vec<&str> = planned.iter().map(|p| p.phone.as_str()).collect();
    let codes: Vec<String> = planned
        .iter()
        .map(|p| cipher.encrypt(&p.card_code))
        .collect();
    let pins: Vec<String> = planned
        .iter()
        .map(|p| cipher.encrypt(&p.pin_code))
        .collect();
    let plain: HashMap<&str, &Planned> = planned.iter().map(|p| (p.phone.as_str(), p)).collect();
    let call_sids: Vec<String> = planned.iter().map(|_| random_sid("CA")).collect();
    let rows = app
        .db
        .query(
            "WITH input AS (
                 SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[])
                     AS x(phone, code, pin, call_sid)
             ), r AS (
                 INSERT INTO recipients (campaign_id, redemption_code, first_name, phone)
                 SELECT $1, 'RC-' || call_sid, 'Dana', phone FROM input
                 RETURNING id, redemption_code, phone
             ), s AS (
                 INSERT INTO call_sessions (campaign_id, tracked_number_id, recipient_id,
                     caller_phone, match_status, call_status, twilio_call_sid)
                 SELECT $1, $6, r.id, r.phone, 'matched', 'completed', substr(r.redemption_code, 4)
                 FROM r
                 RETURNING id, recipient_id
             ), g AS (
                 INSERT INTO gift_cards (pool_id, card_code, pin_code, value_amount, status,
                     recipient_id, campaign_id, claimed_at)
                 SELECT $7, input.code, input.pin, 25.00, 'claimed', r.id, $1, now()
                 FROM input JOIN r ON r.phone = input.phone
                 RETURNING id, recipient_id
             ), m AS (
                 INSERT INTO call_conditions_met (call_session_id, campaign_id, recipient_id,
                     condition_number, gift_card_id, delivery_status, reward_status,
                     reward_config_id)
                 SELECT s.id, $1, s.recipient_id, 1, g.id, 'pending', 'provisioned', $8
                 FROM s JOIN g ON g.recipient_id = s.recipient_id
                 RETURNING id, recipient_id, gift_card_id
             ), o AS (
                 INSERT INTO sms_outbox (condition_met_id, to_phone, state, attempts,
                     lease_until, sending_since)
                 SELECT m.id, r.phone,
                     CASE WHEN $9 THEN 'sending' ELSE 'pending' END,
                     CASE WHEN $9 THEN 1 ELSE 0 END + $10,
                     CASE WHEN $9 THEN now() - interval '1 minute' END,
                     CASE WHEN $9 THEN now() - interval '2 minutes' END
                 FROM m JOIN r ON r.id = m.recipient_id
                 RETURNING id, condition_met_id, to_phone
             )
             SELECT o.id, m.id, m.gift_card_id, o.to_phone
             FROM o JOIN m ON m.id = o.condition_met_id",
            &[
                &world.campaign_id,
                &phones,
                &codes,
                &pins,
                &call_sids,
                &world.tracked_number_id,
                &world.pool_id,
                &world.reward_config_id,
                &interrupted,
                &earlier_attempts,
            ],
        )
        .await
        .unwrap();
    rows.iter()
        .map(|row| {
            let phone: String = row.get(3);
            let plan = plain[phone.as_str()];
            Reward {
                outbox_id: row.get(0),
                condition_id: row.get(1),
                gift_card_id: row.get(2),
                phone,
                card_code: plan.card_code.clone(),
                pin_code: plan.pin_code.clone(),
            }
        })
        .collect()
}

/// Twilio's answer to a created message, with a fresh SID each time.
fn created(request: &Request) -> ResponseTemplate {
    let form = FormPairs::parse(&request.body).unwrap();
    ResponseTemplate::new(201).set_body_json(json!({
        "account_sid": ACCOUNT_SID,
        "api_version": "2010-04-01",
        "body": form.get("Body"),
        "date_created": "Wed, 25 Nov 2026 15:04:52 +0000",
        "direction": "outbound-api",
        "from": form.get("From"),
        "num_segments": "1",
        "sid": random_sid("SM"),
        "status": "queued",
        "to": form.get("To"),
        "uri": "/2010-04-01/Accounts/ACae6d5b1f2c3e4d5a6b7c8d9e0f1a2b3c/Messages/SM.json",
    }))
}

fn twilio_error(status: u16, code: i32, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status,
    }))
}

/// Messages.json accepts every message, and only with the account's credentials.
async fn twilio_accepts(app: &TestApp) {
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .and(basic_auth(ACCOUNT_SID, AUTH_TOKEN))
        .respond_with(created)
        .mount(&app.twilio)
        .await;
}

/// Like [`twilio_accepts`], but each answer takes a while, so competing workers overlap.
async fn twilio_accepts_slowly(app: &TestApp) {
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .respond_with(|request: &Request| created(request).set_delay(Duration::from_millis(100)))
        .mount(&app.twilio)
        .await;
}

/// The forms of every message POSTed to the fake Twilio so far.
async fn sent_messages(app: &TestApp) -> Vec<FormPairs> {
    app.twilio
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "POST" && r.url.path() == MESSAGES_PATH)
        .map(|r| FormPairs::parse(&r.body).unwrap())
        .collect()
}

/// Polls until the outbox row is in `state`; panics with the last state after [`PATIENCE`].
async fn wait_for_state(app: &TestApp, outbox_id: Uuid, state: &str) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let row = outbox_row(app, outbox_id).await;
        if row["state"] == state {
            return row;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "outbox row never reached {state}: {row}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn outbox_row(app: &TestApp, id: Uuid) -> serde_json::Value {
    row_json(
        app,
        "SELECT to_jsonb(o) FROM sms_outbox o WHERE id = $1",
        id,
    )
    .await
}

async fn condition_row(app: &TestApp, id: Uuid) -> serde_json::Value {
    row_json(
        app,
        "SELECT to_jsonb(c) FROM call_conditions_met c WHERE id = $1",
        id,
    )
    .await
}

async fn gift_card_row(app: &TestApp, id: Uuid) -> serde_json::Value {
    row_json(
        app,
        "SELECT to_jsonb(g) FROM gift_cards g WHERE id = $1",
        id,
    )
    .await
}

async fn row_json(app: &TestApp, sql: &str, id: Uuid) -> serde_json::Value {
    app.db.query_one(sql, &[&id]).await.unwrap().get(0)
}

async fn delivered_cards(app: &TestApp, world: &World) -> i32 {
    app.db
        .query_one(
            "SELECT delivered_cards FROM gift_card_pools WHERE id = $1",
            &[&world.pool_id],
        )
        .await
        .unwrap()
        .get(0)
}

async fn post_status(app: &TestApp, form: &FormPairs) {
    let response = app.post_signed("/twilio/sms-status", form).await;
    assert_eq!(response.status(), 204);
}

#[tokio::test]
async fn a_provisioned_reward_is_sent_once_with_the_plaintext_code_while_the_stored_code_stays_encrypted()
 {
    let app = spawn_app().await;
    twilio_accepts(&app).await;
    let world = seed_world(&app).await;
    let reward = seed_rewards(&app, &world, 1).await.remove(0);

    let outbox = wait_for_state(&app, reward.outbox_id, "sent").await;

    let sent = sent_messages(&app).await;
    assert_eq!(sent.len(), 1);
    let form = &sent[0];
    assert_eq!(form.get("To"), Some(reward.phone.as_str()));
    assert_eq!(form.get("From"), Some(SMS_FROM));
    assert_eq!(form.get("Body"), Some(reward.expected_body().as_str()));
    assert_eq!(
        form.get("StatusCallback"),
        Some(format!("{PUBLIC_BASE_URL}/twilio/sms-status").as_str())
    );
    let requests = app.twilio.received_requests().await.unwrap();
    let expected_auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}"))
    );
    assert_eq!(requests[0].headers["authorization"], expected_auth.as_str());

    let message_sid = outbox["message_sid"].as_str().unwrap();
    assert!(message_sid.starts_with("SM"));
    assert_eq!(outbox["attempts"], 1);
    assert!(outbox["sent_at"].is_string());
    let condition = condition_row(&app, reward.condition_id).await;
    assert_eq!(condition["delivery_status"], "sent");
    let card = gift_card_row(&app, reward.gift_card_id).await;
    let stored = card["card_code"].as_str().unwrap();
    assert!(stored.starts_with("v1:"));
    assert!(!stored.contains(&reward.card_code));
    assert!(
        !card["pin_code"]
            .as_str()
            .unwrap()
            .contains(&reward.pin_code)
    );
}

#[tokio::test]
async fn twilio_server_errors_are_retried_until_one_delivery_is_recorded() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .respond_with(twilio_error(500, 20500, "Internal Server Error"))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&app.twilio)
        .await;
    twilio_accepts(&app).await;
    let world = seed_world(&app).await;
    let reward = seed_rewards(&app, &world, 1).await.remove(0);

    let outbox = wait_for_state(&app, reward.outbox_id, "sent").await;

    assert_eq!(sent_messages(&app).await.len(), 3);
    assert_eq!(outbox["attempts"], 3);
    assert!(outbox["message_sid"].is_string());
    assert_eq!(outbox["error_code"], serde_json::Value::Null);
    assert_eq!(
        condition_row(&app, reward.condition_id).await["delivery_status"],
        "sent"
    );
    let rows = app
        .count("SELECT count(*) FROM sms_outbox WHERE message_sid IS NOT NULL")
        .await;
    assert_eq!(rows, 1);
}

#[tokio::test]
async fn an_unsubscribed_recipient_fails_permanently_after_one_attempt() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .respond_with(twilio_error(
            400,
            21610,
            "Attempt to send to unsubscribed recipient",
        ))
        .mount(&app.twilio)
        .await;
    let world = seed_world(&app).await;
    let reward = seed_rewards(&app, &world, 1).await.remove(0);

    let outbox = wait_for_state(&app, reward.outbox_id, "failed").await;

    assert_eq!(sent_messages(&app).await.len(), 1);
    assert_eq!(outbox["attempts"], 1);
    assert_eq!(outbox["error_code"], 21610);
    assert_eq!(outbox["message_sid"], serde_json::Value::Null);
    let condition = condition_row(&app, reward.condition_id).await;
    assert_eq!(condition["delivery_status"], "failed");
    assert_eq!(condition["delivery_error_code"], 21610);
    assert_eq!(
        condition["delivery_error_message"],
        "Attempt to send to unsubscribed recipient"
    );
}

#[tokio::test]
async fn a_delivered_callback_delivers_the_card_once_and_late_callbacks_change_nothing() {
    let app = spawn_app().await;
    twilio_accepts(&app).await;
    let world = seed_world(&app).await;
    let reward = seed_rewards(&app, &world, 1).await.remove(0);
    let outbox = wait_for_state(&app, reward.outbox_id, "sent").await;
    let sid = outbox["message_sid"].as_str().unwrap().to_owned();

    post_status(&app, &sms_status(&sid, &reward.phone, "delivered", None)).await;

    assert_eq!(
        outbox_row(&app, reward.outbox_id).await["state"],
        "delivered"
    );
    assert_eq!(
        condition_row(&app, reward.condition_id).await["delivery_status"],
        "delivered"
    );
    let card = gift_card_row(&app, reward.gift_card_id).await;
    assert_eq!(card["status"], "delivered");
    assert!(card["delivered_at"].is_string());
    assert_eq!(card["delivery_method"], "sms");
    assert_eq!(card["delivery_address"], reward.phone.as_str());
    assert_eq!(delivered_cards(&app, &world).await, 1);

    // Twilio's callbacks can arrive late and more than once.
    post_status(&app, &sms_status(&sid, &reward.phone, "sent", None)).await;
    post_status(&app, &sms_status(&sid, &reward.phone, "delivered", None)).await;
    post_status(
        &app,
        &sms_status(&sid, &reward.phone, "undelivered", Some(30003)),
    )
    .await;

    assert_eq!(
        outbox_row(&app, reward.outbox_id).await["state"],
        "delivered"
    );
    let condition = condition_row(&app, reward.condition_id).await;
    assert_eq!(condition["delivery_status"], "delivered");
    assert_eq!(condition["delivery_error_code"], serde_json::Value::Null);
    assert_eq!(delivered_cards(&app, &world).await, 1);
}

#[tokio::test]
async fn concurrent_delivered_callbacks_count_the_card_once() {
    let app = spawn_app().await;
    twilio_accepts(&app).await;
    let world = seed_world(&app).await;
    let reward = seed_rewards(&app, &world, 1).await.remove(0);
    let outbox = wait_for_state(&app, reward.outbox_id, "sent").await;
    let form = sms_status(
        outbox["message_sid"].as_str().unwrap(),
        &reward.phone,
        "delivered",
        None,
    );

    let posts = (0..10).map(|_| app.post_signed("/twilio/sms-status", &form));
    for response in futures::future::join_all(posts).await {
        assert_eq!(response.status(), 204);
    }

    assert_eq!(delivered_cards(&app, &world).await, 1);
}

#[tokio::test]
async fn an_undelivered_callback_records_twilios_code_and_a_late_sent_does_not_undo_it() {
    let app = spawn_app().await;
    twilio_accepts(&app).await;
    let world = seed_world(&app).await;
    let reward = seed_rewards(&app, &world, 1).await.remove(0);
    let outbox = wait_for_state(&app, reward.outbox_id, "sent").await;
    let sid = outbox["message_sid"].as_str().unwrap().to_owned();

    post_status(
        &app,
        &sms_status(&sid, &reward.phone, "undelivered", Some(30003)),
    )
    .await;
    post_status(&app, &sms_status(&sid, &reward.phone, "sent", None)).await;

    let outbox = outbox_row(&app, reward.outbox_id).await;
    assert_eq!(outbox["state"], "failed");
    assert_eq!(outbox["error_code"], 30003);
    let condition = condition_row(&app, reward.condition_id).await;
    assert_eq!(condition["delivery_status"], "failed");
    assert_eq!(condition["delivery_error_code"], 30003);
    assert_eq!(
        gift_card_row(&app, reward.gift_card_id).await["delivered_at"],
        serde_json::Value::Null
    );
    assert_eq!(delivered_cards(&app, &world).await, 0);
}

#[tokio::test]
async fn sms_status_callbacks_for_unknown_messages_are_accepted_and_bad_ones_refused() {
    let app = spawn_app().await;
    let unknown = sms_status(&random_sid("SM"), "+14155550100", "delivered", None);
    post_status(&app, &unknown).await;

    let mut missing = unknown.clone();
    missing.remove("MessageStatus");
    let response = app.post_signed("/twilio/sms-status", &missing).await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("MessageStatus"));

    let mut bad_sid = unknown.clone();
    bad_sid.set("MessageSid", "SMnot-a-sid");
    let response = app.post_signed("/twilio/sms-status", &bad_sid).await;
    assert_eq!(response.status(), 400);

    let response = app
        .post_form(
            "/twilio/sms-status",
            unknown.encode(),
            Some("bm90IGEgc2lnbmF0dXJl"),
        )
        .await;
    assert_eq!(response.status(), 403);
}

/// Messages.json lists `messages` (as JSON objects) for `to`, from the test sender.
async fn twilio_lists(app: &TestApp, to: &str, messages: serde_json::Value) {
    twilio_lists_pages(app, to, vec![messages]).await;
}

/// The query of page `page` of the listing for `to`, as Twilio writes it into its page URIs.
fn page_query(to: &str, page: usize) -> String {
    let to = to.replace('+', "%2B");
    let from = SMS_FROM.replace('+', "%2B");
    match page {
        0 => format!("To={to}&From={from}&PageSize=100&Page=0"),
        n => format!("To={to}&From={from}&PageSize=100&Page={n}&PageToken=PASM{n}"),
    }
}

/// Messages.json lists `to`'s messages from the test sender over several pages, each `pages`
/// entry one page: the first answers the plain query, the later ones only the `PageToken` the
/// page before named in its `next_page_uri`. Each page is expected exactly once.
async fn twilio_lists_pages(app: &TestApp, to: &str, pages: Vec<serde_json::Value>) {
    let count = pages.len();
    for (n, messages) in pages.into_iter().enumerate() {
        let next = (n + 1 < count).then(|| format!("{MESSAGES_PATH}?{}", page_query(to, n + 1)));
        let page = Mock::given(method("GET"))
            .and(path(MESSAGES_PATH))
            .and(query_param("To", to))
            .and(query_param("From", SMS_FROM))
            .and(query_param("PageSize", "100"))
            .and(basic_auth(ACCOUNT_SID, AUTH_TOKEN));
        let page = match n {
            0 => page.and(query_param_is_missing("PageToken")),
            n => page.and(query_param("PageToken", format!("PASM{n}"))),
        };
        page.respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "first_page_uri": format!("{MESSAGES_PATH}?{}", page_query(to, 0)),
            "messages": messages,
            "next_page_uri": next,
            "page": n,
            "page_size": 100,
            "previous_page_uri": null,
            "uri": format!("{MESSAGES_PATH}?{}", page_query(to, n)),
        })))
        .mount(&app.twilio)
        .await;
    }
}

/// How many times the listing of messages was read.
async fn listings(app: &TestApp) -> usize {
    app.twilio
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "GET" && r.url.path() == MESSAGES_PATH)
        .count()
}

fn listed(sid: &str, to: &str, body: &str, status: &str, created: &str) -> serde_json::Value {
    json!({
        "account_sid": ACCOUNT_SID,
        "body": body,
        "date_created": created,
        "date_sent": created,
        "direction": "outbound-api",
        "error_code": null,
        "from": SMS_FROM,
        "messaging_service_sid": null,
        "sid": sid,
        "status": status,
        "to": to,
    })
}

#[tokio::test]
async fn an_interrupted_send_that_reached_twilio_is_reconciled_without_sending_again() {
    let app = spawn_app().await;
    twilio_accepts(&app).await;
    let world = seed_world(&app).await;
    let plan = plan_rewards(1);
    let already_sent = random_sid("SM");
    let now = chrono::Utc::now().to_rfc2822();
    twilio_lists(
        &app,
        &plan[0].phone,
        json!([
            listed(
                &already_sent,
                &plan[0].phone,
                &plan[0].expected_body(),
                "sent",
                &now
            ),
            listed(
                &random_sid("SM"),
                &plan[0].phone,
                "An older message",
                "delivered",
                "Tue, 24 Nov 2026 10:00:00 +0000"
            ),
        ]),
    )
    .await;

    let reward = insert_rewards(&app, &world, &plan, true).await.remove(0);
    let outbox = wait_for_state(&app, reward.outbox_id, "sent").await;

    assert_eq!(outbox["message_sid"], already_sent.as_str());
    assert_eq!(outbox["attempts"], 2);
    assert!(sent_messages(&app).await.is_empty());
    assert_eq!(
        condition_row(&app, reward.condition_id).await["delivery_status"],
        "sent"
    );
}

#[tokio::test]
async fn an_interrupted_send_whose_message_was_already_delivered_is_recorded_delivered() {
    let app = spawn_app().await;
    twilio_accepts(&app).await;
    let world = seed_world(&app).await;
    let plan = plan_rewards(1);
    let already_sent = random_sid("SM");
    let now = chrono::Utc::now().to_rfc2822();
    twilio_lists(
        &app,
        &plan[0].phone,
        json!([listed(
            &already_sent,
            &plan[0].phone,
            &plan[0].expected_body(),
            "delivered",
            &now
        )]),
    )
    .await;

    let reward = insert_rewards(&app, &world, &plan, true).await.remove(0);
    wait_for_state(&app, reward.outbox_id, "delivered").await;

    assert!(sent_messages(&app).await.is_empty());
    assert_eq!(
        gift_card_row(&app, reward.gift_card_id).await["delivery_method"],
        "sms"
    );
    assert_eq!(delivered_cards(&app, &world).await, 1);
}

#[tokio::test]
async fn an_interrupted_send_that_never_reached_twilio_is_sent_once() {
    let app = spawn_app().await;
    twilio_accepts(&app).await;
    let world = seed_world(&app).await;
    let plan = plan_rewards(1);
    twilio_lists(&app, &plan[0].phone, json!([])).await;

    let reward = insert_rewards(&app, &world, &plan, true).await.remove(0);
    let outbox = wait_for_state(&app, reward.outbox_id, "sent").await;

    let sent = sent_messages(&app).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].get("Body"), Some(reward.expected_body().as_str()));
    assert_eq!(outbox["attempts"], 2);
}

#[tokio::test]
async fn two_workers_on_one_database_send_every_reward_exactly_once() {
    let app = spawn_app().await;
    twilio_accepts_slowly(&app).await;
    spawn_second_worker(&app).await;
    let world = seed_world(&app).await;

    let rewards = seed_rewards(&app, &world, 20).await;
    for reward in &rewards {
        wait_for_state(&app, reward.outbox_id, "sent").await;
    }

    let sent = sent_messages(&app).await;
    let mut per_number: HashMap<String, usize> = HashMap::new();
    for form in &sent {
        *per_number
            .entry(form.get("To").unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(sent.len(), 20, "{per_number:?}");
    for reward in &rewards {
        assert_eq!(per_number.get(&reward.phone), Some(&1), "{}", reward.phone);
    }
    let distinct = app
        .count("SELECT count(DISTINCT message_sid) FROM sms_outbox WHERE state = 'sent'")
        .await;
    assert_eq!(distinct, 20);
    // Both workers took part: each one's credentials reached Twilio.
    let credentials: std::collections::HashSet<String> = app
        .twilio
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.headers["authorization"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(credentials.len(), 2);
}

/// A test app whose Twilio client gives up after [`CLIENT_TIMEOUT`].
async fn spawn_impatient_app() -> TestApp {
    TestApp::builder()
        .env(&[("OUTBOX_POLL_MS", "20")])
        .tune(|settings| {
            settings.twilio.request_timeout = CLIENT_TIMEOUT;
        })
        .spawn()
        .await
}

/// The Twilio client's timeout in [`spawn_impatient_app`]: long for a local stand-in.
const CLIENT_TIMEOUT: Duration = Duration::from_millis(500);

/// Messages.json takes every message but answers only after the client stopped waiting.
async fn twilio_accepts_too_late(app: &TestApp) {
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .respond_with(|request: &Request| created(request).set_delay(CLIENT_TIMEOUT * 4))
        .mount(&app.twilio)
        .await;
}

#[tokio::test]
async fn a_send_that_timed_out_but_reached_twilio_is_reconciled_not_resent() {
    let app = spawn_impatient_app().await;
    twilio_accepts_too_late(&app).await;
    let world = seed_world(&app).await;
    let plan = plan_rewards(1);
    let taken = random_sid("SM");
    let now = chrono::Utc::now().to_rfc2822();
    twilio_lists(
        &app,
        &plan[0].phone,
        json!([listed(
            &taken,
            &plan[0].phone,
            &plan[0].expected_body(),
            "sent",
            &now
        )]),
    )
    .await;

    let reward = insert_rewards(&app, &world, &plan, false).await.remove(0);
    let outbox = wait_for_state(&app, reward.outbox_id, "sent").await;

    assert_eq!(outbox["message_sid"], taken.as_str());
    assert_eq!(sent_messages(&app).await.len(), 1);
}

/// Twilio takes the message but its answer cannot be read, so the outcome is unknown.
async fn twilio_answers_unreadably(app: &TestApp) {
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .respond_with(ResponseTemplate::new(201).set_body_string("<html>upstream busy</html>"))
        .mount(&app.twilio)
        .await;
}

/// Waits until the last regular attempt's unknown outcome is recorded and the row waits for
/// its final reconciliation, then ends the wait so the reconciliation happens now.
async fn skip_to_final_reconciliation(app: &TestApp, outbox_id: Uuid) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let row = outbox_row(app, outbox_id).await;
        assert_ne!(row["state"], "failed", "failed without reconciling: {row}");
        if row["state"] == "sending"
            && row["attempts"] == MAX_ATTEMPTS
            && !row["error_message"].is_null()
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the last attempt's outcome was never recorded: {row}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    app.db
        .execute(
            "UPDATE sms_outbox SET lease_until = now() - interval '1 second', next_attempt_at = now()
             WHERE id = $1",
            &[&outbox_id],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_last_attempt_with_an_unknown_outcome_is_reconciled_and_adopted_instead_of_failed() {
    let app = spawn_app().await;
    twilio_answers_unreadably(&app).await;
    let world = seed_world(&app).await;
    let plan = plan_rewards(1);
    let taken = random_sid("SM");
    let now = chrono::Utc::now().to_rfc2822();
    twilio_lists(
        &app,
        &plan[0].phone,
        json!([listed(
            &taken,
            &plan[0].phone,
            &plan[0].expected_body(),
            "sent",
            &now
        )]),
    )
    .await;
    let reward = insert_rewards_after(&app, &world, &plan, false, MAX_ATTEMPTS - 1)
        .await
        .remove(0);

    skip_to_final_reconciliation(&app, reward.outbox_id).await;
    let outbox = wait_for_state(&app, reward.outbox_id, "sent").await;

    assert_eq!(outbox["message_sid"], taken.as_str());
    assert_eq!(outbox["attempts"], MAX_ATTEMPTS + 1);
    assert_eq!(sent_messages(&app).await.len(), 1, "never sent again");
    assert_eq!(
        condition_row(&app, reward.condition_id).await["delivery_status"],
        "sent"
    );
}

#[tokio::test]
async fn a_last_attempt_with_an_unknown_outcome_is_failed_once_twilio_has_no_such_message() {
    let app = spawn_app().await;
    twilio_answers_unreadably(&app).await;
    let world = seed_world(&app).await;
    let plan = plan_rewards(1);
    twilio_lists(&app, &plan[0].phone, json!([])).await;
    let reward = insert_rewards_after(&app, &world, &plan, false, MAX_ATTEMPTS - 1)
        .await
        .remove(0);

    skip_to_final_reconciliation(&app, reward.outbox_id).await;
    let outbox = wait_for_state(&app, reward.outbox_id, "failed").await;

    assert_eq!(outbox["attempts"], MAX_ATTEMPTS + 1);
    assert_eq!(sent_messages(&app).await.len(), 1, "never sent again");
    let condition = condition_row(&app, reward.condition_id).await;
    assert_eq!(condition["delivery_status"], "failed");
    assert!(
        condition["delivery_error_message"]
            .as_str()
            .unwrap()
            .contains("Twilio has no such message"),
        "{condition}"
    );
}

#[tokio::test]
async fn a_send_that_timed_out_is_found_on_the_third_page_of_twilios_list_and_never_sent_again() {
    let app = spawn_impatient_app().await;
    twilio_accepts_too_late(&app).await;
    let world = seed_world(&app).await;
    let plan = plan_rewards(1);
    let phone = plan[0].phone.as_str();
    let taken = random_sid("SM");
    let now = chrono::Utc::now().to_rfc2822();
    let other = |body: &str| listed(&random_sid("SM"), phone, body, "delivered", &now);
    twilio_lists_pages(
        &app,
        phone,
        vec![
            json!([
                other("Your appointment is confirmed"),
                other("See you Tuesday")
            ]),
            json!([other("Thanks for calling")]),
            json!([listed(
                &taken,
                phone,
                &plan[0].expected_body(),
                "sent",
                &now
            )]),
        ],
    )
    .await;

    let reward = insert_rewards(&app, &world, &plan, false).await.remove(0);
    let outbox = wait_for_state(&app, reward.outbox_id, "sent").await;

    assert_eq!(outbox["message_sid"], taken.as_str());
    assert_eq!(outbox["attempts"], 2);
    assert_eq!(sent_messages(&app).await.len(), 1, "exactly one POST");
    assert_eq!(listings(&app).await, 3, "every page read once");
    assert_eq!(
        condition_row(&app, reward.condition_id).await["delivery_status"],
        "sent"
    );
}

#[tokio::test]
async fn a_full_sender_queue_is_retried_with_back_off_until_twilio_takes_the_message() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .respond_with(twilio_error(
            400,
            21611,
            "This 'From' number has exceeded the maximum number of queued messages",
        ))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&app.twilio)
        .await;
    twilio_accepts(&app).await;
    let world = seed_world(&app).await;
    let reward = seed_rewards(&app, &world, 1).await.remove(0);

    let outbox = wait_for_state(&app, reward.outbox_id, "sent").await;

    assert_eq!(sent_messages(&app).await.len(), 3);
    assert_eq!(outbox["attempts"], 3);
    assert_eq!(outbox["error_code"], serde_json::Value::Null);
}

#[tokio::test]
async fn refusals_twilio_calls_permanent_fail_at_once_with_twilios_code_and_message() {
    for (code, message) in [
        (21211, "The 'To' number is not a valid phone number."),
        (21614, "'To' number is not a valid mobile number"),
        (
            21408,
            "Permission to send an SMS has not been enabled for the region",
        ),
    ] {
        let app = spawn_app().await;
        Mock::given(method("POST"))
            .and(path(MESSAGES_PATH))
            .respond_with(twilio_error(400, code, message))
            .mount(&app.twilio)
            .await;
        let world = seed_world(&app).await;
        let reward = seed_rewards(&app, &world, 1).await.remove(0);

        let outbox = wait_for_state(&app, reward.outbox_id, "failed").await;

        assert_eq!(outbox["attempts"], 1, "{code}");
        assert_eq!(sent_messages(&app).await.len(), 1, "{code}");
        let condition = condition_row(&app, reward.condition_id).await;
        assert_eq!(condition["delivery_error_code"], code);
        assert_eq!(condition["delivery_error_message"], message);
    }
}

/// Polls until the outbox row satisfies `done`; panics with the last row after [`PATIENCE`].
async fn wait_for_row(
    app: &TestApp,
    outbox_id: Uuid,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let row = outbox_row(app, outbox_id).await;
        if done(&row) {
            return row;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "outbox row never got {what}: {row}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn a_message_twilio_reports_failed_with_queue_overflow_is_sent_again_once_and_delivered() {
    let app = spawn_app().await;
    twilio_accepts(&app).await;
    let world = seed_world(&app).await;
    let reward = seed_rewards(&app, &world, 1).await.remove(0);
    let first = wait_for_state(&app, reward.outbox_id, "sent").await["message_sid"]
        .as_str()
        .unwrap()
        .to_owned();

    post_status(
        &app,
        &sms_status(&first, &reward.phone, "failed", Some(30001)),
    )
    .await;

    // The retry waits out the back-off after the first attempt (1 s).
    let condition = condition_row(&app, reward.condition_id).await;
    assert_eq!(condition["delivery_status"], "pending", "{condition}");
    assert_eq!(condition["delivery_error_code"], 30001);
    let again = wait_for_row(&app, reward.outbox_id, "a second message", |row| {
        row["state"] == "sent" && row["message_sid"] != first.as_str()
    })
    .await;
    assert_eq!(again["attempts"], 2);
    assert_eq!(sent_messages(&app).await.len(), 2);
    // The first message's callback, repeated, is for a message calltrack let go of.
    post_status(
        &app,
        &sms_status(&first, &reward.phone, "failed", Some(30001)),
    )
    .await;
    let second = again["message_sid"].as_str().unwrap();
    post_status(&app, &sms_status(second, &reward.phone, "delivered", None)).await;

    assert_eq!(
        outbox_row(&app, reward.outbox_id).await["state"],
        "delivered"
    );
    let condition = condition_row(&app, reward.condition_id).await;
    assert_eq!(condition["delivery_status"], "delivered");
    assert_eq!(condition["delivery_error_code"], serde_json::Value::Null);
    assert_eq!(delivered_cards(&app, &world).await, 1);
    assert_eq!(sent_messages(&app).await.len(), 2, "never a third message");
}

#[tokio::test]
async fn a_carrier_filtered_message_stays_failed_with_its_code_and_is_not_sent_again() {
    let app = spawn_app().await;
    twilio_accepts(&app).await;
    let world = seed_world(&app).await;
    let reward = seed_rewards(&app, &world, 1).await.remove(0);
    let sid = wait_for_state(&app, reward.outbox_id, "sent").await["message_sid"]
        .as_str()
        .unwrap()
        .to_owned();

    post_status(
        &app,
        &sms_status(&sid, &reward.phone, "undelivered", Some(30007)),
    )
    .await;

    let outbox = outbox_row(&app, reward.outbox_id).await;
    assert_eq!(outbox["state"], "failed");
    assert_eq!(outbox["message_sid"], sid.as_str());
    assert_eq!(
        condition_row(&app, reward.condition_id).await["delivery_error_code"],
        30007
    );
    assert_eq!(sent_messages(&app).await.len(), 1);
}

#[tokio::test]
async fn a_transient_delivery_failure_of_the_last_attempt_gives_the_reward_up_as_failed() {
    let app = spawn_app().await;
    twilio_accepts(&app).await;
    let world = seed_world(&app).await;
    let plan = plan_rewards(1);
    let reward = insert_rewards_after(&app, &world, &plan, false, MAX_ATTEMPTS - 1)
        .await
        .remove(0);
    let sid = wait_for_state(&app, reward.outbox_id, "sent").await["message_sid"]
        .as_str()
        .unwrap()
        .to_owned();

    post_status(
        &app,
        &sms_status(&sid, &reward.phone, "undelivered", Some(30008)),
    )
    .await;

    let outbox = outbox_row(&app, reward.outbox_id).await;
    assert_eq!(outbox["state"], "failed");
    assert_eq!(outbox["error_code"], 30008);
    assert!(
        outbox["error_message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("gave up after {MAX_ATTEMPTS} attempts")),
        "{outbox}"
    );
    assert_eq!(sent_messages(&app).await.len(), 1);
}

#[tokio::test]
async fn an_interrupted_send_whose_message_failed_with_queue_overflow_is_sent_anew() {
    let app = spawn_app().await;
    twilio_accepts(&app).await;
    let world = seed_world(&app).await;
    let plan = plan_rewards(1);
    let overflowed = random_sid("SM");
    let now = chrono::Utc::now().to_rfc2822();
    let mut failed = listed(
        &overflowed,
        &plan[0].phone,
        &plan[0].expected_body(),
        "failed",
        &now,
    );
    failed["error_code"] = json!(30001);
    twilio_lists(&app, &plan[0].phone, json!([failed])).await;

    let reward = insert_rewards(&app, &world, &plan, true).await.remove(0);
    let outbox = wait_for_state(&app, reward.outbox_id, "sent").await;

    assert_ne!(outbox["message_sid"], overflowed.as_str());
    assert_eq!(sent_messages(&app).await.len(), 1);
}

#[tokio::test]
async fn the_server_and_its_sms_worker_stop_when_shutdown_resolves() {
    let app = spawn_app().await;
    let twilio = app.twilio.uri();
    let mut settings = settings_with(&[
        ("TWILIO_API_BASE_URL", twilio.as_str()),
        ("OUTBOX_POLL_MS", "20"),
    ]);
    settings.database = DatabaseSource::Located(Box::new(app.db_config.clone()));
    settings.pool_size = 4;
    let server = Application::build(settings).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run_until(async {
        let _ = stopped.await;
    }));

    stop.send(()).unwrap();

    let finished = tokio::time::timeout(Duration::from_secs(10), running).await;
    assert!(
        matches!(finished, Ok(Ok(Ok(())))),
        "server did not stop cleanly"
    );
}
