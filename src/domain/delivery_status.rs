use std::fmt;

/// Where a reward's SMS is (`call_conditions_met.delivery_status`): queued, accepted by Twilio,
/// delivered, or failed. A condition without a card has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Queued in the outbox, not yet accepted by Twilio.
    Pending,
    /// Accepted by Twilio.
    Sent,
    Delivered,
    Failed,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown delivery status")]
pub struct DeliveryStatusError;

impl DeliveryStatus {
    pub const ALL: [Self; 4] = [Self::Pending, Self::Sent, Self::Delivered, Self::Failed];

    /// Parses a stored `delivery_status`.
    pub fn parse(raw: &str) -> Result<Self, DeliveryStatusError> {
        Ok(match raw {
            "pending" => Self::Pending,
            "sent" => Self::Sent,
            "delivered" => Self::Delivered,
            "failed" => Self::Failed,
            _ => return Err(DeliveryStatusError),
        })
    }

    /// The value stored in `call_conditions_met.delivery_status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips_and_others_are_refused() {
        for status in DeliveryStatus::ALL {
            assert_eq!(DeliveryStatus::parse(status.as_str()), Ok(status));
        }
        assert_eq!(DeliveryStatus::parse("queued"), Err(DeliveryStatusError));
    }
}
