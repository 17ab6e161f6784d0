//! Thin HTTP handlers: parse, call `db`, answer. No SQL here.

pub mod agent;
pub mod api;
pub mod health;
pub mod metrics;
pub mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::{get, post};

use crate::auth::JwtVerifier;
use crate::config::{PublicBaseUrl, VoiceSettings};
use crate::db::PgPool;
use crate::twilio::extract::WebhookVerifier;
use crate::twilio::twiml::Twiml;

/// Shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub verifier: Arc<WebhookVerifier>,
    pub twiml: Arc<Twiml>,
    pub voice: Arc<VoiceSettings>,
    pub jwt: Arc<JwtVerifier>,
    pub numbers: Arc<crate::numbers::Numbers>,
}

impl AppState {
    pub fn public_base_url(&self) -> &PublicBaseUrl {
        &self.verifier.public_base_url
    }
}

impl FromRef<AppState> for Arc<WebhookVerifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

/// Every route of the service.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/agent", get(agent::page))
        .route("/agent/app.js", get(agent::script))
        .route("/agent/app.css", get(agent::stylesheet))
        .route("/twilio/voice", post(webhooks::voice::incoming_call))
        .route("/twilio/voice-fallback", post(webhooks::voice::fallback))
        .route("/twilio/status", post(webhooks::status::call_status))
        .route("/twilio/dial-complete", post(webhooks::dial::dial_complete))
        .route(
            "/twilio/recording",
            post(webhooks::recording::recording_status),
        )
        .route("/twilio/sms-status", post(webhooks::sms_status::sms_status))
        .merge(api::router())
        .route_layer(axum::middleware::from_fn(crate::metrics::track_http))
        .with_state(state)
}
