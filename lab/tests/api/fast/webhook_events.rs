//! Webhooks out, the first step: the events outbox (V16). Every call, condition and reward is
//! written as one message per subscribed endpoint by the transaction of the change, whichever
//! path made it and however often its callbacks repeat. Nothing is delivered yet.

use std::time::Duration;

use calltrack::db::webhooks::{self, Message, MessageStatus, NewEndpoint};
use calltrack::domain::{WebhookEvent, mask_phone};
use calltrack::twilio::simulated::{SimulatedCall, sms_status};
use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::fast::auto_conditions::{answered_call, twilio_accepts};
use crate::helpers::{FORWARD_TO, TRACKED_NUMBER, TestApp};
use crate::world::{Auth, CALLER};

/// A pooled connection to the test's database, for the service's own SQL functions.
async fn connection(app: &TestApp) -> deadpool_postgres::Object {
    calltrack::db::pool::pool(app.db_config.clone(), 1)
        .unwrap()
        .get()
        .await
        .unwrap()
}

/// Registers an endpoint of `client_id` through the service's own SQL.
pub(crate) async fn subscribe(app: &TestApp, client_id: Uuid, events: &[WebhookEvent]) -> Uuid {
    let endpoint = webhooks::insert_endpoint(
        &connection(app).await,
        &NewEndpoint {
            client_id,
            url: "https://crm.example.com/hooks/calltrack",
            description: Some("the CRM"),
            events,
            secret_encrypted: "encrypted-secret",
        },
    )
    .await
    .unwrap();
    assert!(endpoint.enabled);
    assert_eq!(endpoint.events, events);
    endpoint.id
}

pub(crate) async fn messages(app: &TestApp, endpoint: Uuid) -> Vec<Message> {
    webhooks::messages_of_endpoint(&connection(app).await, endpoint, 100)
        .await
        .unwrap()
}

/// The messages of `endpoint` about `event`.
pub(crate) async fn of_event(app: &TestApp, endpoint: Uuid, event: WebhookEvent) -> Vec<Message> {
    messages(app, endpoint)
        .await
        .into_iter()
        .filter(|m| m.event == event)
        .collect()
}

async fn client_of(app: &TestApp, campaign: Uuid) -> Uuid {
    app.db
        .query_one(
            "SELECT client_id FROM campaigns WHERE id = $1",
            &[&campaign],
        )
        .await
        .unwrap()
        .get(0)
}

