//! Gift-card pools and brands as managers set them up: a pool with its stock and the rewards
//! waiting for its cards, a brand found or made by name.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::error::{Context as _, Result};

/// A pool with its stock.
#[derive(Debug, Clone)]
pub struct PoolStock {
    pub id: Uuid,
    /// `None`: an admin master pool.
    pub client_id: Option<Uuid>,
    pub pool_name: String,
    pub brand_name: Option<String>,
    /// `25.00`; `None` when the pool leaves the value to each card.
    pub value_amount: Option<String>,
    pub available_cards: i32,
    pub total_cards: i32,
    /// Conditions met whose reward waits for a card of this pool (`pool_exhausted`).
    pub rewards_waiting: i64,
    pub created_at: DateTime<Utc>,
}

/// The rewards waiting for a card of pool `p` (the partial index
/// `calltrack_conditions_met_waiting_idx` holds exactly them).
pub(crate) const WAITING: &str = "(SELECT count(*) FROM call_conditions_met m
      WHERE m.reward_status = 'pool_exhausted'
        AND m.reward_config_id IN (SELECT rc.id FROM campaign_reward_configs rc
                                   WHERE rc.gift_card_pool_id = p.id))";

fn stock_sql(filter: &str) -> String {
    format!(
        "SELECT p.id, p.client_id, p.pool_name, b.brand_name,
                p.value_amount::numeric(12,2)::text AS value_amount,
                COALESCE(p.available_cards, 0) AS available_cards,
                COALESCE(p.total_cards, 0) AS total_cards,
                {WAITING} AS rewards_waiting, p.created_at
         FROM gift_card_pools p
         LEFT JOIN gift_card_brands b ON b.id = p.brand_id
         {filter}"
    )
}

fn stock_from_row(row: &tokio_postgres::Row) -> PoolStock {
    PoolStock {
        id: row.get("id"),
        client_id: row.get("client_id"),
        pool_name: row.get("pool_name"),
        brand_name: row.get("brand_name"),
        value_amount: row.get("value_amount"),
        available_cards: row.get("available_cards"),
        total_cards: row.get("total_cards"),
        rewards_waiting: row.get("rewards_waiting"),
        created_at: row.get("created_at"),
    }
}

/// The pools the (restricted) caller sees, newest first.
pub async fn list(tx: &impl GenericClient) -> Result<Vec<PoolStock>> {
    let rows = tx
        .query(&stock_sql("ORDER BY p.created_at DESC, p.id DESC"), &[])
        .await
        .context("listing gift card pools failed")?;
    Ok(rows.iter().map(stock_from_row).collect())
}

/// One pool with its stock, if the caller sees it.
pub async fn stock(tx: &impl GenericClient, pool_id: Uuid) -> Result<Option<PoolStock>> {
    let row = tx
        .query_opt(&stock_sql("WHERE p.id = $1"), &[&pool_id])
        .await
        .context("loading the gift card pool failed")?;
    Ok(row.as_ref().map(stock_from_row))
}

/// The brand named `name` (case-insensitively; the oldest when the platform holds several),
/// made when there is none. Concurrent calls for one new name make one brand: each takes a
/// transaction-scoped advisory lock on the lowercased name first. Needs the service's own
/// rights (brands have no calltrack policy or grant).
pub async fn find_or_create_brand(
    tx: &impl GenericClient,
    name: &str,
    default_value: &str,
) -> Result<Uuid> {
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('calltrack.gift_card_brand:' || lower($1), 0))",
        &[&name],
    )
    .await
    .context("locking the brand name failed")?;
    let found = tx
        .query_opt(
            "SELECT id FROM gift_card_brands WHERE lower(brand_name) = lower($1)
             ORDER BY created_at, id LIMIT 1",
            &[&name],
        )
        .await
        .context("finding the brand failed")?;
    if let Some(row) = found {
        return Ok(row.get(0));
    }
    Ok(tx
        .query_one(
            "INSERT INTO gift_card_brands (brand_name, default_value, is_active)
             VALUES ($1, $2::text::numeric(12,2), true) RETURNING id",
            &[&name, &default_value],
        )
        .await
        .context("creating the brand failed")?
        .get(0))
}

/// A new, empty pool of `client_id` (checked by row security as the caller's).
pub async fn insert(
    tx: &impl GenericClient,
    client_id: Uuid,
    brand_id: Uuid,
    pool_name: &str,
    value_amount: &str,
) -> Result<Uuid> {
    Ok(tx
        .query_one(
            "INSERT INTO gift_card_pools (client_id, brand_id, pool_name, value_amount,
                 total_cards, available_cards, delivered_cards)
             VALUES ($1, $2, $3, $4::text::numeric(12,2), 0, 0, 0) RETURNING id",
            &[&client_id, &brand_id, &pool_name, &value_amount],
        )
        .await
        .context("creating the gift card pool failed")?
        .get(0))
}
