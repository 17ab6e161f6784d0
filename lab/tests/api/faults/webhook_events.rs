//! A call spooled while the database was away is reported once its replay writes it: one
//! call.started and one call.completed, however many times Twilio retried the call.

use calltrack::domain::WebhookEvent;
use calltrack::twilio::simulated::SimulatedCall;
use chrono::Utc;

use super::unreachable_database;
use crate::fast::webhook_events::{messages, of_event, subscribe};
use crate::helpers::{FORWARD_TO, TRACKED_NUMBER, TestApp, test_database};

#[tokio::test]
async fn a_call_spooled_during_an_outage_is_reported_once_when_it_is_replayed() {
    let db_config = test_database().await;
    let warm = TestApp::builder()
        .databases(db_config.clone(), db_config.clone())
        .spawn()
        .await;
    let campaign = warm.seed_campaign().await;
    let client_id = warm
        .db
        .query_one(
            "SELECT client_id FROM campaigns WHERE id = $1",
            &[&campaign.id],
        )
        .await
        .unwrap()
        .get(0);
    let endpoint = subscribe(&warm, client_id, &WebhookEvent::ALL).await;
    warm.wait_for_routing(TRACKED_NUMBER).await;
    let spool_dir = warm.spool_dir.display().to_string();
    warm.stop().await;

    let outage = TestApp::builder()
        .databases(unreachable_database(), db_config.clone())
        .env(&[
            ("CALLTRACK_SPOOL_DIR", &spool_dir),
            ("VOICE_DEADLINE_MS", "300"),
        ])
        .spawn()
        .await;
    let call = SimulatedCall::new("+14155550161", TRACKED_NUMBER, FORWARD_TO);
    for _ in 0..3 {
        assert_eq!(
            outage
                .post_signed("/twilio/voice", &call.voice())
                .await
                .status(),
            200
        );
    }
    for (path, form) in [
        ("/twilio/status", call.child_completed(42, Utc::now())),
        (
            "/twilio/dial-complete",
            call.dial_action("completed", 42, true),
        ),
        ("/twilio/status", call.parent_completed(50, Utc::now())),
        ("/twilio/status", call.parent_completed(50, Utc::now())),
    ] {
        assert!(outage.post_signed(path, &form).await.status().is_success());
    }
    outage.stop().await;
    let checker = calltrack::db::pool::connect(&db_config).await.unwrap();
    let written: i64 = checker
        .query_one("SELECT count(*) FROM webhook_messages", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(written, 0, "nothing is reported before it is written");

    let recovered = TestApp::builder()
        .databases(db_config.clone(), db_config)
        .env(&[("CALLTRACK_SPOOL_DIR", &spool_dir)])
        .spawn()
        .await;
    let done = format!(
        "SELECT count(*) FROM call_sessions WHERE twilio_call_sid = '{}'
         AND call_status = 'completed' AND talk_seconds = 42",
        call.call_sid
    );
    assert_eq!(recovered.wait_for_count(&done, 1, 10).await, 1);

    let started = of_event(&recovered, endpoint, WebhookEvent::CallStarted).await;
    let completed = of_event(&recovered, endpoint, WebhookEvent::CallCompleted).await;
    assert_eq!((started.len(), completed.len()), (1, 1));
    assert_eq!(completed[0].payload["data"]["call_outcome"], "answered");
    assert_eq!(completed[0].payload["data"]["caller"], "+1415***0161");
    assert_eq!(messages(&recovered, endpoint).await.len(), 2);
}
