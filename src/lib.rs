//! calltrack: Twilio call-tracking webhooks for direct-mail campaigns.

pub mod app;
pub mod auth;
pub mod bench;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod demo;
pub mod domain;
pub mod gift_cards;
pub mod metrics;
pub mod numbers_cli;
pub mod routes;
pub mod simulate;
pub mod startup;
pub mod telemetry;
pub mod twilio;
pub mod workers;
