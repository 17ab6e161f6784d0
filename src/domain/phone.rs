use std::fmt;

use phonenumber::{Mode, country};

/// A phone number in E.164 form (`+14155550100`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct E164(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PhoneError {
    #[error("not a phone number")]
    NotANumber,
}

impl E164 {
    /// Normalises anything libphonenumber can read, with the US as the region for numbers
    /// written without a country code (the platform mails US recipients).
    pub fn parse(raw: &str) -> Result<Self, PhoneError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::NotANumber);
        }
        // Twilio writes North American numbers as `+1NXXNXXXXXX`, and libphonenumber leaves
        // that form as it is; reading it costs a regex build or two per call (a tenth of the
        // voice webhook's CPU), so it is taken as it is.
        if is_plain_nanp(trimmed) {
            return Ok(Self(trimmed.to_owned()));
        }
        let number = phonenumber::parse(Some(country::Id::US), trimmed)
            .map_err(|_| PhoneError::NotANumber)?;
        let formatted = number.format().mode(Mode::E164).to_string();
        let digits = formatted.len().saturating_sub(1);
        if !(8..=16).contains(&formatted.len()) || digits < 7 {
            return Err(PhoneError::NotANumber);
        }
        Ok(Self(formatted))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number with its middle hidden, for logs and screens: `+1415***0100`.
    pub fn masked(&self) -> String {
        mask_phone(&self.0)
    }
}

/// A number a call can be forwarded to: a phone number in use in its country's numbering plan
/// (libphonenumber's metadata), in E.164. Stricter than [`E164`], which reads whatever a caller
/// ID or a mailing list holds: a forward-to number that cannot be dialled would only fail at
/// Twilio, on a caller's call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialableNumber(E164);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DialableError {
    #[error("is not a phone number; give it with its country code, such as +14155550123")]
    NotANumber,
    #[error(
        "is not a number in use in its country's numbering plan (check the country code, the \
         area code and the count of digits)"
    )]
    NotInUse,
    #[error("has an extension, which a forwarded call cannot dial")]
    Extension,
}

impl DialableNumber {
    /// Reads the number as [`E164::parse`] does (US numbers may leave out `+1`), then holds it
    /// to its country's numbering plan.
    pub fn parse(raw: &str) -> Result<Self, DialableError> {
        let number = phonenumber::parse(Some(country::Id::US), raw.trim())
            .map_err(|_| DialableError::NotANumber)?;
        if number.extension().is_some() {
            return Err(DialableError::Extension);
        }
        if !phonenumber::is_valid(&number) {
            return Err(DialableError::NotInUse);
        }
        Ok(Self(E164(number.format().mode(Mode::E164).to_string())))
    }

