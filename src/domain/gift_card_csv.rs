//! The gift-card inventory file: a header row `card_code,pin_code,value_amount`, then one
//! card a line (RFC 4180 quoting, CRLF or LF, an optional UTF-8 BOM, blank lines skipped).
//! The whole file is checked before anything is imported. Codes and PINs become
//! [`SecretString`]s as they are read, and no error message ever quotes a field's value:
//! errors name the line and the column, never what was in it.

use std::collections::HashMap;
use std::fmt;

use secrecy::SecretString;
use sha2::{Digest as _, Sha256};

/// The header the file must start with, after trimming each field.
pub const HEADER: [&str; 3] = ["card_code", "pin_code", "value_amount"];

/// How many bad rows an error lists before it only counts the rest.
pub const MAX_LISTED_ERRORS: usize = 20;

const MAX_CODE_CHARS: usize = 200;
const MAX_PIN_CHARS: usize = 64;

/// A card's face value in cents; `NUMERIC(12,2)` holds up to 10 digits before the point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CardValue {
    cents: i64,
}

/// Why a `value_amount` is not a card value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardValueError {
    NotANumber,
    TooManyDecimals,
    NotPositive,
    TooLarge,
}

impl CardValue {
    /// Parses `25`, `25.5` or `25.00`: digits, then at most two decimals, greater than zero.
    pub fn parse(raw: &str) -> Result<Self, CardValueError> {
        let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(fraction) || raw.ends_with('.') {
            return Err(if raw.starts_with('-') && raw[1..].parse::<f64>().is_ok() {
                CardValueError::NotPositive
            } else {
                CardValueError::NotANumber
            });
        }
        if fraction.len() > 2 {
            return Err(CardValueError::TooManyDecimals);
        }
        let whole = whole.trim_start_matches('0');
        if whole.len() > 10 {
            return Err(CardValueError::TooLarge);
        }
        let whole: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| CardValueError::TooLarge)?
        };
        let fraction: i64 = format!("{fraction:0<2}")
            .parse()
            .map_err(|_| CardValueError::NotANumber)?;
        let cents = whole * 100 + fraction;
        if cents == 0 {
            return Err(CardValueError::NotPositive);
        }
        Ok(Self { cents })
    }

    pub fn cents(self) -> i64 {
        self.cents
    }
}

/// `25.00`: the text PostgreSQL reads back into `NUMERIC(12,2)` exactly.
impl fmt::Display for CardValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.cents / 100, self.cents % 100)
    }
}

/// One card of the file. `Debug` shows the line and value, never the code or PIN.
#[derive(Debug)]
pub struct CardRow {
    /// The line of the file the card starts on, counting the header as line 1.
    pub line: u64,
    pub card_code: SecretString,
    pub pin_code: Option<SecretString>,
    /// `None`: the file left it empty, so the card takes its pool's value.
    pub value_amount: Option<CardValue>,
}

/// What is wrong with one line of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 0 when the problem is the file as a whole.
    pub line: u64,
    pub problem: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.problem)
        } else {
            write!(f, "line {}: {}", self.line, self.problem)
        }
    }
}

/// The file was refused. Lists the first [`MAX_LISTED_ERRORS`] problems and counts the rest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct CsvError {
    pub errors: Vec<RowError>,
    /// All problems found, listed or not.
    pub total: usize,
}

impl fmt::Display for CsvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let noun = if self.total == 1 {
            "problem"
        } else {
            "problems"
        };
        write!(
            f,
            "the file has {} {noun}; nothing was imported",
            self.total
        )?;
        for error in &self.errors {
            write!(f, "\n  {error}")?;
        }
        if self.total > self.errors.len() {
            write!(f, "\n  ... and {} more", self.total - self.errors.len())?;
        }
        Ok(())
    }
}

