//! Setting up a campaign without SQL: campaigns, conditions and rewards, pools and cards
//! through the API, each write audited and scoped to the caller's clients.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::TestApp;
use crate::world::{Auth, World};

/// A company owner of the world's client (their only one).
async fn owner(app: &TestApp, world: &World) -> Auth {
    Auth::user(
        app.seed_user(&["company_owner"], Some(world.client_id), None)
            .await,
    )
}

async fn audits(app: &TestApp, action: &str) -> i64 {
    app.db
        .query_one(
            "SELECT count(*) FROM audit_log WHERE action = $1",
            &[&action],
        )
        .await
        .unwrap()
        .get(0)
}

async fn api_put(app: &TestApp, path: &str, auth: &Auth, body: &Value) -> (u16, Value) {
    let request = app.http.put(format!("{}{path}", app.address)).json(body);
    let request = match auth {
        Auth::None => request,
        Auth::Bearer(token) => request.bearer_auth(token),
        Auth::ApiKey(key) => request.header("x-api-key", key),
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post_csv(app: &TestApp, pool: Uuid, auth: &Auth, csv: &str) -> (u16, Value) {
    let request = app
        .http
        .post(format!(
            "{}/api/v1/gift-card-pools/{pool}/cards",
            app.address
        ))
        .header("content-type", "text/csv")
        .body(csv.to_owned());
    let request = match auth {
        Auth::None => request,
        Auth::Bearer(token) => request.bearer_auth(token),
        Auth::ApiKey(key) => request.header("x-api-key", key),
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_manager_creates_a_campaign_for_their_only_client_and_changes_it() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    let auth = owner(&app, &world).await;

    let (status, created) = app
        .api_post(
            "/api/v1/campaigns",
            &auth,
            &json!({ "name": "  Spring mailer ", "mail_date": "2026-04-01" }),
        )
        .await;

    assert_eq!(status, 201, "{created}");
    assert_eq!(created["name"], "Spring mailer");
    assert_eq!(created["status"], "draft");
    assert_eq!(created["client_id"], world.client_id.to_string());
    assert_eq!(created["mail_date"], "2026-04-01");
    assert_eq!(created["recording_retention_days"], Value::Null);
    assert_eq!(created["total_calls"], 0);
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, shown) = app.api_get(&format!("/api/v1/campaigns/{id}"), &auth).await;
    assert_eq!(status, 200);
    assert_eq!(shown, created);

    let (status, changed) = app
        .api_patch(
            &format!("/api/v1/campaigns/{id}"),
            &auth,
            &json!({ "status": "mailed", "mail_date": null, "recording_retention_days": 90 }),
        )
        .await;

    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["status"], "mailed");
    assert_eq!(changed["mail_date"], Value::Null);
    assert_eq!(changed["recording_retention_days"], 90);
    assert_eq!(changed["name"], "Spring mailer");
    let (_, cleared) = app
        .api_patch(
            &format!("/api/v1/campaigns/{id}"),
            &auth,
            &json!({ "recording_retention_days": null, "name": "Spring 2026" }),
        )
        .await;
    assert_eq!(cleared["recording_retention_days"], Value::Null);
    assert_eq!(cleared["name"], "Spring 2026");
    assert_eq!(cleared["status"], "mailed");
    assert_eq!(audits(&app, "campaign_created").await, 1);
    assert_eq!(audits(&app, "campaign_updated").await, 2);
    let creator: Option<Uuid> = app
        .db
        .query_one(
            "SELECT created_by_user_id FROM campaigns WHERE id = $1::text::uuid",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert!(creator.is_some());

    // An API key acts for its client, which it need not name.
    let key = Auth::ApiKey(app.seed_api_key(world.client_id).await);
    let (status, by_key) = app
        .api_post(
            "/api/v1/campaigns",
            &key,
            &json!({ "name": "Fall", "status": "ready" }),
        )
        .await;
    assert_eq!(status, 201, "{by_key}");
    assert_eq!(by_key["status"], "ready");
}

#[tokio::test]
async fn campaign_writes_are_refused_in_words() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    let auth = owner(&app, &world).await;
    let (other_client, _) = app.other_client_session().await;
    let other_campaign: Uuid = app
        .db
        .query_one(
            "SELECT id FROM campaigns WHERE client_id = $1",
            &[&other_client],
        )
        .await
        .unwrap()
        .get(0);
    let admin = Auth::user(app.seed_user(&["admin"], None, None).await);
    let agent = Auth::user(world.agent);
    let campaign = format!("/api/v1/campaigns/{}", world.campaign.id);

    let cases: Vec<(&str, &Auth, Value, u16, &str)> = vec![
        (
            "post",
            &Auth::None,
            json!({"name": "x"}),
            401,
            "unauthorized",
        ),
        ("post", &agent, json!({"name": "x"}), 403, "forbidden"),
        (
            "post",
            &auth,
            json!({"name": "x", "client_id": other_client}),
            404,
            "not_found",
        ),
        (
            "post",
            &auth,
            json!({"name": "x", "budget": 3}),
            400,
            "invalid_request",
        ),
        (
            "post",
            &auth,
            json!({"name": "x", "status": "paused"}),
            422,
            "invalid_campaign",
        ),
        (
            "post",
            &auth,
            json!({"name": "   "}),
            422,
            "invalid_campaign",
        ),
        (
            "post",
            &auth,
            json!({"name": "n".repeat(201)}),
            422,
            "invalid_campaign",
        ),
        // An admin sees every client, so must say which.
        ("post", &admin, json!({"name": "x"}), 422, "client_required"),
        (
            "patch",
            &auth,
            json!({"status": "paused"}),
            422,
            "invalid_campaign",
        ),
        (
            "patch",
            &auth,
            json!({"recording_retention_days": 0}),
            422,
            "invalid_campaign",
        ),
        (
            "patch",
            &auth,
            json!({"recording_retention_days": 36501}),
            422,
            "invalid_campaign",
        ),
        (
            "patch",
            &auth,
            json!({"deleted_at": null}),
            400,
            "invalid_request",
        ),
        ("patch", &agent, json!({"name": "x"}), 403, "forbidden"),
    ];
    for (method, who, body, expected, expected_code) in cases {
        let (status, answer) = match method {
            "post" => app.api_post("/api/v1/campaigns", who, &body).await,
            _ => app.api_patch(&campaign, who, &body).await,
        };
        assert_eq!(status, expected, "{method} {body}: {answer}");
        assert_eq!(code(&answer), expected_code, "{method} {body}: {answer}");
        assert!(answer["error"]["message"].is_string());
    }
    let (status, answer) = app
        .api_patch(
            &format!("/api/v1/campaigns/{other_campaign}"),
            &auth,
            &json!({"name": "mine now"}),
        )
        .await;
    assert_eq!(status, 404, "{answer}");
    let (status, answer) = app
        .api_post(
            "/api/v1/campaigns",
            &admin,
            &json!({"name": "For the other client", "client_id": other_client}),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(audits(&app, "campaign_created").await, 1);
    assert_eq!(audits(&app, "campaign_updated").await, 0);
}

#[tokio::test]
async fn a_condition_is_created_then_replaced_and_listed_with_its_pools_stock() {
    let app = TestApp::spawn().await;
    let world = app.world(3).await;
    let auth = owner(&app, &world).await;
    let path = format!("/api/v1/campaigns/{}/conditions/4", world.campaign.id);
    let body = json!({
        "condition_name": "Kept the appointment",
        "trigger_type": "crm_event",
        "crm_event_name": "appointment_kept",
        "reward": {
            "gift_card_pool_id": world.pool_id,
            "reward_description": "$25 Amazon gift card",
            "sms_template": "Hi {first_name}, here is {card_code}"
        }
    });

    let (status, created) = api_put(&app, &path, &auth, &body).await;

    assert_eq!(status, 201, "{created}");
    assert_eq!(created["condition_number"], 4);
    assert_eq!(created["trigger_type"], "crm_event");
    assert_eq!(created["crm_event_name"], "appointment_kept");
    assert_eq!(created["is_active"], true);
    let reward = &created["reward"];
    assert_eq!(reward["gift_card_pool_id"], world.pool_id.to_string());
    assert_eq!(reward["pool_name"], "Amazon $25");
    assert_eq!(reward["brand_name"], "Amazon");
    assert_eq!(reward["value_amount"], "25.00");
    assert_eq!(reward["available_cards"], 3);
    assert_eq!(reward["total_cards"], 3);
    assert_eq!(reward["rewards_waiting"], 0);

    let replacement = json!({
        "condition_name": "Talked for two minutes",
        "trigger_type": "call",
        "auto_min_talk_seconds": 120,
        "is_active": false,
        "reward": { "gift_card_pool_id": world.pool_id }
    });
    let (status, replaced) = api_put(&app, &path, &auth, &replacement).await;

    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["id"], created["id"]);
    assert_eq!(replaced["reward"]["id"], created["reward"]["id"]);
    assert_eq!(replaced["crm_event_name"], Value::Null);
    assert_eq!(replaced["auto_min_talk_seconds"], 120);
    assert_eq!(replaced["is_active"], false);
    assert_eq!(replaced["reward"]["sms_template"], Value::Null);
    let (status, list) = app
        .api_get(
            &format!("/api/v1/campaigns/{}/conditions", world.campaign.id),
            &auth,
        )
        .await;
    assert_eq!(status, 200);
    let numbers: Vec<i64> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["condition_number"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2, 3, 4]);
    assert_eq!(list["items"][3], replaced);
    assert_eq!(list["items"][1]["reward"], Value::Null);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM campaign_conditions WHERE campaign_id = '{}'",
            world.campaign.id
        ))
        .await,
        4
    );
    assert_eq!(audits(&app, "condition_created").await, 1);
    assert_eq!(audits(&app, "condition_replaced").await, 1);
}

