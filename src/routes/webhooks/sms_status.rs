use actix_web::{HttpResponse, web};

use super::within;
use crate::db::outbox::{self, ReportOutcome};
use crate::routes::AppState;
use crate::routes::error::WebhookError;
use crate::twilio::extract::VerifiedForm;
use crate::twilio::payloads::SmsStatusCallback;

/// A message status callback of a reward SMS: moves its delivery to `delivered` or `failed`.
#[tracing::instrument(skip_all, fields(message.sid))]
pub async fn sms_status(
    state: web::Data<AppState>,
    VerifiedForm(form): VerifiedForm,
) -> Result<HttpResponse, WebhookError> {
    let callback = SmsStatusCallback::from_form(&form)?;
    tracing::Span::current().record("message.sid", callback.message_sid.as_str());
    let sid = &callback.message_sid;
    let report = &callback.report;
    let outcome = within(state.db_deadline, async {
        let client = state.pool.get().await?;
        let mut outcome = outbox::apply_report(&client, sid, report).await?;
        if outcome == ReportOutcome::UnknownMessage && report.is_final() {
            // The worker may not have stored the SID yet: park the report, then look once
            // more. Either this second look sees the SID, or the worker stores it later and
            // then finds the parked report: the report is never lost, and applying it twice is
            // harmless.
            outbox::park_report(&client, sid, report).await?;
            outcome = outbox::apply_report(&client, sid, report).await?;
            if outcome != ReportOutcome::UnknownMessage {
                outbox::take_parked(&client, sid).await?;
            }
        }
        Ok(outcome)
    })
    .await?;
    match outcome {
        // Twilio retries non-2xx answers, and retrying cannot make an unknown message known.
        ReportOutcome::UnknownMessage => {
            tracing::info!(report = ?callback.report, "status callback for a message not stored yet; parked");
        }
        ReportOutcome::Applied | ReportOutcome::Unchanged => {
            tracing::info!(report = ?callback.report, ?outcome, "SMS status callback");
        }
    }
    Ok(HttpResponse::NoContent().finish())
}