/// A second organization's client, with nothing else.
async fn other_client(app: &TestApp) -> Uuid {
    app.db
        .query_one(
            "WITH o AS (INSERT INTO organizations (name, type) VALUES ('Other', 'direct') RETURNING id)
             INSERT INTO clients (org_id, name) SELECT id, 'Other Co' FROM o RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

async fn post_all(app: &TestApp, webhooks: &[(&str, calltrack::twilio::form::FormPairs)]) {
    for (path, form) in webhooks {
        let response = app.post_signed(path, form).await;
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
    }
}

fn is_rfc3339(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok() && s.ends_with('Z'))
}

fn assert_standard_webhook_id(id: &str) {
    let ksuid = id.strip_prefix("msg_").unwrap_or_else(|| panic!("{id}"));
    assert_eq!(ksuid.len(), 27, "{id}");
    assert!(ksuid.chars().all(|c| c.is_ascii_alphanumeric()), "{id}");
}

#[tokio::test]
async fn a_call_is_reported_started_and_completed_once_with_a_masked_caller() {
    let app = TestApp::spawn().await;
    let campaign = app.seed_campaign().await;
    let recipient = app.seed_recipient(&campaign, "(415) 555-0100").await;
    let client = client_of(&app, campaign.id).await;
    let endpoint = subscribe(&app, client, &WebhookEvent::ALL).await;

    let (call, webhooks) = answered_call(CALLER, 95);
    post_all(&app, &webhooks).await;
    post_all(&app, &[("/twilio/recording", call.recording(95))]).await;

    let session = app.session(&call.call_sid).await;
    let all = messages(&app, endpoint).await;
    assert_eq!(all.len(), 2, "{all:?}");
    let started = of_event(&app, endpoint, WebhookEvent::CallStarted).await;
    let completed = of_event(&app, endpoint, WebhookEvent::CallCompleted).await;
    assert_eq!((started.len(), completed.len()), (1, 1));
    let common = json!({
        "call_session_id": session["id"],
        "campaign_id": campaign.id,
        "tracked_number": TRACKED_NUMBER,
        "caller": "+1415***0100",
        "match_status": "matched",
        "recipient_id": recipient,
    });
    let started = &started[0];
    assert_eq!(started.payload["type"], "call.started");
    assert!(
        is_rfc3339(&started.payload["timestamp"]),
        "{}",
        started.payload
    );
    assert_eq!(started.payload["data"], common);
    assert_eq!(started.status, MessageStatus::Pending);
    assert_eq!(started.attempts, 0);
    assert_standard_webhook_id(&started.id);

    let completed = &completed[0];
    let mut expected = common.clone();
    expected.as_object_mut().unwrap().extend(
        json!({
            "call_outcome": "answered",
            "call_status": "completed",
            "call_duration_seconds": 105,
            "talk_seconds": 95,
            "recorded": true,
        })
        .as_object()
        .unwrap()
        .clone(),
    );
    assert_eq!(completed.payload["type"], "call.completed");
    assert!(is_rfc3339(&completed.payload["timestamp"]));
    assert_eq!(completed.payload["data"], expected);
    assert_ne!(completed.id, started.id);
    assert_standard_webhook_id(&completed.id);
    // Late callbacks are folded in before the first delivery: it waits for them a while.
    assert!(completed.next_attempt_at > completed.created_at);
    assert!(started.next_attempt_at <= Utc::now());
    // Nothing in any body holds the full number.
    for message in &all {
        assert!(
            !message.payload.to_string().contains(CALLER),
            "{:?}",
            message
        );
    }
}

#[tokio::test]
async fn repeated_and_reordered_callbacks_complete_a_call_once() {
    let app = TestApp::spawn().await;
    let campaign = app.seed_campaign().await;
    app.seed_recipient(&campaign, "(415) 555-0100").await;
    let client = client_of(&app, campaign.id).await;
    let endpoint = subscribe(&app, client, &WebhookEvent::ALL).await;

    let (call, webhooks) = answered_call(CALLER, 40);
    // The voice webhook first; then the callbacks backwards, each twice.
    let (voice, callbacks) = webhooks.split_first().unwrap();
    post_all(&app, std::slice::from_ref(voice)).await;
    let mut reordered: Vec<_> = callbacks.iter().rev().cloned().collect();
    reordered.extend(callbacks.iter().cloned());
    post_all(&app, &reordered).await;
    let retries = futures::future::join_all(
        callbacks
            .iter()
            .map(|(path, form)| app.post_signed(path, form)),
    )
    .await;
    assert!(retries.iter().all(|r| r.status().is_success()));
    post_all(&app, std::slice::from_ref(voice)).await;

    let started = of_event(&app, endpoint, WebhookEvent::CallStarted).await;
    let completed = of_event(&app, endpoint, WebhookEvent::CallCompleted).await;
    assert_eq!((started.len(), completed.len()), (1, 1));
    let data = &completed[0].payload["data"];
    assert_eq!(data["call_outcome"], "answered");
    assert_eq!(data["talk_seconds"], 40);
    assert_eq!(data["recorded"], false);
    assert_eq!(
        data["call_session_id"],
        app.session(&call.call_sid).await["id"]
    );
}

#[tokio::test]
async fn a_voicemail_that_arrives_after_the_call_ended_turns_the_pending_completion_into_voicemail()
{
    let app = TestApp::spawn().await;
    let campaign = app.seed_campaign().await;
    let client = client_of(&app, campaign.id).await;
    let endpoint = subscribe(&app, client, &[WebhookEvent::CallCompleted]).await;
    let call = SimulatedCall::new("+14155550142", TRACKED_NUMBER, FORWARD_TO);

    post_all(
        &app,
        &[
            ("/twilio/voice", call.voice()),
            (
                "/twilio/dial-complete",
                call.dial_action("no-answer", 0, false),
            ),
            ("/twilio/status", call.parent_completed(50, Utc::now())),
        ],
    )
    .await;
    let missed = of_event(&app, endpoint, WebhookEvent::CallCompleted).await;
    assert_eq!(missed.len(), 1);
    assert_eq!(missed[0].payload["data"]["call_outcome"], "missed");
    assert_eq!(missed[0].payload["data"]["match_status"], "unmatched");
    assert_eq!(missed[0].payload["data"]["caller"], "+1415***0142");

    post_all(&app, &[("/twilio/voicemail", call.voicemail_recording(12))]).await;

    let settled = of_event(&app, endpoint, WebhookEvent::CallCompleted).await;
    assert_eq!(settled.len(), 1);
    assert_eq!(settled[0].id, missed[0].id, "the same message, rewritten");
    assert_eq!(settled[0].payload["data"]["call_outcome"], "voicemail");
    // Once a delivery has been attempted, a later change is not reported again.
    app.db
        .execute(
            "UPDATE webhook_messages SET attempts = 1 WHERE id = $1",
            &[&settled[0].id],
        )
        .await
        .unwrap();
    post_all(&app, &[("/twilio/recording", call.recording(12))]).await;
    let after = of_event(&app, endpoint, WebhookEvent::CallCompleted).await;
    assert_eq!(after[0].payload, settled[0].payload);
}

#[tokio::test]
async fn only_enabled_endpoints_of_the_calls_client_subscribed_to_the_event_get_it() {
    let app = TestApp::spawn().await;
    let campaign = app.seed_campaign().await;
    let client = client_of(&app, campaign.id).await;
    let subscribed = subscribe(&app, client, &[WebhookEvent::CallStarted]).await;
    let elsewhere = subscribe(&app, other_client(&app).await, &WebhookEvent::ALL).await;
    let disabled = subscribe(&app, client, &WebhookEvent::ALL).await;
    app.db
        .execute(
            "UPDATE webhook_endpoints SET enabled = false WHERE id = $1",
            &[&disabled],
        )
        .await
        .unwrap();
    let other_events = subscribe(
        &app,
        client,
        &[WebhookEvent::RewardDelivered, WebhookEvent::RewardFailed],
    )
    .await;

    let (_, webhooks) = answered_call(CALLER, 30);
    post_all(&app, &webhooks).await;

    let got = messages(&app, subscribed).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].event, WebhookEvent::CallStarted);
    for endpoint in [elsewhere, disabled, other_events] {
        assert!(messages(&app, endpoint).await.is_empty());
    }
}

