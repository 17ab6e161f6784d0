//! The manager's JSON: the campaign list, the call-stats series (and its plan), the CSV export.

use calltrack::auth::ClientScope;
use calltrack::commands::demo::seed::{PastCall, past_call};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Campaign, TestApp, test_database};
use crate::world::{Auth, World};

fn at(raw: &str) -> DateTime<Utc> {
    raw.parse().unwrap()
}

fn call(campaign: &Campaign, at: DateTime<Utc>, outcome: &'static str) -> PastCall {
    PastCall {
        campaign_id: campaign.id,
        tracked_number_id: campaign.tracked_number_id,
        at,
        outcome,
        caller: Some("+12125550142".into()),
        recipient_id: None,
        talk_seconds: 30,
        notes: None,
    }
}

async fn seed(app: &TestApp, calls: &[PastCall]) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for c in calls {
        ids.push(past_call(&app.db, c).await.unwrap());
    }
    ids
}

/// A company owner of the world's client.
async fn owner(app: &TestApp, world: &World) -> Auth {
    Auth::user(
        app.seed_user(&["company_owner"], Some(world.client_id), None)
            .await,
    )
}

fn series_path(world: &World, query: &str) -> String {
    format!(
        "/api/v1/campaigns/{}/call-stats/series?{query}",
        world.campaign.id
    )
}

#[tokio::test]
async fn the_series_counts_each_days_calls_and_conditions_and_fills_empty_days_with_zeros() {
    let app = TestApp::spawn().await;
    let world = app.world(1).await;
    let c = &world.campaign;
    let mut calls = vec![
        call(c, at("2026-03-01T00:00:00Z"), "answered"),
        call(c, at("2026-03-01T23:59:59Z"), "missed"),
        call(c, at("2026-03-01T12:00:00Z"), "voicemail"),
        call(c, at("2026-03-03T08:00:00Z"), "abandoned"),
        call(c, at("2026-03-03T09:00:00Z"), "live"),
        // Outside the window on either side.
        call(c, at("2026-02-28T23:59:59Z"), "answered"),
        call(c, at("2026-03-04T00:00:00Z"), "answered"),
    ];
    calls[0].recipient_id = Some(world.recipient_id);
    let ids = seed(&app, &calls).await;
    // Condition 1 met on the first call on March 1st: the pool's one card is provisioned
    // and its SMS delivered; condition 2 (no reward) on March 3rd.
    let card: Uuid = app
        .db
        .query_one(
            "SELECT id FROM gift_cards WHERE pool_id = $1",
            &[&world.pool_id],
        )
        .await
        .unwrap()
        .get(0);
    app.db
        .execute(
            "INSERT INTO call_conditions_met (call_session_id, campaign_id, recipient_id, condition_number,
                 met_at, gift_card_id, reward_status, delivery_status)
             VALUES ($1, $2, $3, 1, '2026-03-01T10:00:00Z', $4, 'provisioned', 'delivered'),
                    ($1, $2, $3, 2, '2026-03-03T10:00:00Z', NULL, 'no_reward_configured', NULL)",
            &[&ids[0], &c.id, &world.recipient_id, &card],
        )
        .await
        .unwrap();

    let (status, body) = app
        .api_get(
            &series_path(
                &world,
                "from=2026-03-01T00:00:00Z&to=2026-03-03T12:00:00Z&bucket=day",
            ),
            &owner(&app, &world).await,
        )
        .await;

    assert_eq!(status, 200, "{body}");
    let zero = json!({
        "total_calls": 0, "matched": 0, "unmatched": 0, "answered": 0, "missed": 0,
        "voicemail": 0, "abandoned": 0, "live": 0, "conditions_met": 0,
        "rewards_provisioned": 0, "rewards_sent": 0, "rewards_delivered": 0, "rewards_failed": 0,
    });
    let point = |start: &str, changes: Value| {
        let mut p = zero.clone();
        p["start"] = json!(start);
        for (k, v) in changes.as_object().unwrap() {
            p[k] = v.clone();
        }
        p
    };
    assert_eq!(
        body,
        json!({
            "bucket": "day",
            "time_zone": "UTC",
            "from": "2026-03-01T00:00:00Z",
            "to": "2026-03-04T00:00:00Z",
            "items": [
                point("2026-03-01T00:00:00Z", json!({
                    "total_calls": 3, "matched": 1, "unmatched": 2, "answered": 1, "missed": 1,
                    "voicemail": 1, "conditions_met": 1, "rewards_provisioned": 1,
                    "rewards_sent": 1, "rewards_delivered": 1,
                })),
                point("2026-03-02T00:00:00Z", json!({})),
                point("2026-03-03T00:00:00Z", json!({
                    "total_calls": 2, "unmatched": 2, "abandoned": 1, "live": 1,
                    "conditions_met": 1,
                })),
            ],
        })
    );
}

