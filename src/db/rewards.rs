//! Conditions met and their gift-card rewards. Claiming a card, keeping the pool's counters
//! true and queueing the SMS happen in the caller's transaction, so either all of it happens
//! or none of it does.

use super::error::{Context as _, Result, UnknownStoredValue};
use crate::domain::DeliveryStatus;
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

/// The condition being marked, as the agent asked.
#[derive(Debug, Clone)]
pub struct MarkCondition<'a> {
    pub call_session_id: Uuid,
    pub condition_number: i32,
    pub notes: Option<&'a str>,
    pub agent_user_id: Option<Uuid>,
}

/// What marking a condition came to.
#[derive(Debug, Clone)]
pub enum Marked {
    /// The condition row, and whether this call created it.
    Condition {
        condition: Box<ConditionMet>,
        created: bool,
    },
    SessionNotFound,
    /// The session has no recipient to reward.
    NoRecipient,
    /// The number is not an active condition of the session's campaign.
    InactiveCondition,
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
}

const CONDITION_COLUMNS: &str = "id, call_session_id, campaign_id, recipient_id, condition_number, \
    met_at, met_by_agent_id, notes, reward_status, gift_card_id, delivery_status::text AS delivery_status, \
    delivery_error_code, delivery_error_message";

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
        })
    }
}

/// Marks a condition met and provisions its reward, inside the caller's transaction.
/// Any number of concurrent marks of the same recipient and condition create one row and
/// claim one card: the unique (recipient_id, condition_number) index makes every other
/// insert wait for the first and then do nothing, and they return the first one's result.
#[tracing::instrument(skip_all, fields(session.id = %mark.call_session_id, condition = mark.condition_number))]
pub async fn mark_condition(tx: &impl GenericClient, mark: &MarkCondition<'_>) -> Result<Marked> {
    let Some(session) = tx
        .query_opt(
            "SELECT campaign_id, recipient_id FROM call_sessions WHERE id = $1",
            &[&mark.call_session_id],
        )
        .await
        .context("loading the call session failed")?
    else {
        return Ok(Marked::SessionNotFound);
    };
    let campaign_id: Uuid = session.get(0);
    let Some(recipient_id) = session.get::<_, Option<Uuid>>(1) else {
        return Ok(Marked::NoRecipient);
    };
    let active = tx
        .query_opt(
            "SELECT 1 FROM campaign_conditions
             WHERE campaign_id = $1 AND condition_number = $2 AND is_active",
            &[&campaign_id, &mark.condition_number],
        )
        .await?
        .is_some();
    if !active {
        return Ok(Marked::InactiveCondition);
    }
    let inserted = tx
        .query_opt(
            // met_at is set here: the platform's schema document gives it no default.
            "INSERT INTO call_conditions_met (call_session_id, campaign_id, recipient_id,
                 condition_number, met_at, met_by_agent_id, notes, delivery_status)
             VALUES ($1, $2, $3, $4, now(), $5, $6, NULL)
             ON CONFLICT (recipient_id, condition_number) DO NOTHING
             RETURNING id",
            &[
                &mark.call_session_id,
                &campaign_id,
                &recipient_id,
                &mark.condition_number,
                &mark.agent_user_id,
                &mark.notes,
            ],
        )
        .await
        .context("recording the condition failed")?;
    let created = inserted.is_some();
    if let Some(row) = inserted {
        provision(tx, row.get(0)).await?;
    }
    let condition = tx
        .query_one(
            &format!(
                "SELECT {CONDITION_COLUMNS} FROM call_conditions_met
                 WHERE recipient_id = $1 AND condition_number = $2"
            ),
            &[&recipient_id, &mark.condition_number],
        )
        .await
        .context("reading the condition back failed")?;
    Ok(Marked::Condition {
        condition: Box::new(ConditionMet::from_row(&condition)?),
        created,
    })
}

