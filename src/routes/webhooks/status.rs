use actix_web::{HttpResponse, web};
use chrono::Utc;

use super::within;
use crate::db::calls::{self, CallProgress};
use crate::domain::CallStatus;
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
    let session_sid = callback.session_call_sid();
    tracing::Span::current().record("call.sid", session_sid.as_str());
    let progress = progress_of(&callback);
    let known = within(state.db_deadline, async {
        let client = state.pool.get().await?;
        calls::apply_progress(&client, session_sid, &progress).await
    })
    .await?;
    if !known {
        // Twilio retries non-2xx answers, and retrying cannot make an unknown call known.
        tracing::info!(status = %callback.status, "status callback for an unknown call ignored");
    }
    Ok(HttpResponse::NoContent().finish())
}

/// The forwarded leg decides whether the business answered and for how long they talked;
/// the parent leg says how long the whole call lasted. The end is the later of the two ends.
fn progress_of(callback: &StatusCallback) -> CallProgress {
    let at = callback.timestamp.unwrap_or_else(Utc::now);
    let status = callback.status;
    if callback.is_child_leg() {
        CallProgress {
            status: Some(status),
            answered_at: (status == CallStatus::InProgress).then_some(at),
            ended_at: status.is_terminal().then_some(at),
            talk_seconds: callback
                .duration_seconds
                .filter(|_| status == CallStatus::Completed),
            ..CallProgress::default()
        }
    } else {
        CallProgress {
            status: Some(status),
            ended_at: status.is_terminal().then_some(at),
            duration_seconds: callback.duration_seconds.filter(|_| status.is_terminal()),
            ..CallProgress::default()
        }
    }
}
