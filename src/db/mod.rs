//! Everything that speaks SQL. Nothing here sees an HTTP request.

pub mod access;
pub mod calls;
pub mod campaign_setup;
pub mod crm_events;
pub mod embedded;
pub mod error;
pub mod gauges;
pub mod gift_card_pools;
pub mod gift_cards;
pub mod migrate;
pub mod numbers;
pub mod outbox;
pub mod parked;
pub mod pipeline;
pub mod pool;
pub mod recipients;
pub mod reconcile;
pub mod rewards;
pub mod rollups;
pub mod routing;
pub mod sessions;
pub mod spool_markers;
pub mod stats;
pub mod trial;
pub mod users;
pub mod webhook_outbox;
pub mod webhooks;

pub use embedded::EmbeddedCluster;
pub use error::{Error, Result};
pub use pool::{Database, PgPool};
