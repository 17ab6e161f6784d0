use actix_web::{HttpResponse, web};
use chrono::Utc;

use super::{twiml_response, within};
use crate::db::calls::{self, CallProgress};
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
    let progress = CallProgress::from_dial(&action.outcome, Utc::now());
    let known = within(state.db_deadline, async {
        let client = state.pool.get().await?;
        calls::apply_progress(&client, &action.call_sid, &progress).await
    })
    .await?;
    if !known {
        tracing::info!("dial callback for an unknown call ignored");
    }
    Ok(twiml_response(state.twiml.dial_complete()?))
}
