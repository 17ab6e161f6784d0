//! A tracked number's weekly business hours: local wall-clock intervals in an IANA time zone.
//!
//! Accepted (and serialized) as
//! `{"timezone": "America/Chicago", "weekly": {"mon": [["08:00","17:00"]], "sat": [], ...}}`.

use std::fmt;

use chrono::{DateTime, Datelike as _, Timelike as _, Utc};
use chrono_tz::Tz;
use serde::ser::{SerializeMap as _, SerializeStruct as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// Day keys as the API spells them, Monday first (chrono's `num_days_from_monday` order).
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Minutes in a day; as an end it is `"24:00"`, midnight at the end of the day.
const MIDNIGHT_END: u16 = 24 * 60;

/// The longest piece of a client's string an error message repeats back.
const ECHO_LIMIT: usize = 40;

/// Weekly opening hours in one time zone.
///
/// Each day holds zero or more `[start, end)` intervals of local wall-clock time, in order and
/// not overlapping, none crossing midnight. A day with no interval is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessHours {
    timezone: Tz,
    weekly: [Vec<Interval>; 7],
}

/// `[start, end)` in minutes after local midnight; `start < end <= 1440`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Interval {
    start: u16,
    end: u16,
}

/// Why a business-hours object was refused; each message is meant for the API's user (a `400`).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BusinessHoursError {
    #[error(r#"business hours must be an object with "timezone" and "weekly""#)]
    NotAnObject,
    #[error(r#"unknown field {0:?} in business hours: expected "timezone" and "weekly""#)]
    UnknownField(String),
    #[error(r#""timezone" must be the name of an IANA time zone, such as "America/Chicago""#)]
    TimezoneMissing,
    #[error(r#"unknown time zone {0:?}: use an IANA name such as "America/Chicago""#)]
    UnknownTimezone(String),
    #[error(
        r#""weekly" must be an object of days ("mon" to "sun"), each a list of ["HH:MM", "HH:MM"] intervals"#
    )]
    WeeklyMissing,
    #[error(r#"unknown day {0:?}: days are "mon", "tue", "wed", "thu", "fri", "sat" and "sun""#)]
    UnknownDay(String),
    #[error(r#""{day}" must be a list of ["HH:MM", "HH:MM"] intervals, or [] when closed"#)]
    DayNotAList { day: &'static str },
    #[error(r#"interval {position} on "{day}" must be a pair of times such as ["08:00", "17:00"]"#)]
    NotAnInterval { day: &'static str, position: usize },
    #[error(
        r#"bad time {time:?} on "{day}": times are 24-hour "HH:MM" from "00:00" to "23:59", or "24:00" as an end"#
    )]
    BadTime { day: &'static str, time: String },
    #[error(r#""24:00" on "{day}" can only end an interval; a day starts at "00:00""#)]
    MidnightStart { day: &'static str },
    #[error(
        r#"interval {interval} on "{day}" ends where it starts; the end must be after the start"#
    )]
    Empty { day: &'static str, interval: String },
    #[error(
        r#"interval {start}-00:00 on "{day}" ends before it starts: write "24:00" to end at midnight"#
    )]
    ZeroEnd { day: &'static str, start: String },
    #[error(
        r#"interval {start}-{end} on "{day}" ends before it starts: an interval may not cross midnight, so split it into {start}-24:00 on "{day}" and 00:00-{end} on "{next_day}""#
    )]
    CrossesMidnight {
        day: &'static str,
        next_day: &'static str,
        start: String,
        end: String,
    },
    #[error(r#"intervals {first} and {second} on "{day}" overlap"#)]
    Overlap {
        day: &'static str,
        first: String,
        second: String,
    },
    #[error(r#"intervals on "{day}" are out of order: {earlier} must come before {later}"#)]
    OutOfOrder {
        day: &'static str,
        earlier: String,
        later: String,
    },
}

