//! The applied-marker of each replayed spool record: what makes a replay exactly-once.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::error::{Context as _, Result};

/// Marks `record_id` applied; false when it already was. Call it inside the transaction that
/// applies the record, so the marker and the record's writes commit together or not at all.
pub async fn mark_applied(client: &impl GenericClient, record_id: Uuid) -> Result<bool> {
    let inserted = client
        .execute(
            "INSERT INTO spool_applied (record_id) VALUES ($1) ON CONFLICT DO NOTHING",
            &[&record_id],
        )
        .await
        .context("marking a spool record applied failed")?;
    Ok(inserted == 1)
}

/// Forgets markers older than `before`. A marker only matters until its record's segment is
/// removed, which follows its commit within seconds; a month is far beyond that.
pub async fn prune(client: &impl GenericClient, before: DateTime<Utc>) -> Result<u64> {
    client
        .execute(
            "DELETE FROM spool_applied WHERE applied_at < $1",
            &[&before],
        )
        .await
        .context("pruning spool markers failed")
}
