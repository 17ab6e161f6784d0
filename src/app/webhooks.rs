//! Managing webhook endpoints without SQL: register, change, delete, rotate a secret, read
//! deliveries and queue one again. One transaction each, as the caller (row security checks
//! the endpoint's client), every write audited.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret as _, SecretString};
use uuid::Uuid;

use super::campaigns::{CampaignError, client_for};
use super::{Caller, begin, commit, connection};
use crate::auth::Principal;
use crate::crypto::CardCipher;
use crate::db::webhooks::{self, AttemptRecord, Endpoint, EndpointChange, Message, NewEndpoint};
use crate::db::{self, PgPool, access};
use crate::domain::{WebhookEvent, WebhookEventError};
use crate::webhooks::{EndpointUrl, TargetError, WebhookSecret, resolve_checked};

/// How long a rotated-out secret keeps signing, so receivers can switch without a gap.
pub const PREVIOUS_SECRET_GRACE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Longest description kept.
const MAX_DESCRIPTION: usize = 500;

/// Why a webhook endpoint was not written or read.
#[derive(Debug, thiserror::Error)]
pub enum WebhookEndpointError {
    /// No such endpoint, delivery or client among the caller's.
    #[error("no such webhook endpoint, delivery or client")]
    NotFound,
    /// The caller sees several clients (or none) and named none.
    #[error(
        "client_id is required: you can see more than one client (or none), so say which the endpoint is for"
    )]
    ClientRequired,
    /// The URL may not receive webhooks.
    #[error(transparent)]
    UnsafeUrl(#[from] TargetError),
    /// No events, or one the service does not send.
    #[error("events: {0}")]
    UnknownEvent(#[from] WebhookEventError),
    #[error("events must name at least one event")]
    NoEvents,
    #[error("description is at most {MAX_DESCRIPTION} characters")]
    LongDescription,
    #[error(transparent)]
    Db(#[from] db::Error),
}

impl From<CampaignError> for WebhookEndpointError {
    fn from(error: CampaignError) -> Self {
        match error {
            CampaignError::NotFound | CampaignError::Invalid(_) => Self::NotFound,
            CampaignError::ClientRequired => Self::ClientRequired,
            CampaignError::Db(e) => Self::Db(e),
        }
    }
}

/// An endpoint to register, as the caller asked.
#[derive(Debug, Clone)]
pub struct RegisterEndpoint<'a> {
    pub client_id: Option<Uuid>,
    pub url: &'a str,
    pub events: &'a [String],
    pub description: Option<&'a str>,
}

/// A change to an endpoint, as the caller asked; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ChangeEndpoint<'a> {
    pub url: Option<&'a str>,
    pub events: Option<&'a [String]>,
    pub enabled: Option<bool>,
    pub description: Option<Option<&'a str>>,
}

/// An endpoint with its signing secret, as registration and rotation answer it (once).
#[derive(Debug)]
pub struct EndpointWithSecret {
    pub endpoint: Endpoint,
    pub secret: SecretString,
}

/// A message with its attempts, oldest first.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub message: Message,
    pub attempts: Vec<AttemptRecord>,
}

/// The events asked for, known and without repeats, in the order first named.
pub fn events(raw: &[String]) -> Result<Vec<WebhookEvent>, WebhookEndpointError> {
    let mut events = Vec::new();
    for name in raw {
        let event = WebhookEvent::parse(name)?;
        if !events.contains(&event) {
            events.push(event);
        }
    }
    if events.is_empty() {
        return Err(WebhookEndpointError::NoEvents);
    }
    Ok(events)
}

/// A URL checked as registration checks it: its form, then every address its host resolves
/// to (none internal unless `allow_private`).
pub async fn checked_url(raw: &str, allow_private: bool) -> Result<String, WebhookEndpointError> {
    let url = EndpointUrl::parse(raw, allow_private)?;
    resolve_checked(&url, allow_private).await?;
    Ok(url.as_str().to_owned())
}

fn description(raw: Option<&str>) -> Result<Option<&str>, WebhookEndpointError> {
    let description = raw.map(str::trim).filter(|d| !d.is_empty());
    if description.is_some_and(|d| d.chars().count() > MAX_DESCRIPTION) {
        return Err(WebhookEndpointError::LongDescription);
    }
    Ok(description)
}

