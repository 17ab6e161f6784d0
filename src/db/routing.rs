//! What the routing copy is loaded from: every tracked number's current row, and the version
//! the trigger on `tracked_phone_numbers` bumps on every change.

use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::error::{Context as _, Result};
use crate::domain::CallFlow;

/// One tracked number as the voice webhook would route it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NumberRoute {
    pub phone_number: String,
    pub campaign_id: Uuid,
    pub tracked_number_id: Uuid,
    pub forward_to_number: String,
    pub is_active: bool,
    /// Snapshots written before call flows existed have none: the default flow.
    #[serde(default)]
    pub flow: CallFlow,
}

/// The current routing version.
pub async fn version(client: &impl GenericClient) -> Result<i64> {
    let row = client
        .query_one("SELECT version FROM calltrack_routing_version", &[])
        .await
        .context("reading the routing version failed")?;
    Ok(row.get(0))
}

/// Every number with the row the voice webhook's statement would pick for it (the active
/// one, else the newest), read in one snapshot together with the version it reflects.
pub async fn load(client: &mut deadpool_postgres::Object) -> Result<(i64, Vec<NumberRoute>)> {
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .context("starting the routing load failed")?;
    let version = version(&tx).await?;
    let rows = tx
        .query(
            "SELECT DISTINCT ON (phone_number) phone_number, campaign_id, id, forward_to_number,
                is_active, whisper, require_keypress, voicemail, voicemail_greeting, business_hours
             FROM tracked_phone_numbers
             ORDER BY phone_number, is_active DESC, created_at DESC",
            &[],
        )
        .await
        .context("loading the routing copy failed")?;
    tx.commit()
        .await
        .context("ending the routing load failed")?;
    let routes = rows
        .iter()
        .map(|row| NumberRoute {
            phone_number: row.get(0),
            campaign_id: row.get(1),
            tracked_number_id: row.get(2),
            forward_to_number: row.get(3),
            is_active: row.get(4),
            flow: CallFlow::from_columns(
                row.get(5),
                row.get(6),
                row.get(7),
                row.get(8),
                row.get(9),
            ),
        })
        .collect();
    Ok((version, routes))
}
