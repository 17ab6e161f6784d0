//! `calltrack gift-cards import --pool UUID FILE.csv`: check the whole file, encrypt every
//! code and PIN, then load the cards into the pool in one transaction.

use std::path::PathBuf;

use anyhow::Context as _;
use secrecy::zeroize::Zeroize as _;
use uuid::Uuid;

use crate::app::Caller;
use crate::app::gift_card_pools::{self, AddCardsError, BadLines};
use crate::config::{DatabaseSource, GiftCardImportSettings};
use crate::crypto::CardCipher;
use crate::startup;

/// The arguments of `gift-cards import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The `gift_card_pools.id` the cards go into.
    #[arg(long)]
    pub pool: Uuid,
    /// CSV with the header `card_code,pin_code,value_amount`, then one card a line.
    pub file: PathBuf,
}

/// Runs the command and prints a one-line summary. Fails, having imported nothing, on an
/// unreadable or bad file or an unknown pool.
pub async fn import(args: ImportArgs, settings: &GiftCardImportSettings) -> anyhow::Result<()> {
    let cipher = CardCipher::new(&settings.gift_card_key);
    let summary = import_file(&settings.database, &cipher, args.pool, &args.file).await?;
    println!(
        "imported {} cards into pool {} ({}); available now {}; provisioned {} waiting rewards",
        summary.imported,
        summary.pool_name,
        summary.pool_id,
        summary.available_cards,
        summary.provisioned
    );
    Ok(())
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

/// Reads and checks `file`, encrypts its cards with `cipher`, applies pending migrations to
/// the database `source` names and imports the cards into `pool_id` (the same use case as
/// `POST /api/v1/gift-card-pools/{id}/cards`, refusing the whole file on any bad line). The
/// database is not touched unless every row of the file is good.
pub async fn import_file(
    source: &DatabaseSource,
    cipher: &CardCipher,
    pool_id: Uuid,
    file: &std::path::Path,
) -> anyhow::Result<ImportSummary> {
    let mut bytes = tokio::fs::read(file)
        .await
        .with_context(|| format!("cannot read {}", file.display()))?;
    let prepared = gift_card_pools::prepare_cards(cipher, &bytes, BadLines::RefuseFile);
    // The raw file holds every code in plaintext; only ciphertext is kept from here on.
    bytes.zeroize();
    let prepared = prepared.with_context(|| format!("{} was refused", file.display()))?;

    let (database, pool) = startup::open_and_migrate(source, 1).await?;
    let result = gift_card_pools::add_cards(
        &pool,
        Caller::Operator,
        pool_id,
        prepared,
        BadLines::RefuseFile,
    )
    .await;
    pool.close();
    database.shutdown()?;
    let added = match result {
        Ok(added) => added,
        Err(AddCardsError::Db(error)) => return Err(without_database_text(error)),
        Err(refused) => return Err(refused.into()),
    };
    Ok(ImportSummary {
        pool_id: added.pool_id,
        pool_name: added.pool_name,
        imported: added.added,
        available_cards: added.available_cards,
        provisioned: added.provisioned,
    })
}

/// PostgreSQL's own text of an error can quote the row or value it refused (`DETAIL: Failing
/// row contains (...)`, `invalid input syntax for type numeric: "..."`), so a database error
/// is reported by what calltrack was doing and its SQLSTATE only.
fn without_database_text(error: crate::db::Error) -> anyhow::Error {
    let code = std::error::Error::source(&error)
        .and_then(|e| e.downcast_ref::<tokio_postgres::Error>())
        .and_then(tokio_postgres::Error::code)
        .map(|code| code.code().to_owned());
    match code {
        Some(code) => anyhow::anyhow!(
            "{error}: the database refused it (SQLSTATE {code}); nothing was imported"
        ),
        None => anyhow::anyhow!("{error}; nothing was imported"),
    }
}
