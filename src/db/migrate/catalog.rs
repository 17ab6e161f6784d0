//! What the database already holds, read from the system catalogs of the current schema.
//! Read-only: `migrate --check` builds its report from this alone.

use std::collections::HashMap;

use anyhow::Context as _;
use tokio_postgres::Client;

/// One column of an existing table.
#[derive(Debug, Clone)]
pub struct Column {
    /// The type as `format_type` spells it, for the operator (`character varying(40)`).
    pub type_name: String,
    /// The type's `pg_type` name, which [`super::owned::Kind`] checks (`varchar`).
    pub typname: String,
    /// The labels, when the column is a Postgres enum.
    pub enum_labels: Option<Vec<String>>,
    /// NOT NULL with no default, not generated, not an identity: an INSERT must name it.
    pub required_on_insert: bool,
    /// A default, an identity or a generated value fills it when an INSERT leaves it out.
    pub has_default: bool,
}

/// One existing table (or partitioned table).
#[derive(Debug, Clone)]
pub struct Table {
    pub columns: HashMap<String, Column>,
    /// Whether the connected role owns it (or is a member of its owner), which ALTER needs.
    pub owned: bool,
    pub owner: String,
    pub row_security: bool,
    pub forced_row_security: bool,
    pub estimated_rows: i64,
}

/// One existing index.
#[derive(Debug, Clone)]
pub struct Index {
    pub table: String,
    pub unique: bool,
    pub valid: bool,
    pub partial: bool,
    pub key_columns: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub tables: HashMap<String, Table>,
    pub indexes: HashMap<String, Index>,
    /// (table, constraint) → validated.
    pub constraints: HashMap<(String, String), bool>,
    /// Versions in calltrack_schema_migrations; None when that table does not exist.
    pub applied: Option<Vec<(i32, String)>>,
    /// Some(finished) when calltrack adopted this database.
    pub adoption: Option<bool>,
    /// For each unique index calltrack still has to build: how many groups of rows would
    /// violate it.
    pub duplicates: HashMap<&'static str, i64>,
    /// Labels calltrack writes into an enumerated text column that one of the column's
    /// CHECK constraints refuses.
    pub refused_labels: Vec<RefusedLabel>,
}

/// A label a CHECK constraint of the platform's would refuse (`CHECK (call_status IN (...))`
/// without `canceled`, as the schema document lists the values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedLabel {
    pub table: &'static str,
    pub column: &'static str,
    pub constraint: String,
    pub label: &'static str,
}

impl Catalog {
    pub async fn read(client: &Client) -> anyhow::Result<Self> {
        let mut catalog = Catalog::default();
        let rows = client
            .query(
                "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod),
                        CASE WHEN t.typtype = 'e' THEN ARRAY(
                            SELECT e.enumlabel::text FROM pg_enum e
                            WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) END,
                        a.attnotnull AND NOT a.atthasdef AND a.attgenerated = ''
                            AND a.attidentity = '',
                        a.atthasdef OR a.attgenerated <> '' OR a.attidentity <> '',
                        t.typname::text,
                        pg_has_role(current_user, c.relowner, 'USAGE'),
                        pg_get_userbyid(c.relowner)::text,
                        c.relrowsecurity, c.relforcerowsecurity,
                        greatest(c.reltuples, 0)::bigint
                 FROM pg_class c
                 JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                 JOIN pg_type t ON t.oid = a.atttypid
                 WHERE c.relnamespace = current_schema()::regnamespace
                   AND c.relkind IN ('r', 'p') AND NOT c.relispartition",
                &[],
            )
            .await
            .context("reading the tables of the current schema failed")?;
        for row in rows {
            let table = catalog.tables.entry(row.get(0)).or_insert_with(|| Table {
                columns: HashMap::new(),
                owned: row.get(7),
                owner: row.get(8),
                row_security: row.get(9),
                forced_row_security: row.get(10),
                estimated_rows: row.get(11),
            });
            table.columns.insert(
                row.get(1),
                Column {
                    type_name: row.get(2),
                    typname: row.get(6),
                    enum_labels: row.get(3),
                    required_on_insert: row.get(4),
                    has_default: row.get(5),
                },
            );
        }

        let rows = client
            .query(
                "SELECT i.relname::text, t.relname::text, x.indisunique, x.indisvalid,
                        x.indpred IS NOT NULL,
                        ARRAY(SELECT a.attname::text
                              FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k (attnum, n)
                              JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
                              WHERE k.n <= x.indnkeyatts ORDER BY k.n)
                 FROM pg_index x
                 JOIN pg_class i ON i.oid = x.indexrelid
                 JOIN pg_class t ON t.oid = x.indrelid
                 WHERE t.relnamespace = current_schema()::regnamespace",
                &[],
            )
            .await
            .context("reading the indexes of the current schema failed")?;
        for row in rows {
            catalog.indexes.insert(
                row.get(0),
                Index {
                    table: row.get(1),
                    unique: row.get(2),
                    valid: row.get(3),
                    partial: row.get(4),
                    key_columns: row.get(5),
                },
            );
        }

        let rows = client
            .query(
                "SELECT t.relname::text, c.conname::text, c.convalidated
                 FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
                 WHERE t.relnamespace = current_schema()::regnamespace",
                &[],
            )
            .await
            .context("reading the constraints of the current schema failed")?;
        for row in rows {
            catalog
                .constraints
                .insert((row.get(0), row.get(1)), row.get(2));
        }

        if catalog.tables.contains_key("calltrack_schema_migrations") {
            let rows = client
                .query(
                    "SELECT version, checksum FROM calltrack_schema_migrations",
                    &[],
                )
                .await
                .context("reading the applied migrations failed")?;
            catalog.applied = Some(rows.iter().map(|r| (r.get(0), r.get(1))).collect());
        }
        if catalog.tables.contains_key("calltrack_adoption") {
            let row = client
                .query_opt(
                    "SELECT finished_at IS NOT NULL FROM calltrack_adoption",
                    &[],
                )
                .await
                .context("reading the adoption's state failed")?;
            catalog.adoption = row.map(|r| r.get(0));
        }
        // Counting duplicates scans whole tables, so only for an adoption still to be done,
        // never on the start of a migrated database.
        let adopting = catalog.adoption == Some(false)
            || (catalog.applied.as_ref().is_none_or(Vec::is_empty)
                && super::owned::PLATFORM_TABLES
                    .iter()
                    .any(|t| catalog.tables.contains_key(t.name)));
        for index in super::owned::OWNED_INDEXES.iter().filter(|_| adopting) {
            let built = catalog.indexes.get(index.name).is_some_and(|i| i.valid);
            let (Some(sql), false) = (index.duplicates, built) else {
                continue;
            };
            if !catalog.tables.contains_key(index.table) {
                continue;
            }
            // A platform table lacking the column is reported as such; no count then.
            if let Ok(row) = client.query_one(sql, &[]).await {
                catalog.duplicates.insert(index.name, row.get(0));
            }
        }
        catalog.refused_labels = refused_labels(client, &catalog).await?;
        Ok(catalog)
    }

