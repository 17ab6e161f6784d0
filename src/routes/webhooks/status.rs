use actix_web::{HttpResponse, web};

use crate::app::calls::{self, Callback};
use crate::routes::AppState;
use crate::routes::error::WebhookError;
use crate::twilio::extract::VerifiedForm;
use crate::twilio::payloads::StatusCallback;

/// A call status callback, for the call itself or for its forwarded (child) leg.
#[tracing::instrument(skip_all, fields(call.sid))]
pub async fn call_status(
    state: web::Data<AppState>,
    VerifiedForm(form): VerifiedForm,
) -> Result<HttpResponse, WebhookError> {
    let callback = StatusCallback::from_form(&form)?;
    tracing::Span::current().record("call.sid", callback.session_call_sid().as_str());
    calls::take_callback(&state.calls, &Callback::Status(callback), &form).await?;
    Ok(HttpResponse::NoContent().finish())
}