impl BusinessHours {
    /// Reads the API's JSON shape: `"timezone"` (an IANA name) and `"weekly"`, whose keys are
    /// `mon` .. `sun`, each a list of `["HH:MM", "HH:MM"]`; a missing day or `[]` is closed.
    ///
    /// Refuses unknown fields and days, times that are not 24-hour `HH:MM` (`"24:00"` only as an
    /// end), intervals that are empty, cross midnight, overlap or are out of order.
    pub fn parse(value: &Value) -> Result<Self, BusinessHoursError> {
        let object = value.as_object().ok_or(BusinessHoursError::NotAnObject)?;
        if let Some(unknown) = object.keys().find(|k| *k != "timezone" && *k != "weekly") {
            return Err(BusinessHoursError::UnknownField(echo(unknown)));
        }
        let timezone = match object.get("timezone") {
            Some(Value::String(name)) => name
                .parse::<Tz>()
                .map_err(|_| BusinessHoursError::UnknownTimezone(echo(name)))?,
            _ => return Err(BusinessHoursError::TimezoneMissing),
        };
        let days = object
            .get("weekly")
            .and_then(Value::as_object)
            .ok_or(BusinessHoursError::WeeklyMissing)?;
        if let Some(unknown) = days.keys().find(|k| !DAYS.contains(&k.as_str())) {
            return Err(BusinessHoursError::UnknownDay(echo(unknown)));
        }
        let mut weekly: [Vec<Interval>; 7] = Default::default();
        for ((index, day), intervals) in DAYS.iter().enumerate().zip(weekly.iter_mut()) {
            if let Some(raw) = days.get(*day) {
                *intervals = parse_day(day, DAYS[(index + 1) % 7], raw)?;
            }
        }
        Ok(Self { timezone, weekly })
    }

    /// The zone the intervals are read in.
    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// Whether `at`, seen on the zone's wall clock, falls in one of that weekday's intervals.
    ///
    /// Daylight-saving changes follow from reading the wall clock: a skipped local time never
    /// matches, and a repeated one matches both times it occurs.
    pub fn is_open_at(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.timezone);
        let minute = local.hour() * 60 + local.minute();
        let day = local.weekday().num_days_from_monday() as usize;
        self.weekly.get(day).is_some_and(|intervals| {
            intervals
                .iter()
                .any(|i| u32::from(i.start) <= minute && minute < u32::from(i.end))
        })
    }
}

fn parse_day(
    day: &'static str,
    next_day: &'static str,
    raw: &Value,
) -> Result<Vec<Interval>, BusinessHoursError> {
    let items = raw
        .as_array()
        .ok_or(BusinessHoursError::DayNotAList { day })?;
    let mut intervals = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let not_an_interval = BusinessHoursError::NotAnInterval {
            day,
            position: index + 1,
        };
        let Some([Value::String(start), Value::String(end)]) = item.as_array().map(Vec::as_slice)
        else {
            return Err(not_an_interval);
        };
        let start = parse_time(day, start)?;
        let end = parse_time(day, end)?;
        if start == MIDNIGHT_END {
            return Err(BusinessHoursError::MidnightStart { day });
        }
        if end == start {
            return Err(BusinessHoursError::Empty {
                day,
                interval: Interval { start, end }.to_string(),
            });
        }
        if end == 0 {
            return Err(BusinessHoursError::ZeroEnd {
                day,
                start: clock(start),
            });
        }
        if end < start {
            return Err(BusinessHoursError::CrossesMidnight {
                day,
                next_day,
                start: clock(start),
                end: clock(end),
            });
        }
        intervals.push(Interval { start, end });
    }
    // Overlaps are looked for in start order so that one is reported wherever it sits in the
    // list; only then is the order itself checked.
    let mut sorted = intervals.clone();
    sorted.sort_unstable();
    for pair in sorted.windows(2) {
        if let [first, second] = pair
            && second.start < first.end
        {
            return Err(BusinessHoursError::Overlap {
                day,
                first: first.to_string(),
                second: second.to_string(),
            });
        }
    }
    for pair in intervals.windows(2) {
        if let [earlier, later] = pair
            && later < earlier
        {
            return Err(BusinessHoursError::OutOfOrder {
                day,
                earlier: later.to_string(),
                later: earlier.to_string(),
            });
        }
    }
    Ok(intervals)
}

/// Minutes after midnight of a strict `HH:MM`, `00:00` to `24:00`.
fn parse_time(day: &'static str, raw: &str) -> Result<u16, BusinessHoursError> {
    let bad = || BusinessHoursError::BadTime {
        day,
        time: echo(raw),
    };
    let [h1, h2, b':', m1, m2] = raw.as_bytes() else {
        return Err(bad());
    };
    let digits = [*h1, *h2, *m1, *m2];
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let [h1, h2, m1, m2] = digits.map(|d| u16::from(d - b'0'));
    match (h1 * 10 + h2, m1 * 10 + m2) {
        (hour @ 0..=23, minute @ 0..=59) => Ok(hour * 60 + minute),
        (24, 0) => Ok(MIDNIGHT_END),
        _ => Err(bad()),
    }
}

