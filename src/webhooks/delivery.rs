//! One delivery attempt of one message to one endpoint, and when to try again.
//!
//! Each attempt checks the endpoint's URL and resolves and checks its host again
//! ([`resolve_checked`]), so an endpoint whose name now points inside is refused. The client
//! resolves names through the same check, so whatever address a new connection is opened to
//! has passed it: a name cannot answer the check with a public address and the connection
//! with an internal one. The URL's host stays the TLS server name and the `Host` header.
//! Redirects are not followed (a `3xx` is a failure), proxies from the environment are not
//! used, and the whole attempt (lookup, connection, answer) is bounded by one timeout.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng as _;
use reqwest::redirect;
use tokio::time::Instant;

use super::signature::{WebhookSecret, signature_header};
use super::target::{CheckedResolver, EndpointUrl, TargetError, resolve_checked};

/// How long an attempt may take, lookup and answer included, unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// The most of an answer's body read, for the words of a failure.
const MAX_RESPONSE_BYTES: usize = 4096;
/// The most of an answer's body kept in a failure's words.
const EXCERPT_CHARS: usize = 200;
const USER_AGENT: &str = concat!("calltrack-webhooks/", env!("CARGO_PKG_VERSION"));

/// The pause before each retry, by the number of attempts already made: about 5 s, 5 min,
/// 30 min, 2 h, 5 h, 10 h and 10 h (the contract's schedule), eight attempts in all.
const SCHEDULE: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// How deliveries are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// `WEBHOOK_ALLOW_PRIVATE_NETWORKS`: allow `http://` and internal addresses.
    pub allow_private: bool,
    /// The limit on one attempt, lookup and answer included.
    pub timeout: Duration,
}

