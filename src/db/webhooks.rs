//! Webhooks out: a client's endpoints and the messages the database's triggers write for them
//! (V16). Messages are never written from here: every event is written by the transaction of
//! the change it reports.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use serde_json::Value;
use uuid::Uuid;

use super::error::{Context as _, Result, UnknownStoredValue};
use crate::domain::WebhookEvent;

/// An endpoint to register.
#[derive(Debug, Clone)]
pub struct NewEndpoint<'a> {
    pub client_id: Uuid,
    pub url: &'a str,
    pub description: Option<&'a str>,
    pub events: &'a [WebhookEvent],
    /// The signing secret as stored: encrypted by the caller (`crypto::CardCipher`).
    pub secret_encrypted: &'a str,
}

/// A registered endpoint, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub id: Uuid,
    pub client_id: Uuid,
    pub url: String,
    pub description: Option<String>,
    pub events: Vec<WebhookEvent>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const ENDPOINT_COLUMNS: &str =
    "id, client_id, url, description, events, enabled, disabled_reason, created_at, updated_at";

impl Endpoint {
    fn from_row(row: &tokio_postgres::Row) -> Result<Self, UnknownStoredValue> {
        let events = row
            .get::<_, Vec<&str>>("events")
            .into_iter()
            .map(|raw| {
                UnknownStoredValue::parse("webhook_endpoints.events", raw, WebhookEvent::parse)
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            id: row.get("id"),
            client_id: row.get("client_id"),
            url: row.get("url"),
            description: row.get("description"),
            events,
            enabled: row.get("enabled"),
            disabled_reason: row.get("disabled_reason"),
            created_at: row.get("created_at"),
            updated_at: row.get("updated_at"),
        })
    }
}

/// Registers an endpoint, enabled. Run under the caller's scope, row security refuses a
/// client the caller may not see (an error, not a conflict).
#[tracing::instrument(skip_all, fields(client.id = %endpoint.client_id))]
pub async fn insert_endpoint(
    client: &impl GenericClient,
    endpoint: &NewEndpoint<'_>,
) -> Result<Endpoint> {
    let events: Vec<&str> = endpoint.events.iter().map(|e| e.as_str()).collect();
    let row = client
        .query_one(
            &format!(
                "INSERT INTO webhook_endpoints (client_id, url, description, events, secret)
                 VALUES ($1, $2, $3, $4, $5)
                 RETURNING {ENDPOINT_COLUMNS}"
            ),
            &[
                &endpoint.client_id,
                &endpoint.url,
                &endpoint.description,
                &events,
                &endpoint.secret_encrypted,
            ],
        )
        .await
        .context("registering a webhook endpoint failed")?;
    Ok(Endpoint::from_row(&row)?)
}

/// Where a message is in its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageStatus {
    Pending,
    Delivered,
    Failed,
}