/// `HH:MM` of minutes after midnight; 1440 is `24:00`.
fn clock(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// A client's string, cut short so a 400 never repeats a whole request body.
fn echo(raw: &str) -> String {
    match raw.char_indices().nth(ECHO_LIMIT) {
        Some((cut, _)) => format!("{}…", &raw[..cut]),
        None => raw.to_owned(),
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", clock(self.start), clock(self.end))
    }
}

/// The shape [`BusinessHours::parse`] reads, every day present (`[]` when closed), `mon` first.
impl Serialize for BusinessHours {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_struct("BusinessHours", 2)?;
        out.serialize_field("timezone", self.timezone.name())?;
        out.serialize_field("weekly", &Weekly(&self.weekly))?;
        out.end()
    }
}

struct Weekly<'a>(&'a [Vec<Interval>; 7]);

impl Serialize for Weekly<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_map(Some(DAYS.len()))?;
        for (day, intervals) in DAYS.iter().zip(self.0) {
            out.serialize_entry(day, intervals)?;
        }
        out.end()
    }
}

impl Serialize for Interval {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq([clock(self.start), clock(self.end)])
    }
}

/// Same rules and messages as [`BusinessHours::parse`].
impl<'de> Deserialize<'de> for BusinessHours {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Self::parse(&value).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn hours(value: Value) -> BusinessHours {
        BusinessHours::parse(&value).unwrap()
    }

    fn refused(value: Value) -> String {
        BusinessHours::parse(&value).unwrap_err().to_string()
    }

    fn utc(raw: &str) -> DateTime<Utc> {
        raw.parse().unwrap()
    }

    /// Every minute from `from` (inclusive) to `to` (exclusive) at which `hours` is open.
    fn open_minutes(hours: &BusinessHours, from: &str, to: &str) -> Vec<DateTime<Utc>> {
        let (mut at, to) = (utc(from), utc(to));
        let mut open = Vec::new();
        while at < to {
            if hours.is_open_at(at) {
                open.push(at);
            }
            at += chrono::Duration::minutes(1);
        }
        open
    }

    #[test]
    fn an_interval_is_open_from_its_start_up_to_but_not_including_its_end() {
        let hours = hours(json!({"timezone": "UTC", "weekly": {"mon": [["08:00", "17:00"]]}}));

        // 2026-01-05 is a Monday.
        assert!(!hours.is_open_at(utc("2026-01-05T07:59:59Z")));
        assert!(hours.is_open_at(utc("2026-01-05T08:00:00Z")));
        assert!(hours.is_open_at(utc("2026-01-05T16:59:59Z")));
        assert!(!hours.is_open_at(utc("2026-01-05T17:00:00Z")));
        assert!(!hours.is_open_at(utc("2026-01-06T08:00:00Z")));
        assert_eq!(hours.timezone(), Tz::UTC);
    }

    #[test]
    fn days_that_are_missing_or_empty_are_closed_all_day() {
        let hours =
            hours(json!({"timezone": "UTC", "weekly": {"mon": [], "tue": [["00:00", "24:00"]]}}));

        assert!(open_minutes(&hours, "2026-01-05T00:00:00Z", "2026-01-06T00:00:00Z").is_empty());
        assert_eq!(
            open_minutes(&hours, "2026-01-06T00:00:00Z", "2026-01-07T00:00:00Z").len(),
            24 * 60
        );
        assert!(open_minutes(&hours, "2026-01-07T00:00:00Z", "2026-01-12T00:00:00Z").is_empty());
    }

    #[test]
    fn several_intervals_in_a_day_leave_the_gaps_between_them_closed() {
        let hours = hours(json!({"timezone": "UTC", "weekly": {
            "tue": [["08:00", "12:00"], ["13:00", "17:00"]],
        }}));

        assert!(hours.is_open_at(utc("2026-01-06T11:59:00Z")));
        assert!(!hours.is_open_at(utc("2026-01-06T12:30:00Z")));
        assert!(hours.is_open_at(utc("2026-01-06T13:00:00Z")));
    }

