//! What `migrate` would do to this database, decided from the catalog before anything
//! changes: create the platform schema (an empty database), adopt the platform's tables
//! (they exist), or apply what is pending. `migrate --check` prints it.

use std::fmt;

use super::catalog::{Catalog, Column};
use super::owned::{
    BASELINE, ENUMERATED, Kind, Need, OWNED_COLUMNS, OWNED_CONSTRAINTS, OWNED_INDEXES,
    OWNED_ROUTINES, OWNED_TABLES, OwnedConstraint, OwnedIndex, PLATFORM_TABLES, PlatformColumn,
    PlatformTable,
};
use super::{MIGRATIONS, Migration};

#[derive(Debug)]
pub enum Plan {
    /// No platform tables: calltrack creates them (V1 onwards).
    Standalone { pending: Vec<&'static Migration> },
    /// The platform's tables exist and calltrack has not (fully) adopted them.
    Adopt(Box<Adoption>),
    /// calltrack's schema is in place; these migrations are still to apply.
    Pending {
        adopted: bool,
        pending: Vec<&'static Migration>,
        /// For an adopted database: what the platform changed since that calltrack cannot
        /// work with (a column retyped or dropped). Nothing runs while there is any.
        problems: Vec<String>,
    },
}

/// The adoption of a platform database, step by step.
#[derive(Debug, Default)]
pub struct Adoption {
    /// A previous adoption committed its first step and stopped before finishing.
    pub resuming: bool,
    pub columns: Vec<AddedColumn>,
    pub tables: Vec<&'static str>,
    pub constraints: Vec<&'static OwnedConstraint>,
    /// Constraints of calltrack's that exist but are not validated yet.
    pub to_validate: Vec<&'static OwnedConstraint>,
    pub indexes: Vec<IndexStep>,
    pub fills: Vec<Fill>,
    /// What stops the adoption; nothing is changed while there is any.
    pub problems: Vec<String>,
    /// What the operator should know but does not stop it.
    pub notes: Vec<String>,
    pub later: Vec<&'static Migration>,
}

/// A column the adoption adds to a platform table.
#[derive(Debug, Clone, Copy)]
pub struct AddedColumn {
    pub table: &'static str,
    pub name: &'static str,
    pub definition: &'static str,
    /// An `updated_at` calltrack adds gets its touch trigger.
    pub touched: bool,
    /// A column of the platform's that calltrack reads and this database lacks
    /// ([`Need::Supplied`]), rather than one of calltrack's own.
    pub supplied: bool,
}

#[derive(Debug)]
pub struct IndexStep {
    pub index: &'static OwnedIndex,
    /// An earlier concurrent build failed and left an invalid index, dropped first.
    pub rebuild: bool,
    pub estimated_rows: i64,
}

/// Rows per fill statement: small enough that each batch's row locks are held for
/// milliseconds, large enough that a million rows take seconds. The plan states it and
/// [`super::adopt`] fills in batches of it.
pub const FILL_BATCH: i64 = 5_000;

/// Existing rows whose calltrack column is filled in batches after the columns are added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FillKind {
    RecipientPhones,
    SessionStatusRanks,
}

#[derive(Debug)]
pub struct Fill {
    pub kind: FillKind,
    pub estimated_rows: i64,
}

impl Plan {
    pub fn from_catalog(catalog: &Catalog) -> Self {
        let applied = catalog.applied.as_deref().unwrap_or_default();
        let pending = || {
            MIGRATIONS
                .iter()
                .filter(|m| !applied.iter().any(|(v, _)| *v == m.version))
                .collect::<Vec<_>>()
        };
        let platform_present = PLATFORM_TABLES
            .iter()
            .any(|t| catalog.tables.contains_key(t.name));
        match catalog.adoption {
            Some(true) => Plan::Pending {
                adopted: true,
                pending: pending(),
                problems: schema_problems(catalog, Stage::Adopted),
            },
            Some(false) => Plan::Adopt(Box::new(adoption(catalog, true))),
            None if applied.is_empty() && platform_present => {
                Plan::Adopt(Box::new(adoption(catalog, false)))
            }
            None if applied.is_empty() => Plan::Standalone { pending: pending() },
            None => Plan::Pending {
                adopted: false,
                pending: pending(),
                problems: Vec::new(),
            },
        }
    }

    /// Whether `migrate` can go ahead.
    pub fn problems(&self) -> &[String] {
        match self {
            Plan::Adopt(adoption) => &adoption.problems,
            Plan::Pending { problems, .. } => problems,
            Plan::Standalone { .. } => &[],
        }
    }
}

