//! Marking a campaign condition met: the condition row, its reward and the SMS, exactly once.

use uuid::Uuid;

use super::sessions::{SessionError, visible};
use super::{Caller, begin, commit, connection};
use crate::auth::Principal;
use crate::db::rewards::{self, ConditionMet, MarkCondition, Marked};
use crate::db::{self, PgPool, access};

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
/// transaction, audited when it is new.
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
    let mark = MarkCondition {
        call_session_id: session_id,
        condition_number,
        notes,
        agent_user_id: principal.user_id(),
    };
    let (condition, created) = match rewards::mark_condition(&tx, &mark).await? {
        Marked::Condition { condition, created } => (*condition, created),
        Marked::SessionNotFound => return Err(MarkConditionError::NotFound),
        Marked::NoRecipient => return Err(MarkConditionError::NoRecipient),
        Marked::InactiveCondition => {
            return Err(MarkConditionError::UnknownCondition(condition_number));
        }
    };
    if created {
        access::audit(
            &tx,
            principal.user_id(),
            principal.api_client_id(),
            "condition_met",
            "call_conditions_met",
            condition.id,
            &serde_json::json!({
                "call_session_id": session_id,
                "condition_number": condition_number,
                "reward_status": condition.reward_status.as_str(),
            }),
        )
        .await?;
    }
    commit(tx).await?;
    Ok(MarkOutcome { condition, created })
}
