//! Who is calling the JSON API: the principal a client API key or a signed-in user stands
//! for. Checking a JWT's signature needs no database and stays with the route; these look up
//! what a credential grants.

use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use super::connection;
use crate::auth::{Actor, ClientScope, Principal};
use crate::db::{self, PgPool, access};

/// Why a credential grants nothing.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// No client holds this API key.
    #[error("unknown API key")]
    UnknownApiKey,
    #[error(transparent)]
    Db(#[from] db::Error),
}

/// The client holding API key `key`, acting for that client alone.
pub async fn api_key_holder(pool: &PgPool, key: &str) -> Result<Principal, CredentialError> {
    // Clients' keys are stored only as the hex of their SHA-256.
    let hash = hex::encode(Sha256::digest(key.as_bytes()));
    let client_id = access::client_for_api_key(&connection(pool).await?, &hash)
        .await?
        .ok_or(CredentialError::UnknownApiKey)?;
    Ok(Principal {
        actor: Actor::ApiKey { client_id },
        scope: ClientScope::Clients(vec![client_id]),
    })
}

/// The platform user `user_id` (whose token the caller has verified), with their roles and
/// the clients they may see.
pub async fn user(pool: &PgPool, user_id: Uuid) -> Result<Principal, CredentialError> {
    let (roles, scope) = access::user_access(&connection(pool).await?, user_id).await?;
    Ok(Principal {
        actor: Actor::User { user_id, roles },
        scope,
    })
}
