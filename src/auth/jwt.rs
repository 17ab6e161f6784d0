use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use secrecy::{ExposeSecret as _, SecretString};
use uuid::Uuid;

/// The claims calltrack reads from a platform (Supabase) access token.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct Claims {
    pub sub: Uuid,
    pub exp: i64,
    pub aud: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid")]
    Invalid,
}

/// Checks HS256 tokens signed with `JWT_SECRET` (used as raw bytes, as Supabase does).
#[derive(Clone)]
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl JwtVerifier {
    pub fn new(secret: &SecretString) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&["authenticated"]);
        validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        validation.leeway = 30;
        // A token that is not valid yet is refused; `nbf` is optional (Supabase omits it).
        validation.validate_nbf = true;
        Self {
            key: DecodingKey::from_secret(secret.expose_secret().as_bytes()),
            validation,
        }
    }

    pub fn verify(&self, token: &str) -> Result<Claims, JwtError> {
        decode::<Claims>(token, &self.key, &self.validation)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => JwtError::Expired,
                _ => JwtError::Invalid,
            })
    }
}

/// A sign-in token for `user`, valid for `valid_for`, shaped as the platform's (Supabase's)
/// own: what the demo and the local trial hand out for the consoles. It grants exactly what
/// the user's rows in `user_roles` grant, like any platform token.
pub fn issue(
    secret: &SecretString,
    user: Uuid,
    valid_for: chrono::Duration,
) -> Result<String, jsonwebtoken::errors::Error> {
    let claims = serde_json::json!({
        "sub": user,
        "aud": "authenticated",
        "role": "authenticated",
        "exp": (chrono::Utc::now() + valid_for).timestamp(),
    });
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.expose_secret().as_bytes()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_token_is_one_the_verifier_accepts_for_that_user() {
        let secret = SecretString::from("s3cret");
        let user = Uuid::new_v4();
        let token = issue(&secret, user, chrono::Duration::hours(1)).unwrap();
        assert_eq!(JwtVerifier::new(&secret).verify(&token).unwrap().sub, user);
        assert_eq!(
            JwtVerifier::new(&SecretString::from("other"))
                .verify(&token)
                .unwrap_err(),
            JwtError::Invalid
        );
    }

    fn token(secret: &str, aud: &str, exp_offset: i64) -> String {
        let claims = Claims {
            sub: Uuid::nil(),
            exp: chrono::Utc::now().timestamp() + exp_offset,
            aud: aud.into(),
        };
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    #[test]
    fn accepts_a_valid_token_and_refuses_the_rest() {
        let verifier = JwtVerifier::new(&SecretString::from("s3cret"));
        assert_eq!(
            verifier
                .verify(&token("s3cret", "authenticated", 600))
                .unwrap()
                .sub,
            Uuid::nil()
        );
        assert_eq!(
            verifier
                .verify(&token("other", "authenticated", 600))
                .unwrap_err(),
            JwtError::Invalid
        );
        assert_eq!(
            verifier.verify(&token("s3cret", "anon", 600)).unwrap_err(),
            JwtError::Invalid
        );
        assert_eq!(
            verifier
                .verify(&token("s3cret", "authenticated", -600))
                .unwrap_err(),
            JwtError::Expired
        );
        assert_eq!(verifier.verify("garbage").unwrap_err(), JwtError::Invalid);
    }

    fn token_with_nbf(nbf_offset: i64) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = serde_json::json!({
            "sub": Uuid::nil(),
            "exp": now + 3600,
            "nbf": now + nbf_offset,
            "aud": "authenticated",
        });
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(b"s3cret"),
        )
        .unwrap()
    }

    #[test]
    fn a_token_whose_not_before_is_in_the_future_is_invalid() {
        let verifier = JwtVerifier::new(&SecretString::from("s3cret"));

        assert_eq!(
            verifier.verify(&token_with_nbf(600)).unwrap_err(),
            JwtError::Invalid
        );
        assert!(verifier.verify(&token_with_nbf(-60)).is_ok());
        // Within the leeway, as for `exp`.
        assert!(verifier.verify(&token_with_nbf(10)).is_ok());
    }
}