impl MessageStatus {
    /// Parses a stored `webhook_messages.status`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// One event for one endpoint: the Standard Webhooks `webhook-id` and the body to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// `msg_` and a KSUID; the same on every attempt.
    pub id: String,
    pub endpoint_id: Uuid,
    pub event: WebhookEvent,
    /// The session or condition met the event is about.
    pub subject_id: Uuid,
    /// The whole body, `{"type", "timestamp", "data"}`.
    pub payload: Value,
    pub status: MessageStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

impl Message {
    fn from_row(row: &tokio_postgres::Row) -> Result<Self, UnknownStoredValue> {
        let status: &str = row.get("status");
        let status = UnknownStoredValue::parse("webhook_messages.status", status, |raw| {
            MessageStatus::parse(raw).ok_or(())
        })?;
        Ok(Self {
            id: row.get("id"),
            endpoint_id: row.get("endpoint_id"),
            event: UnknownStoredValue::parse(
                "webhook_messages.event_type",
                row.get("event_type"),
                WebhookEvent::parse,
            )?,
            subject_id: row.get("subject_id"),
            payload: row.get("payload"),
            status,
            attempts: row.get("attempts"),
            next_attempt_at: row.get("next_attempt_at"),
            created_at: row.get("created_at"),
            delivered_at: row.get("delivered_at"),
        })
    }
}

/// The newest `limit` messages of an endpoint, newest first (the deliveries list's order).
#[tracing::instrument(skip_all, fields(endpoint.id = %endpoint_id))]
pub async fn messages_of_endpoint(
    client: &impl GenericClient,
    endpoint_id: Uuid,
    limit: i64,
) -> Result<Vec<Message>> {
    let rows = client
        .query(
            "SELECT id, endpoint_id, event_type, subject_id, payload, status, attempts,
                    next_attempt_at, created_at, delivered_at
             FROM webhook_messages
             WHERE endpoint_id = $1
             ORDER BY created_at DESC, id DESC
             LIMIT $2",
            &[&endpoint_id, &limit],
        )
        .await
        .context("listing an endpoint's webhook messages failed")?;
    rows.iter()
        .map(|row| Message::from_row(row).map_err(Into::into))
        .collect()
}

/// A change to an endpoint: `None` leaves a field as it is; `description: Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct EndpointChange<'a> {
    pub url: Option<&'a str>,
    pub events: Option<&'a [WebhookEvent]>,
    pub enabled: Option<bool>,
    pub description: Option<Option<&'a str>>,
}

/// The endpoints the caller's scope sees, newest first.
#[tracing::instrument(skip_all)]
pub async fn visible_endpoints(client: &impl GenericClient) -> Result<Vec<Endpoint>> {
    let rows = client
        .query(
            &format!(
                "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY created_at DESC, id DESC"
            ),
            &[],
        )
        .await
        .context("listing webhook endpoints failed")?;
    rows.iter()
        .map(|row| Endpoint::from_row(row).map_err(Into::into))
        .collect()
}

/// One endpoint, if the caller's scope sees it.
#[tracing::instrument(skip_all, fields(endpoint.id = %id))]
pub async fn endpoint(client: &impl GenericClient, id: Uuid) -> Result<Option<Endpoint>> {
    let row = client
        .query_opt(
            &format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1"),
            &[&id],
        )
        .await
        .context("reading a webhook endpoint failed")?;
    row.map(|row| Endpoint::from_row(&row).map_err(Into::into))
        .transpose()
}

/// Changes an endpoint; enabling it clears why the service disabled it. `None` when the
/// caller's scope does not see it.
#[tracing::instrument(skip_all, fields(endpoint.id = %id))]
pub async fn update_endpoint(
    client: &impl GenericClient,
    id: Uuid,
    change: &EndpointChange<'_>,
) -> Result<Option<Endpoint>> {
    let events: Option<Vec<&str>> = change
        .events
        .map(|events| events.iter().map(|e| e.as_str()).collect());
    let row = client
        .query_opt(
            &format!(
                "UPDATE webhook_endpoints SET
                    url = COALESCE($2, url),
                    events = COALESCE($3, events),
                    enabled = COALESCE($4, enabled),
                    disabled_reason = CASE WHEN $4 THEN NULL ELSE disabled_reason END,
                    description = CASE WHEN $5 THEN $6 ELSE description END
                 WHERE id = $1
                 RETURNING {ENDPOINT_COLUMNS}"
            ),
            &[
                &id,
                &change.url,
                &events,
                &change.enabled,
                &change.description.is_some(),
                &change.description.flatten(),
            ],
        )
        .await
        .context("changing a webhook endpoint failed")?;
    row.map(|row| Endpoint::from_row(&row).map_err(Into::into))
        .transpose()
}

/// Deletes an endpoint and (by cascade) its messages and attempts. `None` when the caller's
/// scope does not see it, else its client.
#[tracing::instrument(skip_all, fields(endpoint.id = %id))]
pub async fn delete_endpoint(client: &impl GenericClient, id: Uuid) -> Result<Option<Uuid>> {
    let row = client
        .query_opt(
            "DELETE FROM webhook_endpoints WHERE id = $1 RETURNING client_id",
            &[&id],
        )
        .await
        .context("deleting a webhook endpoint failed")?;
    Ok(row.map(|row| row.get(0)))
}

