//! A tracked number's `VoiceFallbackUrl`: it carries the number's forward-to number in its
//! query, so the fallback can forward the call without the database. Twilio signs the whole
//! URL, query included, so a changed number fails the signature check.

use super::PublicBaseUrl;
use crate::domain::E164;

/// The path Twilio posts to when a number's voice webhook failed.
pub const PATH: &str = "/twilio/voice-fallback";

/// The query parameter holding the forward-to number.
const FORWARD: &str = "forward";

/// The `VoiceFallbackUrl` of a number that forwards to `forward_to`:
/// `PUBLIC_BASE_URL/twilio/voice-fallback?forward=%2B14155550199`. The `+` is percent-encoded,
/// since a bare `+` in a query reads back as a space.
pub fn url(base: &PublicBaseUrl, forward_to: &E164) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair(FORWARD, forward_to.as_str())
        .finish();
    base.join(&format!("{PATH}?{query}"))
}

/// The forward-to number in a fallback request's raw query: `None` when it is missing,
/// given more than once, or not a phone number (a number bought before the fallback carried
/// it has a URL without a query).
pub fn forward_to(raw_query: &str) -> Option<E164> {
    let mut values = form_urlencoded::parse(raw_query.as_bytes())
        .filter(|(key, _)| key == FORWARD)
        .map(|(_, value)| value);
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    E164::parse(&value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> PublicBaseUrl {
        PublicBaseUrl::parse("https://calltrack.example.com/prefix").unwrap()
    }

    #[test]
    fn the_url_carries_the_forward_number_percent_encoded() {
        let forward = E164::parse("(415) 555-0199").unwrap();
        assert_eq!(
            url(&base(), &forward),
            "https://calltrack.example.com/prefix/twilio/voice-fallback?forward=%2B14155550199"
        );
    }

    #[test]
    fn connection_overrides_come_after_the_query() {
        let base =
            PublicBaseUrl::parse("https://calltrack.example.com/prefix#rc=2&rp=all").unwrap();
        let forward = E164::parse("+14155550199").unwrap();
        assert_eq!(
            url(&base, &forward),
            "https://calltrack.example.com/prefix/twilio/voice-fallback?forward=%2B14155550199#rc=2&rp=all"
        );
    }

    #[test]
    fn the_forward_number_reads_back_from_the_query_the_url_carries() {
        let forward = E164::parse("+14155550199").unwrap();
        let built = url(&base(), &forward);
        let (_, query) = built.split_once('?').unwrap();
        assert_eq!(forward_to(query), Some(forward));
    }

    #[test]
    fn a_missing_repeated_or_garbage_forward_number_reads_as_none() {
        for query in [
            "",
            "other=1",
            "forward=",
            "forward=garbage",
            "forward=%2",
            "forward=%2B14155550199&forward=%2B12125550142",
        ] {
            assert_eq!(forward_to(query), None, "{query}");
        }
    }
}