fn visible(
    principal: &Principal,
    endpoint: Option<Endpoint>,
) -> Result<Endpoint, WebhookEndpointError> {
    endpoint
        .filter(|e| principal.scope.allows(e.client_id))
        .ok_or(WebhookEndpointError::NotFound)
}

/// Registers an endpoint for one of the caller's clients with a new secret, audited; the
/// secret is stored encrypted and answered this once.
pub async fn register(
    pool: &PgPool,
    cipher: &CardCipher,
    principal: &Principal,
    request: &RegisterEndpoint<'_>,
    allow_private: bool,
) -> Result<EndpointWithSecret, WebhookEndpointError> {
    let events = events(request.events)?;
    let description = description(request.description)?;
    let url = checked_url(request.url, allow_private).await?;
    let secret = WebhookSecret::generate().expose();
    let mut conn = connection(pool).await?;
    let tx = begin(&mut conn, Caller::Api(principal)).await?;
    let client_id = client_for(&tx, principal, request.client_id).await?;
    let endpoint = webhooks::insert_endpoint(
        &tx,
        &NewEndpoint {
            client_id,
            url: &url,
            description,
            events: &events,
            secret_encrypted: &cipher.encrypt(secret.expose_secret()),
        },
    )
    .await?;
    access::audit(
        &tx,
        principal.user_id(),
        principal.api_client_id(),
        "webhook_endpoint_created",
        "webhook_endpoints",
        endpoint.id,
        &serde_json::json!({
            "client_id": client_id,
            "url": url,
            "events": events.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
        }),
    )
    .await?;
    commit(tx).await?;
    Ok(EndpointWithSecret { endpoint, secret })
}

/// The caller's endpoints, newest first, without secrets.
pub async fn list(
    pool: &PgPool,
    principal: &Principal,
) -> Result<Vec<Endpoint>, WebhookEndpointError> {
    let mut conn = connection(pool).await?;
    let tx = begin(&mut conn, Caller::Api(principal)).await?;
    let endpoints = webhooks::visible_endpoints(&tx).await?;
    commit(tx).await?;
    Ok(endpoints
        .into_iter()
        .filter(|e| principal.scope.allows(e.client_id))
        .collect())
}

/// Changes an endpoint of the caller's, audited with what changed.
pub async fn change(
    pool: &PgPool,
    principal: &Principal,
    id: Uuid,
    request: &ChangeEndpoint<'_>,
    allow_private: bool,
) -> Result<Endpoint, WebhookEndpointError> {
    let events = request.events.map(events).transpose()?;
    let description = request.description.map(description).transpose()?;
    let url = match request.url {
        Some(raw) => Some(checked_url(raw, allow_private).await?),
        None => None,
    };
    let mut conn = connection(pool).await?;
    let tx = begin(&mut conn, Caller::Api(principal)).await?;
    visible(principal, webhooks::endpoint(&tx, id).await?)?;
    let endpoint = webhooks::update_endpoint(
        &tx,
        id,
        &EndpointChange {
            url: url.as_deref(),
            events: events.as_deref(),
            enabled: request.enabled,
            description,
        },
    )
    .await?
    .ok_or(WebhookEndpointError::NotFound)?;
    let mut details = serde_json::Map::new();
    if let Some(url) = &url {
        details.insert("url".into(), url.as_str().into());
    }
    if let Some(events) = &events {
        details.insert(
            "events".into(),
            serde_json::json!(events.iter().map(|e| e.as_str()).collect::<Vec<_>>()),
        );
    }
    if let Some(enabled) = request.enabled {
        details.insert("enabled".into(), enabled.into());
    }
    if let Some(description) = description {
        details.insert("description".into(), serde_json::json!(description));
    }
    access::audit(
        &tx,
        principal.user_id(),
        principal.api_client_id(),
        "webhook_endpoint_updated",
        "webhook_endpoints",
        id,
        &serde_json::Value::Object(details),
    )
    .await?;
    commit(tx).await?;
    Ok(endpoint)
}

