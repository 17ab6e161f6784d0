//! Webhooks out, the management API: endpoints registered, listed, changed, deleted and
//! their secrets rotated by managers of their clients; deliveries read and retried.

use secrecy::ExposeSecret as _;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::TestApp;
use crate::world::{Auth, CALLER, World, cipher};

const ENDPOINTS: &str = "/api/v1/webhook-endpoints";
// A public address written as such: the test machine resolves no names.
const URL: &str = "https://93.184.215.14/hooks/calltrack";

/// A company owner of the world's client (their only one).
async fn owner(app: &TestApp, world: &World) -> Auth {
    Auth::user(
        app.seed_user(&["company_owner"], Some(world.client_id), None)
            .await,
    )
}

async fn audits(app: &TestApp, action: &str, endpoint: &str) -> i64 {
    let id: Uuid = endpoint.parse().unwrap();
    app.db
        .query_one(
            "SELECT count(*) FROM audit_log WHERE action = $1 AND entity_id = $2",
            &[&action, &id],
        )
        .await
        .unwrap()
        .get(0)
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

/// The stored (secret, previous_secret, hours until previous_secret_until).
async fn stored_secrets(app: &TestApp, id: &str) -> (String, Option<String>, Option<f64>) {
    let id: Uuid = id.parse().unwrap();
    let row = app
        .db
        .query_one(
            "SELECT secret, previous_secret,
                    (extract(epoch FROM previous_secret_until - now()) / 3600)::float8
             FROM webhook_endpoints WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

async fn register(app: &TestApp, auth: &Auth, body: &Value) -> Value {
    let (status, created) = app.api_post(ENDPOINTS, auth, body).await;
    assert_eq!(status, 201, "{created}");
    created
}

#[tokio::test]
async fn a_manager_registers_lists_changes_rotates_and_deletes_an_endpoint() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    let auth = owner(&app, &world).await;

    let created = register(
        &app,
        &auth,
        &json!({"url": URL, "events": ["call.completed", "condition.met", "call.completed"],
                "description": "the CRM"}),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["client_id"], json!(world.client_id));
    assert_eq!(created["url"], URL);
    assert_eq!(
        created["events"],
        json!(["call.completed", "condition.met"])
    );
    assert_eq!(created["description"], "the CRM");
    assert_eq!(created["enabled"], true);
    assert_eq!(created["disabled_reason"], Value::Null);
    assert!(created["created_at"].is_string());
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    calltrack::webhooks::WebhookSecret::parse(&secret).unwrap();

    // Stored encrypted, not as given.
    let (stored, previous, _) = stored_secrets(&app, &id).await;
    assert_ne!(stored, secret);
    assert!(!stored.contains(&secret[6..]));
    assert_eq!(cipher().decrypt(&stored).unwrap().expose_secret(), secret);
    assert_eq!(previous, None);
    assert_eq!(audits(&app, "webhook_endpoint_created", &id).await, 1);

    // Listed without the secret.
    let (status, list) = app.api_get(ENDPOINTS, &auth).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["next_cursor"], Value::Null);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], id.as_str());
    assert!(items[0].get("secret").is_none(), "{list}");
    assert!(!list.to_string().contains("whsec_"));

    // Changed; enabling clears why the service disabled it.
    app.db
        .execute(
            "UPDATE webhook_endpoints SET enabled = false, disabled_reason = 'the endpoint answered 410 Gone' WHERE id = $1",
            &[&id.parse::<Uuid>().unwrap()],
        )
        .await
        .unwrap();
    let (status, changed) = app
        .api_patch(
            &format!("{ENDPOINTS}/{id}"),
            &auth,
            &json!({"events": ["reward.delivered"], "enabled": true, "description": null,
                    "url": "https://93.184.215.14/hooks/v2"}),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["events"], json!(["reward.delivered"]));
    assert_eq!(changed["enabled"], true);
    assert_eq!(changed["disabled_reason"], Value::Null);
    assert_eq!(changed["description"], Value::Null);
    assert_eq!(changed["url"], "https://93.184.215.14/hooks/v2");
    assert!(changed.get("secret").is_none());
    let (status, disabled) = app
        .api_patch(
            &format!("{ENDPOINTS}/{id}"),
            &auth,
            &json!({"enabled": false}),
        )
        .await;
    assert_eq!((status, &disabled["enabled"]), (200, &json!(false)));
    assert_eq!(disabled["events"], json!(["reward.delivered"]));
    assert_eq!(audits(&app, "webhook_endpoint_updated", &id).await, 2);

    // Rotated: a new secret, the previous one kept for 24 hours.
    let (status, rotated) = app
        .api_post(
            &format!("{ENDPOINTS}/{id}/rotate-secret"),
            &auth,
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let new_secret = rotated["secret"].as_str().unwrap();
    assert!(new_secret.starts_with("whsec_"));
    assert_ne!(new_secret, secret);
    let (stored_new, previous, hours) = stored_secrets(&app, &id).await;
    assert_eq!(
        cipher().decrypt(&stored_new).unwrap().expose_secret(),
        new_secret
    );
    assert_eq!(previous.as_deref(), Some(stored.as_str()));
    let hours = hours.unwrap();
    assert!((23.9..=24.0).contains(&hours), "{hours}");
    assert_eq!(audits(&app, "webhook_secret_rotated", &id).await, 1);
    let (_, list) = app.api_get(ENDPOINTS, &auth).await;
    assert!(!list.to_string().contains("whsec_"));

    // Deleted with its messages.
    let endpoint: Uuid = id.parse().unwrap();
    app.db
        .execute(
            "INSERT INTO webhook_messages (endpoint_id, event_type, subject_id, payload)
             VALUES ($1, 'call.started', gen_random_uuid(), '{}')",
            &[&endpoint],
        )
        .await
        .unwrap();
    let (status, _) = app.api_delete(&format!("{ENDPOINTS}/{id}"), &auth).await;
    assert_eq!(status, 204);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM webhook_messages WHERE endpoint_id = '{id}'"
        ))
        .await,
        0
    );
    assert_eq!(audits(&app, "webhook_endpoint_deleted", &id).await, 1);
    let (_, list) = app.api_get(ENDPOINTS, &auth).await;
    assert_eq!(list["items"], json!([]));
    let (status, _) = app.api_delete(&format!("{ENDPOINTS}/{id}"), &auth).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn endpoint_writes_are_refused_in_words() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    let auth = owner(&app, &world).await;
    let agent = Auth::user(world.agent);
    let admin = Auth::user(app.seed_user(&["admin"], None, None).await);
    let (other_client, _) = app.other_client_session().await;
    let other: Uuid = app
        .db
        .query_one(
            "INSERT INTO webhook_endpoints (client_id, url, events, secret)
             VALUES ($1, 'https://other.example.com/', '{call.started}', 'x') RETURNING id",
            &[&other_client],
        )
        .await
        .unwrap()
        .get(0);
    let other_message: String = app
        .db
        .query_one(
            "INSERT INTO webhook_messages (endpoint_id, event_type, subject_id, payload, status)
             VALUES ($1, 'call.started', gen_random_uuid(), '{}', 'failed') RETURNING id",
            &[&other],
        )
        .await
        .unwrap()
        .get(0);
    let good = json!({"url": URL, "events": ["call.started"]});
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body
    };

    let cases: Vec<(&Auth, Value, u16, &str)> = vec![
        (&Auth::None, good.clone(), 401, "unauthorized"),
        (&agent, good.clone(), 403, "forbidden"),
        (
            &auth,
            with("client_id", json!(other_client)),
            404,
            "not_found",
        ),
        (&admin, good.clone(), 422, "client_required"),
        (
            &auth,
            with("secret", json!("whsec_mine")),
            400,
            "invalid_request",
        ),
        (
            &auth,
            with("url", json!("http://crm.example.com/hooks")),
            422,
            "unsafe_url",
        ),
        (
            &auth,
            with("url", json!("https://127.0.0.1/hooks")),
            422,
            "unsafe_url",
        ),
        (
            &auth,
            with("url", json!("https://localhost/hooks")),
            422,
            "unsafe_url",
        ),
        (
            &auth,
            with("url", json!("https://10.0.0.5/hooks")),
            422,
            "unsafe_url",
        ),
        (
            &auth,
            with("url", json!("https://[::1]/hooks")),
            422,
            "unsafe_url",
        ),
        (
            &auth,
            with("url", json!("https://user:pw@crm.example.com/")),
            422,
            "unsafe_url",
        ),
        (&auth, with("url", json!("not a url")), 422, "unsafe_url"),
        (
            &auth,
            with("url", json!("https://no-such-host.invalid/")),
            422,
            "unsafe_url",
        ),
        (&auth, with("events", json!([])), 422, "invalid_events"),
        (
            &auth,
            with("events", json!(["call.ended"])),
            422,
            "invalid_events",
        ),
    ];
    for (who, body, status, expected) in cases {
        let (got, answer) = app.api_post(ENDPOINTS, who, &body).await;
        assert_eq!((got, code(&answer)), (status, expected), "{body}: {answer}");
        if status == 422 {
            assert!(answer["error"]["message"].as_str().unwrap().len() > 10);
        }
    }
    let (_, answer) = app
        .api_post(
            ENDPOINTS,
            &auth,
            &with("url", json!("https://user:pw@crm.example.com/")),
        )
        .await;
    assert!(!answer.to_string().contains("pw@"), "{answer}");
    assert_eq!(app.count("SELECT count(*) FROM webhook_endpoints").await, 1);

    // Another client's endpoint and delivery are not found.
    let path = format!("{ENDPOINTS}/{other}");
    let (status, _) = app
        .api_patch(&path, &auth, &json!({"enabled": false}))
        .await;
    assert_eq!(status, 404);
    let (status, _) = app.api_delete(&path, &auth).await;
    assert_eq!(status, 404);
    let (status, _) = app
        .api_post(&format!("{path}/rotate-secret"), &auth, &json!({}))
        .await;
    assert_eq!(status, 404);
    let (status, _) = app.api_get(&format!("{path}/deliveries"), &auth).await;
    assert_eq!(status, 404);
    let (status, _) = app
        .api_post(
            &format!("/api/v1/webhook-deliveries/{other_message}/retry"),
            &auth,
            &json!({}),
        )
        .await;
    assert_eq!(status, 404);
    let (_, list) = app.api_get(ENDPOINTS, &auth).await;
    assert_eq!(list["items"], json!([]));
    let (status, _) = app.api_get(ENDPOINTS, &agent).await;
    assert_eq!(status, 403);
    let (status, _) = app.api_get(ENDPOINTS, &Auth::None).await;
    assert_eq!(status, 401);
    assert_eq!(
        app.count("SELECT count(*) FROM webhook_endpoints WHERE enabled")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM webhook_messages WHERE status = 'failed'")
            .await,
        1
    );

    // A change is checked as registration is.
    let mine = register(&app, &auth, &good).await;
    let mine = format!("{ENDPOINTS}/{}", mine["id"].as_str().unwrap());
    for (body, expected, code_expected) in [
        (json!({"url": "http://crm.example.com/"}), 422, "unsafe_url"),
        (json!({"url": "https://192.168.1.2/"}), 422, "unsafe_url"),
        (json!({"events": []}), 422, "invalid_events"),
        (json!({"secret": "x"}), 400, "invalid_request"),
    ] {
        let (status, answer) = app.api_patch(&mine, &auth, &body).await;
        assert_eq!(
            (status, code(&answer)),
            (expected, code_expected),
            "{body}: {answer}"
        );
    }
    // An API key is a manager of its client.
    let key = Auth::ApiKey(app.seed_api_key(world.client_id).await);
    let (status, list) = app.api_get(ENDPOINTS, &key).await;
    assert_eq!((status, list["items"].as_array().unwrap().len()), (200, 1));
}

