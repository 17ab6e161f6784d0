//! Users of calltrack's own (standalone) database: the demo's and the local trial's people.
//! On the platform users and their roles are the platform's, and calltrack never writes them.

use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::error::{Context as _, Result};
use crate::domain::Role;

/// Gives `user` the `role` for the client `client_id` (`user_roles` and `client_users`), the
/// way a client's own people are set up. Granting it again changes nothing.
pub async fn grant_client_role(
    client: &impl GenericClient,
    user: Uuid,
    role: Role,
    client_id: Uuid,
) -> Result<()> {
    client
        .execute(
            "INSERT INTO user_roles (user_id, role) VALUES ($1, $2::text)
             ON CONFLICT (user_id, role) DO NOTHING",
            &[&user, &role.as_str()],
        )
        .await
        .context("granting the user's role failed")?;
    client
        .execute(
            "INSERT INTO client_users (client_id, user_id) VALUES ($1, $2)
             ON CONFLICT (client_id, user_id) DO NOTHING",
            &[&client_id, &user],
        )
        .await
        .context("assigning the user to the client failed")?;
    Ok(())
}
