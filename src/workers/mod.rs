//! Background loops that run inside `serve`.

pub mod outbox;

pub use outbox::OutboxWorker;
