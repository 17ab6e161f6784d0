//! Campaign-level views for managers and agents.

use axum::Json;
use axum::extract::{Path, Query, State};
use chrono::{DateTime, Utc};

use super::{connection, parse_id, scoped};
use crate::auth::Authenticated;
use crate::db::stats::{self, CallStats};
use crate::error::ApiError;
use crate::routes::AppState;

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
    responses((status = 200, body = CallStats), (status = 404, body = crate::error::ErrorBody)))]
pub async fn call_stats(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    query: Result<Query<StatsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<CallStats>, ApiError> {
    if !principal.may_work_calls() {
        return Err(ApiError::Forbidden(
            "your role may not read campaign statistics",
        ));
    }
    let id = parse_id(&id)?;
    let Query(query) = query.map_err(|r| ApiError::bad_request(r.body_text()))?;
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
    Ok(Json(stats))
}
