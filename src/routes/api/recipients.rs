//! A campaign's recipients for managers: imported from a CSV body read as a stream, and listed
//! a page at a time.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::setup_types::RejectedLineOut;
use super::{parse_id, text};
use crate::app;
use crate::app::recipients::{BodyError, ImportError, ImportReport, ListRecipientsError};
use crate::domain::mask_phone;
use crate::routes::AppState;
use crate::routes::error::{ApiError, ErrorBody};
use crate::routes::extract::Manager;

/// The largest import body, 50 MB: refused up front when `Content-Length` says more, and as
/// soon as more arrives otherwise.
pub const MAX_IMPORT_BODY: usize = 50 * 1024 * 1024;

/// The routes whose body is read as a stream for as long as it keeps coming (see
/// `middleware::body_deadline`), rather than within one deadline for the whole body.
pub const STREAMED_BODIES: [&str; 1] = ["/api/v1/campaigns/{id}/recipients"];

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;
const MAX_QUERY_CHARS: usize = 200;

/// What an import did.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"added": 2, "updated": 1, "rejected": [
    {"line": 4, "reason": "phone is not a valid phone number"},
    {"line": 7, "reason": "redemption_code was already given on line 3"}], "rejected_total": 2}))]
pub struct RecipientImportOut {
    /// Recipients added.
    pub added: u64,
    /// Recipients of the campaign with a line's redemption code, their names and phone
    /// replaced by the line's.
    pub updated: u64,
    /// The first 1,000 rejected lines, in line order; a rejected line wrote nothing.
    pub rejected: Vec<RejectedLineOut>,
    /// Every rejected line, listed or not.
    pub rejected_total: u64,
}

impl From<ImportReport> for RecipientImportOut {
    fn from(report: ImportReport) -> Self {
        Self {
            added: report.added,
            updated: report.updated,
            rejected: report
                .rejected
                .into_iter()
                .map(|r| RejectedLineOut {
                    line: r.line,
                    reason: r.reason,
                })
                .collect(),
            rejected_total: report.rejected_total,
        }
    }
}

/// The page of a campaign's recipients.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecipientListQuery {
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page, as it came; one this API did not issue is a
    /// `400`.
    pub cursor: Option<String>,
    /// A search: text that reads as a phone number (seven digits or more, and only digits,
    /// spaces, `+`, `-`, `.` and parentheses) finds that phone however it is written; other
    /// text finds redemption codes starting with it, or last names starting with it (case
    /// ignored).
    #[param(max_length = 200)]
    pub q: Option<String>,
}

/// A recipient.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "0b5e2b8c-3f7a-4c1e-9d2a-7e4f1a6c8b90", "first_name": "Ann",
    "last_name": "Lee", "phone": "+14155550100", "phone_e164": "+14155550100",
    "redemption_code": "SPRING-4821", "created_at": "2026-03-02T15:04:05Z"}))]
pub struct CampaignRecipientOut {
    pub id: Uuid,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// As stored (an import stores E.164); masked (`+1415***0100`) for roles that may not
    /// see callers' numbers.
    pub phone: Option<String>,
    /// The phone normalised by the database, which a caller is matched by; masked likewise.
    pub phone_e164: Option<String>,
    pub redemption_code: String,
    pub created_at: DateTime<Utc>,
}

/// A page of recipients.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignRecipientPage {
    pub items: Vec<CampaignRecipientOut>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

fn encode_cursor(code: &str, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{code}|{id}"))
}

fn decode_cursor(raw: &str) -> Result<(String, Uuid), ApiError> {
    let invalid = || ApiError::bad_request("cursor is not one this API issued");
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?)
        .map_err(|_| invalid())?;
    let (code, id) = text.rsplit_once('|').ok_or_else(invalid)?;
    if code.contains('\0') {
        return Err(invalid());
    }
    Ok((code.to_owned(), Uuid::parse_str(id).map_err(|_| invalid())?))
}

/// Imports recipients from a CSV file into the campaign: adds each line's recipient, or
/// updates (names and phone) the campaign's recipient with the line's redemption code. The
/// header row names at least `first_name`, `last_name`, `phone` and `redemption_code`, in
/// any order (other columns are ignored); RFC 4180 quoting, CRLF or LF, an optional UTF-8
/// BOM; blank lines are skipped. Phones are read as the voice webhook reads callers (US
/// numbers may leave out `+1`) and stored in E.164; an empty phone leaves the recipient
/// findable by redemption code only. A line with a bad field, a code given on an earlier line
/// or used by another campaign is rejected and writes nothing. Every 10,000 lines are
/// committed together, so a body that breaks off leaves the lines before it imported; sending
/// the same file again finishes the import.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/recipients",
    operation_id = "import_campaign_recipients", tag = "campaigns",
    params(("id" = uuid::Uuid, Path, description = "campaign id")),
    request_body(content = String, content_type = "text/csv",
        description = "The recipients file, up to 50 MB.",
        example = json!("first_name,last_name,phone,redemption_code\r\nAnn,Lee,(415) 555-0100,SPRING-4821\r\nBo,\"Smith, Jr.\",,SPRING-4822\r\n")),
    responses((status = 200, body = RecipientImportOut, description = "the file was read to its end"),
              (status = 400, body = ErrorBody, description = "`invalid_csv`: no header row, or one without a required column (named in the message); `body_incomplete`: the body broke off (the message says how many lines were imported before)"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 408, body = ErrorBody, description = "the body stopped arriving for longer than the body deadline; the lines before were imported"),
              (status = 413, body = ErrorBody, description = "the body is larger than 50 MB (refused before reading when `Content-Length` says so; otherwise the lines before the limit were imported)"),
              (status = 415, body = ErrorBody, description = "the body is not `text/csv`")))]