impl CsvError {
    fn whole_file(problem: impl Into<String>) -> Self {
        Self {
            errors: vec![RowError {
                line: 0,
                problem: problem.into(),
            }],
            total: 1,
        }
    }
}

/// Every row problem, in line order.
#[derive(Default)]
struct Problems {
    listed: Vec<RowError>,
}

impl Problems {
    fn text(&mut self, line: u64, text: impl Into<String>) {
        self.listed.push(RowError {
            line,
            problem: text.into(),
        });
    }
}

/// A file read leniently: its good cards, and every problem of its bad lines (a line may
/// have more than one).
#[derive(Debug)]
pub struct ReadCards {
    pub cards: Vec<CardRow>,
    pub rejected: Vec<RowError>,
}

/// Reads and checks a whole inventory file. Either every row is a good card, or the error
/// lists the bad rows by line; duplicates are found within the file (existing cards are
/// stored encrypted under random nonces, so they cannot be compared).
pub fn parse(input: &[u8]) -> Result<Vec<CardRow>, CsvError> {
    let read = read(input)?;
    if !read.rejected.is_empty() {
        let total = read.rejected.len();
        let mut errors = read.rejected;
        errors.truncate(MAX_LISTED_ERRORS);
        return Err(CsvError { errors, total });
    }
    if read.cards.is_empty() {
        return Err(CsvError::whole_file(
            "the file has a header but no cards; nothing to import",
        ));
    }
    Ok(read.cards)
}

/// Reads a whole inventory file, keeping its good cards and listing every bad line, as
/// [`parse`] checks them. Fails only when the file as a whole cannot be read (empty, no
/// header row).
pub fn read(input: &[u8]) -> Result<ReadCards, CsvError> {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(input);
    let mut lines = Lines::new(input);
    let mut records = reader.byte_records();
    let header = loop {
        match records.next() {
            None => {
                return Err(CsvError::whole_file(
                    "the file is empty; expected a header row card_code,pin_code,value_amount",
                ));
            }
            Some(Err(error)) => return Err(CsvError::whole_file(describe_csv_error(&error))),
            Some(Ok(record)) if is_blank(&record) => continue,
            Some(Ok(record)) => break record,
        }
    };
    let header_line = lines.of(header.position());
    let header_ok = header.len() == HEADER.len()
        && header
            .iter()
            .zip(HEADER)
            .all(|(field, expected)| field.trim_ascii() == expected.as_bytes());
    if !header_ok {
        // The first line is not quoted back: a file without a header starts with a card.
        return Err(CsvError {
            errors: vec![RowError {
                line: header_line,
                problem: "the header row must be exactly card_code,pin_code,value_amount".into(),
            }],
            total: 1,
        });
    }

    let mut problems = Problems::default();
    let mut cards = Vec::new();
    // Digests, not plaintext, so the check keeps no second copy of any code.
    let mut first_seen: HashMap<[u8; 32], u64> = HashMap::new();
    for record in records {
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                problems.text(lines.of(error.position()), describe_csv_error(&error));
                // A malformed record leaves the reader's position unreliable; stop here.
                break;
            }
        };
        if is_blank(&record) {
            continue;
        }
        let line = lines.of(record.position());
        if record.len() != HEADER.len() {
            problems.text(
                line,
                format!(
                    "expected 3 fields (card_code,pin_code,value_amount), found {}",
                    record.len()
                ),
            );
            continue;
        }
        let field = |index: usize| std::str::from_utf8(record[index].trim_ascii());
        let (Ok(code), Ok(pin), Ok(value)) = (field(0), field(1), field(2)) else {
            let column = (0..HEADER.len())
                .find(|&i| field(i).is_err())
                .map_or("the line", |i| HEADER[i]);
            problems.text(line, format!("{column} is not valid UTF-8"));
            continue;
        };
        let mut row_ok = true;
        if let Some(problem) = check_secret("card_code", code, MAX_CODE_CHARS) {
            problems.text(line, problem);
            row_ok = false;
        } else if let Some(first) = first_seen.get(&digest(code)) {
            problems.text(
                line,
                format!("duplicate card_code (first seen on line {first})"),
            );
            row_ok = false;
        } else {
            first_seen.insert(digest(code), line);
        }
        let pin_problem = if pin.is_empty() {
            None
        } else {
            check_secret("pin_code", pin, MAX_PIN_CHARS)
        };
        if let Some(problem) = pin_problem {
            problems.text(line, problem);
            row_ok = false;
        }
        let value_amount = if value.is_empty() {
            None
        } else {
            match CardValue::parse(value) {
                Ok(value) => Some(value),
                Err(error) => {
                    problems.text(line, describe_bad_value(error));
                    row_ok = false;
                    None
                }
            }
        };
        if row_ok {
            cards.push(CardRow {
                line,
                card_code: SecretString::from(code),
                pin_code: (!pin.is_empty()).then(|| SecretString::from(pin)),
                value_amount,
            });
        }
    }
    Ok(ReadCards {
        cards,
        rejected: problems.listed,
    })
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

