//! Who may see what: roles and client scope of a caller, and transactions that run under
//! the restricted `calltrack_api` role with the caller's clients set, so row-level security
//! filters every query even if a handler forgot to.

use super::error::{Context as _, Result};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use crate::auth::{ClientScope, Principal};
use crate::domain::Role;

/// The client whose API key hashes to `sha256_hex`.
pub async fn client_for_api_key(
    client: &impl GenericClient,
    sha256_hex: &str,
) -> Result<Option<Uuid>> {
    let row = client
        .query_opt(
            "SELECT id FROM clients WHERE api_key_hash = $1",
            &[&sha256_hex],
        )
        .await
        .context("looking up the API key failed")?;
    Ok(row.map(|r| r.get(0)))
}

/// A user's roles and the clients they may see: everyone for admin and tech support, the
/// clients of their organizations for agency owners, their assigned clients otherwise.
pub async fn user_access(
    client: &impl GenericClient,
    user_id: Uuid,
) -> Result<(Vec<Role>, ClientScope)> {
    let row = client
        .query_one(
            "WITH r AS (SELECT array_agg(DISTINCT role::text) AS roles FROM user_roles WHERE user_id = $1)
             SELECT r.roles,
                    ARRAY(SELECT c.id FROM clients c
                          WHERE ('agency_owner' = ANY (r.roles)
                                 AND c.org_id IN (SELECT org_id FROM org_members WHERE user_id = $1))
                             OR (r.roles && ARRAY['company_owner', 'call_center', 'developer']
                                 AND c.id IN (SELECT client_id FROM client_users WHERE user_id = $1)))
             FROM r",
            &[&user_id],
        )
        .await
        .context("loading the user's roles failed")?;
    let roles: Vec<Role> = row
        .get::<_, Option<Vec<String>>>(0)
        .unwrap_or_default()
        .iter()
        .filter_map(|r| Role::parse(r))
        .collect();
    let scope = if roles.iter().any(|r| r.sees_all_clients()) {
        ClientScope::All
    } else {
        ClientScope::Clients(row.get(1))
    };
    Ok((roles, scope))
}

/// Switches the open transaction to the restricted role with `scope`'s clients visible.
/// `SET LOCAL` semantics: it ends with the transaction.
///
/// An API transaction reads a page, a session or a campaign's figures, so it also plans
/// without parallel workers and without JIT: starting workers and compiling expressions
/// cost many times what such a read does, and the planner's estimates of the per-campaign
/// lists are high enough to cross `jit_above_cost` (figures in docs/PERFORMANCE.md).
pub async fn restrict(
    tx: &impl GenericClient,
    scope: &ClientScope,
    user_id: Option<Uuid>,
) -> Result<()> {
    let (all, ids) = match scope {
        ClientScope::All => ("on", String::new()),
        ClientScope::Clients(ids) => (
            "off",
            ids.iter()
                .map(Uuid::to_string)
                .collect::<Vec<_>>()
                .join(","),
        ),
    };
    let user = user_id.map(|u| u.to_string()).unwrap_or_default();
    tx.execute(
        "SELECT set_config('calltrack.all_clients', $1, true),
                set_config('calltrack.client_ids', $2, true),
                set_config('calltrack.user_id', $3, true),
                set_config('role', 'calltrack_api', true),
                set_config('max_parallel_workers_per_gather', '0', true),
                set_config('jit', 'off', true)",
        &[&all, &ids, &user],
    )
    .await
    .context("restricting the transaction failed")?;
    Ok(())
}

/// Opens a transaction, restricted to `principal`'s clients when there is one (an operator
/// at the command line has none and keeps the service's own rights).
pub async fn begin<'c>(
    conn: &'c mut deadpool_postgres::Object,
    principal: Option<&Principal>,
) -> Result<deadpool_postgres::Transaction<'c>> {
    let tx = conn
        .transaction()
        .await
        .context("cannot open a transaction")?;
    if let Some(principal) = principal {
        restrict(&tx, &principal.scope, principal.user_id()).await?;
    }
    Ok(tx)
}

/// Leaves the restricted role for the rest of the transaction, for system work done on the
/// caller's behalf after their access was checked (claiming a card from a master pool).
pub async fn unrestrict(tx: &impl GenericClient) -> Result<()> {
    tx.batch_execute("RESET ROLE")
        .await
        .context("leaving the restricted role failed")
}

/// Writes an audit record of a sensitive change.
pub async fn audit(
    tx: &impl GenericClient,
    actor_user_id: Option<Uuid>,
    actor_client_id: Option<Uuid>,
    action: &str,
    entity_type: &str,
    entity_id: Uuid,
    details: &serde_json::Value,
) -> Result<()> {
    tx.execute(
        "INSERT INTO audit_log (actor_user_id, actor_client_id, action, entity_type, entity_id, details)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[&actor_user_id, &actor_client_id, &action, &entity_type, &entity_id, details],
    )
    .await
    .context("writing the audit log failed")?;
    Ok(())
}