/// Looks up the reward config of a freshly inserted condition and tries to claim its card.
async fn provision(tx: &impl GenericClient, condition_id: Uuid) -> Result<RewardStatus> {
    let config = tx
        .query_opt(
            "SELECT rc.id, rc.gift_card_pool_id
             FROM call_conditions_met m
             JOIN campaign_reward_configs rc
               ON rc.campaign_id = m.campaign_id AND rc.condition_number = m.condition_number
             WHERE m.id = $1",
            &[&condition_id],
        )
        .await
        .context("looking up the reward config failed")?;
    let Some((config_id, Some(pool_id))) =
        config.map(|r| (r.get::<_, Uuid>(0), r.get::<_, Option<Uuid>>(1)))
    else {
        return Ok(RewardStatus::NoRewardConfigured);
    };
    tx.execute(
        "UPDATE call_conditions_met SET reward_config_id = $2, reward_status = 'pool_exhausted'
         WHERE id = $1",
        &[&condition_id, &config_id],
    )
    .await?;
    claim_card(tx, condition_id, pool_id).await
}

/// Claims one available card of `pool_id` for the condition, keeps the pool's counters,
/// records the card on the condition and queues the SMS. `FOR UPDATE SKIP LOCKED` lets
/// concurrent claims take different cards instead of waiting for each other. A reward with
/// no phone to text it to claims no card: it is recorded `no_phone`.
async fn claim_card(
    tx: &impl GenericClient,
    condition_id: Uuid,
    pool_id: Uuid,
) -> Result<RewardStatus> {
    // The recipient's phone on file wins over the number that called, so a postcard's
    // redemption code cannot divert the reward to whoever called with it; a recipient
    // without a usable phone gets it at the number that called.
    let to_phone: Option<String> = tx
        .query_one(
            "SELECT coalesce(r.phone_e164, s.caller_phone)
             FROM call_conditions_met m
             JOIN recipients r ON r.id = m.recipient_id
             LEFT JOIN call_sessions s ON s.id = m.call_session_id
             WHERE m.id = $1",
            &[&condition_id],
        )
        .await
        .context("finding the reward's phone failed")?
        .get(0);
    let Some(to_phone) = to_phone else {
        tx.execute(
            "UPDATE call_conditions_met SET reward_status = 'no_phone', delivery_status = NULL
             WHERE id = $1",
            &[&condition_id],
        )
        .await
        .context("recording a reward without a phone failed")?;
        tracing::warn!(condition.id = %condition_id, "no phone to send the reward to; no card claimed");
        return Ok(RewardStatus::NoPhone);
    };
    let claimed = tx
        .query_opt(
            "WITH card AS (
                 SELECT id FROM gift_cards
                 WHERE pool_id = $2 AND status = 'available'
                 ORDER BY created_at, id
                 LIMIT 1
                 FOR UPDATE SKIP LOCKED
             ), cond AS (
                 SELECT m.recipient_id, m.campaign_id, m.call_session_id FROM call_conditions_met m WHERE m.id = $1
             )
             UPDATE gift_cards g
             SET status = 'claimed', recipient_id = cond.recipient_id,
                 campaign_id = cond.campaign_id, claimed_at = now()
             FROM card, cond
             WHERE g.id = card.id
             RETURNING g.id",
            &[&condition_id, &pool_id],
        )
        .await
        .context("claiming a gift card failed")?;
    let Some(card) = claimed else {
        return Ok(RewardStatus::PoolExhausted);
    };
    let card_id: Uuid = card.get(0);
    tx.execute(
        "UPDATE gift_card_pools SET available_cards = available_cards - 1 WHERE id = $1",
        &[&pool_id],
    )
    .await
    .context("updating the pool counters failed")?;
    tx.execute(
        "WITH cond AS (
             UPDATE call_conditions_met
             SET gift_card_id = $2, reward_status = 'provisioned', delivery_status = 'pending'
             WHERE id = $1
             RETURNING id
         )
         INSERT INTO sms_outbox (condition_met_id, to_phone)
         SELECT cond.id, $3::text FROM cond",
        &[&condition_id, &card_id, &to_phone],
    )
    .await
    .context("queueing the reward SMS failed")?;
    tracing::info!(condition.id = %condition_id, gift_card.id = %card_id, "reward provisioned");
    Ok(RewardStatus::Provisioned)
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
