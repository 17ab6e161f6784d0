use actix_web::{HttpResponse, web};

use super::{forward_twiml, twiml_response, voicemail_twiml};
use crate::app::calls::{self, VoiceAnswer};
use crate::routes::AppState;
use crate::routes::error::WebhookError;
use crate::twilio::extract::VerifiedForm;
use crate::twilio::payloads::VoiceRequest;

/// An incoming call to a tracked number: record it, then forward it to the business. With the
/// database away the answer is the same, from the routing copy, and the call is spooled.
#[tracing::instrument(skip_all, fields(call.sid))]
pub async fn incoming_call(
    state: web::Data<AppState>,
    VerifiedForm(form): VerifiedForm,
) -> Result<HttpResponse, WebhookError> {
    let voice = VoiceRequest::from_form(&form)?;
    tracing::Span::current().record("call.sid", voice.call_sid.as_str());
    let twiml = match calls::take_call(&state.calls, &voice, &form).await? {
        VoiceAnswer::Reject => {
            let to = voice.to.as_ref().map(crate::domain::E164::masked);
            tracing::info!(
                to = to.as_deref().unwrap_or("not a number"),
                "call to an unknown number rejected"
            );
            state.twiml.reject()?
        }
        VoiceAnswer::Hangup => state.twiml.hangup()?,
        VoiceAnswer::Inactive => state.twiml.number_inactive()?,
        VoiceAnswer::Forward {
            forward_to_number,
            flow,
        } => {
            let call = voice.to.as_ref().map(|to| (to, &voice.call_sid));
            forward_twiml(&state, &forward_to_number, Some(&flow), call)?
        }
        VoiceAnswer::Closed { flow } => {
            tracing::info!("call outside business hours");
            if flow.voicemail {
                voicemail_twiml(&state, flow.greeting())?
            } else {
                state.twiml.closed(flow.greeting())?
            }
        }
    };
    Ok(twiml_response(twiml))
}
