//! Gift-card codes and PINs at rest: AES-256-GCM with a random nonce per value, stored as
//! `v1:` + base64(nonce ‖ ciphertext ‖ tag). The prefix names the key version so a later key
//! rotation can tell old values from new ones.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, OsRng};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use secrecy::{ExposeSecret, SecretBox, SecretString};

const VERSION_PREFIX: &str = "v1:";

/// `bytes` random bytes in base64, from the thread's cryptographically secure generator:
/// secrets made up at run time (the local trial's, the demo's), never carried in the binary.
pub fn random_secret(bytes: usize) -> String {
    use rand::RngCore as _;
    let mut buf = vec![0_u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    STANDARD.encode(buf)
}
const NONCE_LEN: usize = 12;

/// Encrypts and decrypts card secrets with `GIFT_CARD_KEY`.
#[derive(Clone)]
pub struct CardCipher {
    cipher: Aes256Gcm,
}

impl fmt::Debug for CardCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CardCipher(..)")
    }
}

/// A stored value could not be decrypted: wrong key, unknown version, or tampered data.
/// Deliberately carries no detail, so no part of a code reaches a log.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("gift card secret cannot be decrypted with GIFT_CARD_KEY")]
pub struct DecryptError;

impl CardCipher {
    pub fn new(key: &SecretBox<[u8; 32]>) -> Self {
        let key: &Key<Aes256Gcm> = key.expose_secret().into();
        Self {
            cipher: Aes256Gcm::new(key),
        }
    }

    /// Encrypts `plaintext` under a fresh random nonce.
    pub fn encrypt(&self, plaintext: &str) -> String {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        // Encryption only fails for inputs over 64 GiB; a card code is a few bytes.
        let ciphertext = self
            .cipher
            .encrypt(&nonce, plaintext.as_bytes())
            .unwrap_or_else(|_| unreachable!("AES-GCM input limit exceeded"));
        let mut stored = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        stored.extend_from_slice(&nonce);
        stored.extend_from_slice(&ciphertext);
        format!("{VERSION_PREFIX}{}", STANDARD.encode(stored))
    }

    /// Decrypts a value written by [`CardCipher::encrypt`].
    pub fn decrypt(&self, stored: &str) -> Result<SecretString, DecryptError> {
        let encoded = stored.strip_prefix(VERSION_PREFIX).ok_or(DecryptError)?;
        let bytes = STANDARD.decode(encoded).map_err(|_| DecryptError)?;
        if bytes.len() <= NONCE_LEN {
            return Err(DecryptError);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let plaintext = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| DecryptError)?;
        String::from_utf8(plaintext)
            .map(SecretString::from)
            .map_err(|_| DecryptError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cipher(byte: u8) -> CardCipher {
        CardCipher::new(&SecretBox::new(Box::new([byte; 32])))
    }

    #[test]
    fn round_trips_and_never_stores_the_plaintext() {
        let c = cipher(7);
        let stored = c.encrypt("GC-1234-5678");
        assert!(stored.starts_with("v1:"));
        assert!(!stored.contains("1234"));
        assert_eq!(c.decrypt(&stored).unwrap().expose_secret(), "GC-1234-5678");
    }

    #[test]
    fn the_same_code_encrypts_differently_each_time() {
        let c = cipher(7);
        assert_ne!(c.encrypt("same"), c.encrypt("same"));
    }

    #[test]
    fn a_wrong_key_or_tampering_is_refused() {
        let stored = cipher(7).encrypt("GC-1");
        assert_eq!(cipher(8).decrypt(&stored).unwrap_err(), DecryptError);
        let mut tampered = stored.clone().into_bytes();
        let last = tampered.len() - 3;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(
            cipher(7)
                .decrypt(std::str::from_utf8(&tampered).unwrap())
                .is_err()
        );
        assert!(cipher(7).decrypt("GC-1").is_err());
        assert!(cipher(7).decrypt("v1:!!").is_err());
    }
}
