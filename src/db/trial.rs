//! The local trial's own small world in calltrack's standalone database: one business with a
//! campaign, a recipient, a condition agents can mark and a tracked number, so that a
//! simulated call forwards and the consoles have something to show before any real setup.

use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::error::{Context as _, Result};
use super::users::grant_client_role;
use crate::domain::Role;

/// The ids are fixed so that every start of the trial finds the same rows and the same user,
/// and a token printed by an earlier start keeps working.
pub const TRIAL_USER: Uuid = Uuid::from_u128(0x7a1a_0000_0000_4000_8000_0000_0000_0001);
const TRIAL_ORGANIZATION: Uuid = Uuid::from_u128(0x7a1a_0000_0000_4000_8000_0000_0000_0002);
const TRIAL_CLIENT: Uuid = Uuid::from_u128(0x7a1a_0000_0000_4000_8000_0000_0000_0003);
const TRIAL_CAMPAIGN: Uuid = Uuid::from_u128(0x7a1a_0000_0000_4000_8000_0000_0000_0004);

/// The trial's tracked number (a fictional 555 number, never one at Twilio).
pub const TRIAL_NUMBER: &str = "+18005550100";
/// Where the trial number forwards.
pub const TRIAL_FORWARD_TO: &str = "+14155550199";
/// The phone of the trial campaign's one recipient: a call from it is matched.
pub const TRIAL_RECIPIENT_PHONE: &str = "+14155550123";

/// Creates the trial's organization, client, campaign, recipient, condition and tracked
/// number, and makes [`TRIAL_USER`] the client's company owner, unless an earlier start did:
/// what a person has since changed or deleted there is left alone. Returns whether it created
/// them. Run it in one transaction, so a failed start leaves nothing half made.
pub async fn create_world_once(client: &impl GenericClient) -> Result<bool> {
    let created: bool = client
        .query_one(
            "WITH o AS (INSERT INTO organizations (id, name, type) VALUES ($1, 'Trial agency', 'agency')
                        ON CONFLICT (id) DO NOTHING RETURNING id),
                  c AS (INSERT INTO clients (id, org_id, name, industry)
                        SELECT $2, id, 'Trial business', 'other' FROM o RETURNING id),
                  k AS (INSERT INTO campaigns (id, client_id, name, status)
                        SELECT $3, id, 'Trial campaign', 'mailed' FROM c RETURNING id),
                  r AS (INSERT INTO recipients (campaign_id, redemption_code, first_name, last_name, phone)
                        SELECT id, 'TRIAL-1001', 'Dana', 'Rivera', $6 FROM k RETURNING id),
                  q AS (INSERT INTO campaign_conditions (campaign_id, condition_number, condition_name, trigger_type)
                        SELECT id, 1, 'Booked an appointment', 'call' FROM k RETURNING id),
                  n AS (INSERT INTO tracked_phone_numbers (campaign_id, phone_number, forward_to_number)
                        SELECT id, $4, $5 FROM k RETURNING id)
             SELECT EXISTS (SELECT 1 FROM o)",
            &[
                &TRIAL_ORGANIZATION,
                &TRIAL_CLIENT,
                &TRIAL_CAMPAIGN,
                &TRIAL_NUMBER,
                &TRIAL_FORWARD_TO,
                &TRIAL_RECIPIENT_PHONE,
            ],
        )
        .await
        .context("creating the trial's campaign failed")?
        .get(0);
    if created {
        grant_client_role(client, TRIAL_USER, Role::CompanyOwner, TRIAL_CLIENT).await?;
    }
    Ok(created)
}
