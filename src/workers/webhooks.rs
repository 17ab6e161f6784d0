//! The webhooks-out delivery worker: claims due `webhook_messages` (V16), POSTs each to its
//! endpoint signed (Standard Webhooks), and records every attempt in `webhook_attempts`.
//! Any number of workers may run against one database: claims use `SKIP LOCKED` and a lease
//! longer than an attempt, and every outcome is fenced by its claim, so a message is sent
//! once in the common case (at least once if a process dies mid-attempt).
//!
//! Deliveries run on their own tasks, at most `WEBHOOK_DELIVERY_CONCURRENCY` at once, with
//! their own HTTP client: a slow receiver holds one slot, never a webhook from Twilio.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use secrecy::ExposeSecret as _;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::crypto::CardCipher;
use crate::db::PgPool;
use crate::db::webhook_outbox::{self, AttemptRecord, ClaimedMessage, Next};
use crate::webhooks::{Attempt, Deliverer, EndpointUrl, Message, Outcome, WebhookSecret};

/// Margin of a claim's lease over the longest attempt, for recording its outcome.
const LEASE_MARGIN: Duration = Duration::from_secs(45);

/// How often the worker counts pending messages for `calltrack_webhook_messages_pending`.
const GAUGE_INTERVAL: Duration = Duration::from_secs(15);

/// What the service writes as the reason when a receiver answers `410 Gone`.
pub const GONE_REASON: &str = "the endpoint answered 410 Gone";

/// Delivers webhook messages until told to stop.
#[derive(Debug, Clone)]
pub struct WebhookWorker {
    pool: PgPool,
    deliverer: Deliverer,
    cipher: CardCipher,
    concurrency: usize,
    poll_interval: Duration,
}

impl WebhookWorker {
    /// A worker with `concurrency` attempts in flight at most.
    pub fn new(
        pool: PgPool,
        deliverer: Deliverer,
        cipher: CardCipher,
        concurrency: usize,
        poll_interval: Duration,
    ) -> Self {
        Self {
            pool,
            deliverer,
            cipher,
            concurrency: concurrency.max(1),
            poll_interval,
        }
    }

    fn lease(&self) -> Duration {
        self.deliverer.config().timeout + LEASE_MARGIN
    }

