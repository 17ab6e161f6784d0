//! `X-Twilio-Signature`, checked exactly as Twilio's own helper libraries check it.
//!
//! The signed string is the full URL Twilio requested followed by every form field, sorted
//! by key in byte order (a repeated key's values sorted too), each written as key then value.
//! Its HMAC-SHA1 under the account's auth token, in base64, is the signature. A JSON body is
//! signed through a `bodySHA256` query parameter instead, which carries the body's SHA-256.
//!
//! Twilio's signer and the helper libraries disagree in places, so a request is accepted when
//! any form Twilio may have signed matches: the URL with or without its port, a repeated
//! key's identical values written once or every time, a `'` in the query raw or as `%27`,
//! and the URL with or without its connection-override fragment.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a request carried, as far as the signature is concerned.
#[derive(Debug, Clone, Copy)]
pub enum SignedBody<'a> {
    /// Form fields, signed one by one.
    Form(&'a [(String, String)]),
    /// Any other body, signed through the `bodySHA256` query parameter.
    Raw(&'a [u8]),
}

/// Computes the base64 signature of `url` and `params` under `auth_token`, every value of a
/// repeated key included.
pub fn compute(auth_token: &[u8], url: &str, params: &[(String, String)]) -> String {
    sign(auth_token, url, &sorted(params))
}

/// Checks `signature` against the request to `url`: the URL as it was given to Twilio, its
/// connection-override fragment included if it had one. Every form Twilio may have signed is
/// tried (see the module's documentation), all of them whatever matches, so the time taken
/// depends on the request's shape and never on the signature.
pub fn is_valid(auth_token: &[u8], url: &str, body: SignedBody<'_>, signature: &str) -> bool {
    let params: &[(String, String)] = match body {
        SignedBody::Form(params) => params,
        SignedBody::Raw(raw) => {
            let Some(expected) = query_param(url, "bodySHA256") else {
                return false;
            };
            let actual = hex_lower(&Sha256::digest(raw));
            if !bool::from(
                actual
                    .as_bytes()
                    .ct_eq(expected.to_ascii_lowercase().as_bytes()),
            ) {
                return false;
            }
            &[]
        }
    };
    let every = sorted(params);
    // twilio-python 7.14.1, twilio-node 3.82.1 and twilio-php 6.42.1 write a repeated key's
    // identical values once (7.14.0 and 3.82.0 wrote each); only a form that has such values
    // can be signed both ways, so only it pays for the second HMAC.
    let mut distinct = every.clone();
    distinct.dedup();
    let forms = if distinct.len() == every.len() {
        vec![every]
    } else {
        vec![every, distinct]
    };
    let urls = signed_urls(url);
    let mut found = false;
    for candidate in &urls {
        for form in &forms {
            let expected = sign(auth_token, candidate, form);
            found |= bool::from(expected.as_bytes().ct_eq(signature.as_bytes()));
        }
    }
    found
}

/// The fields sorted by key, then by value, in byte order.
fn sorted(params: &[(String, String)]) -> Vec<&(String, String)> {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()).then(a.1.cmp(&b.1)));
    sorted
}

