//! Conditions met and their gift-card rewards. Claiming a card, keeping the pool's counters
//! true and queueing the SMS happen in the caller's transaction, so either all of it happens
//! or none of it does.

use super::error::{Context as _, Result, UnknownStoredValue};
use crate::domain::{DeliveryStatus, MetBy, TriggerType};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

/// What became of a met condition's reward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RewardStatus {
    Provisioned,
    PoolExhausted,
    NoRewardConfigured,
    /// Neither the caller nor the recipient has a phone to text the reward to: no card was
    /// claimed. Not retried automatically (see docs/API.md, "Rewards").
    NoPhone,
}

/// A `reward_status` value this build does not know (written by a newer version or by hand).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown reward_status {0:?} in call_conditions_met")]
pub struct UnknownRewardStatus(pub String);

impl From<UnknownRewardStatus> for super::Error {
    fn from(error: UnknownRewardStatus) -> Self {
        Self::invariant("reading a condition met", error.to_string())
    }
}

impl RewardStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provisioned => "provisioned",
            Self::PoolExhausted => "pool_exhausted",
            Self::NoRewardConfigured => "no_reward_configured",
            Self::NoPhone => "no_phone",
        }
    }

    /// The status stored as `raw`; an unknown value is an error, never a guess.
    pub fn parse(raw: &str) -> Result<Self, UnknownRewardStatus> {
        match raw {
            "provisioned" => Ok(Self::Provisioned),
            "pool_exhausted" => Ok(Self::PoolExhausted),
            "no_reward_configured" => Ok(Self::NoRewardConfigured),
            "no_phone" => Ok(Self::NoPhone),
            other => Err(UnknownRewardStatus(other.to_owned())),
        }
    }
}

/// A condition being met, by whichever path meets it.
#[derive(Debug, Clone)]
pub struct Meet<'a> {
    pub recipient_id: Uuid,
    pub campaign_id: Uuid,
    pub condition_number: i32,
    /// The call the condition is tied to, when there is one.
    pub call_session_id: Option<Uuid>,
    pub met_by: MetBy,
    /// The person who met it (`met_by_agent_id`, kept only for [`MetBy::Agent`]).
    pub agent_user_id: Option<Uuid>,
    /// The client of an API key that met it, for the audit row.
    pub actor_client_id: Option<Uuid>,
    pub notes: Option<&'a str>,
    /// What met it, for people (`met_detail`).
    pub detail: Option<serde_json::Value>,
}

/// The session an agent marks a condition on: its campaign and recipient.
#[derive(Debug, Clone, Copy)]
pub struct MarkTarget {
    pub campaign_id: Uuid,
    pub recipient_id: Option<Uuid>,
}

/// The campaign and recipient of a session, if the session exists.
pub async fn mark_target(tx: &impl GenericClient, session_id: Uuid) -> Result<Option<MarkTarget>> {
    let row = tx
        .query_opt(
            "SELECT campaign_id, recipient_id FROM call_sessions WHERE id = $1",
            &[&session_id],
        )
        .await
        .context("loading the call session failed")?;
    Ok(row.map(|r| MarkTarget {
        campaign_id: r.get(0),
        recipient_id: r.get(1),
    }))
}

/// The trigger type of an active condition of the campaign; `None` when the number is not
/// an active condition.
pub async fn active_trigger(
    tx: &impl GenericClient,
    campaign_id: Uuid,
    condition_number: i32,
) -> Result<Option<TriggerType>> {
    let row = tx
        .query_opt(
            "SELECT trigger_type::text FROM campaign_conditions
             WHERE campaign_id = $1 AND condition_number = $2 AND is_active",
            &[&campaign_id, &condition_number],
        )
        .await
        .context("loading the condition failed")?;
    row.map(|r| {
        let raw: Option<&str> = r.get(0);
        // The platform's schema allows an empty trigger type; V1 defaults it to `call`.
        raw.map_or(Ok(TriggerType::Call), |raw| {
            UnknownStoredValue::parse("trigger_type", raw, TriggerType::parse)
        })
    })
    .transpose()
    .map_err(Into::into)
}

