//! The commands that are not the service: the demo tour, the call simulator, the benchmark,
//! number management for operators, and what they share (seed data and Twilio fixtures).
//!
//! The service never imports this module; only `main.rs` and `cli.rs` do (and the tests,
//! which use the fixtures to play Twilio's side).

pub mod bench;
pub mod demo;
pub mod fixtures;
pub mod numbers_cli;
pub mod seed;
pub mod simulate;
