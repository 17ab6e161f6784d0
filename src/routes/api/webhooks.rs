//! Webhook endpoints for managers: register one (its secret shown once), list, change,
//! delete, rotate the secret, read its deliveries and queue one again.

use actix_web::{HttpResponse, web};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret as _;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::types::present;
use super::{parse_id, text};
use crate::app::webhooks::{
    self as app, ChangeEndpoint, Delivery, EndpointWithSecret, RegisterEndpoint,
    WebhookEndpointError,
};
use crate::db::webhooks::{Endpoint, MessageStatus};
use crate::routes::AppState;
use crate::routes::error::{ApiError, ErrorBody};
use crate::routes::extract::Manager;

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;

/// An endpoint to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://crm.example.com/hooks/calltrack",
    "events": ["call.completed", "condition.met"], "description": "the CRM"}))]
pub struct CreateWebhookEndpointRequest {
    /// The client the endpoint is for; may be left out when the caller sees exactly one
    /// client, else `422` `client_required`. A client the caller cannot see is a `404`.
    pub client_id: Option<Uuid>,
    /// An `https://` URL without a user name or password whose host resolves to public
    /// addresses only (`422` `unsafe_url` otherwise).
    #[schema(example = "https://crm.example.com/hooks/calltrack", max_length = 2048)]
    pub url: String,
    /// At least one of `call.started`, `call.completed`, `condition.met`,
    /// `reward.delivered`, `reward.failed` (`422` `invalid_events` otherwise); repeats are
    /// dropped.
    #[schema(example = json!(["call.completed"]))]
    pub events: Vec<String>,
    /// Free text for people, at most 500 characters.
    #[schema(example = "the CRM", max_length = 500)]
    pub description: Option<String>,
}

/// A change to an endpoint; what is left out stays as it is.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"enabled": true}))]
pub struct UpdateWebhookEndpointRequest {
    /// Checked as at registration.
    #[schema(example = "https://crm.example.com/hooks/calltrack", max_length = 2048)]
    pub url: Option<String>,
    /// Replaces the subscribed events.
    #[schema(example = json!(["call.completed", "reward.delivered"]))]
    pub events: Option<Vec<String>>,
    /// `true` enables the endpoint again and clears `disabled_reason`.
    pub enabled: Option<bool>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "the CRM", max_length = 500)]
    pub description: Option<Option<String>>,
}

/// A webhook endpoint (its secret only in the answers of registration and rotation).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "6f1c2d3e-4a5b-4c6d-8e7f-8091a2b3c4d5",
    "client_id": "0b6a2f4e-1c3d-4e5f-9a8b-7c6d5e4f3a2b",
    "url": "https://crm.example.com/hooks/calltrack", "events": ["call.completed"],
    "description": "the CRM", "enabled": true, "disabled_reason": null,
    "created_at": "2026-12-08T00:00:00Z"}))]
pub struct WebhookEndpointOut {
    pub id: Uuid,
    pub client_id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
    pub enabled: bool,
    /// Why the service disabled the endpoint (the receiver answered `410`), in words; null
    /// when a person did or it is enabled.
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The `whsec_` signing secret: only in the answers of registration and rotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: Option<String>,
}

impl From<Endpoint> for WebhookEndpointOut {
    fn from(e: Endpoint) -> Self {
        Self {
            id: e.id,
            client_id: e.client_id,
            url: e.url,
            events: e.events.iter().map(|e| e.as_str().to_owned()).collect(),
            description: e.description,
            enabled: e.enabled,
            disabled_reason: e.disabled_reason,
            created_at: e.created_at,
            secret: None,
        }
    }
}

impl From<EndpointWithSecret> for WebhookEndpointOut {
    fn from(e: EndpointWithSecret) -> Self {
        Self {
            secret: Some(e.secret.expose_secret().to_owned()),
            ..e.endpoint.into()
        }
    }
}

/// The caller's endpoints, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEndpointList {
    pub items: Vec<WebhookEndpointOut>,
    /// Always null: every endpoint is on the one page.
    pub next_cursor: Option<String>,
}

/// One delivery attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAttemptOut {
    pub attempted_at: DateTime<Utc>,
    /// The receiver's HTTP status; null when no answer came.
    pub status_code: Option<i32>,
    pub duration_ms: i32,
    /// What went wrong, in words; null on success.
    pub error: Option<String>,
}

/// One event for the endpoint and how its delivery went.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", "event_type": "call.completed",
    "status": "failed", "attempts": 8, "next_attempt_at": "2026-12-08T00:00:00Z",
    "created_at": "2026-12-07T00:00:00Z", "delivered_at": null,
    "payload": {"type": "call.completed", "timestamp": "2026-12-07T00:00:00.000000Z", "data": {}},
    "attempt_log": [{"attempted_at": "2026-12-07T00:00:05Z", "status_code": 500,
        "duration_ms": 120, "error": "the endpoint answered 500"}]}))]