#[tokio::test]
async fn condition_writes_are_refused_in_words() {
    let app = TestApp::spawn().await;
    let world = app.world(1).await;
    let auth = owner(&app, &world).await;
    let (other_client, _) = app.other_client_session().await;
    let other_pool = app.seed_pool(Some(other_client), 1).await;
    let master_pool = app.seed_pool(None, 1).await;
    let other_campaign: Uuid = app
        .db
        .query_one(
            "SELECT id FROM campaigns WHERE client_id = $1",
            &[&other_client],
        )
        .await
        .unwrap()
        .get(0);
    let agent = Auth::user(world.agent);
    let at = |n: &str| format!("/api/v1/campaigns/{}/conditions/{n}", world.campaign.id);
    let call = |extra: Value| {
        let mut body = json!({"condition_name": "Called", "trigger_type": "call"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let reward = |pool: Uuid, template: &str| json!({"reward": {"gift_card_pool_id": pool, "sms_template": template}});
    let cases: Vec<(String, &Auth, Value, u16, &str)> = vec![
        (at("5"), &Auth::None, call(json!({})), 401, "unauthorized"),
        (at("5"), &agent, call(json!({})), 403, "forbidden"),
        (
            at("5"),
            &auth,
            call(json!({"colour": 1})),
            400,
            "invalid_request",
        ),
        (at("0"), &auth, call(json!({})), 422, "invalid_condition"),
        (at("21"), &auth, call(json!({})), 422, "invalid_condition"),
        (at("five"), &auth, call(json!({})), 404, "not_found"),
        (
            at("5"),
            &auth,
            json!({"condition_name": "E", "trigger_type": "crm_event"}),
            422,
            "invalid_condition",
        ),
        (
            at("5"),
            &auth,
            json!({"condition_name": "T", "trigger_type": "time_delay", "time_delay_hours": 0}),
            422,
            "invalid_condition",
        ),
        (
            at("5"),
            &auth,
            json!({"condition_name": "T", "trigger_type": "time_delay"}),
            422,
            "invalid_condition",
        ),
        (
            at("5"),
            &auth,
            json!({"condition_name": "E", "trigger_type": "crm_event", "crm_event_name": "x", "auto_min_talk_seconds": 30}),
            422,
            "invalid_condition",
        ),
        (
            at("5"),
            &auth,
            call(json!({"auto_min_talk_seconds": -1})),
            422,
            "invalid_condition",
        ),
        (
            at("5"),
            &auth,
            call(json!({"trigger_type": "sms"})),
            422,
            "invalid_condition",
        ),
        (
            at("5"),
            &auth,
            call(json!({"condition_name": " "})),
            422,
            "invalid_condition",
        ),
        (
            at("5"),
            &auth,
            call(reward(world.pool_id, "Hi {last_name}: {card_code}")),
            422,
            "invalid_condition",
        ),
        (
            at("5"),
            &auth,
            call(reward(world.pool_id, "Hi {first_name}, thanks!")),
            422,
            "invalid_condition",
        ),
        (
            at("5"),
            &auth,
            call(reward(other_pool, "{card_code}")),
            422,
            "pool_not_usable",
        ),
        (
            at("5"),
            &auth,
            call(reward(master_pool, "{card_code}")),
            422,
            "pool_not_usable",
        ),
        (
            at("5"),
            &auth,
            call(reward(Uuid::new_v4(), "{card_code}")),
            422,
            "pool_not_usable",
        ),
        (
            format!("/api/v1/campaigns/{other_campaign}/conditions/5"),
            &auth,
            call(json!({})),
            404,
            "not_found",
        ),
    ];
    for (path, who, body, expected, expected_code) in cases {
        let (status, answer) = api_put(&app, &path, who, &body).await;
        assert_eq!(status, expected, "{path} {body}: {answer}");
        assert_eq!(code(&answer), expected_code, "{path} {body}: {answer}");
    }
    let unknown = api_put(
        &app,
        &at("5"),
        &auth,
        &call(reward(world.pool_id, "{card_code} {last_name}")),
    )
    .await
    .1;
    assert!(
        unknown["error"]["message"]
            .as_str()
            .unwrap()
            .contains("{last_name}"),
        "{unknown}"
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM campaign_conditions WHERE campaign_id = '{}'",
            world.campaign.id
        ))
        .await,
        3,
        "nothing refused was written"
    );
    // An admin may reward from a master pool.
    let admin = Auth::user(app.seed_user(&["admin"], None, None).await);
    let (status, answer) = api_put(
        &app,
        &at("5"),
        &admin,
        &call(reward(master_pool, "{card_code}")),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["reward"]["available_cards"], 1);
    // The owner reads the master pool's stock of their campaign's condition too.
    let (_, list) = app
        .api_get(
            &format!("/api/v1/campaigns/{}/conditions", world.campaign.id),
            &auth,
        )
        .await;
    assert_eq!(list["items"][3]["reward"]["available_cards"], 1);
}

#[tokio::test]
async fn a_reward_already_given_cannot_be_removed_but_an_unused_one_can() {
    let app = TestApp::spawn().await;
    let world = app.world(2).await;
    let auth = owner(&app, &world).await;
    let (status, met) = app
        .mark(world.session_id, &Auth::user(world.agent), 1)
        .await;
    assert_eq!(status, 201, "{met}");
    let at = |n: i32| format!("/api/v1/campaigns/{}/conditions/{n}", world.campaign.id);
    let plain = json!({"condition_name": "Booked", "trigger_type": "call"});

    let (status, refused) = api_put(&app, &at(1), &auth, &plain).await;

    assert_eq!(status, 409, "{refused}");
    assert_eq!(code(&refused), "reward_in_use");
    let rewarded = json!({"condition_name": "Quote", "trigger_type": "call",
                          "reward": {"gift_card_pool_id": world.pool_id}});
    let (status, with) = api_put(&app, &at(2), &auth, &rewarded).await;
    assert_eq!(status, 200, "{with}");
    assert!(with["reward"].is_object());
    let (status, without) = api_put(&app, &at(2), &auth, &plain).await;
    assert_eq!(status, 200, "{without}");
    assert_eq!(without["reward"], Value::Null);
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM campaign_reward_configs WHERE campaign_id = '{}'",
            world.campaign.id
        ))
        .await,
        1
    );
}

