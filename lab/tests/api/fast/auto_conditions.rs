//! Conditions that meet themselves: who met a condition (`met_by`), the agent's limits, call
//! rules met by the call in whatever order its callbacks arrive, CRM events, time delays, and
//! all of them racing for one recipient.

use std::time::Duration;

use calltrack::twilio::form::FormPairs;
use calltrack::twilio::simulated::{Fixture, SimulatedCall, random_sid};
use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, ResponseTemplate};

use crate::helpers::{FORWARD_TO, TRACKED_NUMBER, TestApp};
use crate::world::{Auth, World};

const MESSAGES_PATH: &str = "/2010-04-01/Accounts/ACae6d5b1f2c3e4d5a6b7c8d9e0f1a2b3c/Messages.json";

/// Twilio takes every reward SMS.
pub(crate) async fn twilio_accepts(app: &TestApp) {
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .respond_with(|request: &Request| {
            let form = FormPairs::parse(&request.body).unwrap();
            ResponseTemplate::new(201).set_body_json(json!({
                "sid": random_sid("SM"),
                "status": "queued",
                "to": form.get("To"),
                "from": form.get("From"),
            }))
        })
        .mount(&app.twilio)
        .await;
}

/// The reward SMS Twilio received, by recipient number.
pub(crate) async fn messages_to(app: &TestApp, to: &str) -> usize {
    app.twilio
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == MESSAGES_PATH)
        .filter(|r| FormPairs::parse(&r.body).unwrap().get("To") == Some(to))
        .count()
}

/// Adds, to the world's campaign: condition 1 met by the call after `talk` seconds of talk,
/// condition 4 met by the CRM's `appointment_kept`, condition 5 met 48 hours after the first
/// answered call; each rewarded from the world's pool.
pub(crate) async fn automatic_conditions(app: &TestApp, world: &World, talk: i32) {
    app.db
        .execute(
            "UPDATE campaign_conditions SET auto_min_talk_seconds = $2
             WHERE campaign_id = $1 AND condition_number = 1",
            &[&world.campaign.id, &talk],
        )
        .await
        .unwrap();
    app.db
        .execute(
            "INSERT INTO campaign_conditions (campaign_id, condition_number, condition_name,
                 trigger_type, crm_event_name, time_delay_hours, is_active)
             VALUES ($1, 4, 'Kept the appointment', 'crm_event', 'appointment_kept', NULL, true),
                    ($1, 5, 'Kept the booking two days', 'time_delay', NULL, 48, true)",
            &[&world.campaign.id],
        )
        .await
        .unwrap();
    app.db
        .execute(
            "INSERT INTO campaign_reward_configs (campaign_id, condition_number, gift_card_pool_id,
                 reward_description, sms_template)
             SELECT $1, n, $2, '$25 card', 'Hi {first_name}: {card_code}' FROM unnest('{4,5}'::int[]) n",
            &[&world.campaign.id, &world.pool_id],
        )
        .await
        .unwrap();
}

