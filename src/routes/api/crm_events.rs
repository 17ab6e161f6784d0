//! The platform's CRM reports events that meet `crm_event` conditions.

use actix_web::HttpResponse;
use actix_web::web;

use super::text;
use super::types::{CrmEventRequest, CrmEventResponse, CrmRecipientIn};
use crate::app;
use crate::app::crm_events::{CrmEventReport, RecipientRef};
use crate::routes::AppState;
use crate::routes::error::{ApiError, ErrorBody};
use crate::routes::extract::Manager;

/// The limits the OpenAPI document states for the request body.
const MAX_NAME: usize = 200;
const MAX_NOTES: usize = 2000;
const MAX_PHONE: usize = 64;

/// Reports a CRM event: meets every active `crm_event` condition of that name of the
/// recipient's campaign and provisions their rewards, exactly once per sender's id.
#[utoipa::path(post, path = "/api/v1/crm-events", operation_id = "report_crm_event",
    tag = "crm events", request_body(content = CrmEventRequest, examples(
        ("by redemption code" = (value = json!({"event": "appointment_kept", "id": "crm-evt-10031",
            "occurred_at": "2026-03-02T15:04:05Z", "recipient": {"redemption_code": "SPRING-4821"}}))),
        ("by phone, within a campaign" = (value = json!({"event": "appointment_kept", "id": "crm-evt-10032",
            "recipient": {"phone": "(415) 555-0100"}, "campaign_id": "6f1c1d9e-8a43-4d7e-9a51-2b7f0c3e5d11",
            "notes": "kept at 3 pm"}))),
        ("by recipient id" = (value = json!({"event": "appointment_kept", "id": "crm-evt-10033",
            "recipient": {"recipient_id": "0b5e2b8c-3f7a-4c1e-9d2a-7e4f1a6c8b90"}})))
    )),
    responses((status = 201, body = CrmEventResponse, description = "received now; the conditions it met (an empty list when none has that name)"),
              (status = 200, body = CrmEventResponse, description = "this id was received already: the first answer, nothing new"),
              (status = 400, body = ErrorBody, description = "a malformed body, an unknown field, or not exactly one way to name the recipient"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "no recipient you can see matches (a phone that is no phone number matches no one)"),
              (status = 409, body = ErrorBody, description = "`ambiguous_recipient`: several recipients match (name the campaign with `campaign_id`); `conflicting_repeat`: this id was received for another event, recipient or campaign"),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn report(
    state: web::Data<AppState>,
    Manager(principal): Manager,
    web::Json(body): web::Json<CrmEventRequest>,
) -> Result<HttpResponse, ApiError> {
    let event = bounded("event", &body.event, MAX_NAME)?;
    let sender_event_id = bounded("id", &body.id, MAX_NAME)?;
    let notes = body
        .notes
        .as_deref()
        .map(|n| text("notes", n))
        .transpose()?;
    if notes.is_some_and(|n| n.chars().count() > MAX_NOTES) {
        return Err(ApiError::bad_request(format!(
            "notes are longer than {MAX_NOTES} characters"
        )));
    }
    let recipient = match &body.recipient {
        CrmRecipientIn::RedemptionCode(by) => RecipientRef::RedemptionCode(bounded(
            "recipient.redemption_code",
            &by.redemption_code,
            MAX_NAME,
        )?),
        CrmRecipientIn::RecipientId(by) => RecipientRef::Id(by.recipient_id),
        CrmRecipientIn::Phone(by) => {
            RecipientRef::Phone(bounded("recipient.phone", &by.phone, MAX_PHONE)?)
        }
    };
    let report = CrmEventReport {
        event,
        sender_event_id,
        occurred_at: body.occurred_at,
        recipient,
        campaign_id: body.campaign_id,
        notes: notes.map(str::to_owned),
    };
    let outcome = app::crm_events::report(&state.pool, &principal, &report).await?;
    let mut response = if outcome.created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(CrmEventResponse::from(outcome)))
}

/// A required string field: valid text, trimmed, not blank, at most `max` characters.
fn bounded(field: &'static str, raw: &str, max: usize) -> Result<String, ApiError> {
    let value = text(field, raw)?.trim();
    if value.is_empty() {
        return Err(ApiError::bad_request(format!("{field} is empty")));
    }
    if value.chars().count() > max {
        return Err(ApiError::bad_request(format!(
            "{field} is longer than {max} characters"
        )));
    }
    Ok(value.to_owned())
}
