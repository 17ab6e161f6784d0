//! A window of time given by a client, checked to be one PostgreSQL can hold.

use chrono::{DateTime, Datelike as _, Utc};

/// `[from, to)`, either end open; both ends within years 1 to 9999.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TimeRangeError {
    #[error("{0} must be between the years 1 and 9999")]
    OutOfRange(&'static str),
    #[error("from must not be after to")]
    Reversed,
}

impl TimeRange {
    pub fn parse(
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Self, TimeRangeError> {
        let in_range = |at: &DateTime<Utc>| (1..=9999).contains(&at.year());
        if from.as_ref().is_some_and(|f| !in_range(f)) {
            return Err(TimeRangeError::OutOfRange("from"));
        }
        if to.as_ref().is_some_and(|t| !in_range(t)) {
            return Err(TimeRangeError::OutOfRange("to"));
        }
        if let (Some(from), Some(to)) = (from, to)
            && from > to
        {
            return Err(TimeRangeError::Reversed);
        }
        Ok(Self { from, to })
    }

    pub fn from(&self) -> Option<DateTime<Utc>> {
        self.from
    }

    pub fn to(&self) -> Option<DateTime<Utc>> {
        self.to
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(raw: &str) -> Option<DateTime<Utc>> {
        // As serde reads a query value: FromStr, which takes signed years too.
        Some(raw.parse::<DateTime<Utc>>().unwrap())
    }

    #[test]
    fn dates_postgres_cannot_hold_and_reversed_ranges_are_refused() {
        assert_eq!(
            TimeRange::parse(at("-4713-01-01T00:00:00Z"), None),
            Err(TimeRangeError::OutOfRange("from"))
        );
        assert_eq!(
            TimeRange::parse(
                None,
                chrono::NaiveDate::from_ymd_opt(10_000, 1, 1)
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map(|d| d.and_utc())
            ),
            Err(TimeRangeError::OutOfRange("to"))
        );
        assert_eq!(
            TimeRange::parse(at("2026-02-01T00:00:00Z"), at("2026-01-01T00:00:00Z")),
            Err(TimeRangeError::Reversed)
        );
        assert!(TimeRange::parse(at("2026-01-01T00:00:00Z"), at("2026-02-01T00:00:00Z")).is_ok());
        assert!(TimeRange::parse(None, None).is_ok());
    }
}
