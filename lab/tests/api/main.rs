//! Black-box tests against a real PostgreSQL; each test owns its database. The groups run
//! alone with a filter on their name, e.g. `cargo test -- fast::` (docs/CONTRIBUTING.md).
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod browser;
mod commands;
mod fast;
mod faults;
mod helpers;
mod platform;
mod world;