fn is_blank(record: &csv::ByteRecord) -> bool {
    record.len() <= 1 && record.iter().all(|f| f.trim_ascii().is_empty())
}

/// Line numbers as an editor shows them. The reader's own count stops at the end of the
/// previous record, so it lags behind skipped blank lines; this one finds where the record
/// really starts and counts the line breaks before it.
struct Lines<'a> {
    input: &'a [u8],
    offset: usize,
    line: u64,
}

impl<'a> Lines<'a> {
    fn new(input: &'a [u8]) -> Self {
        Self {
            input,
            offset: 0,
            line: 1,
        }
    }

    /// The line of the record at `position`; positions must come in file order.
    fn of(&mut self, position: Option<&csv::Position>) -> u64 {
        let Some(position) = position else {
            return self.line;
        };
        let len = self.input.len();
        let mut start = usize::try_from(position.byte()).map_or(len, |b| b.min(len));
        while start < len && matches!(self.input[start], b'\r' | b'\n') {
            start += 1;
        }
        for i in self.offset..start {
            let byte = self.input[i];
            if byte == b'\n' || (byte == b'\r' && self.input.get(i + 1) != Some(&b'\n')) {
                self.line += 1;
            }
        }
        self.offset = self.offset.max(start);
        self.line
    }
}

fn check_secret(name: &str, value: &str, max_chars: usize) -> Option<String> {
    if value.is_empty() {
        Some(format!("{name} is empty"))
    } else if value.chars().count() > max_chars {
        Some(format!("{name} is longer than {max_chars} characters"))
    } else if value.chars().any(char::is_control) {
        Some(format!("{name} contains a control character"))
    } else {
        None
    }
}

/// Names the column, never its text: a value in the wrong column may well be a code.
fn describe_bad_value(error: CardValueError) -> &'static str {
    match error {
        CardValueError::NotANumber => "value_amount is not a number",
        CardValueError::TooManyDecimals => "value_amount has more than 2 decimal places",
        CardValueError::NotPositive => "value_amount must be greater than zero",
        CardValueError::TooLarge => "value_amount is too large",
    }
}

