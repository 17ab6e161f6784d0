//! A campaign's recipients: imported from a CSV body as it streams in, and listed a page at a
//! time.
//!
//! An import reads the body chunk by chunk (parsing off the async threads), and writes every
//! [`BATCH_LINES`] lines as one transaction: copied into a temporary table, then classified,
//! updated and added by one statement. The next batch is parsed while the database writes the
//! last. A batch is committed on its own, so a body that breaks off (the client gone, a
//! database error) leaves the batches before it written; the import is idempotent by
//! redemption code, so sending the same file again finishes it.

use bytes::Bytes;
use futures::{Stream, StreamExt as _};
use uuid::Uuid;

use super::{Caller, begin, commit, connection};
use crate::auth::Principal;
use crate::db::recipients::{self, LineOutcome};
use crate::db::{self, PgPool, access};
use crate::domain::E164;
use crate::domain::recipient_csv::{
    HeaderError, Parsed, RecipientCsv, RecipientLine, RejectedLine,
};

pub use crate::db::recipients::{RecipientRow, RecipientSearch};

/// Lines per transaction of an import.
pub const BATCH_LINES: usize = 10_000;

/// How many rejected lines an import's answer lists; `rejected_total` counts them all.
pub const MAX_LISTED_REJECTIONS: usize = 1_000;

/// Why the body of an import could not be read to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the request body was not received in time")]
    TimedOut,
    #[error("the request body could not be read to its end")]
    Broken,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("no such campaign")]
    NotFound,
    /// The file has no usable header row; nothing was written.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// The body broke off after `written` lines were committed.
    #[error("{error}")]
    Body { error: BodyError, written: u64 },
    #[error(transparent)]
    Db(#[from] db::Error),
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub added: u64,
    pub updated: u64,
    /// The first [`MAX_LISTED_REJECTIONS`] rejected lines, in line order.
    pub rejected: Vec<RejectedLine>,
    pub rejected_total: u64,
}

impl ImportReport {
    fn reject(&mut self, rejected: RejectedLine) {
        self.rejected_total += 1;
        if self.rejected.len() < MAX_LISTED_REJECTIONS {
            self.rejected.push(rejected);
        }
    }
}

/// The lines of one batch, and those of its span the parser rejected.
#[derive(Debug, Default)]
struct Batch {
    lines: Vec<RecipientLine>,
    rejected: Vec<RejectedLine>,
}

impl Batch {
    fn push(&mut self, parsed: Parsed) {
        match parsed {
            Parsed::Line(line) => self.lines.push(line),
            Parsed::Rejected(rejected) => self.rejected.push(rejected),
        }
    }

