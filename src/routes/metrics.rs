use std::net::SocketAddr;

use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::head_timeout::Listener;
use crate::app;
use crate::metrics::handle;

/// `GET /metrics`: Prometheus text exposition. Database gauges are refreshed per scrape; if
/// the database is unreachable the HTTP metrics are still served.
pub async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    // With a private metrics listener, the public one does not serve them at all.
    if state.metrics_addr.is_some_and(|addr| {
        !req.conn_data::<Listener>()
            .is_some_and(|on| same_listener(addr, on.0))
    }) {
        return HttpResponse::NotFound().finish();
    }
    let calls = &state.calls;
    crate::metrics::spool_depth(calls.spool.depth());
    crate::metrics::spool_skipped(calls.spool.skipped());
    crate::metrics::routing_numbers(calls.routing.len());
    match app::gauges::read(&calls.pool, calls.deadline).await {
        Ok(levels) => {
            for status in crate::domain::CallStatus::STORED {
                let n = levels
                    .calls_by_status
                    .iter()
                    .find(|(s, _)| s == status)
                    .map_or(0, |(_, n)| *n);
                metrics::gauge!("calltrack_calls_last_24h", "status" => status).set(n as f64);
            }
            for state in ["pending", "sending"] {
                let n = levels
                    .outbox_by_state
                    .iter()
                    .find(|(s, _)| s == state)
                    .map_or(0, |(_, n)| *n);
                metrics::gauge!("calltrack_sms_outbox_depth", "state" => state).set(n as f64);
            }
            for (id, available) in levels.pool_levels {
                metrics::gauge!("calltrack_gift_card_pool_available", "pool_id" => id)
                    .set(available as f64);
            }
            metrics::gauge!("calltrack_database_up").set(1.0);
        }
        Err(error) => {
            tracing::warn!(error = format!("{error:#}"), "metrics gauges unavailable");
            metrics::gauge!("calltrack_database_up").set(0.0);
        }
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(handle().render())
}

/// Whether a connection's local address belongs to the listener bound at `bound` (which may be
/// a wildcard address).
fn same_listener(bound: SocketAddr, local: SocketAddr) -> bool {
    bound.port() == local.port() && (bound.ip().is_unspecified() || bound.ip() == local.ip())
}
