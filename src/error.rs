//! Errors at the HTTP boundary: client faults carry a safe message, everything else is an
//! opaque 500 whose cause chain is logged once.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::twilio::payloads::PayloadError;

/// Errors a webhook handler returns after the body was verified.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    Payload(#[from] PayloadError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl IntoResponse for WebhookError {
    fn into_response(self) -> Response {
        match self {
            Self::Payload(error) => {
                tracing::warn!(reason = %error, "webhook payload refused");
                (StatusCode::BAD_REQUEST, error.to_string()).into_response()
            }
            Self::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "webhook failed");
                // Twilio retries on 5xx, and every webhook write is idempotent.
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
            }
        }
    }
}
