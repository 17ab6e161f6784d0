//! The OpenAPI 3 document of the JSON API.

use actix_web::web;
use serde_json::{Value, json};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{campaigns, crm_events, export, numbers, recipients, sessions, setup, webhooks};
use crate::routes::error::ApiError;

#[derive(OpenApi)]
#[openapi(
    info(title = "calltrack", description = "Call sessions, conditions met and rewards for call-center agents; tracked numbers and statistics for campaign managers."),
    paths(
        sessions::list,
        sessions::detail,
        sessions::link_recipient,
        sessions::mark_condition,
        crm_events::report,
        campaigns::list,
        campaigns::detail,
        campaigns::call_stats,
        campaigns::call_stats_series,
        export::call_sessions_csv,
        numbers::list,
        numbers::buy,
        numbers::update,
        numbers::release,
        // Setting up a campaign without SQL.
        setup::create_campaign,
        setup::update_campaign,
        setup::list_conditions,
        setup::put_condition,
        setup::create_pool,
        setup::list_pools,
        setup::add_cards,
        recipients::import,
        recipients::list,
        // Webhooks out.
        webhooks::create,
        webhooks::list,
        webhooks::update,
        webhooks::delete,
        webhooks::rotate_secret,
        webhooks::deliveries,
        webhooks::retry
    ),
    modifiers(&Security, &ServerErrors),
    security(("bearer" = []), ("api_key" = []))
)]
pub struct ApiDoc;

struct Security;

/// Any operation may meet a database that is slow or away (`503`) or a fault of ours (`500`).
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
                    .or_insert_with(|| {
                        response(
                            "`database_timeout`: the database did not finish within `API_DEADLINE_MS` and the request was stopped (ask for less, or later); `database_unavailable`: the database cannot be reached",
                        )
                    });
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
pub async fn document() -> Result<web::Json<Value>, ApiError> {
    let mut document = serde_json::to_value(ApiDoc::openapi())
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("the OpenAPI document")))?;
    server_rules(&mut document);
    Ok(web::Json(document))
}

/// An instant the server reads in a query: RFC 3339 (`format: date-time` says the rest), within
/// the years 1 to 9999 once in UTC, where PostgreSQL holds it. The look-aheads refuse year 0
/// and the offsets that would carry 0001-01-01 or 9999-12-31 out of that range.
const TIMESTAMP: &str = r"^(?!0000)(?!0001-01-01[Tt][^Zz]*\+)(?!9999-12-31[Tt][^Zz]*-)[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$";

/// E.164: `+` and up to 15 digits, the first not 0. The server also reads national formats
/// such as `(415) 555-0123`; the document asks for the one form every client can write.
const E164: &str = r"^\+[1-9][0-9]{6,14}$";

/// Text PostgreSQL can store: no NUL.
const NO_NUL: &str = r"^[^\u0000]*$";

/// No NUL, and at least one character Rust's `trim` keeps (Unicode `White_Space`, spelt out
/// because regex dialects disagree on `\s`; U+FEFF, which `trim` keeps, is refused too).
const NOT_BLANK: &str = r"^[^\u0000]*[^\u0000\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\uFEFF][^\u0000]*$";

/// Three digits, the first 2 to 9, not a service code (N11): [`crate::domain::AreaCode`].
const AREA_CODE: &str = "^[2-9](?!11)[0-9]{2}$";

/// A cursor is the API's own (URL-safe base64, unpadded, of a position it wrote): its alphabet
/// and length are known, its content is not the client's to make.
const CURSOR: &str = "^[A-Za-z0-9_-]+$";

