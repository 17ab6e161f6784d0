//! Tracked numbers for campaign managers: buy at Twilio, list, change, release.

use actix_web::{HttpResponse, web};

use super::types::{
    BuyNumberRequest, FlowFields as _, NumberList, TrackedNumberOut, UpdateNumberRequest,
};
use super::{parse_id, text};
use crate::app::Caller;
use crate::app::numbers::{self, BuyRequest};
use crate::domain::{AreaCode, DialableNumber};
use crate::routes::AppState;
use crate::routes::error::{ApiError, ErrorBody};
use crate::routes::extract::Manager;

/// The campaign's tracked numbers, active first.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/tracked-numbers",
    operation_id = "list_tracked_numbers", tag = "tracked numbers",
    params(("id" = uuid::Uuid, Path, description = "campaign id")),
    responses((status = 200, body = NumberList), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    Manager(principal): Manager,
    id: web::Path<String>,
) -> Result<web::Json<NumberList>, ApiError> {
    let items = numbers::list(&state.numbers, Caller::Api(&principal), parse_id(&id)?).await?;
    Ok(web::Json(NumberList {
        items: items.into_iter().map(Into::into).collect(),
        next_cursor: None,
    }))
}

/// Buys a number at Twilio, points it at this service and stores it for the campaign.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/tracked-numbers",
    operation_id = "buy_tracked_number", tag = "tracked numbers",
    params(("id" = uuid::Uuid, Path, description = "campaign id")), request_body = BuyNumberRequest,
    responses((status = 201, body = TrackedNumberOut), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "`forward_to_number` or `phone_number` is not a dialable number (`invalid_forward_to_number`, `invalid_phone_number`; nothing was asked of Twilio), the number would forward to itself (`forward_to_self`), or Twilio refused the choice in a way the caller can fix (`twilio_refused` with `twilio_code` 21421 invalid number, 21422 number not available, 21451 invalid area code, 21452 no numbers in the area code)"),
              (status = 502, body = ErrorBody, description = "Twilio refused otherwise (`twilio_error` with `twilio_code`), failed or was unreachable (`twilio_unavailable`), or its answer was lost and the purchase was not found at Twilio (`twilio_outcome_unknown`); nothing was stored")))]
pub async fn buy(
    state: web::Data<AppState>,
    Manager(principal): Manager,
    id: web::Path<String>,
    web::Json(body): web::Json<BuyNumberRequest>,
) -> Result<HttpResponse, ApiError> {
    let campaign_id = parse_id(&id)?;
    let forward = forward_to(&body.forward_to_number)?;
    let area_code = body.area_code.as_deref().map(area_code).transpose()?;
    let exact = body.phone_number.as_deref().map(phone_number).transpose()?;
    let flow = body.flow_change()?;
    let mut request = BuyRequest::parse(
        area_code.as_ref().map(AreaCode::as_str),
        exact.as_ref().map(DialableNumber::as_str),
        forward.as_str(),
    )?;
    request.flow = flow;
    let stored = numbers::buy(
        &state.numbers,
        Caller::Api(&principal),
        campaign_id,
        &request,
    )
    .await?;
    Ok(HttpResponse::Created().json(TrackedNumberOut::from(stored)))
}

/// Changes the forward-to number, switches the number on or off, or changes its call flow
/// (whisper, key-press screening, voicemail, business hours).
#[utoipa::path(patch, path = "/api/v1/tracked-numbers/{id}", operation_id = "update_tracked_number",
    tag = "tracked numbers",
    params(("id" = uuid::Uuid, Path, description = "tracked number id")), request_body = UpdateNumberRequest,
    responses((status = 200, body = TrackedNumberOut), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "`forward_to_number` is not a dialable number (`invalid_forward_to_number`; nothing was asked of Twilio), or is the number itself (`forward_to_self`)"),
              (status = 502, body = ErrorBody)))]
pub async fn update(
    state: web::Data<AppState>,
    Manager(principal): Manager,
    id: web::Path<String>,
    web::Json(body): web::Json<UpdateNumberRequest>,
) -> Result<web::Json<TrackedNumberOut>, ApiError> {
    let id = parse_id(&id)?;
    let forward = body
        .forward_to_number
        .as_deref()
        .map(forward_to)
        .transpose()?;
    let flow = body.flow_change()?;
    if body.forward_to_number.is_none() && body.is_active.is_none() && flow.is_empty() {
        return Err(ApiError::bad_request(
            "give forward_to_number, is_active or a call-flow setting",
        ));
    }
    let updated = numbers::update(
        &state.numbers,
        Caller::Api(&principal),
        id,
        forward.as_ref().map(DialableNumber::as_str),
        body.is_active,
        &flow,
    )
    .await?;
    Ok(web::Json(updated.into()))
}

/// The forward-to number, held to its country's numbering plan before Twilio is asked anything
/// or anything is written: Twilio would take a number it cannot dial and fail the calls later.
fn forward_to(raw: &str) -> Result<DialableNumber, ApiError> {
    DialableNumber::parse(text("forward_to_number", raw)?).map_err(|e| ApiError::Unprocessable {
        code: "invalid_forward_to_number",
        message: format!("forward_to_number {e}"),
    })
}

/// A number to buy exactly, held to its numbering plan like the forward-to number.
fn phone_number(raw: &str) -> Result<DialableNumber, ApiError> {
    DialableNumber::parse(text("phone_number", raw)?).map_err(|e| ApiError::Unprocessable {
        code: "invalid_phone_number",
        message: format!("phone_number {e}"),
    })
}

fn area_code(raw: &str) -> Result<AreaCode, ApiError> {
    AreaCode::parse(text("area_code", raw)?)
        .map_err(|e| ApiError::bad_request(format!("area_code {e}")))
}

/// Releases the number at Twilio; the row stays, inactive, for history.
#[utoipa::path(delete, path = "/api/v1/tracked-numbers/{id}", operation_id = "release_tracked_number",
    tag = "tracked numbers",
    params(("id" = uuid::Uuid, Path, description = "tracked number id")),
    responses((status = 200, body = TrackedNumberOut), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 502, body = ErrorBody)))]
pub async fn release(
    state: web::Data<AppState>,
    Manager(principal): Manager,
    id: web::Path<String>,
) -> Result<web::Json<TrackedNumberOut>, ApiError> {
    let released =
        numbers::release(&state.numbers, Caller::Api(&principal), parse_id(&id)?).await?;
    Ok(web::Json(released.into()))
}
