//! Gift-card pools and their cards: a manager creates a pool (its brand found or made by
//! name), lists pools with their stock, and loads cards; `calltrack gift-cards import` loads
//! cards through the same [`prepare_cards`] and [`add_cards`]. Loading provisions the rewards
//! waiting for the pool at once, oldest first, in the same transaction.

use secrecy::ExposeSecret as _;
use uuid::Uuid;

use super::campaigns::{CampaignError, client_for};
use super::{Caller, begin, commit, connection};
use crate::auth::{ClientScope, Principal};
use crate::crypto::CardCipher;
use crate::db::gift_card_pools::{self, PoolStock};
use crate::db::gift_cards::{self, EncryptedCard};
use crate::db::{self, PgPool, access, rewards};
use crate::domain::campaign_setup::{self as setup, SetupError};
use crate::domain::gift_card_csv::{self, CardValue, CsvError, RowError};

/// Why a pool was not created.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("no such client")]
    NotFound,
    #[error(
        "client_id is required: you can see more than one client (or none), so say which the pool is for"
    )]
    ClientRequired,
    #[error(transparent)]
    Invalid(#[from] SetupError),
    #[error(transparent)]
    Db(#[from] db::Error),
}

impl From<CampaignError> for PoolError {
    fn from(error: CampaignError) -> Self {
        match error {
            CampaignError::NotFound => Self::NotFound,
            CampaignError::ClientRequired => Self::ClientRequired,
            CampaignError::Invalid(e) => Self::Invalid(e),
            CampaignError::Db(e) => Self::Db(e),
        }
    }
}

/// A pool to create, as the caller asked.
#[derive(Debug, Clone)]
pub struct CreatePool<'a> {
    pub client_id: Option<Uuid>,
    pub pool_name: &'a str,
    pub brand_name: &'a str,
    pub value_amount: CardValue,
}

/// Creates an empty pool for the caller's client, its brand found by name (any case) or made,
/// audited.
pub async fn create(
    pool: &PgPool,
    principal: &Principal,
    request: &CreatePool<'_>,
) -> Result<PoolStock, PoolError> {
    let pool_name = setup::name("pool_name", request.pool_name)?;
    let brand_name = setup::name("brand_name", request.brand_name)?;
    let value = request.value_amount.to_string();
    let mut conn = connection(pool).await?;
    let tx = begin(&mut conn, Caller::Api(principal)).await?;
    let client_id = client_for(&tx, principal, request.client_id).await?;
    // Brands are shared by every client and have no calltrack policy: found or made with the
    // service's own rights once the client is known to be the caller's; then back to the
    // caller's rights, so row security checks the pool.
    access::unrestrict(&tx).await?;
    let brand_id = gift_card_pools::find_or_create_brand(&tx, &brand_name, &value).await?;
    access::restrict(&tx, &principal.scope, principal.user_id()).await?;
    let id = gift_card_pools::insert(&tx, client_id, brand_id, &pool_name, &value).await?;
    access::audit(
        &tx,
        principal.user_id(),
        principal.api_client_id(),
        "gift_card_pool_created",
        "gift_card_pools",
        id,
        &serde_json::json!({
            "client_id": client_id,
            "pool_name": pool_name,
            "brand_id": brand_id,
            "value_amount": value,
        }),
    )
    .await?;
    let stock = gift_card_pools::stock(&tx, id)
        .await?
        .ok_or(PoolError::NotFound)?;
    commit(tx).await?;
    Ok(stock)
}

/// The caller's pools with their stock, newest first (admins also see master pools).
pub async fn list(pool: &PgPool, principal: &Principal) -> Result<Vec<PoolStock>, db::Error> {
    let mut conn = connection(pool).await?;
    let tx = begin(&mut conn, Caller::Api(principal)).await?;
    let pools = gift_card_pools::list(&tx).await?;
    commit(tx).await?;
    Ok(pools
        .into_iter()
        .filter(|p| sees_pool(principal, p.client_id))
        .collect())
}

fn sees_pool(principal: &Principal, client_id: Option<Uuid>) -> bool {
    match client_id {
        Some(client) => principal.scope.allows(client),
        None => principal.scope == ClientScope::All,
    }
}

/// How a file's bad lines are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadLines {
    /// Any bad line refuses the whole file (the command line: an operator fixes the file).
    RefuseFile,
    /// Good lines are loaded and bad ones reported (the API: the console lists them).
    Report,
}

/// Cards read from a file and encrypted, not yet loaded; the plaintext is gone.
#[derive(Debug)]
pub struct PreparedCards {
    pub cards: Vec<EncryptedCard>,
    /// Problems of the lines left out, by line; empty under [`BadLines::RefuseFile`].
    pub rejected: Vec<RowError>,
}

