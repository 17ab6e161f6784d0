//! The commands that are not the service: the demo tour, the call simulator, the benchmark,
//! the fault-injection harness and soak, number management and reconciliation for operators,
//! and what they share (seed data and Twilio fixtures).
//!
//! The service never imports this module; only `main.rs` and `cli.rs` do (and the tests,
//! which use the fixtures to play Twilio's side).

pub mod bench;
pub mod demo;
pub mod faults;
pub mod fixtures;
pub mod numbers_cli;
pub mod reconcile_cli;
pub mod seed;
pub mod simulate;
pub mod soak;

/// Random secrets in base64; the tools make up theirs (auth token, JWT secret, gift-card key)
/// at run time rather than carry any in the binary.
pub use crate::crypto::random_secret;
