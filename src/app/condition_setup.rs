//! A campaign's conditions and their rewards as managers set them up: read with the reward
//! pool's stock, and written (condition N and its reward config together) in one transaction
//! that holds the campaign row, so concurrent writers of one number take turns.

use uuid::Uuid;

use super::{Caller, begin, commit, connection};
use crate::auth::{ClientScope, Principal};
use crate::db::campaign_setup::{self, ConditionSetup, ConditionWrite, RewardWrite};
use crate::db::stats;
use crate::db::{self, PgPool, access};
use crate::domain::campaign_setup::{self as setup, ConditionRule, SetupError};

/// Why a condition was not written.
#[derive(Debug, thiserror::Error)]
pub enum ConditionSetupError {
    #[error("no such campaign")]
    NotFound,
    #[error(transparent)]
    Invalid(#[from] SetupError),
    /// The pool is not the campaign's client's (or a master pool the caller may not give).
    #[error(
        "gift card pool {0} cannot reward this campaign: use a pool of the campaign's own client"
    )]
    PoolNotUsable(Uuid),
    /// The reward config was left out but met conditions refer to it.
    #[error(
        "condition {0}'s reward was already given or is waiting for a card, so it cannot be removed; give a reward (another pool if need be) or set is_active to false"
    )]
    RewardInUse(i32),
    #[error(transparent)]
    Db(#[from] db::Error),
}

/// Condition N as a manager writes it.
#[derive(Debug, Clone)]
pub struct PutCondition<'a> {
    pub condition_name: &'a str,
    pub trigger_type: &'a str,
    pub crm_event_name: Option<&'a str>,
    pub time_delay_hours: Option<i32>,
    pub auto_min_talk_seconds: Option<i32>,
    pub is_active: bool,
    pub reward: Option<PutReward<'a>>,
}

/// The reward of a condition as a manager writes it.
#[derive(Debug, Clone)]
pub struct PutReward<'a> {
    pub gift_card_pool_id: Uuid,
    pub reward_description: Option<&'a str>,
    pub sms_template: Option<&'a str>,
}

/// The campaign's conditions by number, each with its reward and the pool's stock.
pub async fn list(
    pool: &PgPool,
    principal: &Principal,
    campaign_id: Uuid,
) -> Result<Vec<ConditionSetup>, ConditionSetupError> {
    let mut conn = connection(pool).await?;
    let tx = begin(&mut conn, Caller::Api(principal)).await?;
    let client = stats::campaign_client(&tx, campaign_id).await?;
    if !client.is_some_and(|c| principal.scope.allows(c)) {
        return Err(ConditionSetupError::NotFound);
    }
    // The campaign is the caller's; its reward pool may be an admin master pool the caller
    // cannot see, whose stock is still this campaign's to show.
    access::unrestrict(&tx).await?;
    let conditions = campaign_setup::conditions(&tx, campaign_id, None).await?;
    commit(tx).await?;
    Ok(conditions)
}

/// Creates or replaces condition `number` of the campaign and its reward config, in one
/// transaction holding the campaign row, audited. Leaving `reward` out removes the config,
/// unless met conditions refer to it ([`ConditionSetupError::RewardInUse`]). Returns the
/// condition as [`list`] shows it and whether it is new.
pub async fn put(
    pool: &PgPool,
    principal: &Principal,
    campaign_id: Uuid,
    number: i32,
    request: &PutCondition<'_>,
) -> Result<(ConditionSetup, bool), ConditionSetupError> {
    let number = setup::condition_number(number)?;
    let name = setup::name("condition_name", request.condition_name)?;
    let rule = ConditionRule::parse(
        request.trigger_type,
        request.crm_event_name,
        request.time_delay_hours,
        request.auto_min_talk_seconds,
    )?;
    let reward = request
        .reward
        .as_ref()
        .map(|r| -> Result<_, SetupError> {
            Ok((
                r.gift_card_pool_id,
                setup::bounded(
                    "reward_description",
                    r.reward_description.unwrap_or_default(),
                    setup::MAX_DESCRIPTION_CHARS,
                )?,
                setup::reward_template(r.sms_template)?,
            ))
        })
        .transpose()?;

    let mut conn = connection(pool).await?;
    let tx = begin(&mut conn, Caller::Api(principal)).await?;
    let client = campaign_setup::lock_campaign(&tx, campaign_id).await?;
    let Some(client) = client.filter(|c| principal.scope.allows(*c)) else {
        return Err(ConditionSetupError::NotFound);
    };
    if let Some((pool_id, _, _)) = &reward {
        // Row security shows a master pool (no client) to admins only.
        let usable = match campaign_setup::pool_client(&tx, *pool_id).await? {
            Some(Some(owner)) => owner == client,
            Some(None) => principal.scope == ClientScope::All,
            None => false,
        };
        if !usable {
            return Err(ConditionSetupError::PoolNotUsable(*pool_id));
        }
    }
    let (condition_id, created) = campaign_setup::put_condition(
        &tx,
        &ConditionWrite {
            campaign_id,
            condition_number: number,
            condition_name: &name,
            trigger: rule.trigger,
            crm_event_name: rule.crm_event_name.as_deref(),
            time_delay_hours: rule.time_delay_hours,
            auto_min_talk_seconds: rule.auto_min_talk_seconds,
            is_active: request.is_active,
        },
    )
    .await?;
    let existing = campaign_setup::reward_config_id(&tx, campaign_id, number).await?;
    let reward_config = match (&reward, existing) {
        (Some((pool_id, description, template)), existing) => Some(
            campaign_setup::put_reward_config(
                &tx,
                campaign_id,
                number,
                existing,
                &RewardWrite {
                    gift_card_pool_id: *pool_id,
                    reward_description: description.as_deref(),
                    sms_template: template.as_deref(),
                },
            )
            .await?,
        ),
        (None, Some(id)) => {
            if campaign_setup::reward_config_used(&tx, id).await? {
                return Err(ConditionSetupError::RewardInUse(number));
            }
            None
        }
        (None, None) => None,
    };
    access::audit(
        &tx,
        principal.user_id(),
        principal.api_client_id(),
        if created {
            "condition_created"
        } else {
            "condition_replaced"
        },
        "campaign_conditions",
        condition_id,
        &serde_json::json!({
            "campaign_id": campaign_id,
            "condition_number": number,
            "trigger_type": rule.trigger.as_str(),
            "is_active": request.is_active,
            "reward_config_id": reward_config,
            "gift_card_pool_id": reward.as_ref().map(|r| r.0),
        }),
    )
    .await?;
    // Access was checked and the caller's rows written under row security; removing a
    // config and reading a master pool's stock need the service's own rights.
    access::unrestrict(&tx).await?;
    if let (None, Some(id)) = (&reward, existing) {
        campaign_setup::delete_reward_config(&tx, id).await?;
    }
    let condition = campaign_setup::conditions(&tx, campaign_id, Some(number))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| {
            db::Error::invariant(
                "writing a condition",
                "the condition written is not there".into(),
            )
        })?;
    commit(tx).await?;
    Ok((condition, created))
}
