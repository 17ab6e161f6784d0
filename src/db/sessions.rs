//! Reading call sessions for the agent API, and linking a recipient by redemption code.
//! Every function here runs inside a transaction restricted by [`super::access::restrict`].

use super::error::{Context as _, Result, UnknownStoredValue};
use crate::auth::ClientScope;
use crate::domain::{CallOutcome, CallStatus, MatchStatus};
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

/// One call session as the API shows it.
#[derive(Debug, Clone)]
pub struct CallSession {
    pub id: Uuid,
    pub campaign_id: Uuid,
    /// The campaign's name, for people.
    pub campaign_name: String,
    pub client_id: Uuid,
    pub tracked_number_id: Uuid,
    pub recipient_id: Option<Uuid>,
    pub caller_phone: Option<String>,
    pub match_status: MatchStatus,
    pub call_status: CallStatus,
    /// `None` while the call is live.
    pub call_outcome: Option<CallOutcome>,
    pub caller_verstat: Option<String>,
    pub call_started_at: Option<DateTime<Utc>>,
    pub call_answered_at: Option<DateTime<Utc>>,
    pub call_ended_at: Option<DateTime<Utc>>,
    pub call_duration_seconds: Option<i32>,
    pub talk_seconds: Option<i32>,
    pub recording_url: Option<String>,
    pub recording_sid: Option<String>,
    pub recording_duration: Option<i32>,
    pub voicemail_url: Option<String>,
    pub voicemail_duration: Option<i32>,
    pub twilio_call_sid: Option<String>,
    pub forward_to_number: Option<String>,
    pub agent_user_id: Option<Uuid>,
    pub notes: Option<String>,
    pub created_at: DateTime<Utc>,
}

const SESSION_COLUMNS: &str = "s.id, s.campaign_id, c.name AS campaign_name, c.client_id, s.tracked_number_id, s.recipient_id, \
    s.caller_phone, s.match_status::text AS match_status, s.call_status::text AS call_status, s.call_outcome, s.caller_verstat, s.call_started_at, s.call_answered_at, \
    s.call_ended_at, s.call_duration_seconds, s.talk_seconds, s.recording_url, s.recording_sid, \
    s.recording_duration, s.voicemail_url, s.voicemail_duration, s.twilio_call_sid, s.forward_to_number, s.agent_user_id, s.notes, s.created_at";

impl CallSession {
    /// Fails on a status or outcome this build has no name for rather than misreporting it.
    fn from_row(row: &tokio_postgres::Row) -> Result<Self, UnknownStoredValue> {
        let call_outcome: Option<&str> = row.get("call_outcome");
        Ok(Self {
            id: row.get("id"),
            campaign_id: row.get("campaign_id"),
            campaign_name: row.get("campaign_name"),
            client_id: row.get("client_id"),
            tracked_number_id: row.get("tracked_number_id"),
            recipient_id: row.get("recipient_id"),
            caller_phone: row.get("caller_phone"),
            match_status: UnknownStoredValue::parse(
                "match_status",
                row.get("match_status"),
                MatchStatus::parse,
            )?,
            call_status: UnknownStoredValue::parse(
                "call_status",
                row.get("call_status"),
                CallStatus::parse_stored,
            )?,
            call_outcome: call_outcome
                .map(|raw| UnknownStoredValue::parse("call_outcome", raw, CallOutcome::parse))
                .transpose()?,
            caller_verstat: row.get("caller_verstat"),
            call_started_at: row.get("call_started_at"),
            call_answered_at: row.get("call_answered_at"),
            call_ended_at: row.get("call_ended_at"),
            call_duration_seconds: row.get("call_duration_seconds"),
            talk_seconds: row.get("talk_seconds"),
            recording_url: row.get("recording_url"),
            recording_sid: row.get("recording_sid"),
            recording_duration: row.get("recording_duration"),
            voicemail_url: row.get("voicemail_url"),
            voicemail_duration: row.get("voicemail_duration"),
            twilio_call_sid: row.get("twilio_call_sid"),
            forward_to_number: row.get("forward_to_number"),
            agent_user_id: row.get("agent_user_id"),
            notes: row.get("notes"),
            created_at: row.get("created_at"),
        })
    }
}

