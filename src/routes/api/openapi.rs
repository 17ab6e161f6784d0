//! The OpenAPI 3 document of the JSON API.

use actix_web::web;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{campaigns, export, numbers, sessions};

#[derive(OpenApi)]
#[openapi(
    info(title = "calltrack", description = "Call sessions, conditions met and rewards for call-center agents; tracked numbers and statistics for campaign managers."),
    paths(
        sessions::list,
        sessions::detail,
        sessions::link_recipient,
        sessions::mark_condition,
        campaigns::list,
        campaigns::detail,
        campaigns::call_stats,
        campaigns::call_stats_series,
        export::call_sessions_csv,
        numbers::list,
        numbers::buy,
        numbers::update,
        numbers::release
    ),
    modifiers(&Security, &ServerErrors, &AtLeastOneField),
    security(("bearer" = []), ("api_key" = []))
)]
pub struct ApiDoc;

struct Security;

/// A `PATCH` must change something.
struct AtLeastOneField;

impl Modify for AtLeastOneField {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{RefOr, schema::Schema};
        let schema = openapi
            .components
            .as_mut()
            .and_then(|c| c.schemas.get_mut("UpdateNumberRequest"));
        if let Some(RefOr::T(Schema::Object(object))) = schema {
            object.min_properties = Some(1);
            object.max_properties = None;
        }
    }
}

/// Any operation may meet a database that is away (`503`, retry) or a fault of ours (`500`).
struct ServerErrors;

impl Modify for ServerErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{RefOr, ResponseBuilder, content::ContentBuilder};
        let response = |description: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                                "ErrorBody",
                            ))))
                            .build(),
                    )
                    .build(),
            )
        };
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
                &mut item.put,
            ]
            .into_iter()
            .flatten()
            {
                op.responses
                    .responses
                    .entry("500".into())
                    .or_insert_with(|| response("a fault of ours; it is logged"));
                op.responses
                    .responses
                    .entry("503".into())
                    .or_insert_with(|| response("the database did not answer in time; retry"));
            }
        }
    }
}

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
