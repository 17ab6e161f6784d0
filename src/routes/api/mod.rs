//! The agent and manager JSON API under `/api/v1`.

pub mod campaigns;
pub mod crm_events;
pub mod export;
pub mod numbers;
pub mod openapi;
pub mod recipients;
pub mod sessions;
pub mod setup;
pub mod setup_types;
pub mod types;
pub mod webhooks;

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::{HttpMessage as _, HttpRequest, web};

use super::error::ApiError;

/// The largest JSON body the API reads; its requests are a few hundred bytes.
pub const MAX_JSON_BODY: usize = 64 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(json_config())
        .app_data(query_config())
        .app_data(path_config())
        .route("/api/v1/openapi.json", web::get().to(openapi::document))
        .route("/api/v1/call-sessions", web::get().to(sessions::list))
        .route(
            "/api/v1/call-sessions/{id}",
            web::get().to(sessions::detail),
        )
        .route(
            "/api/v1/call-sessions/{id}/recipient",
            web::post().to(sessions::link_recipient),
        )
        .route(
            "/api/v1/call-sessions/{id}/conditions",
            web::post().to(sessions::mark_condition),
        )
        .route("/api/v1/crm-events", web::post().to(crm_events::report))
        .route("/api/v1/campaigns", web::get().to(campaigns::list))
        .route("/api/v1/campaigns/{id}", web::get().to(campaigns::detail))
        .route(
            "/api/v1/campaigns/{id}/call-stats",
            web::get().to(campaigns::call_stats),
        )
        .route(
            "/api/v1/campaigns/{id}/call-stats/series",
            web::get().to(campaigns::call_stats_series),
        )
        .route(
            "/api/v1/campaigns/{id}/call-sessions.csv",
            web::get().to(export::call_sessions_csv),
        )
        .service(
            web::resource("/api/v1/campaigns/{id}/tracked-numbers")
                .route(web::get().to(numbers::list))
                .route(web::post().to(numbers::buy)),
        )
        .service(
            web::resource("/api/v1/tracked-numbers/{id}")
                .route(web::patch().to(numbers::update))
                .route(web::delete().to(numbers::release)),
        )
        // Webhooks out: endpoints, their deliveries and retries.
        .service(
            web::resource("/api/v1/webhook-endpoints")
                .route(web::get().to(webhooks::list))
                .route(web::post().to(webhooks::create)),
        )
        .service(
            web::resource("/api/v1/webhook-endpoints/{id}")
                .route(web::patch().to(webhooks::update))
                .route(web::delete().to(webhooks::delete)),
        )
        .route(
            "/api/v1/webhook-endpoints/{id}/rotate-secret",
            web::post().to(webhooks::rotate_secret),
        )
        .route(
            "/api/v1/webhook-endpoints/{id}/deliveries",
            web::get().to(webhooks::deliveries),
        )
        .route(
            "/api/v1/webhook-deliveries/{id}/retry",
            web::post().to(webhooks::retry),
        )
        // Setting up a campaign without SQL (campaigns, conditions, pools and cards).
        .route("/api/v1/campaigns", web::post().to(setup::create_campaign))
        .route(
            "/api/v1/campaigns/{id}",
            web::patch().to(setup::update_campaign),
        )
        .route(
            "/api/v1/campaigns/{id}/conditions",
            web::get().to(setup::list_conditions),
        )
        .route(
            "/api/v1/campaigns/{id}/conditions/{number}",
            web::put().to(setup::put_condition),
        )
        .service(
            web::resource("/api/v1/gift-card-pools")
                .route(web::get().to(setup::list_pools))
                .route(web::post().to(setup::create_pool)),
        )
        .route(
            "/api/v1/gift-card-pools/{id}/cards",
            web::post().to(setup::add_cards),
        )
        // Recipients: imported from a CSV stream, paged by redemption code.
        .service(
            web::resource("/api/v1/campaigns/{id}/recipients")
                .route(web::get().to(recipients::list))
                .route(web::post().to(recipients::import)),
        );
}

/// JSON bodies: bounded, and every refusal in the API's error shape.
fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_JSON_BODY)
        .error_handler(|error, _req: &HttpRequest| {
            let api = match &error {
                JsonPayloadError::Overflow { .. }
                | JsonPayloadError::OverflowKnownLength { .. } => ApiError::PayloadTooLarge {
                    limit: MAX_JSON_BODY,
                },
                JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
                JsonPayloadError::Payload(actix_web::error::PayloadError::Io(e))
                    if e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    ApiError::RequestTimeout
                }
                JsonPayloadError::Deserialize(e) => {
                    ApiError::bad_request(format!("the JSON body is not valid: {e}"))
                }
                other => ApiError::bad_request(format!("the JSON body is not valid: {other}")),
            };
            api.into()
        })
}

fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|error, _req: &HttpRequest| {
        let message = match &error {
            QueryPayloadError::Deserialize(e) => format!("the query string is not valid: {e}"),
            other => format!("the query string is not valid: {other}"),
        };
        ApiError::bad_request(message).into()
    })
}

/// A path segment that cannot be decoded cannot name anything that exists.
fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_error: PathError, _req: &HttpRequest| {
        ApiError::NotFound("no such resource").into()
    })
}

/// Whether the request's body is declared `text/csv` (parameters such as `charset` aside).
pub fn is_csv(request: &HttpRequest) -> bool {
    matches!(request.mime_type(), Ok(Some(mime)) if mime.essence_str() == "text/csv")
}

/// Parses a path id; an id that is not a UUID cannot exist, so it is a 404.
pub fn parse_id(raw: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(raw).map_err(|_| ApiError::NotFound("no such resource"))
}

/// A client string field; PostgreSQL text cannot hold a NUL, so one is refused here.
pub fn text<'a>(field: &'static str, value: &'a str) -> Result<&'a str, ApiError> {
    if value.contains('\0') {
        Err(ApiError::bad_request(format!(
            "{field} must not contain a NUL character"
        )))
    } else {
        Ok(value)
    }
}
