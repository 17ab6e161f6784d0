use actix_web::{HttpResponse, web};

use super::within;
use crate::db::calls::{self, Recording};
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
    if !callback.is_completed() {
        tracing::info!(recording.status = %callback.status, "recording not completed; nothing stored");
        return Ok(HttpResponse::NoContent().finish());
    }
    let recording = Recording {
        sid: &callback.recording_sid,
        url: &callback.recording_url,
        duration_seconds: callback.duration_seconds,
        status: &callback.status,
    };
    let known = within(state.db_deadline, async {
        let client = state.pool.get().await?;
        calls::record_recording(&client, &callback.call_sid, &recording).await
    })
    .await?;
    if !known {
        tracing::info!("recording callback for an unknown call ignored");
    }
    Ok(HttpResponse::NoContent().finish())
}
