//! JSON log lines written straight into the output.
//!
//! The shape is tracing-subscriber's JSON format (`timestamp`, `level`, `fields`, `target`,
//! `spans` from the root), but no field passes through a `serde_json::Value`: that format
//! keeps each span's fields as JSON text and parses it again for every line, and re-parses
//! it for every `Span::record`; in a profile of the voice webhook that was a large share of
//! the request (docs/PERFORMANCE.md, "Where the server's CPU goes"). Here a span's fields
//! are kept as JSON text that later records append to, and a line splices that text in as
//! it is.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_log::NormalizeEvent as _;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime as _, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// Formats a span's fields as a JSON object; a later `record` appends to it.
#[derive(Debug, Default, Clone, Copy)]
pub struct SpanFields;

impl<'writer> FormatFields<'writer> for SpanFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        writer.write_char('{')?;
        let mut members = Members::new(&mut writer);
        fields.record(&mut members);
        members.result?;
        writer.write_char('}')
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let object = &mut current.fields;
        if object.is_empty() {
            object.push('{');
        } else {
            // Reopen the object: its last byte is the closing brace written above.
            object.pop();
        }
        let empty = object.len() == 1;
        let mut members = Members::new(&mut *object);
        members.first = empty;
        fields.record(&mut members);
        let result = members.result;
        object.push('}');
        result
    }
}

/// One JSON object per event, on one line.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonLine;

impl<S> FormatEvent<S, SpanFields> for JsonLine
where
    S: Subscriber + for<'lookup> LookupSpan<'lookup>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, SpanFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // Events that came through the `log` crate carry their real target and level in
        // fields; the normalised metadata puts them back where they belong.
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());

        writer.write_str("{\"timestamp\":\"")?;
        SystemTime.format_time(&mut writer)?;
        write!(writer, "\",\"level\":\"{}\",\"fields\":{{", meta.level())?;
        let mut members = Members::new(&mut writer);
        members.skip_log_fields = normalized.is_some();
        event.record(&mut members);
        members.result?;
        writer.write_str("},\"target\":")?;
        write_json_string(&mut writer, meta.target())?;
        if let Some(scope) = ctx.event_scope() {
            writer.write_str(",\"spans\":[")?;
            for (index, span) in scope.from_root().enumerate() {
                if index > 0 {
                    writer.write_char(',')?;
                }
                let extensions = span.extensions();
                let fields = extensions
                    .get::<FormattedFields<SpanFields>>()
                    .map_or("", |formatted| formatted.fields.as_str());
                // `{"a":1}` becomes `{"a":1,"name":"request"}`.
                let inner = fields
                    .strip_prefix('{')
                    .and_then(|rest| rest.strip_suffix('}'))
                    .unwrap_or("");
                writer.write_char('{')?;
                writer.write_str(inner)?;
                if !inner.is_empty() {
                    writer.write_char(',')?;
                }
                writer.write_str("\"name\":")?;
                write_json_string(&mut writer, span.metadata().name())?;
                writer.write_char('}')?;
            }
            writer.write_char(']')?;
        }
        writer.write_str("}\n")
    }
}

/// Writes each field it visits as a `"name":value` member of a JSON object.
struct Members<W> {
    out: W,
    first: bool,
    /// The `log.target`, `log.file`, … fields of an event from the `log` crate, which the
    /// normalised metadata already carries.
    skip_log_fields: bool,
    result: fmt::Result,
}

impl<W: fmt::Write> Members<W> {
    fn new(out: W) -> Self {
        Self {
            out,
            first: true,
            skip_log_fields: false,
            result: Ok(()),
        }
    }

    /// Writes `"name":` (after a comma unless it is the first), unless the field is skipped.
    fn key(&mut self, field: &Field) -> bool {
        if self.result.is_err() || (self.skip_log_fields && field.name().starts_with("log.")) {
            return false;
        }
        let comma = if self.first { "" } else { "," };
        self.first = false;
        self.result = self
            .out
            .write_str(comma)
            .and_then(|()| write_json_string(&mut self.out, field.name()))
            .and_then(|()| self.out.write_char(':'));
        self.result.is_ok()
    }
}