/// A `call_conditions_met` row with its reward.
#[derive(Debug, Clone)]
pub struct ConditionMet {
    pub id: Uuid,
    pub call_session_id: Option<Uuid>,
    pub campaign_id: Uuid,
    pub recipient_id: Uuid,
    pub condition_number: i32,
    pub met_at: chrono::DateTime<chrono::Utc>,
    pub met_by_agent_id: Option<Uuid>,
    pub notes: Option<String>,
    pub reward_status: RewardStatus,
    pub gift_card_id: Option<Uuid>,
    /// `None` while no card is provisioned.
    pub delivery_status: Option<DeliveryStatus>,
    pub delivery_error_code: Option<i32>,
    pub delivery_error_message: Option<String>,
    pub met_by: MetBy,
    /// What met it: the talk time of a call rule, the CRM event, the timer.
    pub met_detail: Option<serde_json::Value>,
}

const CONDITION_COLUMNS: &str = "id, call_session_id, campaign_id, recipient_id, condition_number, \
    met_at, met_by_agent_id, notes, reward_status, gift_card_id, delivery_status::text AS delivery_status, \
    delivery_error_code, delivery_error_message, met_by, met_detail";

impl ConditionMet {
    /// Fails on a `reward_status` or `delivery_status` this build does not know rather than
    /// misreporting it.
    fn from_row(row: &tokio_postgres::Row) -> Result<Self> {
        let delivery_status: Option<&str> = row.get("delivery_status");
        Ok(Self {
            id: row.get("id"),
            call_session_id: row.get("call_session_id"),
            campaign_id: row.get("campaign_id"),
            recipient_id: row.get("recipient_id"),
            condition_number: row.get("condition_number"),
            met_at: row.get("met_at"),
            met_by_agent_id: row.get("met_by_agent_id"),
            notes: row.get("notes"),
            reward_status: RewardStatus::parse(row.get("reward_status"))?,
            gift_card_id: row.get("gift_card_id"),
            delivery_status: delivery_status
                .map(|raw| UnknownStoredValue::parse("delivery_status", raw, DeliveryStatus::parse))
                .transpose()?,
            delivery_error_code: row.get("delivery_error_code"),
            delivery_error_message: row.get("delivery_error_message"),
            met_by: UnknownStoredValue::parse("met_by", row.get("met_by"), MetBy::parse)?,
            met_detail: row.get("met_detail"),
        })
    }
}

/// Meets a condition and provisions its reward, inside the caller's transaction, through
/// `calltrack_meet_condition` (V14): the one way every path meets a condition, the call rules
/// evaluated inside a call's own write included. Any number of concurrent meetings of the same
/// recipient and condition create one row and claim one card: the unique (recipient_id,
/// condition_number) index makes every other insert wait for the first and then do nothing,
/// and they return the first one's row. Returns the row and whether this call created it.
#[tracing::instrument(skip_all, fields(recipient.id = %meet.recipient_id, condition = meet.condition_number, met_by = %meet.met_by))]
pub async fn meet(tx: &impl GenericClient, meet: &Meet<'_>) -> Result<(ConditionMet, bool)> {
    let created: Option<Uuid> = tx
        .query_one(
            "SELECT calltrack_meet_condition($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &meet.recipient_id,
                &meet.campaign_id,
                &meet.condition_number,
                &meet.call_session_id,
                &meet.met_by.as_str(),
                &meet.agent_user_id,
                &meet.actor_client_id,
                &meet.notes,
                &meet.detail,
            ],
        )
        .await
        .context("meeting the condition failed")?
        .get(0);
    let condition = tx
        .query_one(
            &format!(
                "SELECT {CONDITION_COLUMNS} FROM call_conditions_met
                 WHERE recipient_id = $1 AND condition_number = $2"
            ),
            &[&meet.recipient_id, &meet.condition_number],
        )
        .await
        .context("reading the condition back failed")?;
    Ok((ConditionMet::from_row(&condition)?, created.is_some()))
}

/// Claims one card of `pool_id` for a condition waiting on it (`calltrack_claim_reward_card`,
/// V14): the pool's counters, the card on the condition and the SMS queued. A reward with no
/// phone to text it to claims no card: it is recorded `no_phone`.
async fn claim_card(
    tx: &impl GenericClient,
    condition_id: Uuid,
    pool_id: Uuid,
) -> Result<RewardStatus> {
    let status: String = tx
        .query_one(
            "SELECT calltrack_claim_reward_card($1, $2)",
            &[&condition_id, &pool_id],
        )
        .await
        .context("claiming a gift card failed")?
        .get(0);
    Ok(RewardStatus::parse(&status)?)
}

