//! Use cases: each owns its transaction, the caller's scope (the restricted role and the
//! caller's client ids), any switch to the service's own rights, and the audit row. The HTTP
//! handlers and the command line call these same functions.
//!
//! Handlers reach the database only through here, readiness, gauges and credential lookups
//! too; the pool they hand in and the database error use cases return or wrap are
//! re-exported below, so `routes` need not name `db`.
//!
//! One style of use case: a free `async fn` in its job's module, called as
//! `app::<job>::<verb>(…)`. It takes what it runs against first (the pool; anything more as
//! arguments, as [`reconcile::run`] takes the Twilio client, or as one struct of those built
//! at start-up, as [`calls::take_call`] takes [`calls::Calls`]), then the [`Caller`] where
//! access is scoped, then its input, and returns its job's own error. Types with methods are
//! for state that outlives a call (the routing copy, the group-commit queues, an export's
//! cursor), not for use cases.
//!
//! The webhooks' modules depend one way, never back: [`calls`] (what the handlers call) →
//! [`group_commit`] → [`call_writes`] (the shared write path); [`replay`] and [`reconcile`] →
//! [`call_writes`].

pub mod call_writes;
pub mod calls;
pub mod campaigns;
pub mod condition_setup;
pub mod conditions;
pub mod credentials;
pub mod crm_events;
pub mod gauges;
pub mod gift_card_pools;
pub mod group_commit;
pub mod health;
pub mod numbers;
pub mod recipients;
pub mod reconcile;
pub mod replay;
pub mod rollups;
pub mod routing;
pub mod sessions;
pub mod stats;
pub mod webhooks;

use crate::auth::Principal;
use crate::db::{self, access};

pub use crate::db::{Error as DbError, PgPool};

/// Who is acting: an API caller (restricted to their clients) or an operator at the command
/// line (the service's own rights).
#[derive(Debug, Clone, Copy)]
pub enum Caller<'a> {
    Api(&'a Principal),
    Operator,
}

impl<'a> Caller<'a> {
    fn principal(self) -> Option<&'a Principal> {
        match self {
            Self::Api(principal) => Some(principal),
            Self::Operator => None,
        }
    }

    /// Whether the caller may see rows of `client_id`.
    fn sees(self, client_id: uuid::Uuid) -> bool {
        match self {
            Self::Api(principal) => principal.scope.allows(client_id),
            Self::Operator => true,
        }
    }
}

/// A pooled connection; a pool that cannot give one in time is `Unavailable`.
async fn connection(pool: &PgPool) -> db::Result<deadpool_postgres::Object> {
    Ok(pool.get().await?)
}

/// Opens a transaction restricted to the caller's clients.
async fn begin<'c>(
    conn: &'c mut deadpool_postgres::Object,
    caller: Caller<'_>,
) -> db::Result<deadpool_postgres::Transaction<'c>> {
    access::begin(conn, caller.principal()).await
}

async fn commit(tx: deadpool_postgres::Transaction<'_>) -> db::Result<()> {
    use db::error::Context as _;
    tx.commit().await.context("committing failed")
}