pub struct WebhookDeliveryOut {
    /// The `webhook-id` header's value, the same on every attempt.
    pub id: String,
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// The body as sent.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// Every attempt, oldest first.
    pub attempt_log: Vec<WebhookAttemptOut>,
}

impl From<Delivery> for WebhookDeliveryOut {
    fn from(d: Delivery) -> Self {
        let m = d.message;
        Self {
            id: m.id,
            event_type: m.event.as_str().to_owned(),
            status: match m.status {
                MessageStatus::Pending => "pending",
                MessageStatus::Delivered => "delivered",
                MessageStatus::Failed => "failed",
            }
            .to_owned(),
            attempts: m.attempts,
            next_attempt_at: m.next_attempt_at,
            created_at: m.created_at,
            delivered_at: m.delivered_at,
            payload: m.payload,
            attempt_log: d
                .attempts
                .into_iter()
                .map(|a| WebhookAttemptOut {
                    attempted_at: a.attempted_at,
                    status_code: a.status_code,
                    duration_ms: a.duration_ms,
                    error: a.error,
                })
                .collect(),
        }
    }
}

/// An endpoint's deliveries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDeliveryPage {
    pub items: Vec<WebhookDeliveryOut>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// A page of deliveries.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// 1 to 200, default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A queued retry.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookRetryOut {
    /// The message queued.
    pub id: String,
    /// Always `pending`.
    pub status: String,
}

fn encode_cursor(at: DateTime<Utc>, id: &str) -> String {
    // Nanoseconds and an offset: every cursor has the same length.
    URL_SAFE_NO_PAD.encode(format!(
        "{}|{id}",
        at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, false)
    ))
}

fn decode_cursor(raw: &str) -> Result<(DateTime<Utc>, String), ApiError> {
    let invalid = || ApiError::bad_request("cursor is not one this API issued");
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?)
        .map_err(|_| invalid())?;
    let (at, id) = text.split_once('|').ok_or_else(invalid)?;
    let at = DateTime::parse_from_rfc3339(at).map_err(|_| invalid())?;
    // Only compared with message ids: any text orders, but PostgreSQL takes no NUL.
    if id.contains('\0') {
        return Err(invalid());
    }
    Ok((at.with_timezone(&Utc), id.to_owned()))
}

fn optional_text<'a>(
    field: &'static str,
    value: Option<&'a str>,
) -> Result<Option<&'a str>, ApiError> {
    value.map(|v| text(field, v)).transpose()
}

/// Registers a webhook endpoint for one of the caller's clients; the answer carries its
/// signing secret, shown this once.
#[utoipa::path(post, path = "/api/v1/webhook-endpoints", operation_id = "create_webhook_endpoint",
    tag = "webhooks", request_body = CreateWebhookEndpointRequest,
    responses((status = 201, body = WebhookEndpointOut), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "a client_id the caller cannot see"),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "a URL that may not receive webhooks (`unsafe_url`), no or unknown events (`invalid_events`), a long description (`invalid_endpoint`), or no client_id while the caller sees more than one client (`client_required`)")))]
pub async fn create(
    state: web::Data<AppState>,
    Manager(principal): Manager,
    web::Json(body): web::Json<CreateWebhookEndpointRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = RegisterEndpoint {
        client_id: body.client_id,
        url: text("url", &body.url)?,
        events: &body.events,
        description: optional_text("description", body.description.as_deref())?,
    };
    let endpoint = app::register(
        &state.pool,
        &state.cipher,
        &principal,
        &request,
        state.webhook_allow_private_networks,
    )
    .await?;
    Ok(HttpResponse::Created().json(WebhookEndpointOut::from(endpoint)))
}

/// The caller's webhook endpoints, newest first, without their secrets.
#[utoipa::path(get, path = "/api/v1/webhook-endpoints", operation_id = "list_webhook_endpoints",
    tag = "webhooks",
    responses((status = 200, body = WebhookEndpointList), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    Manager(principal): Manager,
) -> Result<web::Json<WebhookEndpointList>, ApiError> {
    let endpoints = app::list(&state.pool, &principal).await?;
    Ok(web::Json(WebhookEndpointList {
        items: endpoints.into_iter().map(Into::into).collect(),
        next_cursor: None,
    }))
}

/// Changes an endpoint's URL, events, description, or enables or disables it.
#[utoipa::path(patch, path = "/api/v1/webhook-endpoints/{id}", operation_id = "update_webhook_endpoint",
    tag = "webhooks", request_body = UpdateWebhookEndpointRequest,
    params(("id" = uuid::Uuid, Path, description = "webhook endpoint id")),
    responses((status = 200, body = WebhookEndpointOut), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "`unsafe_url`, `invalid_events` or `invalid_endpoint`")))]
