use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::AppState;
use crate::db::gauges;
use crate::metrics::handle;

/// `GET /metrics`: Prometheus text exposition. Database gauges are refreshed per scrape; if
/// the database is unreachable the HTTP metrics are still served.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let levels = match state.pool.get().await {
        Ok(client) => gauges::read(&client).await,
        Err(error) => Err(error.into()),
    };
    match levels {
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
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle().render(),
    )
}
