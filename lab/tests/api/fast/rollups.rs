//! The statistics read from rollups answer exactly what counting the facts answered, for
//! every range, series and campaign card; the rollups equal a full recount.

use calltrack::auth::ClientScope;
use calltrack::db::PgPool;
use calltrack::db::stats::{self, facts};
use calltrack::domain::{Bucket, SeriesWindow, TimeRange};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::helpers::TestApp;

fn pool(app: &TestApp) -> PgPool {
    calltrack::db::pool::pool(app.db_config.clone(), 2).unwrap()
}

fn at(raw: &str) -> DateTime<Utc> {
    raw.parse().unwrap()
}

/// Every rollup row (folded plus pending, all-zero rows left out) and every counted
/// caller, as text, in one order: what a recount must reproduce.
pub(crate) async fn rollup_snapshot(client: &tokio_postgres::Client) -> Vec<String> {
    let calls = "calls, matched, unmatched, answered, missed, voicemail, abandoned, live, \
                 talk_seconds, talked, recorded, new_callers, last_callers";
    let conditions = "met, provisioned, sent, delivered, failed, pending, no_phone";
    let sums = |columns: &str| {
        columns
            .split(", ")
            .map(|c| format!("sum({c})::int8"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let nonzero = |columns: &str| {
        columns
            .split(", ")
            .map(|c| format!("sum({c}) <> 0"))
            .collect::<Vec<_>>()
            .join(" OR ")
    };
    let queries = [
        format!(
            "SELECT 'hour', campaign_id, hour, {s} FROM (
                 SELECT campaign_id, hour, {calls} FROM campaign_call_hours
                 UNION ALL SELECT campaign_id, hour, {calls} FROM campaign_call_changes) x
             GROUP BY 2, 3 HAVING {n} ORDER BY 2, 3",
            s = sums(calls),
            n = nonzero(calls)
        ),
        format!(
            "SELECT 'total', campaign_id, {s} FROM (
                 SELECT campaign_id, {calls} FROM campaign_call_totals
                 UNION ALL SELECT campaign_id, {calls} FROM campaign_call_changes) x
             GROUP BY 2 HAVING {n} ORDER BY 2",
            s = sums(calls),
            n = nonzero(calls)
        ),
        format!(
            "SELECT 'condition hour', campaign_id, hour, condition_number, {s} FROM (
                 SELECT campaign_id, hour, condition_number, {conditions} FROM campaign_condition_hours
                 UNION ALL SELECT campaign_id, hour, condition_number, {conditions}
                 FROM campaign_condition_changes) x
             GROUP BY 2, 3, 4 HAVING {n} ORDER BY 2, 3, 4",
            s = sums(conditions),
            n = nonzero(conditions)
        ),
        format!(
            "SELECT 'condition total', campaign_id, condition_number, {s} FROM (
                 SELECT campaign_id, condition_number, {conditions} FROM campaign_condition_totals
                 UNION ALL SELECT campaign_id, condition_number, {conditions}
                 FROM campaign_condition_changes) x
             GROUP BY 2, 3 HAVING {n} ORDER BY 2, 3",
            s = sums(conditions),
            n = nonzero(conditions)
        ),
        "SELECT 'caller', campaign_id, caller_phone, first_call_at, last_call_hour
         FROM campaign_callers
         ORDER BY 2, 3"
            .to_owned(),
    ];
    let mut lines = Vec::new();
    for query in queries {
        let rows = client
            .query(
                &format!("SELECT row_to_json(r)::text FROM ({query}) r"),
                &[],
            )
            .await
            .unwrap();
        lines.extend(rows.iter().map(|r| r.get::<_, String>(0)));
    }
    lines
}

