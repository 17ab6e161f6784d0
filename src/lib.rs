//! calltrack: Twilio call-tracking webhooks for direct-mail campaigns.

pub mod app;
pub mod auth;
pub mod commands;
pub mod config;
pub mod crypto;
pub mod db;
pub mod domain;
pub mod metrics;
pub mod routes;
pub mod spool;
pub mod startup;
pub mod telemetry;
pub mod trial;
pub mod twilio;
pub mod webhooks;
pub mod workers;
