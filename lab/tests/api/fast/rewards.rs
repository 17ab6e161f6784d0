use std::collections::HashSet;

use serde_json::Value;
use uuid::Uuid;

use crate::helpers::TestApp;
use crate::world::{Auth, cipher};

async fn counters_match_rows(app: &TestApp, pool: Uuid) {
    let row = app
        .db
        .query_one(
            "SELECT p.total_cards, p.available_cards,
                    (SELECT count(*) FROM gift_cards WHERE pool_id = p.id)::int,
                    (SELECT count(*) FROM gift_cards WHERE pool_id = p.id AND status = 'available')::int
             FROM gift_card_pools p WHERE p.id = $1",
            &[&pool],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), row.get::<_, i32>(2), "total_cards");
    assert_eq!(
        row.get::<_, i32>(1),
        row.get::<_, i32>(3),
        "available_cards"
    );
}

#[tokio::test]
async fn the_first_mark_provisions_one_card_and_queues_one_sms_and_a_repeat_returns_the_same() {
    let app = TestApp::spawn().await;
    let world = app.world(3).await;
    let auth = Auth::user(world.agent);

    let (status, first) = app.mark(world.session_id, &auth, 1).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["reward"]["status"], "provisioned");
    assert_eq!(first["reward"]["delivery_status"], "pending");
    assert_eq!(
        first["condition"]["met_by_agent_id"],
        world.agent.to_string()
    );
    assert_eq!(first["condition"]["notes"], "booked for Tuesday");
    let card_id: Uuid = first["reward"]["gift_card_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    let (status, again) = app.mark(world.session_id, &auth, 1).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["condition"]["id"], first["condition"]["id"]);
    assert_eq!(
        again["reward"]["gift_card_id"],
        first["reward"]["gift_card_id"]
    );

    assert_eq!(
        app.count("SELECT count(*) FROM gift_cards WHERE status = 'claimed'")
            .await,
        1
    );
    assert_eq!(app.count("SELECT count(*) FROM sms_outbox").await, 1);
    let card = app
        .db
        .query_one(
            "SELECT card_code, recipient_id, campaign_id FROM gift_cards WHERE id = $1",
            &[&card_id],
        )
        .await
        .unwrap();
    let stored: String = card.get(0);
    assert!(
        stored.starts_with("v1:") && !stored.contains("CODE-"),
        "stored code is ciphertext"
    );
    assert!(cipher().decrypt(&stored).is_ok());
    assert_eq!(card.get::<_, Uuid>(1), world.recipient_id);
    assert_eq!(card.get::<_, Uuid>(2), world.campaign.id);
    let to: String = app
        .db
        .query_one("SELECT to_phone FROM sms_outbox", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(to, "+14155550100");
    counters_match_rows(&app, world.pool_id).await;
    let body = serde_json::to_string(&first).unwrap();
    assert!(
        !body.contains("CODE-") && !body.contains("v1:"),
        "no card code in the API: {body}"
    );
}

#[tokio::test]
async fn forty_concurrent_marks_of_one_condition_claim_one_card_and_queue_one_sms() {
    let app = TestApp::spawn().await;
    let world = app.world(10).await;
    let auth = Auth::user(world.agent);

    let results =
        futures::future::join_all((0..40).map(|_| app.mark(world.session_id, &auth, 1))).await;

    let created = results.iter().filter(|(s, _)| *s == 201).count();
    let repeated = results.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(
        (created, repeated),
        (1, 39),
        "{:?}",
        results.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    let cards: HashSet<&Value> = results
        .iter()
        .map(|(_, b)| &b["reward"]["gift_card_id"])
        .collect();
    assert_eq!(cards.len(), 1, "every answer names the same card");
    assert_eq!(
        app.count("SELECT count(*) FROM call_conditions_met").await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM gift_cards WHERE status <> 'available'")
            .await,
        1
    );
    assert_eq!(app.count("SELECT count(*) FROM sms_outbox").await, 1);
    counters_match_rows(&app, world.pool_id).await;
}

#[tokio::test]
async fn twelve_sessions_against_a_pool_of_five_get_five_distinct_cards_and_seven_wait() {
    let app = TestApp::spawn().await;
    let world = app.world(5).await;
    let auth = Auth::user(world.agent);
    let mut sessions = Vec::new();
    for n in 0..12 {
        let phone = format!("+1212555{n:04}");
        let recipient = app.seed_recipient(&world.campaign, &phone).await;
        let call = app.start_call(&phone).await;
        let session = app.session(&call.call_sid).await;
        assert_eq!(session["recipient_id"], recipient.to_string());
        sessions.push(session["id"].as_str().unwrap().parse::<Uuid>().unwrap());
    }

    let results = futures::future::join_all(sessions.iter().map(|s| app.mark(*s, &auth, 1))).await;

    assert!(results.iter().all(|(s, _)| *s == 201), "{results:?}");
    let provisioned: Vec<&Value> = results
        .iter()
        .filter(|(_, b)| b["reward"]["status"] == "provisioned")
        .map(|(_, b)| b)
        .collect();
    let exhausted = results
        .iter()
        .filter(|(_, b)| b["reward"]["status"] == "pool_exhausted")
        .count();
    assert_eq!((provisioned.len(), exhausted), (5, 7));
    let distinct: HashSet<&str> = provisioned
        .iter()
        .map(|b| b["reward"]["gift_card_id"].as_str().unwrap())
        .collect();
    assert_eq!(distinct.len(), 5);
    assert_eq!(app.count("SELECT count(*) FROM sms_outbox").await, 5);
    let pool = app
        .db
        .query_one(
            "SELECT available_cards, total_cards FROM gift_card_pools WHERE id = $1",
            &[&world.pool_id],
        )
        .await
        .unwrap();
    assert_eq!((pool.get::<_, i32>(0), pool.get::<_, i32>(1)), (0, 5));
    counters_match_rows(&app, world.pool_id).await;

    // Eight cards are imported: the seven waiting rewards get theirs, oldest first.
    let csv = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cards-{}.csv", Uuid::new_v4().simple()));
    let rows: String = (0..8)
        .map(|n| format!("NEW-{n:04}-ZZZZ,{n}{n}{n}{n},25.00\n"))
        .collect();
    std::fs::write(&csv, format!("card_code,pin_code,value_amount\n{rows}")).unwrap();
    let source =
        calltrack::config::DatabaseSource::Url(crate::helpers::conninfo(&app.db_config).into());
    let summary =
        calltrack::commands::gift_cards::import_file(&source, &cipher(), world.pool_id, &csv)
            .await
            .unwrap();
    std::fs::remove_file(&csv).unwrap();
    let provisioned_now = summary.provisioned;
    assert_eq!(provisioned_now, 7);
    assert_eq!(
        app.count("SELECT count(*) FROM call_conditions_met WHERE reward_status = 'provisioned'")
            .await,
        12
    );
    assert_eq!(
        app.count("SELECT count(DISTINCT gift_card_id) FROM call_conditions_met")
            .await,
        12
    );
    assert_eq!(app.count("SELECT count(*) FROM sms_outbox").await, 12);
    assert_eq!(
        app.count("SELECT count(*) FROM gift_cards WHERE status = 'available'")
            .await,
        1
    );
    counters_match_rows(&app, world.pool_id).await;
}

#[tokio::test]
async fn an_inactive_or_unknown_condition_is_422() {
    let app = TestApp::spawn().await;
    let world = app.world(1).await;
    let auth = Auth::user(world.agent);

    for condition in [3, 9] {
        let (status, body) = app.mark(world.session_id, &auth, condition).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["code"], "inactive_condition");
    }
    assert_eq!(
        app.count("SELECT count(*) FROM call_conditions_met").await,
        0
    );
}

#[tokio::test]
async fn a_condition_without_a_reward_config_is_recorded_without_a_card() {
    let app = TestApp::spawn().await;
    let world = app.world(1).await;

    let (status, body) = app
        .mark(world.session_id, &Auth::user(world.agent), 2)
        .await;

    assert_eq!(status, 201, "{body}");
    assert_eq!(body["reward"]["status"], "no_reward_configured");
    assert_eq!(body["reward"]["gift_card_id"], Value::Null);
    assert_eq!(app.count("SELECT count(*) FROM sms_outbox").await, 0);
}

#[tokio::test]
async fn a_reward_from_an_admin_master_pool_is_provisioned_for_an_agent() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    let master = app.seed_pool(None, 2).await;
    app.db
        .execute(
            "UPDATE campaign_reward_configs SET gift_card_pool_id = $1",
            &[&master],
        )
        .await
        .unwrap();

    let (status, body) = app
        .mark(world.session_id, &Auth::user(world.agent), 1)
        .await;

    assert_eq!(status, 201, "{body}");
    assert_eq!(body["reward"]["status"], "provisioned");
    counters_match_rows(&app, master).await;
}

