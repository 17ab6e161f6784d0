use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sha2::{Digest as _, Sha256};

use super::{Actor, ClientScope, Principal};
use crate::db::access;
use crate::error::ApiError;
use crate::routes::AppState;

/// The caller of a JSON API route: a platform JWT (`Authorization: Bearer`) or a client API
/// key (`X-API-Key`). Missing or bad credentials are a 401 before the handler runs.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Principal);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        if let Some(key) = header("x-api-key").filter(|k| !k.is_empty()) {
            let hash = hex::encode(Sha256::digest(key.as_bytes()));
            let client = state.pool.get().await.map_err(anyhow::Error::from)?;
            let client_id = access::client_for_api_key(&client, &hash)
                .await?
                .ok_or(ApiError::Unauthorized("unknown API key"))?;
            return Ok(Self(Principal {
                actor: Actor::ApiKey { client_id },
                scope: ClientScope::Clients(vec![client_id]),
            }));
        }
        let token = header("authorization")
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthorized(
                "missing credentials: send a Bearer token or an X-API-Key",
            ))?;
        let claims = state.jwt.verify(token).map_err(|e| match e {
            super::JwtError::Expired => ApiError::Unauthorized("the token has expired"),
            super::JwtError::Invalid => ApiError::Unauthorized("the token is not valid"),
        })?;
        let client = state.pool.get().await.map_err(anyhow::Error::from)?;
        let (roles, scope) = access::user_access(&client, claims.sub).await?;
        Ok(Self(Principal {
            actor: Actor::User {
                user_id: claims.sub,
                roles,
            },
            scope,
        }))
    }
}