#[tokio::test]
async fn private_networks_are_accepted_only_when_the_setting_allows_them() {
    let app = TestApp::builder()
        .env(&[("WEBHOOK_ALLOW_PRIVATE_NETWORKS", "true")])
        .spawn()
        .await;
    let world = app.world(0).await;
    let auth = owner(&app, &world).await;
    let created = register(
        &app,
        &auth,
        &json!({"url": "http://127.0.0.1:9/hooks", "events": ["call.started"]}),
    )
    .await;
    assert_eq!(created["url"], "http://127.0.0.1:9/hooks");
    let (status, answer) = app
        .api_post(
            ENDPOINTS,
            &auth,
            &json!({"url": "ftp://127.0.0.1/hooks", "events": ["call.started"]}),
        )
        .await;
    assert_eq!((status, code(&answer)), (422, "unsafe_url"), "{answer}");
}

#[tokio::test]
async fn deliveries_of_a_played_call_are_listed_newest_first_and_retried() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    let auth = owner(&app, &world).await;
    let created = register(
        &app,
        &auth,
        &json!({"url": URL, "events": ["call.started"]}),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let deliveries = format!("{ENDPOINTS}/{id}/deliveries");
    let (status, page) = app.api_get(&deliveries, &auth).await;
    assert_eq!((status, &page["items"]), (200, &json!([])), "{page}");

    let first = app.start_call(CALLER).await;
    let second = app.start_call(CALLER).await;
    let (status, page) = app.api_get(&deliveries, &auth).await;
    assert_eq!(status, 200, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{page}");
    assert_eq!(page["next_cursor"], Value::Null);
    let newest = &items[0];
    assert!(newest["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(newest["event_type"], "call.started");
    assert_eq!(newest["status"], "pending");
    assert_eq!(newest["attempts"], 0);
    assert_eq!(newest["attempt_log"], json!([]));
    assert_eq!(newest["delivered_at"], Value::Null);
    assert_eq!(newest["payload"]["type"], "call.started");
    let second_session = app.session(&second.call_sid).await["id"].clone();
    let first_session = app.session(&first.call_sid).await["id"].clone();
    assert_eq!(newest["payload"]["data"]["call_session_id"], second_session);
    assert_eq!(
        items[1]["payload"]["data"]["call_session_id"],
        first_session
    );

    // Paged one at a time.
    let (status, one) = app.api_get(&format!("{deliveries}?limit=1"), &auth).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["items"][0]["id"], newest["id"]);
    let cursor = one["next_cursor"].as_str().unwrap();
    let (_, two) = app
        .api_get(&format!("{deliveries}?limit=1&cursor={cursor}"), &auth)
        .await;
    assert_eq!(two["items"][0]["id"], items[1]["id"]);
    assert_eq!(two["next_cursor"], Value::Null);
    let (status, _) = app.api_get(&format!("{deliveries}?limit=0"), &auth).await;
    assert_eq!(status, 400);
    let (status, _) = app
        .api_get(&format!("{deliveries}?cursor=nope"), &auth)
        .await;
    assert_eq!(status, 400);

    // A failed message with its attempts is shown, then queued again.
    let message = newest["id"].as_str().unwrap().to_owned();
    app.db
        .execute(
            "UPDATE webhook_messages SET status = 'failed', attempts = 2,
                 next_attempt_at = now() + interval '1 day', claimed_until = now() + interval '1 minute'
             WHERE id = $1",
            &[&message],
        )
        .await
        .unwrap();
    app.db
        .execute(
            "INSERT INTO webhook_attempts (message_id, attempted_at, status_code, duration_ms, error)
             VALUES ($1, now() - interval '2 minutes', NULL, 10000, 'timed out after 10 s'),
                    ($1, now() - interval '1 minute', 500, 120, 'the endpoint answered 500')",
            &[&message],
        )
        .await
        .unwrap();
    let (_, page) = app.api_get(&deliveries, &auth).await;
    let failed = &page["items"][0];
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["attempts"], 2);
    let log = failed["attempt_log"].as_array().unwrap();
    assert_eq!(log.len(), 2, "{failed}");
    assert_eq!(log[0]["status_code"], Value::Null);
    assert_eq!(log[0]["error"], "timed out after 10 s");
    assert_eq!(log[1]["status_code"], 500);
    assert_eq!(log[1]["duration_ms"], 120);
    assert_eq!(page["items"][1]["attempt_log"], json!([]));

    let (status, answer) = app
        .api_post(
            &format!("/api/v1/webhook-deliveries/{message}/retry"),
            &auth,
            &json!({}),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer, json!({"id": message, "status": "pending"}));
    let row = app
        .db
        .query_one(
            "SELECT status, next_attempt_at <= now(), claimed_until IS NULL
             FROM webhook_messages WHERE id = $1",
            &[&message],
        )
        .await
        .unwrap();
    assert_eq!(
        (
            row.get::<_, String>(0),
            row.get::<_, bool>(1),
            row.get::<_, bool>(2)
        ),
        ("pending".to_owned(), true, true)
    );
    assert_eq!(audits(&app, "webhook_delivery_retried", &id).await, 1);
    let (status, _) = app
        .api_post(
            "/api/v1/webhook-deliveries/msg_nosuch/retry",
            &auth,
            &json!({}),
        )
        .await;
    assert_eq!(status, 404);
}
