//! Adopting a platform database: adding what calltrack owns to tables the platform created,
//! in three stages so a large live table is never locked for long.
//!
//! 1. One transaction: calltrack's own tables, its columns (`ADD COLUMN IF NOT EXISTS` with
//!    constant defaults, which PostgreSQL records without rewriting the table), functions,
//!    triggers on its own columns, constraints `NOT VALID`, role, grants and policies, and
//!    the record that migrations up to the baseline were adopted, not applied.
//! 2. Outside any transaction: existing rows filled in, in short batches; constraints
//!    validated (a scan that does not block writers); indexes built `CONCURRENTLY`.
//! 3. The adoption marked finished.
//!
//! A stop anywhere in stage 2 is resumed by the next `migrate`: every step is idempotent and
//! an invalid index left by a failed concurrent build is dropped and built again.

use anyhow::Context as _;
use tokio_postgres::Client;
use uuid::Uuid;

use super::owned::{BASELINE, FUNCTIONS_SQL, TABLES_SQL};
use super::plan::{Adoption, FILL_BATCH, FillKind, refusal};
use super::{MIGRATIONS, Migration};

/// Carries out `plan`. Refuses, changing nothing, while the plan has problems.
pub async fn adopt(client: &mut Client, plan: &Adoption) -> anyhow::Result<Vec<i32>> {
    if !plan.problems.is_empty() {
        return Err(refusal(&plan.problems));
    }
    let mut adopted = Vec::new();
    if !plan.resuming {
        adopted = first_stage(client, plan).await?;
        tracing::info!(baseline = BASELINE, "adopted the platform's tables");
    }
    for fill in &plan.fills {
        let rows = fill_in(client, fill.kind).await?;
        tracing::info!(fill = ?fill.kind, rows, "filled in existing rows");
    }
    for constraint in &plan.to_validate {
        client
            .batch_execute(&format!(
                "ALTER TABLE {} VALIDATE CONSTRAINT {}",
                constraint.table, constraint.name
            ))
            .await
            .with_context(|| format!("validating {} failed", constraint.name))?;
    }
    for step in &plan.indexes {
        if step.rebuild {
            client
                .batch_execute(&format!(
                    "DROP INDEX CONCURRENTLY IF EXISTS {}",
                    step.index.name
                ))
                .await
                .with_context(|| {
                    format!("dropping the invalid index {} failed", step.index.name)
                })?;
        }
        client
            .batch_execute(&format!("CREATE {}", step.index.definition))
            .await
            .with_context(|| format!("building the index {} failed", step.index.name))?;
        tracing::info!(index = step.index.name, "built index");
    }
    client
        .batch_execute("UPDATE calltrack_adoption SET finished_at = now()")
        .await
        .context("marking the adoption finished failed")?;
    Ok(adopted)
}

async fn first_stage(client: &mut Client, plan: &Adoption) -> anyhow::Result<Vec<i32>> {
    let tx = client.transaction().await?;
    tx.batch_execute(TABLES_SQL)
        .await
        .context("creating calltrack's own tables failed")?;
    for column in &plan.columns {
        tx.batch_execute(&format!(
            "ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}",
            column.table, column.name, column.definition
        ))
        .await
        .with_context(|| format!("adding {}.{} failed", column.table, column.name))?;
    }
    tx.batch_execute(FUNCTIONS_SQL)
        .await
        .context("creating calltrack's functions, triggers and policies failed")?;
    for column in plan.columns.iter().filter(|c| c.touched) {
        tx.batch_execute(&format!(
            "CREATE OR REPLACE TRIGGER calltrack_{0}_set_updated_at BEFORE UPDATE ON {0}
             FOR EACH ROW EXECUTE FUNCTION calltrack_set_updated_at()",
            column.table
        ))
        .await?;
    }
    if plan
        .columns
        .iter()
        .any(|c| c.table == "recipients" && c.name == "phone_e164")
    {
        tx.batch_execute(
            "CREATE OR REPLACE TRIGGER calltrack_recipients_phone_e164
             BEFORE INSERT OR UPDATE OF phone, phone_e164 ON recipients
             FOR EACH ROW EXECUTE FUNCTION calltrack_fill_phone_e164()",
        )
        .await?;
    }
    for constraint in &plan.constraints {
        tx.batch_execute(&format!(
            "ALTER TABLE {} ADD CONSTRAINT {} {} NOT VALID",
            constraint.table, constraint.name, constraint.definition
        ))
        .await
        .with_context(|| format!("adding the constraint {} failed", constraint.name))?;
    }
    tx.execute(
        "INSERT INTO calltrack_adoption (baseline) VALUES ($1) ON CONFLICT DO NOTHING",
        &[&BASELINE],
    )
    .await?;
    let baseline: Vec<&Migration> = MIGRATIONS
        .iter()
        .filter(|m| m.version <= BASELINE)
        .collect();
    for migration in &baseline {
        tx.execute(
            "INSERT INTO calltrack_schema_migrations (version, name, checksum, adopted)
             VALUES ($1, $2, $3, true)",
            &[&migration.version, &migration.name, &migration.checksum()],
        )
        .await?;
    }
    tx.commit()
        .await
        .context("committing the adoption failed")?;
    Ok(baseline.iter().map(|m| m.version).collect())
}

/// Fills one calltrack column for the rows that existed before it, walking the primary key
/// in batches so no statement holds many row locks or runs for long.
async fn fill_in(client: &Client, kind: FillKind) -> anyhow::Result<u64> {
    let sql = match kind {
        FillKind::RecipientPhones => {
            "WITH batch AS (SELECT id FROM recipients WHERE $1::uuid IS NULL OR id > $1
                            ORDER BY id LIMIT $2),
                  filled AS (UPDATE recipients r SET phone_e164 = calltrack_phone_e164(r.phone)
                             FROM batch WHERE r.id = batch.id
                               AND r.phone_e164 IS DISTINCT FROM calltrack_phone_e164(r.phone)
                             RETURNING 1)
             SELECT (SELECT id FROM batch ORDER BY id DESC LIMIT 1), (SELECT count(*) FROM filled)"
        }
        FillKind::SessionStatusRanks => {
            "WITH batch AS (SELECT id FROM call_sessions WHERE $1::uuid IS NULL OR id > $1
                            ORDER BY id LIMIT $2),
                  filled AS (UPDATE call_sessions s
                             SET status_rank = least(calltrack_status_rank(s.call_status::text), 4)
                             FROM batch WHERE s.id = batch.id
                               AND s.status_rank < least(calltrack_status_rank(s.call_status::text), 4)
                             RETURNING 1)
             SELECT (SELECT id FROM batch ORDER BY id DESC LIMIT 1), (SELECT count(*) FROM filled)"
        }
    };
    let statement = client.prepare(sql).await?;
    let mut after: Option<Uuid> = None;
    let mut total = 0u64;
    loop {
        let row = client
            .query_one(&statement, &[&after, &FILL_BATCH])
            .await
            .with_context(|| format!("filling in {kind:?} failed"))?;
        let last: Option<Uuid> = row.get(0);
        let filled: i64 = row.get(1);
        total += u64::try_from(filled).unwrap_or_default();
        match last {
            Some(id) => after = Some(id),
            None => return Ok(total),
        }
    }
}
