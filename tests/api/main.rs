//! Black-box tests over HTTP against a real PostgreSQL; each test owns its database.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod gift_cards;
mod helpers;
mod malformed;
mod migrations;
mod phone_matching;
mod recording;
mod signature;
mod simulate;
mod status;
mod voice;
