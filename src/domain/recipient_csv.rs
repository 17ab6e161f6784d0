//! The recipients file of an import: a header row naming at least `first_name`, `last_name`,
//! `phone` and `redemption_code` (any order, any case, other columns ignored), then one
//! recipient a line. RFC 4180 quoting, CRLF or LF, an optional UTF-8 BOM, blank lines skipped.
//!
//! [`RecipientCsv`] is fed the body chunk by chunk as it arrives and hands out each line as it
//! completes, so memory stays constant however long the file is: one line at a time, at most
//! [`MAX_LINE_BYTES`] of it. A bad line is rejected with its line number and a reason that
//! names the column but never quotes a value (a phone number must not come back in an answer
//! or a log).

use super::E164;

/// The columns a file must name.
pub const REQUIRED: [&str; 4] = ["first_name", "last_name", "phone", "redemption_code"];

/// The longest redemption code or name, in characters; the API's other redemption-code
/// inputs have the same bound.
pub const MAX_FIELD_CHARS: usize = 200;

/// A line (a record, quoted newlines included) longer than this is rejected unread.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// The most columns a header may have.
pub const MAX_COLUMNS: usize = 256;

/// One good line: what the recipient becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientLine {
    /// Where the line starts, the header being line 1 (blank lines count).
    pub line: u64,
    pub redemption_code: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// `None`: the recipient has no phone and is matched only by redemption code.
    pub phone: Option<E164>,
}

/// A line that writes nothing, and why in words that quote no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedLine {
    pub line: u64,
    pub reason: String,
}

/// What the parser hands out for each line after the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Line(RecipientLine),
    Rejected(RejectedLine),
}

/// The file cannot be read at all: nothing is imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error(
        "the file is empty; it must start with a header row naming first_name, last_name, phone and redemption_code"
    )]
    Empty,
    #[error(
        "the header row has no {0} column; it must name first_name, last_name, phone and redemption_code, in any order"
    )]
    Missing(&'static str),
    #[error("the header row names the {0} column twice")]
    Repeated(&'static str),
    #[error("the header row is not valid UTF-8")]
    NotUtf8,
    #[error(
        "the header row is longer than {MAX_LINE_BYTES} bytes or has more than {MAX_COLUMNS} columns"
    )]
    TooLong,
}

/// Where the required columns are in each line.
#[derive(Debug, Clone, Copy)]
struct Columns {
    count: usize,
    first_name: usize,
    last_name: usize,
    phone: usize,
    redemption_code: usize,
}

/// The incremental parser. Feed it with [`Self::feed`], end with [`Self::finish`].
pub struct RecipientCsv {
    reader: csv_core::Reader,
    out: Vec<u8>,
    out_len: usize,
    ends: Vec<usize>,
    ends_len: usize,
    /// Fields of the current record, those dropped for length included.
    fields: usize,
    /// The current record outgrew the buffers: it is read to its end and rejected.
    overflow: bool,
    /// The first bytes, held until the BOM (three bytes) can be told apart.
    head: Option<Vec<u8>>,
    newlines: u64,
    record_line: Option<u64>,
    columns: Option<Columns>,
}

impl Default for RecipientCsv {
    fn default() -> Self {
        Self::new()
    }
}

impl RecipientCsv {
    pub fn new() -> Self {
        Self {
            reader: csv_core::Reader::new(),
            out: vec![0; MAX_LINE_BYTES],
            out_len: 0,
            ends: vec![0; MAX_COLUMNS + 1],
            ends_len: 0,
            fields: 0,
            overflow: false,
            head: Some(Vec::with_capacity(3)),
            newlines: 0,
            record_line: None,
            columns: None,
        }
    }

