//! A call flow carried in a signed callback URL. The voice answer writes what it decided into
//! the query of a URL it hands Twilio (the screening `<Number url>`, the `<Dial action>`), and
//! Twilio signs the whole URL, query included. The webhook Twilio later calls follows that
//! answer on any instance, without the database or the routing copy, and a changed value
//! fails the signature. One encoding for every such URL: free text as base64url of its UTF-8,
//! flags as `1`/`0`, and a parameter counts only when it appears exactly once.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::PublicBaseUrl;

/// Twilio refuses callback URLs longer than this.
pub const MAX_URL_CHARS: usize = 4000;

/// Query parameters, in the order they are added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query(Vec<(&'static str, String)>);

impl Query {
    pub fn new() -> Self {
        Self::default()
    }

    /// A value that needs no encoding of its own (a phone number, a SID).
    pub fn plain(mut self, key: &'static str, value: &str) -> Self {
        self.0.push((key, value.to_owned()));
        self
    }

    /// Free text as base64url of its UTF-8: at most 4/3 of its bytes, where percent-encoding
    /// can take nine characters for one character of a non-Latin script, and nothing in it
    /// needs escaping in a query or in XML.
    pub fn text(mut self, key: &'static str, text: &str) -> Self {
        self.0.push((key, URL_SAFE_NO_PAD.encode(text)));
        self
    }

    pub fn flag(self, key: &'static str, on: bool) -> Self {
        self.plain(key, if on { "1" } else { "0" })
    }

    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(key, value)| (*key, value.as_str()))
    }
}

/// The public URL of `path` with `call` (what names the call) and `flow` (what the voice
/// answer decided) in its query. When that would pass Twilio's limit (only a text written by
/// hand can; the API caps spoken text well below it) the flow is left out and its webhook
/// reads the routing copy instead.
pub fn url(base: &PublicBaseUrl, path: &str, call: &Query, flow: &Query) -> String {
    let carried = with_query(base, path, call.pairs().chain(flow.pairs()));
    if carried.len() <= MAX_URL_CHARS {
        return carried;
    }
    tracing::warn!(
        url.path = path,
        url.chars = carried.len(),
        "call flow too long to carry in its callback URL; that webhook reads the routing copy"
    );
    with_query(base, path, call.pairs())
}

fn with_query<'a>(
    base: &PublicBaseUrl,
    path: &str,
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    if query.is_empty() {
        return base.join(path);
    }
    base.join(&format!("{path}?{query}"))
}

/// A signed URL's raw query, read back.
#[derive(Debug, Clone, Default)]
pub struct Read(Vec<(String, String)>);

impl Read {
    pub fn parse(raw_query: &str) -> Self {
        Self(
            form_urlencoded::parse(raw_query.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// Whether `key` appears at all, well-formed or not.
    pub fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    /// The value of `key` when it appears exactly once.
    pub fn once(&self, key: &str) -> Option<&str> {
        let mut values = self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v);
        let value = values.next()?;
        values.next().is_none().then_some(value.as_str())
    }

    /// Text written by [`Query::text`]; `None` when it does not decode to UTF-8 or is blank.
    pub fn text(&self, key: &str) -> Option<String> {
        let bytes = URL_SAFE_NO_PAD.decode(self.once(key)?).ok()?;
        String::from_utf8(bytes)
            .ok()
            .filter(|text| !text.trim().is_empty())
    }

    /// A flag written by [`Query::flag`]; `None` for anything else.
    pub fn flag(&self, key: &str) -> Option<bool> {
        match self.once(key)? {
            "1" => Some(true),
            "0" => Some(false),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> PublicBaseUrl {
        PublicBaseUrl::parse("https://calltrack.example.com/prefix#rc=2&rp=all").unwrap()
    }

    fn query_of(url: &str) -> &str {
        let without_fragment = url.split_once('#').map_or(url, |(url, _)| url);
        without_fragment
            .split_once('?')
            .map_or("", |(_, query)| query)
    }

    #[test]
    fn text_and_flags_read_back_from_the_url_they_were_carried_in() {
        let call = Query::new().plain("number", "+18005550123");
        for text in [
            "Call from the spring mailer.",
            "Tom & Jerry's <\"deal\"> ?a=1&b=2 #top",
            "Anruf über die Frühjahrsaktion: 春季邮件 📞",
        ] {
            let flow = Query::new().text("said", text).flag("on", true);

            let built = url(&base(), "/twilio/x", &call, &flow);

            assert!(
                built.starts_with("https://calltrack.example.com/prefix/twilio/x?number="),
                "{built}"
            );
            assert!(built.ends_with("#rc=2&rp=all"), "{built}");
            let read = Read::parse(query_of(&built));
            assert_eq!(read.once("number"), Some("+18005550123"));
            assert_eq!(read.text("said").as_deref(), Some(text), "{built}");
            assert_eq!(read.flag("on"), Some(true));
        }
    }

    #[test]
    fn a_flow_past_twilios_limit_is_left_out_and_the_call_kept() {
        let call = Query::new().plain("parent", "CA1");
        let flow = Query::new().text("said", &"x".repeat(MAX_URL_CHARS));

        let built = url(&base(), "/twilio/x", &call, &flow);

        assert!(built.len() < 100, "{built}");
        let read = Read::parse(query_of(&built));
        assert_eq!(read.once("parent"), Some("CA1"));
        assert!(!read.has("said"));
    }

    #[test]
    fn nothing_to_carry_leaves_the_url_without_a_query() {
        let built = url(&base(), "/twilio/x", &Query::new(), &Query::new());

        assert_eq!(
            built,
            "https://calltrack.example.com/prefix/twilio/x#rc=2&rp=all"
        );
    }

    #[test]
    fn a_missing_repeated_or_garbled_parameter_reads_as_none() {
        for broken in [
            "",
            "said=SGk&said=SGk",
            "said=%%%",
            // Valid base64 of bytes that are not UTF-8.
            "said=_w",
            // Blank text.
            "said=ICA",
        ] {
            assert_eq!(Read::parse(broken).text("said"), None, "{broken}");
        }
        for broken in ["", "on=yes", "on=1&on=1", "on=true"] {
            assert_eq!(Read::parse(broken).flag("on"), None, "{broken}");
        }
        assert!(Read::parse("said=%%%").has("said"));
    }
}
