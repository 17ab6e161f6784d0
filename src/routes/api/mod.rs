//! The agent and manager JSON API under `/api/v1`.

pub mod campaigns;
pub mod numbers;
pub mod openapi;
pub mod sessions;

use axum::Router;
use axum::extract::{FromRequest, Request};
use axum::routing::{get, patch, post};
use serde::de::DeserializeOwned;

use super::AppState;
use crate::auth::Principal;
use crate::db::{PgPool, access};
use crate::error::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1/call-sessions", get(sessions::list))
        .route("/api/v1/call-sessions/{id}", get(sessions::detail))
        .route(
            "/api/v1/call-sessions/{id}/recipient",
            post(sessions::link_recipient),
        )
        .route(
            "/api/v1/call-sessions/{id}/conditions",
            post(sessions::mark_condition),
        )
        .route(
            "/api/v1/campaigns/{id}/call-stats",
            get(campaigns::call_stats),
        )
        .route(
            "/api/v1/campaigns/{id}/tracked-numbers",
            get(numbers::list).post(numbers::buy),
        )
        .route(
            "/api/v1/tracked-numbers/{id}",
            patch(numbers::update).delete(numbers::release),
        )
}

/// A JSON body whose rejections are answered in the API's error shape.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::Json::<T>::from_request(req, state)
            .await
            .map(|axum::Json(v)| Self(v))
            .map_err(|rejection| ApiError::bad_request(rejection.body_text()))
    }
}

/// Parses a path id; an id that is not a UUID cannot exist, so it is a 404.
pub fn parse_id(raw: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(raw).map_err(|_| ApiError::NotFound("no such resource"))
}

/// A pooled connection for one API request.
pub async fn connection(pool: &PgPool) -> Result<deadpool_postgres::Object, ApiError> {
    Ok(pool.get().await.map_err(anyhow::Error::from)?)
}

/// Opens a transaction restricted to the principal's clients.
pub async fn scoped<'a>(
    conn: &'a mut deadpool_postgres::Object,
    principal: &Principal,
) -> Result<deadpool_postgres::Transaction<'a>, ApiError> {
    Ok(access::begin(conn, Some(principal)).await?)
}
