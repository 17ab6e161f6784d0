//! Gift-card inventory: loading encrypted cards into a pool in one transaction, with the
//! pool's counters kept true and the rewards waiting on the pool provisioned.

use super::error::{Context as _, Result};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::{PgPool, rewards};

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

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    pub pool_id: Uuid,
    pub pool_name: String,
    pub imported: u64,
    /// The pool's `available_cards` after the waiting rewards took theirs.
    pub available_cards: i32,
    pub provisioned: u64,
}

/// Why nothing was imported; both are the operator's to fix.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImportError {
    #[error("gift card pool {0} does not exist; nothing was imported")]
    UnknownPool(Uuid),
    #[error(
        "pool {pool_id} has no value_amount, so every card needs one; \
         value_amount is empty on line(s) {}; nothing was imported",
        lines_list(.lines)
    )]
    MissingValue { pool_id: Uuid, lines: Vec<u64> },
}

fn lines_list(lines: &[u64]) -> String {
    const SHOWN: usize = 20;
    let mut text = lines
        .iter()
        .take(SHOWN)
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if lines.len() > SHOWN {
        text.push_str(&format!(" and {} more", lines.len() - SHOWN));
    }
    text
}

/// Inserts `cards` into `pool_id` as `available`, grows the pool's `total_cards` and
/// `available_cards` by their number and provisions the rewards waiting on the pool, all in
/// one transaction: either every card is in and counted, or nothing changed. The pool row is
/// locked first, so concurrent imports and claims see consistent counters.
#[tracing::instrument(skip_all, fields(pool.id = %pool_id, cards = cards.len()))]
pub async fn import(
    pool: &PgPool,
    pool_id: Uuid,
    cards: &[EncryptedCard],
) -> Result<Result<ImportSummary, ImportError>> {
    let mut client = pool.get().await.context("cannot connect to PostgreSQL")?;
    let tx = client.transaction().await?;
    let Some(row) = tx
        .query_opt(
            "SELECT pool_name, value_amount IS NOT NULL FROM gift_card_pools
             WHERE id = $1 FOR UPDATE",
            &[&pool_id],
        )
        .await
        .context("locking the gift card pool failed")?
    else {
        return Ok(Err(ImportError::UnknownPool(pool_id)));
    };
    let pool_name: String = row.get(0);
    let pool_has_value: bool = row.get(1);
    if !pool_has_value {
        let lines: Vec<u64> = cards
            .iter()
            .filter(|c| c.value_amount.is_none())
            .map(|c| c.line)
            .collect();
        if !lines.is_empty() {
            return Ok(Err(ImportError::MissingValue { pool_id, lines }));
        }
    }
    for chunk in cards.chunks(INSERT_CHUNK) {
        insert_chunk(&tx, pool_id, chunk).await?;
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
    let provisioned = rewards::provision_waiting(&tx, pool_id).await?;
    let available_cards: i32 = tx
        .query_one(
            "SELECT COALESCE(available_cards, 0) FROM gift_card_pools WHERE id = $1",
            &[&pool_id],
        )
        .await?
        .get(0);
    tx.commit().await.context("committing the import failed")?;
    tracing::info!(
        imported = cards.len(),
        provisioned,
        available_cards,
        "gift cards imported"
    );
    Ok(Ok(ImportSummary {
        pool_id,
        pool_name,
        imported: cards.len() as u64,
        available_cards,
        provisioned,
    }))
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
