//! Setting up a campaign without SQL, for managers: campaigns, their conditions and rewards,
//! gift-card pools and their cards.

use actix_web::{HttpRequest, HttpResponse, web};
use futures::StreamExt as _;
use secrecy::zeroize::Zeroize as _;

use super::setup_types::{
    CampaignConditionOut, CardsAddedOut, ConditionSetupList, CreateCampaignRequest,
    CreatePoolRequest, GiftCardPoolList, GiftCardPoolOut, PutConditionRequest,
    UpdateCampaignRequest,
};
use super::types::CampaignOut;
use super::{parse_id, text};
use crate::app::Caller;
use crate::app::campaigns::{self, CreateCampaign, UpdateCampaign};
use crate::app::condition_setup::{self, PutCondition, PutReward};
use crate::app::gift_card_pools::{self, BadLines, CreatePool};
use crate::domain::gift_card_csv::CardValue;
use crate::routes::AppState;
use crate::routes::error::{ApiError, ErrorBody};
use crate::routes::extract::Manager;

/// The largest card file `POST /api/v1/gift-card-pools/{id}/cards` reads: about 200,000 cards.
pub const MAX_CARDS_BODY: usize = 10 * 1024 * 1024;

fn optional_text<'a>(
    field: &'static str,
    value: Option<&'a str>,
) -> Result<Option<&'a str>, ApiError> {
    value.map(|v| text(field, v)).transpose()
}

/// Creates a campaign for one of the caller's clients.
#[utoipa::path(post, path = "/api/v1/campaigns", operation_id = "create_campaign",
    tag = "campaign setup", request_body = CreateCampaignRequest,
    responses((status = 201, body = CampaignOut), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "a client_id the caller cannot see"),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "a blank or long name, an unknown status (`invalid_campaign`), or no client_id while the caller sees more than one client (`client_required`)")))]
pub async fn create_campaign(
    state: web::Data<AppState>,
    Manager(principal): Manager,
    web::Json(body): web::Json<CreateCampaignRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = CreateCampaign {
        client_id: body.client_id,
        name: text("name", &body.name)?,
        mail_date: body.mail_date,
        status: optional_text("status", body.status.as_deref())?,
    };
    let campaign = campaigns::create(&state.pool, &principal, &request).await?;
    Ok(HttpResponse::Created().json(CampaignOut::from(campaign)))
}

/// Changes a campaign's name, mail date, status or recording retention.
#[utoipa::path(patch, path = "/api/v1/campaigns/{id}", operation_id = "update_campaign",
    tag = "campaign setup",
    params(("id" = uuid::Uuid, Path, description = "campaign id")), request_body = UpdateCampaignRequest,
    responses((status = 200, body = CampaignOut), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "a blank or long name, an unknown status or a retention outside 1 to 36500 days (`invalid_campaign`)")))]
pub async fn update_campaign(
    state: web::Data<AppState>,
    Manager(principal): Manager,
    id: web::Path<String>,
    web::Json(body): web::Json<UpdateCampaignRequest>,
) -> Result<web::Json<CampaignOut>, ApiError> {
    let id = parse_id(&id)?;
    let request = UpdateCampaign {
        name: optional_text("name", body.name.as_deref())?,
        mail_date: body.mail_date,
        status: optional_text("status", body.status.as_deref())?,
        recording_retention_days: body.recording_retention_days,
    };
    let campaign = campaigns::update(&state.pool, &principal, id, &request).await?;
    Ok(web::Json(campaign.into()))
}

