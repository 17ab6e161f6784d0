use std::fmt;

/// A Twilio call SID: `CA` followed by 32 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CallSid(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a Twilio call SID (expected CA and 32 hex digits)")]
pub struct CallSidError;

impl CallSid {
    /// Accepts exactly what Twilio issues, so a forged or truncated SID never reaches SQL.
    pub fn parse(raw: &str) -> Result<Self, CallSidError> {
        let valid = raw.len() == 34
            && raw.starts_with("CA")
            && raw[2..].bytes().all(|b| b.is_ascii_hexdigit());
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(CallSidError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CallSid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_real_sid_and_refuses_look_alikes() {
        assert!(CallSid::parse("CA1234567890abcdef1234567890abcdef").is_ok());
        assert!(CallSid::parse("CA1234567890ABCDE").is_err());
        assert!(CallSid::parse("SM1234567890abcdef1234567890abcdef").is_err());
        assert!(CallSid::parse("CA1234567890abcdef1234567890abcdeg").is_err());
        assert!(CallSid::parse("").is_err());
    }
}
