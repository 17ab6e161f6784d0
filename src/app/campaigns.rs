//! Creating and changing campaigns without SQL: one transaction each, as the caller (row
//! security checks the campaign's client), audited.

use chrono::{NaiveDate, Utc};
use uuid::Uuid;

use super::{Caller, begin, commit, connection};
use crate::auth::Principal;
use crate::db::campaign_setup::{self, CampaignChange, NewCampaign};
use crate::db::stats::{self, CampaignSummary};
use crate::db::{self, PgPool, access};
use crate::domain::campaign_setup::{self as setup, CampaignStatus, SetupError};

/// Why a campaign was not written.
#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    /// No such campaign or client among the caller's.
    #[error("no such campaign or client")]
    NotFound,
    /// The caller sees several clients (or none) and named none.
    #[error(
        "client_id is required: you can see more than one client (or none), so say which the campaign is for"
    )]
    ClientRequired,
    #[error(transparent)]
    Invalid(#[from] SetupError),
    #[error(transparent)]
    Db(#[from] db::Error),
}

/// A campaign to create, as the caller asked.
#[derive(Debug, Clone, Default)]
pub struct CreateCampaign<'a> {
    pub client_id: Option<Uuid>,
    pub name: &'a str,
    pub mail_date: Option<NaiveDate>,
    pub status: Option<&'a str>,
}

/// A change to a campaign, as the caller asked: `None` leaves a field as it is, `Some(None)`
/// clears it.
#[derive(Debug, Clone, Default)]
pub struct UpdateCampaign<'a> {
    pub name: Option<&'a str>,
    pub mail_date: Option<Option<NaiveDate>>,
    pub status: Option<&'a str>,
    pub recording_retention_days: Option<Option<i32>>,
}

/// The client a write is for: the one named, if the caller sees it, else the only one the
/// caller sees (an API key's client; an owner of one client).
pub(super) async fn client_for(
    tx: &deadpool_postgres::Transaction<'_>,
    principal: &Principal,
    named: Option<Uuid>,
) -> Result<Uuid, CampaignError> {
    match named {
        Some(id)
            if principal.scope.allows(id) && campaign_setup::client_visible(tx, id).await? =>
        {
            Ok(id)
        }
        Some(_) => Err(CampaignError::NotFound),
        None => {
            let visible: Vec<Uuid> = campaign_setup::some_visible_clients(tx)
                .await?
                .into_iter()
                .filter(|id| principal.scope.allows(*id))
                .collect();
            match (principal.api_client_id(), visible.as_slice()) {
                (Some(own), _) => Ok(own),
                (None, [only]) => Ok(*only),
                _ => Err(CampaignError::ClientRequired),
            }
        }
    }
}

/// Creates a campaign (status `draft` unless given) for the caller's client, audited, and
/// returns it as `GET /api/v1/campaigns/{id}` shows it.
pub async fn create(
    pool: &PgPool,
    principal: &Principal,
    request: &CreateCampaign<'_>,
) -> Result<CampaignSummary, CampaignError> {
    let name = setup::name("name", request.name)?;
    let status = request
        .status
        .map(CampaignStatus::parse)
        .transpose()?
        .unwrap_or(CampaignStatus::DRAFT);
    let mut conn = connection(pool).await?;
    let tx = begin(&mut conn, Caller::Api(principal)).await?;
    let client_id = client_for(&tx, principal, request.client_id).await?;
    let id = campaign_setup::insert_campaign(
        &tx,
        &NewCampaign {
            client_id,
            name: &name,
            mail_date: request.mail_date,
            status: status.as_str(),
            created_by_user_id: principal.user_id(),
        },
    )
    .await?;
    access::audit(
        &tx,
        principal.user_id(),
        principal.api_client_id(),
        "campaign_created",
        "campaigns",
        id,
        &serde_json::json!({
            "client_id": client_id,
            "name": name,
            "status": status.as_str(),
            "mail_date": request.mail_date,
        }),
    )
    .await?;
    let campaign = summary(&tx, id).await?;
    commit(tx).await?;
    Ok(campaign)
}

/// Changes a campaign the caller sees, audited with what changed; returns it as
/// `GET /api/v1/campaigns/{id}` shows it.
pub async fn update(
    pool: &PgPool,
    principal: &Principal,
    campaign_id: Uuid,
    request: &UpdateCampaign<'_>,
) -> Result<CampaignSummary, CampaignError> {
    let name = request.name.map(|n| setup::name("name", n)).transpose()?;
    let status = request.status.map(CampaignStatus::parse).transpose()?;
    let retention = request
        .recording_retention_days
        .map(|days| days.map(setup::retention_days).transpose())
        .transpose()?;
    let mut conn = connection(pool).await?;
    let tx = begin(&mut conn, Caller::Api(principal)).await?;
    let client = stats::campaign_client(&tx, campaign_id).await?;
    if !client.is_some_and(|c| principal.scope.allows(c)) {
        return Err(CampaignError::NotFound);
    }
    let change = CampaignChange {
        name: name.as_deref(),
        mail_date: request.mail_date,
        status: status.map(CampaignStatus::as_str),
        recording_retention_days: retention,
    };
    campaign_setup::update_campaign(&tx, campaign_id, &change)
        .await?
        .ok_or(CampaignError::NotFound)?;
    let mut details = serde_json::Map::new();
    if let Some(name) = &name {
        details.insert("name".into(), name.as_str().into());
    }
    if let Some(date) = request.mail_date {
        details.insert("mail_date".into(), serde_json::json!(date));
    }
    if let Some(status) = status {
        details.insert("status".into(), status.as_str().into());
    }
    if let Some(days) = retention {
        details.insert("recording_retention_days".into(), serde_json::json!(days));
    }
    access::audit(
        &tx,
        principal.user_id(),
        principal.api_client_id(),
        "campaign_updated",
        "campaigns",
        campaign_id,
        &serde_json::Value::Object(details),
    )
    .await?;
    let campaign = summary(&tx, campaign_id).await?;
    commit(tx).await?;
    Ok(campaign)
}

/// The campaign as the campaigns views show it, read in the writer's transaction.
async fn summary(
    tx: &deadpool_postgres::Transaction<'_>,
    id: Uuid,
) -> Result<CampaignSummary, CampaignError> {
    let (today, week) = super::stats::today_and_week(Utc::now());
    let (items, _) = stats::campaign_summaries(tx, today, week, Some(id), None, 1).await?;
    items.into_iter().next().ok_or(CampaignError::NotFound)
}
