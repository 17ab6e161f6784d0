use std::fmt;

/// What a call came to for the business, settled by the database from the callbacks in any
/// order (`call_sessions.call_outcome`); a live call has none yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallOutcome {
    /// A person at the business took the call.
    Answered,
    /// The business did not take it: it rang out, was busy or failed, or a screened call was
    /// not accepted.
    Missed,
    /// The caller left a message in calltrack's voicemail.
    Voicemail,
    /// The caller hung up before the business answered.
    Abandoned,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown call outcome")]
pub struct CallOutcomeError;

impl CallOutcome {
    /// Every outcome, in the order the stored values are listed.
    pub const ALL: [Self; 4] = [
        Self::Answered,
        Self::Missed,
        Self::Voicemail,
        Self::Abandoned,
    ];

    /// Parses a stored `call_outcome`.
    pub fn parse(raw: &str) -> Result<Self, CallOutcomeError> {
        Ok(match raw {
            "answered" => Self::Answered,
            "missed" => Self::Missed,
            "voicemail" => Self::Voicemail,
            "abandoned" => Self::Abandoned,
            _ => return Err(CallOutcomeError),
        })
    }

    /// The value stored in `call_sessions.call_outcome`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::Missed => "missed",
            Self::Voicemail => "voicemail",
            Self::Abandoned => "abandoned",
        }
    }
}

impl fmt::Display for CallOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_round_trips_and_others_are_refused() {
        for outcome in CallOutcome::ALL {
            assert_eq!(CallOutcome::parse(outcome.as_str()), Ok(outcome));
        }
        assert_eq!(CallOutcome::parse("Answered"), Err(CallOutcomeError));
        assert_eq!(CallOutcome::parse("completed"), Err(CallOutcomeError));
    }
}
