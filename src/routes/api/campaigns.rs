//! Campaign-level views for managers and agents.

use chrono::{DateTime, Utc};

use actix_web::web;

use super::{connection, parse_id, scoped};
use crate::db::stats::{self, CallStats};
use crate::routes::AppState;
use crate::routes::error::ApiError;
use crate::routes::extract::Agent;

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub struct StatsQuery {
    /// Only calls created at or after this instant (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Only calls created before this instant (RFC 3339).
    pub to: Option<DateTime<Utc>>,
}

/// Call and reward statistics of one campaign.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/call-stats", tag = "campaigns",
    params(("id" = uuid::Uuid, Path, description = "campaign id"), StatsQuery),
    responses((status = 200, body = CallStats), (status = 404, body = crate::routes::error::ErrorBody)))]
pub async fn call_stats(
    state: web::Data<AppState>,
    Agent(principal): Agent,
    id: web::Path<String>,
    web::Query(query): web::Query<StatsQuery>,
) -> Result<web::Json<CallStats>, ApiError> {
    let id = parse_id(&id)?;
    if let (Some(from), Some(to)) = (query.from, query.to) {
        if from > to {
            return Err(ApiError::bad_request("from must not be after to"));
        }
    }
    let mut conn = connection(&state.pool).await?;
    let tx = scoped(&mut conn, &principal).await?;
    stats::campaign_client(&tx, id)
        .await?
        .filter(|client| principal.scope.allows(*client))
        .ok_or(ApiError::NotFound("no such campaign"))?;
    let stats = stats::campaign_stats(&tx, id, query.from, query.to).await?;
    tx.commit().await.map_err(anyhow::Error::from)?;
    Ok(web::Json(stats))
}
