use actix_web::{HttpRequest, HttpResponse, web};

use super::{twiml_response, voicemail_twiml};
use crate::app::calls::{self, AfterDial, Callback};
use crate::routes::AppState;
use crate::routes::error::WebhookError;
use crate::twilio::dial_action;
use crate::twilio::extract::VerifiedForm;
use crate::twilio::payloads::DialAction;

/// The `<Dial action>` callback: the forwarded leg ended; record its outcome, then hang up or,
/// when the business did not take the call, offer voicemail. The query (signed by Twilio with
/// the URL) carries the flow the voice answer used, so a change made since, on this instance
/// or another, does not turn a voicemail on or off for a call already forwarded.
#[tracing::instrument(skip_all, fields(call.sid))]
pub async fn dial_complete(
    state: web::Data<AppState>,
    request: HttpRequest,
    VerifiedForm(form): VerifiedForm,
) -> Result<HttpResponse, WebhookError> {
    let action = DialAction::from_form(&form)?;
    tracing::Span::current().record("call.sid", action.call_sid.as_str());
    let carried = dial_action::read(request.query_string());
    // Side by side, so the answer waits at most one deadline for the database.
    let callback = Callback::Dial(action.clone());
    let (after, taken) = tokio::join!(
        calls::after_dial(&state.calls, &action, carried),
        calls::take_callback(&state.calls, &callback, &form)
    );
    taken?;
    Ok(twiml_response(match after {
        AfterDial::Voicemail { greeting } => voicemail_twiml(&state, &greeting)?,
        AfterDial::Hangup => state.twiml.dial_complete()?,
    }))
}
