//! The reward SMS worker: claims due `sms_outbox` rows, renders and sends them through
//! Twilio, and records the outcome. Any number of workers may run against one database:
//! claims use `SKIP LOCKED`, and every outcome is a guarded update fenced by the attempt.
//!
//! A row is marked `sending` (committed) before Twilio is called. If the process dies
//! before the outcome is recorded, or the outcome is uncertain (a timeout), the row's lease
//! expires and the next claim reconciles: it lists the recent messages to that number and
//! adopts a matching one instead of sending the reward a second time.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use secrecy::{ExposeSecret as _, SecretString};
use tokio::sync::watch;

use crate::crypto::CardCipher;
use crate::db::PgPool;
use crate::db::outbox::{self, AttemptError, ClaimedSms};
use crate::domain::{DeliveryReport, MessageSid, RewardDetails, SmsBody, SmsTemplate, mask_phone};
use crate::twilio::client::{FailureKind, RecentMessage, TwilioClient, TwilioError};
use crate::twilio::payloads::parked_report;
use crate::twilio::settings::REQUEST_TIMEOUT;

/// Rows claimed at once by one worker; they are sent concurrently.
const BATCH_SIZE: i64 = 10;

/// How long a claim is exclusive. It must outlast reconciling (at most [`RECONCILE_BUDGET`])
/// and sending one row (one Twilio call of at most [`REQUEST_TIMEOUT`]) with room to spare.
const LEASE: Duration = Duration::from_secs(60);

/// The longest a reconciliation may read Twilio's pages of messages; past it the row is
/// retried (and reconciled again), never sent on an unfinished reading.
const RECONCILE_BUDGET: Duration = Duration::from_secs(30);

const _: () = assert!(LEASE.as_secs() > RECONCILE_BUDGET.as_secs() + REQUEST_TIMEOUT.as_secs() + 5);

pub use crate::domain::{SMS_MAX_ATTEMPTS as MAX_ATTEMPTS, sms_retry_delay as retry_delay};

/// Reconcile-only attempts after [`MAX_ATTEMPTS`] for a row whose last send had an unknown
/// outcome: it may have reached Twilio, so it is failed only once a listing of the recent
/// messages finds no match (or the listing itself keeps failing this many times).
pub const FINAL_RECONCILIATIONS: i32 = 3;

/// A card code shorter than this could appear in an unrelated message by chance, so only an
/// identical body counts when reconciling.
const MIN_CODE_LEN_FOR_MATCH: usize = 8;

/// Sends queued reward SMS until told to stop.
#[derive(Debug, Clone)]
pub struct OutboxWorker {
    pool: PgPool,
    twilio: TwilioClient,
    cipher: CardCipher,
    status_callback_url: String,
    poll_interval: Duration,
}

/// What became of one attempt.
enum Outcome {
    Sent(MessageSid),
    /// An earlier attempt's message was found at Twilio.
    Reconciled {
        sid: MessageSid,
        report: DeliveryReport,
    },
    Retry {
        /// An attempt may have reached Twilio: reconcile before sending again.
        recheck: bool,
        error: AttemptError,
    },
    Failed(AttemptError),
    /// The claim is too old to send safely; its lease will expire and the row be reconciled.
    LeaseTooShort,
}

impl OutboxWorker {
    /// `status_callback_url` is where Twilio reports delivery (`/twilio/sms-status`).
    pub fn new(
        pool: PgPool,
        twilio: TwilioClient,
        cipher: CardCipher,
        status_callback_url: String,
        poll_interval: Duration,
    ) -> Self {
        Self {
            pool,
            twilio,
            cipher,
            status_callback_url,
            poll_interval,
        }
    }