    pub fn as_e164(&self) -> &E164 {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Display for DialableNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A North American area code to buy a number in: three digits, the first 2 to 9 (an area code
/// never starts with 0 or 1), and not an N11 service code (211 to 911), which holds no numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AreaCode(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("must be three digits, the first 2 to 9, and not a service code such as 411")]
pub struct AreaCodeError;

impl AreaCode {
    pub fn parse(raw: &str) -> Result<Self, AreaCodeError> {
        let code = raw.trim();
        match code.as_bytes() {
            [b'2'..=b'9', second, third]
                if second.is_ascii_digit()
                    && third.is_ascii_digit()
                    && (*second, *third) != (b'1', b'1') =>
            {
                Ok(Self(code.to_owned()))
            }
            _ => Err(AreaCodeError),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `+1`, then ten digits whose first is 2–9 (an area code never starts with 0 or 1).
fn is_plain_nanp(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    bytes.len() == 12
        && bytes.starts_with(b"+1")
        && (b'2'..=b'9').contains(&bytes[2])
        && bytes[3..].iter().all(u8::is_ascii_digit)
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Masks all but the first five and last four characters of a phone-like string.
pub fn mask_phone(raw: &str) -> String {
    let chars: Vec<char> = raw.chars().collect();
    if chars.len() <= 9 {
        return "***".to_owned();
    }
    let head: String = chars[..5].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}***{tail}")
}

/// Who Twilio says is calling: a number, or a caller who withheld it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerId {
    Number(E164),
    /// Withheld, restricted or unreadable caller ID; the call is still forwarded.
    Withheld,
}

/// Twilio's stand-ins for a missing caller ID: the keypad spellings of ANONYMOUS, UNKNOWN,
/// RESTRICTED, BLOCKED and UNAVAILABLE, plus the words themselves.
const WITHHELD_MARKERS: &[&str] = &[
    "anonymous",
    "unknown",
    "restricted",
    "blocked",
    "unavailable",
    "private",
    "+266696687",
    "+86282452253",
    "+7378742833",
    "+2562533",
    "+8656696",
];

impl CallerId {
    pub fn parse(raw: &str) -> Self {
        let trimmed = raw.trim();
        if WITHHELD_MARKERS
            .iter()
            .any(|m| m.eq_ignore_ascii_case(trimmed))
        {
            return Self::Withheld;
        }
        E164::parse(trimmed).map_or(Self::Withheld, Self::Number)
    }

    pub fn number(&self) -> Option<&E164> {
        match self {
            Self::Number(n) => Some(n),
            Self::Withheld => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The shortcut for `+1NXXNXXXXXX` reads it exactly as libphonenumber does.
        #[test]
        fn plain_north_american_numbers_read_as_libphonenumber_reads_them(
            first in 2_u8..=9,
            rest in 0_u64..1_000_000_000,
        ) {
            let raw = format!("+1{first}{rest:09}");
            let slow = phonenumber::parse(Some(country::Id::US), &raw)
                .unwrap()
                .format()
                .mode(Mode::E164)
                .to_string();
            proptest::prop_assert!(is_plain_nanp(&raw));
            let fast = E164::parse(&raw).unwrap();
            proptest::prop_assert_eq!(fast.as_str(), slow.as_str());
        }
    }

    #[test]
    fn only_the_plain_north_american_form_takes_the_shortcut() {
        for raw in ["+14155550100", "+12120000001", "+19999999999"] {
            assert!(is_plain_nanp(raw), "{raw}");
        }
        for raw in [
            "+1415555010",
            "+141555501000",
            "+11415555010",
            "+10415555010",
            "+1415555010x",
            "14155550100",
            "+4420796000000",
            "+1 415 555 0100",
        ] {
            assert!(!is_plain_nanp(raw), "{raw}");
        }
    }

    #[test]
    fn messy_us_formats_normalise_to_one_e164() {
        for raw in [
            "(415) 555-0100",
            "415.555.0100",
            "+1 415 555 0100",
            "1-415-555-0100",
            "4155550100",
            "+14155550100",
            " 415 555 0100 ",
        ] {
            assert_eq!(E164::parse(raw).unwrap().as_str(), "+14155550100", "{raw}");
        }
    }

    #[test]
    fn international_numbers_keep_their_country() {
        assert_eq!(
            E164::parse("+44 20 7946 0958").unwrap().as_str(),
            "+442079460958"
        );
    }

    #[test]
    fn non_numbers_are_refused() {
        for raw in ["", "n/a", "client:alice", "12"] {
            assert!(E164::parse(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn dialable_numbers_are_read_in_any_format_into_e164() {
        for (raw, e164) in [
            ("+14155550199", "+14155550199"),
            ("(212) 555-0142", "+12125550142"),
            ("+1 (212) 555-0142", "+12125550142"),
            ("+18005550123", "+18005550123"),
            ("+44 20 7946 0958", "+442079460958"),
        ] {
            assert_eq!(
                DialableNumber::parse(raw).map(|n| n.as_str().to_owned()),
                Ok(e164.to_owned()),
                "{raw}"
            );
        }
    }

    #[test]
    fn numbers_outside_their_countrys_numbering_plan_are_not_dialable() {
        // The outside probe's two: seven digits after +1, and an area code starting with 0.
        for raw in ["+13079276", "+1015961", "+1415555019", "+141555501999"] {
            assert_eq!(
                DialableNumber::parse(raw),
                Err(DialableError::NotInUse),
                "{raw}"
            );
        }
        // A caller ID is read more loosely: the difference is the point of the type.
        assert!(E164::parse("+13079276").is_ok());
        for raw in ["", "n/a", "client:alice", "+999123456"] {
            assert_eq!(
                DialableNumber::parse(raw),
                Err(DialableError::NotANumber),
                "{raw}"
            );
        }
        assert_eq!(
            DialableNumber::parse("+14155550199 ext. 12"),
            Err(DialableError::Extension)
        );
    }

    #[test]
    fn area_codes_are_three_digits_that_can_hold_numbers() {
        for raw in ["415", "212", " 800 ", "999"] {
            assert_eq!(
                AreaCode::parse(raw).map(|c| c.as_str().to_owned()),
                Ok(raw.trim().to_owned())
            );
        }
        for raw in [
            "",
            "41",
            "4155",
            "015",
            "115",
            "411",
            "911",
            "4a5",
            "４１５",
        ] {
            assert_eq!(AreaCode::parse(raw), Err(AreaCodeError), "{raw}");
        }
    }

    #[test]
    fn withheld_markers_are_recognised_however_written() {
        for raw in [
            "anonymous",
            "Anonymous",
            "+266696687",
            "+7378742833",
            "",
            "sip:x@y",
        ] {
            assert_eq!(CallerId::parse(raw), CallerId::Withheld, "{raw}");
        }
        assert!(matches!(
            CallerId::parse("+14155550100"),
            CallerId::Number(_)
        ));
    }

    #[test]
    fn masking_hides_the_middle() {
        assert_eq!(
            E164::parse("+14155552671").unwrap().masked(),
            "+1415***2671"
        );
        assert_eq!(mask_phone("123"), "***");
    }
}