/// The error a plan with `problems` is refused with.
pub fn refusal(problems: &[String]) -> anyhow::Error {
    anyhow::anyhow!(
        "cannot use this database; nothing was changed:\n  - {}",
        problems.join("\n  - ")
    )
}

/// Where the database is: about to be adopted (a column calltrack can supply is added then)
/// or adopted already (its supplied columns were added, so one missing was dropped since).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Adopting,
    Adopted,
}

/// What in the platform's tables calltrack cannot work with, whether it is adopting them
/// now or adopted them earlier: a table or column missing (one calltrack cannot supply), a
/// column of a type calltrack's code does not read, a column its inserts rely on without a
/// default, an enum or a CHECK constraint without a label it writes, a NOT NULL column its
/// inserts leave out.
/// Read from the catalog alone, so `migrate --check` names all of them before anything
/// runs, rather than a request failing (or `Row::get` panicking) later.
pub fn schema_problems(catalog: &Catalog, stage: Stage) -> Vec<String> {
    let mut problems = Vec::new();
    for table in PLATFORM_TABLES {
        let Some(found) = catalog.tables.get(table.name) else {
            problems.push(format!("table {} is missing", table.name));
            continue;
        };
        for column in table.columns {
            match found.columns.get(column.name) {
                Some(existing) => problems.extend(column_problem(table, column, existing)),
                None => problems.extend(missing_column(table.name, column, stage)),
            }
        }
        if found.forced_row_security {
            problems.push(format!(
                "table {} forces row-level security, so calltrack's own connection would be \
                 held to the platform's policies",
                table.name
            ));
        }
        if !table.inserted.is_empty() {
            for (name, column) in &found.columns {
                let owned = OWNED_COLUMNS
                    .iter()
                    .any(|c| c.table == table.name && c.name == name);
                if column.required_on_insert && !table.inserted.contains(&name.as_str()) && !owned {
                    problems.push(format!(
                        "column {}.{name} is NOT NULL without a default, and calltrack's \
                         inserts do not fill it (give it a default)",
                        table.name
                    ));
                }
            }
        }
    }
    for owned in OWNED_COLUMNS {
        if let Some(existing) = catalog
            .tables
            .get(owned.table)
            .and_then(|t| t.columns.get(owned.name))
        {
            problems.extend(mismatch(owned.table, owned.name, owned.kind, existing));
        }
    }
    for wanted in ENUMERATED {
        let Some(column) = catalog
            .tables
            .get(wanted.table)
            .and_then(|t| t.columns.get(wanted.column))
        else {
            continue;
        };
        for refused in catalog
            .refused_labels
            .iter()
            .filter(|r| r.table == wanted.table && r.column == wanted.column)
        {
            problems.push(format!(
                "column {}.{} has a CHECK constraint {} that refuses '{}', which calltrack \
                 writes (let the constraint allow it)",
                refused.table, refused.column, refused.constraint, refused.label
            ));
        }
        if let Some(labels) = &column.enum_labels {
            for label in wanted.labels {
                if !labels.iter().any(|l| l == label) {
                    problems.push(format!(
                        "column {}.{} (enum {}) has no value '{label}', which calltrack \
                         writes (ALTER TYPE {} ADD VALUE '{label}')",
                        wanted.table, wanted.column, column.type_name, column.type_name
                    ));
                }
            }
        }
    }
    problems
}

fn missing_column(table: &str, column: &PlatformColumn, stage: Stage) -> Option<String> {
    match (column.need, stage) {
        (Need::Supplied(_), Stage::Adopting) => None,
        (Need::Supplied(definition), Stage::Adopted) => Some(format!(
            "table {table} has no column {}, which calltrack reads; it added the column when \
             it adopted the database, so it was dropped since (ALTER TABLE {table} ADD COLUMN \
             {} {definition})",
            column.name, column.name
        )),
        (Need::Present | Need::Defaulted, _) => Some(format!(
            "table {table} has no column {}, which calltrack reads",
            column.name
        )),
    }
}

fn column_problem(
    table: &PlatformTable,
    column: &PlatformColumn,
    existing: &Column,
) -> Option<String> {
    if let Some(problem) = mismatch(table.name, column.name, column.kind, existing) {
        return Some(problem);
    }
    // A NOT NULL one is reported as such by the inserts' check.
    if column.need == Need::Defaulted && !existing.has_default && !existing.required_on_insert {
        let default = match column.kind {
            Kind::Uuid => "gen_random_uuid()",
            _ => "now()",
        };
        return Some(format!(
            "column {}.{} has no default, and calltrack's inserts leave it to one \
             (ALTER TABLE {0} ALTER COLUMN {1} SET DEFAULT {default})",
            table.name, column.name
        ));
    }
    None
}