#[tokio::test]
async fn the_series_refuses_bad_buckets_too_many_buckets_and_other_clients_campaigns() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    let agent = Auth::user(world.agent);

    let (status, body) = app
        .api_get(&series_path(&world, "bucket=hour"), &agent)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"].as_array().unwrap().len(), 48);
    // The world's call is live, now, in the last bucket.
    assert_eq!(body["items"][47]["live"], 1, "{body}");

    let (status, body) = app
        .api_get(&series_path(&world, "bucket=week"), &agent)
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("invalid_request"))
    );
    let (status, body) = app
        .api_get(
            &series_path(
                &world,
                "bucket=hour&from=2026-01-01T00:00:00Z&to=2026-02-01T01:00:00Z",
            ),
            &agent,
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("745 hour buckets"),
        "{body}"
    );
    let (status, _) = app
        .api_get(
            &series_path(&world, "from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z"),
            &agent,
        )
        .await;
    assert_eq!(status, 400);

    let (other_client, _) = app.other_client_session().await;
    let outsider = app
        .seed_user(&["company_owner"], Some(other_client), None)
        .await;
    let (status, _) = app
        .api_get(&series_path(&world, ""), &Auth::user(outsider))
        .await;
    assert_eq!(status, 404);
}

/// Every plan node below `node`, itself included.
fn plan_nodes<'a>(node: &'a Value, out: &mut Vec<&'a Value>) {
    out.push(node);
    for child in node["Plans"].as_array().into_iter().flatten() {
        plan_nodes(child, out);
    }
}

#[tokio::test]
async fn the_series_reads_the_campaigns_hourly_rollups_by_key_and_never_its_sessions() {
    let config = test_database().await;
    let client = calltrack::db::pool::connect(&config).await.unwrap();
    // 100 campaigns share 30,000 sessions over 30 days.
    client
        .batch_execute(
            "INSERT INTO organizations (id, name, type) VALUES ('00000000-0000-0000-0000-000000000001', 'o', 'direct');
             INSERT INTO clients (id, org_id, name) VALUES ('00000000-0000-0000-0001-000000000001', '00000000-0000-0000-0000-000000000001', 'c');
             INSERT INTO campaigns (id, client_id, name)
             SELECT ('00000000-0000-0000-0002-' || lpad(g::text, 12, '0'))::uuid,
                    '00000000-0000-0000-0001-000000000001', 'campaign ' || g
             FROM generate_series(1, 100) g;
             INSERT INTO tracked_phone_numbers (id, campaign_id, phone_number, forward_to_number)
             SELECT ('00000000-0000-0000-0003-' || lpad(g::text, 12, '0'))::uuid,
                    ('00000000-0000-0000-0002-' || lpad(g::text, 12, '0'))::uuid,
                    '+1800555' || lpad(g::text, 4, '0'), '+14155550199'
             FROM generate_series(1, 100) g;
             INSERT INTO call_sessions (campaign_id, tracked_number_id, caller_phone, match_status,
                 call_status, twilio_call_sid, created_at)
             SELECT ('00000000-0000-0000-0002-' || lpad((1 + g % 100)::text, 12, '0'))::uuid,
                    ('00000000-0000-0000-0003-' || lpad((1 + g % 100)::text, 12, '0'))::uuid,
                    '+14155550100', 'unmatched', 'completed', 'CA' || md5(g::text),
                    now() - g * interval '86 seconds'
             FROM generate_series(1, 30000) g;",
        )
        .await
        .unwrap();
    // Folded, as the rollup worker would, and analysed.
    client
        .batch_execute("SELECT calltrack_fold_rollup_changes(NULL, 100000)")
        .await
        .unwrap();
    client
        .batch_execute("VACUUM ANALYZE call_sessions, campaign_call_hours, campaign_call_changes")
        .await
        .unwrap();
    let campaign: Uuid = "00000000-0000-0000-0002-000000000007".parse().unwrap();
    // As the API runs it: the restricted role, row-level security on, the client's scope.
    let pool = calltrack::db::pool::pool(config.clone(), 1).unwrap();
    let mut conn = pool.get().await.unwrap();
    let tx = conn.transaction().await.unwrap();
    let client_id: Uuid = "00000000-0000-0000-0001-000000000001".parse().unwrap();
    calltrack::db::access::restrict(&tx, &ClientScope::Clients(vec![client_id]), None)
        .await
        .unwrap();
    let explained: Value = tx
        .query_one(
            &format!("EXPLAIN (FORMAT JSON) {}", calltrack::db::stats::SERIES),
            &[
                &campaign,
                &(Utc::now() - Duration::days(30)),
                &Utc::now(),
                &"24 hours",
                &"day",
                &"UTC",
            ],
        )
        .await
        .unwrap()
        .get(0);
    tx.rollback().await.unwrap();

    let mut nodes = Vec::new();
    plan_nodes(&explained[0]["Plan"], &mut nodes);
    let read = |table: &str| -> Vec<(&str, &str)> {
        nodes
            .iter()
            .filter(|n| n["Relation Name"] == table)
            .map(|n| {
                (
                    n["Node Type"].as_str().unwrap(),
                    n["Index Name"].as_str().unwrap_or(""),
                )
            })
            .collect()
    };
    assert_eq!(read("call_sessions"), vec![], "{explained:#}");
    let hours = read("campaign_call_hours");
    assert_eq!(hours.len(), 1, "{explained:#}");
    assert!(
        hours[0].1 == "campaign_call_hours_pkey" && hours[0].0.contains("Index"),
        "{explained:#}"
    );
}