/// Sessions and conditions met for `campaign` spread over the days around the end of US
/// daylight saving time (2026-11-01 06:00 UTC): on and beside hour boundaries, repeat and
/// withheld callers, every outcome, live calls, rewards in every state; then updates and
/// deletions, so the triggers count changes and removals too.
async fn seed_facts(app: &TestApp, campaign: Uuid, tracked_number: Uuid) {
    app.db
        .batch_execute(&format!(
            "INSERT INTO recipients (id, campaign_id, first_name, redemption_code, phone)
             SELECT ('00000000-0000-0000-0009-' || lpad(g::text, 12, '0'))::uuid, '{campaign}',
                    'R' || g, 'RB-' || md5('{campaign}' || g), '+1415555' || lpad(g::text, 4, '0')
             FROM generate_series(1, 120) g;
             INSERT INTO call_sessions (campaign_id, tracked_number_id, recipient_id, caller_phone,
                 match_status, call_status, status_rank, leg_status, call_answered_at, talk_seconds,
                 voicemail_sid, recording_sid, twilio_call_sid, created_at)
             SELECT '{campaign}', '{tracked_number}',
                    CASE WHEN g % 3 = 0 THEN ('00000000-0000-0000-0009-' || lpad((1 + g % 120)::text, 12, '0'))::uuid END,
                    CASE WHEN g % 17 = 0 THEN NULL ELSE '+1212555' || lpad((g % 45)::text, 4, '0') END,
                    CASE WHEN g % 3 = 0 THEN 'matched' ELSE 'unmatched' END,
                    CASE WHEN g % 11 = 0 THEN 'in-progress' WHEN g % 7 = 0 THEN 'no-answer' ELSE 'completed' END,
                    CASE WHEN g % 11 = 0 THEN 3 ELSE 4 END,
                    CASE WHEN g % 5 = 0 THEN 'no-answer' WHEN g % 5 = 1 THEN 'completed' WHEN g % 5 = 2 THEN 'canceled' END,
                    CASE WHEN g % 5 = 1 AND g % 4 <> 0 THEN '2026-10-30T00:00:00Z'::timestamptz + g * interval '17 minutes' END,
                    CASE WHEN g % 5 = 1 AND g % 8 <> 0 THEN 10 + g % 97 END,
                    CASE WHEN g % 13 = 0 THEN 'RE' || md5('v' || g) END,
                    CASE WHEN g % 4 = 0 THEN 'RE' || md5('r' || g) END,
                    'CA' || md5('s' || g),
                    CASE WHEN g % 10 = 0
                         THEN date_trunc('hour', '2026-10-30T00:00:00Z'::timestamptz + g * interval '17 minutes')
                         ELSE '2026-10-30T00:00:00Z'::timestamptz + g * interval '17 minutes' + (g % 60) * interval '1 second'
                    END
             FROM generate_series(1, 600) g;
             INSERT INTO call_conditions_met (campaign_id, recipient_id, condition_number, met_at,
                 reward_status, delivery_status)
             SELECT '{campaign}', ('00000000-0000-0000-0009-' || lpad((1 + g % 120)::text, 12, '0'))::uuid,
                    1 + g / 120, '2026-10-30T00:00:00Z'::timestamptz + g * interval '41 minutes',
                    (ARRAY['provisioned', 'pool_exhausted', 'no_reward_configured', 'no_phone'])[1 + g % 4],
                    (ARRAY['pending', 'sent', 'delivered', 'failed', NULL])[1 + g % 5]
             FROM generate_series(0, 299) g;
             UPDATE call_sessions SET call_status = 'completed', status_rank = 4,
                    call_answered_at = created_at + interval '5 seconds', talk_seconds = 33
             WHERE call_status = 'in-progress' AND created_at < '2026-11-03T00:00:00Z';
             UPDATE call_sessions SET recipient_id = NULL, match_status = 'unmatched'
             WHERE twilio_call_sid IN (SELECT twilio_call_sid FROM call_sessions
                                       WHERE match_status = 'matched' ORDER BY twilio_call_sid LIMIT 9);
             UPDATE call_conditions_met SET delivery_status = 'delivered'
             WHERE delivery_status = 'sent' AND condition_number = 2;
             DELETE FROM call_sessions WHERE twilio_call_sid IN (
                 SELECT twilio_call_sid FROM call_sessions ORDER BY created_at LIMIT 4);
             DELETE FROM call_conditions_met WHERE id IN (
                 SELECT id FROM call_conditions_met ORDER BY met_at DESC LIMIT 3);"
        ))
        .await
        .unwrap();
}

/// One end of a range; `None` is open.
type Bound = Option<DateTime<Utc>>;

/// Ranges with every edge: open ends, whole hours, ragged edges, inside one hour, on a
/// boundary, across the DST change (buckets stay UTC), empty and outside the data.
fn ranges() -> Vec<(Bound, Bound)> {
    let points = [
        None,
        Some(at("2026-10-29T00:00:00Z")),
        Some(at("2026-10-30T03:00:00Z")),
        Some(at("2026-10-30T03:17:09Z")),
        Some(at("2026-11-01T05:59:59Z")),
        Some(at("2026-11-01T06:00:00Z")),
        Some(at("2026-11-01T06:00:00.25Z")),
        Some(at("2026-11-01T06:42:00Z")),
        Some(at("2026-11-02T11:00:00Z")),
        Some(at("2026-11-05T17:30:30Z")),
        Some(at("2027-01-01T00:00:00Z")),
    ];
    let mut ranges = Vec::new();
    for from in points {
        for to in points {
            if matches!((from, to), (Some(f), Some(t)) if f >= t) {
                continue;
            }
            ranges.push((from, to));
        }
    }
    ranges
}

