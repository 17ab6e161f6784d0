//! The `<Dial action>` URL: Twilio posts to it when the forwarded leg ends, and its answer
//! decides whether the caller hears a voicemail greeting and `<Record>`. It carries what the
//! voice answer decided of that ([`DialFlow`]: voicemail on or off, the greeting, whether the
//! call was screened), so the dial action follows the flow the call was forwarded with even
//! on an instance whose routing copy already holds a later change, or has not loaded one yet.
//! Twilio signs the whole URL, so the carried flow cannot be altered (see [`super::carried`]).

use super::PublicBaseUrl;
use super::carried::{self, Query, Read};
use crate::domain::DialFlow;

/// The path Twilio posts to when the forwarded leg ends.
pub const PATH: &str = "/twilio/dial-complete";

const VOICEMAIL: &str = "voicemail";
const GREETING: &str = "greeting";
const SCREENED: &str = "screened";

/// The `<Dial action>` of a call forwarded with `flow`. A default greeting is not carried (it
/// is the default on every instance); a custom one travels as [`carried`] text, and one too
/// long for Twilio's URL limit (only ever written by hand) leaves the whole flow to the
/// routing copy, as a URL built before the flow travelled does.
pub fn url(base: &PublicBaseUrl, flow: &DialFlow) -> String {
    let mut carried = Query::new()
        .flag(VOICEMAIL, flow.voicemail)
        .flag(SCREENED, flow.screened);
    if let Some(greeting) = &flow.voicemail_greeting {
        carried = carried.text(GREETING, greeting);
    }
    carried::url(base, PATH, &Query::new(), &carried)
}

/// The dial action URL without a flow, for a forward whose flow is not known (the voice
/// fallback, for a number its routing copy lacks): the dial action reads the copy then.
pub fn url_without_flow(base: &PublicBaseUrl) -> String {
    base.join(PATH)
}

/// The flow a dial action's raw query carries; `None` when it carries none, or any part of
/// it is missing, repeated or does not parse (the dial action then reads the routing copy).
pub fn read(raw_query: &str) -> Option<DialFlow> {
    let query = Read::parse(raw_query);
    let voicemail_greeting = if query.has(GREETING) {
        Some(query.text(GREETING)?)
    } else {
        None
    };
    Some(DialFlow {
        voicemail: query.flag(VOICEMAIL)?,
        voicemail_greeting,
        screened: query.flag(SCREENED)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CallFlow, MAX_SPOKEN_CHARS};
    use crate::twilio::carried::MAX_URL_CHARS;

    fn base() -> PublicBaseUrl {
        PublicBaseUrl::parse("https://calltrack.example.com/prefix").unwrap()
    }

    fn query_of(url: &str) -> &str {
        url.split_once('?').map_or("", |(_, query)| query)
    }

    fn flow(voicemail: bool, greeting: Option<&str>, screened: bool) -> DialFlow {
        DialFlow {
            voicemail,
            voicemail_greeting: greeting.map(str::to_owned),
            screened,
        }
    }

    #[test]
    fn the_default_flow_carries_two_flags_and_no_greeting() {
        let built = url(&base(), &CallFlow::default().dial_flow());

        assert_eq!(
            built,
            "https://calltrack.example.com/prefix/twilio/dial-complete?voicemail=1&screened=0"
        );
    }

    #[test]
    fn the_flow_reads_back_from_the_url_it_was_carried_in() {
        for carried in [
            flow(true, None, false),
            flow(false, None, true),
            flow(true, Some("Acme Roofing. Leave a message."), true),
            flow(true, Some("Tom & Jerry's <\"deal\"> ?a=1&b=2 #top"), false),
            flow(
                true,
                Some("Hinterlassen Sie eine Nachricht: 请留言 📞"),
                false,
            ),
        ] {
            let built = url(&base(), &carried);

            assert_eq!(read(query_of(&built)), Some(carried), "{built}");
        }
    }

    #[test]
    fn the_longest_greeting_the_api_takes_fits_twilios_limit_in_any_script() {
        let longest = "📞".repeat(MAX_SPOKEN_CHARS);
        let carried = flow(true, Some(&longest), true);

        let built = url(&base(), &carried);

        assert!(built.len() <= MAX_URL_CHARS, "{} characters", built.len());
        assert_eq!(read(query_of(&built)), Some(carried));
    }

    #[test]
    fn a_greeting_past_twilios_limit_leaves_the_flow_to_the_routing_copy() {
        let written_by_hand = "x".repeat(MAX_URL_CHARS);

        let built = url(&base(), &flow(true, Some(&written_by_hand), false));

        assert_eq!(built, url_without_flow(&base()));
        assert_eq!(read(query_of(&built)), None);
    }

    #[test]
    fn a_missing_repeated_or_garbled_parameter_carries_no_flow() {
        let good = url(&base(), &flow(true, Some("Hello"), false));
        let query = query_of(&good);
        for broken in [
            query.replace("voicemail=1&", ""),
            query.replace("&screened=0", ""),
            query.replace("screened=0", "screened=no"),
            format!("{query}&voicemail=1"),
            format!("{query}&greeting=SGk"),
            query.replace("greeting=", "greeting=%%%"),
            // Valid base64 of bytes that are not UTF-8.
            query.replace("greeting=SGVsbG8", "greeting=_w"),
        ] {
            assert_eq!(read(&broken), None, "{broken}");
        }
        assert_eq!(read(""), None);
    }
}