    pub fn has_column(&self, table: &str, column: &str) -> bool {
        self.tables
            .get(table)
            .is_some_and(|t| t.columns.contains_key(column))
    }

    /// A valid, non-partial unique index of `table` on exactly `columns`.
    pub fn has_unique_on(&self, table: &str, columns: &[&str]) -> Option<&str> {
        self.indexes
            .iter()
            .find(|(_, i)| {
                i.table == table && i.unique && i.valid && !i.partial && i.key_columns == columns
            })
            .map(|(name, _)| name.as_str())
    }
}

/// Evaluates each single-column CHECK constraint of an enumerated text column against the
/// labels calltrack writes there, without writing anything: the constraint's expression,
/// with the column replaced by each label, in a plain SELECT.
async fn refused_labels(client: &Client, catalog: &Catalog) -> anyhow::Result<Vec<RefusedLabel>> {
    let rows = client
        .query(
            "SELECT t.relname::text, a.attname::text, c.conname::text,
                    pg_get_expr(c.conbin, c.conrelid)
             FROM pg_constraint c
             JOIN pg_class t ON t.oid = c.conrelid
             JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = c.conkey[1]
             WHERE c.contype = 'c' AND cardinality(c.conkey) = 1
               AND t.relnamespace = current_schema()::regnamespace",
            &[],
        )
        .await
        .context("reading the check constraints of the current schema failed")?;
    let mut refused = Vec::new();
    for wanted in super::owned::ENUMERATED {
        let enumerated = catalog
            .tables
            .get(wanted.table)
            .and_then(|t| t.columns.get(wanted.column))
            .is_some_and(|c| c.enum_labels.is_some());
        if enumerated || wanted.written.is_empty() {
            continue;
        }
        for row in &rows {
            let (table, column): (&str, &str) = (row.get(0), row.get(1));
            if table != wanted.table || column != wanted.column {
                continue;
            }
            let constraint: String = row.get(2);
            let check = with_column_as(row.get(3), wanted.column, "v.label");
            let sql = format!(
                "SELECT v.label FROM unnest($1::text[]) AS v (label) WHERE NOT coalesce(({check}), true)"
            );
            // An expression this cannot evaluate on its own is left to the platform.
            let Ok(labels) = client.query(&sql, &[&wanted.written]).await else {
                continue;
            };
            for label in labels.iter().map(|r| r.get::<_, String>(0)) {
                if let Some(label) = wanted.written.iter().find(|l| **l == label) {
                    refused.push(RefusedLabel {
                        table: wanted.table,
                        column: wanted.column,
                        constraint: constraint.clone(),
                        label,
                    });
                }
            }
        }
    }
    Ok(refused)
}

/// `expression` (as `pg_get_expr` prints it) with each reference to `column`, bare or
/// double-quoted and outside string literals, replaced by `with`.
fn with_column_as(expression: &str, column: &str, with: &str) -> String {
    let mut out = String::with_capacity(expression.len());
    let mut rest = expression;
    while let Some(c) = rest.chars().next() {
        let token_len = match c {
            // A literal, its doubled quotes included: '' closes and reopens it.
            '\'' => rest[1..].find('\'').map_or(rest.len(), |end| end + 2),
            '"' => rest[1..].find('"').map_or(rest.len(), |end| end + 2),
            c if c.is_alphanumeric() || c == '_' => rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
                .unwrap_or(rest.len()),
            c => c.len_utf8(),
        };
        let (token, tail) = rest.split_at(token_len);
        let name = token.strip_prefix('"').and_then(|t| t.strip_suffix('"'));
        if token == column || name == Some(column) {
            out.push_str(with);
        } else {
            out.push_str(token);
        }
        rest = tail;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::with_column_as;

    #[test]
    fn a_check_expression_has_its_column_replaced_but_not_inside_literals_or_longer_names() {
        let check = "((call_status = ANY (ARRAY['call_status'::text, 'it''s'::text])) \
                     AND (\"call_status\" <> old_call_status))";
        assert_eq!(
            with_column_as(check, "call_status", "v.label"),
            "((v.label = ANY (ARRAY['call_status'::text, 'it''s'::text])) \
             AND (v.label <> old_call_status))"
        );
    }
}
