//! The session list under row-level security, with many clients' sessions: what its plan
//! reads, and that every plan pages through the same sessions in the same order.

use calltrack::auth::ClientScope;
use calltrack::db::sessions::{self, ListPlan, SessionFilter};
use serde_json::Value;
use uuid::Uuid;

use crate::fast::row_security::plan_nodes;
use crate::helpers::test_database;

#[tokio::test]
async fn a_small_clients_session_list_reads_its_own_sessions_and_no_one_elses() {
    let config = test_database().await;
    let client = calltrack::db::pool::connect(&config).await.unwrap();
    // 200 clients with one campaign and number each share 20,000 sessions; client 201 has
    // five, all older than everyone else's, so walking sessions by age would read them all.
    client
        .batch_execute(
            "INSERT INTO organizations (id, name, type) VALUES ('00000000-0000-0000-0000-000000000001', 'o', 'direct');
             INSERT INTO clients (id, org_id, name)
             SELECT ('00000000-0000-0000-0001-' || lpad(g::text, 12, '0'))::uuid,
                    '00000000-0000-0000-0000-000000000001', 'client ' || g
             FROM generate_series(1, 201) g;
             INSERT INTO campaigns (id, client_id, name)
             SELECT ('00000000-0000-0000-0002-' || lpad(g::text, 12, '0'))::uuid,
                    ('00000000-0000-0000-0001-' || lpad(g::text, 12, '0'))::uuid, 'campaign ' || g
             FROM generate_series(1, 201) g;
             INSERT INTO tracked_phone_numbers (id, campaign_id, phone_number, forward_to_number)
             SELECT ('00000000-0000-0000-0003-' || lpad(g::text, 12, '0'))::uuid,
                    ('00000000-0000-0000-0002-' || lpad(g::text, 12, '0'))::uuid,
                    '+1800555' || lpad(g::text, 4, '0'), '+14155550199'
             FROM generate_series(1, 201) g;
             INSERT INTO call_sessions (campaign_id, tracked_number_id, caller_phone, match_status,
                 call_status, twilio_call_sid, created_at)
             SELECT ('00000000-0000-0000-0002-' || lpad((1 + g % 200)::text, 12, '0'))::uuid,
                    ('00000000-0000-0000-0003-' || lpad((1 + g % 200)::text, 12, '0'))::uuid,
                    '+14155550100', 'unmatched', 'completed', 'CA' || md5(g::text),
                    now() - g * interval '1 second'
             FROM generate_series(1, 20000) g;
             INSERT INTO call_sessions (campaign_id, tracked_number_id, caller_phone, match_status,
                 call_status, twilio_call_sid, created_at)
             SELECT '00000000-0000-0000-0002-000000000201', '00000000-0000-0000-0003-000000000201',
                    '+14155550100', 'unmatched', 'completed', 'CAsmall' || g, now() - g * interval '1 day'
             FROM generate_series(1, 5) g;
             ANALYZE;",
        )
        .await
        .unwrap();
    let small: Uuid = "00000000-0000-0000-0001-000000000201".parse().unwrap();
    let busy: Uuid = "00000000-0000-0000-0001-000000000001".parse().unwrap();
    let pool = calltrack::db::pool::pool(config.clone(), 1).unwrap();
    let page = |limit| SessionFilter {
        limit,
        ..SessionFilter::default()
    };

    let (small_read, small_page, small_more) = explain_list(&pool, small, page(50)).await;
    let (first_read, first_page, _) = explain_list(&pool, busy, page(10)).await;
    let last = first_page.last().unwrap();
    let after_first = SessionFilter {
        before: Some((last.created_at, last.id)),
        ..page(10)
    };
    let (second_read, second_page, second_more) = explain_list(&pool, busy, after_first).await;

    // Its campaign's newest session, then its five sessions twice, and no other row.
    assert!(small_read <= 11, "{small_read} rows read");
    assert_eq!(small_page.len(), 5);
    assert!(!small_more);
    assert!(small_page.iter().all(|s| s.client_id == small));
    // A client with a hundred sessions: a page of ten reads about twice ten, at any depth.
    assert!(first_read <= 25, "{first_read} rows read");
    assert!(second_read <= 25, "{second_read} rows read");
    assert_eq!(second_page.len(), 10);
    assert!(second_more);
    assert!(second_page.iter().all(|s| s.client_id == busy));
}

