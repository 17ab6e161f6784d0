//! A CRM's event meets the campaign's `crm_event` conditions of that name: the recipient found
//! by code, id or phone within the caller's scope, the event kept once under the sender's id
//! (a repeat answers the first answer, a conflicting repeat is refused), and every condition
//! met through the same use case as an agent's mark, in one transaction.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Caller, begin, commit, connection};
use crate::auth::Principal;
use crate::db::crm_events::{self, CrmEvent, NewCrmEvent, RecipientKey};
use crate::db::rewards::{self, ConditionMet, Meet};
use crate::db::{self, PgPool, access};
use crate::domain::{E164, MetBy};

/// How the event names its recipient, as the CRM sent it.
#[derive(Debug, Clone)]
pub enum RecipientRef {
    RedemptionCode(String),
    Id(Uuid),
    /// Any format; normalised to E.164 as the voice webhook normalises callers.
    Phone(String),
}

/// An event reported by the platform's CRM.
#[derive(Debug, Clone)]
pub struct CrmEventReport {
    pub event: String,
    /// The sender's own unique id for this event.
    pub sender_event_id: String,
    pub occurred_at: Option<DateTime<Utc>>,
    pub recipient: RecipientRef,
    pub campaign_id: Option<Uuid>,
    pub notes: Option<String>,
}

/// The event kept and the conditions it met (each with its reward), and whether this request
/// created it (a repeat gets the first answer).
#[derive(Debug, Clone)]
pub struct CrmEventOutcome {
    pub event: CrmEvent,
    pub conditions_met: Vec<ConditionMet>,
    pub created: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CrmEventError {
    #[error("no recipient you can see matches")]
    NoRecipient,
    #[error("several recipients match; name the campaign with campaign_id")]
    Ambiguous,
    #[error("an event with this id was received already for another event, recipient or campaign")]
    ConflictingRepeat,
    #[error(transparent)]
    Db(#[from] db::Error),
}

/// Takes the CRM's event: finds its recipient, keeps it once, meets its conditions.
pub async fn report(
    pool: &PgPool,
    principal: &Principal,
    report: &CrmEventReport,
) -> Result<CrmEventOutcome, CrmEventError> {
    let phone;
    let key = match &report.recipient {
        RecipientRef::RedemptionCode(code) => RecipientKey::RedemptionCode(code),
        RecipientRef::Id(id) => RecipientKey::Id(*id),
        RecipientRef::Phone(raw) => {
            // What is no phone number is no recipient's phone: nobody matches it.
            phone = E164::parse(raw).map_err(|_| CrmEventError::NoRecipient)?;
            RecipientKey::Phone(phone.as_str())
        }
    };
    let mut conn = connection(pool).await?;
    let tx = begin(&mut conn, Caller::Api(principal)).await?;
    // Under the caller's row security: only recipients of campaigns the caller may see.
    let found = crm_events::find_recipients(&tx, key, report.campaign_id).await?;
    let recipient = match found.as_slice() {
        [one] if principal.scope.allows(one.client_id) => *one,
        [] | [_] => return Err(CrmEventError::NoRecipient),
        _ => return Err(CrmEventError::Ambiguous),
    };
    // The reward may come from an admin master pool the caller cannot see.
    access::unrestrict(&tx).await?;
    let call_session_id =
        crm_events::latest_session(&tx, recipient.recipient_id, recipient.campaign_id).await?;
    let new = NewCrmEvent {
        client_id: recipient.client_id,
        sender_event_id: &report.sender_event_id,
        event: &report.event,
        recipient_id: recipient.recipient_id,
        campaign_id: recipient.campaign_id,
        call_session_id,
        occurred_at: report.occurred_at,
        notes: report.notes.as_deref(),
    };
    let Some(event) = crm_events::insert(&tx, &new).await? else {
        let first = crm_events::find(&tx, recipient.client_id, &report.sender_event_id)
            .await?
            .ok_or_else(|| {
                db::Error::invariant("repeating a CRM event", "the first event vanished".into())
            })?;
        if first.event != report.event
            || first.recipient_id != recipient.recipient_id
            || first.campaign_id != recipient.campaign_id
        {
            return Err(CrmEventError::ConflictingRepeat);
        }
        let mut conditions_met = Vec::with_capacity(first.conditions.len());
        for number in &first.conditions {
            if let Some(met) = rewards::condition_of(&tx, first.recipient_id, *number).await? {
                conditions_met.push(met);
            }
        }
        commit(tx).await?;
        return Ok(CrmEventOutcome {
            event: first,
            conditions_met,
            created: false,
        });
    };
    let numbers = crm_events::conditions_for(&tx, event.campaign_id, &event.event).await?;
    let mut conditions_met = Vec::with_capacity(numbers.len());
    for number in &numbers {
        let meet = Meet {
            recipient_id: event.recipient_id,
            campaign_id: event.campaign_id,
            condition_number: *number,
            call_session_id,
            met_by: MetBy::CrmEvent,
            agent_user_id: principal.user_id(),
            actor_client_id: principal.api_client_id(),
            notes: report.notes.as_deref(),
            detail: Some(serde_json::json!({
                "event": event.event,
                "crm_event_id": event.id,
                "sender_id": event.sender_event_id,
            })),
        };
        conditions_met.push(rewards::meet(&tx, &meet).await?.0);
    }
    crm_events::record_answer(&tx, event.id, &numbers).await?;
    access::audit(
        &tx,
        principal.user_id(),
        principal.api_client_id(),
        "crm_event_received",
        "crm_events",
        event.id,
        &serde_json::json!({
            "event": event.event,
            "recipient_id": event.recipient_id,
            "conditions": numbers,
        }),
    )
    .await?;
    commit(tx).await?;
    let event = CrmEvent {
        conditions: numbers,
        ..event
    };
    Ok(CrmEventOutcome {
        event,
        conditions_met,
        created: true,
    })
}
