use actix_web::{HttpResponse, web};

use crate::app::calls::{self, Callback};
use crate::routes::AppState;
use crate::routes::error::WebhookError;
use crate::twilio::extract::VerifiedForm;
use crate::twilio::payloads::SmsStatusCallback;

/// A message status callback of a reward SMS: moves its delivery to `delivered` or `failed`.
/// Twilio retries non-2xx answers, and retrying cannot make an unknown message known, so a
/// report for a message not stored yet is parked and answered `204` too.
#[tracing::instrument(skip_all, fields(message.sid))]
pub async fn sms_status(
    state: web::Data<AppState>,
    VerifiedForm(form): VerifiedForm,
) -> Result<HttpResponse, WebhookError> {
    let callback = SmsStatusCallback::from_form(&form)?;
    tracing::Span::current().record("message.sid", callback.message_sid.as_str());
    calls::take_callback(&state.calls, &Callback::SmsStatus(callback), &form).await?;
    Ok(HttpResponse::NoContent().finish())
}
