//! A campaign's recipients: imported in batches, and read a page at a time.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::error::{Context as _, Result};
use crate::domain::recipient_csv::RecipientLine;

/// Makes the session's import tables afresh: the lines of the batch being written (emptied by
/// every commit) and each redemption code the import has written so far with its line, which
/// finds a code given twice in one file without the service holding the file's codes.
/// Temporary tables live with the connection, so an import keeps one connection throughout.
pub async fn prepare_import(client: &impl GenericClient) -> Result<()> {
    client
        .batch_execute(
            "DROP TABLE IF EXISTS pg_temp.calltrack_import_lines, pg_temp.calltrack_import_seen;
             CREATE TEMPORARY TABLE calltrack_import_lines (
                 line bigint NOT NULL,
                 redemption_code text NOT NULL,
                 first_name text,
                 last_name text,
                 phone text,
                 action text,
                 earlier bigint,
                 target uuid
             ) ON COMMIT DELETE ROWS;
             CREATE TEMPORARY TABLE calltrack_import_seen (
                 redemption_code text PRIMARY KEY,
                 line bigint NOT NULL
             );",
        )
        .await
        .context("preparing the import's tables failed")
}

/// Drops the tables [`prepare_import`] made, before the connection goes back to the pool.
pub async fn end_import(client: &impl GenericClient) -> Result<()> {
    client
        .batch_execute(
            "DROP TABLE IF EXISTS pg_temp.calltrack_import_lines, pg_temp.calltrack_import_seen",
        )
        .await
        .context("dropping the import's tables failed")
}

/// What became of one line the database saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineOutcome {
    Added,
    Updated,
    /// The code was given on an earlier line of the same file (that line is kept).
    Repeated {
        first_line: u64,
    },
    /// The code belongs to a recipient of another campaign.
    OtherCampaign,
    /// The code belongs to a deleted recipient of this campaign.
    Deleted,
}

/// Writes one batch of an import into `campaign_id` in the open transaction: copies the lines
/// into the session's table, waits for any other import of the campaign to commit its batch,
/// classifies the lines, then updates the campaign's recipients with the lines' codes and adds
/// the rest in one statement. Runs with the service's rights (the caller's access was checked first): a code
/// must be found in every campaign, including those row security hides from the caller.
pub async fn write_batch(
    tx: &deadpool_postgres::Transaction<'_>,
    campaign_id: Uuid,
    lines: &[RecipientLine],
) -> Result<Vec<(u64, LineOutcome)>> {
    let sink = tx
        .copy_in(
            "COPY pg_temp.calltrack_import_lines (line, redemption_code, first_name, last_name, phone)
             FROM STDIN (FORMAT binary)",
        )
        .await
        .context("starting the batch's copy failed")?;
    let writer = BinaryCopyInWriter::new(
        sink,
        &[Type::INT8, Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT],
    );
    futures::pin_mut!(writer);
    for line in lines {
        let number = i64::try_from(line.line).unwrap_or(i64::MAX);
        let phone = line.phone.as_ref().map(crate::domain::E164::as_str);
        writer
            .as_mut()
            .write(&[
                &number,
                &line.redemption_code,
                &line.first_name,
                &line.last_name,
                &phone,
            ])
            .await
            .context("copying the batch failed")?;
    }
    writer
        .finish()
        .await
        .context("finishing the batch's copy failed")?;
    // Concurrent imports of one campaign take turns a batch at a time, so a code two of them
    // bring is added by one and updated by the other. Any hash collision between campaigns
    // only makes them take turns too.
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('calltrack_import:' || $1::uuid::text, 0))",
        &[&campaign_id],
    )
    .await
    .context("waiting for the campaign's other import failed")?;
    // The planner knows nothing of a temporary table's rows until it is analysed. Joining the
    // lines to their lookups is a hash join; the update finds each recipient by its id: with
    // hash and merge joins off, the one plan left is a lookup per line, where a hash join
    // would read the whole recipients table for every batch.
    tx.batch_execute("ANALYZE pg_temp.calltrack_import_lines; SET LOCAL enable_nestloop = off")
        .await
        .context("preparing the batch failed")?;
    tx.execute(CLASSIFY, &[&campaign_id])
        .await
        .context("classifying the batch failed")?;
    tx.batch_execute(
        "SET LOCAL enable_nestloop = on; SET LOCAL enable_hashjoin = off;
         SET LOCAL enable_mergejoin = off",
    )
    .await
    .context("preparing the batch's write failed")?;
    let rows = tx
        .query(WRITE_BATCH, &[&campaign_id])
        .await
        .context("writing the batch failed")?;
    // The codes the insert wrote come back as rows of their own: joining them to the lines
    // would be a nested loop over both (hash joins are off for this statement).
    let inserted: std::collections::HashSet<&str> = rows
        .iter()
        .filter(|row| row.get::<_, &str>(1) == "inserted")
        .filter_map(|row| row.get::<_, Option<&str>>(3))
        .collect();
    rows.iter()
        .filter(|row| row.get::<_, &str>(1) != "inserted")
        .map(|row| {
            let line = u64::try_from(row.get::<_, i64>(0)).unwrap_or_default();
            let earlier = u64::try_from(row.get::<_, i64>(2)).unwrap_or_default();
            let outcome = match row.get::<_, &str>(1) {
                "insert" => match row.get::<_, Option<&str>>(3) {
                    Some(code) if inserted.contains(code) => LineOutcome::Added,
                    _ => LineOutcome::OtherCampaign,
                },
                "update" => LineOutcome::Updated,
                "again" => LineOutcome::Repeated {
                    first_line: earlier,
                },
                "elsewhere" => LineOutcome::OtherCampaign,
                "deleted" => LineOutcome::Deleted,
                other => {
                    return Err(super::Error::invariant(
                        "classifying an imported line",
                        format!("unknown outcome {other}"),
                    ));
                }
            };
            Ok((line, outcome))
        })
        .collect()
}