/// Lists `filter` as an agent of `client` would, explained: how many rows the plan read
/// from call_sessions (after asserting it used neither a sequential scan nor the global
/// `created_at` index), the page and whether more follow.
async fn explain_list(
    pool: &calltrack::db::PgPool,
    client: Uuid,
    filter: SessionFilter,
) -> (i64, Vec<sessions::CallSession>, bool) {
    let scope = ClientScope::Clients(vec![client]);
    let plan = ListPlan::for_scope(&scope, &filter);
    let mut conn = pool.get().await.unwrap();
    let tx = conn.transaction().await.unwrap();
    calltrack::db::access::restrict(&tx, &scope, None)
        .await
        .unwrap();
    let (before_at, before_id) = filter
        .before
        .map_or((None, None), |(at, id)| (Some(at), Some(id)));
    let explained: Value = tx
        .query_one(
            &format!(
                "EXPLAIN (ANALYZE, FORMAT JSON) {}",
                sessions::list_statement(plan)
            ),
            &[
                &filter.campaign_id,
                &filter.call_status.map(|s| s.as_str()),
                &filter.match_status.map(|s| s.as_str()),
                &before_at,
                &before_id,
                &(filter.limit + 1),
                &filter.call_outcome.map(|o| o.as_str()),
                &filter.from,
                &filter.to,
            ],
        )
        .await
        .unwrap()
        .get(0);
    let (listed, more) = sessions::list(&tx, plan, &filter).await.unwrap();
    tx.rollback().await.unwrap();

    let mut nodes = Vec::new();
    plan_nodes(&explained[0]["Plan"], &mut nodes);
    let on_sessions: Vec<&&Value> = nodes
        .iter()
        .filter(|n| n["Relation Name"] == "call_sessions")
        .collect();
    assert!(!on_sessions.is_empty(), "{explained:#}");
    for node in &on_sessions {
        assert_ne!(node["Node Type"], "Seq Scan", "{explained:#}");
        assert_ne!(
            node["Index Name"], "call_sessions_created_at_idx",
            "{explained:#}"
        );
    }
    let read = on_sessions
        .iter()
        .map(|n| {
            let loops = n["Actual Loops"].as_i64().unwrap();
            let kept = n["Actual Rows"].as_i64().unwrap();
            (kept + n["Rows Removed by Filter"].as_i64().unwrap_or(0)) * loops
        })
        .sum();
    (read, listed, more)
}

/// Three clients with two campaigns each; 120 sessions at 13 distinct instants, so every
/// instant is shared by sessions of several campaigns and clients (as a group-commit batch
/// shares its transaction's `now()`), with matched ones and each outcome among them.
const TIED_SESSIONS: &str = "
    INSERT INTO organizations (id, name, type) VALUES ('00000000-0000-0000-0000-000000000001', 'o', 'agency');
    INSERT INTO clients (id, org_id, name)
    SELECT ('00000000-0000-0000-0001-' || lpad(g::text, 12, '0'))::uuid,
           '00000000-0000-0000-0000-000000000001', 'client ' || g
    FROM generate_series(1, 3) g;
    INSERT INTO campaigns (id, client_id, name)
    SELECT ('00000000-0000-0000-0002-' || lpad(g::text, 12, '0'))::uuid,
           ('00000000-0000-0000-0001-' || lpad((1 + (g - 1) / 2)::text, 12, '0'))::uuid, 'campaign ' || g
    FROM generate_series(1, 6) g;
    INSERT INTO tracked_phone_numbers (id, campaign_id, phone_number, forward_to_number)
    SELECT ('00000000-0000-0000-0003-' || lpad(g::text, 12, '0'))::uuid,
           ('00000000-0000-0000-0002-' || lpad(g::text, 12, '0'))::uuid,
           '+1800555' || lpad(g::text, 4, '0'), '+14155550199'
    FROM generate_series(1, 6) g;
    INSERT INTO call_sessions (campaign_id, tracked_number_id, caller_phone, match_status,
        call_status, call_answered_at, twilio_call_sid, created_at)
    SELECT ('00000000-0000-0000-0002-' || lpad((1 + g % 6)::text, 12, '0'))::uuid,
           ('00000000-0000-0000-0003-' || lpad((1 + g % 6)::text, 12, '0'))::uuid,
           '+14155550100', CASE WHEN g % 4 = 0 THEN 'matched' ELSE 'unmatched' END,
           CASE WHEN g % 5 = 0 THEN 'no-answer' ELSE 'completed' END,
           CASE WHEN g % 3 = 0 THEN '2026-03-01T00:00:00Z'::timestamptz END,
           'CA' || md5(g::text), '2026-03-01T12:00:00Z'::timestamptz - (g % 13) * interval '1 minute'
    FROM generate_series(1, 120) g;
    ANALYZE;";

