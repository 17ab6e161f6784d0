use actix_web::{HttpResponse, web};

use super::{twiml_response, within};
use crate::db::calls::{self, IncomingCall, NumberLookup};
use crate::routes::AppState;
use crate::routes::error::WebhookError;
use crate::twilio::extract::VerifiedForm;
use crate::twilio::payloads::VoiceRequest;
use crate::twilio::twiml::ForwardCall;

/// An incoming call to a tracked number: record it, then forward it to the business.
#[tracing::instrument(skip_all, fields(call.sid))]
pub async fn incoming_call(
    state: web::Data<AppState>,
    VerifiedForm(form): VerifiedForm,
) -> Result<HttpResponse, WebhookError> {
    let voice = VoiceRequest::from_form(&form)?;
    tracing::Span::current().record("call.sid", voice.call_sid.as_str());

    let call = IncomingCall {
        call_sid: &voice.call_sid,
        to: &voice.to,
        caller: &voice.caller,
        raw_from: &voice.raw_from,
        status: voice.status,
    };
    let lookup = within(state.db_deadline, async {
        let client = state.pool.get().await?;
        calls::record_incoming_call(&client, &call).await
    })
    .await?;
    let twiml = match lookup {
        NumberLookup::Unknown => {
            tracing::info!(to = %voice.to.masked(), "call to an unknown number rejected");
            state.twiml.reject()
        }
        NumberLookup::Inactive => state.twiml.number_inactive(),
        NumberLookup::Active {
            forward_to_number,
            session,
        } => {
            if let Some(session) = session {
                tracing::info!(session.id = %session.id, matched = session.matched, "call session created");
            }
            let base = &state.public_base_url;
            state.twiml.forward(&ForwardCall {
                forward_to: &forward_to_number,
                notice: state.voice.recording_notice.as_deref(),
                record: state.voice.record_calls,
                dial_action_url: &base.join("/twilio/dial-complete"),
                status_callback_url: &base.join("/twilio/status"),
                recording_callback_url: &base.join("/twilio/recording"),
            })
        }
    }?;
    Ok(twiml_response(twiml))
}

/// The number's `VoiceFallbackUrl`: Twilio calls it when the voice webhook failed. It needs
/// no database, so a caller hears an apology instead of Twilio's application error.
pub async fn fallback(
    state: web::Data<AppState>,
    VerifiedForm(_form): VerifiedForm,
) -> Result<HttpResponse, WebhookError> {
    tracing::warn!("voice fallback used: the voice webhook failed for a call");
    Ok(twiml_response(state.twiml.unavailable()?))
}
