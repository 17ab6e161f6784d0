//! What the routing copy is loaded from: every tracked number's current row, and the version
//! the trigger on `tracked_phone_numbers` bumps on every change.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::error::{Context as _, Result};
use crate::domain::CallFlow;

/// The count the trigger on `tracked_phone_numbers` keeps: every committed change to the
/// numbers has its own, in commit order (the bump takes the version row's lock, held until
/// commit), so a statement that reads version `v` sees exactly the changes up to `v`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct RoutingVersion(i64);

impl RoutingVersion {
    /// Below every version the database hands out: a copy that was never loaded.
    pub const NEVER_LOADED: Self = Self(-1);

    pub const fn new(version: i64) -> Self {
        Self(version)
    }

    pub const fn get(self) -> i64 {
        self.0
    }
}

impl std::fmt::Display for RoutingVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// One tracked number as the voice webhook would route it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NumberRoute {
    pub phone_number: String,
    pub forward_to_number: String,
    pub is_active: bool,
    /// Snapshots written before call flows existed have none: the default flow.
    #[serde(default)]
    pub flow: CallFlow,
}

impl NumberRoute {
    /// Whether a call is answered the same by either route: an inactive number is answered
    /// the same whatever it would forward to.
    pub fn routes_like(&self, other: &Self) -> bool {
        self.is_active == other.is_active
            && (!self.is_active
                || (self.forward_to_number == other.forward_to_number && self.flow == other.flow))
    }
}

/// The columns [`route_from`] reads, from a row of `tracked_phone_numbers`.
const ROUTE_COLUMNS: &str = "phone_number, forward_to_number, COALESCE(is_active, false), whisper, \
    require_keypress, voicemail, voicemail_greeting, business_hours";

/// The row the voice webhook's statement would pick for a number: the active one, else the
/// newest ([`super::calls::RECORD_INCOMING_CALL`] orders the same way).
const PICK_ORDER: &str = "is_active DESC NULLS LAST, created_at DESC";

/// A route from [`ROUTE_COLUMNS`], starting at column `at`.
fn route_from(row: &Row, at: usize) -> NumberRoute {
    NumberRoute {
        phone_number: row.get(at),
        forward_to_number: row.get(at + 1),
        is_active: row.get(at + 2),
        flow: CallFlow::from_columns(
            row.get(at + 3),
            row.get(at + 4),
            row.get(at + 5),
            row.get(at + 6),
            row.get(at + 7),
        ),
    }
}

/// The current routing version.
pub async fn version(client: &impl GenericClient) -> Result<RoutingVersion> {
    let row = client
        .query_one("SELECT version FROM calltrack_routing_version", &[])
        .await
        .context("reading the routing version failed")?;
    Ok(RoutingVersion(row.get(0)))
}

/// Every number with the row the voice webhook's statement would pick for it, read in one
/// snapshot together with the version it reflects.
pub async fn load(
    client: &mut deadpool_postgres::Object,
) -> Result<(RoutingVersion, Vec<NumberRoute>)> {
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
            &format!(
                "SELECT DISTINCT ON (phone_number) {ROUTE_COLUMNS}
                 FROM tracked_phone_numbers
                 ORDER BY phone_number, {PICK_ORDER}"
            ),
            &[],
        )
        .await
        .context("loading the routing copy failed")?;
    tx.commit()
        .await
        .context("ending the routing load failed")?;
    Ok((version, rows.iter().map(|row| route_from(row, 0)).collect()))
}

/// The route of one number and the version it is current at, in one statement (one
/// snapshot). Inside a transaction that changed the number, the version is the one its commit
/// publishes: the trigger's bump holds the version row until then. `None` when no row has the
/// number. Needs the service's own rights: the restricted role reads neither the version nor
/// other clients' rows of the number.
pub async fn route_of(
    client: &impl GenericClient,
    phone_number: &str,
) -> Result<(RoutingVersion, Option<NumberRoute>)> {
    let row = client
        .query_one(
            &format!(
                "SELECT v.version, n.*
                 FROM calltrack_routing_version v
                 LEFT JOIN LATERAL (
                     SELECT {ROUTE_COLUMNS} FROM tracked_phone_numbers
                     WHERE phone_number = $1
                     ORDER BY {PICK_ORDER}
                     LIMIT 1
                 ) n ON true"
            ),
            &[&phone_number],
        )
        .await
        .context("reading a number's route failed")?;
    let route = row
        .get::<_, Option<String>>(1)
        .is_some()
        .then(|| route_from(&row, 1));
    Ok((RoutingVersion(row.get(0)), route))
}