#[tokio::test]
async fn an_agents_mark_fired_many_times_at_once_is_one_condition_met_without_a_card_code() {
    let app = TestApp::spawn().await;
    let world = app.world(3).await;
    let endpoint = subscribe(&app, world.client_id, &WebhookEvent::ALL).await;
    let auth = Auth::user(world.agent);

    let marks =
        futures::future::join_all((0..12).map(|_| app.mark(world.session_id, &auth, 1))).await;
    assert_eq!(marks.iter().filter(|(status, _)| *status == 201).count(), 1);

    let met = of_event(&app, endpoint, WebhookEvent::ConditionMet).await;
    assert_eq!(met.len(), 1, "{met:?}");
    let condition_met_id: Uuid = app
        .db
        .query_one("SELECT id FROM call_conditions_met", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(met[0].payload["type"], "condition.met");
    assert!(is_rfc3339(&met[0].payload["timestamp"]));
    assert_eq!(
        met[0].payload["data"],
        json!({
            "condition_met_id": condition_met_id,
            "condition_number": 1,
            "condition_name": "Booked an appointment",
            "met_by": "agent",
            "recipient_id": world.recipient_id,
            "call_session_id": world.session_id,
            "campaign_id": world.campaign.id,
            // Read at commit: the card was claimed after the row was inserted.
            "reward": {"status": "provisioned"},
        })
    );
    let codes = app
        .db
        .query(
            "SELECT card_code, pin_code FROM gift_cards WHERE status <> 'available'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(codes.len(), 1);
    let body = met[0].payload.to_string();
    for encrypted in [codes[0].get::<_, String>(0), codes[0].get::<_, String>(1)] {
        assert!(!body.contains(&encrypted));
    }
    assert!(!body.contains("GC-"), "{body}");
}

#[tokio::test]
async fn a_delivered_sms_reported_twice_is_one_reward_delivered() {
    let app = TestApp::builder()
        .env(&[("OUTBOX_POLL_MS", "20")])
        .spawn()
        .await;
    twilio_accepts(&app).await;
    let world = app.world(3).await;
    let endpoint = subscribe(&app, world.client_id, &WebhookEvent::ALL).await;
    let (status, body) = app
        .mark(world.session_id, &Auth::user(world.agent), 1)
        .await;
    assert_eq!(status, 201, "{body}");
    let sent = app
        .wait_for_count(
            "SELECT count(*) FROM sms_outbox WHERE state = 'sent'",
            1,
            30,
        )
        .await;
    assert_eq!(sent, 1);
    let sid: String = app
        .db
        .query_one("SELECT message_sid FROM sms_outbox", &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        of_event(&app, endpoint, WebhookEvent::RewardDelivered)
            .await
            .is_empty()
    );

    for _ in 0..2 {
        let response = app
            .post_signed(
                "/twilio/sms-status",
                &sms_status(&sid, CALLER, "delivered", None),
            )
            .await;
        assert_eq!(response.status(), 204);
    }

    let delivered = of_event(&app, endpoint, WebhookEvent::RewardDelivered).await;
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    let condition_met_id: Uuid = app
        .db
        .query_one("SELECT id FROM call_conditions_met", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(delivered[0].payload["type"], "reward.delivered");
    assert_eq!(
        delivered[0].payload["data"],
        json!({
            "condition_met_id": condition_met_id,
            "recipient_id": world.recipient_id,
            "campaign_id": world.campaign.id,
            "condition_number": 1,
        })
    );
    assert!(
        of_event(&app, endpoint, WebhookEvent::RewardFailed)
            .await
            .is_empty()
    );
    assert!(!delivered[0].payload.to_string().contains(CALLER));
}

#[tokio::test]
async fn a_failed_reward_is_reported_with_twilios_code_once() {
    let app = TestApp::spawn().await;
    let world = app.world(3).await;
    let endpoint = subscribe(&app, world.client_id, &[WebhookEvent::RewardFailed]).await;
    let condition: Uuid = app
        .db
        .query_one(
            "INSERT INTO call_conditions_met (call_session_id, campaign_id, recipient_id,
                 condition_number, delivery_status)
             VALUES ($1, $2, $3, 2, 'sent') RETURNING id",
            &[&world.session_id, &world.campaign.id, &world.recipient_id],
        )
        .await
        .unwrap()
        .get(0);

    for _ in 0..2 {
        app.db
            .execute(
                "UPDATE call_conditions_met SET delivery_status = 'failed',
                     delivery_error_code = 30003 WHERE id = $1",
                &[&condition],
            )
            .await
            .unwrap();
    }

    let failed = messages(&app, endpoint).await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].event, WebhookEvent::RewardFailed);
    assert_eq!(failed[0].payload["data"]["delivery_error_code"], 30003);
    assert_eq!(
        failed[0].payload["data"]["condition_met_id"],
        json!(condition)
    );
}