/// Filters and page of the session list.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    pub campaign_id: Option<Uuid>,
    pub call_status: Option<CallStatus>,
    pub match_status: Option<MatchStatus>,
    pub call_outcome: Option<CallOutcome>,
    /// Only sessions created at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Only sessions created before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Keyset position: sessions strictly older than this (created_at, id).
    pub before: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

/// How a session list reaches its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListPlan {
    /// Newest first through the global `(created_at, id)` index: for a caller who sees every
    /// client and names no campaign, whose page is the newest sessions of all.
    Newest,
    /// Campaign by campaign through each visible campaign's `(campaign_id, created_at)`
    /// index, merged: a client's page reads that client's sessions and nobody else's,
    /// however long ago its last call was.
    PerCampaign,
}

impl ListPlan {
    /// The plan for a caller with `scope` asking for `filter`.
    pub fn for_scope(scope: &ClientScope, filter: &SessionFilter) -> Self {
        match (scope, filter.campaign_id) {
            (ClientScope::All, None) => Self::Newest,
            _ => Self::PerCampaign,
        }
    }
}

/// The filters every plan applies, on `s` (call_sessions); parameters as [`list`] passes them.
/// They read only columns of the `(campaign_id, created_at)` index's INCLUDE list, so the
/// first step of [`ListPlan::PerCampaign`] stays an index-only scan.
const FILTERS: &str = "($2::text IS NULL OR s.call_status::text = $2)
           AND ($3::text IS NULL OR s.match_status::text = $3)
           AND ($7::text IS NULL OR s.call_outcome = $7)
           AND ($8::timestamptz IS NULL OR s.created_at >= $8)
           AND ($9::timestamptz IS NULL OR s.created_at < $9)";

/// The session list's statement for `plan`; its parameters are those [`list`] passes:
/// campaign, call status, match status, the keyset cursor (created_at, id), the number of
/// rows, outcome, from and to. Newest first, ties by id, whichever the plan.
///
/// [`ListPlan::PerCampaign`] reads through each campaign's `(campaign_id, created_at)`
/// index and fetches from the table only what the page shows, in four steps:
/// 1. `heads`: each visible campaign's newest session after the cursor, one index step each.
/// 2. `reaching`: the campaigns whose head is no older than the page's length-th newest
///    head. The others cannot reach the page: that many newer sessions are ahead of all of
///    theirs. However many campaigns the caller sees, about a page's worth remain.
/// 3. `edge`: from the index alone, the instant of the page's last session: those
///    campaigns' newest sessions older than the cursor, merged, the page's length of them.
///    No older session can be on the page.
/// 4. Those campaigns' sessions from that instant on (and those at the cursor's own instant
///    with a smaller id), merged.
///
/// The edge is compared as a plain sub-select: wrapped in an expression PostgreSQL does not
/// know to be leakproof (`coalesce`), it could not go before the row-security filter into
/// the index condition, and each campaign's sessions would be read to the end.
pub fn list_statement(plan: ListPlan) -> String {
    match plan {
        ListPlan::Newest => format!(
            "SELECT {SESSION_COLUMNS}
             FROM call_sessions s JOIN campaigns c ON c.id = s.campaign_id
             WHERE ($1::uuid IS NULL OR s.campaign_id = $1)
               AND {FILTERS}
               AND ($4::timestamptz IS NULL OR (s.created_at, s.id) < ($4, $5::uuid))
             ORDER BY s.created_at DESC, s.id DESC
             LIMIT $6"
        ),
        ListPlan::PerCampaign => format!(
            "WITH heads AS (
                 SELECT c.id, c.name, c.client_id, head.created_at
                 FROM campaigns c
                 CROSS JOIN LATERAL (
                     SELECT s.created_at FROM call_sessions s
                     WHERE s.campaign_id = c.id
                       AND {FILTERS}
                       AND ($4::timestamptz IS NULL OR (s.created_at, s.id) < ($4, $5::uuid))
                     ORDER BY s.created_at DESC
                     LIMIT 1) head
                 WHERE ($1::uuid IS NULL OR c.id = $1)
             ),
             reaching AS (
                 SELECT id, name, client_id FROM heads
                 WHERE created_at >= coalesce(
                     (SELECT created_at FROM heads ORDER BY created_at DESC OFFSET $6::bigint - 1 LIMIT 1),
                     '-infinity')
             ),
             edge AS (
                 SELECT coalesce(min(newest.created_at), $4) AS created_at
                 FROM (SELECT t.created_at
                       FROM reaching r
                       CROSS JOIN LATERAL (
                           SELECT s.created_at FROM call_sessions s
                           WHERE s.campaign_id = r.id
                             AND {FILTERS}
                             AND ($4::timestamptz IS NULL OR s.created_at < $4)
                           ORDER BY s.created_at DESC
                           LIMIT $6) t
                       ORDER BY t.created_at DESC
                       LIMIT $6) newest
             )
             SELECT {SESSION_COLUMNS}
             FROM reaching c
             CROSS JOIN LATERAL (
                 SELECT s.* FROM call_sessions s
                 WHERE s.campaign_id = c.id
                   AND {FILTERS}
                   AND ($4::timestamptz IS NULL OR (s.created_at, s.id) < ($4, $5::uuid))
                   AND s.created_at >= (SELECT created_at FROM edge)
                 ORDER BY s.created_at DESC, s.id DESC
                 LIMIT $6) s
             ORDER BY s.created_at DESC, s.id DESC
             LIMIT $6"
        ),
    }
}