    #[test]
    fn touching_intervals_are_accepted_and_leave_no_gap() {
        let hours = hours(json!({"timezone": "UTC", "weekly": {
            "mon": [["08:00", "12:00"], ["12:00", "17:00"]],
        }}));

        assert_eq!(
            open_minutes(&hours, "2026-01-05T00:00:00Z", "2026-01-06T00:00:00Z").len(),
            9 * 60
        );
    }

    #[test]
    fn the_weekday_is_the_one_on_the_local_calendar_not_in_utc() {
        let hours =
            hours(json!({"timezone": "America/Chicago", "weekly": {"fri": [["20:00", "23:00"]]}}));

        // Friday 2026-01-09 20:30 CST is Saturday 02:30 UTC.
        assert!(hours.is_open_at(utc("2026-01-10T02:30:00Z")));
        assert!(!hours.is_open_at(utc("2026-01-09T20:30:00Z")));
    }

    #[test]
    fn at_spring_forward_an_interval_inside_the_skipped_hour_never_matches() {
        // 2026-03-08 (a Sunday) America/Chicago goes from 02:00 CST straight to 03:00 CDT.
        let hours =
            hours(json!({"timezone": "America/Chicago", "weekly": {"sun": [["02:00", "02:30"]]}}));

        assert!(open_minutes(&hours, "2026-03-08T00:00:00Z", "2026-03-09T12:00:00Z").is_empty());
        // The week before and after, 02:00 exists and the interval opens.
        assert!(hours.is_open_at(utc("2026-03-01T08:00:00Z")));
        assert!(hours.is_open_at(utc("2026-03-15T07:00:00Z")));
    }

    #[test]
    fn at_spring_forward_an_interval_straddling_the_skipped_hour_is_open_for_its_real_part() {
        let hours =
            hours(json!({"timezone": "America/Chicago", "weekly": {"sun": [["01:30", "03:30"]]}}));

        // 01:30-02:00 CST is 07:30-08:00 UTC; 03:00-03:30 CDT is 08:00-08:30 UTC.
        let open = open_minutes(&hours, "2026-03-08T00:00:00Z", "2026-03-09T00:00:00Z");
        assert_eq!(open.len(), 60);
        assert_eq!(open.first(), Some(&utc("2026-03-08T07:30:00Z")));
        assert_eq!(open.last(), Some(&utc("2026-03-08T08:29:00Z")));
    }

    #[test]
    fn opening_hours_keep_to_local_time_across_spring_forward() {
        let hours = hours(json!({"timezone": "America/Chicago", "weekly": {
            "sat": [["08:00", "17:00"]],
            "sun": [["08:00", "17:00"]],
        }}));

        // Saturday, still CST (UTC-6): 08:00 local is 14:00 UTC.
        assert!(!hours.is_open_at(utc("2026-03-07T13:59:59Z")));
        assert!(hours.is_open_at(utc("2026-03-07T14:00:00Z")));
        assert!(hours.is_open_at(utc("2026-03-07T22:59:59Z")));
        assert!(!hours.is_open_at(utc("2026-03-07T23:00:00Z")));
        // Sunday, after the change, CDT (UTC-5): 08:00 local is 13:00 UTC.
        assert!(!hours.is_open_at(utc("2026-03-08T12:59:59Z")));
        assert!(hours.is_open_at(utc("2026-03-08T13:00:00Z")));
        assert!(hours.is_open_at(utc("2026-03-08T21:59:59Z")));
        assert!(!hours.is_open_at(utc("2026-03-08T22:00:00Z")));
    }

    #[test]
    fn at_fall_back_an_interval_in_the_repeated_hour_matches_both_occurrences() {
        // 2026-11-01 (a Sunday) America/Chicago runs 01:00-02:00 twice: CDT, then CST.
        let hours =
            hours(json!({"timezone": "America/Chicago", "weekly": {"sun": [["01:00", "01:30"]]}}));

        let open = open_minutes(&hours, "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z");
        assert_eq!(open.len(), 60);
        // 01:00 CDT is 06:00 UTC; 01:00 CST is 07:00 UTC.
        assert!(hours.is_open_at(utc("2026-11-01T06:00:00Z")));
        assert!(hours.is_open_at(utc("2026-11-01T06:29:59Z")));
        assert!(!hours.is_open_at(utc("2026-11-01T06:30:00Z")));
        assert!(hours.is_open_at(utc("2026-11-01T07:00:00Z")));
        assert!(hours.is_open_at(utc("2026-11-01T07:29:59Z")));
        assert!(!hours.is_open_at(utc("2026-11-01T07:30:00Z")));
    }

