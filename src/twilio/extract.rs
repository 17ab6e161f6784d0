//! The verified-form extractor: a webhook handler only ever sees a body that is within
//! limits, form-encoded, well-formed and signed by Twilio.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use futures::StreamExt as _;
use secrecy::SecretString;

use super::PublicBaseUrl;
use super::form::{FormError, FormPairs};
use super::settings::token_bytes;
use super::signature::{self, SignedBody};
use crate::telemetry::RateLimitedLog;

/// Twilio's webhooks are a few kilobytes; anything past this is not from Twilio.
pub const MAX_WEBHOOK_BODY: usize = 64 * 1024;

/// What checking a webhook needs: the URL Twilio signs against and the auth tokens (the
/// current one, and during a rotation the next one).
pub struct WebhookVerifier {
    pub public_base_url: PublicBaseUrl,
    pub auth_token: SecretString,
    pub secondary_auth_token: Option<SecretString>,
}

impl WebhookVerifier {
    fn signed_by_twilio(&self, url: &str, form: &FormPairs, signature: &str) -> bool {
        let body = SignedBody::Form(form.pairs());
        // Both tokens are always checked, so the answer takes as long whichever one matched.
        let primary = signature::is_valid(token_bytes(&self.auth_token), url, body, signature);
        let secondary = self
            .secondary_auth_token
            .as_ref()
            .is_some_and(|token| signature::is_valid(token_bytes(token), url, body, signature));
        primary | secondary
    }
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
    #[error("request body not received in time")]
    SlowBody,
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
            Self::SlowBody => "slow_body",
            Self::Unreadable => "unreadable",
        }
    }
}

/// A flood of bad requests must not become a flood of log lines: every rejection is counted,
/// a few per second are logged.
static REJECTION_LOG: RateLimitedLog = RateLimitedLog::per_second(5);

impl ResponseError for WebhookRejection {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::MissingSignature | Self::BadSignature => StatusCode::FORBIDDEN,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotForm => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::SlowBody => StatusCode::REQUEST_TIMEOUT,
            Self::Malformed(_) | Self::Unreadable => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        crate::metrics::webhook_rejected(self.reason());
        if let Some(suppressed) = REJECTION_LOG.admit() {
            tracing::warn!(reason = self.reason(), suppressed, "webhook rejected");
        }
        match self {
            // A signature failure says nothing more: an empty body gives a prober nothing.
            Self::MissingSignature | Self::BadSignature => {
                HttpResponse::build(self.status_code()).finish()
            }
            other => HttpResponse::build(other.status_code())
                .content_type("text/plain; charset=utf-8")
                .body(other.to_string()),
        }
    }
}

impl FromRequest for VerifiedForm {
    type Error = WebhookRejection;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move { verify(&req, payload).await })
    }
}

async fn verify(req: &HttpRequest, payload: Payload) -> Result<VerifiedForm, WebhookRejection> {
    let declared_len = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared_len.is_some_and(|len| len > MAX_WEBHOOK_BODY) {
        return Err(WebhookRejection::TooLarge);
    }
    if !is_form(req.headers().get(header::CONTENT_TYPE)) {
        return Err(WebhookRejection::NotForm);
    }
    let bytes = read_limited(payload).await?;
    let form = FormPairs::parse(&bytes)?;
    let signature = req
        .headers()
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .ok_or(WebhookRejection::MissingSignature)?;
    let verifier = req
        .app_data::<web::Data<WebhookVerifier>>()
        .ok_or(WebhookRejection::Unreadable)?;
    // The URL Twilio requested is the public one, never this socket's address or Host. It is
    // rebuilt as Twilio was given it, connection overrides and all; the signature check knows
    // Twilio never sends those.
    let path_and_query = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let url = verifier.public_base_url.join(path_and_query);
    if !verifier.signed_by_twilio(&url, &form, signature) {
        return Err(WebhookRejection::BadSignature);
    }
    Ok(VerifiedForm(form))
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

/// Reads the body, chunked or not, refusing it as soon as it passes the limit.
async fn read_limited(mut payload: Payload) -> Result<web::Bytes, WebhookRejection> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| match error {
            actix_web::error::PayloadError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                WebhookRejection::SlowBody
            }
            _ => WebhookRejection::Unreadable,
        })?;
        if body.len() + chunk.len() > MAX_WEBHOOK_BODY {
            return Err(WebhookRejection::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