/// Folds in what the server accepts and the derives cannot state: query parameters by name
/// (each name means one thing across the API), request properties by component, the choices
/// between fields, and the business-hours object. What no schema can state (`from` not after
/// `to`, a number in its numbering plan) is said in the descriptions.
fn server_rules(document: &mut Value) {
    for operation in operations(document) {
        let recipients_list = operation["operationId"] == "list_campaign_recipients";
        let parameters = operation
            .get_mut("parameters")
            .and_then(Value::as_array_mut);
        for parameter in parameters.into_iter().flatten() {
            let schema = match parameter["name"].as_str() {
                Some("from" | "to") => {
                    json!({ "type": "string", "format": "date-time", "pattern": TIMESTAMP })
                }
                // The recipients list pages by redemption code, so its cursor's length follows
                // the code's (up to 200 characters of up to 4 bytes, and an id).
                Some("cursor") if recipients_list => {
                    json!({ "type": "string", "minLength": 51, "maxLength": 1116, "pattern": CURSOR })
                }
                Some("q") => json!({ "type": "string", "maxLength": 200, "pattern": NO_NUL }),
                Some("cursor") => {
                    json!({ "type": "string", "minLength": 83, "maxLength": 96, "pattern": CURSOR })
                }
                Some("bucket") => json!({ "type": "string", "enum": ["day", "hour"] }),
                _ => continue,
            };
            parameter["schema"] = schema;
        }
    }
    let Some(schemas) = document
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let properties = [
        (
            "LinkRecipientRequest",
            "redemption_code",
            json!({ "pattern": NOT_BLANK }),
        ),
        (
            "MarkConditionRequest",
            "notes",
            json!({ "pattern": NO_NUL }),
        ),
        (
            "BuyNumberRequest",
            "area_code",
            json!({ "pattern": AREA_CODE }),
        ),
        (
            "BuyNumberRequest",
            "phone_number",
            json!({ "pattern": E164 }),
        ),
        (
            "BuyNumberRequest",
            "forward_to_number",
            json!({ "pattern": E164 }),
        ),
        ("BuyNumberRequest", "whisper", json!({ "pattern": NO_NUL })),
        (
            "BuyNumberRequest",
            "voicemail_greeting",
            json!({ "pattern": NO_NUL }),
        ),
        (
            "UpdateNumberRequest",
            "forward_to_number",
            json!({ "pattern": E164 }),
        ),
        (
            "UpdateNumberRequest",
            "whisper",
            json!({ "pattern": NO_NUL }),
        ),
        (
            "UpdateNumberRequest",
            "voicemail_greeting",
            json!({ "pattern": NO_NUL }),
        ),
    ];
    let properties = properties.into_iter().chain(setup_rules());
    for (component, property, keywords) in properties {
        let target = schemas
            .get_mut(component)
            .and_then(|c| c.pointer_mut(&format!("/properties/{property}")))
            .and_then(Value::as_object_mut);
        if let (Some(target), Value::Object(keywords)) = (target, keywords) {
            target.extend(keywords);
        }
    }
    for component in ["BuyNumberRequest", "UpdateNumberRequest"] {
        let hours = schemas
            .get_mut(component)
            .and_then(|c| c.pointer_mut("/properties/business_hours"));
        if let Some(hours) = hours {
            let description = hours["description"].clone();
            *hours = json!({
                "description": description,
                "oneOf": [{ "$ref": "#/components/schemas/BusinessHours" }, { "type": "null" }],
            });
        }
    }
    if let Some(Value::Object(buy)) = schemas.get_mut("BuyNumberRequest") {
        buy.insert("oneOf".into(), exactly_one_choice());
    }
    if let Some(Value::Object(update)) = schemas.get_mut("UpdateNumberRequest") {
        update.remove("minProperties");
        update.insert("anyOf".into(), at_least_one_change());
    }
    schemas.insert("BusinessHours".into(), business_hours());
    schemas.insert("OpeningIntervals".into(), opening_intervals());
}

/// What the setup requests' derives cannot state: names not blank, no NUL in text, the
/// platform's campaign statuses and trigger types, and the ranges of the numbers.
fn setup_rules() -> Vec<(&'static str, &'static str, Value)> {
    use crate::domain::campaign_setup::{
        CAMPAIGN_STATUSES, MAX_DELAY_HOURS, MAX_TALK_SECONDS, RETENTION_DAYS,
    };
    let statuses: Vec<Value> = CAMPAIGN_STATUSES
        .iter()
        .map(|s| json!(s))
        .chain([Value::Null])
        .collect();
    let retention = json!({ "minimum": RETENTION_DAYS.start(), "maximum": RETENTION_DAYS.end() });
    vec![
        (
            "CreateCampaignRequest",
            "name",
            json!({ "pattern": NOT_BLANK }),
        ),
        (
            "CreateCampaignRequest",
            "status",
            json!({ "enum": statuses }),
        ),
        (
            "UpdateCampaignRequest",
            "name",
            json!({ "pattern": NOT_BLANK }),
        ),
        (
            "UpdateCampaignRequest",
            "status",
            json!({ "enum": statuses }),
        ),
        (
            "UpdateCampaignRequest",
            "recording_retention_days",
            retention,
        ),
        (
            "PutConditionRequest",
            "condition_name",
            json!({ "pattern": NOT_BLANK }),
        ),
        (
            "PutConditionRequest",
            "trigger_type",
            json!({ "enum": ["call", "crm_event", "time_delay"] }),
        ),
        (
            "PutConditionRequest",
            "crm_event_name",
            json!({ "pattern": NOT_BLANK }),
        ),
        (
            "PutConditionRequest",
            "time_delay_hours",
            json!({ "minimum": 1, "maximum": MAX_DELAY_HOURS }),
        ),
        (
            "PutConditionRequest",
            "auto_min_talk_seconds",
            json!({ "minimum": 0, "maximum": MAX_TALK_SECONDS }),
        ),
        (
            "PutRewardRequest",
            "reward_description",
            json!({ "pattern": NO_NUL }),
        ),
        (
            "PutRewardRequest",
            "sms_template",
            json!({ "pattern": NO_NUL }),
        ),
        (
            "CreatePoolRequest",
            "pool_name",
            json!({ "pattern": NOT_BLANK }),
        ),
        (
            "CreatePoolRequest",
            "brand_name",
            json!({ "pattern": NOT_BLANK }),
        ),
    ]
}