fn mismatch(table: &str, column: &str, kind: Kind, existing: &Column) -> Option<String> {
    if kind.accepts(&existing.typname, existing.enum_labels.is_some()) {
        return None;
    }
    Some(format!(
        "column {table}.{column} is {}, and calltrack reads it as {}",
        existing.type_name,
        kind.describe()
    ))
}

fn adoption(catalog: &Catalog, resuming: bool) -> Adoption {
    let mut plan = Adoption {
        resuming,
        problems: schema_problems(catalog, Stage::Adopting),
        ..Adoption::default()
    };
    for table in PLATFORM_TABLES {
        let Some(found) = catalog.tables.get(table.name) else {
            continue;
        };
        let before = plan.columns.len();
        for column in table.columns {
            if let Need::Supplied(definition) = column.need
                && !found.columns.contains_key(column.name)
            {
                plan.columns.push(AddedColumn {
                    table: table.name,
                    name: column.name,
                    definition,
                    touched: false,
                    supplied: true,
                });
            }
        }
        let supplies = plan.columns.len() > before;
        if (table.altered || supplies) && !found.owned {
            plan.problems.push(format!(
                "table {} is owned by {}: calltrack adds columns, indexes and triggers to it, \
                 which needs its owner's rights (connect as {0} or a member of it)",
                table.name, found.owner
            ));
        }
        if !found.row_security && table.name != "events" {
            plan.notes.push(format!(
                "table {} has row-level security off: calltrack's restricted role sees all of \
                 its rows, and only calltrack's own queries scope them by client",
                table.name
            ));
        }
    }
    for column in OWNED_COLUMNS {
        if !catalog.has_column(column.table, column.name) {
            plan.columns.push(AddedColumn {
                table: column.table,
                name: column.name,
                definition: column.definition,
                touched: column.touched,
                supplied: false,
            });
        } else if !resuming {
            plan.notes.push(format!(
                "column {}.{} exists already and calltrack will use it as its own",
                column.table, column.name
            ));
        }
    }
    for table in OWNED_TABLES {
        if !catalog.tables.contains_key(*table) {
            plan.tables.push(table);
        } else if !resuming {
            plan.problems.push(format!(
                "table {table} exists and is not calltrack's; calltrack needs that name"
            ));
        }
    }
    for constraint in OWNED_CONSTRAINTS {
        match catalog
            .constraints
            .get(&(constraint.table.to_owned(), constraint.name.to_owned()))
        {
            None => {
                plan.constraints.push(constraint);
                plan.to_validate.push(constraint);
            }
            Some(false) => plan.to_validate.push(constraint),
            Some(true) => {}
        }
    }
    for index in OWNED_INDEXES {
        let existing = catalog.indexes.get(index.name);
        if existing.is_some_and(|i| i.valid) {
            continue;
        }
        if let Some(columns) = index.unique_on
            && let Some(other) = catalog.has_unique_on(index.table, columns)
        {
            if !resuming {
                plan.notes.push(format!(
                    "the platform's unique index {other} serves as {}",
                    index.name
                ));
            }
            continue;
        }
        if let Some(groups) = catalog.duplicates.get(index.name).filter(|n| **n > 0) {
            plan.problems.push(format!(
                "{groups} groups of {} rows share what the unique index {} needs to be unique \
                 ({}); resolve the duplicates first",
                index.table,
                index.name,
                index
                    .unique_on
                    .map_or("active phone_number".to_owned(), |c| c.join(", "))
            ));
        }
        plan.indexes.push(IndexStep {
            index,
            rebuild: existing.is_some(),
            estimated_rows: estimated_rows(catalog, index.table),
        });
    }
    let adds = |table: &str, column: &str| {
        resuming
            || plan
                .columns
                .iter()
                .any(|c| c.table == table && c.name == column)
    };
    let mut fills = Vec::new();
    if adds("recipients", "phone_e164") {
        fills.push(Fill {
            kind: FillKind::RecipientPhones,
            estimated_rows: estimated_rows(catalog, "recipients"),
        });
    }
    if adds("call_sessions", "status_rank") {
        fills.push(Fill {
            kind: FillKind::SessionStatusRanks,
            estimated_rows: estimated_rows(catalog, "call_sessions"),
        });
    }
    plan.fills = fills;
    plan.later = MIGRATIONS.iter().filter(|m| m.version > BASELINE).collect();
    plan
}

