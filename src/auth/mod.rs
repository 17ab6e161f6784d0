//! Who is calling the JSON API, and which clients they may see.

mod jwt;

pub use jwt::{Claims, JwtError, JwtVerifier, issue as issue_token};

use uuid::Uuid;

use crate::domain::Role;

/// The clients a caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientScope {
    All,
    Clients(Vec<Uuid>),
}

impl ClientScope {
    pub fn allows(&self, client_id: Uuid) -> bool {
        match self {
            Self::All => true,
            Self::Clients(ids) => ids.contains(&client_id),
        }
    }
}

/// Who made the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A platform user signed in with a JWT.
    User { user_id: Uuid, roles: Vec<Role> },
    /// A client's API key; acts for that client with manager rights.
    ApiKey { client_id: Uuid },
}

/// An authenticated caller with the clients they may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub actor: Actor,
    pub scope: ClientScope,
}

impl Principal {
    pub fn user_id(&self) -> Option<Uuid> {
        match self.actor {
            Actor::User { user_id, .. } => Some(user_id),
            Actor::ApiKey { .. } => None,
        }
    }

    pub fn api_client_id(&self) -> Option<Uuid> {
        match self.actor {
            Actor::ApiKey { client_id } => Some(client_id),
            Actor::User { .. } => None,
        }
    }

    /// Reading sessions, linking recipients and marking conditions: any platform role.
    pub fn may_work_calls(&self) -> bool {
        match &self.actor {
            Actor::User { roles, .. } => !roles.is_empty(),
            Actor::ApiKey { .. } => true,
        }
    }

    /// Whether exports show callers' full numbers: the data's owners (admin, agency owner,
    /// company owner, an API key) see them; other roles get them masked (`+1415***0100`),
    /// since an export leaves the service for spreadsheets and mailboxes.
    pub fn may_see_caller_numbers(&self) -> bool {
        self.may_manage_numbers()
    }

    /// Meeting a `crm_event` or `time_delay` condition by hand (an override, audited), and
    /// reporting CRM events: the same managers as [`Self::may_manage_numbers`].
    pub fn may_override_conditions(&self) -> bool {
        self.may_manage_numbers()
    }

    /// Tracked-number management: admin, agency owner, company owner, or an API key.
    pub fn may_manage_numbers(&self) -> bool {
        match &self.actor {
            Actor::User { roles, .. } => roles.iter().any(|r| r.manages_numbers()),
            Actor::ApiKey { .. } => true,
        }
    }
}
