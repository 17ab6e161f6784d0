use std::fmt;

/// Whether a call was matched to a recipient of the campaign (`call_sessions.match_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchStatus {
    Matched,
    Unmatched,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown match status")]
pub struct MatchStatusError;

impl MatchStatus {
    pub const ALL: [Self; 2] = [Self::Matched, Self::Unmatched];

    /// Parses a stored `match_status`.
    pub fn parse(raw: &str) -> Result<Self, MatchStatusError> {
        match raw {
            "matched" => Ok(Self::Matched),
            "unmatched" => Ok(Self::Unmatched),
            _ => Err(MatchStatusError),
        }
    }

    /// The value stored in `call_sessions.match_status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Matched => "matched",
            Self::Unmatched => "unmatched",
        }
    }
}

impl fmt::Display for MatchStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_statuses_round_trip_and_others_are_refused() {
        for status in MatchStatus::ALL {
            assert_eq!(MatchStatus::parse(status.as_str()), Ok(status));
        }
        assert_eq!(MatchStatus::parse("Matched"), Err(MatchStatusError));
    }
}
