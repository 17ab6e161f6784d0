//! Tracked numbers for campaign managers: buy at Twilio, list, change, release.

use actix_web::{HttpResponse, web};

use super::parse_id;
use crate::db::numbers::TrackedNumber;
use crate::numbers::{Actor, BuyRequest, NumbersError};
use crate::routes::AppState;
use crate::routes::error::ApiError;
use crate::routes::extract::Manager;
use crate::twilio::client::TwilioError;

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct NumberList {
    pub items: Vec<TrackedNumber>,
    /// Always null: a campaign has few numbers.
    pub next_cursor: Option<String>,
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct BuyNumberRequest {
    /// Buy any local number in this US area code...
    pub area_code: Option<String>,
    /// ...or exactly this number (E.164).
    pub phone_number: Option<String>,
    /// Where calls to the number are forwarded (E.164).
    pub forward_to_number: String,
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct UpdateNumberRequest {
    pub forward_to_number: Option<String>,
    pub is_active: Option<bool>,
}

impl From<NumbersError> for ApiError {
    fn from(error: NumbersError) -> Self {
        match error {
            NumbersError::Invalid(message) => ApiError::bad_request(message),
            NumbersError::NotFound => ApiError::NotFound("no such campaign or tracked number"),
            e @ NumbersError::ForwardToSelf => ApiError::Unprocessable {
                code: "forward_to_self",
                message: e.to_string(),
            },
            NumbersError::Conflict(message) => ApiError::Conflict {
                code: "number_conflict",
                message: message.to_owned(),
            },
            NumbersError::Twilio(error) => twilio_error(&error),
            NumbersError::Internal(error) => ApiError::Internal(error),
        }
    }
}

fn twilio_error(error: &TwilioError) -> ApiError {
    match error {
        TwilioError::Api { .. } => ApiError::BadGateway {
            code: "twilio_error",
            message: format!("Twilio refused: {}", error.stored_message()),
            twilio_code: error.code(),
        },
        other => ApiError::BadGateway {
            code: "twilio_unavailable",
            message: format!("Twilio could not be reached: {other}"),
            twilio_code: None,
        },
    }
}

/// The campaign's tracked numbers, active first.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/tracked-numbers", tag = "tracked numbers",
    params(("id" = uuid::Uuid, Path, description = "campaign id")),
    responses((status = 200, body = NumberList), (status = 403, body = crate::routes::error::ErrorBody),
              (status = 404, body = crate::routes::error::ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    Manager(principal): Manager,
    id: web::Path<String>,
) -> Result<web::Json<NumberList>, ApiError> {
    let items = state
        .numbers
        .list(Actor::Api(&principal), parse_id(&id)?)
        .await?;
    Ok(web::Json(NumberList {
        items,
        next_cursor: None,
    }))
}

/// Buys a number at Twilio, points it at this service and stores it for the campaign.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/tracked-numbers", tag = "tracked numbers",
    params(("id" = uuid::Uuid, Path, description = "campaign id")), request_body = BuyNumberRequest,
    responses((status = 201, body = TrackedNumber), (status = 400, body = crate::routes::error::ErrorBody),
              (status = 403, body = crate::routes::error::ErrorBody), (status = 404, body = crate::routes::error::ErrorBody),
              (status = 409, body = crate::routes::error::ErrorBody), (status = 422, body = crate::routes::error::ErrorBody),
              (status = 502, body = crate::routes::error::ErrorBody, description = "Twilio refused or was unreachable")))]
pub async fn buy(
    state: web::Data<AppState>,
    Manager(principal): Manager,
    id: web::Path<String>,
    web::Json(body): web::Json<BuyNumberRequest>,
) -> Result<HttpResponse, ApiError> {
    let campaign_id = parse_id(&id)?;
    let request = BuyRequest::parse(
        body.area_code.as_deref(),
        body.phone_number.as_deref(),
        &body.forward_to_number,
    )?;
    let stored = state
        .numbers
        .buy(Actor::Api(&principal), campaign_id, &request)
        .await?;
    Ok(HttpResponse::Created().json(stored))
}

/// Changes the forward-to number or switches the number on or off.
#[utoipa::path(patch, path = "/api/v1/tracked-numbers/{id}", tag = "tracked numbers",
    params(("id" = uuid::Uuid, Path, description = "tracked number id")), request_body = UpdateNumberRequest,
    responses((status = 200, body = TrackedNumber), (status = 404, body = crate::routes::error::ErrorBody),
              (status = 422, body = crate::routes::error::ErrorBody)))]
pub async fn update(
    state: web::Data<AppState>,
    Manager(principal): Manager,
    id: web::Path<String>,
    web::Json(body): web::Json<UpdateNumberRequest>,
) -> Result<web::Json<TrackedNumber>, ApiError> {
    let id = parse_id(&id)?;
    if body.forward_to_number.is_none() && body.is_active.is_none() {
        return Err(ApiError::bad_request(
            "give forward_to_number and/or is_active",
        ));
    }
    let updated = state
        .numbers
        .update(
            Actor::Api(&principal),
            id,
            body.forward_to_number.as_deref(),
            body.is_active,
        )
        .await?;
    Ok(web::Json(updated))
}

/// Releases the number at Twilio; the row stays, inactive, for history.
#[utoipa::path(delete, path = "/api/v1/tracked-numbers/{id}", tag = "tracked numbers",
    params(("id" = uuid::Uuid, Path, description = "tracked number id")),
    responses((status = 200, body = TrackedNumber), (status = 404, body = crate::routes::error::ErrorBody),
              (status = 502, body = crate::routes::error::ErrorBody)))]
pub async fn release(
    state: web::Data<AppState>,
    Manager(principal): Manager,
    id: web::Path<String>,
) -> Result<web::Json<TrackedNumber>, ApiError> {
    let released = state
        .numbers
        .release(Actor::Api(&principal), parse_id(&id)?)
        .await?;
    Ok(web::Json(released))
}