/// Every answer of the rollups (as the restricted API caller reads them) against the facts'.
async fn assert_same_answers(app: &TestApp, client_id: Uuid, campaign: Uuid) {
    let pool = calltrack::db::pool::pool(app.db_config.clone(), 1).unwrap();
    let mut conn = pool.get().await.unwrap();
    let tx = conn.transaction().await.unwrap();
    calltrack::db::access::restrict(&tx, &ClientScope::Clients(vec![client_id]), None)
        .await
        .unwrap();
    let mut compared = 0;
    for (from, to) in ranges() {
        let old = facts::campaign_stats(&tx, campaign, from, to)
            .await
            .unwrap();
        let new = stats::campaign_stats(&tx, campaign, from, to)
            .await
            .unwrap();
        assert_eq!(new, old, "call-stats from {from:?} to {to:?}");
        compared += 1;
    }
    for (from, to, bucket) in [
        ("2026-10-29T00:00:00Z", "2026-11-08T00:00:00Z", Bucket::Day),
        ("2026-10-31T20:00:00Z", "2026-11-01T14:00:00Z", Bucket::Hour),
        ("2026-10-30T00:00:00Z", "2026-11-03T00:00:00Z", Bucket::Hour),
    ] {
        let range = TimeRange::parse(Some(at(from)), Some(at(to))).unwrap();
        let window = SeriesWindow::parse(range, bucket, Utc::now()).unwrap();
        let old = facts::campaign_series(&tx, campaign, &window)
            .await
            .unwrap();
        let new = stats::campaign_series(&tx, campaign, &window)
            .await
            .unwrap();
        assert_eq!(new, old, "series from {from} to {to} by {bucket:?}");
        compared += 1;
    }
    // The cards' today and week, placed so both cut through the seeded days.
    for now in [at("2026-11-01T06:30:00Z"), at("2026-11-04T23:59:00Z")] {
        let (today, week) = calltrack::app::stats::today_and_week(now);
        let (old, _) = facts::campaign_summaries(&tx, today, week, None, None, 10)
            .await
            .unwrap();
        let (new, _) = stats::campaign_summaries(&tx, today, week, None, None, 10)
            .await
            .unwrap();
        assert_eq!(format!("{new:?}"), format!("{old:?}"), "cards at {now}");
        compared += 1;
    }
    tx.rollback().await.unwrap();
    assert!(compared > 60, "{compared} answers compared");
}

#[tokio::test]
async fn every_statistic_from_the_rollups_equals_the_count_of_the_facts_pending_or_folded() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    seed_facts(&app, world.campaign.id, world.campaign.tracked_number_id).await;
    let sessions = app.count("SELECT count(*) FROM call_sessions").await;
    assert!(sessions > 590, "{sessions} sessions seeded");

    // Whatever the rollup worker has folded so far, and after everything is folded.
    assert_same_answers(&app, world.client_id, world.campaign.id).await;
    // The service's own worker may hold the fold's lock (a fold then folds nothing): fold
    // until the queue is empty.
    for _ in 0..100 {
        calltrack::app::rollups::fold(&pool(&app)).await.unwrap();
        if app
            .count("SELECT count(*) FROM campaign_call_changes")
            .await
            == 0
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        app.count("SELECT count(*) FROM campaign_call_changes")
            .await,
        0
    );
    assert_same_answers(&app, world.client_id, world.campaign.id).await;

    // A campaign not counted yet (as after an upgrade) is read from its facts.
    app.db
        .execute(
            "INSERT INTO calltrack_rollup_fill VALUES ($1)",
            &[&world.campaign.id],
        )
        .await
        .unwrap();
    assert_same_answers(&app, world.client_id, world.campaign.id).await;
    calltrack::app::rollups::fill(&pool(&app), 10)
        .await
        .unwrap();
    assert_eq!(
        app.count("SELECT count(*) FROM calltrack_rollup_fill")
            .await,
        0
    );
    assert_same_answers(&app, world.client_id, world.campaign.id).await;
}

#[tokio::test]
async fn the_rollups_kept_by_the_writes_equal_a_recount_from_the_facts() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    seed_facts(&app, world.campaign.id, world.campaign.tracked_number_id).await;
    // A second campaign's facts must stay its own.
    app.db
        .execute(
            "WITH k AS (
                 INSERT INTO campaigns (client_id, name) VALUES ($1, 'other') RETURNING id
             ), n AS (
                 INSERT INTO tracked_phone_numbers (campaign_id, phone_number, forward_to_number)
                 SELECT id, '+18005550999', '+14155550199' FROM k RETURNING id, campaign_id
             )
             INSERT INTO call_sessions (campaign_id, tracked_number_id, caller_phone, twilio_call_sid, created_at)
             SELECT n.campaign_id, n.id, '+12125550001', 'CA' || md5('o' || g), now() - g * interval '1 hour'
             FROM n, generate_series(1, 30) g",
            &[&world.client_id],
        )
        .await
        .unwrap();

    let kept = rollup_snapshot(&app.db).await;
    let campaigns = calltrack::app::rollups::rebuild(&pool(&app), None, |_| {})
        .await
        .unwrap();
    let recounted = rollup_snapshot(&app.db).await;

    assert!(campaigns >= 2);
    assert!(kept.len() > 100, "{} rollup rows", kept.len());
    assert_eq!(kept, recounted);
}