#[tokio::test]
async fn a_call_inserted_already_finished_is_reported_started_and_completed() {
    let app = TestApp::spawn().await;
    let campaign = app.seed_campaign().await;
    let client = client_of(&app, campaign.id).await;
    let endpoint = subscribe(&app, client, &WebhookEvent::ALL).await;

    // As reconciliation writes a call it learnt of from Twilio only after it ended.
    app.db
        .execute(
            "INSERT INTO call_sessions (campaign_id, tracked_number_id, caller_phone,
                 call_status, status_rank, call_started_at, call_ended_at,
                 call_duration_seconds, twilio_call_sid)
             VALUES ($1, $2, '+14155550177', 'busy', 4, now() - interval '1 minute', now(),
                 0, 'CAreconciled0000000000000000000000')",
            &[&campaign.id, &campaign.tracked_number_id],
        )
        .await
        .unwrap();

    let all = messages(&app, endpoint).await;
    let mut events: Vec<_> = all.iter().map(|m| m.event).collect();
    events.sort_by_key(|e| e.as_str());
    assert_eq!(
        events,
        vec![WebhookEvent::CallCompleted, WebhookEvent::CallStarted]
    );
    let completed = all
        .iter()
        .find(|m| m.event == WebhookEvent::CallCompleted)
        .unwrap();
    assert_eq!(completed.payload["data"]["call_outcome"], "missed");
    assert_eq!(completed.payload["data"]["call_status"], "busy");
}