/// Classifies each line of the batch by its code, each lookup an index probe: `again` (given
/// on an earlier line, `earlier`), `update` (the campaign's live recipient `target`),
/// `elsewhere` (another campaign's), `deleted` (a deleted recipient of this campaign), or
/// `insert`.
const CLASSIFY: &str = r"
UPDATE pg_temp.calltrack_import_lines b
SET action = x.action, earlier = x.earlier, target = x.target
FROM (
    SELECT line, target, COALESCE(seen_line, first_in_batch) AS earlier,
        CASE WHEN first_in_batch < line OR seen_line IS NOT NULL THEN 'again'
             WHEN target IS NOT NULL THEN 'update'
             ELSE COALESCE(found, 'insert') END AS action
    FROM (
        SELECT l.line,
            min(l.line) OVER (PARTITION BY l.redemption_code) AS first_in_batch,
            (SELECT s.line FROM pg_temp.calltrack_import_seen s
             WHERE s.redemption_code = l.redemption_code) AS seen_line,
            (SELECT r.id FROM recipients r
             WHERE r.redemption_code = l.redemption_code AND r.campaign_id = $1
               AND r.deleted_at IS NULL
             ORDER BY r.created_at LIMIT 1) AS target,
            (SELECT CASE WHEN bool_or(r.campaign_id <> $1) THEN 'elsewhere'
                         WHEN bool_or(r.campaign_id = $1) THEN 'deleted' END
             FROM recipients r WHERE r.redemption_code = l.redemption_code) AS found
        FROM pg_temp.calltrack_import_lines l
    ) lookups
) x
WHERE b.line = x.line";

/// Updates and adds in one snapshot; answers each line's outcome, then the codes the insert
/// wrote. A line whose code was added meanwhile by an import into another campaign conflicts
/// with the unique index on `redemption_code` and is reported as that campaign's; on an
/// adopted database without that index the code is added beside it, as the platform itself
/// allows.
const WRITE_BATCH: &str = r"
WITH updated AS (
    UPDATE recipients r
    SET first_name = b.first_name, last_name = b.last_name, phone = b.phone
    FROM pg_temp.calltrack_import_lines b
    WHERE b.action = 'update' AND r.id = b.target
    RETURNING r.id
), inserted AS (
    INSERT INTO recipients (campaign_id, redemption_code, first_name, last_name, phone)
    SELECT $1, b.redemption_code, b.first_name, b.last_name, b.phone
    FROM pg_temp.calltrack_import_lines b WHERE b.action = 'insert'
    ORDER BY b.line
    ON CONFLICT DO NOTHING
    RETURNING redemption_code
), remembered AS (
    INSERT INTO pg_temp.calltrack_import_seen (redemption_code, line)
    SELECT b.redemption_code, b.line FROM pg_temp.calltrack_import_lines b
    WHERE b.action <> 'again'
    ON CONFLICT DO NOTHING
)
SELECT b.line, b.action, b.earlier, CASE WHEN b.action = 'insert' THEN b.redemption_code END
FROM pg_temp.calltrack_import_lines b
UNION ALL
SELECT NULL, 'inserted', NULL, i.redemption_code FROM inserted i";

