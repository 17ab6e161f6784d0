//! Campaign-level views for managers and agents.

use actix_web::web;

use super::parse_id;
use super::sessions::{decode_cursor, encode_keyset};
use super::types::{
    CallStatsOut, CampaignListQuery, CampaignOut, CampaignPage, SeriesOut, SeriesQuery, StatsQuery,
};
use crate::app;
use crate::domain::{Bucket, SeriesWindow, TimeRange};
use crate::routes::AppState;
use crate::routes::error::{ApiError, ErrorBody};
use crate::routes::extract::{Agent, Manager};

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;

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

/// The campaign's counts per day or hour (UTC), every bucket present, for charts.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/call-stats/series",
    operation_id = "get_campaign_call_stats_series", tag = "campaigns",
    params(("id" = uuid::Uuid, Path, description = "campaign id"), SeriesQuery),
    responses((status = 200, body = SeriesOut),
              (status = 400, body = ErrorBody, description = "a bad bucket or window, or more than 744 buckets"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn call_stats_series(
    state: web::Data<AppState>,
    Agent(principal): Agent,
    id: web::Path<String>,
    web::Query(query): web::Query<SeriesQuery>,
) -> Result<web::Json<SeriesOut>, ApiError> {
    let id = parse_id(&id)?;
    let bucket = match query.bucket.as_deref() {
        None => Bucket::Day,
        Some(raw) => Bucket::parse(raw).ok_or_else(|| {
            ApiError::bad_request(crate::domain::SeriesError::UnknownBucket.to_string())
        })?,
    };
    let range =
        TimeRange::parse(query.from, query.to).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let window = SeriesWindow::parse(range, bucket, chrono::Utc::now())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let points = app::stats::series(&state.pool, &principal, id, &window).await?;
    Ok(web::Json(SeriesOut {
        bucket: bucket.as_str().to_owned(),
        time_zone: app::stats::SERIES_TIME_ZONE.to_owned(),
        from: window.from(),
        to: window.to(),
        items: points.into_iter().map(Into::into).collect(),
    }))
}

/// The caller's campaigns with their calls today and this week, answers, matches,
/// conditions met and rewards delivered; newest first.
#[utoipa::path(get, path = "/api/v1/campaigns", operation_id = "list_campaigns",
    tag = "campaigns", params(CampaignListQuery),
    responses((status = 200, body = CampaignPage), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    Manager(principal): Manager,
    web::Query(query): web::Query<CampaignListQuery>,
) -> Result<web::Json<CampaignPage>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    let before = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let (items, more) = app::stats::campaigns(&state.pool, &principal, before, limit).await?;
    let next_cursor = if more {
        items.last().map(|c| encode_keyset(c.created_at, c.id))
    } else {
        None
    };
    Ok(web::Json(CampaignPage {
        items: items.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}

/// One campaign at a glance.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}", operation_id = "get_campaign",
    tag = "campaigns",
    params(("id" = uuid::Uuid, Path, description = "campaign id")),
    responses((status = 200, body = CampaignOut), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn detail(
    state: web::Data<AppState>,
    Manager(principal): Manager,
    id: web::Path<String>,
) -> Result<web::Json<CampaignOut>, ApiError> {
    let campaign = app::stats::campaign_summary(&state.pool, &principal, parse_id(&id)?).await?;
    Ok(web::Json(campaign.into()))
}