pub async fn update(
    state: web::Data<AppState>,
    Manager(principal): Manager,
    id: web::Path<String>,
    web::Json(body): web::Json<UpdateWebhookEndpointRequest>,
) -> Result<web::Json<WebhookEndpointOut>, ApiError> {
    let id = parse_id(&id)?;
    let description = match &body.description {
        Some(Some(d)) => Some(Some(text("description", d)?)),
        Some(None) => Some(None),
        None => None,
    };
    let request = ChangeEndpoint {
        url: optional_text("url", body.url.as_deref())?,
        events: body.events.as_deref(),
        enabled: body.enabled,
        description,
    };
    let endpoint = app::change(
        &state.pool,
        &principal,
        id,
        &request,
        state.webhook_allow_private_networks,
    )
    .await?;
    Ok(web::Json(endpoint.into()))
}

/// Deletes an endpoint and its deliveries.
#[utoipa::path(delete, path = "/api/v1/webhook-endpoints/{id}", operation_id = "delete_webhook_endpoint",
    tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "webhook endpoint id")),
    responses((status = 204, description = "deleted"), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    state: web::Data<AppState>,
    Manager(principal): Manager,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    app::delete(&state.pool, &principal, parse_id(&id)?).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Gives an endpoint a new signing secret, answered this once; the previous one keeps
/// signing (a second signature) for 24 hours.
#[utoipa::path(post, path = "/api/v1/webhook-endpoints/{id}/rotate-secret",
    operation_id = "rotate_webhook_secret", tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "webhook endpoint id")),
    responses((status = 200, body = WebhookEndpointOut), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn rotate_secret(
    state: web::Data<AppState>,
    Manager(principal): Manager,
    id: web::Path<String>,
) -> Result<web::Json<WebhookEndpointOut>, ApiError> {
    let endpoint =
        app::rotate_secret(&state.pool, &state.cipher, &principal, parse_id(&id)?).await?;
    Ok(web::Json(endpoint.into()))
}

/// An endpoint's deliveries, newest first, each with its attempts.
#[utoipa::path(get, path = "/api/v1/webhook-endpoints/{id}/deliveries",
    operation_id = "list_webhook_deliveries", tag = "webhooks",
    params(("id" = uuid::Uuid, Path, description = "webhook endpoint id"), DeliveryQuery),
    responses((status = 200, body = WebhookDeliveryPage), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn deliveries(
    state: web::Data<AppState>,
    Manager(principal): Manager,
    id: web::Path<String>,
    web::Query(query): web::Query<DeliveryQuery>,
) -> Result<web::Json<WebhookDeliveryPage>, ApiError> {
    let id = parse_id(&id)?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    let before = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let (items, more) = app::deliveries(&state.pool, &principal, id, before, limit).await?;
    let next_cursor = if more {
        items
            .last()
            .map(|d| encode_cursor(d.message.created_at, &d.message.id))
    } else {
        None
    };
    Ok(web::Json(WebhookDeliveryPage {
        items: items.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}

/// Sends a delivery again now, whatever its status (a failed one too).
#[utoipa::path(post, path = "/api/v1/webhook-deliveries/{id}/retry",
    operation_id = "retry_webhook_delivery", tag = "webhooks",
    params(("id" = String, Path, description = "the delivery's `msg_` id")),
    responses((status = 202, body = WebhookRetryOut), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn retry(
    state: web::Data<AppState>,
    Manager(principal): Manager,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    if !id.starts_with("msg_") || id.len() > 64 {
        return Err(ApiError::NotFound("no such webhook delivery"));
    }
    app::retry(&state.pool, &principal, &id).await?;
    Ok(HttpResponse::Accepted().json(WebhookRetryOut {
        id,
        status: "pending".to_owned(),
    }))
}

impl From<WebhookEndpointError> for ApiError {
    fn from(error: WebhookEndpointError) -> Self {
        match error {
            WebhookEndpointError::NotFound => {
                Self::NotFound("no such webhook endpoint, delivery or client")
            }
            e @ WebhookEndpointError::ClientRequired => Self::Unprocessable {
                code: "client_required",
                message: e.to_string(),
            },
            e @ WebhookEndpointError::UnsafeUrl(_) => Self::Unprocessable {
                code: "unsafe_url",
                message: e.to_string(),
            },
            e @ (WebhookEndpointError::UnknownEvent(_) | WebhookEndpointError::NoEvents) => {
                Self::Unprocessable {
                    code: "invalid_events",
                    message: e.to_string(),
                }
            }
            e @ WebhookEndpointError::LongDescription => Self::Unprocessable {
                code: "invalid_endpoint",
                message: e.to_string(),
            },
            WebhookEndpointError::Db(e) => e.into(),
        }
    }
}