#[tokio::test]
async fn the_campaign_list_counts_each_campaigns_calls_and_shows_only_the_callers_clients() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    let now = Utc::now();
    let c = &world.campaign;
    let mut calls = vec![
        call(c, now - Duration::days(3), "answered"),
        call(c, now - Duration::days(3), "missed"),
        call(c, now - Duration::days(20), "answered"),
    ];
    calls[2].recipient_id = Some(world.recipient_id);
    seed(&app, &calls).await;
    app.db
        .execute(
            "UPDATE campaigns SET mail_date = '2026-03-01' WHERE id = $1",
            &[&c.id],
        )
        .await
        .unwrap();
    app.other_client_session().await;

    let (status, body) = app
        .api_get("/api/v1/campaigns", &owner(&app, &world).await)
        .await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"].as_array().unwrap().len(), 1, "{body}");
    let item = &body["items"][0];
    // The world's own call (live, matched, now) and the three seeded ones.
    for (field, expected) in [
        ("name", json!("Spring mailer")),
        ("client_name", json!("Acme Roofing")),
        ("mail_date", json!("2026-03-01")),
        ("total_calls", json!(4)),
        ("calls_today", json!(1)),
        ("calls_this_week", json!(3)),
        ("settled_calls", json!(3)),
        ("answered", json!(2)),
        ("matched", json!(2)),
        ("active_numbers", json!(1)),
    ] {
        assert_eq!(item[field], expected, "{field}: {item}");
    }
    let (status, one) = app
        .api_get(
            &format!("/api/v1/campaigns/{}", c.id),
            &owner(&app, &world).await,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(&one, item);

    // Agents work calls; campaigns at a glance are for managers.
    let (status, body) = app
        .api_get("/api/v1/campaigns", &Auth::user(world.agent))
        .await;
    assert_eq!(status, 403, "{body}");
}

