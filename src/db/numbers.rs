//! Tracked phone numbers: the rows behind numbers bought at Twilio, and the releases still
//! owed for numbers whose row could not be stored.

use super::error::{Context as _, Result};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use crate::domain::{CallFlow, FlowChange};

/// A tracked number as the API shows it.
#[derive(Debug, Clone)]
pub struct TrackedNumber {
    pub id: Uuid,
    pub campaign_id: Uuid,
    pub phone_number: String,
    pub forward_to_number: String,
    pub provider: String,
    pub provider_sid: Option<String>,
    pub is_active: bool,
    pub friendly_name: Option<String>,
    pub released_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub flow: CallFlow,
}

const COLUMNS: &str = "id, campaign_id, phone_number, forward_to_number, provider::text AS provider, provider_sid, \
    COALESCE(is_active, false) AS is_active, friendly_name, released_at, created_at, whisper, require_keypress, voicemail, \
    voicemail_greeting, business_hours";

impl TrackedNumber {
    fn from_row(row: &tokio_postgres::Row) -> Self {
        Self {
            id: row.get("id"),
            campaign_id: row.get("campaign_id"),
            phone_number: row.get("phone_number"),
            forward_to_number: row.get("forward_to_number"),
            provider: row.get("provider"),
            provider_sid: row.get("provider_sid"),
            is_active: row.get("is_active"),
            friendly_name: row.get("friendly_name"),
            released_at: row.get("released_at"),
            created_at: row.get("created_at"),
            flow: CallFlow::from_columns(
                row.get("whisper"),
                row.get("require_keypress"),
                row.get("voicemail"),
                row.get("voicemail_greeting"),
                row.get("business_hours"),
            ),
        }
    }
}

/// A number Twilio sold, to be stored.
#[derive(Debug, Clone)]
pub struct NewNumber<'a> {
    pub campaign_id: Uuid,
    pub phone_number: &'a str,
    pub forward_to_number: &'a str,
    pub provider_sid: &'a str,
    pub friendly_name: Option<&'a str>,
}

pub async fn insert(client: &impl GenericClient, number: &NewNumber<'_>) -> Result<TrackedNumber> {
    let row = client
        .query_one(
            &format!(
                "INSERT INTO tracked_phone_numbers (campaign_id, phone_number, forward_to_number,
                     provider, provider_sid, friendly_name, is_active)
                 VALUES ($1, $2, $3, 'twilio', $4, $5, true)
                 RETURNING {COLUMNS}"
            ),
            &[
                &number.campaign_id,
                &number.phone_number,
                &number.forward_to_number,
                &number.provider_sid,
                &number.friendly_name,
            ],
        )
        .await
        .context("storing the tracked number failed")?;
    Ok(TrackedNumber::from_row(&row))
}

pub async fn list_for_campaign(
    client: &impl GenericClient,
    campaign_id: Uuid,
) -> Result<Vec<TrackedNumber>> {
    let rows = client
        .query(
            &format!(
                "SELECT {COLUMNS} FROM tracked_phone_numbers WHERE campaign_id = $1
                 ORDER BY is_active DESC NULLS LAST, created_at DESC"
            ),
            &[&campaign_id],
        )
        .await
        .context("listing tracked numbers failed")?;
    Ok(rows.iter().map(TrackedNumber::from_row).collect())
}

/// Every tracked number, or one campaign's, for operators.
pub async fn list_all(
    client: &impl GenericClient,
    campaign_id: Option<Uuid>,
) -> Result<Vec<TrackedNumber>> {
    let rows = client
        .query(
            &format!(
                "SELECT {COLUMNS} FROM tracked_phone_numbers
                 WHERE $1::uuid IS NULL OR campaign_id = $1
                 ORDER BY created_at DESC"
            ),
            &[&campaign_id],
        )
        .await
        .context("listing tracked numbers failed")?;
    Ok(rows.iter().map(TrackedNumber::from_row).collect())
}

/// The number and the client of its campaign.
pub async fn get(client: &impl GenericClient, id: Uuid) -> Result<Option<(TrackedNumber, Uuid)>> {
    let row = client
        .query_opt(
            &format!(
                "SELECT n.*, c.client_id
                 FROM (SELECT {COLUMNS} FROM tracked_phone_numbers WHERE id = $1) n
                 JOIN campaigns c ON c.id = n.campaign_id"
            ),
            &[&id],
        )
        .await
        .context("loading the tracked number failed")?;
    Ok(row.map(|r| (TrackedNumber::from_row(&r), r.get("client_id"))))
}

