//! Black-box tests over HTTP against a real PostgreSQL; each test owns its database.

mod helpers;
mod malformed;
mod migrations;
mod phone_matching;
mod recording;
mod signature;
mod status;
mod voice;
