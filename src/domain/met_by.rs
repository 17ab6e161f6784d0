use std::fmt;

/// What meets a campaign condition (`campaign_conditions.trigger_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TriggerType {
    /// An agent's mark, or the call itself when the condition has a talk-time rule.
    Call,
    /// The platform's CRM reporting an event of the condition's name.
    CrmEvent,
    /// A number of hours after the recipient's first answered call.
    TimeDelay,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown trigger type")]
pub struct TriggerTypeError;

impl TriggerType {
    pub fn parse(raw: &str) -> Result<Self, TriggerTypeError> {
        Ok(match raw {
            "call" => Self::Call,
            "crm_event" => Self::CrmEvent,
            "time_delay" => Self::TimeDelay,
            _ => return Err(TriggerTypeError),
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Call => "call",
            Self::CrmEvent => "crm_event",
            Self::TimeDelay => "time_delay",
        }
    }

    /// Whether an agent may mark it by hand; other kinds only by a manager's override.
    pub fn is_manual(self) -> bool {
        self == Self::Call
    }
}

/// Who met a condition (`call_conditions_met.met_by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetBy {
    /// A person: an agent's mark, or a manager's override.
    Agent,
    /// The call's talk time reached the condition's `auto_min_talk_seconds`.
    CallRule,
    CrmEvent,
    TimeDelay,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown met_by")]
pub struct MetByError;

impl MetBy {
    pub const ALL: [Self; 4] = [Self::Agent, Self::CallRule, Self::CrmEvent, Self::TimeDelay];

    pub fn parse(raw: &str) -> Result<Self, MetByError> {
        Ok(match raw {
            "agent" => Self::Agent,
            "call_rule" => Self::CallRule,
            "crm_event" => Self::CrmEvent,
            "time_delay" => Self::TimeDelay,
            _ => return Err(MetByError),
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::CallRule => "call_rule",
            Self::CrmEvent => "crm_event",
            Self::TimeDelay => "time_delay",
        }
    }
}

impl fmt::Display for MetBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_met_by_round_trips_and_others_are_refused() {
        for met_by in MetBy::ALL {
            assert_eq!(MetBy::parse(met_by.as_str()), Ok(met_by));
        }
        assert_eq!(MetBy::parse("robot"), Err(MetByError));
    }

    #[test]
    fn only_call_conditions_are_marked_by_hand() {
        for (raw, manual) in [("call", true), ("crm_event", false), ("time_delay", false)] {
            let trigger = TriggerType::parse(raw).unwrap();
            assert_eq!(trigger.as_str(), raw);
            assert_eq!(trigger.is_manual(), manual);
        }
        assert_eq!(TriggerType::parse("Call"), Err(TriggerTypeError));
    }
}
