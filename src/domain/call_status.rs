use std::fmt;

/// A call's progress as Twilio reports it. Statuses only move forward: see [`StatusRank`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallStatus {
    Queued,
    Initiated,
    Ringing,
    InProgress,
    Completed,
    Busy,
    NoAnswer,
    Failed,
    Canceled,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown call status")]
pub struct CallStatusError;

/// Where a status sits on the one-way road `initiated → ringing → in-progress → terminal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct StatusRank(i16);

impl StatusRank {
    pub fn value(self) -> i16 {
        self.0
    }
}

impl CallStatus {
    /// Every value `call_sessions.call_status` may hold, in the order a call moves through them.
    pub const STORED: [&'static str; 8] = [
        "initiated",
        "ringing",
        "in-progress",
        "completed",
        "busy",
        "no-answer",
        "failed",
        "canceled",
    ];

    /// Parses Twilio's `CallStatus` (and `DialCallStatus`, whose `answered` means the
    /// forwarded leg was picked up).
    pub fn parse(raw: &str) -> Result<Self, CallStatusError> {
        Ok(match raw {
            "queued" => Self::Queued,
            "initiated" => Self::Initiated,
            "ringing" => Self::Ringing,
            "in-progress" | "answered" => Self::InProgress,
            "completed" => Self::Completed,
            "busy" => Self::Busy,
            "no-answer" => Self::NoAnswer,
            "failed" => Self::Failed,
            "canceled" => Self::Canceled,
            _ => return Err(CallStatusError),
        })
    }

    /// Parses a stored `call_sessions.call_status`: only the values of [`Self::STORED`], so
    /// Twilio's words that are never stored (`queued`, `answered`) are refused here.
    pub fn parse_stored(raw: &str) -> Result<Self, CallStatusError> {
        if Self::STORED.contains(&raw) {
            Self::parse(raw)
        } else {
            Err(CallStatusError)
        }
    }

    /// The value stored in `call_sessions.call_status`; `queued` is stored as `initiated`
    /// because the platform's schema has no queued state.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued | Self::Initiated => "initiated",
            Self::Ringing => "ringing",
            Self::InProgress => "in-progress",
            Self::Completed => "completed",
            Self::Busy => "busy",
            Self::NoAnswer => "no-answer",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
        }
    }

    pub fn rank(self) -> StatusRank {
        StatusRank(match self {
            Self::Queued | Self::Initiated => 1,
            Self::Ringing => 2,
            Self::InProgress => 3,
            _ => 4,
        })
    }

    pub fn is_terminal(self) -> bool {
        self.rank() == StatusRank(4)
    }

    /// Terminal statuses that mean nobody talked: busy, no-answer, failed, canceled.
    pub fn is_missed(self) -> bool {
        matches!(
            self,
            Self::Busy | Self::NoAnswer | Self::Failed | Self::Canceled
        )
    }
}

impl fmt::Display for CallStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of a `<Dial>` as its action callback reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DialOutcome {
    pub status: CallStatus,
    pub talk_seconds: Option<i32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_only_grow_along_the_call() {
        let road = ["initiated", "ringing", "in-progress", "completed"];
        let ranks: Vec<_> = road
            .iter()
            .map(|s| CallStatus::parse(s).unwrap().rank())
            .collect();
        assert!(ranks.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn every_terminal_status_shares_the_last_rank() {
        for s in ["completed", "busy", "no-answer", "failed", "canceled"] {
            assert!(CallStatus::parse(s).unwrap().is_terminal(), "{s}");
        }
        assert!(!CallStatus::Completed.is_missed());
        assert!(CallStatus::NoAnswer.is_missed());
    }

    #[test]
    fn dial_answered_counts_as_in_progress_and_garbage_is_refused() {
        assert_eq!(CallStatus::parse("answered"), Ok(CallStatus::InProgress));
        assert_eq!(CallStatus::parse("Completed"), Err(CallStatusError));
    }

    #[test]
    fn stored_values_round_trip_and_twilio_only_words_are_refused() {
        for stored in CallStatus::STORED {
            assert_eq!(
                CallStatus::parse_stored(stored).map(CallStatus::as_str),
                Ok(stored)
            );
        }
        assert_eq!(CallStatus::parse_stored("queued"), Err(CallStatusError));
        assert_eq!(CallStatus::parse_stored("answered"), Err(CallStatusError));
    }
}
