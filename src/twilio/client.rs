//! Twilio's REST API: sending reward SMS and listing recent messages to reconcile an
//! interrupted send, phone numbers (`numbers`), and the call log read to reconcile calls
//! (`calls`). Credentials and message bodies never reach a log or an error.

mod calls;
mod numbers;

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::errors::{self, ErrorClass, KnownError};
use super::payloads::delivery_report;
use super::settings::{REQUEST_TIMEOUT, SmsSender, TwilioSettings};
use crate::domain::{DeliveryReport, MessageSid, SmsBody};

pub use calls::{CallDirection, CallFilter, CallRecord, MAX_PAGES};
pub use numbers::{AvailableNumber, AvailableSearch, IncomingNumber, NumberChoice, NumberWebhooks};

/// Messages per page of a listing for reconciliation; reward SMS to one number are few.
const LIST_PAGE_SIZE: &str = "100";

/// Pages a listing reads at most. A listing that is longer still is an error, not a short
/// answer: a reconciliation that stopped early could miss the message and send it again.
pub const MAX_LIST_PAGES: usize = 50;

/// How far before `since` a listed message still counts, for clocks that disagree.
const CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);

/// A client of Twilio's Messages API for one account.
#[derive(Debug, Clone)]
pub struct TwilioClient {
    http: reqwest::Client,
    request_timeout: Duration,
    base_url: String,
    account_sid: String,
    auth_token: SecretString,
    sender: Option<SmsSender>,
}

/// Twilio's error document (`{"code", "message", "more_info", "status"}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiError {
    pub code: Option<i32>,
    pub message: Option<String>,
    pub more_info: Option<String>,
    pub status: Option<u16>,
}

/// Why a call to Twilio failed. `Display` names no phone number, body or credential.
#[derive(Debug, thiserror::Error)]
pub enum TwilioError {
    #[error("Twilio did not answer in time")]
    Timeout,
    #[error("cannot connect to Twilio")]
    Connect,
    #[error("the connection to Twilio broke off")]
    Network,
    #[error("Twilio answered HTTP {status}{}", error.as_ref().and_then(|e| e.code).map(|c| format!(" with error {c}")).unwrap_or_default())]
    Api {
        status: u16,
        error: Option<ApiError>,
    },
    #[error("Twilio's answer (HTTP {status}) could not be read")]
    Decode { status: u16 },
    #[error("no SMS sender is configured (TWILIO_SMS_FROM or TWILIO_MESSAGING_SERVICE_SID)")]
    NoSender,
    /// A list of Twilio's went on past [`MAX_LIST_PAGES`] pages, or pointed its next page
    /// somewhere else: what it holds is not known in full.
    #[error("Twilio's list could not be read to its end ({pages} pages read)")]
    Incomplete { pages: usize },
}

/// What a failure means for the message that was being sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Twilio did not take the message; sending again later is safe.
    Transient,
    /// Twilio may have taken the message (a timeout, a connection lost mid-request, an
    /// unreadable success): look before sending again.
    Uncertain,
    /// Twilio refused this message for good (invalid number, unsubscribed, ...).
    Permanent,
}

impl TwilioError {
    /// Twilio's error code decides first, by the table in [`crate::twilio::errors`] (21611, a
    /// full queue, is retried although it comes as HTTP 400; 21211, an invalid number, is
    /// not). Without a known code the HTTP status does: 5xx and 429 are retried, other 4xx
    /// are not, except 401 and 408: a wrong auth token is this service's configuration, not
    /// the message's fault, and fixing it should still deliver the reward. Timeouts and broken
    /// connections are uncertain: the request may have reached Twilio.
    pub fn kind(&self) -> FailureKind {
        match self {
            Self::Timeout | Self::Network | Self::Decode { .. } => FailureKind::Uncertain,
            Self::Connect | Self::NoSender | Self::Incomplete { .. } => FailureKind::Transient,
            Self::Api { status, .. } => match self.known().map(|known| known.class) {
                Some(ErrorClass::Transient) => FailureKind::Transient,
                Some(ErrorClass::Permanent | ErrorClass::UserFixable) => FailureKind::Permanent,
                None => match *status {
                    401 | 408 | 429 => FailureKind::Transient,
                    400..=499 => FailureKind::Permanent,
                    _ => FailureKind::Transient,
                },
            },
        }
    }

