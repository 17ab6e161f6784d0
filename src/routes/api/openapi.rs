//! The OpenAPI 3 document of the JSON API.

use actix_web::web;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{campaigns, numbers, sessions};

#[derive(OpenApi)]
#[openapi(
    info(title = "calltrack", description = "Call sessions, conditions met and rewards for call-center agents."),
    paths(
        sessions::list,
        sessions::detail,
        sessions::link_recipient,
        sessions::mark_condition,
        campaigns::call_stats,
        numbers::list,
        numbers::buy,
        numbers::update,
        numbers::release
    ),
    modifiers(&Security),
    security(("bearer" = []), ("api_key" = []))
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
    }
}

/// `GET /api/v1/openapi.json`
pub async fn document() -> web::Json<utoipa::openapi::OpenApi> {
    web::Json(ApiDoc::openapi())
}