/// A page of the sessions the transaction may see, newest first (ties by id), read the way
/// `plan` says (see [`ListPlan::for_scope`]); every plan answers the same rows. Fetches one
/// row more than the page to know whether another page exists.
pub async fn list(
    tx: &impl GenericClient,
    plan: ListPlan,
    filter: &SessionFilter,
) -> Result<(Vec<CallSession>, bool)> {
    let (before_at, before_id) = filter
        .before
        .map_or((None, None), |(at, id)| (Some(at), Some(id)));
    let rows = tx
        .query(
            &list_statement(plan),
            &[
                &filter.campaign_id,
                &filter.call_status.map(CallStatus::as_str),
                &filter.match_status.map(MatchStatus::as_str),
                &before_at,
                &before_id,
                &(filter.limit + 1),
                &filter.call_outcome.map(CallOutcome::as_str),
                &filter.from,
                &filter.to,
            ],
        )
        .await
        .context("listing call sessions failed")?;
    let more = rows.len() as i64 > filter.limit;
    let page = rows
        .iter()
        .take(filter.limit as usize)
        .map(CallSession::from_row)
        .collect::<Result<_, _>>()?;
    Ok((page, more))
}

pub async fn get(tx: &impl GenericClient, id: Uuid) -> Result<Option<CallSession>> {
    let row = tx
        .query_opt(
            &format!(
                "SELECT {SESSION_COLUMNS} FROM call_sessions s JOIN campaigns c ON c.id = s.campaign_id
                 WHERE s.id = $1"
            ),
            &[&id],
        )
        .await
        .context("loading the call session failed")?;
    Ok(row.as_ref().map(CallSession::from_row).transpose()?)
}

/// The recipient a session is about, as an agent needs to see them.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub id: Uuid,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub redemption_code: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
}

pub async fn recipient(tx: &impl GenericClient, id: Uuid) -> Result<Option<Recipient>> {
    let row = tx
        .query_opt(
            "SELECT id, first_name, last_name, redemption_code, phone, email, city, state
             FROM recipients WHERE id = $1",
            &[&id],
        )
        .await
        .context("loading the recipient failed")?;
    Ok(row.map(|r| Recipient {
        id: r.get(0),
        first_name: r.get(1),
        last_name: r.get(2),
        redemption_code: r.get(3),
        phone: r.get(4),
        email: r.get(5),
        city: r.get(6),
        state: r.get(7),
    }))
}