fn client(n: u32) -> Uuid {
    format!("00000000-0000-0000-0001-{n:012}").parse().unwrap()
}

/// Every page of `filter` under `scope` read the way `plan` says, one transaction a page.
async fn all_pages(
    pool: &calltrack::db::PgPool,
    scope: &ClientScope,
    plan: ListPlan,
    mut filter: SessionFilter,
) -> Vec<Uuid> {
    let mut ids = Vec::new();
    loop {
        let mut conn = pool.get().await.unwrap();
        let tx = conn.transaction().await.unwrap();
        calltrack::db::access::restrict(&tx, scope, None)
            .await
            .unwrap();
        let (page, more) = sessions::list(&tx, plan, &filter).await.unwrap();
        tx.rollback().await.unwrap();
        assert!(page.len() as i64 <= filter.limit);
        ids.extend(page.iter().map(|s| s.id));
        if !more {
            return ids;
        }
        filter.before = page.last().map(|s| (s.created_at, s.id));
    }
}

#[tokio::test]
async fn every_plan_pages_through_the_same_sessions_in_the_same_order_with_ties_and_filters() {
    let config = test_database().await;
    let db = calltrack::db::pool::connect(&config).await.unwrap();
    db.batch_execute(TIED_SESSIONS).await.unwrap();
    let pool = calltrack::db::pool::pool(config.clone(), 1).unwrap();
    let campaign: Uuid = "00000000-0000-0000-0002-000000000003".parse().unwrap();
    // Each filter beside the same rows chosen in plain SQL, as the owner.
    let cases = [
        (SessionFilter::default(), "true"),
        (
            SessionFilter {
                match_status: Some(calltrack::domain::MatchStatus::Matched),
                ..SessionFilter::default()
            },
            "s.match_status = 'matched'",
        ),
        (
            SessionFilter {
                call_status: calltrack::domain::CallStatus::parse_stored("no-answer").ok(),
                ..SessionFilter::default()
            },
            "s.call_status = 'no-answer'",
        ),
        (
            SessionFilter {
                call_outcome: Some(calltrack::domain::CallOutcome::Answered),
                ..SessionFilter::default()
            },
            "s.call_outcome = 'answered'",
        ),
        (
            SessionFilter {
                from: Some("2026-03-01T11:50:00Z".parse().unwrap()),
                to: Some("2026-03-01T11:57:00Z".parse().unwrap()),
                ..SessionFilter::default()
            },
            "s.created_at >= '2026-03-01T11:50:00Z' AND s.created_at < '2026-03-01T11:57:00Z'",
        ),
        (
            SessionFilter {
                campaign_id: Some(campaign),
                ..SessionFilter::default()
            },
            "s.campaign_id = '00000000-0000-0000-0002-000000000003'",
        ),
    ];
    let scopes = [
        (ClientScope::All, "true"),
        (
            ClientScope::Clients(vec![client(2)]),
            "c.client_id = '00000000-0000-0000-0001-000000000002'",
        ),
        (
            ClientScope::Clients(vec![client(1), client(3)]),
            "c.client_id <> '00000000-0000-0000-0001-000000000002'",
        ),
    ];

    for (filter, rows) in &cases {
        for (scope, visible) in &scopes {
            let expected: Vec<Uuid> = db
                .query(
                    &format!(
                        "SELECT s.id FROM call_sessions s JOIN campaigns c ON c.id = s.campaign_id
                         WHERE {rows} AND {visible} ORDER BY s.created_at DESC, s.id DESC"
                    ),
                    &[],
                )
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            if matches!(scope, ClientScope::All) {
                assert!(!expected.is_empty(), "{rows}");
            }
            // Pages of two leave out more campaigns before reading their sessions.
            for (plan, limit) in [
                (ListPlan::Newest, 4),
                (ListPlan::PerCampaign, 4),
                (ListPlan::PerCampaign, 2),
            ] {
                let filter = SessionFilter {
                    limit,
                    ..filter.clone()
                };
                let listed = all_pages(&pool, scope, plan, filter).await;
                assert_eq!(listed, expected, "{plan:?} {limit} {scope:?} {rows}");
            }
        }
    }
}

