//! The call sessions of a campaign as CSV (RFC 4180), streamed page by page.

use std::borrow::Cow;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use bytes::Bytes;
use futures::StreamExt as _;

use super::parse_id;
use super::types::ExportQuery;
use crate::app;
use crate::app::sessions::{CallSession, SessionFilter};
use crate::domain::{TimeRange, mask_phone};
use crate::routes::AppState;
use crate::routes::error::{ApiError, ErrorBody};
use crate::routes::extract::Agent;

/// The columns, in order; docs/API.md lists them too.
pub const COLUMNS: [&str; 21] = [
    "id",
    "created_at",
    "call_started_at",
    "call_answered_at",
    "call_ended_at",
    "caller_phone",
    "match_status",
    "recipient_id",
    "call_status",
    "call_outcome",
    "call_duration_seconds",
    "talk_seconds",
    "recording_url",
    "recording_duration",
    "voicemail_url",
    "voicemail_duration",
    "caller_verstat",
    "tracked_number_id",
    "forward_to_number",
    "twilio_call_sid",
    "notes",
];

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, and tab or carriage
/// return, which some programs skip before looking) gets a leading `'`, as OWASP advises.
/// Plain numbers (`-5`, `+14155550100`) are left alone: a spreadsheet reads them as numbers,
/// which cannot call anything, and a phone number stays a phone number.
pub fn guard(cell: &str) -> Cow<'_, str> {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && !is_plain_number(cell) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

fn is_plain_number(cell: &str) -> bool {
    let digits = cell.strip_prefix(['+', '-']).unwrap_or(cell);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    !whole.is_empty()
        && !fraction.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

fn writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new())
}

fn finish(writer: csv::Writer<Vec<u8>>) -> Result<Bytes, ApiError> {
    writer
        .into_inner()
        .map(Bytes::from)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("writing CSV failed: {}", e.error())))
}

/// The header line.
pub fn header_line() -> Result<Bytes, ApiError> {
    let mut out = writer();
    out.write_record(COLUMNS)
        .map_err(|e| ApiError::Internal(e.into()))?;
    finish(out)
}

/// One page of sessions as CSV lines; callers' numbers masked when `mask` is set.
pub fn rows(page: &[CallSession], mask: bool) -> Result<Bytes, ApiError> {
    let at = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default()
    };
    let num = |n: Option<i32>| n.map(|n| n.to_string()).unwrap_or_default();
    let text = |s: &Option<String>| s.clone().unwrap_or_default();
    let mut out = writer();
    for s in page {
        let caller = match (&s.caller_phone, mask) {
            (Some(phone), true) => mask_phone(phone),
            (phone, _) => text(phone),
        };
        let cells: [String; 21] = [
            s.id.to_string(),
            at(Some(s.created_at)),
            at(s.call_started_at),
            at(s.call_answered_at),
            at(s.call_ended_at),
            caller,
            s.match_status.to_string(),
            s.recipient_id.map(|r| r.to_string()).unwrap_or_default(),
            s.call_status.to_string(),
            s.call_outcome.map(|o| o.to_string()).unwrap_or_default(),
            num(s.call_duration_seconds),
            num(s.talk_seconds),
            text(&s.recording_url),
            num(s.recording_duration),
            text(&s.voicemail_url),
            num(s.voicemail_duration),
            text(&s.caller_verstat),
            s.tracked_number_id.to_string(),
            text(&s.forward_to_number),
            text(&s.twilio_call_sid),
            text(&s.notes),
        ];
        for cell in &cells {
            out.write_field(guard(cell).as_bytes())
                .map_err(|e| ApiError::Internal(e.into()))?;
        }
        out.write_record(None::<&[u8]>)
            .map_err(|e| ApiError::Internal(e.into()))?;
    }
    finish(out)
}

/// Every call session of the campaign as CSV, newest first.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/call-sessions.csv",
    operation_id = "export_campaign_call_sessions", tag = "campaigns",
    params(("id" = uuid::Uuid, Path, description = "campaign id"), ExportQuery),
    responses((status = 200, content_type = "text/csv", body = String,
                description = "RFC 4180 CSV with a header line, streamed; callers' numbers masked unless the caller is an admin, agency owner, company owner or API key"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn call_sessions_csv(
    state: web::Data<AppState>,
    Agent(principal): Agent,
    id: web::Path<String>,
    web::Query(query): web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let campaign_id = parse_id(&id)?;
    let range =
        TimeRange::parse(query.from, query.to).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let filter = SessionFilter {
        match_status: query.match_status.map(Into::into),
        call_outcome: query.call_outcome.map(Into::into),
        from: range.from(),
        to: range.to(),
        ..SessionFilter::default()
    };
    let mask = !principal.may_see_caller_numbers();
    // The campaign is checked before the first byte, so a 404 is still a 404.
    let export = app::sessions::Export::start(&state.pool, &principal, campaign_id, filter).await?;
    let header = futures::stream::once(async { header_line() });
    let body = futures::stream::try_unfold(export, move |mut export| async move {
        match export.next_page().await {
            // Written out on the blocking pool, so this worker thread reads the next page
            // from the database meanwhile.
            Ok(Some(page)) => {
                let lines = tokio::task::spawn_blocking(move || rows(&page, mask))
                    .await
                    .map_err(|e| ApiError::Internal(e.into()))??;
                Ok(Some((lines, export)))
            }
            Ok(None) => Ok(None),
            Err(error) => {
                // Headers are gone: the client sees the connection end before the last line.
                let error = ApiError::from(error);
                tracing::error!(error = %error, "the CSV export stopped part way");
                Err(error)
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"call-sessions-{campaign_id}.csv\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(header.chain(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_that_would_run_as_formulas_are_defused_and_numbers_are_not() {
        for risky in [
            "=1+1",
            "+cmd|' /C calc'!A0",
            "-2+3",
            "@SUM(A1)",
            "\t=1",
            "\r=1",
            "+1415***0100",
            "-",
            "+1.",
        ] {
            assert_eq!(guard(risky), format!("'{risky}"), "{risky:?}");
        }
        for safe in ["+14155550100", "-5", "12.5", "hello", "", "a=b"] {
            assert_eq!(guard(safe), safe, "{safe:?}");
        }
    }

    #[test]
    fn the_header_names_every_column_once() {
        let line = String::from_utf8(header_line().unwrap().to_vec()).unwrap();
        assert_eq!(line, format!("{}\r\n", COLUMNS.join(",")));
    }
}