    /// Reads `chunk`, handing each line it completes to `sink`.
    ///
    /// # Errors
    /// The header row cannot be read; nothing more should be fed.
    pub fn feed(&mut self, chunk: &[u8], sink: &mut impl FnMut(Parsed)) -> Result<(), HeaderError> {
        if let Some(mut head) = self.head.take() {
            head.extend_from_slice(chunk);
            if head.len() < 3 {
                self.head = Some(head);
                return Ok(());
            }
            let body = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&head);
            return self.read(body, sink);
        }
        self.read(chunk, sink)
    }

    /// Ends the file: hands out its last line.
    ///
    /// # Errors
    /// There was no header row, or it cannot be read.
    pub fn finish(&mut self, sink: &mut impl FnMut(Parsed)) -> Result<(), HeaderError> {
        if let Some(head) = self.head.take() {
            let body = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&head);
            self.read(body, sink)?;
        }
        self.read(&[], sink)?;
        if self.columns.is_none() {
            return Err(HeaderError::Empty);
        }
        Ok(())
    }

    /// Runs the reader over `input`; an empty `input` is the end of the file.
    fn read(&mut self, mut input: &[u8], sink: &mut impl FnMut(Parsed)) -> Result<(), HeaderError> {
        let eof = input.is_empty();
        loop {
            let (result, nin, nout, nend) = self.reader.read_record(
                input,
                &mut self.out[self.out_len..],
                &mut self.ends[self.ends_len..],
            );
            self.count_lines(&input[..nin]);
            input = &input[nin..];
            self.out_len += nout;
            self.ends_len += nend;
            self.fields += nend;
            match result {
                csv_core::ReadRecordResult::InputEmpty => {
                    if !eof {
                        return Ok(());
                    }
                }
                csv_core::ReadRecordResult::End => return Ok(()),
                csv_core::ReadRecordResult::OutputFull => {
                    self.overflow = true;
                    self.out_len = 0;
                }
                csv_core::ReadRecordResult::OutputEndsFull => {
                    self.overflow = true;
                    self.ends_len = 0;
                }
                csv_core::ReadRecordResult::Record => {
                    let outcome = self.record(sink);
                    self.out_len = 0;
                    self.ends_len = 0;
                    self.fields = 0;
                    self.overflow = false;
                    self.record_line = None;
                    outcome?;
                }
            }
        }
    }

    /// Counts the newlines the reader went past, and notes the line the current record starts
    /// on: the reader skips blank lines itself, so a record starts at the first byte that is
    /// not a line break.
    fn count_lines(&mut self, consumed: &[u8]) {
        let mut rest = consumed;
        if self.record_line.is_none() {
            let breaks = rest
                .iter()
                .position(|b| *b != b'\n' && *b != b'\r')
                .unwrap_or(rest.len());
            self.newlines += count_newlines(&rest[..breaks]);
            if breaks < rest.len() {
                self.record_line = Some(self.newlines + 1);
            }
            rest = &rest[breaks..];
        }
        self.newlines += count_newlines(rest);
    }

    fn record(&mut self, sink: &mut impl FnMut(Parsed)) -> Result<(), HeaderError> {
        let line = self.record_line.unwrap_or(self.newlines + 1);
        let Some(columns) = self.columns else {
            if self.overflow {
                return Err(HeaderError::TooLong);
            }
            if self.is_blank() {
                return Ok(());
            }
            self.columns = Some(self.header()?);
            return Ok(());
        };
        if self.overflow {
            sink(reject(
                line,
                format!("the line is longer than {MAX_LINE_BYTES} bytes"),
            ));
            return Ok(());
        }
        if self.is_blank() {
            return Ok(());
        }
        if self.fields != columns.count {
            sink(reject(
                line,
                format!(
                    "the line has {} fields, the header has {}",
                    self.fields, columns.count
                ),
            ));
            return Ok(());
        }
        let parsed = match self.line_of(line, columns) {
            Ok(recipient) => Parsed::Line(recipient),
            Err(reason) => reject(line, reason),
        };
        sink(parsed);
        Ok(())
    }

    fn field(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.out[start..self.ends[i]]
    }

    fn is_blank(&self) -> bool {
        (0..self.ends_len).all(|i| self.field(i).trim_ascii().is_empty())
    }

    fn header(&self) -> Result<Columns, HeaderError> {
        let mut found: [Option<usize>; 4] = [None; 4];
        for i in 0..self.ends_len {
            let name = std::str::from_utf8(self.field(i)).map_err(|_| HeaderError::NotUtf8)?;
            let name = name.trim().to_ascii_lowercase();
            if let Some(k) = REQUIRED.iter().position(|r| *r == name)
                && found[k].replace(i).is_some()
            {
                return Err(HeaderError::Repeated(REQUIRED[k]));
            }
        }
        let at = |k: usize| found[k].ok_or(HeaderError::Missing(REQUIRED[k]));
        Ok(Columns {
            count: self.ends_len,
            first_name: at(0)?,
            last_name: at(1)?,
            phone: at(2)?,
            redemption_code: at(3)?,
        })
    }

    fn line_of(&self, line: u64, columns: Columns) -> Result<RecipientLine, String> {
        for i in 0..self.ends_len {
            if std::str::from_utf8(self.field(i)).is_err() {
                return Err("the line is not valid UTF-8".to_owned());
            }
        }
        let text = |i: usize| {
            std::str::from_utf8(self.field(i))
                .unwrap_or_default()
                .trim()
        };
        let redemption_code = text(columns.redemption_code);
        if redemption_code.is_empty() {
            return Err("redemption_code is empty".to_owned());
        }
        checked("redemption_code", redemption_code)?;
        let phone = match text(columns.phone) {
            "" => None,
            raw => Some(phone(raw).ok_or_else(|| "phone is not a valid phone number".to_owned())?),
        };
        let name = |column: &'static str, i: usize| -> Result<Option<String>, String> {
            let value = text(i);
            checked(column, value)?;
            Ok((!value.is_empty()).then(|| value.to_owned()))
        };
        Ok(RecipientLine {
            line,
            redemption_code: redemption_code.to_owned(),
            first_name: name("first_name", columns.first_name)?,
            last_name: name("last_name", columns.last_name)?,
            phone,
        })
    }
}