    /// The table's row for Twilio's code, when Twilio sent one calltrack knows.
    pub fn known(&self) -> Option<&'static KnownError> {
        self.code().and_then(errors::known)
    }

    /// Twilio's error number, when it sent one.
    pub fn code(&self) -> Option<i32> {
        match self {
            Self::Api { error, .. } => error.as_ref().and_then(|e| e.code),
            _ => None,
        }
    }

    /// A sentence to store with a failed delivery: Twilio's own message when it gave one.
    pub fn stored_message(&self) -> String {
        match self {
            Self::Api {
                error:
                    Some(ApiError {
                        message: Some(message),
                        ..
                    }),
                ..
            } => message.clone(),
            other => other.to_string(),
        }
    }
}

/// A message Twilio already holds, as listed for reconciliation.
pub struct RecentMessage {
    pub sid: MessageSid,
    pub body: SecretString,
    /// What the message's current status means for the delivery.
    pub report: DeliveryReport,
}

#[derive(Deserialize)]
struct CreatedMessage {
    sid: String,
}

// No Debug: `body` holds a gift-card code.
#[derive(Deserialize)]
struct ListedMessage {
    sid: String,
    body: Option<String>,
    status: Option<String>,
    date_created: Option<String>,
    messaging_service_sid: Option<String>,
    error_code: Option<i32>,
}

#[derive(Deserialize)]
struct MessageList {
    messages: Vec<ListedMessage>,
    next_page_uri: Option<String>,
}

/// One page of one of Twilio's lists: its items and where the next page is.
trait ListPage: DeserializeOwned {
    type Item;
    fn into_parts(self) -> (Vec<Self::Item>, Option<String>);
}

impl ListPage for MessageList {
    type Item = ListedMessage;
    fn into_parts(self) -> (Vec<ListedMessage>, Option<String>) {
        (self.messages, self.next_page_uri)
    }
}

