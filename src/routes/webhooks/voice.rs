use actix_web::{HttpResponse, web};

use super::{twiml_response, within};
use crate::db::calls::{self, IncomingCall, NumberLookup};
use crate::routes::AppState;
use crate::routes::error::WebhookError;
use crate::twilio::extract::VerifiedForm;
use crate::twilio::payloads::VoiceRequest;

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
            super::forward_twiml(&state, &forward_to_number)
        }
    }?;
    Ok(twiml_response(twiml))
}