/// Reads an inventory file (`card_code,pin_code,value_amount`) and encrypts each code and
/// PIN with `cipher`. Fails when the file as a whole cannot be read, or under
/// [`BadLines::RefuseFile`] when any line is bad.
pub fn prepare_cards(
    cipher: &CardCipher,
    file: &[u8],
    bad_lines: BadLines,
) -> Result<PreparedCards, CsvError> {
    let (rows, rejected) = match bad_lines {
        BadLines::RefuseFile => (gift_card_csv::parse(file)?, Vec::new()),
        BadLines::Report => {
            let read = gift_card_csv::read(file)?;
            (read.cards, read.rejected)
        }
    };
    let cards = rows
        .iter()
        .map(|row| EncryptedCard {
            line: row.line,
            card_code: cipher.encrypt(row.card_code.expose_secret()),
            pin_code: row
                .pin_code
                .as_ref()
                .map(|pin| cipher.encrypt(pin.expose_secret())),
            value_amount: row.value_amount.map(|value| value.to_string()),
        })
        .collect();
    Ok(PreparedCards { cards, rejected })
}

/// What loading cards did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardsAdded {
    pub pool_id: Uuid,
    pub pool_name: String,
    pub added: u64,
    /// The lines left out, by line (the file's and those that need the pool's missing value).
    pub rejected: Vec<RowError>,
    /// Waiting rewards that took a card.
    pub provisioned: u64,
    /// The pool's `available_cards` after the waiting rewards took theirs.
    pub available_cards: i32,
}

/// Why no card was loaded; both are the caller's to fix.
#[derive(Debug, thiserror::Error)]
pub enum AddCardsError {
    #[error("gift card pool {0} does not exist; nothing was imported")]
    UnknownPool(Uuid),
    #[error(
        "pool {pool_id} has no value_amount, so every card needs one; \
         value_amount is empty on line(s) {}; nothing was imported",
        lines_list(.lines)
    )]
    MissingValue { pool_id: Uuid, lines: Vec<u64> },
    #[error(transparent)]
    Db(#[from] db::Error),
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

/// Loads prepared cards into `pool_id` as `available`, grows its counters and provisions the
/// rewards waiting for it (oldest first, their SMS queued), in one transaction: every card
/// loaded is counted, or nothing changed. A card without a value in a pool without one is a
/// refusal under [`BadLines::RefuseFile`], a rejected line under [`BadLines::Report`].
/// Audited when an API caller loads.
pub async fn add_cards(
    pool: &PgPool,
    caller: Caller<'_>,
    pool_id: Uuid,
    prepared: PreparedCards,
    bad_lines: BadLines,
) -> Result<CardsAdded, AddCardsError> {
    let PreparedCards {
        mut cards,
        mut rejected,
    } = prepared;
    let mut conn = connection(pool).await?;
    let tx = begin(&mut conn, caller).await?;
    let locked = gift_cards::lock_pool(&tx, pool_id)
        .await?
        .filter(|p| {
            caller
                .principal()
                .is_none_or(|who| sees_pool(who, p.client_id))
        })
        .ok_or(AddCardsError::UnknownPool(pool_id))?;
    if !locked.has_value {
        let lines: Vec<u64> = cards
            .iter()
            .filter(|c| c.value_amount.is_none())
            .map(|c| c.line)
            .collect();
        if !lines.is_empty() {
            if bad_lines == BadLines::RefuseFile {
                return Err(AddCardsError::MissingValue { pool_id, lines });
            }
            cards.retain(|c| c.value_amount.is_some());
            rejected.extend(lines.into_iter().map(|line| RowError {
                line,
                problem: "value_amount is empty and the pool has no value_amount".into(),
            }));
            rejected.sort_by_key(|r| r.line);
        }
    }
    if !cards.is_empty() {
        gift_cards::insert_cards(&tx, pool_id, &cards).await?;
    }
    if let Some(principal) = caller.principal() {
        access::audit(
            &tx,
            principal.user_id(),
            principal.api_client_id(),
            "gift_cards_added",
            "gift_card_pools",
            pool_id,
            &serde_json::json!({ "added": cards.len(), "rejected": rejected.len() }),
        )
        .await?;
    }
    // The caller's access to the pool is settled; provisioning writes recipients' SMS and
    // the met conditions of every campaign rewarded from the pool.
    access::unrestrict(&tx).await?;
    let provisioned = rewards::provision_waiting(&tx, pool_id).await?;
    let available_cards = gift_cards::available_cards(&tx, pool_id).await?;
    commit(tx).await?;
    tracing::info!(
        added = cards.len(),
        rejected = rejected.len(),
        provisioned,
        available_cards,
        "gift cards loaded"
    );
    Ok(CardsAdded {
        pool_id,
        pool_name: locked.pool_name,
        added: cards.len() as u64,
        rejected,
        provisioned,
        available_cards,
    })
}
