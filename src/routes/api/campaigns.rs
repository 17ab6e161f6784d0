//! Campaign-level views for managers and agents.

use actix_web::web;

use super::parse_id;
use super::types::{CallStatsOut, StatsQuery};
use crate::app;
use crate::domain::TimeRange;
use crate::routes::AppState;
use crate::routes::error::{ApiError, ErrorBody};
use crate::routes::extract::Agent;

/// Call and reward statistics of one campaign.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/call-stats", operation_id = "get_campaign_call_stats",
    tag = "campaigns",
    params(("id" = uuid::Uuid, Path, description = "campaign id"), StatsQuery),
    responses((status = 200, body = CallStatsOut), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn call_stats(
    state: web::Data<AppState>,
    Agent(principal): Agent,
    id: web::Path<String>,
    web::Query(query): web::Query<StatsQuery>,
) -> Result<web::Json<CallStatsOut>, ApiError> {
    let id = parse_id(&id)?;
    let range =
        TimeRange::parse(query.from, query.to).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let stats = app::stats::campaign(&state.pool, &principal, id, range).await?;
    Ok(web::Json(stats.into()))
}
