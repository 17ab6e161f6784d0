//! How far back to look, as an operator writes it: `30m`, `2h`, `3d`, `1h30m`.

/// A positive span of time of at most [`LookBack::MAX_DAYS`] days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LookBack(chrono::Duration);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LookBackError {
    #[error("expected a duration such as 30m, 2h, 3d or 1h30m (units s, m, h, d, w)")]
    Malformed,
    #[error("must be longer than zero")]
    Zero,
    #[error(
        "must be at most {} days: Twilio keeps call logs for 13 months",
        LookBack::MAX_DAYS
    )]
    TooLong,
}

impl LookBack {
    /// Twilio's call log reaches back 13 months; a longer window could only read nothing.
    pub const MAX_DAYS: i64 = 400;

    /// Parses one or more `<digits><unit>` groups, units `s`, `m`, `h`, `d`, `w`.
    pub fn parse(raw: &str) -> Result<Self, LookBackError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(LookBackError::Malformed);
        }
        let mut seconds: i64 = 0;
        let mut digits = String::new();
        for c in raw.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let unit = match c {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                'w' => 7 * 86_400,
                _ => return Err(LookBackError::Malformed),
            };
            let count: i64 = digits.parse().map_err(|_| LookBackError::Malformed)?;
            digits.clear();
            seconds = count
                .checked_mul(unit)
                .and_then(|s| seconds.checked_add(s))
                .ok_or(LookBackError::TooLong)?;
        }
        if !digits.is_empty() {
            return Err(LookBackError::Malformed);
        }
        if seconds == 0 {
            return Err(LookBackError::Zero);
        }
        if seconds > Self::MAX_DAYS * 86_400 {
            return Err(LookBackError::TooLong);
        }
        Ok(Self(chrono::Duration::seconds(seconds)))
    }

    pub fn duration(self) -> chrono::Duration {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_hours_days_and_combinations_are_read() {
        for (raw, seconds) in [
            ("30m", 1800),
            ("2h", 7200),
            ("3d", 259_200),
            ("1w", 604_800),
            ("90s", 90),
            ("1h30m", 5400),
            (" 2h ", 7200),
        ] {
            assert_eq!(
                LookBack::parse(raw).map(|l| l.duration().num_seconds()),
                Ok(seconds),
                "{raw}"
            );
        }
    }

    #[test]
    fn anything_else_is_refused_with_a_reason() {
        for raw in ["", "2", "h", "2 h", "2H", "-2h", "1.5h", "2hours"] {
            assert_eq!(LookBack::parse(raw), Err(LookBackError::Malformed), "{raw}");
        }
        assert_eq!(LookBack::parse("0m"), Err(LookBackError::Zero));
        assert_eq!(LookBack::parse("401d"), Err(LookBackError::TooLong));
        assert_eq!(
            LookBack::parse("99999999999999999999w"),
            Err(LookBackError::Malformed)
        );
        assert_eq!(
            LookBack::parse("9999999999999999w"),
            Err(LookBackError::TooLong)
        );
    }
}
