//! The database's levels `/metrics` reports, read per scrape within the request deadline.

use std::time::Duration;

use super::connection;
use crate::db::{self, PgPool};

pub use crate::db::gauges::Gauges;

/// Reads the gauges. A database that does not answer within `deadline` is
/// [`db::Error::Unavailable`]: a frozen database must not hold a scrape longer than a webhook.
pub async fn read(pool: &PgPool, deadline: Duration) -> db::Result<Gauges> {
    db::error::within(
        deadline,
        "the database did not answer the metrics scrape in time",
        async { db::gauges::read(&connection(pool).await?).await },
    )
    .await
}