/// A phone as the voice path reads a caller ([`E164::parse`]), held to the form the
/// database's `calltrack_phone_e164` keeps as it is (8 to 15 digits), so `phone_e164` is this
/// number. A caller ID is taken as it comes; a mailing list's number is not, so a North
/// American number must also have its ten digits (a digit short is a typo, not a phone).
fn phone(raw: &str) -> Option<E164> {
    if raw.contains('\0') {
        return None;
    }
    let number = E164::parse(raw).ok()?;
    let digits = &number.as_str()[1..];
    let fits = (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
        && (!digits.starts_with('1') || digits.len() == 11);
    fits.then_some(number)
}

fn checked(column: &str, value: &str) -> Result<(), String> {
    if value.contains('\0') {
        return Err(format!("{column} contains a NUL character"));
    }
    if value.chars().count() > MAX_FIELD_CHARS {
        return Err(format!(
            "{column} is longer than {MAX_FIELD_CHARS} characters"
        ));
    }
    Ok(())
}

fn reject(line: u64, reason: String) -> Parsed {
    Parsed::Rejected(RejectedLine { line, reason })
}

fn count_newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|b| **b == b'\n').count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `input` fed in chunks of `chunk` bytes.
    fn parse(input: &[u8], chunk: usize) -> Result<Vec<Parsed>, HeaderError> {
        let mut parser = RecipientCsv::new();
        let mut out = Vec::new();
        let mut sink = |p| out.push(p);
        for piece in input.chunks(chunk.max(1)) {
            parser.feed(piece, &mut sink)?;
        }
        parser.finish(&mut sink)?;
        Ok(out)
    }

    fn lines(parsed: &[Parsed]) -> Vec<(u64, String)> {
        parsed
            .iter()
            .map(|p| match p {
                Parsed::Line(l) => (l.line, format!("ok {}", l.redemption_code)),
                Parsed::Rejected(r) => (r.line, r.reason.clone()),
            })
            .collect()
    }

    #[test]
    fn lines_are_numbered_as_an_editor_numbers_them_however_the_body_is_cut() {
        let input = "\u{feff}Phone,redemption_code,last_name,first_name,zip\r\n\
                     (415) 555-0100,A1,Lee,Ann,94110\r\n\
                     \r\n\
                     ,\"B\"\"2\",\"Multi\nline\",Bo,\n\
                     \n\
                     415.555.0101,,X,Y,1\n\
                     +1 415 555 0102,C3,,,\n\
                     not a phone,D4,Z,Z,1\n\
                     555,E5,,,\n\
                     ,F6,a,b\n\
                     ,G7,\"unterminated";
        let expected = vec![
            (2, "ok A1".to_owned()),
            (4, "ok B\"2".to_owned()),
            (7, "redemption_code is empty".to_owned()),
            (8, "ok C3".to_owned()),
            (9, "phone is not a valid phone number".to_owned()),
            (10, "phone is not a valid phone number".to_owned()),
            (11, "the line has 4 fields, the header has 5".to_owned()),
            (12, "the line has 3 fields, the header has 5".to_owned()),
        ];
        for chunk in [1, 2, 3, 5, 7, 64, 1 << 20] {
            let parsed = parse(input.as_bytes(), chunk).unwrap();
            assert_eq!(lines(&parsed), expected, "chunks of {chunk}");
        }
        let parsed = parse(input.as_bytes(), 4096).unwrap();
        let Parsed::Line(first) = &parsed[0] else {
            panic!("{parsed:?}")
        };
        assert_eq!(first.phone.as_ref().unwrap().as_str(), "+14155550100");
        assert_eq!(first.first_name.as_deref(), Some("Ann"));
        assert_eq!(first.last_name.as_deref(), Some("Lee"));
        let Parsed::Line(third) = &parsed[3] else {
            panic!("{parsed:?}")
        };
        assert_eq!(third.phone.as_ref().unwrap().as_str(), "+14155550102");
        assert_eq!(third.first_name, None);
    }

    #[test]
    fn the_header_must_name_every_required_column_once() {
        assert_eq!(parse(b"", 10), Err(HeaderError::Empty));
        assert_eq!(parse(b"\n\r\n  \n", 10), Err(HeaderError::Empty));
        assert_eq!(
            parse(b"first_name,last_name,redemption_code\nA,B,C\n", 10),
            Err(HeaderError::Missing("phone"))
        );
        assert_eq!(
            parse(b"first_name,last_name,phone,phone,redemption_code\n", 10),
            Err(HeaderError::Repeated("phone"))
        );
        assert_eq!(
            parse(b"first_name,last_name,phone,redemption_code,\xFF\n", 10),
            Err(HeaderError::NotUtf8)
        );
        let wide = format!(
            "first_name,last_name,phone,redemption_code{}\n",
            ",x".repeat(300)
        );
        assert_eq!(parse(wide.as_bytes(), 100), Err(HeaderError::TooLong));
        assert_eq!(
            parse(b"first_name,last_name,phone,redemption_code", 3),
            Ok(vec![])
        );
    }

    #[test]
    fn a_bad_line_is_rejected_without_quoting_any_value() {
        let long = "x".repeat(201);
        let huge = "y".repeat(MAX_LINE_BYTES + 10);
        let input = format!(
            "first_name,last_name,phone,redemption_code\n\
             a,b,n/a 415 555,R1\n\
             {long},b,,R2\n\
             a,b,,{long}\n\
             a,@@,,R4\n\
             a,\"{huge}\",,R5\n\
             a,b,+0 415 555 0100,R6\n\
             a,b,,R7\n"
        );
        let mut bytes = input.into_bytes();
        // A raw byte that is no UTF-8 on line 5.
        let at = bytes.windows(2).position(|w| w == b"@@").unwrap();
        bytes.splice(at..at + 2, [0xFF]);
        let parsed = parse(&bytes, 1000).unwrap();
        assert_eq!(
            lines(&parsed),
            vec![
                (2, "phone is not a valid phone number".to_owned()),
                (3, "first_name is longer than 200 characters".to_owned()),
                (
                    4,
                    "redemption_code is longer than 200 characters".to_owned()
                ),
                (5, "the line is not valid UTF-8".to_owned()),
                (6, format!("the line is longer than {MAX_LINE_BYTES} bytes")),
                (7, "phone is not a valid phone number".to_owned()),
                (8, "ok R7".to_owned()),
            ]
        );
        for (_, reason) in lines(&parsed) {
            assert!(
                !reason.contains("415") && !reason.contains("555"),
                "{reason}"
            );
        }
    }

    #[test]
    fn phones_are_read_as_the_voice_path_reads_callers() {
        for raw in [
            "(415) 555-0100",
            "415.555.0100",
            "+1 415 555 0100",
            "1-415-555-0100",
        ] {
            let input = format!("first_name,last_name,phone,redemption_code\na,b,\"{raw}\",C\n");
            let parsed = parse(input.as_bytes(), 7).unwrap();
            let Parsed::Line(line) = &parsed[0] else {
                panic!("{raw}: {parsed:?}")
            };
            assert_eq!(
                line.phone.as_ref().unwrap(),
                &crate::domain::CallerId::parse(raw)
                    .number()
                    .cloned()
                    .unwrap()
            );
        }
    }
}
