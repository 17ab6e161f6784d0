//! Thin HTTP handlers: parse, call the use cases, answer. No SQL here and no connection:
//! handlers reach the database only through `app` (readiness, gauges and credentials too),
//! and take the pool and the database error from `app`'s re-exports. The read side's row
//! types (`api::types`, the session list and export) still come from `db`.

pub mod agent;
pub mod api;
pub mod console;
pub mod error;
pub mod extract;
pub mod head_timeout;
pub mod health;
pub mod manage;
pub mod metrics;
pub mod middleware;
pub mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::web;

use crate::app::PgPool;
use crate::auth::JwtVerifier;
use crate::config::VoiceSettings;
use crate::twilio::PublicBaseUrl;
use crate::twilio::twiml::Twiml;

/// Shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The JSON API's pool: its connections and statements bounded by `API_DEADLINE_MS`.
    /// Webhooks, readiness and metrics use `calls.pool`, bounded by `VOICE_DEADLINE_MS`.
    pub pool: PgPool,
    /// `API_DEADLINE_MS`, which the API's `503` names.
    pub api_deadline: std::time::Duration,
    pub public_base_url: PublicBaseUrl,
    pub twiml: Arc<Twiml>,
    pub voice: Arc<VoiceSettings>,
    pub jwt: Arc<JwtVerifier>,
    pub numbers: Arc<crate::app::numbers::Numbers>,
    /// Where webhooks are written: the database in time, else the spool.
    pub calls: crate::app::calls::Calls,
    /// When set, `/metrics` answers only on this address (a private listener).
    pub metrics_addr: Option<SocketAddr>,
    /// `GIFT_CARD_KEY`: cards loaded through the API are encrypted with it.
    pub cipher: crate::crypto::CardCipher,
    /// `WEBHOOK_ALLOW_PRIVATE_NETWORKS`: webhook endpoints may be `http://` and internal.
    pub webhook_allow_private_networks: bool,
}

/// Every route of the service.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(metrics::metrics))
        .route("/console/common.js", web::get().to(console::script))
        .route("/console/common.css", web::get().to(console::stylesheet))
        .route("/agent", web::get().to(agent::page))
        .route("/agent/app.js", web::get().to(agent::script))
        .route("/agent/app.css", web::get().to(agent::stylesheet))
        .route("/manage", web::get().to(manage::page))
        .route("/manage/app.js", web::get().to(manage::script))
        .route("/manage/charts.js", web::get().to(manage::charts))
        .route("/manage/app.css", web::get().to(manage::stylesheet))
        .route(
            "/twilio/voice",
            web::post().to(webhooks::voice::incoming_call),
        )
        .route(
            crate::twilio::fallback::PATH,
            web::post().to(webhooks::fallback::voice_fallback),
        )
        .route(
            "/twilio/status",
            web::post().to(webhooks::status::call_status),
        )
        .route(
            "/twilio/dial-complete",
            web::post().to(webhooks::dial::dial_complete),
        )
        .route(
            "/twilio/recording",
            web::post().to(webhooks::recording::recording_status),
        )
        .route(
            "/twilio/screen",
            web::post().to(webhooks::screening::screen),
        )
        .route(
            "/twilio/screen-accept",
            web::post().to(webhooks::screening::screen_accept),
        )
        .route(
            "/twilio/voicemail",
            web::post().to(webhooks::screening::voicemail),
        )
        .route(
            "/twilio/voicemail-done",
            web::post().to(webhooks::screening::voicemail_done),
        )
        .route(
            "/twilio/sms-status",
            web::post().to(webhooks::sms_status::sms_status),
        )
        .configure(api::configure);
}
