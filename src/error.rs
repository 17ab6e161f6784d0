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

/// Errors of the JSON API, answered as `{"error": {"code", "message"}}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(&'static str),
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    /// Twilio refused or could not be reached; its code is passed on when it sent one.
    #[error("{message}")]
    BadGateway {
        code: &'static str,
        message: String,
        twilio_code: Option<i32>,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The JSON body of every API error.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// A stable snake_case code.
    pub code: String,
    /// A sentence for humans.
    pub message: String,
    /// Twilio's error number, when the error came from Twilio.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub twilio_code: Option<i32>,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest {
            code: "invalid_request",
            message: message.into(),
        }
    }

    fn twilio_code(&self) -> Option<i32> {
        match self {
            Self::BadGateway { twilio_code, .. } => *twilio_code,
            _ => None,
        }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::BadRequest { code, .. } => (StatusCode::BAD_REQUEST, code),
            Self::Conflict { code, .. } => (StatusCode::CONFLICT, code),
            Self::Unprocessable { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, code),
            Self::BadGateway { code, .. } => (StatusCode::BAD_GATEWAY, code),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            Self::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "API request failed");
                "something went wrong on our side".to_owned()
            }
            other => other.to_string(),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message,
                twilio_code: self.twilio_code(),
            },
        };
        (status, axum::Json(body)).into_response()
    }
}
