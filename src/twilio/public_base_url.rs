//! The base URL Twilio reaches this service at, and the callback URLs built from it.

/// The base URL Twilio uses to reach this service, without a trailing slash. A path prefix is
/// allowed; it is the part a reverse proxy strips before forwarding.
///
/// It may end in Twilio's connection-override fragment (`#rc=2&rp=all`: retries, timeouts,
/// edge). The fragment is kept apart: Twilio reads it from the URLs it is given and never sends
/// it back, so [`Self::join`] puts it at the end of every callback URL while
/// [`Self::requested`] and [`Self::as_str`] leave it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicBaseUrl {
    base: String,
    overrides: Option<String>,
}

/// Why a public base URL was refused; `Display` says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidPublicBaseUrl(&'static str);

impl PublicBaseUrl {
    /// Accepts `http://` or `https://`, a host, an optional port and path prefix, and an
    /// optional `#key=value&...` fragment; refuses a query, a space, or any other fragment.
    pub fn parse(raw: &str) -> Result<Self, InvalidPublicBaseUrl> {
        let raw = raw.trim();
        let (base, overrides) = match raw.split_once('#') {
            Some((base, fragment)) => (base, Some(connection_overrides(fragment)?)),
            None => (raw, None),
        };
        let base = base.trim_end_matches('/');
        let rest = base
            .strip_prefix("https://")
            .or_else(|| base.strip_prefix("http://"))
            .ok_or(InvalidPublicBaseUrl("must start with http:// or https://"))?;
        if rest.is_empty() || rest.starts_with('/') {
            return Err(InvalidPublicBaseUrl("has no host"));
        }
        if rest.contains(['?', ' ']) {
            return Err(InvalidPublicBaseUrl("must not contain a query or space"));
        }
        Ok(Self {
            base: base.to_owned(),
            overrides,
        })
    }

    /// The URL to give Twilio for `path_and_query` (which starts with `/`): the base, the path
    /// and query, then the connection overrides, which Twilio only reads at the very end.
    pub fn join(&self, path_and_query: &str) -> String {
        match &self.overrides {
            Some(overrides) => format!("{}{path_and_query}#{overrides}", self.base),
            None => self.requested(path_and_query),
        }
    }

    /// The URL Twilio requests for `path_and_query`: no fragment, as none goes on the wire.
    pub fn requested(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base)
    }

    /// The base URL without the connection overrides.
    pub fn as_str(&self) -> &str {
        &self.base
    }

    /// The connection-override fragment, without its `#`.
    pub fn connection_overrides(&self) -> Option<&str> {
        self.overrides.as_deref()
    }
}

/// Checks a connection-override fragment is `key=value` pairs joined by `&`, the only shape
/// Twilio documents; a typo here would otherwise surface only as calls that do not retry.
fn connection_overrides(fragment: &str) -> Result<String, InvalidPublicBaseUrl> {
    let well_formed = !fragment.is_empty()
        && fragment.split('&').all(|pair| {
            pair.split_once('=').is_some_and(|(key, value)| {
                !key.is_empty()
                    && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    && !value.is_empty()
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_graphic() && !matches!(b, b'#' | b'=' | b'&'))
            })
        });
    if well_formed {
        Ok(fragment.to_owned())
    } else {
        Err(InvalidPublicBaseUrl(
            "a fragment must be Twilio connection overrides, key=value pairs joined by & \
             (e.g. #rc=2&rp=all)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_base_url_keeps_a_prefix_and_drops_a_trailing_slash() {
        let url = PublicBaseUrl::parse("https://example.com/hooks/").unwrap();
        assert_eq!(
            url.join("/twilio/voice"),
            "https://example.com/hooks/twilio/voice"
        );
        assert!(PublicBaseUrl::parse("example.com").is_err());
        assert!(PublicBaseUrl::parse("https://example.com/?a=1").is_err());
    }

    #[test]
    fn connection_overrides_go_at_the_end_of_callback_urls_and_nowhere_else() {
        let url = PublicBaseUrl::parse("https://example.com/base/#rc=2&rp=all").unwrap();
        assert_eq!(url.as_str(), "https://example.com/base");
        assert_eq!(url.connection_overrides(), Some("rc=2&rp=all"));
        assert_eq!(
            url.join("/twilio/voice-fallback?forward=%2B14155550199"),
            "https://example.com/base/twilio/voice-fallback?forward=%2B14155550199#rc=2&rp=all"
        );
        assert_eq!(
            url.requested("/twilio/voice?x=1"),
            "https://example.com/base/twilio/voice?x=1"
        );
        let plain = PublicBaseUrl::parse("https://example.com").unwrap();
        assert_eq!(
            plain.join("/twilio/voice"),
            plain.requested("/twilio/voice")
        );
        assert_eq!(plain.connection_overrides(), None);
    }

    #[test]
    fn a_fragment_that_is_not_key_value_pairs_is_refused() {
        for raw in [
            "https://example.com#",
            "https://example.com#top",
            "https://example.com#rc=2&",
            "https://example.com#rc=",
            "https://example.com#=2",
            "https://example.com#rc=2&&rp=all",
            "https://example.com#rc=2#rp=all",
            "https://example.com#rc=2 rp=all",
            "https://example.com#rc=2=3",
        ] {
            let error = PublicBaseUrl::parse(raw).unwrap_err();
            assert!(error.to_string().contains("key=value"), "{raw}: {error}");
        }
        for ok in [
            "https://example.com#rc=2",
            "https://example.com/hooks#ct=1000&rt=3000&tt=9000&rc=3&rp=4xx,5xx,ct,rt&e=ashburn&sni=y",
        ] {
            assert!(PublicBaseUrl::parse(ok).is_ok(), "{ok}");
        }
    }
}
