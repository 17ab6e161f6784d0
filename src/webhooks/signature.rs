//! Standard Webhooks signatures: `v1,` + base64 of HMAC-SHA256 keyed with the secret's bytes
//! over `{id}.{timestamp}.{body}`. The `webhook-signature` header carries one signature per
//! secret in use, space-separated: two while a rotated secret is still honoured.

use std::fmt;

use base64::{Engine as _, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret as _, SecretSlice, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

const PREFIX: &str = "whsec_";
const VERSION: &str = "v1,";
/// Bytes of a secret made by [`WebhookSecret::generate`].
const GENERATED_LEN: usize = 32;
// The specification's reference libraries accept keys of 24 to 64 bytes (its own test
// vector's is 24); shorter would be weak, longer than SHA-256's block is hashed down anyway.
const MIN_LEN: usize = 24;
const MAX_LEN: usize = 64;

/// An endpoint's signing secret: `whsec_` + base64 of its key bytes. Its `Debug` shows
/// nothing of the key; [`WebhookSecret::expose`] is the one way to read it (to show it to
/// the manager once, or to store it).
#[derive(Clone)]
pub struct WebhookSecret {
    key: SecretSlice<u8>,
}

/// A stored or supplied secret is not a `whsec_` secret. Carries no part of the value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("a webhook secret starts with whsec_")]
    MissingPrefix,
    #[error("a webhook secret is whsec_ followed by base64")]
    NotBase64,
    #[error("a webhook secret's key is {MIN_LEN} to {MAX_LEN} bytes, this one is {0}")]
    Length(usize),
}

impl WebhookSecret {
    /// A new secret of 32 bytes from the thread's cryptographically secure generator.
    pub fn generate() -> Self {
        use rand::RngCore as _;
        let mut key = vec![0_u8; GENERATED_LEN];
        rand::thread_rng().fill_bytes(&mut key);
        Self { key: key.into() }
    }