#[tokio::test]
async fn concurrent_puts_of_one_condition_number_make_one_condition() {
    let app = TestApp::spawn().await;
    let world = app.world(1).await;
    let auth = owner(&app, &world).await;
    let path = format!("/api/v1/campaigns/{}/conditions/7", world.campaign.id);

    let puts = (0..8).map(|i| {
        let body = json!({
            "condition_name": format!("Writer {i}"),
            "trigger_type": "call",
            "reward": {"gift_card_pool_id": world.pool_id},
        });
        let (app, auth, path) = (&app, &auth, &path);
        async move { api_put(app, path, auth, &body).await }
    });
    let answers = futures::future::join_all(puts).await;

    let statuses: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        7,
        "{statuses:?}"
    );
    for table in ["campaign_conditions", "campaign_reward_configs"] {
        assert_eq!(
            app.count(&format!(
                "SELECT count(*) FROM {table} WHERE campaign_id = '{}' AND condition_number = 7",
                world.campaign.id
            ))
            .await,
            1,
            "{table}"
        );
    }
}

#[tokio::test]
async fn pools_are_created_listed_and_loaded_with_bad_lines_reported_not_echoed() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    let auth = owner(&app, &world).await;

    let (status, pool) = app
        .api_post(
            "/api/v1/gift-card-pools",
            &auth,
            &json!({"pool_name": " Target $10 ", "brand_name": "Target", "value_amount": 10}),
        )
        .await;

    assert_eq!(status, 201, "{pool}");
    assert_eq!(pool["pool_name"], "Target $10");
    assert_eq!(pool["brand_name"], "Target");
    assert_eq!(pool["value_amount"], "10.00");
    assert_eq!(pool["client_id"], world.client_id.to_string());
    assert_eq!(
        (
            &pool["available_cards"],
            &pool["total_cards"],
            &pool["rewards_waiting"]
        ),
        (&json!(0), &json!(0), &json!(0))
    );
    let (status, second) = app
        .api_post(
            "/api/v1/gift-card-pools",
            &auth,
            &json!({"pool_name": "Target $12.50", "brand_name": "TARGET", "value_amount": "12.5"}),
        )
        .await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(second["value_amount"], "12.50");
    assert_eq!(second["brand_name"], "Target", "the brand is found by name");
    assert_eq!(
        app.count("SELECT count(*) FROM gift_card_brands WHERE lower(brand_name) = 'target'")
            .await,
        1
    );
    let (status, list) = app.api_get("/api/v1/gift-card-pools", &auth).await;
    assert_eq!(status, 200);
    assert_eq!(list["next_cursor"], Value::Null);
    assert_eq!(list["items"].as_array().unwrap().len(), 3, "{list}");
    assert_eq!(list["items"][1], pool);

    let id: Uuid = pool["id"].as_str().unwrap().parse().unwrap();
    let csv = "card_code,pin_code,value_amount\nTGT-SECRET-1,1111,\nTGT-SECRET-2,,10.00\nTGT-SECRET-1,2222,\nTGT-SECRET-3,,-4\n";
    let (status, loaded) = post_csv(&app, id, &auth, csv).await;

    assert_eq!(status, 200, "{loaded}");
    assert_eq!(loaded["added"], 2);
    assert_eq!(loaded["provisioned"], 0);
    assert_eq!(loaded["available_cards"], 2);
    let lines: Vec<i64> = loaded["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_i64().unwrap())
        .collect();
    assert_eq!(lines, [4, 5]);
    assert!(!loaded.to_string().contains("SECRET"), "{loaded}");
    let stored: Vec<String> = app
        .db
        .query(
            "SELECT card_code FROM gift_cards WHERE pool_id = $1",
            &[&id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(stored.len(), 2);
    assert!(stored.iter().all(|c| c.starts_with("v1:")), "encrypted");
    assert_eq!(audits(&app, "gift_card_pool_created").await, 2);
    assert_eq!(audits(&app, "gift_cards_added").await, 1);
}

#[tokio::test]
async fn pool_writes_are_refused_in_words() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    let auth = owner(&app, &world).await;
    let (other_client, _) = app.other_client_session().await;
    let other_pool = app.seed_pool(Some(other_client), 0).await;
    let agent = Auth::user(world.agent);
    let good = json!({"pool_name": "P", "brand_name": "B", "value_amount": "5"});
    let with = |key: &str, value: Value| {
        let mut body = good.clone();
        body[key] = value;
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
        (&auth, with("colour", json!("red")), 400, "invalid_request"),
        (
            &auth,
            with("value_amount", json!(0)),
            422,
            "invalid_value_amount",
        ),
        (
            &auth,
            with("value_amount", json!("1.234")),
            422,
            "invalid_value_amount",
        ),
        (
            &auth,
            with("value_amount", json!("ten")),
            422,
            "invalid_value_amount",
        ),
        (&auth, with("brand_name", json!(" ")), 422, "invalid_pool"),
    ];
    for (who, body, expected, expected_code) in cases {
        let (status, answer) = app.api_post("/api/v1/gift-card-pools", who, &body).await;
        assert_eq!(status, expected, "{body}: {answer}");
        assert_eq!(code(&answer), expected_code, "{body}: {answer}");
    }

    let header = "card_code,pin_code,value_amount\nC-1,,\n";
    let (status, _) = post_csv(&app, other_pool, &auth, header).await;
    assert_eq!(status, 404, "another client's pool");
    let (status, answer) = post_csv(&app, world.pool_id, &Auth::user(world.agent), header).await;
    assert_eq!((status, code(&answer)), (403, "forbidden"));
    let (status, answer) = post_csv(&app, world.pool_id, &auth, "code,pin\nC-1,\n").await;
    assert_eq!((status, code(&answer)), (422, "invalid_csv"), "{answer}");
    let (status, answer) = app
        .api_post(
            &format!("/api/v1/gift-card-pools/{}/cards", world.pool_id),
            &auth,
            &json!({"cards": []}),
        )
        .await;
    assert_eq!((status, code(&answer)), (415, "unsupported_media_type"));
    let mut huge = String::from("card_code,pin_code,value_amount\n");
    while huge.len() <= 10 * 1024 * 1024 {
        huge.push_str("CARD-0000000000000000000000000000,1234,25.00\n");
    }
    let (status, answer) = post_csv(&app, world.pool_id, &auth, &huge).await;
    assert_eq!((status, code(&answer)), (413, "payload_too_large"));
    assert_eq!(
        app.count("SELECT count(*) FROM gift_cards").await,
        0,
        "nothing refused was written"
    );
}

#[tokio::test]
async fn uploading_cards_provisions_the_rewards_waiting_for_the_pool() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    let auth = owner(&app, &world).await;
    let (status, met) = app
        .mark(world.session_id, &Auth::user(world.agent), 1)
        .await;
    assert_eq!(status, 201, "{met}");
    assert_eq!(met["reward"]["status"], "pool_exhausted");
    let (_, list) = app
        .api_get(
            &format!("/api/v1/campaigns/{}/conditions", world.campaign.id),
            &auth,
        )
        .await;
    assert_eq!(list["items"][0]["reward"]["rewards_waiting"], 1, "{list}");
    let (_, pools) = app.api_get("/api/v1/gift-card-pools", &auth).await;
    assert_eq!(pools["items"][0]["rewards_waiting"], 1, "{pools}");

    let (status, loaded) = post_csv(
        &app,
        world.pool_id,
        &auth,
        "card_code,pin_code,value_amount\nAMZ-1,,\nAMZ-2,,\n",
    )
    .await;

    assert_eq!(status, 200, "{loaded}");
    assert_eq!(
        (
            &loaded["added"],
            &loaded["provisioned"],
            &loaded["available_cards"]
        ),
        (&json!(2), &json!(1), &json!(1))
    );
    let row = app
        .db
        .query_one(
            "SELECT reward_status, gift_card_id IS NOT NULL FROM call_conditions_met
             WHERE recipient_id = $1 AND condition_number = 1",
            &[&world.recipient_id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "provisioned");
    assert!(row.get::<_, bool>(1));
    assert_eq!(app.count("SELECT count(*) FROM sms_outbox").await, 1);
    let (_, pools) = app.api_get("/api/v1/gift-card-pools", &auth).await;
    assert_eq!(pools["items"][0]["rewards_waiting"], 0);
}

#[tokio::test]
async fn concurrent_pool_creates_with_one_new_brand_make_one_brand() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    let auth = owner(&app, &world).await;

    let creates = (0..8).map(|i| {
        let brand = if i % 2 == 0 {
            "Home Depot"
        } else {
            "HOME DEPOT"
        };
        let body = json!({"pool_name": format!("HD {i}"), "brand_name": brand, "value_amount": 20});
        let (app, auth) = (&app, &auth);
        async move { app.api_post("/api/v1/gift-card-pools", auth, &body).await }
    });
    let answers = futures::future::join_all(creates).await;

    assert!(answers.iter().all(|(s, _)| *s == 201), "{answers:?}");
    assert_eq!(
        app.count("SELECT count(*) FROM gift_card_brands WHERE lower(brand_name) = 'home depot'")
            .await,
        1
    );
    assert_eq!(
        app.count(
            "SELECT count(DISTINCT brand_id) FROM gift_card_pools WHERE pool_name LIKE 'HD %'"
        )
        .await,
        1
    );
}