    /// Polls until `stop` turns true (or its sender is dropped); attempts in flight are
    /// finished and recorded first.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        tracing::info!(
            poll_ms = self.poll_interval.as_millis(),
            concurrency = self.concurrency,
            "webhook delivery worker started"
        );
        let this = Arc::new(self);
        let slots = Arc::new(Semaphore::new(this.concurrency));
        let mut in_flight = JoinSet::new();
        let mut gauged_at: Option<std::time::Instant> = None;
        while !*stop.borrow() {
            if gauged_at.is_none_or(|at| at.elapsed() >= GAUGE_INTERVAL) {
                gauged_at = Some(std::time::Instant::now());
                this.gauge_pending().await;
            }
            while let Some(done) = in_flight.try_join_next() {
                if let Err(error) = done {
                    tracing::error!(%error, "a webhook delivery panicked");
                }
            }
            // Wait for a free slot, then take every free one.
            let first = tokio::select! {
                permit = Arc::clone(&slots).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
                changed = stop.changed() => if changed.is_err() { break } else { continue },
            };
            let mut permits = vec![first];
            while let Ok(permit) = Arc::clone(&slots).try_acquire_owned() {
                permits.push(permit);
            }
            let wanted = permits.len();
            let claimed = match this.claim(wanted).await {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::error!(
                        error = format!("{error:#}"),
                        "claiming webhook messages failed"
                    );
                    Vec::new()
                }
            };
            let count = claimed.len();
            for (message, permit) in claimed.into_iter().zip(permits.drain(..)) {
                let this = Arc::clone(&this);
                in_flight.spawn(async move {
                    this.handle(message).await;
                    drop(permit);
                });
            }
            drop(permits);
            if count == wanted {
                continue;
            }
            tokio::select! {
                changed = stop.changed() => if changed.is_err() { break },
                () = tokio::time::sleep(this.poll_interval) => {}
            }
        }
        while let Some(done) = in_flight.join_next().await {
            if let Err(error) = done {
                tracing::error!(%error, "a webhook delivery panicked");
            }
        }
        tracing::info!("webhook delivery worker stopped");
    }

    async fn gauge_pending(&self) {
        let counted = match self.pool.get().await {
            Ok(client) => webhook_outbox::pending_count(&client)
                .await
                .map_err(anyhow::Error::from),
            Err(error) => Err(anyhow::Error::from(error)),
        };
        match counted {
            Ok(pending) => crate::metrics::webhook_messages_pending(pending),
            Err(error) => tracing::debug!(
                error = format!("{error:#}"),
                "counting pending webhook messages failed"
            ),
        }
    }

    async fn claim(&self, limit: usize) -> anyhow::Result<Vec<ClaimedMessage>> {
        let client = self.pool.get().await.context("no database connection")?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        Ok(webhook_outbox::claim_due(&client, limit, self.lease()).await?)
    }

    #[tracing::instrument(skip_all, fields(webhook.id = %message.id, endpoint.id = %message.endpoint_id, attempt = message.attempts + 1))]
    async fn handle(&self, message: ClaimedMessage) {
        let attempt = self.attempt(&message).await;
        let attempts = u32::try_from(message.attempts).unwrap_or(0) + 1;
        let next = match attempt.outcome {
            Outcome::Delivered => Next::Delivered,
            Outcome::Gone => Next::Gone {
                reason: GONE_REASON,
            },
            Outcome::Retry => match crate::webhooks::retry_schedule(attempts) {
                Some(pause) => Next::RetryAfter(pause),
                None => Next::Failed,
            },
        };
        crate::metrics::webhook_delivery(match next {
            Next::Delivered => "delivered",
            Next::RetryAfter(_) => "retry",
            Next::Failed => "failed",
            Next::Gone { .. } => "gone",
        });
        let record = AttemptRecord {
            status_code: attempt.status_code.map(i32::from),
            duration_ms: i32::try_from(attempt.duration.as_millis()).unwrap_or(i32::MAX),
            error: attempt.error.as_deref(),
        };
        let recorded = match self.pool.get().await {
            Ok(client) => webhook_outbox::record_attempt(&client, &message, &record, next)
                .await
                .map_err(anyhow::Error::from),
            Err(error) => Err(anyhow::Error::from(error).context("no database connection")),
        };
        match recorded {
            Ok(true) => {}
            // Its lease ran out and another claim took the message over.
            Ok(false) => tracing::warn!("the webhook attempt's claim had lapsed; not recorded"),
            // The lease expires and the message is tried again: at least once, not lost.
            Err(error) => tracing::error!(
                error = format!("{error:#}"),
                "recording a webhook attempt failed"
            ),
        }
    }

    /// One attempt: the stored payload serialised once, signed over exactly those bytes.
    async fn attempt(&self, message: &ClaimedMessage) -> Attempt {
        let refused = |error: String| Attempt {
            outcome: Outcome::Retry,
            status_code: None,
            duration: Duration::ZERO,
            error: Some(error),
        };
        let url = match EndpointUrl::parse(&message.url, self.deliverer.config().allow_private) {
            Ok(url) => url,
            Err(error) => return refused(error.to_string()),
        };
        let mut secrets = Vec::with_capacity(2);
        for stored in std::iter::once(&message.secret_encrypted)
            .chain(message.previous_secret_encrypted.as_ref())
        {
            match self.read_secret(stored) {
                Some(secret) => secrets.push(secret),
                None => return refused("the endpoint's signing secret could not be read".into()),
            }
        }
        let body = match serde_json::to_vec(&message.payload) {
            Ok(body) => body,
            Err(error) => return refused(format!("the payload could not be serialised: {error}")),
        };
        let secrets: Vec<&WebhookSecret> = secrets.iter().collect();
        self.deliverer
            .deliver(
                &url,
                &Message {
                    id: &message.id,
                    timestamp: chrono::Utc::now().timestamp(),
                    body: &body,
                },
                &secrets,
            )
            .await
    }

    fn read_secret(&self, stored: &str) -> Option<WebhookSecret> {
        let plain = self.cipher.decrypt(stored).ok()?;
        WebhookSecret::parse(plain.expose_secret()).ok()
    }
}
