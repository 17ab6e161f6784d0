use std::fmt;

/// What an outgoing webhook reports (the `type` of its body); an endpoint subscribes to some.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookEvent {
    /// A call session was created.
    CallStarted,
    /// A call ended and its outcome settled.
    CallCompleted,
    /// A recipient met one of the campaign's conditions.
    ConditionMet,
    /// The reward's SMS reached the handset.
    RewardDelivered,
    /// The reward's SMS failed for good.
    RewardFailed,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "unknown webhook event; one of call.started, call.completed, condition.met, reward.delivered, reward.failed"
)]
pub struct WebhookEventError;

impl WebhookEvent {
    /// Every event, in the contract's order (the migration's CHECK lists the same).
    pub const ALL: [Self; 5] = [
        Self::CallStarted,
        Self::CallCompleted,
        Self::ConditionMet,
        Self::RewardDelivered,
        Self::RewardFailed,
    ];

    /// Parses an event's name as the contract spells it (`call.completed`).
    pub fn parse(raw: &str) -> Result<Self, WebhookEventError> {
        Self::ALL
            .into_iter()
            .find(|event| event.as_str() == raw)
            .ok_or(WebhookEventError)
    }

    /// The name in bodies, subscriptions and `webhook_messages.event_type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CallStarted => "call.started",
            Self::CallCompleted => "call.completed",
            Self::ConditionMet => "condition.met",
            Self::RewardDelivered => "reward.delivered",
            Self::RewardFailed => "reward.failed",
        }
    }
}

impl fmt::Display for WebhookEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_round_trips_and_others_are_refused() {
        for event in WebhookEvent::ALL {
            assert_eq!(WebhookEvent::parse(event.as_str()), Ok(event));
        }
        assert_eq!(WebhookEvent::parse("call.Started"), Err(WebhookEventError));
        assert_eq!(WebhookEvent::parse("call"), Err(WebhookEventError));
    }
}