    /// Polls until `stop` turns true (or its sender is dropped); a batch in progress is
    /// finished first. A full batch is followed at once by the next.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        if !self.twilio.can_send() {
            tracing::warn!(
                "no SMS sender configured (TWILIO_SMS_FROM or TWILIO_MESSAGING_SERVICE_SID); reward SMS stay queued"
            );
            return;
        }
        tracing::info!(
            poll_ms = self.poll_interval.as_millis(),
            "SMS outbox worker started"
        );
        while !*stop.borrow() {
            let claimed = match self.run_batch().await {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::error!(error = format!("{error:#}"), "SMS outbox batch failed");
                    0
                }
            };
            if claimed as i64 == BATCH_SIZE {
                continue;
            }
            tokio::select! {
                changed = stop.changed() => if changed.is_err() { break },
                () = tokio::time::sleep(self.poll_interval) => {}
            }
        }
        tracing::info!("SMS outbox worker stopped");
    }

    /// Claims one batch and handles its rows concurrently, so the whole batch ends well
    /// inside the lease. Returns how many rows were claimed.
    #[tracing::instrument(skip_all)]
    pub async fn run_batch(&self) -> anyhow::Result<usize> {
        let claimed = {
            let client = self.pool.get().await.context("no database connection")?;
            outbox::claim_due(&client, BATCH_SIZE, LEASE).await?
        };
        let claimed_at = Instant::now();
        let count = claimed.len();
        futures::future::join_all(claimed.into_iter().map(|row| self.handle(row, claimed_at)))
            .await;
        Ok(count)
    }

    #[tracing::instrument(skip_all, fields(outbox.id = %row.id, to = %mask_phone(&row.to_phone), attempt = row.attempt, recovered = row.recovered))]
    async fn handle(&self, row: ClaimedSms, claimed_at: Instant) {
        let outcome = self.attempt(&row, claimed_at).await;
        if let Err(error) = self.record(&row, outcome).await {
            // The lease expires and the row is reconciled, so nothing is lost or resent.
            tracing::error!(
                error = format!("{error:#}"),
                "recording the SMS outcome failed"
            );
        }
    }

    /// Renders the SMS, reconciles a recovered row, and sends unless a match was found.
    /// Past [`MAX_ATTEMPTS`] a row is only reconciled, never sent again.
    async fn attempt(&self, row: &ClaimedSms, claimed_at: Instant) -> Outcome {
        let reconcile_only = row.attempt > MAX_ATTEMPTS;
        if reconcile_only && !row.recovered {
            return Outcome::Failed(AttemptError {
                code: None,
                message: format!("gave up after {MAX_ATTEMPTS} attempts"),
            });
        }
        let Some(content) = &row.content else {
            return Outcome::Failed(AttemptError {
                code: None,
                message: "the reward has no gift card to send".into(),
            });
        };
        let (card_code, pin_code) = match self.decrypt(
            &content.card_code_encrypted,
            content.pin_code_encrypted.as_deref(),
        ) {
            Ok(secrets) => secrets,
            Err(error) => {
                // A wrong GIFT_CARD_KEY is this service's configuration, not the reward's:
                // retried, so fixing the key still delivers it.
                tracing::error!(error = %error, "cannot decrypt the gift card");
                return Outcome::Retry {
                    recheck: row.recovered,
                    error: AttemptError {
                        code: None,
                        message: error.to_string(),
                    },
                };
            }
        };
        let details = RewardDetails {
            first_name: content.first_name.clone(),
            brand: content.brand.clone(),
            value: content.value.clone(),
            card_code,
            pin_code,
        };
        let body = SmsTemplate::new(content.sms_template.as_deref()).render(&details);
        if row.recovered {
            match self.reconcile(row, &body, &details.card_code).await {
                Ok(Some(found)) => {
                    return Outcome::Reconciled {
                        sid: found.sid,
                        report: found.report,
                    };
                }
                Ok(None) if reconcile_only => {
                    return Outcome::Failed(AttemptError {
                        code: None,
                        message: format!(
                            "gave up after {MAX_ATTEMPTS} attempts: the last one's outcome was \
                             unknown and Twilio has no such message"
                        ),
                    });
                }
                Ok(None) => {}
                Err(error) => {
                    return Outcome::Retry {
                        recheck: true,
                        error,
                    };
                }
            }
        }
        // Past this point another worker could take the row over mid-send.
        if claimed_at.elapsed() + REQUEST_TIMEOUT + Duration::from_secs(5) > LEASE {
            return Outcome::LeaseTooShort;
        }
        match self
            .twilio
            .send_message(&row.to_phone, &body, &self.status_callback_url)
            .await
        {
            Ok(sid) => Outcome::Sent(sid),
            Err(error) => {
                let kind = error.kind();
                tracing::warn!(error = %error, kind = ?kind, "Twilio did not take the SMS");
                let error_detail = AttemptError {
                    code: error.code(),
                    message: error.stored_message(),
                };
                match kind {
                    FailureKind::Permanent => Outcome::Failed(error_detail),
                    FailureKind::Transient => Outcome::Retry {
                        recheck: false,
                        error: error_detail,
                    },
                    FailureKind::Uncertain => Outcome::Retry {
                        recheck: true,
                        error: error_detail,
                    },
                }
            }
        }
    }

    fn decrypt(
        &self,
        card_code: &str,
        pin_code: Option<&str>,
    ) -> Result<(SecretString, Option<SecretString>), crate::crypto::DecryptError> {
        let card_code = self.cipher.decrypt(card_code)?;
        let pin_code = match pin_code.filter(|p| !p.is_empty()) {
            Some(pin) => Some(self.cipher.decrypt(pin)?),
            None => None,
        };
        Ok((card_code, pin_code))
    }

    /// Looks for an earlier attempt's message at Twilio: one to this number since the first
    /// attempt whose body is this SMS, or (smart encoding may rewrite a body) holds this
    /// reward's card code.
    #[tracing::instrument(skip_all)]
    async fn reconcile(
        &self,
        row: &ClaimedSms,
        body: &SmsBody,
        card_code: &SecretString,
    ) -> Result<Option<RecentMessage>, AttemptError> {
        let listing = tokio::time::timeout(
            RECONCILE_BUDGET,
            self.twilio
                .list_recent_messages(&row.to_phone, row.sending_since),
        )
        .await
        .unwrap_or(Err(TwilioError::Timeout));
        let messages = listing.map_err(|error| {
            tracing::warn!(error = %error, "cannot list recent messages to reconcile");
            AttemptError {
                code: error.code(),
                message: format!("reconciling with Twilio failed: {}", error.stored_message()),
            }
        })?;
        let code = card_code.expose_secret();
        let found = messages.into_iter().find(|m| {
            let listed = m.body.expose_secret();
            // A message that failed with a transient code is an earlier attempt that is owed a
            // successor, not one to adopt: it will never be delivered.
            !m.report.is_transient_failure()
                && (listed == body.expose()
                    || (code.len() >= MIN_CODE_LEN_FOR_MATCH && listed.contains(code)))
        });
        match &found {
            Some(m) => {
                tracing::info!(message.sid = %m.sid, "earlier attempt found at Twilio; not resending")
            }
            None => tracing::info!("no earlier attempt reached Twilio; sending"),
        }
        Ok(found)
    }

    async fn record(&self, row: &ClaimedSms, outcome: Outcome) -> anyhow::Result<()> {
        let client = self.pool.get().await.context("no database connection")?;
        let client = &client;
        // Out of attempts, a row whose last outcome is unknown is reconciled before it is
        // given up: the message may be at Twilio, and a reconciliation would adopt it.
        let give_up = match &outcome {
            Outcome::Retry { recheck: true, .. } => {
                row.attempt >= MAX_ATTEMPTS + FINAL_RECONCILIATIONS
            }
            Outcome::Retry { .. } => row.attempt >= MAX_ATTEMPTS,
            _ => false,
        };
        crate::metrics::sms_send_outcome(match &outcome {
            Outcome::Sent(_) => "sent",
            Outcome::Reconciled { .. } => "reconciled",
            Outcome::Retry { .. } if give_up => "gave_up",
            Outcome::Retry { .. } => "retry",
            Outcome::Failed(_) => "failed",
            Outcome::LeaseTooShort => "lease_too_short",
        });
        let current = match outcome {
            Outcome::Sent(sid) => {
                let current = outbox::mark_sent(client, row.id, row.attempt, &sid).await?;
                // Twilio's status callback may have come before the SID was stored here.
                if current && let Some(parked) = outbox::take_parked(client, &sid).await? {
                    let report = parked_report(&parked.kind, parked.error_code);
                    let applied = outbox::apply_report(client, &sid, &report).await?;
                    tracing::info!(outcome = ?applied, "applied a status report that came early");
                }
                current
            }
            Outcome::Reconciled { sid, report } => {
                let current = outbox::mark_sent(client, row.id, row.attempt, &sid).await?;
                // The message's own callbacks may have come before its SID was known here.
                if current && report.is_final() {
                    let applied = outbox::apply_report(client, &sid, &report).await?;
                    tracing::info!(outcome = ?applied, "applied the reconciled message's status");
                }
                current
            }
            Outcome::Retry { error, .. } if give_up => {
                let error = AttemptError {
                    code: error.code,
                    message: format!(
                        "gave up after {} attempts: {}",
                        row.attempt.min(MAX_ATTEMPTS),
                        error.message
                    ),
                };
                tracing::error!(error.code = ?error.code, "reward SMS given up");
                outbox::mark_failed(client, row.id, row.attempt, &error).await?
            }
            Outcome::Retry { recheck, error } => {
                let delay = retry_delay(row.attempt);
                tracing::info!(
                    delay_s = delay.as_secs(),
                    recheck,
                    reconcile_only = row.attempt >= MAX_ATTEMPTS,
                    "reward SMS will be retried"
                );
                outbox::schedule_retry(client, row.id, row.attempt, delay, recheck, &error).await?
            }
            Outcome::Failed(error) => {
                tracing::warn!(error.code = ?error.code, "reward SMS failed permanently");
                outbox::mark_failed(client, row.id, row.attempt, &error).await?
            }
            Outcome::LeaseTooShort => {
                tracing::warn!("claim too old to send safely; left for reconciliation");
                true
            }
        };
        if !current {
            tracing::warn!("another worker took this SMS over; outcome not recorded");
        }
        Ok(())
    }
}
