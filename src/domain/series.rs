//! The window of a chart's time series: whole buckets (days or hours) between two instants,
//! at most [`MAX_BUCKETS`] of them.

use chrono::{DateTime, Duration, Utc};

use super::TimeRange;

/// A chart never needs more points than a month of hours or two years of days; a bigger
/// request is a mistake or a scan of everything, and is refused.
pub const MAX_BUCKETS: i64 = 744;

/// How long one point of a series covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Day,
    Hour,
}

impl Bucket {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "day" => Some(Self::Day),
            "hour" => Some(Self::Hour),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Hour => "hour",
        }
    }

    /// The bucket's length. Buckets are in UTC, where every day has 24 hours; a client's
    /// own time zone would need calendar arithmetic here.
    pub fn length(self) -> Duration {
        match self {
            Self::Day => Duration::days(1),
            Self::Hour => Duration::hours(1),
        }
    }

    /// How many buckets a window shows when the caller gives no start.
    fn default_count(self) -> i32 {
        match self {
            Self::Day => 30,
            Self::Hour => 48,
        }
    }
}

/// `[from, to)` rounded out to whole buckets: `from` down to its bucket's start, `to` up to
/// the end of its bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesWindow {
    bucket: Bucket,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SeriesError {
    #[error("bucket must be day or hour")]
    UnknownBucket,
    #[error(
        "the window holds {buckets} {unit} buckets; at most {MAX_BUCKETS} fit in one series: narrow from and to, or use bucket=day"
    )]
    TooManyBuckets { buckets: i64, unit: &'static str },
}

impl SeriesWindow {
    /// Rounds `range` out to whole buckets. A missing `to` is the end of the current bucket
    /// (`now`'s); a missing `from` the default number of buckets before `to`.
    pub fn parse(
        range: TimeRange,
        bucket: Bucket,
        now: DateTime<Utc>,
    ) -> Result<Self, SeriesError> {
        let length = bucket.length();
        // By whole seconds, not chrono's `duration_trunc`, which works in nanoseconds and so
        // gives up outside the years 1677 to 2262.
        let seconds = length.num_seconds();
        let floor = |at: DateTime<Utc>| {
            let secs = at.timestamp();
            DateTime::from_timestamp(secs - secs.rem_euclid(seconds), 0).unwrap_or(at)
        };
        let ceil = |at: DateTime<Utc>| {
            let start = floor(at);
            if start == at { at } else { start + length }
        };
        let to = ceil(range.to().unwrap_or(now + Duration::nanoseconds(1)));
        let from = range
            .from()
            .map(floor)
            .unwrap_or_else(|| to - length * bucket.default_count());
        let buckets = (to - from).num_seconds() / seconds;
        if buckets > MAX_BUCKETS {
            return Err(SeriesError::TooManyBuckets {
                buckets,
                unit: bucket.as_str(),
            });
        }
        Ok(Self { bucket, from, to })
    }

    pub fn bucket(&self) -> Bucket {
        self.bucket
    }

    pub fn from(&self) -> DateTime<Utc> {
        self.from
    }

    pub fn to(&self) -> DateTime<Utc> {
        self.to
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(raw: &str) -> DateTime<Utc> {
        raw.parse().unwrap()
    }

    fn window(
        from: Option<&str>,
        to: Option<&str>,
        bucket: Bucket,
    ) -> Result<SeriesWindow, SeriesError> {
        let range = TimeRange::parse(from.map(at), to.map(at)).unwrap();
        SeriesWindow::parse(range, bucket, at("2026-03-10T15:20:00Z"))
    }

    #[test]
    fn a_window_is_rounded_out_to_whole_buckets() {
        let w = window(
            Some("2026-03-01T10:30:00Z"),
            Some("2026-03-03T00:00:01Z"),
            Bucket::Day,
        )
        .unwrap();
        assert_eq!(
            (w.from(), w.to()),
            (at("2026-03-01T00:00:00Z"), at("2026-03-04T00:00:00Z"))
        );
        let w = window(
            Some("2026-03-01T10:30:00Z"),
            Some("2026-03-01T12:00:00Z"),
            Bucket::Hour,
        )
        .unwrap();
        assert_eq!(
            (w.from(), w.to()),
            (at("2026-03-01T10:00:00Z"), at("2026-03-01T12:00:00Z"))
        );
    }

    #[test]
    fn without_ends_the_window_ends_with_the_current_bucket() {
        let w = window(None, None, Bucket::Day).unwrap();
        assert_eq!(
            (w.from(), w.to()),
            (at("2026-02-09T00:00:00Z"), at("2026-03-11T00:00:00Z"))
        );
        let w = window(None, None, Bucket::Hour).unwrap();
        assert_eq!(w.to(), at("2026-03-10T16:00:00Z"));
        assert_eq!(w.to() - w.from(), Duration::hours(48));
    }

    #[test]
    fn more_buckets_than_the_cap_are_refused() {
        assert!(
            window(
                Some("2026-01-01T00:00:00Z"),
                Some("2026-02-01T00:00:00Z"),
                Bucket::Hour
            )
            .is_ok()
        );
        assert_eq!(
            window(
                Some("2026-01-01T00:00:00Z"),
                Some("2026-02-01T01:00:00Z"),
                Bucket::Hour
            ),
            Err(SeriesError::TooManyBuckets {
                buckets: 745,
                unit: "hour"
            })
        );
        assert!(window(Some("0001-01-01T00:00:00Z"), None, Bucket::Day).is_err());
        assert_eq!(Bucket::parse("week"), None);
    }
}
