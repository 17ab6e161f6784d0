use std::fmt;

/// A platform role from `user_roles`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Admin,
    TechSupport,
    AgencyOwner,
    CompanyOwner,
    Developer,
    CallCenter,
}

impl Role {
    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "admin" => Self::Admin,
            "tech_support" => Self::TechSupport,
            "agency_owner" => Self::AgencyOwner,
            "company_owner" => Self::CompanyOwner,
            "developer" => Self::Developer,
            "call_center" => Self::CallCenter,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::TechSupport => "tech_support",
            Self::AgencyOwner => "agency_owner",
            Self::CompanyOwner => "company_owner",
            Self::Developer => "developer",
            Self::CallCenter => "call_center",
        }
    }

    /// Admins and tech support see every client.
    pub fn sees_all_clients(self) -> bool {
        matches!(self, Self::Admin | Self::TechSupport)
    }

    /// Buying, changing and releasing tracked numbers.
    pub fn manages_numbers(self) -> bool {
        matches!(self, Self::Admin | Self::AgencyOwner | Self::CompanyOwner)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_round_trips_and_unknown_ones_are_none() {
        for raw in [
            "admin",
            "tech_support",
            "agency_owner",
            "company_owner",
            "developer",
            "call_center",
        ] {
            assert_eq!(Role::parse(raw).map(Role::as_str), Some(raw));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn only_managers_manage_numbers() {
        assert!(Role::AgencyOwner.manages_numbers());
        assert!(!Role::CallCenter.manages_numbers());
        assert!(!Role::TechSupport.manages_numbers());
    }
}
