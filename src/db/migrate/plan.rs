//! What `migrate` would do to this database, decided from the catalog before anything
//! changes: create the platform schema (an empty database), adopt the platform's tables
//! (they exist), or apply what is pending. `migrate --check` prints it.

use std::fmt;

use super::catalog::Catalog;
use super::owned::{
    BASELINE, ENUMERATED, OWNED_COLUMNS, OWNED_CONSTRAINTS, OWNED_INDEXES, OWNED_ROUTINES,
    OWNED_TABLES, OwnedColumn, OwnedConstraint, OwnedIndex, PLATFORM_TABLES,
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
    },
}

/// The adoption of a platform database, step by step.
#[derive(Debug, Default)]
pub struct Adoption {
    /// A previous adoption committed its first step and stopped before finishing.
    pub resuming: bool,
    pub columns: Vec<&'static OwnedColumn>,
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

#[derive(Debug)]
pub struct IndexStep {
    pub index: &'static OwnedIndex,
    /// An earlier concurrent build failed and left an invalid index, dropped first.
    pub rebuild: bool,
    pub estimated_rows: i64,
}

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
            },
            Some(false) => Plan::Adopt(Box::new(adoption(catalog, true))),
            None if applied.is_empty() && platform_present => {
                Plan::Adopt(Box::new(adoption(catalog, false)))
            }
            None if applied.is_empty() => Plan::Standalone { pending: pending() },
            None => Plan::Pending {
                adopted: false,
                pending: pending(),
            },
        }
    }

    /// Whether `migrate` can go ahead.
    pub fn problems(&self) -> &[String] {
        match self {
            Plan::Adopt(adoption) => &adoption.problems,
            _ => &[],
        }
    }
}

/// The error a plan with `problems` is refused with.
pub fn refusal(problems: &[String]) -> anyhow::Error {
    anyhow::anyhow!(
        "cannot adopt this database; nothing was changed:\n  - {}",
        problems.join("\n  - ")
    )
}

fn adoption(catalog: &Catalog, resuming: bool) -> Adoption {
    let mut plan = Adoption {
        resuming,
        ..Adoption::default()
    };
    for table in PLATFORM_TABLES {
        let Some(found) = catalog.tables.get(table.name) else {
            plan.problems
                .push(format!("table {} is missing", table.name));
            continue;
        };
        for column in table.columns {
            if !found.columns.contains_key(*column) {
                plan.problems.push(format!(
                    "table {} has no column {column}, which calltrack reads",
                    table.name
                ));
            }
        }
        if table.altered && !found.owned {
            plan.problems.push(format!(
                "table {} is owned by {}: calltrack adds columns, indexes and triggers to it, \
                 which needs its owner's rights (connect as {0} or a member of it)",
                table.name, found.owner
            ));
        }
        if found.forced_row_security {
            plan.problems.push(format!(
                "table {} forces row-level security, so calltrack's own connection would be \
                 held to the platform's policies",
                table.name
            ));
        }
        if !found.row_security && table.name != "events" {
            plan.notes.push(format!(
                "table {} has row-level security off: calltrack's restricted role sees all of \
                 its rows, and only calltrack's own queries scope them by client",
                table.name
            ));
        }
        if !table.inserted.is_empty() {
            for (name, column) in &found.columns {
                let owned = OWNED_COLUMNS
                    .iter()
                    .any(|c| c.table == table.name && c.name == name);
                if column.required_on_insert && !table.inserted.contains(&name.as_str()) && !owned {
                    plan.problems.push(format!(
                        "column {}.{name} is NOT NULL without a default, and calltrack's \
                         inserts do not fill it (give it a default)",
                        table.name
                    ));
                }
            }
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
        if let Some(labels) = &column.enum_labels {
            for label in wanted.labels {
                if !labels.iter().any(|l| l == label) {
                    plan.problems.push(format!(
                        "column {}.{} (enum {}) has no value '{label}', which calltrack \
                         writes (ALTER TYPE {} ADD VALUE '{label}')",
                        wanted.table, wanted.column, column.type_name, column.type_name
                    ));
                }
            }
        }
    }
    for column in OWNED_COLUMNS {
        if !catalog.has_column(column.table, column.name) {
            plan.columns.push(column);
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
            Plan::Pending { adopted, pending } => {
                let kind = if *adopted {
                    "adopted platform database"
                } else {
                    "standalone database"
                };
                if pending.is_empty() {
                    writeln!(f, "{kind}, up to date: nothing to do.")
                } else {
                    writeln!(f, "{kind}.")?;
                    write_migrations(f, "would apply", pending)
                }
            }
            Plan::Adopt(plan) => plan.fmt(f),
        }
    }
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
                "The platform's tables exist: calltrack would adopt them, adding only what it owns."
            )?;
        }
        if !self.columns.is_empty() {
            writeln!(
                f,
                "columns to add (ADD COLUMN IF NOT EXISTS, no table rewrite):"
            )?;
            for c in &self.columns {
                writeln!(f, "  {}.{} {}", c.table, c.name, c.definition)?;
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
                "existing rows to fill in, in batches of {} rows:",
                super::adopt::FILL_BATCH
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
            writeln!(f, "Cannot adopt this database until these are fixed:")?;
            for problem in &self.problems {
                writeln!(f, "  - {problem}")?;
            }
            Ok(())
        }
    }
}
