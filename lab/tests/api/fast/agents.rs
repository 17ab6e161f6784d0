use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::TestApp;
use crate::world::{Auth, JWT_SECRET, token_with};

fn assert_error(status: u16, body: &Value, expected_status: u16, code: &str) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn no_credentials_bad_signatures_and_expired_tokens_are_401() {
    let app = TestApp::spawn().await;
    let world = app.world(1).await;
    let path = format!("/api/v1/call-sessions/{}", world.session_id);

    for auth in [
        Auth::None,
        Auth::Bearer(token_with(world.agent, "not-the-secret", 3600)),
        Auth::Bearer(token_with(world.agent, JWT_SECRET, -3600)),
        Auth::Bearer("not.a.jwt".into()),
        Auth::ApiKey("ck_unknown".into()),
    ] {
        let (status, body) = app.api_get(&path, &auth).await;
        assert_error(status, &body, 401, "unauthorized");
    }
}

#[tokio::test]
async fn an_agent_reads_a_session_of_their_client_with_everything_on_screen() {
    let app = TestApp::spawn().await;
    let world = app.world(1).await;

    let (status, body) = app
        .api_get(
            &format!("/api/v1/call-sessions/{}", world.session_id),
            &Auth::user(world.agent),
        )
        .await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], world.session_id.to_string());
    assert_eq!(body["match_status"], "matched");
    assert_eq!(body["campaign_name"], "Spring mailer");
    assert_eq!(body["recipient"]["id"], world.recipient_id.to_string());
    assert_eq!(body["recipient"]["first_name"], "Dana");
    let numbers: Vec<i64> = body["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["condition_number"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, vec![1, 2], "only active conditions");
    assert_eq!(
        body["conditions"][0]["reward_description"],
        "$25 Amazon gift card"
    );
    assert_eq!(body["conditions_met"], json!([]));
}

#[tokio::test]
async fn another_clients_session_is_404_for_agents_owners_and_api_keys() {
    let app = TestApp::spawn().await;
    let world = app.world(1).await;
    let (_, other_session) = app.other_client_session().await;
    let owner = app
        .seed_user(&["agency_owner"], None, Some(world.org_id))
        .await;
    let key = app.seed_api_key(world.client_id).await;

    for auth in [
        Auth::user(world.agent),
        Auth::user(owner),
        Auth::ApiKey(key.clone()),
    ] {
        let (status, body) = app
            .api_get(&format!("/api/v1/call-sessions/{other_session}"), &auth)
            .await;
        assert_error(status, &body, 404, "not_found");
        let (status, body) = app.mark(other_session, &auth, 1).await;
        assert_error(status, &body, 404, "not_found");
        let (status, _) = app
            .api_get(
                &format!("/api/v1/call-sessions/{}", world.session_id),
                &auth,
            )
            .await;
        assert_eq!(status, 200, "their own client's session stays visible");
    }
}

#[tokio::test]
async fn a_user_without_a_role_is_403() {
    let app = TestApp::spawn().await;
    let world = app.world(1).await;
    let nobody = app.seed_user(&[], Some(world.client_id), None).await;

    let (status, body) = app
        .api_get("/api/v1/call-sessions", &Auth::user(nobody))
        .await;

    assert_error(status, &body, 403, "forbidden");
}

#[tokio::test]
async fn admins_and_tech_support_see_every_client() {
    let app = TestApp::spawn().await;
    let world = app.world(1).await;
    let (_, other_session) = app.other_client_session().await;

    for role in ["admin", "tech_support"] {
        let user = app.seed_user(&[role], None, None).await;
        let (status, body) = app
            .api_get("/api/v1/call-sessions", &Auth::user(user))
            .await;
        assert_eq!(status, 200);
        let ids: Vec<&str> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap())
            .collect();
        assert!(
            ids.contains(&world.session_id.to_string().as_str()),
            "{role}"
        );
        assert!(ids.contains(&other_session.to_string().as_str()), "{role}");
    }
}

#[tokio::test]
async fn an_api_key_lists_only_its_clients_sessions() {
    let app = TestApp::spawn().await;
    let world = app.world(1).await;
    app.other_client_session().await;
    let key = app.seed_api_key(world.client_id).await;

    let (status, body) = app
        .api_get("/api/v1/call-sessions", &Auth::ApiKey(key))
        .await;

    assert_eq!(status, 200, "{body}");
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], world.session_id.to_string());
    assert_eq!(body["next_cursor"], Value::Null);
}