    #[test]
    fn opening_hours_keep_to_local_time_across_fall_back() {
        let hours = hours(json!({"timezone": "America/Chicago", "weekly": {
            "sat": [["08:00", "17:00"]],
            "sun": [["08:00", "17:00"]],
        }}));

        // Saturday CDT (UTC-5), Sunday CST (UTC-6).
        assert!(hours.is_open_at(utc("2026-10-31T13:00:00Z")));
        assert!(!hours.is_open_at(utc("2026-10-31T22:00:00Z")));
        assert!(!hours.is_open_at(utc("2026-11-01T13:59:59Z")));
        assert!(hours.is_open_at(utc("2026-11-01T14:00:00Z")));
        assert!(hours.is_open_at(utc("2026-11-01T22:59:59Z")));
        assert!(!hours.is_open_at(utc("2026-11-01T23:00:00Z")));
    }

    #[test]
    fn in_the_southern_hemisphere_summer_time_runs_over_the_new_year() {
        let hours =
            hours(json!({"timezone": "Australia/Sydney", "weekly": {"mon": [["09:00", "17:00"]]}}));

        // January is AEDT (UTC+11): Monday 2026-01-05 09:00 local is Sunday 22:00 UTC.
        assert!(!hours.is_open_at(utc("2026-01-04T21:59:59Z")));
        assert!(hours.is_open_at(utc("2026-01-04T22:00:00Z")));
        assert!(!hours.is_open_at(utc("2026-01-05T06:00:00Z")));
        // July is AEST (UTC+10): Monday 2026-07-06 09:00 local is Sunday 23:00 UTC.
        assert!(!hours.is_open_at(utc("2026-07-05T22:59:59Z")));
        assert!(hours.is_open_at(utc("2026-07-05T23:00:00Z")));
        assert!(hours.is_open_at(utc("2026-07-06T06:59:59Z")));
        assert!(!hours.is_open_at(utc("2026-07-06T07:00:00Z")));
    }

    #[test]
    fn in_sydney_the_april_change_repeats_an_hour_and_the_october_change_skips_one() {
        let hours =
            hours(json!({"timezone": "Australia/Sydney", "weekly": {"sun": [["02:00", "02:30"]]}}));

        // 2026-04-05 03:00 AEDT falls back to 02:00 AEST: 02:00 AEDT is 15:00 UTC (Saturday),
        // 02:00 AEST is 16:00 UTC.
        let april = open_minutes(&hours, "2026-04-04T12:00:00Z", "2026-04-05T12:00:00Z");
        assert_eq!(april.len(), 60);
        assert!(hours.is_open_at(utc("2026-04-04T15:00:00Z")));
        assert!(hours.is_open_at(utc("2026-04-04T16:00:00Z")));
        // 2026-10-04 02:00 AEST springs forward to 03:00 AEDT.
        assert!(open_minutes(&hours, "2026-10-03T12:00:00Z", "2026-10-04T12:00:00Z").is_empty());
    }

    #[test]
    fn a_half_hour_offset_shifts_the_opening_by_its_half_hour() {
        let kolkata =
            hours(json!({"timezone": "Asia/Kolkata", "weekly": {"mon": [["09:00", "17:30"]]}}));

        // IST is UTC+05:30 all year: 09:00 is 03:30 UTC, 17:30 is 12:00 UTC.
        assert!(!kolkata.is_open_at(utc("2026-01-05T03:29:59Z")));
        assert!(kolkata.is_open_at(utc("2026-01-05T03:30:00Z")));
        assert!(kolkata.is_open_at(utc("2026-07-06T11:59:59Z")));
        assert!(!kolkata.is_open_at(utc("2026-07-06T12:00:00Z")));

        let adelaide = hours(
            json!({"timezone": "Australia/Adelaide", "weekly": {"mon": [["09:00", "17:00"]]}}),
        );
        // ACDT (UTC+10:30) in January, ACST (UTC+09:30) in July.
        assert!(!adelaide.is_open_at(utc("2026-01-04T22:29:59Z")));
        assert!(adelaide.is_open_at(utc("2026-01-04T22:30:00Z")));
        assert!(!adelaide.is_open_at(utc("2026-07-05T23:29:59Z")));
        assert!(adelaide.is_open_at(utc("2026-07-05T23:30:00Z")));
    }

