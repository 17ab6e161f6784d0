//! `calltrack gift-cards import --pool UUID FILE.csv`: check the whole file, encrypt every
//! code and PIN, then load the cards into the pool in one transaction.

use std::path::PathBuf;

use anyhow::Context as _;
use secrecy::ExposeSecret as _;
use secrecy::zeroize::Zeroize as _;
use uuid::Uuid;

use crate::config::{DatabaseSource, GiftCardImportSettings};
use crate::crypto::CardCipher;
use crate::db::gift_cards::{self, EncryptedCard, ImportSummary};
use crate::domain::gift_card_csv;
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

/// Reads and checks `file`, encrypts its cards with `cipher`, applies pending migrations to
/// the database `source` names and imports the cards into `pool_id`. The database is not
/// touched unless every row of the file is good.
pub async fn import_file(
    source: &DatabaseSource,
    cipher: &CardCipher,
    pool_id: Uuid,
    file: &std::path::Path,
) -> anyhow::Result<ImportSummary> {
    let mut bytes = tokio::fs::read(file)
        .await
        .with_context(|| format!("cannot read {}", file.display()))?;
    let parsed = gift_card_csv::parse(&bytes);
    // The raw file holds every code in plaintext; the parsed rows are secrets from here on.
    bytes.zeroize();
    let rows = parsed.with_context(|| format!("{} was refused", file.display()))?;
    let cards: Vec<EncryptedCard> = rows
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
    drop(rows);

    let (database, pool) = startup::open_and_migrate(source, 1).await?;
    let result = gift_cards::import(&pool, pool_id, &cards).await;
    pool.close();
    database.shutdown()?;
    Ok(result.map_err(without_database_text)??)
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