    fn len(&self) -> usize {
        self.lines.len() + self.rejected.len()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Imports the CSV `body` into a campaign the caller may see: adds its recipients, or updates
/// the campaign's recipient with the same redemption code, and reports each rejected line.
/// One audit row records the counts.
///
/// # Errors
/// `NotFound` before anything is read; `Header` when the file cannot be read at all; `Body`
/// or `Db` when it breaks off, with the batches before it committed.
pub async fn import<S>(
    pool: &PgPool,
    principal: &Principal,
    campaign_id: Uuid,
    body: S,
) -> Result<ImportReport, ImportError>
where
    S: Stream<Item = Result<Bytes, BodyError>>,
{
    let mut conn = connection(pool).await?;
    let tx = begin(&mut conn, Caller::Api(principal)).await?;
    db::stats::campaign_client(&tx, campaign_id)
        .await?
        .filter(|client| principal.scope.allows(*client))
        .ok_or(ImportError::NotFound)?;
    commit(tx).await?;
    recipients::prepare_import(&conn).await?;

    let (batches, mut queue) = tokio::sync::mpsc::channel::<Batch>(1);
    let reading = read_batches(body, batches);
    let writing = async {
        let mut report = ImportReport::default();
        while let Some(batch) = queue.recv().await {
            if let Err(error) = write_batch(&mut conn, campaign_id, batch, &mut report).await {
                // Closing the queue stops the reading.
                queue.close();
                return Err((error, report));
            }
        }
        Ok(report)
    };
    let (read, written) = tokio::join!(reading, writing);
    let (report, outcome) = match (read, written) {
        (Ok(()), Ok(report)) => (report.clone(), Ok(report)),
        (_, Err((error, report))) => (report, Err(ImportError::Db(error))),
        (Err(failure), Ok(report)) => {
            let error = match failure {
                ReadFailure::Header(e) => ImportError::Header(e),
                ReadFailure::Body(error) => ImportError::Body {
                    error,
                    written: report.added + report.updated,
                },
            };
            (report, Err(error))
        }
    };
    let ended = recipients::end_import(&conn).await;
    let audited = audit(&mut conn, principal, campaign_id, &report, outcome.is_ok()).await;
    let report = outcome?;
    ended?;
    audited?;
    Ok(report)
}

/// Why reading stopped before the end of the body.
enum ReadFailure {
    Header(HeaderError),
    Body(BodyError),
}

/// Parses `body` into batches of [`BATCH_LINES`] lines and hands each to `out`; stops early
/// when `out` is closed. Parsing (phone numbers above all) runs on the blocking threads, so
/// the server's threads stay free for other requests.
async fn read_batches<S>(body: S, out: tokio::sync::mpsc::Sender<Batch>) -> Result<(), ReadFailure>
where
    S: Stream<Item = Result<Bytes, BodyError>>,
{
    let mut body = std::pin::pin!(body);
    let mut parser = RecipientCsv::new();
    let mut batch = Batch::default();
    loop {
        let chunk = match body.next().await {
            Some(chunk) => Some(chunk.map_err(ReadFailure::Body)?),
            None => None,
        };
        let end = chunk.is_none();
        let parsed = tokio::task::spawn_blocking(move || {
            let mut sink = |p| batch.push(p);
            let result = match &chunk {
                Some(chunk) => parser.feed(chunk, &mut sink),
                None => parser.finish(&mut sink),
            };
            (parser, batch, result)
        })
        .await;
        let (back, filled, result) = match parsed {
            Ok(parts) => parts,
            // The parser does not panic; if it did, the body cannot be read.
            Err(_) => return Err(ReadFailure::Body(BodyError::Broken)),
        };
        parser = back;
        batch = filled;
        result.map_err(ReadFailure::Header)?;
        if ((end && !batch.is_empty()) || batch.len() >= BATCH_LINES)
            && out.send(std::mem::take(&mut batch)).await.is_err()
        {
            return Ok(());
        }
        if end {
            return Ok(());
        }
    }
}

/// Writes one batch in its own transaction with the service's rights (the caller's access to
/// the campaign was checked before the first), and adds what became of its lines to `report`.
async fn write_batch(
    conn: &mut deadpool_postgres::Object,
    campaign_id: Uuid,
    batch: Batch,
    report: &mut ImportReport,
) -> db::Result<()> {
    let mut rejected = batch.rejected;
    if !batch.lines.is_empty() {
        let tx = begin(conn, Caller::Operator).await?;
        let outcomes = recipients::write_batch(&tx, campaign_id, &batch.lines).await?;
        commit(tx).await?;
        for (line, outcome) in outcomes {
            let reason = match outcome {
                LineOutcome::Added => {
                    report.added += 1;
                    continue;
                }
                LineOutcome::Updated => {
                    report.updated += 1;
                    continue;
                }
                LineOutcome::Repeated { first_line } => {
                    format!("redemption_code was already given on line {first_line}")
                }
                LineOutcome::OtherCampaign => "redemption_code is used by another campaign".into(),
                LineOutcome::Deleted => {
                    "redemption_code belongs to a deleted recipient of this campaign".into()
                }
            };
            rejected.push(RejectedLine { line, reason });
        }
    }
    rejected.sort_by_key(|r| r.line);
    for line in rejected {
        report.reject(line);
    }
    Ok(())
}

/// The import's audit row: counts, never contents.
async fn audit(
    conn: &mut deadpool_postgres::Object,
    principal: &Principal,
    campaign_id: Uuid,
    report: &ImportReport,
    completed: bool,
) -> db::Result<()> {
    let tx = begin(conn, Caller::Api(principal)).await?;
    access::audit(
        &tx,
        principal.user_id(),
        principal.api_client_id(),
        "recipients_import",
        "campaigns",
        campaign_id,
        &serde_json::json!({
            "added": report.added,
            "updated": report.updated,
            "rejected": report.rejected_total,
            "completed": completed,
        }),
    )
    .await?;
    commit(tx).await
}

#[derive(Debug, thiserror::Error)]
pub enum ListRecipientsError {
    #[error("no such campaign")]
    NotFound,
    #[error(transparent)]
    Db(#[from] db::Error),
}

/// What a list's `q` searches: text that reads as a phone number (at least seven digits, and
/// nothing but digits, spaces, `+`, `-`, `.` and parentheses) finds that phone however it was
/// written; anything else finds redemption codes, or last names (case ignored), starting with
/// it. Blank is everyone.
pub fn search(q: Option<&str>) -> RecipientSearch {
    let q = q.map(str::trim).unwrap_or_default();
    if q.is_empty() {
        return RecipientSearch::Everyone;
    }
    let phone_like = q.chars().filter(char::is_ascii_digit).count() >= 7
        && q.chars()
            .all(|c| c.is_ascii_digit() || " +-.()".contains(c));
    match E164::parse(q) {
        Ok(phone) if phone_like => RecipientSearch::Phone(phone.as_str().to_owned()),
        _ => RecipientSearch::Prefix(q.to_owned()),
    }
}

/// A page of a campaign's recipients the caller may see, in redemption-code order after
/// `after`, and whether more follow.
pub async fn list(
    pool: &PgPool,
    principal: &Principal,
    campaign_id: Uuid,
    search: &RecipientSearch,
    after: Option<(&str, Uuid)>,
    limit: i64,
) -> Result<(Vec<RecipientRow>, bool), ListRecipientsError> {
    let mut conn = connection(pool).await?;
    let tx = begin(&mut conn, Caller::Api(principal)).await?;
    db::stats::campaign_client(&tx, campaign_id)
        .await?
        .filter(|client| principal.scope.allows(*client))
        .ok_or(ListRecipientsError::NotFound)?;
    let mut rows = recipients::page(&tx, campaign_id, search, after, limit + 1).await?;
    commit(tx).await?;
    let more = rows.len() > usize::try_from(limit).unwrap_or(0);
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    Ok((rows, more))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_that_reads_as_a_phone_finds_the_phone_and_anything_else_a_prefix() {
        for q in [
            "(415) 555-0100",
            "415.555.0100",
            "+1 415 555 0100",
            " 4155550100 ",
        ] {
            assert!(
                matches!(search(Some(q)), RecipientSearch::Phone(p) if p == "+14155550100"),
                "{q}"
            );
        }
        for q in ["SPRING-48", "lee", "12345", "A 415 555 0100"] {
            assert!(
                matches!(search(Some(q)), RecipientSearch::Prefix(p) if p == q.trim()),
                "{q}"
            );
        }
        assert!(matches!(search(Some("  ")), RecipientSearch::Everyone));
        assert!(matches!(search(None), RecipientSearch::Everyone));
    }
}