    #[test]
    fn an_end_of_24_00_stays_open_to_midnight_and_no_further() {
        let evening =
            hours(json!({"timezone": "America/Chicago", "weekly": {"fri": [["18:00", "24:00"]]}}));

        // Friday 2026-01-09 23:59:59 CST is 05:59:59 UTC Saturday; midnight is 06:00 UTC.
        assert!(evening.is_open_at(utc("2026-01-10T05:59:59Z")));
        assert!(!evening.is_open_at(utc("2026-01-10T06:00:00Z")));

        let overnight = hours(json!({"timezone": "America/Chicago", "weekly": {
            "fri": [["18:00", "24:00"]],
            "sat": [["00:00", "02:00"]],
        }}));
        let open = open_minutes(&overnight, "2026-01-09T12:00:00Z", "2026-01-10T12:00:00Z");
        assert_eq!(open.len(), 8 * 60);
        assert!(overnight.is_open_at(utc("2026-01-10T06:00:00Z")));
        assert!(!overnight.is_open_at(utc("2026-01-10T08:00:00Z")));
    }

    #[test]
    fn it_serializes_back_to_the_shape_it_reads_with_every_day_present() {
        let input = json!({"timezone": "America/Chicago", "weekly": {
            "tue": [["08:00", "12:00"], ["13:00", "17:00"]],
            "mon": [["08:00", "17:00"]],
            "fri": [["18:00", "24:00"]],
            "sat": [],
        }});
        let hours = hours(input);

        let text = serde_json::to_string(&hours).unwrap();

        assert_eq!(
            text,
            r#"{"timezone":"America/Chicago","weekly":{"mon":[["08:00","17:00"]],"tue":[["08:00","12:00"],["13:00","17:00"]],"wed":[],"thu":[],"fri":[["18:00","24:00"]],"sat":[],"sun":[]}}"#
        );
        let back: BusinessHours = serde_json::from_str(&text).unwrap();
        assert_eq!(back, hours);
        assert_eq!(
            BusinessHours::parse(&serde_json::to_value(&hours).unwrap()),
            Ok(hours)
        );
    }

    #[test]
    fn deserializing_applies_the_same_rules_and_messages_as_parse() {
        let err = serde_json::from_str::<BusinessHours>(
            r#"{"timezone": "America/Chicgo", "weekly": {}}"#,
        )
        .unwrap_err();

        assert_eq!(
            err.to_string(),
            r#"unknown time zone "America/Chicgo": use an IANA name such as "America/Chicago""#
        );
    }

    #[test]
    fn a_week_with_no_days_is_accepted_as_always_closed() {
        let hours = hours(json!({"timezone": "Europe/London", "weekly": {}}));

        assert!(open_minutes(&hours, "2026-01-05T00:00:00Z", "2026-01-12T00:00:00Z").is_empty());
    }

    #[test]
    fn an_unknown_or_missing_time_zone_is_refused_by_name() {
        assert_eq!(
            refused(json!({"timezone": "America/Chicgo", "weekly": {}})),
            r#"unknown time zone "America/Chicgo": use an IANA name such as "America/Chicago""#
        );
        assert_eq!(
            refused(json!({"timezone": "america/chicago", "weekly": {}})),
            r#"unknown time zone "america/chicago": use an IANA name such as "America/Chicago""#
        );
        assert_eq!(
            refused(json!({"weekly": {}})),
            r#""timezone" must be the name of an IANA time zone, such as "America/Chicago""#
        );
        assert_eq!(
            BusinessHours::parse(&json!({"timezone": -6, "weekly": {}})),
            Err(BusinessHoursError::TimezoneMissing)
        );
    }

    #[test]
    fn a_long_unknown_value_is_cut_short_in_the_message() {
        let long = "X".repeat(10_000);

        let message = refused(json!({"timezone": long, "weekly": {}}));

        assert!(message.len() < 200, "{message}");
        assert!(message.contains("XXXX…"), "{message}");
    }