/// Changes the forward-to number and/or the active flag; a released number stays inactive.
pub async fn update(
    client: &impl GenericClient,
    id: Uuid,
    forward_to_number: Option<&str>,
    is_active: Option<bool>,
) -> Result<TrackedNumber> {
    let row = client
        .query_one(
            &format!(
                "UPDATE tracked_phone_numbers
                 SET forward_to_number = coalesce($2, forward_to_number),
                     is_active = coalesce($3, is_active) AND released_at IS NULL
                 WHERE id = $1
                 RETURNING {COLUMNS}"
            ),
            &[&id, &forward_to_number, &is_active],
        )
        .await
        .context("updating the tracked number failed")?;
    Ok(TrackedNumber::from_row(&row))
}

/// Changes the settings of a number's call flow that `change` names; the rest stay.
pub async fn set_flow(
    client: &impl GenericClient,
    id: Uuid,
    change: &FlowChange,
) -> Result<TrackedNumber> {
    let hours = change
        .business_hours
        .as_ref()
        .map(|h| h.as_ref().map(serde_json::to_value).transpose())
        .transpose()
        .map_err(|e| super::Error::invariant("business hours did not serialize", e.to_string()))?;
    let row = client
        .query_one(
            &format!(
                "UPDATE tracked_phone_numbers SET
                     whisper = CASE WHEN $2 THEN $3 ELSE whisper END,
                     require_keypress = COALESCE($4, require_keypress),
                     voicemail = COALESCE($5, voicemail),
                     voicemail_greeting = CASE WHEN $6 THEN $7 ELSE voicemail_greeting END,
                     business_hours = CASE WHEN $8 THEN $9 ELSE business_hours END
                 WHERE id = $1
                 RETURNING {COLUMNS}"
            ),
            &[
                &id,
                &change.whisper.is_some(),
                &change.whisper.clone().flatten(),
                &change.require_keypress,
                &change.voicemail,
                &change.voicemail_greeting.is_some(),
                &change.voicemail_greeting.clone().flatten(),
                &hours.is_some(),
                &hours.flatten(),
            ],
        )
        .await
        .context("changing the call flow failed")?;
    Ok(TrackedNumber::from_row(&row))
}

/// Marks a number released at Twilio: inactive for good, kept for history.
pub async fn mark_released(client: &impl GenericClient, id: Uuid) -> Result<TrackedNumber> {
    let row = client
        .query_one(
            &format!(
                "UPDATE tracked_phone_numbers
                 SET is_active = false, released_at = coalesce(released_at, now())
                 WHERE id = $1
                 RETURNING {COLUMNS}"
            ),
            &[&id],
        )
        .await
        .context("marking the number released failed")?;
    Ok(TrackedNumber::from_row(&row))
}

/// Whether another active row already holds this number.
pub async fn active_number_exists(client: &impl GenericClient, phone_number: &str) -> Result<bool> {
    Ok(client
        .query_opt(
            "SELECT 1 FROM tracked_phone_numbers WHERE phone_number = $1 AND is_active",
            &[&phone_number],
        )
        .await?
        .is_some())
}

/// Remembers a bought number that must be released again.
pub async fn owe_release(
    client: &impl GenericClient,
    provider_sid: &str,
    phone_number: &str,
    reason: &str,
) -> Result<()> {
    client
        .execute(
            "INSERT INTO number_releases_pending (provider_sid, phone_number, reason)
             VALUES ($1, $2, $3) ON CONFLICT (provider_sid) DO NOTHING",
            &[&provider_sid, &phone_number, &reason],
        )
        .await
        .context("recording the pending release failed")?;
    Ok(())
}

/// Releases still owed, oldest first: (provider sid).
pub async fn owed_releases(client: &impl GenericClient, limit: i64) -> Result<Vec<String>> {
    let rows = client
        .query(
            "SELECT provider_sid FROM number_releases_pending WHERE released_at IS NULL
             ORDER BY created_at LIMIT $1",
            &[&limit],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Records the outcome of one attempt to release an owed number.
pub async fn release_attempted(
    client: &impl GenericClient,
    provider_sid: &str,
    error: Option<&str>,
) -> Result<()> {
    client
        .execute(
            "UPDATE number_releases_pending
             SET attempts = attempts + 1, last_error = $2,
                 released_at = CASE WHEN $2::text IS NULL THEN now() END
             WHERE provider_sid = $1",
            &[&provider_sid, &error],
        )
        .await?;
    Ok(())
}