/// Replaces an endpoint's secret; the one it had keeps signing for `grace` more.
#[tracing::instrument(skip_all, fields(endpoint.id = %id))]
pub async fn rotate_secret(
    client: &impl GenericClient,
    id: Uuid,
    secret_encrypted: &str,
    grace: std::time::Duration,
) -> Result<Option<Endpoint>> {
    let grace_seconds = grace.as_secs_f64();
    let row = client
        .query_opt(
            &format!(
                "UPDATE webhook_endpoints SET
                    previous_secret = secret,
                    previous_secret_until = now() + make_interval(secs => $3),
                    secret = $2
                 WHERE id = $1
                 RETURNING {ENDPOINT_COLUMNS}"
            ),
            &[&id, &secret_encrypted, &grace_seconds],
        )
        .await
        .context("rotating a webhook endpoint's secret failed")?;
    row.map(|row| Endpoint::from_row(&row).map_err(Into::into))
        .transpose()
}

/// An endpoint's messages newest first, after `before` (created_at, id) when given.
#[tracing::instrument(skip_all, fields(endpoint.id = %endpoint_id))]
pub async fn messages_page(
    client: &impl GenericClient,
    endpoint_id: Uuid,
    before: Option<(DateTime<Utc>, &str)>,
    limit: i64,
) -> Result<Vec<Message>> {
    let (at, id) = before.unzip();
    let rows = client
        .query(
            "SELECT id, endpoint_id, event_type, subject_id, payload, status, attempts,
                    next_attempt_at, created_at, delivered_at
             FROM webhook_messages
             WHERE endpoint_id = $1
               AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3::text))
             ORDER BY created_at DESC, id DESC
             LIMIT $4",
            &[&endpoint_id, &at, &id, &limit],
        )
        .await
        .context("listing an endpoint's webhook messages failed")?;
    rows.iter()
        .map(|row| Message::from_row(row).map_err(Into::into))
        .collect()
}

/// One recorded delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    pub message_id: String,
    pub attempted_at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub duration_ms: i32,
    pub error: Option<String>,
}

/// The attempts of these messages, oldest first.
#[tracing::instrument(skip_all)]
pub async fn attempts_of(
    client: &impl GenericClient,
    message_ids: &[String],
) -> Result<Vec<AttemptRecord>> {
    let rows = client
        .query(
            "SELECT message_id, attempted_at, status_code, duration_ms, error
             FROM webhook_attempts WHERE message_id = ANY($1)
             ORDER BY message_id, attempted_at, id",
            &[&message_ids],
        )
        .await
        .context("listing webhook attempts failed")?;
    Ok(rows
        .iter()
        .map(|row| AttemptRecord {
            message_id: row.get("message_id"),
            attempted_at: row.get("attempted_at"),
            status_code: row.get("status_code"),
            duration_ms: row.get("duration_ms"),
            error: row.get("error"),
        })
        .collect())
}

/// Queues a message for delivery now, whatever its status. `None` when the caller's scope
/// does not see it, else its endpoint's client and id.
#[tracing::instrument(skip_all, fields(message.id = %id))]
pub async fn retry_message(client: &impl GenericClient, id: &str) -> Result<Option<(Uuid, Uuid)>> {
    let row = client
        .query_opt(
            "UPDATE webhook_messages m SET
                status = 'pending', next_attempt_at = now(), claimed_until = NULL
             FROM webhook_endpoints e
             WHERE m.id = $1 AND e.id = m.endpoint_id
             RETURNING e.client_id, e.id",
            &[&id],
        )
        .await
        .context("queueing a webhook message again failed")?;
    Ok(row.map(|row| (row.get(0), row.get(1))))
}
