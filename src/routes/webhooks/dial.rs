use actix_web::{HttpResponse, web};

use super::twiml_response;
use crate::app::calls::Callback;
use crate::routes::AppState;
use crate::routes::error::WebhookError;
use crate::twilio::extract::VerifiedForm;
use crate::twilio::payloads::DialAction;

/// The `<Dial action>` callback: the forwarded leg ended; record its outcome and hang up.
#[tracing::instrument(skip_all, fields(call.sid))]
pub async fn dial_complete(
    state: web::Data<AppState>,
    VerifiedForm(form): VerifiedForm,
) -> Result<HttpResponse, WebhookError> {
    let action = DialAction::from_form(&form)?;
    tracing::Span::current().record("call.sid", action.call_sid.as_str());
    state
        .calls
        .take_callback(&Callback::Dial(action), &form)
        .await?;
    Ok(twiml_response(state.twiml.dial_complete()?))
}
