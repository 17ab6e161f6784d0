//! Webhooks out, step 2: the delivery worker against a real local receiver. Messages written
//! by the database's triggers (or queued directly) are claimed, signed and POSTed, and every
//! attempt is recorded. Signatures are checked here with `hmac` and `sha2` directly, not with
//! the service's own verifier.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use calltrack::db::webhooks::{self, NewEndpoint};
use calltrack::domain::WebhookEvent;
use calltrack::webhooks::WebhookSecret;
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};
use sha2::Sha256;
use uuid::Uuid;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::fast::auto_conditions::answered_call;
use crate::helpers::{TestApp, test_database};
use crate::world::{CALLER, cipher};

/// A fresh database where `call.completed` is due as soon as the call ends (no 30 s settle),
/// as an operator may set it with `ALTER DATABASE ... SET calltrack.webhook_settle_seconds`.
async fn unsettled_database() -> tokio_postgres::Config {
    let config = test_database().await;
    let client = calltrack::db::pool::connect(&config).await.unwrap();
    let name = config.get_dbname().unwrap().to_owned();
    client
        .batch_execute(&format!(
            "ALTER DATABASE {name} SET calltrack.webhook_settle_seconds = 0"
        ))
        .await
        .unwrap();
    config
}

/// A server that delivers webhooks out, on `database`.
async fn delivering_app(database: &tokio_postgres::Config) -> TestApp {
    TestApp::builder()
        .databases(database.clone(), database.clone())
        .delivering()
        .spawn()
        .await
}

async fn connection(app: &TestApp) -> deadpool_postgres::Object {
    calltrack::db::pool::pool(app.db_config.clone(), 1)
        .unwrap()
        .get()
        .await
        .unwrap()
}

/// Registers an endpoint at `receiver` with `secret`, stored encrypted as the service stores
/// it.
async fn subscribe(
    app: &TestApp,
    client_id: Uuid,
    receiver: &MockServer,
    secret: &WebhookSecret,
    events: &[WebhookEvent],
) -> Uuid {
    let url = format!("{}/hooks/calltrack?token=abc", receiver.uri());
    let encrypted = cipher().encrypt(secret.expose().expose_secret());
    webhooks::insert_endpoint(
        &connection(app).await,
        &NewEndpoint {
            client_id,
            url: &url,
            description: None,
            events,
            secret_encrypted: &encrypted,
        },
    )
    .await
    .unwrap()
    .id
}

async fn a_client(app: &TestApp) -> Uuid {
    let campaign = app.seed_campaign().await;
    app.db
        .query_one(
            "SELECT client_id FROM campaigns WHERE id = $1",
            &[&campaign.id],
        )
        .await
        .unwrap()
        .get(0)
}

/// Queues one message for `endpoint` directly, as a trigger would; returns its id.
async fn enqueue(app: &TestApp, endpoint: Uuid, n: i64) -> String {
    app.db
        .query_one(
            "INSERT INTO webhook_messages (endpoint_id, event_type, subject_id, payload)
             VALUES ($1, 'call.started', gen_random_uuid(), $2) RETURNING id",
            &[
                &endpoint,
                &json!({"type": "call.started", "timestamp": "2026-12-08T00:00:00Z",
                        "data": {"n": n, "caller": "+1415***0100"}}),
            ],
        )
        .await
        .unwrap()
        .get(0)
}

fn header<'r>(request: &'r Request, name: &str) -> &'r str {
    request
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