fn sign(auth_token: &[u8], url: &str, sorted: &[&(String, String)]) -> String {
    // HMAC takes a key of any length, so new_from_slice cannot fail.
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token).unwrap_or_else(|_| unreachable!());
    mac.update(url.as_bytes());
    for (key, value) in sorted {
        mac.update(key.as_bytes());
        mac.update(value.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Every URL Twilio may have signed for a request to `url`, each once.
fn signed_urls(url: &str) -> Vec<String> {
    let mut bases = Vec::with_capacity(2);
    match url.split_once('#') {
        // No Twilio document or helper library says whether the connection-override fragment
        // is signed. It never reaches the server, so the URL without it is what a validator
        // naturally rebuilds and is tried first; the URL as configured, fragment and all, is
        // accepted too until Twilio says otherwise.
        Some((requested, _)) => bases.extend([requested.to_owned(), url.to_owned()]),
        None => bases.push(url.to_owned()),
    }
    let mut urls: Vec<String> = Vec::with_capacity(bases.len() * 4);
    for quoted in bases.iter().flat_map(|base| quote_forms(base)) {
        let ports = [without_port(&quoted), with_default_port(&quoted)];
        for candidate in std::iter::once(quoted).chain(ports.into_iter().flatten()) {
            if !urls.contains(&candidate) {
                urls.push(candidate);
            }
        }
    }
    urls
}

/// `url`, and when its query carries a `'` or a `%27`, the same URL with every one of them
/// written the other way. Twilio signs a `'` raw, but clients and proxies between Twilio and
/// this service percent-encode it (as WHATWG URL parsers do) or decode it again; twilio-node
/// checks both forms since 5.4.3 (twilio-node issue 1059, twilio-ruby issue 528).
fn quote_forms(url: &str) -> Vec<String> {
    let mut forms = vec![url.to_owned()];
    let Some(start) = url.find('?').map(|i| i + 1) else {
        return forms;
    };
    let end = url[start..].find('#').map_or(url.len(), |i| start + i);
    let query = &url[start..end];
    let splice = |query: String| format!("{}{query}{}", &url[..start], &url[end..]);
    if query.contains('\'') {
        forms.push(splice(query.replace('\'', "%27")));
    }
    if query.contains("%27") {
        forms.push(splice(query.replace("%27", "'")));
    }
    forms
}

struct UrlParts<'a> {
    scheme: &'a str,
    userinfo: &'a str,
    host: &'a str,
    port: Option<&'a str>,
    rest: &'a str,
}

fn split_url(url: &str) -> Option<UrlParts<'_>> {
    let (scheme, after) = url.split_once("://")?;
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(end);
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(i) => authority.split_at(i + 1),
        None => ("", authority),
    };
    // An IPv6 literal's colons are not a port separator.
    let port_sep = match hostport.rfind(']') {
        Some(close) => hostport[close..].find(':').map(|i| close + i),
        None => hostport.rfind(':'),
    };
    let (host, port) = match port_sep {
        Some(i) => (&hostport[..i], Some(&hostport[i + 1..])),
        None => (hostport, None),
    };
    Some(UrlParts {
        scheme,
        userinfo,
        host,
        port,
        rest,
    })
}

fn without_port(url: &str) -> Option<String> {
    let p = split_url(url)?;
    p.port?;
    Some(format!("{}://{}{}{}", p.scheme, p.userinfo, p.host, p.rest))
}