/// A campaign condition an agent can mark.
#[derive(Debug, Clone)]
pub struct Condition {
    pub id: Uuid,
    pub condition_number: i32,
    pub condition_name: Option<String>,
    pub trigger_type: Option<String>,
    pub crm_event_name: Option<String>,
    pub time_delay_hours: Option<i32>,
    /// A `call` condition the call meets itself once the business talked this long.
    pub auto_min_talk_seconds: Option<i32>,
    /// What the reward is, from the campaign's reward config, if one exists.
    pub reward_description: Option<String>,
    /// When a pending `time_delay` condition of the recipient falls due.
    pub due_at: Option<chrono::DateTime<chrono::Utc>>,
}

pub async fn active_conditions(
    tx: &impl GenericClient,
    campaign_id: Uuid,
) -> Result<Vec<Condition>> {
    let rows = tx
        .query(
            "SELECT cc.id, cc.condition_number, cc.condition_name, cc.trigger_type::text, rc.reward_description,
                    cc.crm_event_name, cc.time_delay_hours, cc.auto_min_talk_seconds
             FROM campaign_conditions cc
             LEFT JOIN campaign_reward_configs rc
               ON rc.campaign_id = cc.campaign_id AND rc.condition_number = cc.condition_number
             WHERE cc.campaign_id = $1 AND cc.is_active
             ORDER BY cc.condition_number",
            &[&campaign_id],
        )
        .await
        .context("loading the campaign's conditions failed")?;
    Ok(rows
        .iter()
        .map(|r| Condition {
            id: r.get(0),
            condition_number: r.get(1),
            condition_name: r.get(2),
            trigger_type: r.get(3),
            reward_description: r.get(4),
            crm_event_name: r.get(5),
            time_delay_hours: r.get(6),
            auto_min_talk_seconds: r.get(7),
            due_at: None,
        })
        .collect())
}

/// The conditions the session's recipient has met, with their reward state.
pub async fn conditions_met(
    tx: &impl GenericClient,
    recipient_id: Uuid,
) -> Result<Vec<super::rewards::ConditionMet>> {
    super::rewards::conditions_of_recipient(tx, recipient_id).await
}

/// What linking a recipient by redemption code came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linked {
    /// The session is linked to this recipient (now, or it already was).
    Recipient(Uuid),
    /// No recipient of the session's campaign has that code.
    UnknownCode,
    /// The session is linked to another recipient.
    ToAnother,
}

/// Links the session to the campaign's recipient with `redemption_code`. Linking the same
/// recipient again is a no-op; another recipient is refused.
pub async fn link_recipient(
    tx: &impl GenericClient,
    session_id: Uuid,
    redemption_code: &str,
) -> Result<Linked> {
    let row = tx
        .query_opt(
            "SELECT r.id, s.recipient_id
             FROM call_sessions s JOIN recipients r ON r.campaign_id = s.campaign_id
             WHERE s.id = $1 AND r.redemption_code = $2 AND r.deleted_at IS NULL
             FOR UPDATE OF s",
            &[&session_id, &redemption_code],
        )
        .await
        .context("finding the recipient by code failed")?;
    let Some(row) = row else {
        return Ok(Linked::UnknownCode);
    };
    let recipient_id: Uuid = row.get(0);
    match row.get::<_, Option<Uuid>>(1) {
        Some(existing) if existing == recipient_id => return Ok(Linked::Recipient(recipient_id)),
        Some(_) => return Ok(Linked::ToAnother),
        None => {}
    }
    tx.execute(
        "UPDATE call_sessions SET recipient_id = $2, match_status = 'matched' WHERE id = $1",
        &[&session_id, &recipient_id],
    )
    .await
    .context("linking the recipient failed")?;
    Ok(Linked::Recipient(recipient_id))
}