#[tokio::test]
async fn a_late_earlier_call_of_a_known_caller_moves_its_first_call_and_a_deletion_its_count() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    let (campaign, number) = (world.campaign.id, world.campaign.tracked_number_id);
    let insert = |sid: &'static str, at: &'static str| {
        let db = &app.db;
        async move {
            db.execute(
                "INSERT INTO call_sessions (campaign_id, tracked_number_id, caller_phone, twilio_call_sid, created_at)
                 VALUES ($1, $2, '+12125550042', $3, $4::text::timestamptz)",
                &[&campaign, &number, &sid, &at],
            )
            .await
            .unwrap();
        }
    };
    let calls_of_caller = || async {
        let row = app
            .db
            .query_one(
                "SELECT first_call_at, last_call_hour FROM campaign_callers
                 WHERE campaign_id = $1 AND caller_phone = '+12125550042'",
                &[&campaign],
            )
            .await
            .unwrap();
        (
            row.get::<_, DateTime<Utc>>(0),
            row.get::<_, DateTime<Utc>>(1),
        )
    };
    let first_call = || async { calls_of_caller().await.0 };
    let last_call_hour = || async { calls_of_caller().await.1 };
    let client = pool(&app).get().await.unwrap();
    // The world's own call, made now, is counted too.
    let before = stats::campaign_stats(&client, campaign, None, None)
        .await
        .unwrap();
    insert("CA1", "2026-11-02T10:30:00Z").await;
    insert("CA2", "2026-11-02T08:15:00Z").await;
    assert_eq!(first_call().await, at("2026-11-02T08:15:00Z"));
    // A late earlier call moves the first call, never the last.
    assert_eq!(last_call_hour().await, at("2026-11-02T10:00:00Z"));
    app.db
        .execute(
            "DELETE FROM call_sessions WHERE twilio_call_sid = 'CA2'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(first_call().await, at("2026-11-02T10:30:00Z"));

    let whole = stats::campaign_stats(&client, campaign, None, None)
        .await
        .unwrap();
    let hours = stats::campaign_stats(&client, campaign, None, Some(at("2026-11-02T10:00:00Z")))
        .await
        .unwrap();
    assert_eq!(
        (whole.unique_callers, whole.total_calls),
        (before.unique_callers + 1, before.total_calls + 1)
    );
    assert_eq!((hours.unique_callers, hours.total_calls), (0, 0));
    let kept = rollup_snapshot(&app.db).await;
    calltrack::app::rollups::rebuild(&pool(&app), Some(campaign), |_| {})
        .await
        .unwrap();
    assert_eq!(kept, rollup_snapshot(&app.db).await);

    // Calls back, in later statements: the caller's last call moves out of its hour and into
    // the new one, and a range that runs to now counts the caller once, from any start
    // before the last call, and not at all from after it.
    let since = |from: &'static str| {
        let client = &client;
        async move {
            stats::campaign_stats(client, campaign, Some(at(from)), None)
                .await
                .unwrap()
        }
    };
    let world_callers = since("2026-11-05T00:00:00Z").await.unique_callers;
    insert("CA3", "2026-11-03T09:05:00Z").await;
    insert("CA4", "2026-11-03T09:50:00Z").await;
    insert("CA6", "2026-11-03T10:10:00Z").await;
    assert_eq!(last_call_hour().await, at("2026-11-03T10:00:00Z"));
    // Called in the range's ragged first hour and in the whole hour after it: once.
    assert_eq!(
        since("2026-11-03T09:30:00Z").await.unique_callers,
        world_callers + 1
    );
    assert_eq!(
        since("2026-11-03T10:30:00Z").await.unique_callers,
        world_callers
    );
    insert("CA5", "2026-11-04T16:20:00Z").await;
    assert_eq!(last_call_hour().await, at("2026-11-04T16:00:00Z"));
    assert_eq!(
        since("2026-11-01T00:00:00Z").await.unique_callers,
        world_callers + 1
    );
    assert_eq!(
        since("2026-11-04T16:19:59Z").await.unique_callers,
        world_callers + 1
    );
    assert_eq!(
        since("2026-11-04T16:20:01Z").await.unique_callers,
        world_callers
    );
    let kept = rollup_snapshot(&app.db).await;
    calltrack::app::rollups::rebuild(&pool(&app), Some(campaign), |_| {})
        .await
        .unwrap();
    assert_eq!(kept, rollup_snapshot(&app.db).await);
}