#[tokio::test]
async fn the_databases_masking_is_the_services() {
    let app = TestApp::spawn().await;
    for phone in [
        "+14155550100",
        "+442071838750",
        "+4930123456",
        "123456789",
        "1234567890",
        "",
        "+1",
        "anonymous-caller",
    ] {
        let masked: String = app
            .db
            .query_one("SELECT calltrack_mask_phone($1)", &[&phone])
            .await
            .unwrap()
            .get(0);
        assert_eq!(masked, mask_phone(phone), "{phone}");
    }
    let withheld: Option<String> = app
        .db
        .query_one("SELECT calltrack_mask_phone(NULL)", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(withheld, None);
}

#[tokio::test]
async fn without_endpoints_the_triggers_write_nothing_and_read_only_the_endpoints() {
    let app = TestApp::spawn().await;
    let campaign = app.seed_campaign().await;
    let (_, webhooks) = answered_call(CALLER, 30);
    post_all(&app, &webhooks).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(app.count("SELECT count(*) FROM webhook_messages").await, 0);

    // The no-endpoint path of each trigger: one scan of the (empty) endpoints table.
    let plan: Value = app
        .db
        .query_one(
            "EXPLAIN (ANALYZE, FORMAT JSON)
             SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM webhook_endpoints
                 WHERE enabled AND events && ARRAY['call.started', 'call.completed'])",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let mut nodes = Vec::new();
    crate::fast::row_security::plan_nodes(&plan[0]["Plan"], &mut nodes);
    let relations: Vec<&str> = nodes
        .iter()
        .filter_map(|n| n["Relation Name"].as_str())
        .collect();
    assert_eq!(relations, vec!["webhook_endpoints"], "{plan}");
    let _ = campaign;
}

#[tokio::test]
async fn a_webhook_event_that_cannot_be_written_does_not_fail_the_call() {
    let app = TestApp::spawn().await;
    let campaign = app.seed_campaign().await;
    let client = client_of(&app, campaign.id).await;
    let endpoint = subscribe(&app, client, &WebhookEvent::ALL).await;
    app.db
        .batch_execute(
            "ALTER TABLE webhook_messages ADD CONSTRAINT refuse_all CHECK (false) NOT VALID",
        )
        .await
        .unwrap();

    let (call, webhooks) = answered_call(CALLER, 30);
    post_all(&app, &webhooks).await;

    let session = app.session(&call.call_sid).await;
    assert_eq!(session["call_status"], "completed");
    assert_eq!(session["call_outcome"], "answered");
    assert!(messages(&app, endpoint).await.is_empty());
}
