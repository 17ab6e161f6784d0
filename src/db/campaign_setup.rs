//! Campaigns and their conditions and reward configs as managers write them. Statements run
//! in the use case's transaction; written as the restricted role, row security checks each
//! row against the caller's clients.

use chrono::NaiveDate;
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::error::{Context as _, Result};
use super::gift_card_pools::WAITING;
use crate::domain::TriggerType;

/// Up to two of the clients the (restricted) caller sees: enough to tell "exactly one".
pub async fn some_visible_clients(tx: &impl GenericClient) -> Result<Vec<Uuid>> {
    let rows = tx
        .query("SELECT id FROM clients ORDER BY id LIMIT 2", &[])
        .await
        .context("listing the caller's clients failed")?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Whether the (restricted) caller sees client `client_id`.
pub async fn client_visible(tx: &impl GenericClient, client_id: Uuid) -> Result<bool> {
    Ok(tx
        .query_opt("SELECT 1 FROM clients WHERE id = $1", &[&client_id])
        .await
        .context("loading the client failed")?
        .is_some())
}

/// A campaign to create.
#[derive(Debug, Clone)]
pub struct NewCampaign<'a> {
    pub client_id: Uuid,
    pub name: &'a str,
    pub mail_date: Option<NaiveDate>,
    pub status: &'a str,
    pub created_by_user_id: Option<Uuid>,
}

/// Inserts a campaign; its status goes through `calltrack_as_campaign_status` (V15), text
/// standalone and the platform's enum after adoption.
pub async fn insert_campaign(tx: &impl GenericClient, new: &NewCampaign<'_>) -> Result<Uuid> {
    Ok(tx
        .query_one(
            "INSERT INTO campaigns (client_id, name, mail_date, status, created_by_user_id)
             VALUES ($1, $2, $3, calltrack_as_campaign_status($4), $5) RETURNING id",
            &[
                &new.client_id,
                &new.name,
                &new.mail_date,
                &new.status,
                &new.created_by_user_id,
            ],
        )
        .await
        .context("creating the campaign failed")?
        .get(0))
}

/// What a `PATCH` changes: `None` leaves a field as it is; `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct CampaignChange<'a> {
    pub name: Option<&'a str>,
    pub mail_date: Option<Option<NaiveDate>>,
    pub status: Option<&'a str>,
    pub recording_retention_days: Option<Option<i32>>,
}

/// Changes a live campaign the caller sees; `None` when there is none.
pub async fn update_campaign(
    tx: &impl GenericClient,
    id: Uuid,
    change: &CampaignChange<'_>,
) -> Result<Option<Uuid>> {
    let row = tx
        .query_opt(
            "UPDATE campaigns SET
                 name = coalesce($2, name),
                 mail_date = CASE WHEN $3 THEN $4::date ELSE mail_date END,
                 status = CASE WHEN $5::text IS NULL THEN status
                               ELSE calltrack_as_campaign_status($5) END,
                 recording_retention_days = CASE WHEN $6 THEN $7::int4
                                                 ELSE recording_retention_days END
             WHERE id = $1 AND deleted_at IS NULL
             RETURNING id",
            &[
                &id,
                &change.name,
                &change.mail_date.is_some(),
                &change.mail_date.flatten(),
                &change.status,
                &change.recording_retention_days.is_some(),
                &change.recording_retention_days.flatten(),
            ],
        )
        .await
        .context("changing the campaign failed")?;
    Ok(row.map(|r| r.get(0)))
}

/// Locks a live campaign the caller sees (`FOR UPDATE`), so writers of its conditions take
/// turns; returns its client. The platform's (campaign, condition number) indexes need not be
/// unique, so this lock, not `ON CONFLICT`, keeps one condition per number.
pub async fn lock_campaign(tx: &impl GenericClient, campaign_id: Uuid) -> Result<Option<Uuid>> {
    let row = tx
        .query_opt(
            "SELECT client_id FROM campaigns WHERE id = $1 AND deleted_at IS NULL FOR UPDATE",
            &[&campaign_id],
        )
        .await
        .context("locking the campaign failed")?;
    Ok(row.map(|r| r.get(0)))
}

/// The client of a pool the (restricted) caller sees: `Some(None)` for an admin master pool.
pub async fn pool_client(tx: &impl GenericClient, pool_id: Uuid) -> Result<Option<Option<Uuid>>> {
    let row = tx
        .query_opt(
            "SELECT client_id FROM gift_card_pools WHERE id = $1",
            &[&pool_id],
        )
        .await
        .context("loading the gift card pool failed")?;
    Ok(row.map(|r| r.get(0)))
}