/// Provisions the rewards that were waiting for cards of `pool_id`, oldest first, until the
/// pool runs dry again. Returns how many were provisioned. Safe to run concurrently: waiting
/// conditions are taken with `SKIP LOCKED`.
#[tracing::instrument(skip_all, fields(pool.id = %pool_id))]
pub async fn provision_waiting(tx: &impl GenericClient, pool_id: Uuid) -> Result<u64> {
    let waiting = tx
        .query(
            "SELECT m.id FROM call_conditions_met m
             JOIN campaign_reward_configs rc ON rc.id = m.reward_config_id
             WHERE m.reward_status = 'pool_exhausted' AND rc.gift_card_pool_id = $1
             ORDER BY m.met_at, m.id
             FOR UPDATE OF m SKIP LOCKED",
            &[&pool_id],
        )
        .await
        .context("finding waiting rewards failed")?;
    let mut provisioned = 0;
    for row in waiting {
        match claim_card(tx, row.get(0), pool_id).await? {
            RewardStatus::Provisioned => provisioned += 1,
            // Recorded as such; it took no card, so the next waiting reward may.
            RewardStatus::NoPhone => {}
            _ => break,
        }
    }
    Ok(provisioned)
}

/// Meets up to `max` due conditions in the caller's transaction (`calltrack_meet_due_conditions`,
/// V14: claimed with `SKIP LOCKED`, deleted as they are met, skipped when inactive at their due
/// time). Returns how many it took.
pub async fn meet_due(tx: &impl GenericClient, max: i32) -> Result<i32> {
    Ok(tx
        .query_one("SELECT calltrack_meet_due_conditions($1)", &[&max])
        .await
        .context("meeting due conditions failed")?
        .get(0))
}

/// When each pending timer of a recipient falls due, by condition number.
pub async fn due_times(
    tx: &impl GenericClient,
    recipient_id: Uuid,
) -> Result<Vec<(i32, chrono::DateTime<chrono::Utc>)>> {
    let rows = tx
        .query(
            "SELECT condition_number, due_at FROM calltrack_conditions_due
             WHERE recipient_id = $1 ORDER BY condition_number",
            &[&recipient_id],
        )
        .await
        .context("loading due conditions failed")?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// The recipient's row of condition `condition_number`, if met.
pub async fn condition_of(
    tx: &impl GenericClient,
    recipient_id: Uuid,
    condition_number: i32,
) -> Result<Option<ConditionMet>> {
    let row = tx
        .query_opt(
            &format!(
                "SELECT {CONDITION_COLUMNS} FROM call_conditions_met
                 WHERE recipient_id = $1 AND condition_number = $2"
            ),
            &[&recipient_id, &condition_number],
        )
        .await
        .context("loading the condition met failed")?;
    row.as_ref().map(ConditionMet::from_row).transpose()
}

/// Every condition a recipient has met, in condition order.
pub async fn conditions_of_recipient(
    tx: &impl GenericClient,
    recipient_id: Uuid,
) -> Result<Vec<ConditionMet>> {
    let rows = tx
        .query(
            &format!(
                "SELECT {CONDITION_COLUMNS} FROM call_conditions_met
                 WHERE recipient_id = $1 ORDER BY condition_number"
            ),
            &[&recipient_id],
        )
        .await
        .context("loading conditions met failed")?;
    rows.iter().map(ConditionMet::from_row).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reward_status_round_trips_through_its_stored_name() {
        for status in [
            RewardStatus::Provisioned,
            RewardStatus::PoolExhausted,
            RewardStatus::NoRewardConfigured,
            RewardStatus::NoPhone,
        ] {
            assert_eq!(RewardStatus::parse(status.as_str()), Ok(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::json!(status.as_str())
            );
        }
    }

    #[test]
    fn an_unknown_stored_reward_status_is_an_error_not_a_guess() {
        assert_eq!(
            RewardStatus::parse("sent_by_pigeon"),
            Err(UnknownRewardStatus("sent_by_pigeon".into()))
        );
        assert!(RewardStatus::parse("").is_err());
        assert!(RewardStatus::parse("Provisioned").is_err());
    }
}
