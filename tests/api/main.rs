//! Black-box tests over HTTP against a real PostgreSQL; each test owns its database.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod agents;
mod browser;
mod call_flow;
mod console;
mod deadlines;
mod demo;
mod fail_open;
mod fallback;
mod faults;
mod fixtures;
mod gift_cards;
mod group_commit;
mod hardening;
mod helpers;
mod malformed;
mod manage;
mod manage_console;
mod metrics;
mod migrations;
mod numbers;
mod openapi;
mod outcome;
mod phone_matching;
mod platform;
mod reconcile;
mod recording;
mod rewards;
mod session_list;
mod signature;
mod simulate;
mod sms;
mod stats;
mod status;
mod voice;
mod world;
