use actix_web::{HttpRequest, HttpResponse, web};

use super::{forward_twiml, twiml_response};
use crate::app::calls;
use crate::routes::AppState;
use crate::routes::error::WebhookError;
use crate::twilio::extract::VerifiedForm;
use crate::twilio::fallback;
use crate::twilio::payloads::VoiceRequest;

/// A number's `VoiceFallbackUrl`: Twilio posts here when the voice webhook failed or timed
/// out. It forwards the call to the number in the URL's query (signed by Twilio with the rest
/// of the URL) exactly as the voice webhook forwards for an active number, and never touches
/// the database. A URL without a usable number, as numbers bought before the fallback
/// carried one have, answers an apology; a caller is on the line, so never an error.
#[tracing::instrument(skip_all, fields(call.sid))]
pub async fn voice_fallback(
    state: web::Data<AppState>,
    request: HttpRequest,
    VerifiedForm(form): VerifiedForm,
) -> Result<HttpResponse, WebhookError> {
    // The caller comes first: a body that does not parse still gets forwarded.
    let voice = match VoiceRequest::from_form(&form) {
        Ok(voice) => {
            tracing::Span::current().record("call.sid", voice.call_sid.as_str());
            Some(voice)
        }
        Err(error) => {
            tracing::warn!(reason = %error, "voice fallback body not understood");
            None
        }
    };
    let call_sid = voice.as_ref().map_or("unknown", |v| v.call_sid.as_str());
    let Some(forward_to) = fallback::forward_to(request.query_string()) else {
        tracing::warn!(
            call.sid = call_sid,
            "voice fallback used without a forward-to number in its URL: apologising"
        );
        return Ok(twiml_response(state.twiml.unavailable()?));
    };
    tracing::warn!(
        call.sid = call_sid,
        forward_to = %forward_to.masked(),
        "voice fallback used: forwarding without the database"
    );
    crate::metrics::fail_open("voice_fallback");
    if voice.is_some() {
        // Recorded like any call once the spool is replayed; an unparseable body could not
        // be, so it is not spooled.
        calls::spool_fallback_call(&state.calls, &form).await;
    }
    // The flow (a whisper, the voicemail) from the routing copy when it knows the number;
    // the number forwards plainly otherwise.
    let call = voice
        .as_ref()
        .and_then(|v| v.to.as_ref().map(|to| (to, &v.call_sid)));
    let flow = call
        .and_then(|(to, _)| state.calls.routing.lookup(to))
        .map(|route| route.flow);
    Ok(twiml_response(forward_twiml(
        &state,
        forward_to.as_str(),
        flow.as_ref(),
        call,
    )?))
}