pub async fn import(
    state: web::Data<AppState>,
    Manager(principal): Manager,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<web::Json<RecipientImportOut>, ApiError> {
    let id = parse_id(&id)?;
    if !super::is_csv(&req) {
        return Err(ApiError::MediaTypeNot("text/csv"));
    }
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_IMPORT_BODY as u64) {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_IMPORT_BODY,
        });
    }
    let mut received = 0_usize;
    let body = payload.map(move |chunk| {
        let chunk = chunk.map_err(|error| match error {
            actix_web::error::PayloadError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                BodyError::TimedOut
            }
            _ => BodyError::Broken,
        })?;
        received += chunk.len();
        if received > MAX_IMPORT_BODY {
            return Err(BodyError::TooLarge {
                limit: MAX_IMPORT_BODY,
            });
        }
        Ok(chunk)
    });
    let report = app::recipients::import(&state.pool, &principal, id, body).await?;
    Ok(web::Json(report.into()))
}

/// A page of the campaign's recipients in redemption-code order, optionally searched.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/recipients",
    operation_id = "list_campaign_recipients", tag = "campaigns",
    params(("id" = uuid::Uuid, Path, description = "campaign id"), RecipientListQuery),
    responses((status = 200, body = CampaignRecipientPage), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    Manager(principal): Manager,
    id: web::Path<String>,
    web::Query(query): web::Query<RecipientListQuery>,
) -> Result<web::Json<CampaignRecipientPage>, ApiError> {
    let id = parse_id(&id)?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let q = query.q.as_deref().map(|q| text("q", q)).transpose()?;
    if q.is_some_and(|q| q.chars().count() > MAX_QUERY_CHARS) {
        return Err(ApiError::bad_request(format!(
            "q is longer than {MAX_QUERY_CHARS} characters"
        )));
    }
    let search = app::recipients::search(q);
    let after = after.as_ref().map(|(code, id)| (code.as_str(), *id));
    let (rows, more) =
        app::recipients::list(&state.pool, &principal, id, &search, after, limit).await?;
    let reveal = principal.may_see_caller_numbers();
    let shown = |phone: Option<String>| {
        if reveal {
            phone
        } else {
            phone.map(|p| mask_phone(&p))
        }
    };
    let next_cursor = more
        .then(|| rows.last().map(|r| encode_cursor(&r.redemption_code, r.id)))
        .flatten();
    let items = rows
        .into_iter()
        .map(|r| CampaignRecipientOut {
            id: r.id,
            first_name: r.first_name,
            last_name: r.last_name,
            phone: shown(r.phone),
            phone_e164: shown(r.phone_e164),
            redemption_code: r.redemption_code,
            created_at: r.created_at,
        })
        .collect();
    Ok(web::Json(CampaignRecipientPage { items, next_cursor }))
}

impl From<ImportError> for ApiError {
    fn from(error: ImportError) -> Self {
        let kept = |written: u64| {
            format!(
                "{written} lines before it were imported; send the whole file again to finish \
                 (lines already imported are updated, not added twice)"
            )
        };
        match error {
            ImportError::NotFound => Self::NotFound("no such campaign"),
            ImportError::Header(e) => Self::BadRequest {
                code: "invalid_csv",
                message: e.to_string(),
            },
            ImportError::Body { error, written } => {
                let (status, code) = match error {
                    BodyError::TooLarge { .. } => {
                        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
                    }
                    BodyError::TimedOut => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
                    BodyError::Broken => (StatusCode::BAD_REQUEST, "body_incomplete"),
                };
                Self::Incomplete {
                    status,
                    code,
                    message: format!("{error}; {}", kept(written)),
                }
            }
            ImportError::Db(e) => e.into(),
        }
    }
}

impl From<ListRecipientsError> for ApiError {
    fn from(error: ListRecipientsError) -> Self {
        match error {
            ListRecipientsError::NotFound => Self::NotFound("no such campaign"),
            ListRecipientsError::Db(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_as_the_position_it_was_made_of() {
        for code in ["A1", "a|b|c", "SPRING-4821", "é"] {
            let id = Uuid::new_v4();
            let (back, back_id) = decode_cursor(&encode_cursor(code, id)).unwrap();
            assert_eq!((back.as_str(), back_id), (code, id));
        }
        assert!(decode_cursor("abc").is_err());
        assert!(decode_cursor("").is_err());
    }
}
