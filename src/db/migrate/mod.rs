//! Embedded, forward-only migrations from `migrations/`, applied under an advisory lock so
//! two processes starting at once apply each migration exactly once.
//!
//! Two kinds of database: an empty one, where V1 creates the platform's tables (standalone),
//! and the platform's own, whose tables calltrack adopts instead (see [`adopt`]): the
//! adoption stands in for V1 to V9, which are recorded as adopted, and every later migration
//! runs on both.
//!
//! One direction between the parts: [`catalog`] reads what the database has, [`owned`] lists
//! what calltrack needs, [`plan`] decides from the two what to do, and [`adopt`] carries out an
//! adoption plan. Nothing decides from `adopt`, so `plan` never imports it.

pub mod adopt;
pub mod catalog;
pub mod owned;
pub mod plan;

use std::time::Duration;

use anyhow::{Context as _, bail};
use sha2::{Digest as _, Sha256};
use tokio_postgres::Client;

/// One file of `migrations/`, `V{version}__{name}.sql`.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

macro_rules! migration {
    ($version:literal, $name:literal) => {
        Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!(
                "../../../migrations/V",
                $version,
                "__",
                $name,
                ".sql"
            )),
        }
    };
}

/// Every migration, in order. A test checks this list against the directory.
pub const MIGRATIONS: &[Migration] = &[
    migration!(1, "platform_schema"),
    migration!(2, "call_tracking"),
    migration!(3, "rewards_and_access"),
    migration!(4, "numbers_and_stats"),
    migration!(5, "sms_status_parked"),
    migration!(6, "rewards_no_phone_and_rls"),
    migration!(7, "fail_open"),
    migration!(8, "reconcile_runs"),
    migration!(9, "call_outcome_and_flow"),
    migration!(10, "enum_tolerant_writes_and_scoped_policies"),
    migration!(11, "campaign_rollups"),
    migration!(12, "set_based_row_security"),
    migration!(13, "last_callers"),
    migration!(14, "conditions_that_meet_themselves"),
    migration!(15, "campaign_setup"),
    migration!(16, "webhooks_out"),
];

/// An arbitrary constant naming calltrack's migration lock among advisory locks.
const MIGRATION_LOCK_KEY: i64 = 0x6361_6c6c_7472_6b01;

impl Migration {
    pub fn checksum(&self) -> String {
        Sha256::digest(self.sql.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// A short hash of all migrations, naming the migrated template database in tests.
pub fn fingerprint() -> String {
    let mut hasher = Sha256::new();
    for m in MIGRATIONS {
        hasher.update(m.version.to_be_bytes());
        hasher.update(m.sql.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Applies the pending migrations (adopting the platform's tables first when they exist
/// and calltrack's do not) and returns the versions it applied or adopted. Refuses to run if
/// an applied migration's file has changed since, because released migrations are never
/// edited, and refuses an adoption that [`plan::Plan`] finds problems with, changing nothing.
pub async fn run(client: &mut Client) -> anyhow::Result<Vec<i32>> {
    take_lock(client).await?;
    let result = apply_pending(client).await;
    let unlock = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK_KEY])
        .await;
    let applied = result?;
    unlock.context("cannot release the migration lock")?;
    Ok(applied)
}

/// What [`run`] would do, read from the catalogs without changing anything.
pub async fn check(client: &Client) -> anyhow::Result<plan::Plan> {
    let catalog = catalog::Catalog::read(client).await?;
    verify_checksums(&catalog)?;
    Ok(plan::Plan::from_catalog(&catalog))
}

/// Polls for the lock rather than waiting in `pg_advisory_lock`: a session blocked there
/// holds a snapshot, and the holder's `CREATE INDEX CONCURRENTLY` waits for every older
/// snapshot, which would deadlock the two.
async fn take_lock(client: &Client) -> anyhow::Result<()> {
    loop {
        let taken: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&MIGRATION_LOCK_KEY])
            .await
            .context("cannot take the migration lock")?
            .get(0);
        if taken {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn verify_checksums(catalog: &catalog::Catalog) -> anyhow::Result<()> {
    for (version, checksum) in catalog.applied.iter().flatten() {
        if let Some(migration) = MIGRATIONS.iter().find(|m| m.version == *version)
            && migration.checksum() != *checksum
        {
            bail!(
                "migration V{}__{} was edited after it was applied; add a new migration instead",
                migration.version,
                migration.name
            );
        }
    }
    Ok(())
}

async fn apply_pending(client: &mut Client) -> anyhow::Result<Vec<i32>> {
    // Decided before anything is written, so a refused adoption changes nothing at all.
    let catalog = catalog::Catalog::read(client).await?;
    verify_checksums(&catalog)?;
    let plan = plan::Plan::from_catalog(&catalog);
    if !plan.problems().is_empty() {
        return Err(plan::refusal(plan.problems()));
    }
    client
        .batch_execute(
            "SET client_min_messages = warning;
            CREATE TABLE IF NOT EXISTS calltrack_schema_migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            );
            -- true: the version's objects came from adopting the platform's tables.
            ALTER TABLE calltrack_schema_migrations
                ADD COLUMN IF NOT EXISTS adopted boolean NOT NULL DEFAULT false;
            RESET client_min_messages",
        )
        .await
        .context("cannot create the migrations table")?;
    let mut newly_applied = Vec::new();
    if let plan::Plan::Adopt(adoption) = plan {
        newly_applied = adopt::adopt(client, &adoption).await?;
    }
    let rows = client
        .query("SELECT version FROM calltrack_schema_migrations", &[])
        .await?;
    let applied: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    for migration in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        let tx = client.transaction().await?;
        tx.batch_execute(migration.sql).await.with_context(|| {
            format!(
                "migration V{}__{} failed",
                migration.version, migration.name
            )
        })?;
        tx.execute(
            "INSERT INTO calltrack_schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
            &[&migration.version, &migration.name, &migration.checksum()],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied migration"
        );
        newly_applied.push(migration.version);
    }
    Ok(newly_applied)
}

/// Creates the monthly `events` partitions for the coming year; safe to run at any time.
/// On an adopted database the partitions are the platform's to create, under its own
/// naming, so nothing is done there.
pub async fn ensure_event_partitions(client: &Client) -> anyhow::Result<()> {
    let adopted: bool = client
        .query_one("SELECT to_regclass('calltrack_adoption') IS NOT NULL", &[])
        .await
        .context("cannot tell whether the database was adopted")?
        .get(0);
    if adopted {
        return Ok(());
    }
    client
        .execute("SELECT calltrack_ensure_event_partitions(12)", &[])
        .await
        .context("cannot create events partitions")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_matches_the_migrations_directory() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort_by_key(|n| n[1..].split("__").next().unwrap().parse::<i32>().unwrap());
        let listed: Vec<String> = MIGRATIONS
            .iter()
            .map(|m| format!("V{}__{}.sql", m.version, m.name))
            .collect();
        assert_eq!(files, listed);
    }

    #[test]
    fn versions_are_consecutive_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1);
        }
    }
}
