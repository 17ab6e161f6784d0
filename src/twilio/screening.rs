//! The screening URL, a forwarded call's `<Number url>`: Twilio asks it what to play to the
//! business when it picks up. It carries what the voice answer decided (the whisper, and
//! whether a key press takes the call), so the screening webhook follows the flow the call
//! was forwarded with even on an instance whose routing copy has not seen a change yet.
//! Twilio signs the whole URL, query included, so a changed whisper fails the signature
//! (see [`super::carried`]).

use super::PublicBaseUrl;
use super::carried::{self, Query, Read};
use crate::domain::{CallFlow, CallSid, E164};

/// The path Twilio posts to when the business picks up a forwarded call.
pub const PATH: &str = "/twilio/screen";

const NUMBER: &str = "number";
const PARENT: &str = "parent";
const WHISPER: &str = "whisper";
const KEYPRESS: &str = "keypress";

/// What the business hears when it picks up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Screening {
    pub whisper: String,
    /// A key press takes the call; without one the business's leg hangs up.
    pub keypress: bool,
}

/// A screening request's query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScreenQuery {
    /// The tracked number the caller dialled.
    pub number: Option<E164>,
    /// The caller's call, which a key press accepts.
    pub parent: Option<CallSid>,
    /// The screening the voice answer decided; `None` in a URL that does not carry it.
    pub screening: Option<Screening>,
}

/// The `<Number url>` of a call to `tracked` (the caller's `parent`) forwarded with `flow`;
/// `None` when the flow has no whisper. The whisper travels as [`carried`] text; one too
/// long for Twilio's URL limit (only ever written by hand; the API caps it) is left out, and
/// the screening webhook then reads the flow from its routing copy.
pub fn url(
    base: &PublicBaseUrl,
    tracked: &E164,
    parent: &CallSid,
    flow: &CallFlow,
) -> Option<String> {
    let whisper = flow.whisper.as_deref()?;
    let call = Query::new()
        .plain(NUMBER, tracked.as_str())
        .plain(PARENT, parent.as_str());
    let screening = Query::new()
        .text(WHISPER, whisper)
        .flag(KEYPRESS, flow.require_keypress);
    Some(carried::url(base, PATH, &call, &screening))
}

/// Reads a screening request's raw query. A parameter that is missing, repeated or does not
/// parse reads as `None`; the screening is read only when both its parameters are there.
pub fn read(raw_query: &str) -> ScreenQuery {
    let query = Read::parse(raw_query);
    let screening = query
        .text(WHISPER)
        .zip(query.flag(KEYPRESS))
        .map(|(whisper, keypress)| Screening { whisper, keypress });
    ScreenQuery {
        number: query.once(NUMBER).and_then(|n| E164::parse(n).ok()),
        parent: query.once(PARENT).and_then(|p| CallSid::parse(p).ok()),
        screening,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::twilio::carried::MAX_URL_CHARS;

    fn base() -> PublicBaseUrl {
        PublicBaseUrl::parse("https://calltrack.example.com/prefix").unwrap()
    }

    fn tracked() -> E164 {
        E164::parse("+18005550123").unwrap()
    }

    fn parent() -> CallSid {
        CallSid::parse("CA0123456789abcdef0123456789abcdef").unwrap()
    }

    fn whispering(whisper: &str, keypress: bool) -> CallFlow {
        CallFlow::from_columns(Some(whisper.into()), Some(keypress), true, None, None)
    }

    fn query_of(url: &str) -> &str {
        url.split_once('?').map_or("", |(_, query)| query)
    }

    #[test]
    fn a_flow_without_a_whisper_screens_nothing() {
        assert_eq!(
            url(&base(), &tracked(), &parent(), &CallFlow::default()),
            None
        );
    }

    #[test]
    fn the_url_names_the_call_and_carries_the_screening() {
        let flow = whispering("Call from the spring mailer.", true);

        let built = url(&base(), &tracked(), &parent(), &flow).unwrap();

        assert!(
            built.starts_with(
                "https://calltrack.example.com/prefix/twilio/screen?number=%2B18005550123\
                 &parent=CA0123456789abcdef0123456789abcdef&whisper="
            ),
            "{built}"
        );
        assert!(built.ends_with("&keypress=1"), "{built}");
    }

    #[test]
    fn the_screening_reads_back_from_the_url_it_was_carried_in() {
        for (whisper, keypress) in [
            ("Call from the spring mailer.", true),
            ("Tom & Jerry's <\"deal\"> ?a=1&b=2 #top", false),
            ("Anruf über die Frühjahrsaktion: 春季邮件 📞", true),
        ] {
            let built = url(
                &base(),
                &tracked(),
                &parent(),
                &whispering(whisper, keypress),
            )
            .unwrap();

            let read = read(query_of(&built));

            assert_eq!(read.number, Some(tracked()));
            assert_eq!(read.parent, Some(parent()));
            let screening = Screening {
                whisper: whisper.to_owned(),
                keypress,
            };
            assert_eq!(read.screening, Some(screening), "{built}");
        }
    }

    #[test]
    fn the_longest_whisper_the_api_takes_fits_twilios_limit_in_any_script() {
        let longest = "📞".repeat(crate::domain::MAX_SPOKEN_CHARS);

        let built = url(&base(), &tracked(), &parent(), &whispering(&longest, true)).unwrap();

        assert!(built.len() <= MAX_URL_CHARS, "{} characters", built.len());
        assert_eq!(
            read(query_of(&built)).screening.map(|s| s.whisper),
            Some(longest)
        );
    }

    #[test]
    fn a_whisper_past_twilios_limit_is_left_to_the_routing_copy() {
        let written_by_hand = "x".repeat(MAX_URL_CHARS);

        let built = url(
            &base(),
            &tracked(),
            &parent(),
            &whispering(&written_by_hand, true),
        )
        .unwrap();

        assert!(built.len() < 200, "{built}");
        let read = read(query_of(&built));
        assert_eq!(read.screening, None);
        assert_eq!(read.parent, Some(parent()));
    }

    #[test]
    fn a_missing_repeated_or_garbled_parameter_reads_as_none() {
        let good = url(&base(), &tracked(), &parent(), &whispering("Hello", true)).unwrap();
        let query = query_of(&good);
        for broken in [
            query.replace("&keypress=1", ""),
            query.replace("keypress=1", "keypress=yes"),
            format!("{query}&whisper=SGk"),
            query.replace("whisper=", "whisper=%%%"),
            // Valid base64 of bytes that are not UTF-8.
            query.replace("whisper=SGVsbG8", "whisper=_w"),
        ] {
            assert_eq!(read(&broken).screening, None, "{broken}");
        }
        assert_eq!(read(""), ScreenQuery::default());
    }
}
