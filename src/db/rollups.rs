//! Upkeep of the campaign rollups (migrations/V11): folding the changes the triggers append,
//! and counting a campaign again from its facts.

use deadpool_postgres::GenericClient;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use super::error::{Context as _, Result};

/// Folds up to `max_rows` pending changes of each kind into the hourly and total rows;
/// returns how many it folded, `0` when another process is folding now.
pub async fn fold_changes(conn: &mut deadpool_postgres::Object, max_rows: i32) -> Result<u64> {
    let tx = conn
        .transaction()
        .await
        .context("cannot open a transaction")?;
    let held: bool = tx
        .query_one(
            "SELECT pg_try_advisory_xact_lock(calltrack_rollup_lock())",
            &[],
        )
        .await
        .context("taking the rollup lock failed")?
        .get(0);
    if !held {
        return Ok(0);
    }
    // Bounded by `max_rows`, not by a request's deadline: the pool may be a request pool.
    tx.batch_execute("SET LOCAL statement_timeout = '60s'")
        .await
        .context("lifting the statement deadline failed")?;
    let folded: i64 = tx
        .query_one(
            "SELECT calltrack_fold_rollup_changes(NULL, $1)",
            &[&max_rows],
        )
        .await
        .context("folding rollup changes failed")?
        .get(0);
    tx.commit().await.context("committing the fold failed")?;
    Ok(u64::try_from(folded).unwrap_or_default())
}

/// Counts `campaign_id`'s rollups again from its facts, in one transaction; retried when
/// a concurrent fold or a late first call of a caller it recounts got in its way.
pub async fn recount_campaign(
    conn: &mut deadpool_postgres::Object,
    campaign_id: Uuid,
) -> Result<()> {
    const ATTEMPTS: usize = 5;
    let mut attempt = 1;
    loop {
        match recount_once(conn, campaign_id).await {
            Err(error) if attempt < ATTEMPTS && is_serialization_failure(&error) => {
                attempt += 1;
            }
            result => return result.context("recounting a campaign's rollups failed"),
        }
    }
}

async fn recount_once(
    conn: &mut deadpool_postgres::Object,
    campaign_id: Uuid,
) -> std::result::Result<(), tokio_postgres::Error> {
    let tx = conn
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .start()
        .await?;
    // A campaign of millions of calls takes seconds to count: no request deadline applies.
    tx.batch_execute("SET LOCAL statement_timeout = 0").await?;
    tx.execute("SELECT pg_advisory_xact_lock(calltrack_rollup_lock())", &[])
        .await?;
    tx.execute("SELECT calltrack_recount_campaign($1)", &[&campaign_id])
        .await?;
    tx.commit().await
}

fn is_serialization_failure(error: &tokio_postgres::Error) -> bool {
    error.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE)
}

/// Reclaims the change queues' dead rows and refreshes the planner's view of them. A mass
/// count leaves millions of folded (deleted) changes that every reader's index scan steps
/// over until vacuum reaches them: 103 ms instead of 0.7 ms for a campaign's statistics
/// after counting ten million calls. Outside any transaction, as VACUUM must be.
pub async fn vacuum_changes(client: &impl GenericClient) -> Result<()> {
    client
        .batch_execute("VACUUM (ANALYZE) campaign_call_changes, campaign_condition_changes")
        .await
        .context("vacuuming the rollup change queues failed")
}

/// Campaigns whose facts predate the rollups and are not counted yet, a page at a time.
pub async fn campaigns_to_fill(client: &impl GenericClient, limit: i64) -> Result<Vec<Uuid>> {
    let rows = client
        .query(
            "SELECT campaign_id FROM calltrack_rollup_fill ORDER BY campaign_id LIMIT $1",
            &[&limit],
        )
        .await
        .context("listing campaigns to count failed")?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Every campaign that has facts or rollups, or `only` when it does: what a full recount
/// goes through.
pub async fn campaigns_to_recount(
    client: &impl GenericClient,
    only: Option<Uuid>,
) -> Result<Vec<Uuid>> {
    let rows = client
        .query(
            "SELECT id FROM campaigns WHERE $1::uuid IS NULL OR id = $1
             UNION SELECT campaign_id FROM campaign_call_totals WHERE $1::uuid IS NULL
             UNION SELECT campaign_id FROM campaign_condition_totals WHERE $1::uuid IS NULL
             ORDER BY 1",
            &[&only],
        )
        .await
        .context("listing campaigns to recount failed")?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Whether `campaign_id` still waits to be counted from its facts.
pub async fn is_uncounted(client: &impl GenericClient, campaign_id: Uuid) -> Result<bool> {
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM calltrack_rollup_fill WHERE campaign_id = $1)",
            &[&campaign_id],
        )
        .await
        .context("checking whether a campaign is counted failed")?;
    Ok(row.get(0))
}
