//! The verified-form extractor: a webhook handler only ever sees a body that is within
//! limits, form-encoded, well-formed and signed by Twilio.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRef, FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;

use super::form::{FormError, FormPairs};
use super::signature::{self, SignedBody};
use crate::config::{PublicBaseUrl, token_bytes};

/// Twilio's webhooks are a few kilobytes; anything past this is not from Twilio.
pub const MAX_WEBHOOK_BODY: usize = 64 * 1024;

/// What checking a webhook needs: the URL Twilio signs against and the auth token.
pub struct WebhookVerifier {
    pub public_base_url: PublicBaseUrl,
    pub auth_token: SecretString,
}

/// A webhook body that passed every check, with all its fields in order.
#[derive(Debug)]
pub struct VerifiedForm(pub FormPairs);

/// Why a webhook was refused before reaching its handler.
#[derive(Debug, thiserror::Error)]
pub enum WebhookRejection {
    #[error("request body larger than 64 KiB")]
    TooLarge,
    #[error("body must be application/x-www-form-urlencoded")]
    NotForm,
    #[error("{0}")]
    Malformed(#[from] FormError),
    #[error("missing X-Twilio-Signature")]
    MissingSignature,
    #[error("X-Twilio-Signature does not match")]
    BadSignature,
    #[error("cannot read request body")]
    Unreadable,
}

impl WebhookRejection {
    /// A short label for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::NotForm => "not_form",
            Self::Malformed(_) => "malformed",
            Self::MissingSignature => "missing_signature",
            Self::BadSignature => "bad_signature",
            Self::Unreadable => "unreadable",
        }
    }
}

impl IntoResponse for WebhookRejection {
    fn into_response(self) -> Response {
        tracing::warn!(reason = self.reason(), "webhook rejected");
        crate::metrics::webhook_rejected(self.reason());
        match self {
            // A signature failure says nothing more: an empty body gives a prober nothing.
            Self::MissingSignature | Self::BadSignature => StatusCode::FORBIDDEN.into_response(),
            Self::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, self.to_string()).into_response(),
            Self::NotForm => (StatusCode::UNSUPPORTED_MEDIA_TYPE, self.to_string()).into_response(),
            Self::Malformed(_) | Self::Unreadable => {
                (StatusCode::BAD_REQUEST, self.to_string()).into_response()
            }
        }
    }
}

impl<S> FromRequest<S> for VerifiedForm
where
    Arc<WebhookVerifier>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = WebhookRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = Arc::<WebhookVerifier>::from_ref(state);
        let (parts, body) = req.into_parts();
        let declared_len = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared_len.is_some_and(|len| len > MAX_WEBHOOK_BODY) {
            return Err(WebhookRejection::TooLarge);
        }
        if !is_form(parts.headers.get(header::CONTENT_TYPE)) {
            return Err(WebhookRejection::NotForm);
        }
        let bytes = read_limited(body).await?;
        let form = FormPairs::parse(&bytes)?;
        let signature = parts
            .headers
            .get("x-twilio-signature")
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .ok_or(WebhookRejection::MissingSignature)?;
        // The URL Twilio requested is the public one, never this socket's address or Host.
        let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let url = verifier.public_base_url.join(path_and_query);
        let token = token_bytes(&verifier.auth_token);
        if !signature::is_valid(token, &url, SignedBody::Form(form.pairs()), signature) {
            return Err(WebhookRejection::BadSignature);
        }
        Ok(Self(form))
    }
}

fn is_form(content_type: Option<&header::HeaderValue>) -> bool {
    content_type
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            mime.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

async fn read_limited(body: Body) -> Result<bytes::Bytes, WebhookRejection> {
    axum::body::to_bytes(body, MAX_WEBHOOK_BODY)
        .await
        .map_err(|error| {
            // to_bytes reports an exceeded limit as an error whose source is LengthLimitError.
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
            while let Some(e) = source {
                if e.is::<http_body_util::LengthLimitError>() {
                    return WebhookRejection::TooLarge;
                }
                source = e.source();
            }
            WebhookRejection::Unreadable
        })
}