    #[test]
    fn an_unknown_day_or_field_is_refused_by_name() {
        assert_eq!(
            refused(json!({"timezone": "UTC", "weekly": {"monday": [["08:00", "17:00"]]}})),
            r#"unknown day "monday": days are "mon", "tue", "wed", "thu", "fri", "sat" and "sun""#
        );
        assert_eq!(
            refused(json!({"timezone": "UTC", "weekly": {}, "timzone": "UTC"})),
            r#"unknown field "timzone" in business hours: expected "timezone" and "weekly""#
        );
        assert_eq!(
            refused(json!({"timezone": "UTC"})),
            r#""weekly" must be an object of days ("mon" to "sun"), each a list of ["HH:MM", "HH:MM"] intervals"#
        );
        assert_eq!(
            refused(json!(["UTC"])),
            r#"business hours must be an object with "timezone" and "weekly""#
        );
    }

    #[test]
    fn a_day_or_interval_of_the_wrong_shape_is_refused_with_its_place() {
        assert_eq!(
            refused(json!({"timezone": "UTC", "weekly": {"wed": "08:00-17:00"}})),
            r#""wed" must be a list of ["HH:MM", "HH:MM"] intervals, or [] when closed"#
        );
        assert_eq!(
            refused(json!({"timezone": "UTC", "weekly": {"wed": [["08:00", "12:00"], ["13:00"]]}})),
            r#"interval 2 on "wed" must be a pair of times such as ["08:00", "17:00"]"#
        );
        for bad in [
            json!(["08:00", 17]),
            json!(["08:00", "12:00", "17:00"]),
            json!("08:00"),
        ] {
            assert_eq!(
                BusinessHours::parse(&json!({"timezone": "UTC", "weekly": {"thu": [bad]}})),
                Err(BusinessHoursError::NotAnInterval {
                    day: "thu",
                    position: 1
                })
            );
        }
    }

    #[test]
    fn a_time_that_is_not_24_hour_hh_mm_is_refused_with_its_day() {
        assert_eq!(
            refused(json!({"timezone": "UTC", "weekly": {"mon": [["08:00", "25:00"]]}})),
            r#"bad time "25:00" on "mon": times are 24-hour "HH:MM" from "00:00" to "23:59", or "24:00" as an end"#
        );
        for time in [
            "8:00",
            "08:60",
            "24:01",
            "08.00",
            "0800",
            "08:00:00",
            "+8:00",
            "",
            "０８:00",
        ] {
            assert_eq!(
                BusinessHours::parse(
                    &json!({"timezone": "UTC", "weekly": {"mon": [[time, "17:00"]]}})
                ),
                Err(BusinessHoursError::BadTime {
                    day: "mon",
                    time: time.to_owned()
                }),
                "{time}"
            );
        }
        assert_eq!(
            refused(json!({"timezone": "UTC", "weekly": {"sun": [["24:00", "24:00"]]}})),
            r#""24:00" on "sun" can only end an interval; a day starts at "00:00""#
        );
    }

    #[test]
    fn an_interval_must_end_after_it_starts_and_may_not_cross_midnight() {
        assert_eq!(
            refused(json!({"timezone": "UTC", "weekly": {"fri": [["22:00", "02:00"]]}})),
            r#"interval 22:00-02:00 on "fri" ends before it starts: an interval may not cross midnight, so split it into 22:00-24:00 on "fri" and 00:00-02:00 on "sat""#
        );
        assert_eq!(
            refused(json!({"timezone": "UTC", "weekly": {"sun": [["22:00", "01:00"]]}})),
            r#"interval 22:00-01:00 on "sun" ends before it starts: an interval may not cross midnight, so split it into 22:00-24:00 on "sun" and 00:00-01:00 on "mon""#
        );
        assert_eq!(
            refused(json!({"timezone": "UTC", "weekly": {"fri": [["18:00", "00:00"]]}})),
            r#"interval 18:00-00:00 on "fri" ends before it starts: write "24:00" to end at midnight"#
        );
        assert_eq!(
            refused(json!({"timezone": "UTC", "weekly": {"mon": [["09:00", "09:00"]]}})),
            r#"interval 09:00-09:00 on "mon" ends where it starts; the end must be after the start"#
        );
    }

    #[test]
    fn overlapping_or_unordered_intervals_in_a_day_are_refused() {
        assert_eq!(
            refused(
                json!({"timezone": "UTC", "weekly": {"tue": [["08:00", "12:00"], ["11:00", "17:00"]]}})
            ),
            r#"intervals 08:00-12:00 and 11:00-17:00 on "tue" overlap"#
        );
        // Found even when the two are not next to each other in the list.
        assert_eq!(
            refused(json!({"timezone": "UTC", "weekly": {"tue": [
                ["08:00", "10:00"], ["14:00", "16:00"], ["09:00", "09:30"],
            ]}})),
            r#"intervals 08:00-10:00 and 09:00-09:30 on "tue" overlap"#
        );
        assert_eq!(
            refused(
                json!({"timezone": "UTC", "weekly": {"tue": [["13:00", "17:00"], ["08:00", "12:00"]]}})
            ),
            r#"intervals on "tue" are out of order: 08:00-12:00 must come before 13:00-17:00"#
        );
    }