#[tokio::test]
async fn the_list_pages_newest_first_with_a_cursor_and_filters() {
    let app = TestApp::spawn().await;
    let world = app.world(1).await;
    for n in 0..4 {
        app.start_call(&format!("+1646555010{n}")).await;
    }
    let auth = Auth::user(world.agent);

    let (_, first) = app.api_get("/api/v1/call-sessions?limit=2", &auth).await;
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let (_, second) = app
        .api_get(
            &format!("/api/v1/call-sessions?limit=2&cursor={cursor}"),
            &auth,
        )
        .await;
    let cursor = second["next_cursor"].as_str().unwrap().to_owned();
    let (_, third) = app
        .api_get(
            &format!("/api/v1/call-sessions?limit=2&cursor={cursor}"),
            &auth,
        )
        .await;

    let pages: Vec<&Value> = [&first, &second, &third]
        .into_iter()
        .flat_map(|p| p["items"].as_array().unwrap())
        .collect();
    assert_eq!(pages.len(), 5);
    assert_eq!(third["next_cursor"], Value::Null);
    let created: Vec<&str> = pages
        .iter()
        .map(|p| p["created_at"].as_str().unwrap())
        .collect();
    assert!(
        created.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {created:?}"
    );
    let ids: std::collections::HashSet<&str> =
        pages.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 5, "no session twice");

    let (_, matched) = app
        .api_get("/api/v1/call-sessions?match_status=matched", &auth)
        .await;
    assert_eq!(matched["items"].as_array().unwrap().len(), 1);
    let (_, by_campaign) = app
        .api_get(
            &format!(
                "/api/v1/call-sessions?campaign_id={}&call_status=ringing",
                world.campaign.id
            ),
            &auth,
        )
        .await;
    assert_eq!(by_campaign["items"].as_array().unwrap().len(), 5);
    for bad in [
        "limit=0",
        "limit=1000",
        "call_status=exploded",
        "match_status=maybe",
        "cursor=garbage",
        "campaign_id=nope",
    ] {
        let (status, body) = app
            .api_get(&format!("/api/v1/call-sessions?{bad}"), &auth)
            .await;
        assert_error(status, &body, 400, "invalid_request");
    }
}

