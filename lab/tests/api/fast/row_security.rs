//! Row-level security that is evaluated once per statement: calltrack's policies compare
//! each row with the caller's scope computed once (an InitPlan and hashed sub-selects),
//! never with a function that runs a sub-select for every row.

use calltrack::auth::ClientScope;
use serde_json::Value;
use tokio_postgres::Client;
use uuid::Uuid;

use crate::helpers::test_database;

/// The functions the policies called row by row before V12.
const PER_ROW: [&str; 2] = ["calltrack_campaign_visible(", "calltrack_client_visible("];

/// Every plan node below `node`, itself included.
pub(crate) fn plan_nodes<'a>(node: &'a Value, out: &mut Vec<&'a Value>) {
    out.push(node);
    for child in node["Plans"].as_array().into_iter().flatten() {
        plan_nodes(child, out);
    }
}

/// Asserts that each of calltrack's policies (those for `calltrack_api`) tests the scope
/// with sub-selects, and none with a per-row function; returns how many there are.
pub(crate) async fn assert_policies_are_set_based(db: &Client) -> usize {
    let rows = db
        .query(
            "SELECT tablename, policyname, qual FROM pg_policies
             WHERE 'calltrack_api' = ANY (roles) AND qual IS NOT NULL ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    for row in &rows {
        let (table, policy, qual): (&str, &str, &str) = (row.get(0), row.get(1), row.get(2));
        for function in PER_ROW {
            assert!(
                !qual.contains(function),
                "{table}.{policy} calls {function}) for every row: {qual}"
            );
        }
        assert!(
            qual.starts_with("(( SELECT calltrack_all_clients()"),
            "{table}.{policy} does not test the all-clients scope once: {qual}"
        );
    }
    rows.len()
}

/// `EXPLAIN ANALYZE` (JSON) of counting every call session under `scope`, and the count.
pub(crate) async fn explain_scoped_count(
    config: &tokio_postgres::Config,
    scope: &ClientScope,
) -> (Value, i64) {
    let pool = calltrack::db::pool::pool(config.clone(), 1).unwrap();
    let mut conn = pool.get().await.unwrap();
    let tx = conn.transaction().await.unwrap();
    calltrack::db::access::restrict(&tx, scope, None)
        .await
        .unwrap();
    let plan: Value = tx
        .query_one(
            "EXPLAIN (ANALYZE, FORMAT JSON) SELECT count(*) FROM call_sessions",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let count: i64 = tx
        .query_one("SELECT count(*) FROM call_sessions", &[])
        .await
        .unwrap()
        .get(0);
    tx.rollback().await.unwrap();
    (plan, count)
}

/// Asserts that `plan` checks visibility with an InitPlan and hashed sub-selects, each run at
/// most once, and with no per-row function; returns the filter on call_sessions.
pub(crate) fn assert_scope_is_evaluated_once(plan: &Value) -> String {
    let mut nodes = Vec::new();
    plan_nodes(&plan[0]["Plan"], &mut nodes);
    let scan = nodes
        .iter()
        .find(|n| n["Relation Name"] == "call_sessions")
        .unwrap_or_else(|| panic!("no scan of call_sessions: {plan:#}"));
    let filter = scan["Filter"].as_str().unwrap_or_default().to_owned();
    for function in PER_ROW {
        assert!(!filter.contains(function), "per-row function: {plan:#}");
    }
    assert!(
        nodes.iter().any(|n| n["Parent Relationship"] == "InitPlan"),
        "the scope is not an InitPlan: {plan:#}"
    );
    assert!(
        filter.contains("hashed SubPlan")
            && !filter.replace("hashed SubPlan", "").contains("SubPlan"),
        "a sub-select of the filter is not hashed: {plan:#}"
    );
    for node in nodes
        .iter()
        .filter(|n| n["Parent Relationship"] == "InitPlan" || n["Parent Relationship"] == "SubPlan")
    {
        assert!(
            node["Actual Loops"].as_i64().unwrap() <= 1,
            "{} ran once per row: {plan:#}",
            node["Subplan Name"]
        );
    }
    filter
}

#[tokio::test]
async fn calltracks_policies_test_the_callers_scope_once_per_statement_not_once_per_row() {
    let config = test_database().await;
    let db = calltrack::db::pool::connect(&config).await.unwrap();
    // Two clients with a campaign each: 40 sessions of the first, 160 of the second.
    db.batch_execute(
        "INSERT INTO organizations (id, name, type) VALUES ('00000000-0000-0000-0000-000000000001', 'o', 'direct');
         INSERT INTO clients (id, org_id, name)
         SELECT ('00000000-0000-0000-0001-' || lpad(g::text, 12, '0'))::uuid,
                '00000000-0000-0000-0000-000000000001', 'client ' || g
         FROM generate_series(1, 2) g;
         INSERT INTO campaigns (id, client_id, name)
         SELECT ('00000000-0000-0000-0002-' || lpad(g::text, 12, '0'))::uuid,
                ('00000000-0000-0000-0001-' || lpad(g::text, 12, '0'))::uuid, 'campaign ' || g
         FROM generate_series(1, 2) g;
         INSERT INTO tracked_phone_numbers (id, campaign_id, phone_number, forward_to_number)
         SELECT ('00000000-0000-0000-0003-' || lpad(g::text, 12, '0'))::uuid,
                ('00000000-0000-0000-0002-' || lpad(g::text, 12, '0'))::uuid,
                '+1800555' || lpad(g::text, 4, '0'), '+14155550199'
         FROM generate_series(1, 2) g;
         INSERT INTO call_sessions (campaign_id, tracked_number_id, caller_phone, match_status,
             call_status, twilio_call_sid)
         SELECT ('00000000-0000-0000-0002-' || lpad(k::text, 12, '0'))::uuid,
                ('00000000-0000-0000-0003-' || lpad(k::text, 12, '0'))::uuid,
                '+14155550100', 'unmatched', 'completed', 'CA' || md5(g::text)
         FROM generate_series(1, 200) g, LATERAL (SELECT CASE WHEN g <= 40 THEN 1 ELSE 2 END AS k) k;
         ANALYZE;",
    )
    .await
    .unwrap();
    let first: Uuid = "00000000-0000-0000-0001-000000000001".parse().unwrap();

    let policies = assert_policies_are_set_based(&db).await;
    let (scoped, scoped_count) =
        explain_scoped_count(&config, &ClientScope::Clients(vec![first])).await;
    let (everyone, everyone_count) = explain_scoped_count(&config, &ClientScope::All).await;

    // Eleven on the platform's tables, eight on the statistics rollups', two on the CRM
    // events and the due conditions, three on the webhooks' endpoints, messages and attempts.
    assert_eq!(policies, 24);
    assert_eq!(scoped_count, 40);
    assert_eq!(everyone_count, 200);
    assert_scope_is_evaluated_once(&scoped);
    assert_scope_is_evaluated_once(&everyone);
    // With every client visible, the ids of the visible campaigns are never looked up.
    let mut nodes = Vec::new();
    plan_nodes(&everyone[0]["Plan"], &mut nodes);
    for node in nodes
        .iter()
        .filter(|n| n["Parent Relationship"] == "SubPlan")
    {
        assert_eq!(node["Actual Loops"], 0, "{everyone:#}");
    }
}
