//! Twilio's webhooks. Each handler receives a [`VerifiedForm`](crate::twilio::extract::VerifiedForm)
//! and hands the parsed payload to [`crate::app::calls`], which writes it or spools it.

pub mod dial;
pub mod fallback;
pub mod recording;
pub mod screening;
pub mod sms_status;
pub mod status;
pub mod voice;

use actix_web::HttpResponse;

use crate::domain::{CallFlow, CallSid, E164};
use crate::routes::AppState;
use crate::twilio::PublicBaseUrl;
use crate::twilio::dial_action;
use crate::twilio::twiml::{ForwardCall, TwimlError};

/// The TwiML that forwards a call to `forward_to` with the number's call flow: the same
/// whether the route came from the database or the routing copy. `call` (the tracked number
/// dialled and the CallSid) names the call for the screening URL when the flow whispers. That
/// URL carries the whisper and the dial action URL carries the voicemail, so both follow this
/// answer wherever they land. Without a flow (the fallback, for a number its copy lacks) the
/// call is forwarded plainly and the dial action reads the routing copy.
pub(crate) fn forward_twiml(
    state: &AppState,
    forward_to: &str,
    flow: Option<&CallFlow>,
    call: Option<(&E164, &CallSid)>,
) -> Result<String, TwimlError> {
    let base = &state.public_base_url;
    let screen_url = call
        .zip(flow)
        .and_then(|((tracked, sid), flow)| crate::twilio::screening::url(base, tracked, sid, flow));
    let dial_action_url = match flow {
        Some(flow) => dial_action::url(base, &flow.dial_flow()),
        None => dial_action::url_without_flow(base),
    };
    state.twiml.forward(&ForwardCall {
        forward_to,
        notice: state.voice.recording_notice.as_deref(),
        record: state.voice.record_calls,
        dial_action_url: &dial_action_url,
        status_callback_url: &base.join("/twilio/status"),
        recording_callback_url: &base.join("/twilio/recording"),
        screen_url: screen_url.as_deref(),
    })
}

/// Voicemail: the number's greeting, then a message recorded to `/twilio/voicemail`. Neither
/// URL needs the flow: the `<Record>` action only hangs up and the recording callback only
/// stores the message.
pub(crate) fn voicemail_twiml(state: &AppState, greeting: &str) -> Result<String, TwimlError> {
    let base = &state.public_base_url;
    state.twiml.voicemail(
        greeting,
        &base.join("/twilio/voicemail-done"),
        &base.join("/twilio/voicemail"),
    )
}

/// The public URL of `path?k=v&...`, percent-encoded.
pub(crate) fn with_query(base: &PublicBaseUrl, path: &str, pairs: &[(&str, &str)]) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    base.join(&format!("{path}?{query}"))
}

/// The value of `key` in a raw query string, decoded.
pub(crate) fn query_value(query: &str, key: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// A TwiML answer with the content type Twilio expects.
pub(crate) fn twiml_response(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/xml; charset=utf-8")
        .body(body)
}