impl Default for DeliveryConfig {
    /// Public `https://` endpoints only, [`DEFAULT_TIMEOUT`].
    fn default() -> Self {
        Self {
            allow_private: false,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Makes delivery attempts. Cheap to clone; clones share one pool of connections.
#[derive(Debug, Clone)]
pub struct Deliverer {
    http: reqwest::Client,
    config: DeliveryConfig,
}

/// The HTTP client could not be built (its TLS configuration failed to load).
#[derive(Debug, thiserror::Error)]
#[error("the webhook delivery client could not be built")]
pub struct DelivererError(#[source] reqwest::Error);

/// One message as it is sent.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// `webhook-id`: the message's id, the same on every attempt (the receiver's idempotency
    /// key).
    pub id: &'a str,
    /// `webhook-timestamp`, Unix seconds: the attempt's time, not the message's creation
    /// (receivers refuse timestamps more than a few minutes away from their clock).
    pub timestamp: i64,
    /// The JSON body, sent and signed byte for byte.
    pub body: &'a [u8],
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// What to do with the message next.
    pub outcome: Outcome,
    /// The endpoint's HTTP status, if it answered.
    pub status_code: Option<u16>,
    /// From the start of the attempt to its outcome.
    pub duration: Duration,
    /// What went wrong, in words (with at most a short excerpt of the answer's body); `None`
    /// when delivered. Never holds the URL's path or query nor a signature.
    pub error: Option<String>,
}

/// The outcome of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A `2xx` within the timeout.
    Delivered,
    /// Anything else except `410`: try again by [`retry_schedule`].
    Retry,
    /// `410 Gone`: the receiver asks for the endpoint to be disabled.
    Gone,
}

impl Deliverer {
    /// A deliverer with its own pool of connections.
    pub fn new(config: DeliveryConfig) -> Result<Self, DelivererError> {
        let http = reqwest::Client::builder()
            .redirect(redirect::Policy::none())
            .no_proxy()
            .https_only(!config.allow_private)
            .dns_resolver(Arc::new(CheckedResolver {
                allow_private: config.allow_private,
            }))
            .user_agent(USER_AGENT)
            .build()
            .map_err(DelivererError)?;
        Ok(Self { http, config })
    }

    /// The configuration this deliverer was built with.
    pub fn config(&self) -> DeliveryConfig {
        self.config
    }

    /// POSTs `message` to `endpoint`, signed with each of `secrets` (the current secret first,
    /// then, during a rotation, the previous one). Never fails: a refused target, a failed
    /// connection or a timeout are [`Outcome::Retry`] with their reason in
    /// [`Attempt::error`].
    #[tracing::instrument(skip_all, fields(webhook.id = %message.id, endpoint.host = %endpoint.host()))]
    pub async fn deliver(
        &self,
        endpoint: &EndpointUrl,
        message: &Message<'_>,
        secrets: &[&WebhookSecret],
    ) -> Attempt {
        let started = Instant::now();
        let deadline = started + self.config.timeout;
        let answer = self.attempt(endpoint, message, secrets, deadline).await;
        let duration = started.elapsed();
        let attempt = match answer {
            Ok((status, body)) => answered(status, &body, duration),
            Err(failure) => Attempt {
                outcome: Outcome::Retry,
                status_code: None,
                duration,
                error: Some(failure.words(self.config.timeout)),
            },
        };
        tracing::debug!(
            outcome = ?attempt.outcome,
            status = attempt.status_code,
            duration_ms = attempt.duration.as_millis() as u64,
            error = attempt.error.as_deref(),
            "webhook attempt"
        );
        attempt
    }

    async fn attempt(
        &self,
        endpoint: &EndpointUrl,
        message: &Message<'_>,
        secrets: &[&WebhookSecret],
        deadline: Instant,
    ) -> Result<(reqwest::StatusCode, Vec<u8>), Failure> {
        if secrets.is_empty() {
            return Err(Failure::Unsigned);
        }
        // The setting may have changed since the endpoint was registered.
        if !endpoint.is_https() && !self.config.allow_private {
            return Err(Failure::Target(TargetError::HttpsRequired));
        }
        tokio::time::timeout_at(
            deadline,
            resolve_checked(endpoint, self.config.allow_private),
        )
        .await
        .map_err(|_| Failure::Timeout)??;
        let signature = signature_header(
            secrets.iter().copied(),
            message.id,
            message.timestamp,
            message.body,
        );
        let request = self
            .http
            .post(endpoint.url().clone())
            .header("webhook-id", message.id)
            .header("webhook-timestamp", message.timestamp.to_string())
            .header("webhook-signature", signature)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(message.body.to_vec());
        let response = tokio::time::timeout_at(deadline, request.send())
            .await
            .map_err(|_| Failure::Timeout)??;
        let status = response.status();
        // The status is the answer; a body that is slow or long only shortens the excerpt.
        let body = read_limited(response, deadline).await;
        Ok((status, body))
    }
}

/// Why an attempt got no answer.
#[derive(Debug)]
enum Failure {
    Unsigned,
    Target(TargetError),
    Timeout,
    Http(reqwest::Error),
}

impl From<TargetError> for Failure {
    fn from(error: TargetError) -> Self {
        Self::Target(error)
    }
}

impl From<reqwest::Error> for Failure {
    fn from(error: reqwest::Error) -> Self {
        // The client's resolver refuses with the same error as the check before it.
        match find_source::<TargetError>(&error) {
            Some(target) => Self::Target(target.clone()),
            None if error.is_timeout() => Self::Timeout,
            None => Self::Http(error),
        }
    }
}

impl Failure {
    fn words(&self, timeout: Duration) -> String {
        match self {
            Self::Unsigned => "no signing secret was given".to_owned(),
            Self::Target(error) => error.to_string(),
            Self::Timeout if timeout.subsec_millis() == 0 => {
                format!("timed out: no answer within {} s", timeout.as_secs())
            }
            Self::Timeout => format!("timed out: no answer within {} ms", timeout.as_millis()),
            Self::Http(error) => {
                let what = if error.is_connect() {
                    "could not connect"
                } else {
                    "the request failed"
                };
                // reqwest's own message names the URL, whose query may hold a receiver's
                // token; its causes (I/O, TLS, HTTP) do not.
                let mut causes = Vec::new();
                let mut source = std::error::Error::source(error);
                while let Some(cause) = source {
                    causes.push(cause.to_string());
                    source = cause.source();
                }
                causes.dedup();
                if causes.is_empty() {
                    what.to_owned()
                } else {
                    truncate(&format!("{what}: {}", causes.join(": ")), 300)
                }
            }
        }
    }
}

fn find_source<'a, E: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a E> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(found) = error.downcast_ref::<E>() {
            return Some(found);
        }
        current = error.source();
    }
    None
}

fn answered(status: reqwest::StatusCode, body: &[u8], duration: Duration) -> Attempt {
    let status_code = Some(status.as_u16());
    if status.is_success() {
        return Attempt {
            outcome: Outcome::Delivered,
            status_code,
            duration,
            error: None,
        };
    }
    let (outcome, note) = if status == reqwest::StatusCode::GONE {
        (Outcome::Gone, ", asking for the endpoint to be disabled")
    } else if status.is_redirection() {
        (Outcome::Retry, ", a redirect, which is not followed")
    } else {
        (Outcome::Retry, "")
    };
    let mut error = format!("the endpoint answered {status}{note}");
    let excerpt = excerpt(body);
    if !excerpt.is_empty() {
        error.push_str(&format!(": \"{excerpt}\""));
    }
    Attempt {
        outcome,
        status_code,
        duration,
        error: Some(error),
    }
}