/// Deletes an endpoint of the caller's with its messages, audited.
pub async fn delete(
    pool: &PgPool,
    principal: &Principal,
    id: Uuid,
) -> Result<(), WebhookEndpointError> {
    let mut conn = connection(pool).await?;
    let tx = begin(&mut conn, Caller::Api(principal)).await?;
    let endpoint = visible(principal, webhooks::endpoint(&tx, id).await?)?;
    webhooks::delete_endpoint(&tx, id)
        .await?
        .ok_or(WebhookEndpointError::NotFound)?;
    access::audit(
        &tx,
        principal.user_id(),
        principal.api_client_id(),
        "webhook_endpoint_deleted",
        "webhook_endpoints",
        id,
        &serde_json::json!({ "client_id": endpoint.client_id, "url": endpoint.url }),
    )
    .await?;
    commit(tx).await?;
    Ok(())
}

/// Gives an endpoint of the caller's a new secret, audited; the old one keeps signing for
/// [`PREVIOUS_SECRET_GRACE`]. The new secret is answered this once.
pub async fn rotate_secret(
    pool: &PgPool,
    cipher: &CardCipher,
    principal: &Principal,
    id: Uuid,
) -> Result<EndpointWithSecret, WebhookEndpointError> {
    let secret = WebhookSecret::generate().expose();
    let mut conn = connection(pool).await?;
    let tx = begin(&mut conn, Caller::Api(principal)).await?;
    visible(principal, webhooks::endpoint(&tx, id).await?)?;
    let endpoint = webhooks::rotate_secret(
        &tx,
        id,
        &cipher.encrypt(secret.expose_secret()),
        PREVIOUS_SECRET_GRACE,
    )
    .await?
    .ok_or(WebhookEndpointError::NotFound)?;
    access::audit(
        &tx,
        principal.user_id(),
        principal.api_client_id(),
        "webhook_secret_rotated",
        "webhook_endpoints",
        id,
        &serde_json::json!({ "previous_secret_valid_hours": PREVIOUS_SECRET_GRACE.as_secs() / 3600 }),
    )
    .await?;
    commit(tx).await?;
    Ok(EndpointWithSecret { endpoint, secret })
}

/// An endpoint's deliveries newest first, after `before` when given, with their attempts;
/// `limit + 1` are read so the caller knows whether more follow.
pub async fn deliveries(
    pool: &PgPool,
    principal: &Principal,
    id: Uuid,
    before: Option<(DateTime<Utc>, String)>,
    limit: i64,
) -> Result<(Vec<Delivery>, bool), WebhookEndpointError> {
    let mut conn = connection(pool).await?;
    let tx = begin(&mut conn, Caller::Api(principal)).await?;
    visible(principal, webhooks::endpoint(&tx, id).await?)?;
    let mut messages = webhooks::messages_page(
        &tx,
        id,
        before.as_ref().map(|(at, id)| (*at, id.as_str())),
        limit + 1,
    )
    .await?;
    let more = messages.len() as i64 > limit;
    messages.truncate(usize::try_from(limit).unwrap_or(0));
    let ids: Vec<String> = messages.iter().map(|m| m.id.clone()).collect();
    let mut attempts = webhooks::attempts_of(&tx, &ids).await?;
    commit(tx).await?;
    let deliveries = messages
        .into_iter()
        .map(|message| {
            let (own, rest) = attempts
                .drain(..)
                .partition(|a: &AttemptRecord| a.message_id == message.id);
            attempts = rest;
            Delivery {
                message,
                attempts: own,
            }
        })
        .collect();
    Ok((deliveries, more))
}

/// Queues a message of the caller's for delivery now (pending, due now, unclaimed), whatever
/// its status, audited.
pub async fn retry(
    pool: &PgPool,
    principal: &Principal,
    message_id: &str,
) -> Result<(), WebhookEndpointError> {
    let mut conn = connection(pool).await?;
    let tx = begin(&mut conn, Caller::Api(principal)).await?;
    let Some((client, endpoint_id)) = webhooks::retry_message(&tx, message_id).await? else {
        return Err(WebhookEndpointError::NotFound);
    };
    if !principal.scope.allows(client) {
        return Err(WebhookEndpointError::NotFound);
    }
    access::audit(
        &tx,
        principal.user_id(),
        principal.api_client_id(),
        "webhook_delivery_retried",
        "webhook_endpoints",
        endpoint_id,
        &serde_json::json!({ "message_id": message_id }),
    )
    .await?;
    commit(tx).await?;
    Ok(())
}
