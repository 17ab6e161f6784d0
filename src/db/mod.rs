//! Everything that speaks SQL. Nothing here sees an HTTP request.

pub mod calls;
pub mod embedded;
pub mod gift_cards;
pub mod migrate;
pub mod pool;
pub mod rewards;

pub use embedded::EmbeddedCluster;
pub use pool::{Database, PgPool};
