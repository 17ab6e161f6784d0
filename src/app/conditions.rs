//! Meeting a campaign condition: the condition row, its reward and the SMS, exactly once,
//! whoever meets it. An agent's mark (or a manager's override) comes through [`mark`]; a CRM
//! event through `app::crm_events`; due timers through [`meet_due`]. Call rules are met inside
//! the call's own write, by the same database function ([`rewards::meet`] wraps it), so they
//! need no round trip of the webhooks.

use uuid::Uuid;

use super::sessions::{SessionError, visible};
use super::{Caller, begin, commit, connection};
use crate::auth::Principal;
use crate::db::rewards::{self, ConditionMet, Meet};
use crate::db::{self, PgPool, access};
use crate::domain::MetBy;

/// The condition row, and whether this request created it (a repeat returns the first
/// request's result).
#[derive(Debug, Clone)]
pub struct MarkOutcome {
    pub condition: ConditionMet,
    pub created: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum MarkConditionError {
    #[error("no such call session")]
    NotFound,
    #[error("the call has no recipient; link one by redemption code first")]
    NoRecipient,
    #[error("condition {0} is not an active condition of this campaign")]
    UnknownCondition(i32),
    #[error(
        "condition {number} is met by {trigger}, not by hand; only an admin, agency owner or company owner may override it"
    )]
    NotManual { number: i32, trigger: &'static str },
    #[error(transparent)]
    Db(#[from] db::Error),
}

impl From<SessionError> for MarkConditionError {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::Db(e) => Self::Db(e),
            _ => Self::NotFound,
        }
    }
}

/// Marks `condition_number` met for the session's recipient and provisions its reward, in one
/// transaction, audited when it is new. A `crm_event` or `time_delay` condition is refused
/// unless the caller is a manager, whose override is audited as such.
pub async fn mark(
    pool: &PgPool,
    principal: &Principal,
    session_id: Uuid,
    condition_number: i32,
    notes: Option<&str>,
) -> Result<MarkOutcome, MarkConditionError> {
    let mut conn = connection(pool).await?;
    let tx = begin(&mut conn, Caller::Api(principal)).await?;
    visible(&tx, principal, session_id).await?;
    // Access is settled; the reward may come from an admin master pool the caller cannot
    // see, so provisioning runs with the service's own rights.
    access::unrestrict(&tx).await?;
    let target = rewards::mark_target(&tx, session_id)
        .await?
        .ok_or(MarkConditionError::NotFound)?;
    let recipient_id = target.recipient_id.ok_or(MarkConditionError::NoRecipient)?;
    let trigger = rewards::active_trigger(&tx, target.campaign_id, condition_number)
        .await?
        .ok_or(MarkConditionError::UnknownCondition(condition_number))?;
    let overridden = !trigger.is_manual();
    if overridden && !principal.may_override_conditions() {
        return Err(MarkConditionError::NotManual {
            number: condition_number,
            trigger: trigger.as_str(),
        });
    }
    let meet = Meet {
        recipient_id,
        campaign_id: target.campaign_id,
        condition_number,
        call_session_id: Some(session_id),
        met_by: MetBy::Agent,
        agent_user_id: principal.user_id(),
        actor_client_id: principal.api_client_id(),
        notes,
        detail: overridden.then(|| serde_json::json!({ "override": trigger.as_str() })),
    };
    let (condition, created) = rewards::meet(&tx, &meet).await?;
    if created && overridden {
        access::audit(
            &tx,
            principal.user_id(),
            principal.api_client_id(),
            "condition_override",
            "call_conditions_met",
            condition.id,
            &serde_json::json!({
                "call_session_id": session_id,
                "condition_number": condition_number,
                "trigger_type": trigger.as_str(),
            }),
        )
        .await?;
    }
    commit(tx).await?;
    Ok(MarkOutcome { condition, created })
}

/// How many due conditions one transaction of [`meet_due`] takes.
pub const DUE_BATCH: i32 = 100;

/// Meets the conditions whose time has come (time delays, and call rules that could not be
/// met inside their call's write), each once across instances and restarts, in transactions
/// of [`DUE_BATCH`]. Returns how many were taken (met, or skipped as inactive).
pub async fn meet_due(pool: &PgPool) -> Result<u64, db::Error> {
    let mut taken = 0;
    loop {
        let mut conn = connection(pool).await?;
        let tx = begin(&mut conn, Caller::Operator).await?;
        let batch = rewards::meet_due(&tx, DUE_BATCH).await?;
        commit(tx).await?;
        taken += u64::try_from(batch).unwrap_or(0);
        if batch < DUE_BATCH {
            return Ok(taken);
        }
    }
}
