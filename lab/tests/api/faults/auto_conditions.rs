//! Conditions that meet themselves when things break: a call rule met from callbacks spooled
//! during an outage and replayed after it, and time delays met once by two `serve` processes
//! of which one is killed and restarted.

use std::time::Duration;

use calltrack_lab::faults::{FaultCluster, ServeConfig, ServeProcess};
use uuid::Uuid;

use crate::fast::auto_conditions::{
    answered_call, automatic_conditions, messages_to, twilio_accepts,
};
use crate::helpers::{TRACKED_NUMBER, TestApp, test_database};

fn unreachable_database() -> tokio_postgres::Config {
    "postgres://postgres@127.0.0.1:1/postgres".parse().unwrap()
}

#[tokio::test]
async fn a_call_rule_is_met_from_callbacks_spooled_in_an_outage_once_they_are_replayed() {
    // Arrange: a campaign whose condition 1 is met by 60 s of talk, known to a first server.
    let db_config = test_database().await;
    let first = TestApp::builder()
        .databases(db_config.clone(), db_config.clone())
        .spawn()
        .await;
    let world = first.world(3).await;
    automatic_conditions(&first, &world, 60).await;
    first.wait_for_routing(TRACKED_NUMBER).await;
    let spool_dir = first.spool_dir.display().to_string();
    first.stop().await;

    // Act: the whole call arrives while the database cannot be reached, dial action first.
    let outage = TestApp::builder()
        .databases(unreachable_database(), db_config.clone())
        .env(&[
            ("CALLTRACK_SPOOL_DIR", &spool_dir),
            ("VOICE_DEADLINE_MS", "300"),
        ])
        .spawn()
        .await;
    let (call, mut webhooks) = answered_call("+14155550100", 72);
    let voice = webhooks.remove(0);
    webhooks.reverse();
    webhooks.insert(0, voice);
    for (path, form) in &webhooks {
        let status = outage.post_signed(path, form).await.status();
        assert!(status.is_success(), "{path}: {status}");
    }
    outage.stop().await;
    let checker = calltrack::db::pool::connect(&db_config).await.unwrap();
    let met: i64 = checker
        .query_one("SELECT count(*) FROM call_conditions_met", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(met, 0, "nothing is written during the outage");

    // The database is back: the spool is replayed through the live write path.
    let recovered = TestApp::builder()
        .databases(db_config.clone(), db_config)
        .env(&[("CALLTRACK_SPOOL_DIR", &spool_dir)])
        .spawn()
        .await;
    twilio_accepts(&recovered).await;
    let rule = "SELECT count(*) FROM call_conditions_met
                WHERE condition_number = 1 AND met_by = 'call_rule'
                  AND (met_detail->>'talk_seconds')::int = 72 AND gift_card_id IS NOT NULL";
    assert_eq!(
        recovered.wait_for_count(rule, 1, 15).await,
        1,
        "{}",
        recovered.session(&call.call_sid).await
    );
    let session = recovered.session(&call.call_sid).await;
    let tied = format!(
        "SELECT count(*) FROM call_conditions_met WHERE call_session_id = '{}'",
        session["id"].as_str().unwrap()
    );
    assert_eq!(recovered.count(&tied).await, 1);
    assert_eq!(
        recovered
            .wait_for_count(
                "SELECT count(*) FROM sms_outbox WHERE state = 'sent'",
                1,
                30
            )
            .await,
        1
    );
    assert_eq!(messages_to(&recovered, "+14155550100").await, 1);
}

/// A campaign on the cluster with one `time_delay` condition rewarded from a pool of `cards`,
/// and `recipients` recipients; returns the campaign and the recipients.
async fn time_delay_campaign(
    db: &tokio_postgres::Client,
    recipients: usize,
    cards: usize,
) -> (Uuid, Vec<Uuid>) {
    let campaign: Uuid = db
        .query_one(
            "WITH o AS (INSERT INTO organizations (name, type) VALUES ('Agency', 'agency') RETURNING id),
                  c AS (INSERT INTO clients (org_id, name) SELECT id, 'Roofing' FROM o RETURNING id),
                  k AS (INSERT INTO campaigns (client_id, name) SELECT id, 'Two-day mailer' FROM c RETURNING id, client_id),
                  b AS (INSERT INTO gift_card_brands (brand_name, default_value, is_active) VALUES ('Amazon', 25, true) RETURNING id),
                  p AS (INSERT INTO gift_card_pools (client_id, brand_id, pool_name, value_amount, total_cards, available_cards, delivered_cards)
                        SELECT k.client_id, b.id, 'Amazon $25', 25, $1, $1, 0 FROM k, b RETURNING id),
                  g AS (INSERT INTO gift_cards (pool_id, card_code, value_amount)
                        SELECT p.id, 'v1:not-a-real-code-' || n, 25 FROM p, generate_series(1, $1) n),
                  cc AS (INSERT INTO campaign_conditions (campaign_id, condition_number, condition_name, trigger_type, time_delay_hours, is_active)
                         SELECT id, 1, 'Kept the booking', 'time_delay', 48, true FROM k)
             INSERT INTO campaign_reward_configs (campaign_id, condition_number, gift_card_pool_id, sms_template)
             SELECT k.id, 1, p.id, 'Hi {first_name}: {card_code}' FROM k, p
             RETURNING campaign_id",
            &[&i32::try_from(cards).unwrap()],
        )
        .await
        .unwrap()
        .get(0);
    let rows = db
        .query(
            "INSERT INTO recipients (campaign_id, redemption_code, first_name, phone)
             SELECT $1, 'TD-' || n, 'Dana', '+1646555' || lpad(n::text, 4, '0')
             FROM generate_series(1, $2) n RETURNING id",
            &[&campaign, &i32::try_from(recipients).unwrap()],
        )
        .await
        .unwrap();
    (campaign, rows.iter().map(|r| r.get(0)).collect())
}

/// Timers of `recipients`, falling due `after` from now (as an answered call 48 hours earlier
/// would have left them).
async fn timers(db: &tokio_postgres::Client, campaign: Uuid, recipients: &[Uuid], after: Duration) {
    db.execute(
        "INSERT INTO calltrack_conditions_due (recipient_id, condition_number, campaign_id, met_by, due_at)
         SELECT r, 1, $1, 'time_delay', now() + make_interval(secs => $3)
         FROM unnest($2::uuid[]) r",
        &[&campaign, &recipients, &after.as_secs_f64()],
    )
    .await
    .unwrap();
}

async fn count(db: &tokio_postgres::Client, sql: &str) -> i64 {
    db.query_one(sql, &[]).await.unwrap().get(0)
}

async fn wait_until_none_due(db: &tokio_postgres::Client, within: Duration) {
    let until = std::time::Instant::now() + within;
    while count(db, "SELECT count(*) FROM calltrack_conditions_due").await > 0 {
        assert!(
            std::time::Instant::now() < until,
            "conditions still due after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn time_delays_are_met_once_by_two_serve_processes_across_a_kill_and_a_restart() {
    let cluster = FaultCluster::create().await.unwrap();
    let binary = calltrack_lab::calltrack_binary().unwrap();
    cluster.migrate(&binary).await.unwrap();
    let db = cluster.connect().await.unwrap();
    let (campaign, recipients) = time_delay_campaign(&db, 400, 400).await;
    let instance = |name: &str| {
        let mut config = ServeConfig::new(
            &binary,
            cluster.url(),
            cluster.root().join(name),
            Duration::from_millis(1500),
        );
        config
            .more_env
            .push(("CONDITION_CHECK_INTERVAL_MS".into(), "100".into()));
        config
    };
    // Half are due at once, when both instances start; the other half while one is killed
    // and restarted.
    timers(&db, campaign, &recipients[..200], Duration::ZERO).await;
    let (a, b) = tokio::join!(
        ServeProcess::start(instance("a")),
        ServeProcess::start(instance("b"))
    );
    let (mut a, b) = (a.unwrap(), b.unwrap());
    wait_until_none_due(&db, Duration::from_secs(30)).await;
    timers(
        &db,
        campaign,
        &recipients[200..],
        Duration::from_millis(500),
    )
    .await;
    a.kill().await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    a.restart().await.unwrap();
    wait_until_none_due(&db, Duration::from_secs(30)).await;

    // Each recipient met the condition once, with one card and one SMS.
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM call_conditions_met WHERE met_by = 'time_delay'"
        )
        .await,
        400
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(DISTINCT recipient_id) FROM call_conditions_met"
        )
        .await,
        400
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM gift_cards WHERE status = 'claimed'"
        )
        .await,
        400
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(DISTINCT condition_met_id) FROM sms_outbox"
        )
        .await,
        400
    );
    assert_eq!(count(&db, "SELECT count(*) FROM sms_outbox").await, 400);
    assert_eq!(
        count(&db, "SELECT available_cards::bigint FROM gift_card_pools").await,
        0
    );
    drop(b);
}
