//! Setting up a campaign without SQL on an adopted platform database, where
//! `campaigns.status` is the platform's enum and the (campaign, condition number) indexes
//! are not unique.

use serde_json::json;
use uuid::Uuid;

use super::adoption::{Platform, adopt, platform_database, platform_user, seed_platform_campaign};
use crate::helpers::TestApp;
use crate::platform::adoption::on_each_platform;
use crate::world::Auth;

on_each_platform!(a_campaign_its_condition_and_its_pool_are_set_up_through_the_api);

async fn a_campaign_its_condition_and_its_pool_are_set_up_through_the_api(platform: Platform) {
    let config = platform_database(platform).await;
    adopt(&config).await;
    let app = TestApp::builder()
        .databases(config.clone(), config)
        .spawn()
        .await;
    let (_, client_id, _) = seed_platform_campaign(&app).await;
    let manager = Auth::user(platform_user(&app.db, "company_owner", client_id).await);
    let status_type: String = app
        .db
        .query_one(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute
             WHERE attrelid = 'campaigns'::regclass AND attname = 'status'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(status_type, "campaign_status", "the platform's enum");

    let (status, created) = app
        .api_post(
            "/api/v1/campaigns",
            &manager,
            &json!({ "name": "Platform mailer", "status": "mailed", "mail_date": "2026-05-01" }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["status"], "mailed");
    let campaign = created["id"].as_str().unwrap().to_owned();
    let (status, changed) = app
        .api_patch(
            &format!("/api/v1/campaigns/{campaign}"),
            &manager,
            &json!({ "status": "active", "recording_retention_days": 30 }),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        (&changed["status"], &changed["recording_retention_days"]),
        (&json!("active"), &json!(30))
    );

    let (status, pool) = app
        .api_post(
            "/api/v1/gift-card-pools",
            &manager,
            &json!({ "pool_name": "Amazon $25", "brand_name": "Amazon", "value_amount": "25" }),
        )
        .await;
    assert_eq!(status, 201, "{pool}");
    let pool_id: Uuid = pool["id"].as_str().unwrap().parse().unwrap();
    let path = format!("/api/v1/campaigns/{campaign}/conditions/1");
    let put = |body: serde_json::Value| {
        let request = app.http.put(format!("{}{path}", app.address)).json(&body);
        let Auth::Bearer(token) = &manager else {
            unreachable!()
        };
        request.bearer_auth(token).send()
    };
    let response = put(json!({
        "condition_name": "Booked an appointment",
        "trigger_type": "call",
        "auto_min_talk_seconds": 60,
        "reward": { "gift_card_pool_id": pool_id, "sms_template": "Your code: {card_code}" },
    }))
    .await
    .unwrap();
    assert_eq!(response.status(), 201);
    let response = put(json!({
        "condition_name": "Kept the appointment",
        "trigger_type": "crm_event",
        "crm_event_name": "appointment_kept",
        "reward": { "gift_card_pool_id": pool_id },
    }))
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let condition: serde_json::Value = response.json().await.unwrap();
    assert_eq!(condition["trigger_type"], "crm_event", "{condition}");
    assert_eq!(condition["reward"]["value_amount"], "25.00", "{condition}");

    let loaded = app
        .http
        .post(format!(
            "{}/api/v1/gift-card-pools/{pool_id}/cards",
            app.address
        ))
        .header("content-type", "text/csv")
        .bearer_auth(match &manager {
            Auth::Bearer(token) => token.as_str(),
            _ => unreachable!(),
        })
        .body("card_code,pin_code,value_amount\nPLAT-1,,\n")
        .send()
        .await
        .unwrap();
    assert_eq!(loaded.status(), 200);
    let (status, list) = app
        .api_get(
            &format!("/api/v1/campaigns/{campaign}/conditions"),
            &manager,
        )
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["items"][0]["reward"]["available_cards"], 1, "{list}");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM audit_log WHERE entity_id IN ('{campaign}', '{pool_id}')"
        ))
        .await,
        4
    );
}
