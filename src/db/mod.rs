//! Everything that speaks SQL. Nothing here sees an HTTP request.

pub mod calls;
pub mod embedded;
pub mod migrate;
pub mod outbox;
pub mod pool;

pub use embedded::EmbeddedCluster;
pub use pool::{Database, PgPool};
