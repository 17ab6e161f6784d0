//! Call sessions for agents: list, detail, link a recipient, mark a condition met.

use actix_web::{HttpResponse, web};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::types::{
    CallSessionOut, LinkRecipientRequest, ListQuery, MarkConditionRequest, MarkConditionResponse,
    SessionDetailOut, SessionPage,
};
use super::{parse_id, text};
use crate::app;
use crate::app::sessions::SessionFilter;
use crate::domain::TimeRange;
use crate::routes::AppState;
use crate::routes::error::{ApiError, ErrorBody};
use crate::routes::extract::Agent;

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;
/// The limits the OpenAPI document states for the request bodies.
const MAX_REDEMPTION_CODE: usize = 200;
const MAX_NOTES: usize = 2000;

fn encode_cursor(session: &CallSessionOut) -> String {
    encode_keyset(session.created_at, session.id)
}

/// A keyset position (created_at, id) as an opaque cursor.
pub(super) fn encode_keyset(at: DateTime<Utc>, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{id}", at.to_rfc3339()))
}

pub(super) fn decode_cursor(raw: &str) -> Result<(DateTime<Utc>, Uuid), ApiError> {
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
#[utoipa::path(get, path = "/api/v1/call-sessions", operation_id = "list_call_sessions",
    params(ListQuery), tag = "call sessions",
    responses((status = 200, body = SessionPage), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    Agent(principal): Agent,
    web::Query(query): web::Query<ListQuery>,
) -> Result<web::Json<SessionPage>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    let range =
        TimeRange::parse(query.from, query.to).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let filter = SessionFilter {
        campaign_id: query.campaign_id,
        call_status: query.call_status.map(Into::into),
        match_status: query.match_status.map(Into::into),
        call_outcome: query.call_outcome.map(Into::into),
        from: range.from(),
        to: range.to(),
        before: query.cursor.as_deref().map(decode_cursor).transpose()?,
        limit,
    };
    let (rows, more) = app::sessions::list(&state.pool, &principal, &filter).await?;
    let items: Vec<CallSessionOut> = rows.into_iter().map(Into::into).collect();
    let next_cursor = if more {
        items.last().map(encode_cursor)
    } else {
        None
    };
    Ok(web::Json(SessionPage { items, next_cursor }))
}

/// One session: the call, its recipient, the campaign's conditions and the rewards.
#[utoipa::path(get, path = "/api/v1/call-sessions/{id}", operation_id = "get_call_session",
    tag = "call sessions",
    params(("id" = Uuid, Path, description = "call session id")),
    responses((status = 200, body = SessionDetailOut), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn detail(
    state: web::Data<AppState>,
    Agent(principal): Agent,
    id: web::Path<String>,
) -> Result<web::Json<SessionDetailOut>, ApiError> {
    let detail = app::sessions::detail(&state.pool, &principal, parse_id(&id)?).await?;
    Ok(web::Json(detail.into()))
}

/// Links an unmatched call to the campaign's recipient with that redemption code.
#[utoipa::path(post, path = "/api/v1/call-sessions/{id}/recipient",
    operation_id = "link_call_session_recipient", tag = "call sessions",
    params(("id" = Uuid, Path, description = "call session id")), request_body = LinkRecipientRequest,
    responses((status = 200, body = SessionDetailOut), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "no such session, or no recipient has that code"),
              (status = 409, body = ErrorBody, description = "linked to another recipient already"),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub async fn link_recipient(
    state: web::Data<AppState>,
    Agent(principal): Agent,
    id: web::Path<String>,
    web::Json(body): web::Json<LinkRecipientRequest>,
) -> Result<web::Json<SessionDetailOut>, ApiError> {
    let id = parse_id(&id)?;
    let code = text("redemption_code", &body.redemption_code)?.trim();
    if code.is_empty() {
        return Err(ApiError::bad_request("redemption_code is empty"));
    }
    if body.redemption_code.chars().count() > MAX_REDEMPTION_CODE {
        return Err(ApiError::bad_request(format!(
            "redemption_code is longer than {MAX_REDEMPTION_CODE} characters"
        )));
    }
    let detail = app::sessions::link_recipient(&state.pool, &principal, id, code).await?;
    Ok(web::Json(detail.into()))
}

/// Marks a campaign condition met and provisions its reward exactly once.
#[utoipa::path(post, path = "/api/v1/call-sessions/{id}/conditions",
    operation_id = "mark_call_session_condition", tag = "call sessions",
    params(("id" = Uuid, Path, description = "call session id")), request_body = MarkConditionRequest,
    responses((status = 201, body = MarkConditionResponse, description = "marked now"),
              (status = 200, body = MarkConditionResponse, description = "already marked; the first result"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "the call has no recipient"),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "`inactive_condition`: not an active condition; `condition_not_manual`: a `crm_event` or `time_delay` condition, which only an admin, agency owner, company owner or API key may mark (an override, audited)")))]
pub async fn mark_condition(
    state: web::Data<AppState>,
    Agent(principal): Agent,
    id: web::Path<String>,
    web::Json(body): web::Json<MarkConditionRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&id)?;
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
    let outcome =
        app::conditions::mark(&state.pool, &principal, id, body.condition_number, notes).await?;
    let mut response = if outcome.created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response.json(MarkConditionResponse::from(outcome)))
}
