//! Numbers read at scrape time for `/metrics`. Each is a small indexed query.

use super::error::{Context as _, Result};
use deadpool_postgres::GenericClient;

/// Point-in-time levels for the metrics endpoint.
#[derive(Debug, Clone, Default)]
pub struct Gauges {
    /// Calls created in the last 24 hours, by their current status.
    pub calls_by_status: Vec<(String, i64)>,
    /// SMS outbox rows by state, for the states that are still moving.
    pub outbox_by_state: Vec<(String, i64)>,
    /// Available cards per gift-card pool: (pool id, available). Keyed by id only: pool
    /// names are chosen by users, so they would make unbounded, free-text label values.
    pub pool_levels: Vec<(String, i64)>,
}

pub async fn read(client: &impl GenericClient) -> Result<Gauges> {
    let calls = client
        .query(
            "SELECT call_status::text, count(*) FROM call_sessions
             WHERE created_at > now() - interval '24 hours' GROUP BY call_status",
            &[],
        )
        .await
        .context("counting calls failed")?;
    let outbox = client
        .query(
            "SELECT state, count(*) FROM sms_outbox WHERE state IN ('pending', 'sending') GROUP BY state",
            &[],
        )
        .await
        .context("counting the outbox failed")?;
    let pools = client
        .query(
            "SELECT id::text, COALESCE(available_cards, 0)::bigint FROM gift_card_pools",
            &[],
        )
        .await
        .context("reading pool levels failed")?;
    Ok(Gauges {
        calls_by_status: calls.iter().map(|r| (r.get(0), r.get(1))).collect(),
        outbox_by_state: outbox.iter().map(|r| (r.get(0), r.get(1))).collect(),
        pool_levels: pools.iter().map(|r| (r.get(0), r.get(1))).collect(),
    })
}
