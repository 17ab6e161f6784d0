//! Use cases: each owns its transaction, the caller's scope (the restricted role and the
//! caller's client ids), any switch to the service's own rights, and the audit row. The HTTP
//! handlers and the command line call these same functions.

pub mod call_writes;
pub mod calls;
pub mod conditions;
pub mod group_commit;
pub mod numbers;
pub mod reconcile;
pub mod replay;
pub mod routing;
pub mod sessions;
pub mod stats;

use crate::auth::Principal;
use crate::db::{self, PgPool, access};

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
