//! Background loops that run inside `serve`.

pub mod outbox;
pub mod partitions;
pub mod releases;

pub use outbox::OutboxWorker;