#[tokio::test]
async fn a_quiet_clients_agent_pages_through_its_old_calls_alone_behind_a_busy_clients_new_ones() {
    let app = crate::helpers::TestApp::spawn().await;
    // The quiet client's seven calls are 40 days old, three of them at one instant across
    // its two campaigns and two at another; the busy client has 400 calls since yesterday.
    app.db
        .batch_execute(
            "INSERT INTO organizations (id, name, type) VALUES ('00000000-0000-0000-0000-000000000001', 'o', 'agency');
             INSERT INTO clients (id, org_id, name)
             SELECT ('00000000-0000-0000-0001-' || lpad(g::text, 12, '0'))::uuid,
                    '00000000-0000-0000-0000-000000000001', 'client ' || g
             FROM generate_series(1, 2) g;
             INSERT INTO campaigns (id, client_id, name)
             SELECT ('00000000-0000-0000-0002-' || lpad(g::text, 12, '0'))::uuid,
                    ('00000000-0000-0000-0001-' || lpad((1 + (g - 1) / 2)::text, 12, '0'))::uuid,
                    'campaign ' || g
             FROM generate_series(1, 4) g;
             INSERT INTO tracked_phone_numbers (id, campaign_id, phone_number, forward_to_number)
             SELECT ('00000000-0000-0000-0003-' || lpad(g::text, 12, '0'))::uuid,
                    ('00000000-0000-0000-0002-' || lpad(g::text, 12, '0'))::uuid,
                    '+1800555' || lpad(g::text, 4, '0'), '+14155550199'
             FROM generate_series(1, 4) g;
             INSERT INTO call_sessions (campaign_id, tracked_number_id, caller_phone, match_status,
                 call_status, twilio_call_sid, created_at)
             SELECT ('00000000-0000-0000-0002-' || lpad(k::text, 12, '0'))::uuid,
                    ('00000000-0000-0000-0003-' || lpad(k::text, 12, '0'))::uuid,
                    '+14155550100', 'unmatched', 'completed', 'CAquiet' || g,
                    now() - interval '40 days' - m * interval '1 hour'
             FROM (VALUES (1, 1, 0), (2, 2, 0), (3, 1, 0), (4, 2, 1), (5, 2, 1), (6, 1, 2), (7, 2, 3))
                 AS v (g, k, m);
             INSERT INTO call_sessions (campaign_id, tracked_number_id, caller_phone, match_status,
                 call_status, twilio_call_sid, created_at)
             SELECT ('00000000-0000-0000-0002-' || lpad((3 + g % 2)::text, 12, '0'))::uuid,
                    ('00000000-0000-0000-0003-' || lpad((3 + g % 2)::text, 12, '0'))::uuid,
                    '+14155550100', 'unmatched', 'completed', 'CAbusy' || g,
                    now() - g * interval '3 minutes'
             FROM generate_series(1, 400) g;",
        )
        .await
        .unwrap();
    let agent = app.seed_user(&["call_center"], Some(client(1)), None).await;
    let expected: Vec<String> = app
        .db
        .query(
            "SELECT s.id::text FROM call_sessions s JOIN campaigns c ON c.id = s.campaign_id
             WHERE c.client_id = '00000000-0000-0000-0001-000000000001'
             ORDER BY s.created_at DESC, s.id DESC",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();

    let mut listed = Vec::new();
    let mut pages = 0;
    let mut path = "/api/v1/call-sessions?limit=3".to_owned();
    loop {
        let (status, page) = app.api_get(&path, &crate::world::Auth::user(agent)).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        for item in page["items"].as_array().unwrap() {
            assert_eq!(item["client_id"], client(1).to_string(), "{item}");
            listed.push(item["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/call-sessions?limit=3&cursor={cursor}"),
            None => break,
        }
    }

    assert_eq!(expected.len(), 7);
    assert_eq!(listed, expected);
    assert_eq!(pages, 3);
    app.stop().await;
}
