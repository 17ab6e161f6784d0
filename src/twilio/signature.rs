//! `X-Twilio-Signature`, checked exactly as Twilio's own helper libraries check it.
//!
//! The signed string is the full URL Twilio requested followed by every form field, sorted
//! by key in byte order (a repeated key's values sorted too), each written as key then value.
//! Its HMAC-SHA1 under the account's auth token, in base64, is the signature. A JSON body is
//! signed through a `bodySHA256` query parameter instead, which carries the body's SHA-256.

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

/// Computes the base64 signature of `url` and `params` under `auth_token`.
pub fn compute(auth_token: &[u8], url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()).then(a.1.cmp(&b.1)));
    // Twilio's libraries reject keys longer than 64 bytes, so new_from_slice cannot fail.
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token).unwrap_or_else(|_| unreachable!());
    mac.update(url.as_bytes());
    for (key, value) in sorted {
        mac.update(key.as_bytes());
        mac.update(value.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Checks `signature` against the request, trying the URL as given, without its port, and
/// with the scheme's default port, as Twilio may have signed any of them.
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
    let candidates = [
        Some(url.to_owned()),
        without_port(url),
        with_default_port(url),
    ];
    // Evaluate every candidate so timing does not reveal which variant matched.
    candidates.iter().flatten().fold(false, |found, candidate| {
        let expected = compute(auth_token, candidate, params);
        found | bool::from(expected.as_bytes().ct_eq(signature.as_bytes()))
    })
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