fn estimated_rows(catalog: &Catalog, table: &str) -> i64 {
    catalog.tables.get(table).map_or(0, |t| t.estimated_rows)
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Plan::Standalone { pending } => {
                writeln!(
                    f,
                    "An empty database: calltrack would create the platform's tables itself."
                )?;
                write_migrations(f, "would apply", pending)
            }
            Plan::Pending {
                adopted,
                pending,
                problems,
            } => {
                let kind = if *adopted {
                    "adopted platform database"
                } else {
                    "standalone database"
                };
                if pending.is_empty() && problems.is_empty() {
                    return writeln!(f, "{kind}, up to date: nothing to do.");
                }
                writeln!(f, "{kind}.")?;
                write_migrations(f, "would apply", pending)?;
                write_problems(
                    f,
                    "Cannot use this database until these are fixed:",
                    problems,
                )
            }
            Plan::Adopt(plan) => plan.fmt(f),
        }
    }
}

fn write_problems(f: &mut fmt::Formatter<'_>, heading: &str, problems: &[String]) -> fmt::Result {
    if problems.is_empty() {
        return Ok(());
    }
    writeln!(f, "{heading}")?;
    for problem in problems {
        writeln!(f, "  - {problem}")?;
    }
    Ok(())
}

fn write_migrations(f: &mut fmt::Formatter<'_>, verb: &str, list: &[&Migration]) -> fmt::Result {
    for m in list {
        writeln!(f, "  {verb} V{}__{}", m.version, m.name)?;
    }
    Ok(())
}

impl fmt::Display for Adoption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.resuming {
            writeln!(
                f,
                "An adopted platform database whose adoption did not finish: calltrack would finish it."
            )?;
        } else {
            writeln!(
                f,
                "The platform's tables exist: calltrack would adopt them, adding only what it owns \
                 and the columns it reads that they lack."
            )?;
        }
        if !self.columns.is_empty() {
            writeln!(
                f,
                "columns to add (ADD COLUMN IF NOT EXISTS, no table rewrite):"
            )?;
            for c in &self.columns {
                let whose = if c.supplied {
                    " (the platform's schema document leaves it out; calltrack reads it, NULL in \
                     every existing row)"
                } else {
                    ""
                };
                writeln!(f, "  {}.{} {}{whose}", c.table, c.name, c.definition)?;
            }
        }
        if !self.tables.is_empty() {
            writeln!(
                f,
                "calltrack's own tables to create: {}",
                self.tables.join(", ")
            )?;
        }
        if !self.resuming {
            writeln!(
                f,
                "functions, triggers, role and policies (calltrack's own):"
            )?;
            for routine in OWNED_ROUTINES {
                writeln!(f, "  {routine}")?;
            }
        }
        if !self.constraints.is_empty() {
            writeln!(
                f,
                "constraints on calltrack's columns (added NOT VALID, then validated without blocking writes):"
            )?;
            for c in &self.constraints {
                writeln!(f, "  {} on {}: {}", c.name, c.table, c.definition)?;
            }
        }
        if !self.fills.is_empty() {
            writeln!(
                f,
                "existing rows to fill in, in batches of {FILL_BATCH} rows:"
            )?;
            for fill in &self.fills {
                let what = match fill.kind {
                    FillKind::RecipientPhones => "recipients.phone_e164 from phone",
                    FillKind::SessionStatusRanks => {
                        "call_sessions.status_rank and call_outcome from call_status"
                    }
                };
                writeln!(f, "  {what} (about {} rows)", fill.estimated_rows)?;
            }
        }
        if !self.indexes.is_empty() {
            writeln!(
                f,
                "indexes to build CONCURRENTLY (writers are not blocked):"
            )?;
            for step in &self.indexes {
                let again = if step.rebuild {
                    ", dropping an invalid earlier attempt"
                } else {
                    ""
                };
                writeln!(
                    f,
                    "  {} on {} (about {} rows{again})",
                    step.index.name, step.index.table, step.estimated_rows
                )?;
            }
        }
        writeln!(
            f,
            "never: a platform column dropped, renamed or retyped, a platform policy or index touched."
        )?;
        write_migrations(f, "then would apply", &self.later)?;
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        if self.problems.is_empty() {
            writeln!(f, "Nothing stops the adoption.")
        } else {
            write_problems(
                f,
                "Cannot adopt this database until these are fixed:",
                &self.problems,
            )
        }
    }
}