impl<W: fmt::Write> Visit for Members<W> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if self.key(field) {
            self.result = if value.is_finite() {
                write!(self.out, "{value}")
            } else {
                // JSON has no NaN or infinity; serde_json writes `null` for them too.
                self.out.write_str("null")
            };
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.key(field) {
            self.result = write!(self.out, "{value}");
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.key(field) {
            self.result = write!(self.out, "{value}");
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.key(field) {
            self.result = self.out.write_str(if value { "true" } else { "false" });
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if self.key(field) {
            self.result = write_json_string(&mut self.out, value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.key(field) {
            self.result = self
                .out
                .write_char('"')
                .and_then(|()| write!(JsonEscaped(&mut self.out), "{value:?}"))
                .and_then(|()| self.out.write_char('"'));
        }
    }
}

/// `text` as a quoted JSON string.
fn write_json_string(out: &mut impl fmt::Write, text: &str) -> fmt::Result {
    out.write_char('"')?;
    JsonEscaped(&mut *out).write_str(text)?;
    out.write_char('"')
}

/// Escapes what is written through it for the inside of a JSON string: quotes, backslashes
/// and control characters, as serde_json does.
struct JsonEscaped<W>(W);

impl<W: fmt::Write> fmt::Write for JsonEscaped<W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut plain_from = 0;
        for (at, byte) in text.bytes().enumerate() {
            let escape = match byte {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0x00..=0x1f => "",
                _ => continue,
            };
            self.0.write_str(&text[plain_from..at])?;
            if escape.is_empty() {
                write!(self.0, "\\u{byte:04x}")?;
            } else {
                self.0.write_str(escape)?;
            }
            plain_from = at + 1;
        }
        self.0.write_str(&text[plain_from..])
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Self;
        fn make_writer(&'a self) -> Self {
            self.clone()
        }
    }

    /// The lines `emit` logs, each parsed as JSON.
    fn lines_of(emit: impl FnOnce()) -> Vec<serde_json::Value> {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(captured.clone())
            .fmt_fields(SpanFields)
            .event_format(JsonLine)
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(text.ends_with('\n'), "{text:?}");
        text.lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    }

    #[test]
    fn a_line_has_the_level_fields_target_and_spans_from_the_root() {
        let lines = lines_of(|| {
            let request =
                tracing::info_span!("request", route = "/voice", status = tracing::field::Empty);
            let _request = request.enter();
            let handler = tracing::info_span!("voice", call.sid = tracing::field::Empty);
            let _handler = handler.enter();
            handler.record("call.sid", "CA123");
            tracing::info!(
                matched = true,
                count = 3_u64,
                delta = -2_i64,
                ratio = 0.5,
                "call session created"
            );
            request.record("status", 200_u64);
            tracing::warn!("after");
        });
        let first = &lines[0];
        assert_eq!(first["level"], "INFO");
        assert_eq!(first["target"], module_path!());
        assert_eq!(first["fields"]["message"], "call session created");
        assert_eq!(first["fields"]["matched"], true);
        assert_eq!(first["fields"]["count"], 3);
        assert_eq!(first["fields"]["delta"], -2);
        assert_eq!(first["fields"]["ratio"], 0.5);
        assert_eq!(
            first["spans"],
            serde_json::json!([
                {"name": "request", "route": "/voice"},
                {"name": "voice", "call.sid": "CA123"},
            ])
        );
        assert!(
            chrono::DateTime::parse_from_rfc3339(first["timestamp"].as_str().unwrap()).is_ok(),
            "{first}"
        );
        let second = &lines[1];
        assert_eq!(second["level"], "WARN");
        assert_eq!(second["spans"][0]["status"], 200);
    }

    #[test]
    fn a_line_outside_any_span_has_no_span_list() {
        let lines = lines_of(|| tracing::info!("alone"));
        assert!(lines[0].get("spans").is_none(), "{}", lines[0]);
    }

    #[test]
    fn quotes_backslashes_and_control_characters_are_escaped() {
        let nasty = "say \"hi\"\\\n\t\r\u{1}é";
        let lines = lines_of(|| {
            let span = tracing::info_span!("s", text = nasty);
            let _span = span.enter();
            tracing::info!(debugged = ?nasty, shown = %nasty, "{nasty}");
        });
        let line = &lines[0];
        assert_eq!(line["fields"]["message"], nasty);
        assert_eq!(line["fields"]["shown"], nasty);
        assert_eq!(line["fields"]["debugged"], format!("{nasty:?}"));
        assert_eq!(line["spans"][0]["text"], nasty);
    }

    #[test]
    fn a_number_json_cannot_hold_is_null() {
        let lines = lines_of(|| tracing::info!(ratio = f64::NAN, "odd"));
        assert!(lines[0]["fields"]["ratio"].is_null());
    }
}