#[tokio::test]
async fn row_level_security_hides_other_clients_rows_even_without_a_handler_check() {
    let app = TestApp::spawn().await;
    let world = app.world(1).await;
    let (other_client, other_session) = app.other_client_session().await;
    // Reward data of both clients: pools (and an admin master pool), reward configs,
    // conditions and queued SMS.
    let (status, _) = app
        .mark(world.session_id, &Auth::user(world.agent), 1)
        .await;
    assert_eq!(status, 201);
    let own_sms: Uuid = app
        .db
        .query_one("SELECT id FROM sms_outbox", &[])
        .await
        .unwrap()
        .get(0);
    let master_pool = app.seed_pool(None, 1).await;
    app.db
        .execute(
            "WITH s AS (SELECT id, campaign_id FROM call_sessions WHERE id = $1),
                  p AS (INSERT INTO gift_card_pools (client_id, pool_name, value_amount)
                        VALUES ($2, 'Other pool', 10.00) RETURNING id),
                  rc AS (INSERT INTO campaign_reward_configs (campaign_id, condition_number, gift_card_pool_id)
                         SELECT s.campaign_id, 1, p.id FROM s, p),
                  cc AS (INSERT INTO campaign_conditions (campaign_id, condition_number, condition_name, trigger_type, is_active)
                         SELECT campaign_id, 1, 'Other condition', 'call', true FROM s),
                  r AS (INSERT INTO recipients (campaign_id, redemption_code, phone)
                        SELECT campaign_id, 'RC-OTHER', '+14155550999' FROM s RETURNING id, campaign_id),
                  m AS (INSERT INTO call_conditions_met (call_session_id, campaign_id, recipient_id, condition_number)
                        SELECT $1, r.campaign_id, r.id, 1 FROM r RETURNING id)
             INSERT INTO sms_outbox (condition_met_id, to_phone) SELECT id, '+14155550999' FROM m",
            &[&other_session, &other_client],
        )
        .await
        .unwrap();
    let scope = calltrack::auth::ClientScope::Clients(vec![world.client_id]);
    let pool = calltrack::db::pool::pool(app.db_config.clone(), 2).unwrap();
    let mut conn = pool.get().await.unwrap();

    let tx = conn.transaction().await.unwrap();
    calltrack::db::access::restrict(&tx, &scope, Some(world.agent))
        .await
        .unwrap();
    let sessions: Vec<Uuid> = tx
        .query("SELECT id FROM call_sessions", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let clients: Vec<Uuid> = tx
        .query("SELECT id FROM clients", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let numbers: i64 = tx
        .query_one("SELECT count(*) FROM tracked_phone_numbers", &[])
        .await
        .unwrap()
        .get(0);
    let cards: i64 = tx
        .query_one("SELECT count(*) FROM gift_cards", &[])
        .await
        .unwrap()
        .get(0);
    let pools: Vec<Uuid> = tx
        .query("SELECT id FROM gift_card_pools", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let reward_configs: i64 = tx
        .query_one("SELECT count(*) FROM campaign_reward_configs", &[])
        .await
        .unwrap()
        .get(0);
    let conditions: i64 = tx
        .query_one("SELECT count(*) FROM campaign_conditions", &[])
        .await
        .unwrap()
        .get(0);
    let sms: Vec<Uuid> = tx
        .query("SELECT id FROM sms_outbox", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let stolen = tx
        .execute(
            "UPDATE call_sessions SET notes = 'x' WHERE id = $1",
            &[&other_session],
        )
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    // The all-clients scope (admins) sees every pool, the master pool included.
    let tx = conn.transaction().await.unwrap();
    calltrack::db::access::restrict(&tx, &calltrack::auth::ClientScope::All, None)
        .await
        .unwrap();
    let all_pools: Vec<Uuid> = tx
        .query("SELECT id FROM gift_card_pools", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let all_sms: i64 = tx
        .query_one("SELECT count(*) FROM sms_outbox", &[])
        .await
        .unwrap()
        .get(0);
    tx.rollback().await.unwrap();

    assert_eq!(sessions, vec![world.session_id]);
    assert_eq!(clients, vec![world.client_id]);
    assert!(!clients.contains(&other_client));
    assert_eq!(numbers, 1);
    assert_eq!(cards, 1);
    assert_eq!(stolen, 0, "another client's row cannot be updated either");
    assert_eq!(
        pools,
        vec![world.pool_id],
        "neither the other's nor the master pool"
    );
    assert_eq!(reward_configs, 1);
    assert_eq!(conditions, 3);
    assert_eq!(sms, vec![own_sms]);
    assert_eq!(all_pools.len(), 3);
    assert!(all_pools.contains(&master_pool));
    assert_eq!(all_sms, 2);
}

#[tokio::test]
async fn an_unmatched_call_is_409_until_linked_by_redemption_code() {
    let app = TestApp::spawn().await;
    let world = app.world(1).await;
    let stranger = app.start_call("+16465550199").await;
    let session_id: Uuid = app.session(&stranger.call_sid).await["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let auth = Auth::user(world.agent);
    let code = app.redemption_code(world.recipient_id).await;

    let (status, body) = app.mark(session_id, &auth, 1).await;
    assert_error(status, &body, 409, "no_recipient");

    let path = format!("/api/v1/call-sessions/{session_id}/recipient");
    let (status, body) = app
        .api_post(&path, &auth, &json!({ "redemption_code": "NOPE-123" }))
        .await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = app
        .api_post(&path, &auth, &json!({ "redemption_code": code }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["match_status"], "matched");
    assert_eq!(body["recipient"]["id"], world.recipient_id.to_string());

    let (status, body) = app.mark(session_id, &auth, 1).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["reward"]["status"], "provisioned");
    let audits: i64 = app
        .count(
            "SELECT count(*) FROM audit_log WHERE action IN ('recipient_linked', 'condition_met')",
        )
        .await;
    assert_eq!(audits, 2);
}

#[tokio::test]
async fn malformed_api_bodies_are_400_in_the_error_shape() {
    let app = TestApp::spawn().await;
    let world = app.world(1).await;
    let auth = Auth::user(world.agent);
    let path = format!("/api/v1/call-sessions/{}/conditions", world.session_id);

    for body in [json!({}), json!({ "condition_number": "one" }), json!([1])] {
        let (status, response) = app.api_post(&path, &auth, &body).await;
        assert_error(status, &response, 400, "invalid_request");
    }
    let (status, response) = app.api_get("/api/v1/call-sessions/not-a-uuid", &auth).await;
    assert_error(status, &response, 404, "not_found");
}

#[tokio::test]
async fn the_openapi_document_describes_the_api() {
    let app = TestApp::spawn().await;
    let response = app
        .http
        .get(format!("{}/api/v1/openapi.json", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let document: Value = response.json().await.unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    insta::assert_json_snapshot!("openapi", document);
}
