//! Strict `application/x-www-form-urlencoded` parsing that keeps every pair in order.
//!
//! The usual parsers repair bad percent escapes silently; a webhook body that does not decode
//! exactly is refused instead, because its signature could not be checked over what Twilio sent.

/// Every field of a form body, in the order they arrived, repeated keys included.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormPairs(Vec<(String, String)>);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormError {
    #[error("malformed percent escape in form body")]
    BadEscape,
    #[error("form body is not valid UTF-8")]
    NotUtf8,
    /// PostgreSQL cannot store a NUL in text, so such a field could never be recorded.
    #[error("form field contains a NUL byte")]
    Nul,
}

impl FormPairs {
    pub fn parse(body: &[u8]) -> Result<Self, FormError> {
        let mut pairs = Vec::new();
        for part in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            let (key, value) = match part.iter().position(|&b| b == b'=') {
                Some(i) => (&part[..i], &part[i + 1..]),
                None => (part, &[][..]),
            };
            pairs.push((decode(key)?, decode(value)?));
        }
        Ok(Self(pairs))
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// The first value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Replaces every value of `key` with one value, or appends it.
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        let value = value.into();
        self.0.retain(|(k, _)| k != key);
        self.0.push((key.to_owned(), value));
    }

    pub fn remove(&mut self, key: &str) {
        self.0.retain(|(k, _)| k != key);
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// Encodes the pairs as a request body.
    pub fn encode(&self) -> String {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.0.iter())
            .finish()
    }
}

fn decode(raw: &[u8]) -> Result<String, FormError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = raw.get(i + 1).and_then(|b| hex(*b));
                let lo = raw.get(i + 2).and_then(|b| hex(*b));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                    _ => return Err(FormError::BadEscape),
                }
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    if out.contains(&0) {
        return Err(FormError::Nul);
    }
    String::from_utf8(out).map_err(|_| FormError::NotUtf8)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plus_and_escapes_and_keeps_order_and_repeats() {
        let form = FormPairs::parse(b"b=2&From=%2B1415+555&b=1&empty=&bare").unwrap();
        assert_eq!(
            form.pairs(),
            &[
                ("b".into(), "2".into()),
                ("From".into(), "+1415 555".into()),
                ("b".into(), "1".into()),
                ("empty".into(), String::new()),
                ("bare".into(), String::new()),
            ]
        );
    }

    #[test]
    fn truncated_or_invalid_escapes_are_refused() {
        assert_eq!(FormPairs::parse(b"a=%2"), Err(FormError::BadEscape));
        assert_eq!(FormPairs::parse(b"a=%"), Err(FormError::BadEscape));
        assert_eq!(FormPairs::parse(b"a=%zz"), Err(FormError::BadEscape));
        assert_eq!(FormPairs::parse(b"a=%ff"), Err(FormError::NotUtf8));
    }

    #[test]
    fn a_nul_byte_escaped_or_raw_in_a_key_or_value_is_refused() {
        assert_eq!(FormPairs::parse(b"a=x%00y"), Err(FormError::Nul));
        assert_eq!(FormPairs::parse(b"a%00=1"), Err(FormError::Nul));
        assert_eq!(FormPairs::parse(b"a=x\0y"), Err(FormError::Nul));
        assert_eq!(FormError::Nul.to_string(), "form field contains a NUL byte");
        assert!(FormPairs::parse(b"a=x%01y").is_ok());
    }

    #[test]
    fn encode_round_trips() {
        let form = FormPairs::from_pairs([("To", "+1 (415) & co"), ("x", "é")]);
        assert_eq!(FormPairs::parse(form.encode().as_bytes()).unwrap(), form);
    }
}