/// The webhooks of an answered call from `from` whose forwarded leg talked `talk` seconds.
pub(crate) fn answered_call(
    from: &str,
    talk: u32,
) -> (SimulatedCall, Vec<(&'static str, FormPairs)>) {
    let call = SimulatedCall::new(from, TRACKED_NUMBER, FORWARD_TO);
    let t0 = Utc::now() - chrono::Duration::seconds(i64::from(talk) + 30);
    let at = |s: i64| t0 + chrono::Duration::seconds(s);
    let mut ringing = call.child_status(Fixture::StatusChildRinging, at(2));
    ringing.set("CallStatus", "ringing");
    let mut picked_up = call.child_status(Fixture::StatusChildRinging, at(8));
    picked_up.set("CallStatus", "in-progress");
    let webhooks = vec![
        ("/twilio/voice", call.voice()),
        ("/twilio/status", ringing),
        ("/twilio/status", picked_up),
        (
            "/twilio/status",
            call.child_completed(talk, at(8 + i64::from(talk))),
        ),
        (
            "/twilio/dial-complete",
            call.dial_action("completed", talk, false),
        ),
        (
            "/twilio/status",
            call.parent_completed(talk + 10, at(10 + i64::from(talk))),
        ),
    ];
    (call, webhooks)
}

fn orders(n: usize) -> Vec<Vec<usize>> {
    let mut orders = vec![(0..n).collect::<Vec<_>>(), (0..n).rev().collect()];
    for shift in 1..n {
        orders.push((0..n).map(|i| (i + shift) % n).collect());
    }
    for i in 0..n.saturating_sub(1) {
        let mut swapped: Vec<usize> = (0..n).collect();
        swapped.swap(i, i + 1);
        orders.push(swapped);
    }
    orders
}

async fn met_row(app: &TestApp, recipient: Uuid, number: i32) -> Option<Value> {
    app.db
        .query_opt(
            "SELECT to_jsonb(m) FROM call_conditions_met m
             WHERE recipient_id = $1 AND condition_number = $2",
            &[&recipient, &number],
        )
        .await
        .unwrap()
        .map(|r| r.get(0))
}

async fn wait_for_met(app: &TestApp, recipient: Uuid, number: i32) -> Value {
    for _ in 0..200 {
        if let Some(row) = met_row(app, recipient, number).await {
            return row;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition {number} of {recipient} was never met");
}

#[tokio::test]
async fn an_agents_mark_is_met_by_agent_and_the_session_detail_says_so() {
    let app = TestApp::spawn().await;
    let world = app.world(3).await;
    let auth = Auth::user(world.agent);

    let (status, marked) = app.mark(world.session_id, &auth, 1).await;
    assert_eq!(status, 201, "{marked}");
    assert_eq!(marked["condition"]["met_by"], "agent");
    assert_eq!(marked["condition"]["met_detail"], Value::Null);

    let (status, detail) = app
        .api_get(
            &format!("/api/v1/call-sessions/{}", world.session_id),
            &auth,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(detail["conditions_met"][0]["met_by"], "agent");
    assert_eq!(
        detail["conditions_met"][0]["met_by_agent_id"],
        world.agent.to_string()
    );
    let audit = app
        .count("SELECT count(*) FROM audit_log WHERE action = 'condition_met' AND details->>'met_by' = 'agent'")
        .await;
    assert_eq!(audit, 1);
}

#[tokio::test]
async fn an_agent_cannot_mark_crm_or_time_conditions_and_a_managers_override_is_audited() {
    let app = TestApp::spawn().await;
    let world = app.world(5).await;
    automatic_conditions(&app, &world, 60).await;
    let agent = Auth::user(world.agent);
    let owner = app
        .seed_user(&["company_owner"], Some(world.client_id), None)
        .await;

    for number in [4, 5] {
        let (status, body) = app.mark(world.session_id, &agent, number).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["code"], "condition_not_manual");
    }
    assert_eq!(
        app.count("SELECT count(*) FROM call_conditions_met").await,
        0
    );
    // A call condition with a rule may still be marked by hand.
    let (status, body) = app.mark(world.session_id, &agent, 1).await;
    assert_eq!(status, 201, "{body}");

    let (status, body) = app.mark(world.session_id, &Auth::user(owner), 4).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["condition"]["met_by"], "agent");
    assert_eq!(body["condition"]["met_by_agent_id"], owner.to_string());
    assert_eq!(body["condition"]["met_detail"]["override"], "crm_event");
    assert_eq!(body["reward"]["status"], "provisioned");
    let overrides = app
        .count("SELECT count(*) FROM audit_log WHERE action = 'condition_override' AND details->>'trigger_type' = 'crm_event'")
        .await;
    assert_eq!(overrides, 1);
}

#[tokio::test]
async fn a_call_rule_is_met_by_the_answered_call_in_every_order_its_callbacks_arrive() {
    let app = TestApp::spawn().await;
    twilio_accepts(&app).await;
    let world = app.world(40).await;
    automatic_conditions(&app, &world, 60).await;
    let orders = orders(6);
    let mut expected = Vec::new();
    for (n, order) in orders.iter().enumerate() {
        let phone = format!("+1415555{:04}", 2000 + n);
        let recipient = app.seed_recipient(&world.campaign, &phone).await;
        let (call, webhooks) = answered_call(&phone, 72);
        for &i in order {
            let (path, form) = &webhooks[i];
            let status = app.post_signed(path, form).await.status();
            assert!(status.is_success(), "{path} in order {order:?}: {status}");
        }
        expected.push((recipient, call, phone, order.clone()));
    }
    // Too short a talk, and an unmatched caller, meet nothing.
    let short_phone = "+14155553000";
    let short = app.seed_recipient(&world.campaign, short_phone).await;
    let (_, webhooks) = answered_call(short_phone, 59);
    for (path, form) in &webhooks {
        assert!(app.post_signed(path, form).await.status().is_success());
    }
    let (_, webhooks) = answered_call("+14155553999", 300);
    for (path, form) in &webhooks {
        assert!(app.post_signed(path, form).await.status().is_success());
    }

    for (recipient, call, _, order) in &expected {
        let session = app.session(&call.call_sid).await;
        let met = met_row(&app, *recipient, 1)
            .await
            .unwrap_or_else(|| panic!("not met in order {order:?}: {session}"));
        assert_eq!(met["met_by"], "call_rule", "order {order:?}");
        assert_eq!(met["met_detail"]["talk_seconds"], 72, "order {order:?}");
        assert_eq!(met["met_by_agent_id"], Value::Null);
        assert_eq!(met["call_session_id"], session["id"]);
        assert_eq!(met["reward_status"], "provisioned");
    }
    assert!(
        met_row(&app, short, 1).await.is_none(),
        "59 s is short of 60"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM call_conditions_met").await,
        expected.len() as i64
    );
    // Each reward is texted once, to its recipient.
    assert_eq!(
        app.wait_for_count(
            "SELECT count(*) FROM sms_outbox WHERE state = 'sent'",
            expected.len() as i64,
            30,
        )
        .await,
        expected.len() as i64
    );
    for (_, _, phone, _) in &expected {
        assert_eq!(messages_to(&app, phone).await, 1, "{phone}");
    }

    // The agent's console sees how it was met.
    let session_id = app.session(&expected[0].1.call_sid).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, detail) = app
        .api_get(
            &format!("/api/v1/call-sessions/{session_id}"),
            &Auth::user(world.agent),
        )
        .await;
    assert_eq!(status, 200);
    let met = &detail["conditions_met"][0];
    assert_eq!(met["met_by"], "call_rule");
    assert_eq!(met["met_detail"]["talk_seconds"], 72);
    let condition_1 = detail["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["condition_number"] == 1)
        .unwrap();
    assert_eq!(condition_1["auto_min_talk_seconds"], 60);
}

#[tokio::test]
async fn a_crm_event_meets_its_conditions_once_and_a_conflicting_repeat_is_refused() {
    let app = TestApp::spawn().await;
    twilio_accepts(&app).await;
    let world = app.world(5).await;
    automatic_conditions(&app, &world, 60).await;
    let key = Auth::ApiKey(app.seed_api_key(world.client_id).await);
    let code = app.redemption_code(world.recipient_id).await;
    let event = json!({
        "event": "appointment_kept",
        "id": "crm-1001",
        "occurred_at": "2026-03-02T15:04:05Z",
        "recipient": {"redemption_code": code},
        "notes": "kept at 3 pm",
    });

    let (status, first) = app.api_post("/api/v1/crm-events", &key, &event).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(
        first["event"]["recipient_id"],
        world.recipient_id.to_string()
    );
    assert_eq!(first["event"]["campaign_id"], world.campaign.id.to_string());
    assert_eq!(
        first["event"]["call_session_id"],
        world.session_id.to_string()
    );
    let met = first["conditions_met"].as_array().unwrap();
    assert_eq!(met.len(), 1, "{first}");
    assert_eq!(met[0]["condition"]["condition_number"], 4);
    assert_eq!(met[0]["condition"]["met_by"], "crm_event");
    assert_eq!(
        met[0]["condition"]["met_detail"]["event"],
        "appointment_kept"
    );
    assert_eq!(
        met[0]["condition"]["call_session_id"],
        world.session_id.to_string()
    );
    assert_eq!(met[0]["reward"]["status"], "provisioned");

    let (status, again) = app.api_post("/api/v1/crm-events", &key, &event).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["event"]["id"], first["event"]["id"]);
    assert_eq!(
        again["conditions_met"][0]["condition"]["id"],
        met[0]["condition"]["id"]
    );
    // The same id by phone, any format, is the same event.
    let mut by_phone = event.clone();
    by_phone["recipient"] = json!({"phone": "415.555.0100"});
    let (status, again) = app.api_post("/api/v1/crm-events", &key, &by_phone).await;
    assert_eq!(status, 200, "{again}");

    let mut conflicting = event.clone();
    conflicting["event"] = json!("appointment_missed");
    let (status, body) = app.api_post("/api/v1/crm-events", &key, &conflicting).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "conflicting_repeat");

    assert_eq!(app.count("SELECT count(*) FROM crm_events").await, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM call_conditions_met").await,
        1
    );
    assert_eq!(
        app.wait_for_count(
            "SELECT count(*) FROM sms_outbox WHERE state = 'sent'",
            1,
            30
        )
        .await,
        1
    );
    assert_eq!(messages_to(&app, "+14155550100").await, 1);

    // An event no condition names is kept and meets nothing.
    let (status, body) = app
        .api_post(
            "/api/v1/crm-events",
            &key,
            &json!({"event": "newsletter_opened", "id": "crm-1002",
                    "recipient": {"recipient_id": world.recipient_id}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["conditions_met"], json!([]));
}

#[tokio::test]
async fn a_crm_event_names_one_recipient_or_is_refused() {
    let app = TestApp::spawn().await;
    let world = app.world(5).await;
    automatic_conditions(&app, &world, 60).await;
    let key = Auth::ApiKey(app.seed_api_key(world.client_id).await);
    let post = |body: Value| {
        let app = &app;
        let key = &key;
        async move { app.api_post("/api/v1/crm-events", key, &body).await }
    };

    let (status, body) = post(json!({"event": "appointment_kept", "id": "a",
        "recipient": {"redemption_code": "NO-SUCH-CODE"}}))
    .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = post(json!({"event": "appointment_kept", "id": "b",
        "recipient": {"phone": "not a phone"}}))
    .await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = post(json!({"event": "appointment_kept", "id": "c",
        "recipient": {"phone": "+14155550100", "redemption_code": "X"}}))
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = post(json!({"event": "appointment_kept", "id": "d",
        "recipient": {"phone": "+14155550100"}, "color": "blue"}))
    .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = post(json!({"event": "", "id": "e",
        "recipient": {"phone": "+14155550100"}}))
    .await;
    assert_eq!(status, 400, "{body}");

    // The same phone in a second campaign of the client: ambiguous until a campaign is named.
    let second: Uuid = app
        .db
        .query_one(
            "INSERT INTO campaigns (client_id, name, status) VALUES ($1, 'Fall mailer', 'mailed') RETURNING id",
            &[&world.client_id],
        )
        .await
        .unwrap()
        .get(0);
    app.db
        .execute(
            "INSERT INTO recipients (campaign_id, redemption_code, first_name, phone)
             VALUES ($1, 'FALL-1', 'Dana', '+1 415 555 0100')",
            &[&second],
        )
        .await
        .unwrap();
    let (status, body) = post(json!({"event": "appointment_kept", "id": "f",
        "recipient": {"phone": "(415) 555-0100"}}))
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "ambiguous_recipient");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("campaign_id")
    );
    let (status, body) = post(json!({"event": "appointment_kept", "id": "f",
        "recipient": {"phone": "(415) 555-0100"}, "campaign_id": world.campaign.id}))
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["event"]["recipient_id"],
        world.recipient_id.to_string()
    );

    // Another client's key does not see the recipient; an agent may not report events.
    let (other_client, _) = app.other_client_session().await;
    let other = Auth::ApiKey(app.seed_api_key(other_client).await);
    let (status, _) = app
        .api_post(
            "/api/v1/crm-events",
            &other,
            &json!({"event": "appointment_kept", "id": "g",
                    "recipient": {"recipient_id": world.recipient_id}}),
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .api_post(
            "/api/v1/crm-events",
            &Auth::user(world.agent),
            &json!({"event": "appointment_kept", "id": "h",
                    "recipient": {"recipient_id": world.recipient_id}}),
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_time_delay_is_due_after_the_first_answered_call_and_met_once_unless_inactive() {
    let app = TestApp::builder()
        .env(&[("CONDITION_CHECK_INTERVAL_MS", "100")])
        .spawn()
        .await;
    twilio_accepts(&app).await;
    let world = app.world(5).await;
    automatic_conditions(&app, &world, 600).await;
    let (call, webhooks) = answered_call("+14155550100", 30);
    for (path, form) in &webhooks {
        assert!(app.post_signed(path, form).await.status().is_success());
    }
    let session = app.session(&call.call_sid).await;
    let due: chrono::DateTime<Utc> = app
        .db
        .query_one(
            "SELECT due_at FROM calltrack_conditions_due WHERE recipient_id = $1 AND condition_number = 5",
            &[&world.recipient_id],
        )
        .await
        .unwrap()
        .get(0);
    let answered: chrono::DateTime<Utc> = session["call_answered_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(due, answered + chrono::Duration::hours(48));
    let (status, detail) = app
        .api_get(
            &format!("/api/v1/call-sessions/{}", session["id"].as_str().unwrap()),
            &Auth::user(world.agent),
        )
        .await;
    assert_eq!(status, 200);
    let condition_5 = detail["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["condition_number"] == 5)
        .unwrap()
        .clone();
    let shown: chrono::DateTime<Utc> = condition_5["due_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(shown, due);
    assert!(met_row(&app, world.recipient_id, 5).await.is_none());

    // Due now: the worker meets it, once.
    app.db
        .execute(
            "UPDATE calltrack_conditions_due SET due_at = now() - interval '1 second'",
            &[],
        )
        .await
        .unwrap();
    let met = wait_for_met(&app, world.recipient_id, 5).await;
    assert_eq!(met["met_by"], "time_delay");
    assert_eq!(met["call_session_id"], session["id"]);
    assert_eq!(met["reward_status"], "provisioned");
    assert_eq!(
        app.count("SELECT count(*) FROM calltrack_conditions_due")
            .await,
        0
    );
    assert_eq!(
        app.wait_for_count(
            "SELECT count(*) FROM sms_outbox WHERE state = 'sent'",
            1,
            30
        )
        .await,
        1
    );

    // A second recipient's timer falls due while the condition is inactive: skipped.
    let phone = "+14155554000";
    let other = app.seed_recipient(&world.campaign, phone).await;
    let (_, webhooks) = answered_call(phone, 30);
    for (path, form) in &webhooks {
        assert!(app.post_signed(path, form).await.status().is_success());
    }
    app.db
        .execute(
            "UPDATE campaign_conditions SET is_active = false WHERE campaign_id = $1 AND condition_number = 5",
            &[&world.campaign.id],
        )
        .await
        .unwrap();
    app.db
        .execute(
            "UPDATE calltrack_conditions_due SET due_at = now() - interval '1 second'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        app.wait_for_count("SELECT count(*) FROM calltrack_conditions_due", 0, 10)
            .await,
        0
    );
    assert!(met_row(&app, other, 5).await.is_none());
    assert_eq!(
        app.count("SELECT count(*) FROM call_conditions_met WHERE condition_number = 5")
            .await,
        1
    );
}

/// A request of the race, whatever path it takes, and its status.
type Answer<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = (u16, Value)> + 'a>>;

/// One round of the race: a fresh recipient, and at once the agent's marks of condition 1,
/// managers' overrides of 4 and 5, the answered call's callbacks (the call rule of 1), CRM
/// events for 4 and the due-conditions worker for 5.
async fn race_once(app: &TestApp, world: &World, pool: &calltrack::db::PgPool, round: usize) {
    let phone = format!("+1415555{:04}", 5000 + round);
    let recipient = app.seed_recipient(&world.campaign, &phone).await;
    let code = app.redemption_code(recipient).await;
    // The session the agents and managers mark on: the call's own, created first.
    let (call, webhooks) = answered_call(&phone, 72);
    assert!(
        app.post_signed(webhooks[0].0, &webhooks[0].1)
            .await
            .status()
            .is_success()
    );
    let session_id: Uuid = app.session(&call.call_sid).await["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // Condition 5's timer, due now (a real one is 48 hours after the answer).
    app.db
        .execute(
            "INSERT INTO calltrack_conditions_due (recipient_id, condition_number, campaign_id,
                 call_session_id, met_by, due_at)
             VALUES ($1, 5, $2, $3, 'time_delay', now())",
            &[&recipient, &world.campaign.id, &session_id],
        )
        .await
        .unwrap();
    let agent = Auth::user(world.agent);
    let owner = Auth::user(
        app.seed_user(&["company_owner"], Some(world.client_id), None)
            .await,
    );
    let key = Auth::ApiKey(app.seed_api_key(world.client_id).await);

    let marks = (0..6).flat_map(|_| {
        [
            app.mark(session_id, &agent, 1),
            app.mark(session_id, &owner, 4),
            app.mark(session_id, &owner, 5),
        ]
    });
    let bodies: Vec<Value> = (0..6)
        .map(|n| {
            json!({"event": "appointment_kept", "id": format!("race-{round}-{n}"),
                   "recipient": {"redemption_code": code}})
        })
        .collect();
    let events = bodies
        .iter()
        .map(|body| app.api_post("/api/v1/crm-events", &key, body));
    let callbacks = (0..3)
        .flat_map(|_| webhooks[1..].iter())
        .map(|(path, form)| async move {
            let status = app.post_signed(path, form).await.status().as_u16();
            (status, Value::Null)
        });
    let workers = (0..4).map(|_| async {
        calltrack::app::conditions::meet_due(pool).await.unwrap();
        (200_u16, Value::Null)
    });
    let mut all: Vec<Answer<'_>> = Vec::new();
    all.extend(marks.map(|f| Box::pin(f) as _));
    all.extend(events.map(|f| Box::pin(f) as _));
    all.extend(callbacks.map(|f| Box::pin(f) as _));
    all.extend(workers.map(|f| Box::pin(f) as _));
    for (status, body) in futures::future::join_all(all).await {
        assert!(
            (200..300).contains(&status),
            "round {round}: {status} {body}"
        );
    }

    for number in [1, 4, 5] {
        let rows = app
            .db
            .query(
                "SELECT met_by, gift_card_id FROM call_conditions_met
                 WHERE recipient_id = $1 AND condition_number = $2",
                &[&recipient, &number],
            )
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "round {round}, condition {number}");
        assert!(
            rows[0].get::<_, Option<Uuid>>(1).is_some(),
            "round {round}: a card"
        );
    }
    let cards = app
        .db
        .query_one(
            "SELECT count(*) FROM gift_cards WHERE recipient_id = $1",
            &[&recipient],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(cards, 3, "round {round}: one card per condition");
    let queued = app
        .db
        .query_one(
            "SELECT count(*) FROM sms_outbox WHERE to_phone = $1",
            &[&phone],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(queued, 3, "round {round}: one SMS per condition");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_path_racing_for_one_recipient_meets_each_condition_once_with_one_card_and_one_sms() {
    let app = TestApp::builder()
        .env(&[("CONDITION_CHECK_INTERVAL_MS", "20")])
        .spawn()
        .await;
    twilio_accepts(&app).await;
    let world = app.world(60).await;
    automatic_conditions(&app, &world, 60).await;
    let pool = calltrack::db::pool::pool(app.db_config.clone(), 4).unwrap();
    let rounds = 8;
    for round in 0..rounds {
        race_once(&app, &world, &pool, round).await;
    }
    // Every reward is texted once: three per recipient.
    let expected = 3 * rounds as i64;
    assert_eq!(
        app.wait_for_count(
            "SELECT count(*) FROM sms_outbox WHERE state = 'sent'",
            expected,
            60
        )
        .await,
        expected
    );
    for round in 0..rounds {
        let phone = format!("+1415555{:04}", 5000 + round);
        assert_eq!(messages_to(&app, &phone).await, 3, "{phone}");
    }
    let available: i32 = app
        .db
        .query_one(
            "SELECT available_cards FROM gift_card_pools WHERE id = $1",
            &[&world.pool_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        available,
        60 - expected as i32,
        "the pool's counter is true"
    );
}

#[tokio::test]
async fn a_call_rule_that_fails_inside_the_calls_write_keeps_the_call_and_holds_back_no_other() {
    let app = TestApp::builder()
        .env(&[("CONDITION_CHECK_INTERVAL_MS", "100")])
        .spawn()
        .await;
    twilio_accepts(&app).await;
    let world = app.world(40).await;
    automatic_conditions(&app, &world, 60).await;
    // A fault inside the meeting of one recipient's call rule, for as long as it lasts.
    let refused = "+14155554100";
    let refused_recipient = app.seed_recipient(&world.campaign, refused).await;
    app.db
        .batch_execute(&format!(
            "CREATE FUNCTION test_refuse_one_recipient() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 IF NEW.recipient_id = '{refused_recipient}' THEN
                     RAISE EXCEPTION 'refused by the test';
                 END IF;
                 RETURN NEW;
             END $$;
             CREATE TRIGGER test_refuse_one_recipient BEFORE INSERT ON call_conditions_met
                 FOR EACH ROW EXECUTE FUNCTION test_refuse_one_recipient();"
        ))
        .await
        .unwrap();
    let (call, webhooks) = answered_call(refused, 72);
    for (path, form) in &webhooks {
        assert!(app.post_signed(path, form).await.status().is_success());
    }

    // The call's facts are kept; its rule waits in the queue instead.
    let session = app.session(&call.call_sid).await;
    assert_eq!(session["call_outcome"], "answered", "{session}");
    assert!(met_row(&app, refused_recipient, 1).await.is_none());
    assert_eq!(
        app.wait_for_count(
            "SELECT count(*) FROM calltrack_conditions_due WHERE met_by = 'call_rule'",
            1,
            10,
        )
        .await,
        1
    );

    // While the queued rule keeps failing (due again at once), another recipient's due
    // conditions are met: the failing one is put back on its own.
    app.db
        .execute(
            "UPDATE calltrack_conditions_due SET due_at = now() - interval '1 minute'",
            &[],
        )
        .await
        .unwrap();
    let healthy = "+14155554101";
    let healthy_recipient = app.seed_recipient(&world.campaign, healthy).await;
    let (_, webhooks) = answered_call(healthy, 30);
    for (path, form) in &webhooks {
        assert!(app.post_signed(path, form).await.status().is_success());
    }
    let timer = format!(
        "SELECT count(*) FROM calltrack_conditions_due WHERE recipient_id = '{healthy_recipient}'"
    );
    assert_eq!(app.wait_for_count(&timer, 1, 10).await, 1);
    app.db
        .execute(
            "UPDATE calltrack_conditions_due SET due_at = now() - interval '1 second'
             WHERE recipient_id = $1",
            &[&healthy_recipient],
        )
        .await
        .unwrap();
    let met = wait_for_met(&app, healthy_recipient, 5).await;
    assert_eq!(met["met_by"], "time_delay");
    let put_back: chrono::DateTime<Utc> = app
        .db
        .query_one(
            "SELECT min(due_at) FROM calltrack_conditions_due WHERE recipient_id = $1",
            &[&refused_recipient],
        )
        .await
        .unwrap()
        .get(0);
    assert!(put_back > Utc::now(), "retried later, not at once");

    // The fault passes: the rule is met once, by the call, with its card and one SMS.
    app.db
        .batch_execute("DROP TRIGGER test_refuse_one_recipient ON call_conditions_met")
        .await
        .unwrap();
    app.db
        .execute(
            "UPDATE calltrack_conditions_due SET due_at = now() - interval '1 second'
             WHERE recipient_id = $1 AND met_by = 'call_rule'",
            &[&refused_recipient],
        )
        .await
        .unwrap();
    let met = wait_for_met(&app, refused_recipient, 1).await;
    assert_eq!(met["met_by"], "call_rule");
    assert_eq!(met["met_detail"]["talk_seconds"], 72);
    assert_eq!(met["call_session_id"], session["id"]);
    assert_eq!(met["reward_status"], "provisioned");
    for _ in 0..100 {
        if messages_to(&app, refused).await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(messages_to(&app, refused).await, 1);
}