/// The `v1,` signatures of `request` that verify with `secret`, computed here over
/// `webhook-id.webhook-timestamp.body` with the key the secret's base64 carries.
fn verifying_signatures(request: &Request, secret: &WebhookSecret) -> usize {
    let exposed = secret.expose();
    let key = STANDARD
        .decode(exposed.expose_secret().strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(header(request, "webhook-id").as_bytes());
    mac.update(b".");
    mac.update(header(request, "webhook-timestamp").as_bytes());
    mac.update(b".");
    mac.update(&request.body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    header(request, "webhook-signature")
        .split(' ')
        .filter(|signature| *signature == expected)
        .count()
}

fn assert_fresh_timestamp(request: &Request) {
    let timestamp: i64 = header(request, "webhook-timestamp").parse().unwrap();
    assert!(
        (chrono::Utc::now().timestamp() - timestamp).abs() < 60,
        "{timestamp}"
    );
}

/// Waits up to `seconds` for `receiver` to have `count` requests.
async fn wait_for_requests(receiver: &MockServer, count: usize, seconds: u64) -> Vec<Request> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let received = receiver.received_requests().await.unwrap_or_default();
        if received.len() >= count || Instant::now() > deadline {
            return received;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits up to `seconds` for `sql` to answer `true` or a count above zero.
async fn wait_until(app: &TestApp, sql: &str, seconds: u64) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let row = app.db.query_one(sql, &[]).await.unwrap();
        let met = match row.try_get::<_, bool>(0) {
            Ok(met) => met,
            Err(_) => row.get::<_, i64>(0) > 0,
        };
        if met {
            break;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {sql}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn receiver_answering(status: u16) -> MockServer {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(status))
        .mount(&receiver)
        .await;
    receiver
}

#[tokio::test]
async fn a_played_call_is_delivered_started_and_completed_signed_and_masked() {
    let database = unsettled_database().await;
    let app = delivering_app(&database).await;
    let receiver = receiver_answering(204).await;
    let secret = WebhookSecret::generate();
    let client = a_client(&app).await;
    let endpoint = subscribe(
        &app,
        client,
        &receiver,
        &secret,
        &[WebhookEvent::CallStarted, WebhookEvent::CallCompleted],
    )
    .await;

    let (call, played) = answered_call(CALLER, 95);
    for (path, form) in &played {
        assert!(app.post_signed(path, form).await.status().is_success());
    }

    let received = wait_for_requests(&receiver, 2, 15).await;
    assert_eq!(received.len(), 2, "{received:?}");
    let mut types = HashSet::new();
    let mut ids = HashSet::new();
    for request in &received {
        assert_eq!(request.url.path(), "/hooks/calltrack");
        assert_eq!(header(request, "content-type"), "application/json");
        assert_eq!(verifying_signatures(request, &secret), 1);
        assert_eq!(header(request, "webhook-signature").split(' ').count(), 1);
        assert_fresh_timestamp(request);
        let body = String::from_utf8(request.body.clone()).unwrap();
        assert!(!body.contains(CALLER), "{body}");
        assert!(!body.contains(&CALLER[1..]), "{body}");
        assert!(!body.contains(&call.call_sid), "{body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["data"]["caller"], "+1415***0100");
        types.insert(body["type"].as_str().unwrap().to_owned());
        ids.insert(header(request, "webhook-id").to_owned());
    }
    assert_eq!(
        types,
        HashSet::from(["call.started".to_owned(), "call.completed".to_owned()])
    );
    wait_until(
        &app,
        &format!(
            "SELECT count(*) = 2 FROM webhook_messages WHERE endpoint_id = '{endpoint}'
             AND status = 'delivered' AND attempts = 1 AND delivered_at IS NOT NULL
             AND claimed_until IS NULL"
        ),
        5,
    )
    .await;
    for id in &ids {
        assert_eq!(
            app.count(&format!(
                "SELECT count(*) FROM webhook_attempts WHERE message_id = '{id}'
                 AND endpoint_id = '{endpoint}' AND status_code = 204 AND error IS NULL"
            ))
            .await,
            1
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_receiver_failing_twice_gets_the_same_message_three_times() {
    let app = delivering_app(&test_database().await).await;
    let receiver = MockServer::start().await;
    let answered = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&answered);
    Mock::given(method("POST"))
        .respond_with(move |_: &Request| {
            if counter.fetch_add(1, Ordering::SeqCst) < 2 {
                ResponseTemplate::new(500).set_body_string("database is down")
            } else {
                ResponseTemplate::new(200)
            }
        })
        .mount(&receiver)
        .await;
    let secret = WebhookSecret::generate();
    let client = a_client(&app).await;
    let endpoint = subscribe(&app, client, &receiver, &secret, &WebhookEvent::ALL).await;
    let id = enqueue(&app, endpoint, 1).await;

    for attempts in 1..=2 {
        wait_until(
            &app,
            &format!(
                "SELECT count(*) FROM webhook_messages WHERE id = '{id}'
                 AND attempts = {attempts} AND status = 'pending' AND claimed_until IS NULL"
            ),
            10,
        )
        .await;
        // The schedule says 5 s, then 5 min: bring the retry forward instead of waiting.
        let due = app
            .db
            .query_one(
                "SELECT next_attempt_at > now() FROM webhook_messages WHERE id = $1",
                &[&id],
            )
            .await
            .unwrap()
            .get::<_, bool>(0);
        assert!(due, "a retry is scheduled in the future");
        app.db
            .execute(
                "UPDATE webhook_messages SET next_attempt_at = now() WHERE id = $1",
                &[&id],
            )
            .await
            .unwrap();
    }
    wait_until(
        &app,
        &format!(
            "SELECT count(*) FROM webhook_messages WHERE id = '{id}'
             AND status = 'delivered' AND attempts = 3"
        ),
        10,
    )
    .await;
    let received = receiver.received_requests().await.unwrap();
    assert_eq!(received.len(), 3);
    for request in &received {
        assert_eq!(header(request, "webhook-id"), id);
        assert_eq!(verifying_signatures(request, &secret), 1);
    }
    assert_eq!(
        received[0].body, received[2].body,
        "the same bytes each time"
    );
    let attempts: Vec<(Option<i32>, Option<String>)> = app
        .db
        .query(
            "SELECT status_code, error FROM webhook_attempts WHERE message_id = $1
             ORDER BY attempted_at, id",
            &[&id],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(attempts.len(), 3, "{attempts:?}");
    assert_eq!(
        attempts.iter().map(|a| a.0).collect::<Vec<_>>(),
        [Some(500), Some(500), Some(200)]
    );
    assert!(attempts[0].1.as_deref().is_some_and(|e| e.contains("500")));
    assert_eq!(attempts[2].1, None);
    app.stop().await;
}

#[tokio::test]
async fn a_gone_endpoint_is_disabled_and_sent_nothing_more() {
    let app = delivering_app(&test_database().await).await;
    let receiver = receiver_answering(410).await;
    let secret = WebhookSecret::generate();
    let client = a_client(&app).await;
    let endpoint = subscribe(&app, client, &receiver, &secret, &WebhookEvent::ALL).await;
    let first = enqueue(&app, endpoint, 1).await;

    wait_until(
        &app,
        &format!(
            "SELECT count(*) FROM webhook_endpoints WHERE id = '{endpoint}'
             AND NOT enabled AND disabled_reason LIKE '%410%'"
        ),
        10,
    )
    .await;
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM webhook_messages WHERE id = '{first}'
             AND status = 'failed' AND attempts = 1"
        ))
        .await,
        1
    );
    // Messages of a disabled endpoint stay pending, unsent.
    let second = enqueue(&app, endpoint, 2).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(receiver.received_requests().await.unwrap().len(), 1);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM webhook_messages WHERE id = '{second}'
             AND status = 'pending' AND attempts = 0"
        ))
        .await,
        1
    );
    app.stop().await;
}

#[tokio::test]
async fn during_a_rotation_both_secrets_sign_and_after_it_only_the_new_one() {
    let app = delivering_app(&test_database().await).await;
    let receiver = receiver_answering(200).await;
    let (old, new) = (WebhookSecret::generate(), WebhookSecret::generate());
    let client = a_client(&app).await;
    let endpoint = subscribe(&app, client, &receiver, &new, &WebhookEvent::ALL).await;
    let rotate = |until: &'static str| {
        let previous = cipher().encrypt(old.expose().expose_secret());
        let db = &app.db;
        async move {
            db.execute(
                &format!(
                    "UPDATE webhook_endpoints SET previous_secret = $2,
                     previous_secret_until = now() + interval '{until}' WHERE id = $1"
                ),
                &[&endpoint, &previous],
            )
            .await
            .unwrap();
        }
    };
    rotate("24 hours").await;
    enqueue(&app, endpoint, 1).await;
    let received = wait_for_requests(&receiver, 1, 10).await;
    assert_eq!(received.len(), 1);
    assert_eq!(
        header(&received[0], "webhook-signature").split(' ').count(),
        2
    );
    assert_eq!(verifying_signatures(&received[0], &new), 1);
    assert_eq!(verifying_signatures(&received[0], &old), 1);

    rotate("-1 second").await;
    enqueue(&app, endpoint, 2).await;
    let received = wait_for_requests(&receiver, 2, 10).await;
    assert_eq!(received.len(), 2);
    assert_eq!(
        header(&received[1], "webhook-signature").split(' ').count(),
        1
    );
    assert_eq!(verifying_signatures(&received[1], &new), 1);
    assert_eq!(verifying_signatures(&received[1], &old), 0);
    app.stop().await;
}

