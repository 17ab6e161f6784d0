use actix_web::{HttpResponse, web};

use super::AppState;
use crate::app;

/// The process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// The database answers within the webhook deadline.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if app::health::database_ready(&state.calls.pool, state.calls.deadline).await {
        HttpResponse::Ok().content_type("text/plain").body("ready")
    } else {
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("database unreachable")
    }
}
