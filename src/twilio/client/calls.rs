//! Twilio's Call resource, read for reconciliation: the calls to a number since a date, and
//! the forwarded legs of one call, every page of them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;

use super::{TwilioClient, TwilioError, send};
use crate::domain::{CallSid, CallStatus, CallerId, E164};
use crate::twilio::payloads::{StatusCallback, VoiceRequest};

/// Calls asked for in one page (Twilio allows up to 1000).
const PAGE_SIZE: &str = "100";

/// Pages followed for one listing before it stops with a warning: 100,000 calls.
pub const MAX_PAGES: usize = 1000;

/// Which calls to list. Both filters are optional; Twilio applies them together.
#[derive(Debug, Clone, Default)]
pub struct CallFilter<'a> {
    /// Calls to this number (`To`).
    pub to: Option<&'a E164>,
    /// The child legs of this call (`ParentCallSid`).
    pub parent_call_sid: Option<&'a CallSid>,
    /// Calls that started on this UTC date or later (`StartTime>`). Twilio compares dates
    /// only, so callers filter the exact time themselves.
    pub started_on_or_after: Option<NaiveDate>,
}

/// Which way a call went, as Twilio's `direction` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallDirection {
    /// Someone called one of the account's numbers.
    Inbound,
    /// Created through the REST API.
    OutboundApi,
    /// A leg created by `<Dial>`: the forwarded leg of an inbound call.
    OutboundDial,
    /// A direction Twilio may add later.
    Other,
}

impl CallDirection {
    fn parse(raw: &str) -> Self {
        match raw {
            "inbound" => Self::Inbound,
            "outbound-api" => Self::OutboundApi,
            "outbound-dial" => Self::OutboundDial,
            _ => Self::Other,
        }
    }
}

/// One call as Twilio's log holds it, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    pub sid: CallSid,
    pub parent_call_sid: Option<CallSid>,
    /// `None` when the call went to something that is not a phone number (a SIP URI, a client).
    pub to: Option<E164>,
    pub caller: CallerId,
    /// `from` as Twilio sent it.
    pub raw_from: String,
    pub status: CallStatus,
    pub direction: CallDirection,
    /// When the call started; Twilio's `date_created` when it gives no `start_time` yet.
    pub start_time: DateTime<Utc>,
    pub end_time: Option<DateTime<Utc>>,
    /// Seconds; Twilio reports it once the call has ended.
    pub duration_seconds: Option<i32>,
}