/// The reader's own message can quote bytes of the file, so only its kind is passed on.
fn describe_csv_error(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::Utf8 { .. } => "the line is not valid UTF-8".into(),
        csv::ErrorKind::UnequalLengths { len, .. } => {
            format!("expected 3 fields (card_code,pin_code,value_amount), found {len}")
        }
        csv::ErrorKind::Io(_) => "the file could not be read".into(),
        _ => "the line is not valid CSV".into(),
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;

    use super::*;

    fn messages(input: &str) -> Vec<String> {
        parse(input.as_bytes())
            .unwrap_err()
            .errors
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_good_file_gives_every_card_with_its_line() {
        let cards = parse(b"card_code,pin_code,value_amount\nGC-1,1234,25.00\nGC-2,,25\n").unwrap();

        assert_eq!(cards.len(), 2);
        assert_eq!(cards[0].line, 2);
        assert_eq!(cards[0].card_code.expose_secret(), "GC-1");
        assert_eq!(cards[0].pin_code.as_ref().unwrap().expose_secret(), "1234");
        assert_eq!(cards[0].value_amount.unwrap().to_string(), "25.00");
        assert_eq!(cards[1].line, 3);
        assert!(cards[1].pin_code.is_none());
        assert_eq!(cards[1].value_amount.unwrap().cents(), 2500);
    }

    #[test]
    fn bom_crlf_whitespace_and_blank_lines_are_tolerated() {
        let input = "\u{feff} card_code , pin_code ,value_amount \r\n\r\n GC-1 , 99 , 10.5 \r\n   \r\nGC-2,,\r\n";

        let cards = parse(input.as_bytes()).unwrap();

        assert_eq!(cards.len(), 2);
        assert_eq!(cards[0].card_code.expose_secret(), "GC-1");
        assert_eq!(cards[0].pin_code.as_ref().unwrap().expose_secret(), "99");
        assert_eq!(cards[0].value_amount.unwrap().to_string(), "10.50");
        assert_eq!(cards[1].line, 5);
        assert_eq!(cards[1].value_amount, None);
    }

    #[test]
    fn line_numbers_count_blank_lines_and_quoted_line_breaks() {
        let input =
            "card_code,pin_code,value_amount\r\n\r\n\r\n,1,5\r\n\"GC\r\nX\",2,5\r\n\n,3,5\n";

        assert_eq!(
            messages(input),
            [
                "line 4: card_code is empty",
                "line 5: card_code contains a control character",
                "line 8: card_code is empty",
            ]
        );
    }

    #[test]
    fn quoted_fields_keep_commas_and_doubled_quotes() {
        let input = "card_code,pin_code,value_amount\n\"GC,1\",\"12\"\"34\",\"25.00\"\n";

        let cards = parse(input.as_bytes()).unwrap();

        assert_eq!(cards[0].card_code.expose_secret(), "GC,1");
        assert_eq!(
            cards[0].pin_code.as_ref().unwrap().expose_secret(),
            "12\"34"
        );
    }

    #[test]
    fn every_bad_row_is_reported_by_line_without_its_code() {
        let input = "card_code,pin_code,value_amount\n\
                     SECRET-A,1,25\n\
                     ,2,25\n\
                     SECRET-B,3,abc\n\
                     SECRET-A,4,25\n\
                     SECRET-C,5\n\
                     SECRET-D,6,25.001\n\
                     SECRET-E,7,-5\n\
                     SECRET-F,8,SECRET-G\n\
                     SECRET-G,9,0\n";

        let error = parse(input.as_bytes()).unwrap_err();
        let text = error.to_string();

        assert_eq!(
            messages(input),
            [
                "line 3: card_code is empty",
                "line 4: value_amount is not a number",
                "line 5: duplicate card_code (first seen on line 2)",
                "line 6: expected 3 fields (card_code,pin_code,value_amount), found 2",
                "line 7: value_amount has more than 2 decimal places",
                "line 8: value_amount must be greater than zero",
                "line 9: value_amount is not a number",
                "line 10: value_amount must be greater than zero",
            ]
        );
        assert_eq!(error.total, 8);
        assert!(!text.contains("SECRET"), "{text}");
        assert!(!format!("{error:?}").contains("SECRET"));
        for value in ["abc", "25.001", "-5", "\"0\""] {
            assert!(!text.contains(value), "{value} quoted in {text}");
        }
    }

    #[test]
    fn no_error_quotes_any_field_of_the_file() {
        let fields = [
            "VAL-ONE",
            "PIN-TWO",
            "12.345",
            "ZERO-0",
            "X\u{7}Y",
            "LONG-PIN-LONG-PIN",
            "0.00",
        ];
        let input = format!(
            "card_code,pin_code,value_amount\n\
             A-1,{},{}\n\
             A-2,1,{}\n\
             A-3,2,{}\n\
             {},3,5\n\
             A-4,{}\n\
             A-5,4,{}\n",
            fields[1], fields[0], fields[2], fields[3], fields[4], fields[5], fields[6]
        );

        let error = parse(input.as_bytes()).unwrap_err();
        let text = format!("{error} {error:?}");

        assert_eq!(error.total, 6, "{text}");
        for field in fields {
            assert!(!text.contains(field), "{field:?} quoted in {text}");
        }
        for line in 2..=7 {
            assert!(text.contains(&format!("line {line}: ")), "{text}");
        }
    }

    #[test]
    fn only_the_first_twenty_problems_are_listed() {
        let mut input = String::from("card_code,pin_code,value_amount\n");
        for _ in 0..25 {
            input.push_str(",,\n");
        }

        let error = parse(input.as_bytes()).unwrap_err();

        assert_eq!(error.errors.len(), MAX_LISTED_ERRORS);
        assert_eq!(error.total, 25);
        assert!(error.to_string().ends_with("... and 5 more"));
    }

    #[test]
    fn a_missing_or_wrong_header_is_refused_without_quoting_it() {
        assert_eq!(
            messages("SECRET-1,1234,25\n"),
            ["line 1: the header row must be exactly card_code,pin_code,value_amount"]
        );
        assert_eq!(
            messages("card_code,value_amount,pin_code\n"),
            ["line 1: the header row must be exactly card_code,pin_code,value_amount"]
        );
        assert!(messages("")[0].starts_with("the file is empty"));
        assert!(messages("card_code,pin_code,value_amount\n\n")[0].contains("no cards"));
    }

    #[test]
    fn invalid_utf8_and_control_characters_are_refused() {
        let mut input = b"card_code,pin_code,value_amount\n".to_vec();
        input.extend_from_slice(b"GC-\xff,1,25\nGC\x07X,1,25\n");

        let error = parse(&input).unwrap_err();

        assert_eq!(
            error.errors[0].to_string(),
            "line 2: card_code is not valid UTF-8"
        );
        assert_eq!(
            error.errors[1].to_string(),
            "line 3: card_code contains a control character"
        );
    }

    #[test]
    fn debug_output_of_a_card_hides_the_code_and_pin() {
        let cards = parse(b"card_code,pin_code,value_amount\nSECRET-1,PIN-9,5\n").unwrap();

        let debug = format!("{cards:?}");

        assert!(
            !debug.contains("SECRET-1") && !debug.contains("PIN-9"),
            "{debug}"
        );
    }

    #[test]
    fn card_values_parse_like_numeric_12_2() {
        assert_eq!(CardValue::parse("25").unwrap().to_string(), "25.00");
        assert_eq!(CardValue::parse("0.5").unwrap().cents(), 50);
        assert_eq!(CardValue::parse("007.10").unwrap().to_string(), "7.10");
        assert_eq!(
            CardValue::parse("9999999999.99").unwrap().cents(),
            999_999_999_999
        );
        assert_eq!(
            CardValue::parse("10000000000"),
            Err(CardValueError::TooLarge)
        );
        assert_eq!(
            CardValue::parse("1.234"),
            Err(CardValueError::TooManyDecimals)
        );
        assert_eq!(CardValue::parse("0.00"), Err(CardValueError::NotPositive));
        assert_eq!(CardValue::parse("-1"), Err(CardValueError::NotPositive));
        for bad in ["abc", ".5", "5.", "1e3", "$5", "5,00", "1.2.3", " "] {
            assert_eq!(
                CardValue::parse(bad),
                Err(CardValueError::NotANumber),
                "{bad}"
            );
        }
    }
}
