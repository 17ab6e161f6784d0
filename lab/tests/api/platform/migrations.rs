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
