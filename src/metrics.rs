//! Prometheus metrics: HTTP traffic per route, webhook rejections, and gauges read from the
//! database at scrape time (calls by status, SMS outbox depth, gift-card pool levels).

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Latency buckets in seconds, from a cache hit to a slow database.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide recorder, installed on first use. Several apps in one process (tests)
/// share it.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("calltrack_http_request_duration_seconds".into()),
                LATENCY_BUCKETS,
            )
            .unwrap_or_else(|_| PrometheusBuilder::new())
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (an embedding program's); ours still
        // renders what is recorded through it only if it is the global one.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// One answered HTTP request, by route template, method label and status.
pub fn http_request(route: &str, method: &'static str, status: u16, elapsed: Duration) {
    let labels = [
        ("route", route.to_owned()),
        ("method", method.to_owned()),
        ("status", status.to_string()),
    ];
    metrics::counter!("calltrack_http_requests_total", &labels).increment(1);
    metrics::histogram!("calltrack_http_request_duration_seconds", &labels[..2])
        .record(elapsed.as_secs_f64());
}

/// A webhook refused before its handler ran, by reason (bad_signature, malformed, ...).
pub fn webhook_rejected(reason: &'static str) {
    metrics::counter!("calltrack_webhooks_rejected_total", "reason" => reason).increment(1);
}

/// The result of one attempt to send a reward SMS.
pub fn sms_send_outcome(outcome: &'static str) {
    metrics::counter!("calltrack_sms_sends_total", "outcome" => outcome).increment(1);
}

/// A webhook answered without the database (routing copy or spool), by webhook.
pub fn fail_open(webhook: &'static str) {
    metrics::counter!("calltrack_fail_open_answers_total", "webhook" => webhook).increment(1);
}

/// One group-commit batch written, by write kind (voice, progress), with its member count.
pub fn write_batch(kind: &'static str, members: usize) {
    #[allow(clippy::cast_precision_loss)] // batch sizes are far below 2^52
    metrics::histogram!("calltrack_write_batch_members", "kind" => kind).record(members as f64);
}

/// A record that could not be appended to the spool.
pub fn spool_write_failed() {
    metrics::counter!("calltrack_spool_write_failures_total").increment(1);
}

/// Records waiting in the spool.
pub fn spool_depth(depth: u64) {
    #[allow(clippy::cast_precision_loss)] // a gauge; depths are far below 2^52
    metrics::gauge!("calltrack_spool_depth").set(depth as f64);
}

/// One spool record replayed, by outcome (applied, already_applied, unreadable, set_aside).
pub fn spool_replayed(outcome: &'static str) {
    metrics::counter!("calltrack_spool_replayed_total", "outcome" => outcome).increment(1);
}

/// Spool records skipped as corrupt or torn (a crash mid-write), since start.
pub fn spool_skipped(total: u64) {
    #[allow(clippy::cast_precision_loss)]
    metrics::gauge!("calltrack_spool_skipped_records").set(total as f64);
}

/// Numbers in the routing copy.
pub fn routing_numbers(count: usize) {
    #[allow(clippy::cast_precision_loss)]
    metrics::gauge!("calltrack_routing_numbers").set(count as f64);
}

/// One webhooks-out attempt, by what became of its message (delivered, retry, failed, gone).
pub fn webhook_delivery(outcome: &'static str) {
    metrics::counter!("calltrack_webhook_deliveries_total", "outcome" => outcome).increment(1);
}

/// Webhook messages waiting to be delivered (`pending`, due or not), counted by the delivery
/// worker every 15 s; every instance reports the same database-wide number.
pub fn webhook_messages_pending(pending: i64) {
    #[allow(clippy::cast_precision_loss)] // a gauge; counts are far below 2^52
    metrics::gauge!("calltrack_webhook_messages_pending").set(pending as f64);
}
