//! Gift-card inventory: loading encrypted cards into a pool with the pool's counters kept
//! true (`app::gift_card_pools` owns the transaction and provisions the waiting rewards).

use super::error::{Context as _, Result};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

/// Rows per `INSERT ... SELECT FROM unnest(...)`: four array parameters whatever the size,
/// chunked only to keep one statement's message bounded.
const INSERT_CHUNK: usize = 5_000;

/// A card ready to store: code and PIN already encrypted, value as `NUMERIC` text.
pub struct EncryptedCard {
    /// The line of the file it came from, for error messages.
    pub line: u64,
    pub card_code: String,
    pub pin_code: Option<String>,
    /// `None`: the card takes its pool's `value_amount`.
    pub value_amount: Option<String>,
}

/// Ciphertext only, but there is no reason to print it either.
impl std::fmt::Debug for EncryptedCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptedCard")
            .field("line", &self.line)
            .field("value_amount", &self.value_amount)
            .finish_non_exhaustive()
    }
}

/// The pool a load of cards goes into, locked for the rest of the transaction so concurrent
/// loads and claims see consistent counters.
#[derive(Debug, Clone)]
pub struct LockedPool {
    pub pool_name: String,
    pub client_id: Option<Uuid>,
    /// Whether the pool has a `value_amount` a card without its own may take.
    pub has_value: bool,
}

/// Locks the pool row (`FOR UPDATE`); `None` when it does not exist or row security hides it.
pub async fn lock_pool(tx: &impl GenericClient, pool_id: Uuid) -> Result<Option<LockedPool>> {
    let row = tx
        .query_opt(
            "SELECT pool_name, client_id, value_amount IS NOT NULL FROM gift_card_pools
             WHERE id = $1 FOR UPDATE",
            &[&pool_id],
        )
        .await
        .context("locking the gift card pool failed")?;
    Ok(row.map(|row| LockedPool {
        pool_name: row.get(0),
        client_id: row.get(1),
        has_value: row.get(2),
    }))
}

/// Inserts `cards` into the locked pool as `available` and grows its `total_cards` and
/// `available_cards` by their number, in the caller's transaction.
#[tracing::instrument(skip_all, fields(pool.id = %pool_id, cards = cards.len()))]
pub async fn insert_cards(
    tx: &impl GenericClient,
    pool_id: Uuid,
    cards: &[EncryptedCard],
) -> Result<()> {
    for chunk in cards.chunks(INSERT_CHUNK) {
        insert_chunk(tx, pool_id, chunk).await?;
    }
    let added = i32::try_from(cards.len()).map_err(|_| {
        super::Error::invariant(
            "importing gift cards",
            "too many cards for one import".into(),
        )
    })?;
    tx.execute(
        "UPDATE gift_card_pools
         SET total_cards = COALESCE(total_cards, 0) + $2,
             available_cards = COALESCE(available_cards, 0) + $2
         WHERE id = $1",
        &[&pool_id, &added],
    )
    .await
    .context("updating the pool counters failed")?;
    Ok(())
}

/// The pool's `available_cards` now.
pub async fn available_cards(tx: &impl GenericClient, pool_id: Uuid) -> Result<i32> {
    Ok(tx
        .query_one(
            "SELECT COALESCE(available_cards, 0) FROM gift_card_pools WHERE id = $1",
            &[&pool_id],
        )
        .await
        .context("reading the pool's counters failed")?
        .get(0))
}

/// One multi-row insert: the columns travel as parallel arrays and `unnest` zips them.
async fn insert_chunk(
    tx: &impl GenericClient,
    pool_id: Uuid,
    cards: &[EncryptedCard],
) -> Result<()> {
    let codes: Vec<&str> = cards.iter().map(|c| c.card_code.as_str()).collect();
    let pins: Vec<Option<&str>> = cards.iter().map(|c| c.pin_code.as_deref()).collect();
    let values: Vec<Option<&str>> = cards.iter().map(|c| c.value_amount.as_deref()).collect();
    let inserted = tx
        .execute(
            "INSERT INTO gift_cards (pool_id, card_code, pin_code, value_amount, status)
             SELECT $1, card.code, card.pin, coalesce(card.value::numeric(12,2), p.value_amount),
                    'available'
             FROM unnest($2::text[], $3::text[], $4::text[]) AS card (code, pin, value)
             CROSS JOIN gift_card_pools p
             WHERE p.id = $1",
            &[&pool_id, &codes, &pins, &values],
        )
        .await
        .context("inserting gift cards failed")?;
    if inserted != cards.len() as u64 {
        return Err(super::Error::invariant(
            "inserting gift cards",
            format!("inserted {inserted} of {} gift cards", cards.len()),
        ));
    }
    Ok(())
}
