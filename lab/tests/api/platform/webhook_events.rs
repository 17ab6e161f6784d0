//! The webhooks' events outbox (V16) on an adopted platform database, whose status columns
//! may be the platform's enums: a call, an agent's condition and a delivered reward are each
//! written once for the client's endpoint.

use calltrack::domain::WebhookEvent;
use serde_json::json;
use uuid::Uuid;

use super::adoption::{
    Platform, adopt, on_each_platform, platform_database, platform_user, seed_platform_campaign,
};
use crate::fast::auto_conditions::answered_call;
use crate::fast::webhook_events::{messages, of_event, subscribe};
use crate::helpers::{TRACKED_NUMBER, TestApp};
use crate::world::{Auth, CALLER};

on_each_platform!(an_adopted_database_writes_each_event_once_for_the_clients_endpoint);

async fn an_adopted_database_writes_each_event_once_for_the_clients_endpoint(platform: Platform) {
    let config = platform_database(platform).await;
    adopt(&config).await;
    let app = TestApp::builder()
        .databases(config.clone(), config)
        .spawn()
        .await;
    let (campaign, client_id, recipient) = seed_platform_campaign(&app).await;
    let endpoint = subscribe(&app, client_id, &WebhookEvent::ALL).await;
    let agent = platform_user(&app.db, "call_center", client_id).await;
    app.wait_for_routing(TRACKED_NUMBER).await;

    let (call, webhooks) = answered_call(CALLER, 45);
    for (path, form) in &webhooks {
        let response = app.post_signed(path, form).await;
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
    }
    let session_id: Uuid = app.session(&call.call_sid).await["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let (status, marked) = app.mark(session_id, &Auth::user(agent), 1).await;
    assert_eq!(status, 201, "{marked}");
    // The platform's own code settles a delivery (its enum, where it has one).
    for _ in 0..2 {
        app.db
            .execute(
                "UPDATE call_conditions_met SET delivery_status = 'delivered'",
                &[],
            )
            .await
            .unwrap();
    }

    let all = messages(&app, endpoint).await;
    assert_eq!(all.len(), 4, "{all:?}");
    let completed = of_event(&app, endpoint, WebhookEvent::CallCompleted).await;
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0].payload["data"]["match_status"], "matched");
    assert_eq!(completed[0].payload["data"]["call_status"], "completed");
    assert_eq!(completed[0].payload["data"]["call_outcome"], "answered");
    assert_eq!(completed[0].payload["data"]["caller"], "+1415***0100");
    assert_eq!(
        completed[0].payload["data"]["recipient_id"],
        json!(recipient)
    );
    let met = of_event(&app, endpoint, WebhookEvent::ConditionMet).await;
    assert_eq!(met.len(), 1);
    assert_eq!(
        met[0].payload["data"]["condition_name"],
        "Booked an appointment"
    );
    assert_eq!(met[0].payload["data"]["campaign_id"], json!(campaign.id));
    assert_eq!(met[0].payload["data"]["met_by"], "agent");
    assert_eq!(
        of_event(&app, endpoint, WebhookEvent::RewardDelivered)
            .await
            .len(),
        1
    );
    assert_eq!(
        of_event(&app, endpoint, WebhookEvent::CallStarted)
            .await
            .len(),
        1
    );
}