/// One recipient as the list shows it.
#[derive(Debug, Clone)]
pub struct RecipientRow {
    pub id: Uuid,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub phone_e164: Option<String>,
    pub redemption_code: String,
    pub created_at: DateTime<Utc>,
}

const PAGE_SELECT: &str =
    "SELECT id, first_name, last_name, phone, phone_e164, redemption_code, created_at
     FROM recipients
     WHERE campaign_id = $1 AND deleted_at IS NULL";
const PAGE_ORDER: &str = " ORDER BY redemption_code COLLATE \"C\", id LIMIT $2";

/// `text` as a LIKE pattern that matches it literally.
fn like_escaped(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// What a page of recipients is narrowed to.
#[derive(Debug, Clone)]
pub enum RecipientSearch {
    Everyone,
    /// Recipients with this normalised phone.
    Phone(String),
    /// Recipients whose redemption code starts with the text, or whose last name does (case
    /// ignored).
    Prefix(String),
}

/// A page of the campaign's live recipients in redemption-code order (bytewise, so the
/// order is the same on every database whatever its collation), after `after` (a code and an
/// id), `limit` of them at most.
pub async fn page(
    client: &impl GenericClient,
    campaign_id: Uuid,
    search: &RecipientSearch,
    after: Option<(&str, Uuid)>,
    limit: i64,
) -> Result<Vec<RecipientRow>> {
    // One statement per shape, so each plans on its own index whatever the plan cache does.
    let (after_code, after_id) = after.map_or((None, None), |(c, i)| (Some(c), Some(i)));
    let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&campaign_id, &limit];
    let keyset = if after_code.is_some() {
        params.push(&after_code);
        params.push(&after_id);
        " AND redemption_code COLLATE \"C\" >= $3
          AND (redemption_code COLLATE \"C\" > $3 OR id > $4)"
    } else {
        ""
    };
    let next = params.len() + 1;
    let pattern;
    let sql = match search {
        RecipientSearch::Everyone => format!("{PAGE_SELECT}{keyset}{PAGE_ORDER}"),
        RecipientSearch::Phone(phone) => {
            params.push(phone);
            format!("{PAGE_SELECT}{keyset} AND phone_e164 = ${next}{PAGE_ORDER}")
        }
        RecipientSearch::Prefix(prefix) => {
            pattern = format!("{}%", like_escaped(prefix));
            params.push(&pattern);
            // Two ordered branches, each on its own index (the bytewise code index takes a
            // LIKE prefix as a range; the last-name one is `text_pattern_ops`), merged: one
            // OR would walk the whole campaign when the prefix matches nothing.
            format!(
                "SELECT * FROM (
                     ({PAGE_SELECT}{keyset} AND redemption_code COLLATE \"C\" LIKE ${next}{PAGE_ORDER})
                     UNION
                     ({PAGE_SELECT}{keyset} AND lower(last_name) LIKE lower(${next}){PAGE_ORDER})
                 ) AS found
                 ORDER BY redemption_code COLLATE \"C\", id LIMIT $2"
            )
        }
    };
    let rows = client
        .query(&sql, &params)
        .await
        .context("reading the page of recipients failed")?;
    Ok(rows
        .iter()
        .map(|row| RecipientRow {
            id: row.get(0),
            first_name: row.get(1),
            last_name: row.get(2),
            phone: row.get(3),
            phone_e164: row.get(4),
            redemption_code: row.get(5),
            created_at: row.get(6),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::like_escaped;

    #[test]
    fn a_search_text_matches_itself_literally_in_like() {
        assert_eq!(like_escaped("ROOF-1"), "ROOF-1");
        assert_eq!(like_escaped(r"50%_off\x"), r"50\%\_off\\x");
    }
}
