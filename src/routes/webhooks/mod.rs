//! Twilio's webhooks. Each handler receives a [`VerifiedForm`](crate::twilio::extract::VerifiedForm).

pub mod dial;
pub mod fallback;
pub mod recording;
pub mod sms_status;
pub mod status;
pub mod voice;

use std::future::Future;
use std::time::Duration;

use actix_web::HttpResponse;

use crate::db;
use crate::routes::AppState;
use crate::routes::error::WebhookError;
use crate::twilio::twiml::{ForwardCall, TwimlError};

/// Runs the database part of a webhook within `deadline`: whatever the database does (down,
/// hung, out of connections), the webhook has its answer by then.
pub(crate) async fn within<T>(
    deadline: Duration,
    work: impl Future<Output = Result<T, db::Error>>,
) -> Result<T, WebhookError> {
    match tokio::time::timeout(deadline, work).await {
        Ok(result) => Ok(result?),
        Err(elapsed) => Err(WebhookError::Db(db::Error::Unavailable {
            context: "the database did not answer within the webhook deadline",
            source: Box::new(elapsed),
        })),
    }
}

/// A TwiML answer with the content type Twilio expects.
pub(crate) fn twiml_response(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/xml; charset=utf-8")
        .body(body)
}

/// The TwiML that forwards a call to `forward_to` with this service's recording settings and
/// callbacks: the voice webhook's answer for an active number, and the fallback's, are one.
pub(crate) fn forward_twiml(state: &AppState, forward_to: &str) -> Result<String, TwimlError> {
    let base = &state.public_base_url;
    state.twiml.forward(&ForwardCall {
        forward_to,
        notice: state.voice.recording_notice.as_deref(),
        record: state.voice.record_calls,
        dial_action_url: &base.join("/twilio/dial-complete"),
        status_callback_url: &base.join("/twilio/status"),
        recording_callback_url: &base.join("/twilio/recording"),
    })
}