    /// Reads a `whsec_` secret, as [`WebhookSecret::expose`] writes it.
    pub fn parse(raw: &str) -> Result<Self, SecretError> {
        let encoded = raw.strip_prefix(PREFIX).ok_or(SecretError::MissingPrefix)?;
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| SecretError::NotBase64)?;
        if !(MIN_LEN..=MAX_LEN).contains(&key.len()) {
            return Err(SecretError::Length(key.len()));
        }
        Ok(Self { key: key.into() })
    }

    /// The secret as the receiver configures it: `whsec_` + base64 of the key.
    pub fn expose(&self) -> SecretString {
        format!("{PREFIX}{}", STANDARD.encode(self.key.expose_secret())).into()
    }

    fn mac(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> [u8; 32] {
        // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(self.key.expose_secret()) else {
            unreachable!("HMAC accepts keys of any length")
        };
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

/// The signature of one message under one secret: `v1,` + base64 of
/// HMAC-SHA256(key, `{msg_id}.{timestamp}.{body}`), `timestamp` in Unix seconds.
pub fn sign(secret: &WebhookSecret, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    format!(
        "{VERSION}{}",
        STANDARD.encode(secret.mac(msg_id, timestamp, body))
    )
}

/// The `webhook-signature` header: one signature per secret, in the order given (the current
/// secret first, then the one being rotated out), separated by single spaces.
pub fn signature_header<'a>(
    secrets: impl IntoIterator<Item = &'a WebhookSecret>,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .into_iter()
        .map(|secret| sign(secret, msg_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether any `v1,` signature in the `webhook-signature` header `header` is the signature of
/// the message under `secret`, compared in constant time. Signatures of other versions are
/// skipped; an empty or truncated one never matches. The timestamp's age is the receiver's
/// policy and is not checked here.
pub fn verify(
    secret: &WebhookSecret,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
    header: &str,
) -> bool {
    let expected = secret.mac(msg_id, timestamp, body);
    let mut matched = false;
    for candidate in header.split(' ') {
        let Some(encoded) = candidate.strip_prefix(VERSION) else {
            continue;
        };
        let Ok(decoded) = STANDARD.decode(encoded) else {
            continue;
        };
        // `ct_eq` on slices of different lengths is false without comparing contents, so an
        // empty `v1,` never matches.
        matched |= bool::from(decoded.as_slice().ct_eq(&expected));
    }
    matched
}

#[cfg(test)]
mod tests {
    use super::*;

    // The specification's test vector, from the reference libraries' "sign function works"
    // test (standard-webhooks/libraries, javascript/src/webhook.test.ts and the others).
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TIMESTAMP: i64 = 1_614_265_330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn spec_secret() -> WebhookSecret {
        WebhookSecret::parse(SPEC_SECRET).expect("the specification's secret parses")
    }

    #[test]
    fn the_specifications_test_vector_is_reproduced() {
        assert_eq!(
            sign(&spec_secret(), SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY),
            SPEC_SIGNATURE
        );
        assert!(verify(
            &spec_secret(),
            SPEC_ID,
            SPEC_TIMESTAMP,
            SPEC_BODY,
            SPEC_SIGNATURE
        ));
    }

    #[test]
    fn an_empty_or_truncated_signature_never_verifies() {
        let secret = spec_secret();
        for header in ["", "v1,", "v1, v1,", "v1,g0hM9SsE", "v1,=", " ", "v2,"] {
            assert!(
                !verify(&secret, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY, header),
                "{header:?} verified"
            );
        }
    }

    #[test]
    fn a_wrong_secret_id_timestamp_or_body_fails() {
        let other = WebhookSecret::generate();
        assert!(!verify(
            &other,
            SPEC_ID,
            SPEC_TIMESTAMP,
            SPEC_BODY,
            SPEC_SIGNATURE
        ));
        let secret = spec_secret();
        assert!(!verify(
            &secret,
            "msg_other",
            SPEC_TIMESTAMP,
            SPEC_BODY,
            SPEC_SIGNATURE
        ));
        assert!(!verify(
            &secret,
            SPEC_ID,
            SPEC_TIMESTAMP + 1,
            SPEC_BODY,
            SPEC_SIGNATURE
        ));
        assert!(!verify(
            &secret,
            SPEC_ID,
            SPEC_TIMESTAMP,
            br#"{"test": 2432232315}"#,
            SPEC_SIGNATURE
        ));
    }

    #[test]
    fn during_a_rotation_either_secret_verifies_the_header() {
        let new = WebhookSecret::generate();
        let old = spec_secret();
        let header = signature_header([&new, &old], SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY);
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(
            parts[1], SPEC_SIGNATURE,
            "the old secret's signature comes second"
        );
        assert!(verify(&new, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY, &header));
        assert!(verify(&old, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY, &header));
        assert!(!verify(
            &WebhookSecret::generate(),
            SPEC_ID,
            SPEC_TIMESTAMP,
            SPEC_BODY,
            &header
        ));
    }

    #[test]
    fn signatures_of_other_versions_are_skipped() {
        let header = format!("v1a,abc v2,{} {SPEC_SIGNATURE}", &SPEC_SIGNATURE[3..]);
        assert!(verify(
            &spec_secret(),
            SPEC_ID,
            SPEC_TIMESTAMP,
            SPEC_BODY,
            &header
        ));
        let without_v1 = format!("v2,{}", &SPEC_SIGNATURE[3..]);
        assert!(!verify(
            &spec_secret(),
            SPEC_ID,
            SPEC_TIMESTAMP,
            SPEC_BODY,
            &without_v1
        ));
    }

    #[test]
    fn a_generated_secret_is_whsec_and_32_bytes_and_round_trips() {
        let secret = WebhookSecret::generate();
        let exposed = secret.expose();
        let exposed = exposed.expose_secret();
        let encoded = exposed.strip_prefix("whsec_").expect("whsec_ prefix");
        assert_eq!(STANDARD.decode(encoded).expect("base64").len(), 32);
        let again = WebhookSecret::parse(exposed).expect("round trip");
        assert_eq!(again.expose().expose_secret(), exposed);
        assert_ne!(
            WebhookSecret::generate().expose().expose_secret(),
            exposed,
            "two secrets differ"
        );
    }

    #[test]
    fn the_spec_secret_round_trips_unchanged() {
        assert_eq!(spec_secret().expose().expose_secret(), SPEC_SECRET);
    }

    #[test]
    fn debug_never_shows_the_key() {
        let secret = spec_secret();
        let printed = format!("{secret:?}");
        assert_eq!(printed, "WebhookSecret(..)");
        assert!(!printed.contains("MfKQ"));
    }

    #[test]
    fn malformed_secrets_are_refused_without_echoing_them() {
        assert_eq!(
            WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").err(),
            Some(SecretError::MissingPrefix)
        );
        assert_eq!(
            WebhookSecret::parse("whsec_not base64!").err(),
            Some(SecretError::NotBase64)
        );
        assert_eq!(
            WebhookSecret::parse("whsec_c2hvcnQ=").err(),
            Some(SecretError::Length(5))
        );
        assert_eq!(
            WebhookSecret::parse("whsec_").err(),
            Some(SecretError::Length(0))
        );
        let error = WebhookSecret::parse("whsec_c2hvcnQ=")
            .unwrap_err()
            .to_string();
        assert!(!error.contains("c2hvcnQ"), "{error}");
    }
}
