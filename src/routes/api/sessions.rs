//! Call sessions for agents: list, detail, link a recipient, mark a condition met.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use actix_web::{HttpResponse, web};

use super::{connection, parse_id, scoped};
use crate::auth::Principal;
use crate::db::access;
use crate::db::rewards::{self, ConditionMet, MarkCondition, MarkError, RewardStatus};
use crate::db::sessions::{self, CallSession, Condition, LinkError, Recipient, SessionFilter};
use crate::domain::CallStatus;
use crate::routes::AppState;
use crate::routes::error::ApiError;
use crate::routes::extract::Agent;

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    pub campaign_id: Option<Uuid>,
    pub call_status: Option<String>,
    pub match_status: Option<String>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SessionPage {
    pub items: Vec<CallSession>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

fn encode_cursor(session: &CallSession) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "{}|{}",
        session.created_at.to_rfc3339(),
        session.id
    ))
}

fn decode_cursor(raw: &str) -> Result<(DateTime<Utc>, Uuid), ApiError> {
    let invalid = || ApiError::bad_request("cursor is not one this API issued");
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?)
        .map_err(|_| invalid())?;
    let (at, id) = text.split_once('|').ok_or_else(invalid)?;
    let at = DateTime::parse_from_rfc3339(at)
        .map_err(|_| invalid())?
        .with_timezone(&Utc);
    Ok((at, Uuid::parse_str(id).map_err(|_| invalid())?))
}

/// Lists the caller's call sessions, newest first.
#[utoipa::path(get, path = "/api/v1/call-sessions", params(ListQuery), tag = "call sessions",
    responses((status = 200, body = SessionPage), (status = 400, body = crate::routes::error::ErrorBody),
              (status = 401, body = crate::routes::error::ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    Agent(principal): Agent,
    web::Query(query): web::Query<ListQuery>,
) -> Result<web::Json<SessionPage>, ApiError> {
    if let Some(status) = query
        .call_status
        .as_deref()
        .filter(|s| !CallStatus::STORED.contains(s))
    {
        return Err(ApiError::bad_request(format!(
            "call_status {status:?} is not a call status"
        )));
    }
    if let Some(status) = query
        .match_status
        .as_deref()
        .filter(|s| !["matched", "unmatched"].contains(s))
    {
        return Err(ApiError::bad_request(format!(
            "match_status {status:?} must be matched or unmatched"
        )));
    }
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    let filter = SessionFilter {
        campaign_id: query.campaign_id,
        call_status: query.call_status,
        match_status: query.match_status,
        before: query.cursor.as_deref().map(decode_cursor).transpose()?,
        limit,
    };
    let mut conn = connection(&state.pool).await?;
    let tx = scoped(&mut conn, &principal).await?;
    let (items, more) = sessions::list(&tx, &filter).await?;
    tx.commit().await.map_err(anyhow::Error::from)?;
    let next_cursor = if more {
        items.last().map(encode_cursor)
    } else {
        None
    };
    Ok(web::Json(SessionPage { items, next_cursor }))
}

/// A session with everything an agent needs on screen.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SessionDetail {
    #[serde(flatten)]
    pub session: CallSession,
    pub recipient: Option<Recipient>,
    /// The campaign's active conditions.
    pub conditions: Vec<Condition>,
    /// The conditions the recipient has met, with their reward and delivery state.
    pub conditions_met: Vec<ConditionMet>,
}

/// Loads a session the principal may see, or 404: row-level security hides other clients'
/// sessions, and the explicit scope check stands behind it.
async fn visible_session(
    tx: &impl deadpool_postgres::GenericClient,
    principal: &Principal,
    id: Uuid,
) -> Result<CallSession, ApiError> {
    sessions::get(tx, id)
        .await?
        .filter(|s| principal.scope.allows(s.client_id))
        .ok_or(ApiError::NotFound("no such call session"))
}

async fn detail_of(
    tx: &impl deadpool_postgres::GenericClient,
    session: CallSession,
) -> Result<SessionDetail, ApiError> {
    let recipient = match session.recipient_id {
        Some(id) => sessions::recipient(tx, id).await?,
        None => None,
    };
    let conditions_met = match session.recipient_id {
        Some(id) => sessions::conditions_met(tx, id).await?,
        None => Vec::new(),
    };
    let conditions = sessions::active_conditions(tx, session.campaign_id).await?;
    Ok(SessionDetail {
        session,
        recipient,
        conditions,
        conditions_met,
    })
}

/// One session: the call, its recipient, the campaign's conditions and the rewards.
#[utoipa::path(get, path = "/api/v1/call-sessions/{id}", tag = "call sessions",
    params(("id" = Uuid, Path, description = "call session id")),
    responses((status = 200, body = SessionDetail), (status = 404, body = crate::routes::error::ErrorBody)))]