/// A condition as written.
#[derive(Debug, Clone)]
pub struct ConditionWrite<'a> {
    pub campaign_id: Uuid,
    pub condition_number: i32,
    pub condition_name: &'a str,
    pub trigger: TriggerType,
    pub crm_event_name: Option<&'a str>,
    pub time_delay_hours: Option<i32>,
    pub auto_min_talk_seconds: Option<i32>,
    pub is_active: bool,
}

/// Writes condition N of the (locked) campaign: replaces the row that has its number, or
/// inserts one. Returns its id and whether it is new.
pub async fn put_condition(
    tx: &impl GenericClient,
    write: &ConditionWrite<'_>,
) -> Result<(Uuid, bool)> {
    // trigger_type may be the platform's enum: a literal takes the column's type, a text
    // parameter would not. The literal comes from the closed set of TriggerType.
    let trigger = write.trigger.as_str();
    let existing = tx
        .query_opt(
            "SELECT id FROM campaign_conditions WHERE campaign_id = $1 AND condition_number = $2
             ORDER BY created_at, id LIMIT 1",
            &[&write.campaign_id, &write.condition_number],
        )
        .await
        .context("finding the condition failed")?;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 6] = [
        &write.campaign_id,
        &write.condition_number,
        &write.condition_name,
        &write.crm_event_name,
        &write.time_delay_hours,
        &write.auto_min_talk_seconds,
    ];
    if let Some(row) = existing {
        let id: Uuid = row.get(0);
        tx.execute(
            &format!(
                "UPDATE campaign_conditions SET condition_name = $3, trigger_type = '{trigger}',
                     crm_event_name = $4, time_delay_hours = $5, auto_min_talk_seconds = $6,
                     is_active = $7
                 WHERE id = $8 AND campaign_id = $1 AND condition_number = $2"
            ),
            &[
                params[0],
                params[1],
                params[2],
                params[3],
                params[4],
                params[5],
                &write.is_active,
                &id,
            ],
        )
        .await
        .context("replacing the condition failed")?;
        return Ok((id, false));
    }
    let id = tx
        .query_one(
            &format!(
                "INSERT INTO campaign_conditions (campaign_id, condition_number, condition_name,
                     trigger_type, crm_event_name, time_delay_hours, auto_min_talk_seconds,
                     is_active)
                 VALUES ($1, $2, $3, '{trigger}', $4, $5, $6, $7) RETURNING id"
            ),
            &[
                params[0],
                params[1],
                params[2],
                params[3],
                params[4],
                params[5],
                &write.is_active,
            ],
        )
        .await
        .context("creating the condition failed")?
        .get(0);
    Ok((id, true))
}

/// A reward config as written.
#[derive(Debug, Clone)]
pub struct RewardWrite<'a> {
    pub gift_card_pool_id: Uuid,
    pub reward_description: Option<&'a str>,
    pub sms_template: Option<&'a str>,
}

/// The reward config of condition N, if there is one.
pub async fn reward_config_id(
    tx: &impl GenericClient,
    campaign_id: Uuid,
    condition_number: i32,
) -> Result<Option<Uuid>> {
    let row = tx
        .query_opt(
            "SELECT id FROM campaign_reward_configs
             WHERE campaign_id = $1 AND condition_number = $2
             ORDER BY created_at, id LIMIT 1",
            &[&campaign_id, &condition_number],
        )
        .await
        .context("finding the reward config failed")?;
    Ok(row.map(|r| r.get(0)))
}

/// Writes condition N's reward config: replaces `existing` (keeping its id, which met
/// conditions reference), or inserts one.
pub async fn put_reward_config(
    tx: &impl GenericClient,
    campaign_id: Uuid,
    condition_number: i32,
    existing: Option<Uuid>,
    reward: &RewardWrite<'_>,
) -> Result<Uuid> {
    if let Some(id) = existing {
        tx.execute(
            "UPDATE campaign_reward_configs
             SET gift_card_pool_id = $2, reward_description = $3, sms_template = $4
             WHERE id = $1",
            &[
                &id,
                &reward.gift_card_pool_id,
                &reward.reward_description,
                &reward.sms_template,
            ],
        )
        .await
        .context("replacing the reward config failed")?;
        return Ok(id);
    }
    Ok(tx
        .query_one(
            "INSERT INTO campaign_reward_configs (campaign_id, condition_number,
                 gift_card_pool_id, reward_description, sms_template)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &[
                &campaign_id,
                &condition_number,
                &reward.gift_card_pool_id,
                &reward.reward_description,
                &reward.sms_template,
            ],
        )
        .await
        .context("creating the reward config failed")?
        .get(0))
}

