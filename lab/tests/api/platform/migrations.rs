use super::adoption::{Platform, on_each_platform, platform_database};
use crate::helpers::{conninfo, test_database};
use calltrack::db::migrate::catalog::Catalog;
use calltrack::db::migrate::plan::{Stage, schema_problems};
use calltrack::db::{self, migrate::MIGRATIONS};

on_each_platform!(a_platform_database_migrated_twice_is_adopted_once);

/// An empty database (not cloned from the migrated template) on the test server.
async fn empty_database() -> tokio_postgres::Config {
    let migrated = test_database().await;
    let name = format!(
        "calltrack_e_{}_{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    );
    let admin = db::pool::connect(&migrated).await.unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE template0"))
        .await
        .unwrap();
    let mut config = migrated.clone();
    config.dbname(&name);
    config
}

async fn applied_versions(config: &tokio_postgres::Config) -> Vec<i32> {
    let client = db::pool::connect(config).await.unwrap();
    client
        .query(
            "SELECT version FROM calltrack_schema_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test]
async fn migrations_applied_twice_apply_once() {
    let config = empty_database().await;
    let mut client = db::pool::connect(&config).await.unwrap();

    let first = db::migrate::run(&mut client).await.unwrap();
    let second = db::migrate::run(&mut client).await.unwrap();

    assert_eq!(first.len(), MIGRATIONS.len());
    assert!(second.is_empty());
    assert_eq!(applied_versions(&config).await.len(), MIGRATIONS.len());
}

async fn a_platform_database_migrated_twice_is_adopted_once(platform: Platform) {
    let config = platform_database(platform).await;
    let mut client = db::pool::connect(&config).await.unwrap();

    let first = db::migrate::run(&mut client).await.unwrap();
    let second = db::migrate::run(&mut client).await.unwrap();

    assert_eq!(first.len(), MIGRATIONS.len());
    assert!(second.is_empty());
    assert_eq!(applied_versions(&config).await.len(), MIGRATIONS.len());
}

/// The guard on how calltrack's code reads each platform column (`owned::PLATFORM_TABLES`):
/// the schema calltrack creates itself meets every expectation the adoption checks.
#[tokio::test]
async fn the_standalone_schema_has_every_column_calltrack_reads_of_the_type_it_reads() {
    let client = db::pool::connect(&test_database().await).await.unwrap();
    let catalog = Catalog::read(&client).await.unwrap();

    assert_eq!(
        schema_problems(&catalog, Stage::Adopted),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn two_processes_migrating_at_once_both_succeed() {
    let config = empty_database().await;
    let info = conninfo(&config);
    let spawn = || {
        tokio::process::Command::new(calltrack_lab::calltrack_binary().unwrap())
            .arg("migrate")
            .env("DATABASE_URL", &info)
            .env("LOG_FORMAT", "json")
            .output()
    };

    let (a, b) = tokio::join!(spawn(), spawn());

    for output in [a.unwrap(), b.unwrap()] {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let expected: Vec<i32> = MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(applied_versions(&config).await, expected);
}

#[tokio::test]
async fn the_schema_has_the_documented_constraints() {
    let config = test_database().await;
    let client = db::pool::connect(&config).await.unwrap();
    let bad_status = client
        .execute(
            "UPDATE call_sessions SET call_status = 'exploded' WHERE false OR true",
            &[],
        )
        .await;
    assert!(bad_status.is_ok(), "no rows, so nothing to violate yet");
    let partitions: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        partitions >= 13,
        "monthly partitions for the year ahead plus default: {partitions}"
    );
    let unique: bool = client
        .query_one(
            "SELECT indisunique FROM pg_index WHERE indexrelid = 'call_sessions_twilio_call_sid_key'::regclass",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(unique);
    let check = client
        .execute(
            "INSERT INTO organizations (name, type) VALUES ('x', 'not-a-type')",
            &[],
        )
        .await;
    assert!(check.is_err(), "enumerated columns are checked");
}

/// A database whose rollups were counted before V13 kept callers' last calls: the upgrade
/// lists its campaigns to be counted again, calls that arrive before that are kept, and once
/// counted every rollup equals a recount and every range answers as the facts do.
#[tokio::test]
async fn a_database_counted_before_last_calls_is_counted_again_by_the_upgrade() {
    let config = empty_database().await;
    let mut client = db::pool::connect(&config).await.unwrap();
    client
        .batch_execute(
            "CREATE TABLE calltrack_schema_migrations (version integer PRIMARY KEY,
                 name text NOT NULL, checksum text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now(),
                 adopted boolean NOT NULL DEFAULT false)",
        )
        .await
        .unwrap();
    for migration in MIGRATIONS.iter().filter(|m| m.version <= 12) {
        let tx = client.transaction().await.unwrap();
        tx.batch_execute(migration.sql).await.unwrap();
        tx.execute(
            "INSERT INTO calltrack_schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
            &[&migration.version, &migration.name, &migration.checksum()],
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    // Calls over two days, callers calling back across hours, counted by V11's triggers.
    let calls = |first: i32, last: i32| {
        format!(
            "INSERT INTO call_sessions (campaign_id, tracked_number_id, caller_phone, twilio_call_sid, created_at)
             SELECT t.campaign_id, t.id, '+1212555' || lpad((g % 13)::text, 4, '0'), 'CA' || md5('u' || g),
                    '2026-11-02T00:00:00Z'::timestamptz + g * interval '23 minutes'
             FROM tracked_phone_numbers t, generate_series({first}, {last}) g"
        )
    };
    client
        .batch_execute(&format!(
            "WITH o AS (INSERT INTO organizations (name, type) VALUES ('Upgraded', 'direct') RETURNING id),
                  c AS (INSERT INTO clients (org_id, name) SELECT id, 'Upgraded Co' FROM o RETURNING id),
                  k AS (INSERT INTO campaigns (client_id, name) SELECT id, 'Upgraded' FROM c RETURNING id)
             INSERT INTO tracked_phone_numbers (campaign_id, phone_number, forward_to_number)
             SELECT id, '+18005550333', '+14155550111' FROM k;
             {};
             SELECT calltrack_fold_rollup_changes(NULL, 100000);",
            calls(0, 80)
        ))
        .await
        .unwrap();
    let campaign: uuid::Uuid = client
        .query_one("SELECT id FROM campaigns", &[])
        .await
        .unwrap()
        .get(0);

    let applied = db::migrate::run(&mut client).await.unwrap();
    assert_eq!(applied.first(), Some(&13));
    let waiting: i64 = client
        .query_one(
            "SELECT count(*) FROM calltrack_rollup_fill WHERE campaign_id = $1",
            &[&campaign],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(waiting, 1);
    // Calls back before the campaign is counted again, and a deletion.
    client.batch_execute(&calls(81, 120)).await.unwrap();
    client
        .batch_execute(&format!(
            "{}; DELETE FROM call_sessions WHERE twilio_call_sid = 'CA' || md5('u' || 3)",
            calls(121, 130)
        ))
        .await
        .unwrap();

    let pool = db::pool::pool(config.clone(), 1).unwrap();
    calltrack::app::rollups::fill(&pool, 10).await.unwrap();
    let filled = crate::fast::rollups::rollup_snapshot(&client).await;
    calltrack::app::rollups::rebuild(&pool, None, |_| {})
        .await
        .unwrap();
    assert_eq!(filled, crate::fast::rollups::rollup_snapshot(&client).await);
    let pooled = pool.get().await.unwrap();
    let at = |raw: &str| Some(raw.parse::<chrono::DateTime<chrono::Utc>>().unwrap());
    for from in [
        None,
        at("2026-11-02T05:10:00Z"),
        at("2026-11-03T00:00:00Z"),
        at("2026-11-03T13:47:00Z"),
    ] {
        let counted = calltrack::db::stats::campaign_stats(&pooled, campaign, from, None)
            .await
            .unwrap();
        let facts = calltrack::db::stats::facts::campaign_stats(&pooled, campaign, from, None)
            .await
            .unwrap();
        assert_eq!(counted, facts, "from {from:?}");
    }
}