#[tokio::test]
async fn two_instances_on_one_database_deliver_each_message_once() {
    let database = test_database().await;
    let first = delivering_app(&database).await;
    let second = delivering_app(&database).await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(20)))
        .mount(&receiver)
        .await;
    let secret = WebhookSecret::generate();
    let client = a_client(&first).await;
    let endpoint = subscribe(&first, client, &receiver, &secret, &WebhookEvent::ALL).await;
    let mut ids = HashSet::new();
    for n in 0..60 {
        ids.insert(enqueue(&first, endpoint, n).await);
    }
    wait_until(
        &first,
        &format!(
            "SELECT count(*) = 60 FROM webhook_messages WHERE endpoint_id = '{endpoint}'
             AND status = 'delivered'"
        ),
        30,
    )
    .await;
    let received = receiver.received_requests().await.unwrap();
    let delivered: HashSet<String> = received
        .iter()
        .map(|r| header(r, "webhook-id").to_owned())
        .collect();
    assert_eq!(delivered, ids);
    assert_eq!(received.len(), 60, "each message once");
    assert_eq!(
        first.count("SELECT count(*) FROM webhook_attempts").await,
        60
    );
    first.stop().await;
    second.stop().await;
}

#[tokio::test]
async fn a_hanging_receiver_does_not_slow_the_voice_webhook() {
    let app = delivering_app(&test_database().await).await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(10)))
        .mount(&receiver)
        .await;
    let secret = WebhookSecret::generate();
    let client = a_client(&app).await;
    let endpoint = subscribe(&app, client, &receiver, &secret, &WebhookEvent::ALL).await;
    // More than the worker's 16 slots, all hanging.
    for n in 0..24 {
        enqueue(&app, endpoint, n).await;
    }
    wait_until(
        &app,
        &format!(
            "SELECT count(*) >= 16 FROM webhook_messages WHERE endpoint_id = '{endpoint}'
             AND claimed_until > now()"
        ),
        10,
    )
    .await;
    let deadline = Duration::from_millis(1500); // VOICE_DEADLINE_MS's default
    for _ in 0..3 {
        let started = Instant::now();
        let twiml = app.voice_answer(CALLER).await;
        let took = started.elapsed();
        assert!(twiml.contains("<Dial"), "{twiml}");
        assert!(took < deadline, "the voice webhook took {took:?}");
    }
    app.stop().await;
}