fn operations(document: &mut Value) -> impl Iterator<Item = &mut Value> {
    document
        .get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
}

/// `area_code` or `phone_number`, exactly one of them a string (`null` counts as left out, as
/// the server reads it).
fn exactly_one_choice() -> Value {
    json!([
        { "required": ["area_code"], "properties": { "area_code": { "type": "string" } } },
        { "required": ["phone_number"], "properties": { "phone_number": { "type": "string" } } },
    ])
}

/// A `PATCH` must change something: a field whose `null` means "as it is" must be given a
/// value; one whose `null` clears a setting counts as given.
fn at_least_one_change() -> Value {
    json!([
        { "required": ["forward_to_number"], "properties": { "forward_to_number": { "type": "string" } } },
        { "required": ["is_active"], "properties": { "is_active": { "type": "boolean" } } },
        { "required": ["require_keypress"], "properties": { "require_keypress": { "type": "boolean" } } },
        { "required": ["voicemail"], "properties": { "voicemail": { "type": "boolean" } } },
        { "required": ["whisper"] },
        { "required": ["voicemail_greeting"] },
        { "required": ["business_hours"] },
    ])
}

/// [`crate::domain::BusinessHours`], as far as a schema can state it.
fn business_hours() -> Value {
    let zones: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect();
    let day = json!({ "$ref": "#/components/schemas/OpeningIntervals" });
    json!({
        "type": "object",
        "description": "Weekly opening hours, local wall-clock time in one time zone. Within a day the intervals must start before they end, come in order and not overlap (`400` otherwise), which the schema cannot state.",
        "required": ["timezone", "weekly"],
        "additionalProperties": false,
        "properties": {
            "timezone": { "type": "string", "description": "An IANA time-zone name.", "enum": zones },
            "weekly": {
                "type": "object",
                "description": "A day left out, or `[]`, is closed.",
                "additionalProperties": false,
                "properties": {
                    "mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": day, "sun": day,
                },
            },
        },
    })
}

/// One day's `[start, end)` intervals of 24-hour `HH:MM`; `24:00` only ends one, `00:00`
/// only starts one (an interval may not cross midnight).
fn opening_intervals() -> Value {
    json!({
        "type": "array",
        "items": {
            "type": "array",
            "prefixItems": [
                { "type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$" },
                { "type": "string", "pattern": "^(?!00:00$)(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$" },
            ],
            "minItems": 2,
            "maxItems": 2,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validator(schema: &Value) -> jsonschema::Validator {
        jsonschema::validator_for(schema).unwrap()
    }

    #[test]
    fn every_time_zone_the_document_offers_is_one_the_server_reads() {
        let hours = business_hours();
        let zones = hours["properties"]["timezone"]["enum"].as_array().unwrap();
        assert!(zones.len() > 300);
        for zone in zones {
            let zone = zone.as_str().unwrap();
            assert!(zone.parse::<chrono_tz::Tz>().is_ok(), "{zone}");
        }
    }

    #[test]
    fn the_opening_time_patterns_take_exactly_the_times_the_server_takes() {
        let items = opening_intervals();
        let start = validator(&items["items"]["prefixItems"][0]);
        let end = validator(&items["items"]["prefixItems"][1]);
        for hour in 0..100 {
            for minute in 0..100 {
                let time = format!("{hour:02}:{minute:02}");
                let reads = |start_at: &str, end_at: &str| {
                    crate::domain::BusinessHours::parse(&json!({
                        "timezone": "UTC", "weekly": { "mon": [[start_at, end_at]] },
                    }))
                    .is_ok()
                };
                assert_eq!(
                    start.is_valid(&json!(time)),
                    reads(&time, "24:00"),
                    "start {time}"
                );
                assert_eq!(
                    end.is_valid(&json!(time)),
                    reads("00:00", &time),
                    "end {time}"
                );
            }
        }
    }

    #[test]
    fn the_area_code_pattern_takes_exactly_the_codes_the_server_takes() {
        let pattern = validator(&json!({ "type": "string", "pattern": AREA_CODE }));
        for code in 0..1000 {
            let code = format!("{code:03}");
            assert_eq!(
                pattern.is_valid(&json!(code)),
                crate::domain::AreaCode::parse(&code).is_ok(),
                "{code}"
            );
        }
    }

    #[test]
    fn a_redemption_code_of_one_character_is_blank_to_the_pattern_as_to_the_server() {
        let pattern = validator(&json!({ "type": "string", "pattern": NOT_BLANK }));
        for c in (0..=0xFFFF_u32).filter_map(char::from_u32) {
            let server_reads = c != '\0' && !c.to_string().trim().is_empty();
            // U+FEFF is no white space to Rust, but some regex dialects' `\s` take it.
            let expected = server_reads && c != '\u{FEFF}';
            assert_eq!(
                pattern.is_valid(&json!(c.to_string())),
                expected,
                "U+{:04X}",
                c as u32
            );
        }
    }
}