pub async fn detail(
    state: web::Data<AppState>,
    Agent(principal): Agent,
    id: web::Path<String>,
) -> Result<web::Json<SessionDetail>, ApiError> {
    let id = parse_id(&id)?;
    let mut conn = connection(&state.pool).await?;
    let tx = scoped(&mut conn, &principal).await?;
    let session = visible_session(&tx, &principal, id).await?;
    let detail = detail_of(&tx, session).await?;
    tx.commit().await.map_err(anyhow::Error::from)?;
    Ok(web::Json(detail))
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct LinkRecipientRequest {
    /// The code printed on the recipient's mail piece.
    pub redemption_code: String,
}

/// Links an unmatched call to the campaign's recipient with that redemption code.
#[utoipa::path(post, path = "/api/v1/call-sessions/{id}/recipient", tag = "call sessions",
    params(("id" = Uuid, Path, description = "call session id")), request_body = LinkRecipientRequest,
    responses((status = 200, body = SessionDetail), (status = 404, body = crate::routes::error::ErrorBody),
              (status = 409, body = crate::routes::error::ErrorBody)))]
pub async fn link_recipient(
    state: web::Data<AppState>,
    Agent(principal): Agent,
    id: web::Path<String>,
    web::Json(body): web::Json<LinkRecipientRequest>,
) -> Result<web::Json<SessionDetail>, ApiError> {
    let id = parse_id(&id)?;
    let code = body.redemption_code.trim();
    if code.is_empty() {
        return Err(ApiError::bad_request("redemption_code is empty"));
    }
    let mut conn = connection(&state.pool).await?;
    let tx = scoped(&mut conn, &principal).await?;
    visible_session(&tx, &principal, id).await?;
    let recipient_id = match sessions::link_recipient(&tx, id, code).await? {
        Ok(recipient_id) => recipient_id,
        Err(LinkError::UnknownCode) => {
            return Err(ApiError::NotFound(
                "no recipient of this campaign has that redemption code",
            ));
        }
        Err(e @ LinkError::AlreadyLinked) => {
            return Err(ApiError::Conflict {
                code: "already_linked",
                message: e.to_string(),
            });
        }
    };
    access::audit(
        &tx,
        principal.user_id(),
        principal.api_client_id(),
        "recipient_linked",
        "call_session",
        id,
        &serde_json::json!({ "recipient_id": recipient_id }),
    )
    .await?;
    let session = visible_session(&tx, &principal, id).await?;
    let detail = detail_of(&tx, session).await?;
    tx.commit().await.map_err(anyhow::Error::from)?;
    Ok(web::Json(detail))
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct MarkConditionRequest {
    pub condition_number: i32,
    pub notes: Option<String>,
}

/// The reward of a met condition.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Reward {
    pub status: RewardStatus,
    pub gift_card_id: Option<Uuid>,
    /// pending, sent, delivered or failed; null while no card is provisioned.
    pub delivery_status: Option<String>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct MarkConditionResponse {
    pub condition: ConditionMet,
    pub reward: Reward,
}

/// Marks a campaign condition met and provisions its reward exactly once.
#[utoipa::path(post, path = "/api/v1/call-sessions/{id}/conditions", tag = "call sessions",
    params(("id" = Uuid, Path, description = "call session id")), request_body = MarkConditionRequest,
    responses((status = 201, body = MarkConditionResponse, description = "marked now"),
              (status = 200, body = MarkConditionResponse, description = "already marked; the first result"),
              (status = 404, body = crate::routes::error::ErrorBody),
              (status = 409, body = crate::routes::error::ErrorBody, description = "the call has no recipient"),
              (status = 422, body = crate::routes::error::ErrorBody, description = "not an active condition")))]
pub async fn mark_condition(
    state: web::Data<AppState>,
    Agent(principal): Agent,
    id: web::Path<String>,
    web::Json(body): web::Json<MarkConditionRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
    let mut conn = connection(&state.pool).await?;
    let tx = scoped(&mut conn, &principal).await?;
    visible_session(&tx, &principal, id).await?;
    // Access is settled; the reward may come from an admin master pool the caller cannot
    // see, so provisioning runs with the service's own rights.
    access::unrestrict(&tx).await?;
    let mark = MarkCondition {
        call_session_id: id,
        condition_number: body.condition_number,
        notes: body.notes.as_deref(),
        agent_user_id: principal.user_id(),
    };
    let outcome = match rewards::mark_condition(&tx, &mark).await? {
        Ok(outcome) => outcome,
        Err(MarkError::NoRecipient) => {
            return Err(ApiError::Conflict {
                code: "no_recipient",
                message: MarkError::NoRecipient.to_string(),
            });
        }
        Err(e @ MarkError::InactiveCondition(_)) => {
            return Err(ApiError::Unprocessable {
                code: "inactive_condition",
                message: e.to_string(),
            });
        }
        Err(MarkError::SessionNotFound) => return Err(ApiError::NotFound("no such call session")),
    };
    if outcome.created {
        access::audit(
            &tx,
            principal.user_id(),
            principal.api_client_id(),
            "condition_met",
            "call_conditions_met",
            outcome.condition.id,
            &serde_json::json!({
                "call_session_id": id,
                "condition_number": body.condition_number,
                "reward_status": outcome.condition.reward_status.as_str(),
            }),
        )
        .await?;
    }
    tx.commit().await.map_err(anyhow::Error::from)?;
    let mut response = if outcome.created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    let condition = outcome.condition;
    let reward = Reward {
        status: condition.reward_status,
        gift_card_id: condition.gift_card_id,
        delivery_status: condition.delivery_status.clone(),
    };
    Ok(response.json(MarkConditionResponse { condition, reward }))
}
