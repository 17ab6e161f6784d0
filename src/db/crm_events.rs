//! Events the platform's CRM reported (`crm_events`, calltrack's own table): finding the
//! recipient an event names, keeping each event once under the sender's id, and the
//! conditions it meets.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::error::{Context as _, Result};

/// How an event names its recipient.
#[derive(Debug, Clone, Copy)]
pub enum RecipientKey<'a> {
    RedemptionCode(&'a str),
    Id(Uuid),
    /// In E.164, normalised as the voice webhook normalises callers.
    Phone(&'a str),
}

/// A recipient an event may be for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecipientMatch {
    pub recipient_id: Uuid,
    pub campaign_id: Uuid,
    pub client_id: Uuid,
}

/// Up to two recipients the key names among the rows the transaction may see (run it under
/// the caller's scope), within `campaign_id` when given: none, the one, or proof of several.
pub async fn find_recipients(
    tx: &impl GenericClient,
    key: RecipientKey<'_>,
    campaign_id: Option<Uuid>,
) -> Result<Vec<RecipientMatch>> {
    // One statement per kind of key, each with its own index: a single statement with
    // `$1 IS NULL OR …` for each would be planned once, generically, and scan the table.
    const SELECT: &str = "SELECT r.id, r.campaign_id, c.client_id
         FROM recipients r JOIN campaigns c ON c.id = r.campaign_id
         WHERE r.deleted_at IS NULL AND ($2::uuid IS NULL OR r.campaign_id = $2) AND ";
    const ORDER: &str = " ORDER BY r.campaign_id, r.id LIMIT 2";
    let rows = match key {
        RecipientKey::RedemptionCode(code) => {
            tx.query(
                &format!("{SELECT}r.redemption_code = $1{ORDER}"),
                &[&code, &campaign_id],
            )
            .await
        }
        RecipientKey::Id(id) => {
            tx.query(&format!("{SELECT}r.id = $1{ORDER}"), &[&id, &campaign_id])
                .await
        }
        RecipientKey::Phone(phone) => {
            tx.query(
                &format!("{SELECT}r.phone_e164 = $1{ORDER}"),
                &[&phone, &campaign_id],
            )
            .await
        }
    }
    .context("finding the event's recipient failed")?;
    Ok(rows
        .iter()
        .map(|r| RecipientMatch {
            recipient_id: r.get(0),
            campaign_id: r.get(1),
            client_id: r.get(2),
        })
        .collect())
}

/// An event as received and kept.
#[derive(Debug, Clone)]
pub struct CrmEvent {
    pub id: Uuid,
    pub client_id: Uuid,
    pub sender_event_id: String,
    pub event: String,
    pub recipient_id: Uuid,
    pub campaign_id: Uuid,
    pub call_session_id: Option<Uuid>,
    pub occurred_at: Option<DateTime<Utc>>,
    pub received_at: DateTime<Utc>,
    /// The condition numbers the first answer reported.
    pub conditions: Vec<i32>,
}

const EVENT_COLUMNS: &str = "id, client_id, sender_event_id, event, recipient_id, campaign_id, \
    call_session_id, occurred_at, received_at, answer";

impl CrmEvent {
    fn from_row(row: &tokio_postgres::Row) -> Self {
        let answer: serde_json::Value = row.get("answer");
        Self {
            id: row.get("id"),
            client_id: row.get("client_id"),
            sender_event_id: row.get("sender_event_id"),
            event: row.get("event"),
            recipient_id: row.get("recipient_id"),
            campaign_id: row.get("campaign_id"),
            call_session_id: row.get("call_session_id"),
            occurred_at: row.get("occurred_at"),
            received_at: row.get("received_at"),
            conditions: serde_json::from_value(answer).unwrap_or_default(),
        }
    }
}

/// An event to keep.
#[derive(Debug, Clone)]
pub struct NewCrmEvent<'a> {
    pub client_id: Uuid,
    pub sender_event_id: &'a str,
    pub event: &'a str,
    pub recipient_id: Uuid,
    pub campaign_id: Uuid,
    pub call_session_id: Option<Uuid>,
    pub occurred_at: Option<DateTime<Utc>>,
    pub notes: Option<&'a str>,
}

/// Keeps the event, unless the client already sent one with that id: then `None`. A
/// concurrent insert of the same id waits for the first and then finds it.
pub async fn insert(tx: &impl GenericClient, event: &NewCrmEvent<'_>) -> Result<Option<CrmEvent>> {
    let row = tx
        .query_opt(
            &format!(
                "INSERT INTO crm_events (client_id, sender_event_id, event, recipient_id,
                     campaign_id, call_session_id, occurred_at, notes)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (client_id, sender_event_id) DO NOTHING
                 RETURNING {EVENT_COLUMNS}"
            ),
            &[
                &event.client_id,
                &event.sender_event_id,
                &event.event,
                &event.recipient_id,
                &event.campaign_id,
                &event.call_session_id,
                &event.occurred_at,
                &event.notes,
            ],
        )
        .await
        .context("keeping the CRM event failed")?;
    Ok(row.as_ref().map(CrmEvent::from_row))
}

/// The event the client sent with that id.
pub async fn find(
    tx: &impl GenericClient,
    client_id: Uuid,
    sender_event_id: &str,
) -> Result<Option<CrmEvent>> {
    let row = tx
        .query_opt(
            &format!(
                "SELECT {EVENT_COLUMNS} FROM crm_events
                 WHERE client_id = $1 AND sender_event_id = $2"
            ),
            &[&client_id, &sender_event_id],
        )
        .await
        .context("finding the CRM event failed")?;
    Ok(row.as_ref().map(CrmEvent::from_row))
}

/// Records which conditions the event's first answer reported.
pub async fn record_answer(tx: &impl GenericClient, id: Uuid, conditions: &[i32]) -> Result<()> {
    tx.execute(
        "UPDATE crm_events SET answer = $2 WHERE id = $1",
        &[&id, &serde_json::json!(conditions)],
    )
    .await
    .context("recording the CRM event's answer failed")?;
    Ok(())
}

/// The recipient's latest call session of the campaign, if any.
pub async fn latest_session(
    tx: &impl GenericClient,
    recipient_id: Uuid,
    campaign_id: Uuid,
) -> Result<Option<Uuid>> {
    let row = tx
        .query_opt(
            "SELECT id FROM call_sessions
             WHERE recipient_id = $1 AND campaign_id = $2
             ORDER BY created_at DESC, id DESC LIMIT 1",
            &[&recipient_id, &campaign_id],
        )
        .await
        .context("finding the recipient's latest call failed")?;
    Ok(row.map(|r| r.get(0)))
}

/// The numbers of the campaign's active `crm_event` conditions met by `event`.
pub async fn conditions_for(
    tx: &impl GenericClient,
    campaign_id: Uuid,
    event: &str,
) -> Result<Vec<i32>> {
    let rows = tx
        .query(
            "SELECT condition_number FROM campaign_conditions
             WHERE campaign_id = $1 AND is_active AND trigger_type::text = 'crm_event'
               AND crm_event_name = $2
             ORDER BY condition_number",
            &[&campaign_id, &event],
        )
        .await
        .context("finding the event's conditions failed")?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
