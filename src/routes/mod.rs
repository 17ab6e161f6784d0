//! Thin HTTP handlers: parse, call `db`, answer. No SQL here.

pub mod agent;
pub mod api;
pub mod health;
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
        .route("/agent", get(agent::page))
        .route("/agent/app.js", get(agent::script))
        .route("/agent/app.css", get(agent::stylesheet))
        .route("/twilio/voice", post(webhooks::voice::incoming_call))
        .route("/twilio/status", post(webhooks::status::call_status))
        .route("/twilio/dial-complete", post(webhooks::dial::dial_complete))
        .route(
            "/twilio/recording",
            post(webhooks::recording::recording_status),
        )
        .merge(api::router())
        .with_state(state)
}
