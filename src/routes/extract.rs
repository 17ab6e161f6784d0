//! Extractors of the JSON API: who is calling, and whether their role may use the route.
//! A handler that takes [`Agent`] or [`Manager`] cannot run for a caller without that right.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};

use super::AppState;
use super::error::ApiError;
use crate::app::credentials;
use crate::auth::{JwtError, Principal};

/// Any authenticated caller: a platform JWT (`Authorization: Bearer`) or a client API key
/// (`X-API-Key`). Missing or bad credentials are a 401 before the handler runs.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Principal);

/// A caller who may work calls: read sessions, link recipients, mark conditions.
#[derive(Debug, Clone)]
pub struct Agent(pub Principal);

/// A caller who may manage tracked numbers and read campaign performance.
#[derive(Debug, Clone)]
pub struct Manager(pub Principal);

type Extracted<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req).await.map(Self) })
    }
}

/// Authenticates, then admits the caller only if `may` says their role allows the route.
fn authorized<T: 'static>(
    req: &HttpRequest,
    may: fn(&Principal) -> bool,
    refusal: &'static str,
    wrap: fn(Principal) -> T,
) -> Extracted<T> {
    let req = req.clone();
    Box::pin(async move {
        let principal = authenticate(&req).await?;
        if may(&principal) {
            Ok(wrap(principal))
        } else {
            Err(ApiError::Forbidden(refusal))
        }
    })
}

impl FromRequest for Agent {
    type Error = ApiError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        authorized(
            req,
            Principal::may_work_calls,
            "your role may not work calls",
            Self,
        )
    }
}

impl FromRequest for Manager {
    type Error = ApiError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        authorized(
            req,
            Principal::may_manage_numbers,
            "this needs an admin, agency owner or company owner role, or an API key",
            Self,
        )
    }
}

/// The bearer token of an `Authorization` header; the scheme is case-insensitive (RFC 7235).
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

async fn authenticate(req: &HttpRequest) -> Result<Principal, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("application state missing")))?;
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(key) = header("x-api-key").filter(|k| !k.is_empty()) {
        return Ok(credentials::api_key_holder(&state.pool, key).await?);
    }
    let token = header("authorization")
        .and_then(bearer_token)
        .ok_or(ApiError::Unauthorized(
            "missing credentials: send a Bearer token or an X-API-Key",
        ))?;
    let claims = state.jwt.verify(token).map_err(|e| match e {
        JwtError::Expired => ApiError::Unauthorized("the token has expired"),
        JwtError::Invalid => ApiError::Unauthorized("the token is not valid"),
    })?;
    Ok(credentials::user(&state.pool, claims.sub).await?)
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn the_bearer_scheme_is_matched_case_insensitively() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("BEARER  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearerabc"), None);
    }
}
