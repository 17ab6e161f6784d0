use axum::extract::State;
use axum::http::StatusCode;

use crate::db::outbox::{self, ReportOutcome};
use crate::error::WebhookError;
use crate::routes::AppState;
use crate::twilio::extract::VerifiedForm;
use crate::twilio::payloads::SmsStatusCallback;

/// A message status callback of a reward SMS: moves its delivery to `delivered` or `failed`.
#[tracing::instrument(skip_all, fields(message.sid))]
pub async fn sms_status(
    State(state): State<AppState>,
    VerifiedForm(form): VerifiedForm,
) -> Result<StatusCode, WebhookError> {
    let callback = SmsStatusCallback::from_form(&form)?;
    tracing::Span::current().record("message.sid", callback.message_sid.as_str());
    let client = state.pool.get().await.map_err(anyhow::Error::from)?;
    let outcome = outbox::apply_report(&client, &callback.message_sid, &callback.report).await?;
    match outcome {
        // Twilio retries non-2xx answers, and retrying cannot make an unknown message known.
        ReportOutcome::UnknownMessage => {
            tracing::info!(report = ?callback.report, "status callback for an unknown message ignored");
        }
        ReportOutcome::Applied | ReportOutcome::Unchanged => {
            tracing::info!(report = ?callback.report, ?outcome, "SMS status callback");
        }
    }
    Ok(StatusCode::NO_CONTENT)
}