/// Why a listed call could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
enum UnreadableCall {
    #[error("the call is not in Twilio's call shape")]
    Shape,
    #[error("invalid {0}")]
    Invalid(&'static str),
    #[error("no start_time or date_created")]
    Undated,
}

/// A call of a listing, as Twilio writes it; every field is a string or null.
#[derive(Deserialize)]
struct ListedCall {
    sid: String,
    parent_call_sid: Option<String>,
    to: Option<String>,
    from: Option<String>,
    status: String,
    direction: Option<String>,
    start_time: Option<String>,
    end_time: Option<String>,
    date_created: Option<String>,
    duration: Option<String>,
}

/// One page of a listing. The calls stay JSON until each is read, so that one odd call is
/// skipped rather than failing the page.
#[derive(Deserialize)]
struct CallPage {
    calls: Vec<serde_json::Value>,
    next_page_uri: Option<String>,
}

/// Twilio's dates are RFC 2822 (`Tue, 01 Dec 2026 10:02:17 +0000`).
fn rfc2822(raw: Option<&str>) -> Option<DateTime<Utc>> {
    raw.and_then(|t| DateTime::parse_from_rfc2822(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

impl CallRecord {
    /// Reads one listed call; see [`UnreadableCall`] for what is refused.
    fn from_listed(value: serde_json::Value) -> Result<Self, UnreadableCall> {
        let call: ListedCall = serde_json::from_value(value).map_err(|_| UnreadableCall::Shape)?;
        let sid = CallSid::parse(&call.sid).map_err(|_| UnreadableCall::Invalid("sid"))?;
        let parent_call_sid = match call.parent_call_sid.as_deref().filter(|p| !p.is_empty()) {
            Some(parent) => Some(
                CallSid::parse(parent).map_err(|_| UnreadableCall::Invalid("parent_call_sid"))?,
            ),
            None => None,
        };
        let status =
            CallStatus::parse(&call.status).map_err(|_| UnreadableCall::Invalid("status"))?;
        let duration_seconds = match call.duration.as_deref().filter(|d| !d.is_empty()) {
            Some(raw) => Some(
                raw.parse::<i32>()
                    .ok()
                    .filter(|s| *s >= 0)
                    .ok_or(UnreadableCall::Invalid("duration"))?,
            ),
            None => None,
        };
        let start_time = rfc2822(call.start_time.as_deref())
            .or_else(|| rfc2822(call.date_created.as_deref()))
            .ok_or(UnreadableCall::Undated)?;
        let raw_from = call.from.unwrap_or_default();
        Ok(Self {
            sid,
            parent_call_sid,
            to: call.to.as_deref().and_then(|to| E164::parse(to).ok()),
            caller: CallerId::parse(&raw_from),
            raw_from,
            status,
            direction: call
                .direction
                .as_deref()
                .map_or(CallDirection::Other, CallDirection::parse),
            start_time,
            end_time: rfc2822(call.end_time.as_deref()),
            duration_seconds,
        })
    }
}

impl CallRecord {
    /// The voice webhook Twilio sent for this call, if it is one calltrack takes: an inbound
    /// call to a phone number (a forwarded leg or an outbound call never gets a session).
    pub fn incoming_call(&self) -> Option<VoiceRequest> {
        if self.direction != CallDirection::Inbound || self.parent_call_sid.is_some() {
            return None;
        }
        self.to.as_ref()?;
        Some(VoiceRequest {
            call_sid: self.sid.clone(),
            to: self.to.clone(),
            caller: self.caller.clone(),
            raw_from: self.raw_from.clone(),
            // What the voice webhook itself says; the callbacks below carry the rest.
            status: CallStatus::Ringing,
            inbound: true,
            // The call log does not keep the caller's verification.
            verstat: None,
        })
    }

    /// The status callbacks Twilio sends about a call in this state, in the order it sends
    /// them, each dated when it happened. The call log keeps only a call's latest state, so
    /// the answer of a forwarded leg is dated by its talk time before its end (its
    /// `start_time` is when it was dialled), or by its start while it is still live.
    pub fn status_callbacks(&self) -> Vec<StatusCallback> {
        let callback = |status, timestamp, duration_seconds| StatusCallback {
            call_sid: self.sid.clone(),
            parent_call_sid: self.parent_call_sid.clone(),
            status,
            duration_seconds,
            timestamp: Some(timestamp),
        };
        let talked = |seconds: i32| chrono::Duration::seconds(i64::from(seconds));
        let ended_at = self
            .end_time
            .or_else(|| self.duration_seconds.map(|s| self.start_time + talked(s)))
            .unwrap_or(self.start_time);
        match self.status {
            CallStatus::Queued | CallStatus::Initiated | CallStatus::Ringing => Vec::new(),
            CallStatus::InProgress => vec![callback(CallStatus::InProgress, self.start_time, None)],
            CallStatus::Completed if self.parent_call_sid.is_some() => {
                let answered_at = match (self.end_time, self.duration_seconds) {
                    (Some(end), Some(seconds)) => end - talked(seconds),
                    _ => self.start_time,
                };
                vec![
                    callback(CallStatus::InProgress, answered_at, None),
                    callback(CallStatus::Completed, ended_at, self.duration_seconds),
                ]
            }
            terminal => vec![callback(terminal, ended_at, self.duration_seconds)],
        }
    }
}

impl TwilioClient {
    /// Every call matching `filter`, following `next_page_uri` until Twilio says there is no
    /// next page (or [`MAX_PAGES`] were read, with a warning). A call that cannot be read is
    /// skipped with a warning; any failed page fails the listing.
    #[tracing::instrument(skip_all)]
    pub async fn list_calls(
        &self,
        filter: &CallFilter<'_>,
    ) -> Result<Vec<CallRecord>, TwilioError> {
        let date = filter
            .started_on_or_after
            .map(|d| d.format("%Y-%m-%d").to_string());
        let mut query = vec![("PageSize", PAGE_SIZE)];
        if let Some(to) = filter.to {
            query.push(("To", to.as_str()));
        }
        if let Some(parent) = filter.parent_call_sid {
            query.push(("ParentCallSid", parent.as_str()));
        }
        if let Some(date) = &date {
            // Serialised as `StartTime%3E=2026-12-01`: the key is `StartTime>`.
            query.push(("StartTime>", date.as_str()));
        }
        let first = self
            .authed(self.http.get(self.account_url("Calls.json")))
            .query(&query);
        let mut page: CallPage = send(first).await?;
        let mut calls = Vec::new();
        let mut pages = 1;
        loop {
            for value in page.calls {
                match CallRecord::from_listed(value) {
                    Ok(call) => calls.push(call),
                    Err(error) => {
                        tracing::warn!(%error, "a listed call could not be read; skipped")
                    }
                }
            }
            let Some(next) = page.next_page_uri.filter(|uri| !uri.is_empty()) else {
                break;
            };
            if pages >= MAX_PAGES {
                tracing::warn!(
                    pages,
                    calls = calls.len(),
                    "call listing stopped after the page limit; narrow the window"
                );
                break;
            }
            // `next_page_uri` is relative to the API's base and carries every filter.
            let url = format!("{}{next}", self.base_url);
            page = send(self.authed(self.http.get(url))).await?;
            pages += 1;
        }
        tracing::info!(pages, calls = calls.len(), "listed calls");
        Ok(calls)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const SID: &str = "CA1234567890abcdef1234567890abcdef";
    const PARENT: &str = "CAffffffffffffffffffffffffffffffff";

    fn listed(overrides: serde_json::Value) -> serde_json::Value {
        let mut call = json!({
            "sid": SID,
            "parent_call_sid": null,
            "to": "+18005550123",
            "from": "+14155550100",
            "status": "completed",
            "direction": "inbound",
            "start_time": "Tue, 01 Dec 2026 10:02:17 +0000",
            "end_time": "Tue, 01 Dec 2026 10:02:59 +0000",
            "date_created": "Tue, 01 Dec 2026 10:02:16 +0000",
            "duration": "42",
            "price": "-0.00850",
            "uri": "/2010-04-01/Accounts/AC00/Calls/CA00.json",
        });
        if let (Some(call), Some(overrides)) = (call.as_object_mut(), overrides.as_object()) {
            for (key, value) in overrides {
                call.insert(key.clone(), value.clone());
            }
        }
        call
    }

    #[test]
    fn a_finished_inbound_call_is_read_with_its_times_and_duration() {
        let call = CallRecord::from_listed(listed(json!({}))).unwrap();
        assert_eq!(call.sid.as_str(), SID);
        assert_eq!(call.parent_call_sid, None);
        assert_eq!(call.to.as_ref().map(E164::as_str), Some("+18005550123"));
        assert_eq!(call.status, CallStatus::Completed);
        assert_eq!(call.direction, CallDirection::Inbound);
        assert_eq!(call.start_time.to_rfc3339(), "2026-12-01T10:02:17+00:00");
        assert_eq!(
            call.end_time.map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-12-01T10:02:59+00:00")
        );
        assert_eq!(call.duration_seconds, Some(42));
    }

    #[test]
    fn a_live_call_has_no_duration_or_end_and_a_child_leg_names_its_parent() {
        let call = CallRecord::from_listed(listed(json!({
            "parent_call_sid": PARENT,
            "direction": "outbound-dial",
            "status": "in-progress",
            "end_time": null,
            "duration": null,
        })))
        .unwrap();
        assert_eq!(
            call.parent_call_sid.as_ref().map(CallSid::as_str),
            Some(PARENT)
        );
        assert_eq!(call.direction, CallDirection::OutboundDial);
        assert_eq!(call.end_time, None);
        assert_eq!(call.duration_seconds, None);
    }

    #[test]
    fn a_call_without_start_time_is_dated_when_created() {
        let call = CallRecord::from_listed(listed(json!({"start_time": null}))).unwrap();
        assert_eq!(call.start_time.to_rfc3339(), "2026-12-01T10:02:16+00:00");
    }

    #[test]
    fn calls_that_cannot_be_read_say_why() {
        for (overrides, expected) in [
            (json!({"sid": "CA123"}), UnreadableCall::Invalid("sid")),
            (
                json!({"status": "exploded"}),
                UnreadableCall::Invalid("status"),
            ),
            (
                json!({"duration": "-3"}),
                UnreadableCall::Invalid("duration"),
            ),
            (json!({"duration": 42}), UnreadableCall::Shape),
            (
                json!({"start_time": null, "date_created": "yesterday"}),
                UnreadableCall::Undated,
            ),
        ] {
            assert_eq!(
                CallRecord::from_listed(listed(overrides.clone())).unwrap_err(),
                expected,
                "{overrides}"
            );
        }
    }

    #[test]
    fn an_answered_forwarded_leg_stands_for_its_answered_and_completed_callbacks() {
        let child = CallRecord::from_listed(listed(json!({
            "parent_call_sid": PARENT,
            "direction": "outbound-dial",
            "to": "+14155550199",
        })))
        .unwrap();
        let callbacks = child.status_callbacks();
        let seen: Vec<_> = callbacks
            .iter()
            .map(|c| {
                (
                    c.status,
                    c.timestamp.map(|t| t.to_rfc3339()),
                    c.duration_seconds,
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                (
                    CallStatus::InProgress,
                    Some("2026-12-01T10:02:17+00:00".to_owned()),
                    None
                ),
                (
                    CallStatus::Completed,
                    Some("2026-12-01T10:02:59+00:00".to_owned()),
                    Some(42)
                ),
            ]
        );
        assert!(callbacks.iter().all(StatusCallback::is_child_leg));
        assert_eq!(child.incoming_call().map(|v| v.call_sid), None);
    }

    #[test]
    fn a_parent_stands_for_its_final_callback_and_a_ringing_call_for_none() {
        let parent = CallRecord::from_listed(listed(json!({"end_time": null}))).unwrap();
        let callbacks = parent.status_callbacks();
        assert_eq!(callbacks.len(), 1);
        assert_eq!(callbacks[0].status, CallStatus::Completed);
        assert_eq!(
            callbacks[0].timestamp.map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-12-01T10:02:59+00:00"),
            "without end_time the end is the start plus the duration"
        );
        assert!(!callbacks[0].is_child_leg());
        assert!(parent.incoming_call().is_some());
        let ringing = CallRecord::from_listed(listed(json!({"status": "ringing"}))).unwrap();
        assert!(ringing.status_callbacks().is_empty());
        let outbound =
            CallRecord::from_listed(listed(json!({"direction": "outbound-api"}))).unwrap();
        assert!(outbound.incoming_call().is_none());
    }

    #[test]
    fn a_call_to_a_sip_address_keeps_no_number() {
        let call = CallRecord::from_listed(listed(json!({"to": "sip:desk@example.com"}))).unwrap();
        assert_eq!(call.to, None);
    }
}
