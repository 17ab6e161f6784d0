use actix_web::{HttpResponse, web};

use crate::app::calls::{self, Callback};
use crate::routes::AppState;
use crate::routes::error::WebhookError;
use crate::twilio::extract::VerifiedForm;
use crate::twilio::payloads::RecordingCallback;

/// A recording status callback, which may arrive before or after the call's final status.
#[tracing::instrument(skip_all, fields(call.sid))]
pub async fn recording_status(
    state: web::Data<AppState>,
    VerifiedForm(form): VerifiedForm,
) -> Result<HttpResponse, WebhookError> {
    let callback = RecordingCallback::from_form(&form)?;
    tracing::Span::current().record("call.sid", callback.call_sid.as_str());
    calls::take_callback(&state.calls, &Callback::Recording(callback), &form).await?;
    Ok(HttpResponse::NoContent().finish())
}