/// The CSV's rows as maps of column to cell, after checking its header.
fn parse_csv(text: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(header, calltrack::routes::api::export::COLUMNS);
    reader
        .records()
        .map(|r| {
            header
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

async fn download(
    app: &TestApp,
    path: &str,
    auth: &Auth,
) -> (u16, reqwest::header::HeaderMap, String) {
    let url = format!("{}{path}", app.address);
    let request = match auth {
        Auth::Bearer(token) => app.http.get(url).bearer_auth(token),
        Auth::ApiKey(key) => app.http.get(url).header("x-api-key", key),
        Auth::None => app.http.get(url),
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

#[tokio::test]
async fn the_csv_export_streams_every_session_across_pages_as_the_database_holds_them() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    let c = &world.campaign;
    let start = Utc::now() - Duration::days(10);
    let outcomes = ["answered", "missed", "voicemail", "abandoned"];
    // More than two export pages, some with notes a spreadsheet would run.
    let calls: Vec<PastCall> = (0..1_100)
        .map(|n| {
            let mut p = call(
                c,
                start + Duration::seconds(n * 97),
                outcomes[n as usize % 4],
            );
            p.caller = Some(format!("+1212555{:04}", n));
            if n % 250 == 0 {
                p.notes = Some(format!("=HYPERLINK(\"http://evil\",\"{n}\"), \"quoted\""));
            }
            p
        })
        .collect();
    seed(&app, &calls).await;
    let path = format!("/api/v1/campaigns/{}/call-sessions.csv", c.id);
    let owner = owner(&app, &world).await;

    let (status, headers, text) = download(&app, &path, &owner).await;

    assert_eq!(status, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert_eq!(
        headers["content-disposition"].to_str().unwrap(),
        format!("attachment; filename=\"call-sessions-{}.csv\"", c.id)
    );
    let rows = parse_csv(&text);
    let stored = app
        .db
        .query(
            "SELECT id, caller_phone, call_outcome, match_status, notes, talk_seconds,
                    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
             FROM call_sessions WHERE campaign_id = $1 ORDER BY created_at DESC, id DESC",
            &[&c.id],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), stored.len());
    assert_eq!(rows.len(), 1_101, "the seeded calls and the world's own");
    for (row, db) in rows.iter().zip(&stored) {
        assert_eq!(row["id"], db.get::<_, Uuid>(0).to_string());
        assert_eq!(
            row["caller_phone"],
            db.get::<_, Option<String>>(1).unwrap_or_default()
        );
        assert_eq!(
            row["call_outcome"],
            db.get::<_, Option<String>>(2).unwrap_or_default()
        );
        assert_eq!(row["match_status"], db.get::<_, String>(3));
        let notes = db.get::<_, Option<String>>(4).unwrap_or_default();
        let expected_notes = if notes.starts_with('=') {
            format!("'{notes}")
        } else {
            notes
        };
        assert_eq!(row["notes"], expected_notes);
        assert_eq!(
            row["talk_seconds"],
            db.get::<_, Option<i32>>(5)
                .map(|t| t.to_string())
                .unwrap_or_default()
        );
        assert_eq!(row["created_at"], db.get::<_, String>(6));
    }
    assert_eq!(
        rows.iter().filter(|r| r["notes"].starts_with("'=")).count(),
        5
    );

    // Filters narrow it; an agent's export masks the callers.
    let (_, _, text) = download(
        &app,
        &format!(
            "{path}?call_outcome=voicemail&to={}",
            (start + Duration::days(1)).to_rfc3339().replace('+', "%2B")
        ),
        &Auth::user(world.agent),
    )
    .await;
    let rows = parse_csv(&text);
    let expected = calls
        .iter()
        .filter(|p| p.outcome == "voicemail" && p.at < start + Duration::days(1))
        .count();
    assert_eq!(rows.len(), expected);
    assert!(rows.iter().all(|r| r["call_outcome"] == "voicemail"));
    assert!(
        rows.iter()
            .all(|r| r["caller_phone"].starts_with("'+1212***")),
        "{:?}",
        rows.first()
    );
}

#[tokio::test]
async fn the_csv_export_of_a_campaign_the_caller_cannot_see_is_a_404() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    let (other_client, _) = app.other_client_session().await;
    let outsider = app
        .seed_user(&["company_owner"], Some(other_client), None)
        .await;
    let path = format!("/api/v1/campaigns/{}/call-sessions.csv", world.campaign.id);

    let (status, body) = app.api_get(&path, &Auth::user(outsider)).await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = app.api_get(&path, &Auth::None).await;
    assert_eq!(status, 401);
    let (status, _) = app
        .api_get(&format!("{path}?from=yesterday"), &Auth::user(world.agent))
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_session_list_filters_by_outcome_and_time_window() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    let c = &world.campaign;
    let ids = seed(
        &app,
        &[
            call(c, at("2026-03-01T10:00:00Z"), "voicemail"),
            call(c, at("2026-03-02T10:00:00Z"), "voicemail"),
            call(c, at("2026-03-02T11:00:00Z"), "missed"),
        ],
    )
    .await;
    let agent = Auth::user(world.agent);

    let (status, body) = app
        .api_get(
            "/api/v1/call-sessions?call_outcome=voicemail&from=2026-03-02T00:00:00Z&to=2026-03-03T00:00:00Z",
            &agent,
        )
        .await;

    assert_eq!(status, 200, "{body}");
    let listed: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec![ids[1].to_string().as_str()]);
    let (status, _) = app
        .api_get("/api/v1/call-sessions?call_outcome=lost", &agent)
        .await;
    assert_eq!(status, 400);
    let (status, _) = app
        .api_get(
            "/api/v1/call-sessions?from=2026-03-03T00:00:00Z&to=2026-03-01T00:00:00Z",
            &agent,
        )
        .await;
    assert_eq!(status, 400);
}
