//! Twilio's webhooks. Each handler receives a [`VerifiedForm`](crate::twilio::extract::VerifiedForm)
//! and hands the parsed payload to [`crate::app::calls`], which writes it or spools it.

pub mod dial;
pub mod fallback;
pub mod recording;
pub mod sms_status;
pub mod status;
pub mod voice;

use actix_web::HttpResponse;

use crate::routes::AppState;
use crate::twilio::twiml::{ForwardCall, TwimlError};

/// The TwiML that forwards a call to `forward_to`: the same whether the route came from the
/// database or the routing copy.
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

/// A TwiML answer with the content type Twilio expects.
pub(crate) fn twiml_response(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/xml; charset=utf-8")
        .body(body)
}
