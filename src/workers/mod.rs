//! Background loops that run inside `serve`.

pub mod conditions;
pub mod outbox;
pub mod partitions;
pub mod reconcile;
pub mod releases;
pub mod replay;
pub mod rollups;
pub mod routing;
pub mod webhooks;

pub use outbox::OutboxWorker;
pub use webhooks::WebhookWorker;