#[tokio::test]
async fn the_reward_sms_carries_the_plaintext_code_while_the_database_keeps_ciphertext() {
    let app = TestApp::spawn().await;
    let world = app.world(2).await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path_regex(r"/Messages\.json$"))
        .respond_with(wiremock::ResponseTemplate::new(201).set_body_json(
            serde_json::json!({ "sid": "SMfedcba9876543210fedcba9876543210", "status": "queued" }),
        ))
        .expect(1)
        .mount(&app.twilio)
        .await;

    let (status, body) = app
        .mark(world.session_id, &Auth::user(world.agent), 1)
        .await;
    assert_eq!(status, 201, "{body}");
    let card_id: Uuid = body["reward"]["gift_card_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    let mut sent = None;
    for _ in 0..100 {
        let requests = app.twilio.received_requests().await.unwrap();
        if let Some(request) = requests
            .into_iter()
            .find(|r| r.url.path().ends_with("/Messages.json"))
        {
            sent = Some(request);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let sent = sent.expect("the outbox worker sent the SMS");
    let form: std::collections::HashMap<String, String> =
        form_urlencoded::parse(&sent.body).into_owned().collect();
    let stored: String = app
        .db
        .query_one(
            "SELECT card_code FROM gift_cards WHERE id = $1",
            &[&card_id],
        )
        .await
        .unwrap()
        .get(0);
    let code = secrecy::ExposeSecret::expose_secret(&cipher().decrypt(&stored).unwrap()).to_owned();
    assert!(
        form["Body"].contains(&code),
        "the SMS names the card's code"
    );
    assert!(
        form["Body"].starts_with("Hi Dana, your Amazon card worth $25"),
        "template rendered"
    );
    assert_eq!(form["To"], "+14155550100");
    assert!(stored.starts_with("v1:") && !stored.contains(&code));
    for _ in 0..100 {
        if app
            .count("SELECT count(*) FROM call_conditions_met WHERE delivery_status = 'sent'")
            .await
            == 1
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the delivery never became sent");
}

#[tokio::test]
async fn a_delivery_report_that_overtakes_the_worker_is_applied_once_the_sid_is_stored() {
    let app = TestApp::spawn().await;
    let world = app.world(1).await;
    let sid = "SM00000000000000000000000000e4a100".to_owned();
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .and(wiremock::matchers::path_regex(r"/Messages\.json$"))
        .respond_with(
            wiremock::ResponseTemplate::new(201)
                .set_body_json(serde_json::json!({ "sid": sid, "status": "queued" }))
                .set_delay(std::time::Duration::from_millis(1500)),
        )
        .mount(&app.twilio)
        .await;

    let (status, _) = app
        .mark(world.session_id, &Auth::user(world.agent), 1)
        .await;
    assert_eq!(status, 201);
    let early = calltrack::twilio::simulated::sms_status(&sid, "+14155550100", "delivered", None);
    let response = app.post_signed("/twilio/sms-status", &early).await;
    assert_eq!(response.status(), 204);
    assert_eq!(
        app.count("SELECT count(*) FROM sms_status_parked").await,
        1,
        "the report waits"
    );

    for _ in 0..100 {
        if app
            .count("SELECT count(*) FROM call_conditions_met WHERE delivery_status = 'delivered'")
            .await
            == 1
        {
            assert_eq!(app.count("SELECT count(*) FROM sms_status_parked").await, 0);
            assert_eq!(
                app.count("SELECT count(*) FROM gift_cards WHERE status = 'delivered'")
                    .await,
                1
            );
            let delivered: i32 = app
                .db
                .query_one(
                    "SELECT delivered_cards FROM gift_card_pools WHERE id = $1",
                    &[&world.pool_id],
                )
                .await
                .unwrap()
                .get(0);
            assert_eq!(delivered, 1);
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the early delivery report was never applied");
}

/// A withheld caller linked by code to a recipient with no phone on file.
async fn phoneless_session(app: &TestApp, world: &crate::world::World, auth: &Auth) -> Uuid {
    let recipient: Uuid = app
        .db
        .query_one(
            "INSERT INTO recipients (campaign_id, redemption_code, first_name, phone)
             VALUES ($1, 'RC-NOPHONE', 'Robin', NULL) RETURNING id",
            &[&world.campaign.id],
        )
        .await
        .unwrap()
        .get(0);
    let call = app.start_call("anonymous").await;
    let session_id: Uuid = app.session(&call.call_sid).await["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let (status, body) = app
        .api_post(
            &format!("/api/v1/call-sessions/{session_id}/recipient"),
            auth,
            &serde_json::json!({ "redemption_code": "RC-NOPHONE" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["recipient"]["id"], recipient.to_string());
    session_id
}

#[tokio::test]
async fn a_reward_with_no_phone_to_go_to_claims_no_card_and_is_shown_as_no_phone() {
    let app = TestApp::spawn().await;
    let world = app.world(2).await;
    let auth = Auth::user(world.agent);
    let session_id = phoneless_session(&app, &world, &auth).await;

    let (status, body) = app.mark(session_id, &auth, 1).await;

    assert_eq!(status, 201, "{body}");
    assert_eq!(body["reward"]["status"], "no_phone");
    assert_eq!(body["reward"]["gift_card_id"], Value::Null);
    assert_eq!(body["reward"]["delivery_status"], Value::Null);
    assert_eq!(app.count("SELECT count(*) FROM sms_outbox").await, 0);
    assert_eq!(
        app.count("SELECT count(*) FROM gift_cards WHERE status = 'available'")
            .await,
        2,
        "no card was claimed"
    );
    counters_match_rows(&app, world.pool_id).await;
    let (status, detail) = app
        .api_get(&format!("/api/v1/call-sessions/{session_id}"), &auth)
        .await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["conditions_met"][0]["reward_status"], "no_phone");
    assert_eq!(detail["conditions_met"][0]["delivery_status"], Value::Null);
    let (status, stats) = app
        .api_get(
            &format!("/api/v1/campaigns/{}/call-stats", world.campaign.id),
            &auth,
        )
        .await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["rewards_no_phone"], 1);
    assert_eq!(stats["rewards_pending"], 0);
    assert_eq!(stats["rewards_provisioned"], 0);
}

#[tokio::test]
async fn the_reward_sms_goes_to_the_recipients_phone_on_file_not_to_a_caller_linked_by_code() {
    let app = TestApp::spawn().await;
    let world = app.world(1).await;
    let auth = Auth::user(world.agent);
    let stranger = app.start_call("+16465550199").await;
    let session_id: Uuid = app.session(&stranger.call_sid).await["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let code = app.redemption_code(world.recipient_id).await;
    let (status, body) = app
        .api_post(
            &format!("/api/v1/call-sessions/{session_id}/recipient"),
            &auth,
            &serde_json::json!({ "redemption_code": code }),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let (status, body) = app.mark(session_id, &auth, 1).await;

    assert_eq!(status, 201, "{body}");
    assert_eq!(body["reward"]["status"], "provisioned");
    let to: String = app
        .db
        .query_one("SELECT to_phone FROM sms_outbox", &[])
        .await
        .unwrap()
        .get(0);
    // The world's recipient's phone, typed "(415) 555-0100", not the caller's number.
    assert_eq!(to, "+14155550100");
}

#[tokio::test]
async fn an_unknown_stored_reward_status_is_an_error_answer_not_a_crash_or_a_guess() {
    let app = TestApp::spawn().await;
    let world = app.world(1).await;
    let auth = Auth::user(world.agent);
    assert_eq!(app.mark(world.session_id, &auth, 2).await.0, 201);
    app.db
        .batch_execute(
            "ALTER TABLE call_conditions_met DROP CONSTRAINT call_conditions_met_reward_status_check;
             UPDATE call_conditions_met SET reward_status = 'sent_by_pigeon';",
        )
        .await
        .unwrap();

    let (status, body) = app
        .api_get(
            &format!("/api/v1/call-sessions/{}", world.session_id),
            &auth,
        )
        .await;

    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"]["code"], "internal");
    assert!(!body.to_string().contains("no_reward_configured"), "{body}");
}