/// The campaign's conditions with their trigger, rule, reward and the reward pool's stock.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/conditions",
    operation_id = "list_campaign_conditions", tag = "campaign setup",
    params(("id" = uuid::Uuid, Path, description = "campaign id")),
    responses((status = 200, body = ConditionSetupList), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_conditions(
    state: web::Data<AppState>,
    Manager(principal): Manager,
    id: web::Path<String>,
) -> Result<web::Json<ConditionSetupList>, ApiError> {
    let items = condition_setup::list(&state.pool, &principal, parse_id(&id)?).await?;
    Ok(web::Json(ConditionSetupList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// Creates (`201`) or replaces (`200`) condition N of the campaign and its reward.
#[utoipa::path(put, path = "/api/v1/campaigns/{id}/conditions/{number}",
    operation_id = "put_campaign_condition", tag = "campaign setup",
    params(("id" = uuid::Uuid, Path, description = "campaign id"),
           ("number" = i32, Path, minimum = 1, maximum = 20, description = "condition number, 1 to 20 (`422` otherwise)")),
    request_body = PutConditionRequest,
    responses((status = 200, body = CampaignConditionOut, description = "replaced"),
              (status = 201, body = CampaignConditionOut, description = "created"),
              (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "`reward_in_use`: `reward` was left out but met conditions refer to the condition's reward config"),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "`invalid_condition`: a condition number outside 1 to 20, a blank name, an unknown trigger, a `crm_event` without `crm_event_name`, a `time_delay` without `time_delay_hours` > 0, a setting another trigger uses, an SMS template with an unknown placeholder or without `{card_code}`; `pool_not_usable`: a pool that is not the campaign's client's")))]
pub async fn put_condition(
    state: web::Data<AppState>,
    Manager(principal): Manager,
    path: web::Path<(String, String)>,
    web::Json(body): web::Json<PutConditionRequest>,
) -> Result<HttpResponse, ApiError> {
    let (id, number) = path.into_inner();
    let id = parse_id(&id)?;
    let number: i32 = number
        .parse()
        .map_err(|_| ApiError::NotFound("no such condition number"))?;
    let reward = match &body.reward {
        Some(r) => Some(PutReward {
            gift_card_pool_id: r.gift_card_pool_id,
            reward_description: optional_text(
                "reward_description",
                r.reward_description.as_deref(),
            )?,
            sms_template: optional_text("sms_template", r.sms_template.as_deref())?,
        }),
        None => None,
    };
    let request = PutCondition {
        condition_name: text("condition_name", &body.condition_name)?,
        trigger_type: text("trigger_type", &body.trigger_type)?,
        crm_event_name: optional_text("crm_event_name", body.crm_event_name.as_deref())?,
        time_delay_hours: body.time_delay_hours,
        auto_min_talk_seconds: body.auto_min_talk_seconds,
        is_active: body.is_active.unwrap_or(true),
        reward,
    };
    let (condition, created) =
        condition_setup::put(&state.pool, &principal, id, number, &request).await?;
    let out = CampaignConditionOut::from(condition);
    Ok(if created {
        HttpResponse::Created().json(out)
    } else {
        HttpResponse::Ok().json(out)
    })
}

/// Creates an empty gift-card pool; its brand is found by name or created.
#[utoipa::path(post, path = "/api/v1/gift-card-pools", operation_id = "create_gift_card_pool",
    tag = "gift cards", request_body = CreatePoolRequest,
    responses((status = 201, body = GiftCardPoolOut), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "a client_id the caller cannot see"),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "a blank or long name (`invalid_pool`), a value that is not a positive amount of at most two decimals (`invalid_value_amount`), or no client_id while the caller sees more than one client (`client_required`)")))]
pub async fn create_pool(
    state: web::Data<AppState>,
    Manager(principal): Manager,
    web::Json(body): web::Json<CreatePoolRequest>,
) -> Result<HttpResponse, ApiError> {
    let value_amount =
        CardValue::parse(&body.value_amount.as_text()).map_err(|_| ApiError::Unprocessable {
            code: "invalid_value_amount",
            message: "value_amount must be an amount greater than zero with at most two decimals, such as 25 or \"25.00\"".into(),
        })?;
    let request = CreatePool {
        client_id: body.client_id,
        pool_name: text("pool_name", &body.pool_name)?,
        brand_name: text("brand_name", &body.brand_name)?,
        value_amount,
    };
    let created = gift_card_pools::create(&state.pool, &principal, &request).await?;
    Ok(HttpResponse::Created().json(GiftCardPoolOut::from(created)))
}