impl TwilioClient {
    /// A client for the account in `settings`; its requests time out after the settings'
    /// `request_timeout`, at most [`REQUEST_TIMEOUT`].
    pub fn new(settings: &TwilioSettings) -> anyhow::Result<Self> {
        let timeout = settings.request_timeout.min(REQUEST_TIMEOUT);
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("calltrack/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            request_timeout: timeout,
            base_url: settings.api_base_url.trim_end_matches('/').to_owned(),
            account_sid: settings.account_sid.clone(),
            auth_token: settings.auth_token.clone(),
            sender: settings.sms_sender.clone(),
        })
    }

    /// How long one request may take before it counts as [`TwilioError::Timeout`].
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// Whether a reward SMS has a sender to come from.
    pub fn can_send(&self) -> bool {
        self.sender.is_some()
    }

    /// The URL of one of the account's resources (`Calls.json`, ...).
    fn account_url(&self, resource: &str) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/{resource}",
            self.base_url, self.account_sid
        )
    }

    /// `request` with the account's basic auth.
    fn authed(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()))
    }

    fn messages_url(&self) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.base_url, self.account_sid
        )
    }

    /// Sends one SMS. `status_callback_url` receives Twilio's delivery reports.
    #[tracing::instrument(skip_all)]
    pub async fn send_message(
        &self,
        to: &str,
        body: &SmsBody,
        status_callback_url: &str,
    ) -> Result<MessageSid, TwilioError> {
        let sender = self.sender.as_ref().ok_or(TwilioError::NoSender)?;
        let (sender_key, sender_value) = match sender {
            SmsSender::From(from) => ("From", from.as_str()),
            SmsSender::MessagingService(sid) => ("MessagingServiceSid", sid.as_str()),
        };
        let form = [
            ("To", to),
            (sender_key, sender_value),
            ("Body", body.expose()),
            ("StatusCallback", status_callback_url),
        ];
        let request = self
            .http
            .post(self.messages_url())
            .basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()))
            .form(&form);
        let created: CreatedMessage = send(request).await?;
        let sid =
            MessageSid::parse(&created.sid).map_err(|_| TwilioError::Decode { status: 201 })?;
        tracing::info!(message.sid = %sid, "Twilio accepted the SMS");
        Ok(sid)
    }

    /// The latest messages from this account's sender to `to` created since `since`
    /// (less a few minutes of clock skew), newest first.
    #[tracing::instrument(skip_all)]
    pub async fn list_recent_messages(
        &self,
        to: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<RecentMessage>, TwilioError> {
        let sender = self.sender.as_ref().ok_or(TwilioError::NoSender)?;
        let mut query = vec![("To", to), ("PageSize", LIST_PAGE_SIZE)];
        if let SmsSender::From(from) = sender {
            query.push(("From", from.as_str()));
        }
        // No `DateSent>` filter: a message still queued at Twilio has no date_sent yet, and it
        // is exactly the kind an interrupted send leaves behind. The date is checked below.
        let first = self
            .http
            .get(self.messages_url())
            .basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()))
            .query(&query);
        let messages = self
            .read_all_pages::<MessageList>(first, "Messages.json")
            .await?;
        let earliest = since - CLOCK_SKEW;
        Ok(messages
            .into_iter()
            .filter(|m| match sender {
                SmsSender::MessagingService(sid) => m.messaging_service_sid.as_deref() == Some(sid),
                SmsSender::From(_) => true,
            })
            .filter(|m| {
                // An unreadable date keeps the message a candidate; the body decides.
                m.date_created
                    .as_deref()
                    .and_then(|d| DateTime::parse_from_rfc2822(d).ok())
                    .is_none_or(|d| d >= earliest)
            })
            .filter_map(|m| {
                let sid = MessageSid::parse(&m.sid).ok()?;
                let report = delivery_report(m.status.as_deref().unwrap_or_default(), m.error_code);
                Some(RecentMessage {
                    sid,
                    body: SecretString::from(m.body.unwrap_or_default()),
                    report,
                })
            })
            .collect())
    }
}

impl TwilioClient {
    /// Reads a list from its first page through every `next_page_uri` until Twilio gives none.
    /// A next page is only followed within this account's `resource` on Twilio's base URL (the
    /// credentials go with it), and at most [`MAX_LIST_PAGES`] pages are read.
    async fn read_all_pages<P: ListPage>(
        &self,
        first: reqwest::RequestBuilder,
        resource: &str,
    ) -> Result<Vec<P::Item>, TwilioError> {
        let allowed = format!("/2010-04-01/Accounts/{}/{resource}?", self.account_sid);
        let mut items = Vec::new();
        let mut request = first;
        for pages in 1..=MAX_LIST_PAGES {
            let page: P = send(request).await?;
            let (mut page_items, next) = page.into_parts();
            items.append(&mut page_items);
            let Some(next) = next.filter(|uri| !uri.is_empty()) else {
                return Ok(items);
            };
            if !next.starts_with(&allowed) {
                tracing::warn!(
                    pages,
                    "Twilio's next page points outside the list; not followed"
                );
                return Err(TwilioError::Incomplete { pages });
            }
            request = self
                .http
                .get(format!("{}{next}", self.base_url))
                .basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()));
        }
        tracing::warn!(
            pages = MAX_LIST_PAGES,
            "Twilio's list goes on past the page cap; treated as unread"
        );
        Err(TwilioError::Incomplete {
            pages: MAX_LIST_PAGES,
        })
    }
}

