//! The session list's query plan under row-level security, with many clients' sessions.

use calltrack::auth::ClientScope;
use calltrack::db::sessions::{self, SessionFilter};
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::test_database;

/// Every plan node below `node`, itself included.
fn plan_nodes<'a>(node: &'a Value, out: &mut Vec<&'a Value>) {
    out.push(node);
    for child in node["Plans"].as_array().into_iter().flatten() {
        plan_nodes(child, out);
    }
}

#[tokio::test]
async fn a_small_clients_session_list_reads_its_sessions_by_index_among_many_clients() {
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
    let filter = SessionFilter {
        limit: 50,
        ..SessionFilter::default()
    };
    let pool = calltrack::db::pool::pool(config.clone(), 1).unwrap();
    let mut conn = pool.get().await.unwrap();
    let tx = conn.transaction().await.unwrap();
    calltrack::db::access::restrict(&tx, &ClientScope::Clients(vec![small]), None)
        .await
        .unwrap();

    let explained: Value = tx
        .query_one(
            &format!("EXPLAIN (FORMAT JSON) {}", sessions::list_statement()),
            &[
                &filter.campaign_id,
                &filter.call_status.map(|s| s.as_str()),
                &filter.match_status.map(|s| s.as_str()),
                &None::<chrono::DateTime<chrono::Utc>>,
                &None::<Uuid>,
                &(filter.limit + 1),
                &filter.call_outcome.map(|o| o.as_str()),
                &filter.from,
                &filter.to,
            ],
        )
        .await
        .unwrap()
        .get(0);
    let (listed, more) = sessions::list(&tx, &filter).await.unwrap();
    tx.rollback().await.unwrap();

    let mut nodes = Vec::new();
    plan_nodes(&explained[0]["Plan"], &mut nodes);
    let on_sessions: Vec<&str> = nodes
        .iter()
        .filter(|n| n["Relation Name"] == "call_sessions")
        .map(|n| n["Node Type"].as_str().unwrap())
        .collect();
    assert!(!on_sessions.is_empty(), "{explained:#}");
    assert!(
        on_sessions.iter().all(|t| *t != "Seq Scan"),
        "call_sessions is scanned sequentially: {explained:#}"
    );
    assert_eq!(listed.len(), 5);
    assert!(!more);
    assert!(listed.iter().all(|s| s.client_id == small));
}