/// The caller's gift-card pools with their stock and the rewards waiting for cards.
#[utoipa::path(get, path = "/api/v1/gift-card-pools", operation_id = "list_gift_card_pools",
    tag = "gift cards",
    responses((status = 200, body = GiftCardPoolList), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub async fn list_pools(
    state: web::Data<AppState>,
    Manager(principal): Manager,
) -> Result<web::Json<GiftCardPoolList>, ApiError> {
    let pools = gift_card_pools::list(&state.pool, &principal).await?;
    Ok(web::Json(GiftCardPoolList {
        items: pools.into_iter().map(Into::into).collect(),
        next_cursor: None,
    }))
}

/// Loads cards into the pool from a CSV file (`card_code,pin_code,value_amount`, the format
/// of `calltrack gift-cards import`): good lines are added, bad ones listed by line and
/// reason (never their content); codes are encrypted before they reach the database, and the
/// rewards waiting for the pool take their cards at once, oldest first.
#[utoipa::path(post, path = "/api/v1/gift-card-pools/{id}/cards", operation_id = "add_gift_cards",
    tag = "gift cards",
    params(("id" = uuid::Uuid, Path, description = "gift card pool id")),
    request_body(content = String, content_type = "text/csv",
        example = "card_code,pin_code,value_amount\nAMZ-7Q2D-99XK,4821,\nAMZ-3LPA-02MZ,,25.00\n"),
    responses((status = 200, body = CardsAddedOut),
              (status = 400, body = ErrorBody, description = "the body could not be read"),
              (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 408, body = ErrorBody),
              (status = 413, body = ErrorBody, description = "a file over 10 MB"),
              (status = 415, body = ErrorBody, description = "not `text/csv`"),
              (status = 422, body = ErrorBody, description = "`invalid_csv`: the file as a whole cannot be read (empty, no header row `card_code,pin_code,value_amount`); nothing was added")))]
pub async fn add_cards(
    state: web::Data<AppState>,
    Manager(principal): Manager,
    id: web::Path<String>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<web::Json<CardsAddedOut>, ApiError> {
    let pool_id = parse_id(&id)?;
    if !super::is_csv(&request) {
        return Err(ApiError::MediaTypeNot("text/csv"));
    }
    let mut body = read_body(payload, MAX_CARDS_BODY).await?;
    let prepared = gift_card_pools::prepare_cards(&state.cipher, &body, BadLines::Report);
    // The body holds every code in plaintext; only ciphertext is kept from here on.
    body.zeroize();
    let prepared = prepared.map_err(|e| ApiError::Unprocessable {
        code: "invalid_csv",
        message: e
            .errors
            .first()
            .map_or_else(|| e.to_string(), ToString::to_string),
    })?;
    let added = gift_card_pools::add_cards(
        &state.pool,
        Caller::Api(&principal),
        pool_id,
        prepared,
        BadLines::Report,
    )
    .await?;
    Ok(web::Json(added.into()))
}

/// The whole body, refused past `limit` bytes. A body a little over the limit is read to its
/// end before the refusal, so the client is still listening for the `413`; past twice the
/// limit the connection is given up.
async fn read_body(mut payload: web::Payload, limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::new();
    let mut over = 0;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| match e {
            actix_web::error::PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
                ApiError::RequestTimeout
            }
            other => ApiError::bad_request(format!("the request body could not be read: {other}")),
        })?;
        if over > 0 || body.len() + chunk.len() > limit {
            body.zeroize();
            body = Vec::new();
            over += chunk.len();
            if over > limit {
                break;
            }
            continue;
        }
        body.extend_from_slice(&chunk);
    }
    if over > 0 {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    Ok(body)
}
