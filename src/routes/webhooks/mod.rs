//! Twilio's webhooks. Each handler receives a [`VerifiedForm`](crate::twilio::extract::VerifiedForm).

pub mod dial;
pub mod recording;
pub mod sms_status;
pub mod status;
pub mod voice;

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// A TwiML answer with the content type Twilio expects.
pub(crate) fn twiml_response(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}