/// Sends `request` and reads Twilio's JSON answer or error document.
async fn send<T: DeserializeOwned>(request: reqwest::RequestBuilder) -> Result<T, TwilioError> {
    let response = request.send().await.map_err(transport_error)?;
    let status = response.status();
    let bytes = match response.bytes().await {
        Ok(bytes) => bytes,
        Err(error) if status.is_success() => return Err(transport_error(error)),
        Err(_) => bytes::Bytes::new(),
    };
    if status.is_success() {
        serde_json::from_slice(&bytes).map_err(|_| TwilioError::Decode {
            status: status.as_u16(),
        })
    } else {
        Err(TwilioError::Api {
            status: status.as_u16(),
            error: serde_json::from_slice(&bytes).ok(),
        })
    }
}

/// reqwest's errors carry the URL, which for a listing holds the recipient's number; only
/// the kind of failure is kept.
fn transport_error(error: reqwest::Error) -> TwilioError {
    if error.is_connect() {
        TwilioError::Connect
    } else if error.is_timeout() {
        TwilioError::Timeout
    } else {
        TwilioError::Network
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: Option<i32>) -> TwilioError {
        TwilioError::Api {
            status,
            error: code.map(|code| ApiError {
                code: Some(code),
                message: Some(format!("error {code}")),
                more_info: Some(format!("https://www.twilio.com/docs/errors/{code}")),
                status: Some(status),
            }),
        }
    }

    #[test]
    fn refusals_of_the_message_are_permanent() {
        for (status, code) in [
            (400, Some(21211)),
            (400, Some(21610)),
            (400, Some(21614)),
            (400, Some(21612)),
            (400, Some(21408)),
            (400, Some(21606)),
            (400, Some(21659)),
            (400, Some(21422)),
            (400, Some(12345)),
            (404, None),
        ] {
            assert_eq!(
                api(status, code).kind(),
                FailureKind::Permanent,
                "{status} {code:?}"
            );
        }
    }

    #[test]
    fn server_errors_rate_limits_and_connection_failures_are_retried() {
        for error in [
            api(500, None),
            api(503, Some(20500)),
            api(429, Some(20429)),
            api(429, None),
            api(401, Some(20003)),
            api(403, Some(20003)),
            api(408, None),
            TwilioError::Connect,
            TwilioError::Incomplete { pages: 50 },
        ] {
            assert_eq!(error.kind(), FailureKind::Transient, "{error}");
        }
    }

    #[test]
    fn a_full_queue_is_retried_although_twilio_answers_it_with_http_400() {
        let full = api(400, Some(21611));
        assert_eq!(full.kind(), FailureKind::Transient);
        assert_eq!(full.known().map(|k| k.code), Some(21611));
    }

    #[test]
    fn a_send_that_may_have_reached_twilio_is_uncertain() {
        for error in [
            TwilioError::Timeout,
            TwilioError::Network,
            TwilioError::Decode { status: 201 },
        ] {
            assert_eq!(error.kind(), FailureKind::Uncertain, "{error}");
        }
    }

    #[test]
    fn twilio_error_documents_parse_and_keep_code_and_message() {
        let body = r#"{"code": 21610, "message": "Attempt to send to unsubscribed recipient", "more_info": "https://www.twilio.com/docs/errors/21610", "status": 400}"#;
        let error = TwilioError::Api {
            status: 400,
            error: serde_json::from_str(body).ok(),
        };
        assert_eq!(error.code(), Some(21610));
        assert_eq!(
            error.stored_message(),
            "Attempt to send to unsubscribed recipient"
        );
        assert_eq!(
            error.to_string(),
            "Twilio answered HTTP 400 with error 21610"
        );
        assert_eq!(api(500, None).stored_message(), "Twilio answered HTTP 500");
    }
}