    /// Etc/GMT+5 is UTC-05:00: the `Etc/` names keep POSIX's inverted sign.
    const ETC_GMT_PLUS_5_OFFSET: i64 = -5 * 3600;

    /// A day's sorted, disjoint intervals in minutes, drawn so 00:00 and 24:00 come up often.
    fn day_intervals() -> impl Strategy<Value = Vec<(u16, u16)>> {
        let boundary =
            prop_oneof![1 => Just(0u16), 1 => Just(MIDNIGHT_END), 6 => 0u16..=MIDNIGHT_END];
        prop::collection::btree_set(boundary, 0..8).prop_map(|set| {
            let points: Vec<u16> = set.into_iter().collect();
            points.chunks_exact(2).map(|p| (p[0], p[1])).collect()
        })
    }

    fn week() -> impl Strategy<Value = Vec<Vec<(u16, u16)>>> {
        prop::collection::vec(day_intervals(), 7)
    }

    fn week_json(timezone: &str, week: &[Vec<(u16, u16)>]) -> Value {
        let weekly: serde_json::Map<String, Value> = DAYS
            .iter()
            .zip(week)
            .map(|(day, intervals)| {
                let list = intervals
                    .iter()
                    .map(|(s, e)| json!([clock(*s), clock(*e)]))
                    .collect();
                ((*day).to_owned(), Value::Array(list))
            })
            .collect();
        json!({"timezone": timezone, "weekly": weekly})
    }

    /// Open or not, by plain arithmetic on Unix seconds at a fixed offset; no chrono involved.
    fn reference_is_open(week: &[Vec<(u16, u16)>], offset_seconds: i64, unix: i64) -> bool {
        let local = unix + offset_seconds;
        // 1970-01-01 was a Thursday, day 3 counting from Monday.
        let weekday = (local.div_euclid(86_400) + 3).rem_euclid(7) as usize;
        let minute = local.rem_euclid(86_400) / 60;
        week[weekday]
            .iter()
            .any(|(start, end)| i64::from(*start) <= minute && minute < i64::from(*end))
    }

    /// Instants anywhere in 1900-2100, and instants a second either side of a boundary.
    fn instant(week: &[Vec<(u16, u16)>]) -> impl Strategy<Value = i64> + use<> {
        let mut minutes: Vec<i64> = week
            .iter()
            .flatten()
            .flat_map(|(s, e)| [i64::from(*s), i64::from(*e)])
            .collect();
        minutes.push(0);
        let near_boundary = (-25_000i64..47_000, prop::sample::select(minutes), -1i64..=1)
            .prop_map(|(day, minute, nudge)| {
                day * 86_400 + minute * 60 + nudge - ETC_GMT_PLUS_5_OFFSET
            });
        prop_oneof![-2_208_988_800i64..4_102_444_800, near_boundary]
    }

    proptest! {
        #[test]
        fn in_a_fixed_offset_zone_is_open_at_agrees_with_plain_arithmetic(
            (week, instants) in week().prop_flat_map(|week| {
                let instants = prop::collection::vec(instant(&week), 32);
                (Just(week), instants)
            })
        ) {
            let hours = BusinessHours::parse(&week_json("Etc/GMT+5", &week)).unwrap();
            for unix in instants {
                let at = DateTime::from_timestamp(unix, 0).unwrap();
                prop_assert_eq!(
                    hours.is_open_at(at),
                    reference_is_open(&week, ETC_GMT_PLUS_5_OFFSET, unix),
                    "at {}", at
                );
            }
        }

        #[test]
        fn any_valid_week_survives_a_serialize_and_parse_round_trip(week in week()) {
            let hours = BusinessHours::parse(&week_json("Australia/Adelaide", &week)).unwrap();

            let text = serde_json::to_string(&hours).unwrap();

            prop_assert_eq!(serde_json::from_str::<BusinessHours>(&text).unwrap(), hours);
        }
    }
}
