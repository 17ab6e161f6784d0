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
