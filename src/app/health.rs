//! Whether the service can take work: its database answers within the request deadline.

use std::time::Duration;

use super::connection;
use crate::db::{self, PgPool};

/// Whether the database gives a connection and answers a statement within `deadline`,
/// bounded like a webhook: a frozen database makes this `false`, never a hang.
pub async fn database_ready(pool: &PgPool, deadline: Duration) -> bool {
    db::error::within(
        deadline,
        "the database did not answer the readiness check in time",
        async { db::pool::ping(&connection(pool).await?).await },
    )
    .await
    .is_ok()
}