/// Whether any met condition refers to reward config `id` (its reward was given, or waits).
pub async fn reward_config_used(tx: &impl GenericClient, id: Uuid) -> Result<bool> {
    Ok(tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM call_conditions_met WHERE reward_config_id = $1)",
            &[&id],
        )
        .await
        .context("checking the reward config's use failed")?
        .get(0))
}

/// Deletes reward config `id`; needs the service's own rights (calltrack_api may not delete).
pub async fn delete_reward_config(tx: &impl GenericClient, id: Uuid) -> Result<()> {
    tx.execute("DELETE FROM campaign_reward_configs WHERE id = $1", &[&id])
        .await
        .context("removing the reward config failed")?;
    Ok(())
}

/// A condition with its reward config and the reward pool's stock.
#[derive(Debug, Clone)]
pub struct ConditionSetup {
    pub id: Uuid,
    pub condition_number: i32,
    pub condition_name: Option<String>,
    pub trigger_type: String,
    pub crm_event_name: Option<String>,
    pub time_delay_hours: Option<i32>,
    pub auto_min_talk_seconds: Option<i32>,
    pub is_active: bool,
    pub reward: Option<RewardSetup>,
}

/// A condition's reward config, with its pool's stock.
#[derive(Debug, Clone)]
pub struct RewardSetup {
    pub id: Uuid,
    pub gift_card_pool_id: Option<Uuid>,
    pub pool_name: Option<String>,
    pub brand_name: Option<String>,
    pub value_amount: Option<String>,
    pub reward_description: Option<String>,
    pub sms_template: Option<String>,
    pub available_cards: i32,
    pub total_cards: i32,
    pub rewards_waiting: i64,
}

/// The campaign's conditions (all, or number `only`) by number, each with its reward config
/// and the pool's stock.
pub async fn conditions(
    tx: &impl GenericClient,
    campaign_id: Uuid,
    only: Option<i32>,
) -> Result<Vec<ConditionSetup>> {
    let rows = tx
        .query(
            &format!(
                "SELECT cc.id, cc.condition_number, cc.condition_name,
                        cc.trigger_type::text AS trigger_type, cc.crm_event_name,
                        cc.time_delay_hours, cc.auto_min_talk_seconds,
                        coalesce(cc.is_active, false) AS is_active,
                        rc.id AS reward_id, rc.gift_card_pool_id, p.pool_name, b.brand_name,
                        p.value_amount::numeric(12,2)::text AS value_amount,
                        rc.reward_description, rc.sms_template,
                        COALESCE(p.available_cards, 0) AS available_cards,
                        COALESCE(p.total_cards, 0) AS total_cards,
                        CASE WHEN p.id IS NULL THEN 0 ELSE {WAITING} END AS rewards_waiting
                 FROM campaign_conditions cc
                 LEFT JOIN LATERAL (
                     SELECT * FROM campaign_reward_configs r
                     WHERE r.campaign_id = cc.campaign_id
                       AND r.condition_number = cc.condition_number
                     ORDER BY r.created_at, r.id LIMIT 1) rc ON true
                 LEFT JOIN gift_card_pools p ON p.id = rc.gift_card_pool_id
                 LEFT JOIN gift_card_brands b ON b.id = p.brand_id
                 WHERE cc.campaign_id = $1 AND ($2::int4 IS NULL OR cc.condition_number = $2)
                 ORDER BY cc.condition_number, cc.created_at, cc.id"
            ),
            &[&campaign_id, &only],
        )
        .await
        .context("listing the campaign's conditions failed")?;
    let mut out: Vec<ConditionSetup> = Vec::with_capacity(rows.len());
    for row in &rows {
        let number: i32 = row.get("condition_number");
        // A platform without the unique index may hold two rows of one number; the oldest
        // is the one agents meet.
        if out.last().is_some_and(|c| c.condition_number == number) {
            continue;
        }
        let reward = row
            .get::<_, Option<Uuid>>("reward_id")
            .map(|id| RewardSetup {
                id,
                gift_card_pool_id: row.get("gift_card_pool_id"),
                pool_name: row.get("pool_name"),
                brand_name: row.get("brand_name"),
                value_amount: row.get("value_amount"),
                reward_description: row.get("reward_description"),
                sms_template: row.get("sms_template"),
                available_cards: row.get("available_cards"),
                total_cards: row.get("total_cards"),
                rewards_waiting: row.get("rewards_waiting"),
            });
        out.push(ConditionSetup {
            id: row.get("id"),
            condition_number: number,
            condition_name: row.get("condition_name"),
            trigger_type: row.get("trigger_type"),
            crm_event_name: row.get("crm_event_name"),
            time_delay_hours: row.get("time_delay_hours"),
            auto_min_talk_seconds: row.get("auto_min_talk_seconds"),
            is_active: row.get("is_active"),
            reward,
        });
    }
    Ok(out)
}