fn with_default_port(url: &str) -> Option<String> {
    let p = split_url(url)?;
    if p.port.is_some() {
        return None;
    }
    let port = match p.scheme.to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return None,
    };
    Some(format!(
        "{}://{}{}:{}{}",
        p.scheme, p.userinfo, p.host, port, p.rest
    ))
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or_default();
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn twilio_example() -> Vec<(String, String)> {
        pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675310"),
            ("Digits", "1234"),
            ("From", "+14158675310"),
            ("To", "+18005551212"),
        ])
    }

    const EXAMPLE_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    #[test]
    fn twilio_documented_example_matches() {
        assert_eq!(
            compute(b"12345", EXAMPLE_URL, &twilio_example()),
            "GvWf1cFY/Q7PnoempGyD5oXAezc="
        );
        let params = twilio_example();
        assert!(is_valid(
            b"12345",
            EXAMPLE_URL,
            SignedBody::Form(&params),
            "GvWf1cFY/Q7PnoempGyD5oXAezc="
        ));
    }

    #[test]
    fn field_order_on_the_wire_does_not_matter() {
        let mut shuffled = twilio_example();
        shuffled.reverse();
        assert_eq!(
            compute(b"12345", EXAMPLE_URL, &shuffled),
            "GvWf1cFY/Q7PnoempGyD5oXAezc="
        );
    }

    #[test]
    fn an_altered_field_or_token_or_url_fails() {
        let mut altered = twilio_example();
        altered[4].1 = "+18005551213".into();
        let sig = "GvWf1cFY/Q7PnoempGyD5oXAezc=";
        assert!(!is_valid(
            b"12345",
            EXAMPLE_URL,
            SignedBody::Form(&altered),
            sig
        ));
        let params = twilio_example();
        assert!(!is_valid(
            b"12346",
            EXAMPLE_URL,
            SignedBody::Form(&params),
            sig
        ));
        assert!(!is_valid(
            b"12345",
            "https://mycompany.com/myapp.php?foo=1&bar=3",
            SignedBody::Form(&params),
            sig
        ));
        assert!(!is_valid(
            b"12345",
            EXAMPLE_URL,
            SignedBody::Form(&params),
            ""
        ));
    }

    #[test]
    fn an_extra_unknown_field_is_part_of_the_signature() {
        let mut with_extra = twilio_example();
        with_extra.push(("StirVerstat".into(), "TN-Validation-Passed-A".into()));
        let sig = compute(b"12345", EXAMPLE_URL, &with_extra);
        assert!(is_valid(
            b"12345",
            EXAMPLE_URL,
            SignedBody::Form(&with_extra),
            &sig
        ));
        let params = twilio_example();
        assert!(!is_valid(
            b"12345",
            EXAMPLE_URL,
            SignedBody::Form(&params),
            &sig
        ));
    }

    #[test]
    fn keys_sort_by_bytes_and_repeated_values_sort_too() {
        let params = pairs(&[("b", "2"), ("B", "x"), ("b", "1"), ("a", "z")]);
        // Uppercase sorts before lowercase in byte order.
        let mut mac = Hmac::<Sha1>::new_from_slice(b"tok").unwrap();
        mac.update(b"https://h/pBxazb1b2");
        let expected = STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(compute(b"tok", "https://h/p", &params), expected);
    }

    #[test]
    fn port_variants_are_accepted_both_ways() {
        let params = twilio_example();
        let signed_with_port = compute(
            b"12345",
            "https://mycompany.com:443/myapp.php?foo=1&bar=2",
            &params,
        );
        assert!(is_valid(
            b"12345",
            EXAMPLE_URL,
            SignedBody::Form(&params),
            &signed_with_port
        ));
        let signed_without = compute(b"12345", EXAMPLE_URL, &params);
        assert!(is_valid(
            b"12345",
            "https://mycompany.com:443/myapp.php?foo=1&bar=2",
            SignedBody::Form(&params),
            &signed_without
        ));
        let http80 = compute(b"12345", "http://example.com:80/x", &params);
        assert!(is_valid(
            b"12345",
            "http://example.com/x",
            SignedBody::Form(&params),
            &http80
        ));
        // A different port is a different URL.
        let other_port = compute(
            b"12345",
            "https://mycompany.com:8443/myapp.php?foo=1&bar=2",
            &params,
        );
        assert!(!is_valid(
            b"12345",
            EXAMPLE_URL,
            SignedBody::Form(&params),
            &other_port
        ));
    }

    #[test]
    fn userinfo_and_ipv6_hosts_keep_their_shape() {
        assert_eq!(
            without_port("https://u:p@h:99/x").as_deref(),
            Some("https://u:p@h/x")
        );
        assert_eq!(
            with_default_port("https://u:p@h/x").as_deref(),
            Some("https://u:p@h:443/x")
        );
        assert_eq!(
            without_port("http://[::1]:8080/x").as_deref(),
            Some("http://[::1]/x")
        );
        assert_eq!(without_port("http://[::1]/x"), None);
    }

    fn twilio_duplicate_example() -> Vec<(String, String)> {
        pairs(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
            ("Digits", "1234"),
        ])
    }

    #[test]
    fn a_repeated_key_with_identical_values_is_accepted_signed_once_or_every_time() {
        let params = twilio_duplicate_example();
        // The vector twilio-python and twilio-node test their de-duplication with.
        let distinct = "IK+Dwps556ElfBT0I3Rgjkr1wJU=";
        assert!(is_valid(
            b"12345",
            EXAMPLE_URL,
            SignedBody::Form(&params),
            distinct
        ));
        let every = compute(b"12345", EXAMPLE_URL, &params);
        assert_ne!(every, distinct);
        assert!(is_valid(
            b"12345",
            EXAMPLE_URL,
            SignedBody::Form(&params),
            &every
        ));
        // De-duplication drops only a value seen before, never a different one.
        let without_5678 = compute(
            b"12345",
            EXAMPLE_URL,
            &pairs(&[
                ("Sid", "CA123"),
                ("SidAccount", "AC123"),
                ("Digits", "1234"),
            ]),
        );
        assert!(!is_valid(
            b"12345",
            EXAMPLE_URL,
            SignedBody::Form(&params),
            &without_5678
        ));
    }

    #[test]
    fn a_form_signed_once_per_value_does_not_match_a_form_without_the_repeat() {
        // Sent once, a value cannot stand for a repeat Twilio never sent: the distinct form of
        // a form without repeats is the form itself.
        let once = pairs(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "1234"),
        ]);
        let twice = compute(
            b"12345",
            EXAMPLE_URL,
            &pairs(&[
                ("Sid", "CA123"),
                ("SidAccount", "AC123"),
                ("Digits", "1234"),
                ("Digits", "1234"),
            ]),
        );
        assert!(!is_valid(
            b"12345",
            EXAMPLE_URL,
            SignedBody::Form(&once),
            &twice
        ));
    }

    #[test]
    fn a_quote_in_the_query_is_accepted_raw_or_percent_encoded_either_way() {
        let params = twilio_example();
        let raw = "https://h.example/x?city=Trezzo+Sull'Adda&n=1";
        let encoded = "https://h.example/x?city=Trezzo+Sull%27Adda&n=1";
        let signed_raw = compute(b"12345", raw, &params);
        let signed_encoded = compute(b"12345", encoded, &params);
        for (requested, signature) in [
            (encoded, &signed_raw),
            (raw, &signed_encoded),
            (raw, &signed_raw),
            (encoded, &signed_encoded),
        ] {
            assert!(
                is_valid(b"12345", requested, SignedBody::Form(&params), signature),
                "{requested}"
            );
        }
        let mixed = "https://h.example/x?a='&b=%27";
        for signed in [
            "https://h.example/x?a='&b='",
            "https://h.example/x?a=%27&b=%27",
        ] {
            let signature = compute(b"12345", signed, &params);
            assert!(is_valid(
                b"12345",
                mixed,
                SignedBody::Form(&params),
                &signature
            ));
        }
        // Only the query is rewritten, and only a quote.
        let in_path = compute(b"12345", "https://h.example/o%27k", &params);
        assert!(!is_valid(
            b"12345",
            "https://h.example/o'k",
            SignedBody::Form(&params),
            &in_path
        ));
        let double = compute(b"12345", "https://h.example/x?q=%22", &params);
        assert!(!is_valid(
            b"12345",
            "https://h.example/x?q=\"",
            SignedBody::Form(&params),
            &double
        ));
    }

    #[test]
    fn a_connection_override_fragment_is_accepted_signed_or_not() {
        let params = twilio_example();
        let configured = "https://h.example/x?a=1#rc=2&rp=all";
        for signed in [
            "https://h.example/x?a=1",
            "https://h.example/x?a=1#rc=2&rp=all",
            "https://h.example:443/x?a=1",
            "https://h.example:443/x?a=1#rc=2&rp=all",
        ] {
            let signature = compute(b"12345", signed, &params);
            assert!(
                is_valid(b"12345", configured, SignedBody::Form(&params), &signature),
                "{signed}"
            );
        }
        let other = compute(b"12345", "https://h.example/x?a=1#rc=5", &params);
        assert!(!is_valid(
            b"12345",
            configured,
            SignedBody::Form(&params),
            &other
        ));
        // Without overrides configured, a signature over some fragment is not accepted.
        assert!(!is_valid(
            b"12345",
            "https://h.example/x?a=1",
            SignedBody::Form(&params),
            &other
        ));
    }

    #[test]
    fn every_variant_combines_with_every_other() {
        let params = twilio_duplicate_example();
        let mut distinct = params.clone();
        distinct.pop();
        let signature = compute(b"12345", "https://h.example:443/x?who=O%27Brien", &distinct);
        assert!(is_valid(
            b"12345",
            "https://h.example/x?who=O'Brien#ct=1000",
            SignedBody::Form(&params),
            &signature
        ));
    }

    #[test]
    fn only_the_urls_a_request_could_have_been_signed_over_are_tried() {
        assert_eq!(
            signed_urls("https://h.example/x"),
            ["https://h.example/x", "https://h.example:443/x"]
        );
        assert_eq!(
            signed_urls("http://h.example:8080/x?q=it's#rc=1"),
            [
                "http://h.example:8080/x?q=it's",
                "http://h.example/x?q=it's",
                "http://h.example:8080/x?q=it%27s",
                "http://h.example/x?q=it%27s",
                "http://h.example:8080/x?q=it's#rc=1",
                "http://h.example/x?q=it's#rc=1",
                "http://h.example:8080/x?q=it%27s#rc=1",
                "http://h.example/x?q=it%27s#rc=1",
            ]
        );
    }

    #[test]
    fn json_bodies_are_checked_through_body_sha256() {
        let body = br#"{"property":"value","boolean":true}"#;
        let hash = hex_lower(&Sha256::digest(body));
        let url = format!("https://mycompany.com/myapp?bodySHA256={hash}");
        let sig = compute(b"12345", &url, &[]);
        assert!(is_valid(b"12345", &url, SignedBody::Raw(body), &sig));
        assert!(!is_valid(
            b"12345",
            &url,
            SignedBody::Raw(b"{\"property\":\"other\"}"),
            &sig
        ));
        let unhashed = "https://mycompany.com/myapp";
        let sig = compute(b"12345", unhashed, &[]);
        assert!(!is_valid(b"12345", unhashed, SignedBody::Raw(body), &sig));
    }
}
