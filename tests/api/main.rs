//! Black-box tests over HTTP against a real PostgreSQL; each test owns its database.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod agents;
mod browser;
mod console;
mod helpers;
mod malformed;
mod migrations;
mod phone_matching;
mod recording;
mod rewards;
mod signature;
mod simulate;
mod stats;
mod status;
mod voice;
mod world;