/// Reads at most [`MAX_RESPONSE_BYTES`] of the body, stopping at `deadline`.
async fn read_limited(mut response: reqwest::Response, deadline: Instant) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < MAX_RESPONSE_BYTES {
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => {
                let room = MAX_RESPONSE_BYTES - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            _ => break,
        }
    }
    body
}

/// The start of a body as one line of text.
fn excerpt(body: &[u8]) -> String {
    let text: String = String::from_utf8_lossy(body)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    truncate(text.trim(), EXCERPT_CHARS)
}

fn truncate(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// The pause before the next attempt of a message whose `attempts_so_far` attempts all
/// failed, or `None` when it has had its eight and is failed: nothing before the first,
/// then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h, each lengthened by up to 10% at random
/// so messages that failed together do not all come back in the same second.
pub fn retry_schedule(attempts_so_far: u32) -> Option<Duration> {
    let Some(index) = attempts_so_far.checked_sub(1) else {
        return Some(Duration::ZERO);
    };
    let nominal = *SCHEDULE.get(usize::try_from(index).ok()?)?;
    let jitter = rand::thread_rng().gen_range(0.0..0.1);
    Some(nominal + nominal.mul_f64(jitter))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_is_the_contracts_with_at_most_ten_percent_more() {
        assert_eq!(DeliveryConfig::default().timeout, Duration::from_secs(15));
        assert_eq!(retry_schedule(0), Some(Duration::ZERO));
        for (attempts, nominal) in (1..).zip(SCHEDULE) {
            let delay = retry_schedule(attempts).expect("a retry");
            assert!(delay >= nominal, "{attempts}: {delay:?}");
            assert!(delay <= nominal.mul_f64(1.1), "{attempts}: {delay:?}");
        }
        assert_eq!(retry_schedule(8), None);
        assert_eq!(retry_schedule(u32::MAX), None);
        assert_eq!(
            SCHEDULE.map(|d| d.as_secs()),
            [5, 300, 1800, 7200, 18000, 36000, 36000]
        );
    }

    #[test]
    fn a_2xx_delivers_a_410_is_gone_and_anything_else_retries() {
        let at = |code: u16| {
            answered(
                reqwest::StatusCode::from_u16(code).expect("a status"),
                b"",
                Duration::ZERO,
            )
        };
        assert_eq!(at(200).outcome, Outcome::Delivered);
        assert_eq!(at(204).outcome, Outcome::Delivered);
        assert_eq!(at(200).error, None);
        assert_eq!(at(410).outcome, Outcome::Gone);
        for code in [301, 302, 400, 401, 404, 429, 500, 503] {
            let attempt = at(code);
            assert_eq!(attempt.outcome, Outcome::Retry, "{code}");
            assert_eq!(attempt.status_code, Some(code));
        }
        assert_eq!(
            at(302).error.as_deref(),
            Some("the endpoint answered 302 Found, a redirect, which is not followed")
        );
    }

    #[tokio::test]
    async fn a_refusal_by_the_clients_resolver_is_told_in_the_same_words() {
        // The check before the request and the resolver see the same name; this is the
        // resolver's refusal alone, as when a name changes its answer between the two.
        let http = reqwest::Client::builder()
            .no_proxy()
            .dns_resolver(Arc::new(CheckedResolver {
                allow_private: false,
            }))
            .build()
            .expect("a client");
        let error = http
            .post("http://localhost:9/hooks")
            .send()
            .await
            .expect_err("refused");
        let failure = Failure::from(error);
        assert!(
            matches!(&failure, Failure::Target(TargetError::Internal { host, .. }) if host == "localhost"),
            "{failure:?}"
        );
        assert!(
            failure
                .words(DEFAULT_TIMEOUT)
                .starts_with("the host localhost resolves to "),
            "{}",
            failure.words(DEFAULT_TIMEOUT)
        );
    }

    #[test]
    fn a_failure_keeps_only_a_short_single_line_excerpt_of_the_body() {
        let body = format!("line one\nline\ttwo {}", "x".repeat(5000));
        let attempt = answered(
            reqwest::StatusCode::INTERNAL_SERVER_ERROR,
            body.as_bytes(),
            Duration::ZERO,
        );
        let error = attempt.error.expect("an error");
        assert!(
            error.starts_with(
                "the endpoint answered 500 Internal Server Error: \"line one line two xx"
            ),
            "{error}"
        );
        assert!(error.chars().count() < 300, "{error}");
        assert!(!error.contains('\n'));
    }
}
