//! Where a webhook may go. An endpoint is an `https://` URL without credentials in it, and
//! every address its host resolves to must be a public one: no loopback, private, link-local
//! (the cloud metadata service at 169.254.169.254 included), shared, documentation, multicast
//! or otherwise reserved address, nor one of those inside an IPv6 form (IPv4-mapped, NAT64,
//! 6to4). `WEBHOOK_ALLOW_PRIVATE_NETWORKS=true` lifts both rules (then `http://` and any
//! address are allowed), for tests and private deployments.
//!
//! The check runs at registration and again at each delivery, on the addresses the connection
//! is then made to (see [`crate::webhooks::delivery`]), so a name re-pointed at an internal
//! address after registration is refused.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Host;

/// The longest endpoint URL accepted.
const MAX_URL_LEN: usize = 2048;

/// A webhook endpoint's URL, checked for its form (scheme, no credentials, a host) and, when
/// its host is an IP address, for that address. Its `Debug` shows the origin only: a path or
/// query may carry a receiver's token.
#[derive(Clone, PartialEq, Eq)]
pub struct EndpointUrl {
    url: Url,
}

/// Why a URL or one of its addresses may not receive webhooks. The words name the host and
/// the offending address, never the URL's path, query or credentials.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    #[error("the endpoint URL is longer than {MAX_URL_LEN} characters")]
    TooLong,
    #[error("the endpoint URL is not a valid absolute URL")]
    Malformed,
    #[error("the endpoint URL must start with https://")]
    HttpsRequired,
    #[error("the endpoint URL must start with https:// or http://")]
    UnsupportedScheme,
    #[error("the endpoint URL must not carry a user name or password")]
    Credentials,
    #[error("the endpoint URL has no host")]
    MissingHost,
    #[error("the host {host} could not be resolved")]
    Unresolvable { host: String },
    #[error("the host {host} resolves to no address")]
    NoAddress { host: String },
    #[error(
        "the host {host} resolves to {address}, a {class} address, which may not receive webhooks"
    )]
    Internal {
        host: String,
        address: IpAddr,
        class: &'static str,
    },
}

impl EndpointUrl {
    /// Checks the form of `raw`: an absolute `https://` URL (or `http://` when `allow_private`)
    /// with a host and no user name or password. A host written as an IP address is checked
    /// as [`resolve_checked`] would; a name is only resolved by [`resolve_checked`].
    pub fn parse(raw: &str, allow_private: bool) -> Result<Self, TargetError> {
        if raw.len() > MAX_URL_LEN {
            return Err(TargetError::TooLong);
        }
        let url = Url::parse(raw.trim()).map_err(|error| match error {
            url::ParseError::EmptyHost => TargetError::MissingHost,
            _ => TargetError::Malformed,
        })?;
        match url.scheme() {
            "https" => {}
            "http" if allow_private => {}
            "http" => return Err(TargetError::HttpsRequired),
            _ if allow_private => return Err(TargetError::UnsupportedScheme),
            _ => return Err(TargetError::HttpsRequired),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(TargetError::Credentials);
        }
        let endpoint = Self { url };
        match endpoint.literal_address() {
            Some(address) => check(&endpoint.host(), address, allow_private)?,
            None if endpoint.host().is_empty() => return Err(TargetError::MissingHost),
            None => {}
        }
        Ok(endpoint)
    }

    /// The URL as given (normalised: lower-case scheme and host, `/` for an empty path).
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// Whether the URL is `https://`.
    pub fn is_https(&self) -> bool {
        self.url.scheme() == "https"
    }

    /// The host as written in the URL, an IPv6 address without its brackets.
    pub fn host(&self) -> String {
        match self.url.host() {
            Some(Host::Domain(domain)) => domain.to_owned(),
            Some(Host::Ipv4(address)) => address.to_string(),
            Some(Host::Ipv6(address)) => address.to_string(),
            None => String::new(),
        }
    }

    pub(crate) fn url(&self) -> &Url {
        &self.url
    }

    fn port(&self) -> u16 {
        // Only http and https get past `parse`; both have a known default.
        self.url.port_or_known_default().unwrap_or(443)
    }

    fn literal_address(&self) -> Option<IpAddr> {
        match self.url.host()? {
            Host::Domain(_) => None,
            Host::Ipv4(address) => Some(IpAddr::V4(address)),
            Host::Ipv6(address) => Some(IpAddr::V6(address)),
        }
    }
}

impl fmt::Debug for EndpointUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "EndpointUrl({}://{}:{}/..)",
            self.url.scheme(),
            self.host(),
            self.port()
        )
    }
}

/// Resolves the endpoint's host and returns its addresses, each with the URL's port, if every
/// one of them may receive webhooks (any address when `allow_private`). A host that is an IP
/// address is returned as is, after the same check.
pub async fn resolve_checked(
    endpoint: &EndpointUrl,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, TargetError> {
    let port = endpoint.port();
    let host = endpoint.host();
    if let Some(address) = endpoint.literal_address() {
        check(&host, address, allow_private)?;
        return Ok(vec![SocketAddr::new(address, port)]);
    }
    lookup_checked(&host, port, allow_private).await
}

async fn lookup_checked(
    host: &str,
    port: u16,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, TargetError> {
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|_| TargetError::Unresolvable {
            host: host.to_owned(),
        })?
        .collect();
    if addresses.is_empty() {
        return Err(TargetError::NoAddress {
            host: host.to_owned(),
        });
    }
    // One internal address refuses the name: connecting to "any public one" would leave the
    // choice to whichever address the connector tries first.
    for address in &addresses {
        check(host, address.ip(), allow_private)?;
    }
    Ok(addresses)
}

fn check(host: &str, address: IpAddr, allow_private: bool) -> Result<(), TargetError> {
    match internal_class(address) {
        Some(class) if !allow_private => Err(TargetError::Internal {
            host: host.to_owned(),
            address,
            class,
        }),
        _ => Ok(()),
    }
}

/// The name resolver of the delivery client: the same lookup and check as
/// [`resolve_checked`], so the connection goes only to addresses that passed the check, even
/// when the name resolves differently than it did a moment before.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CheckedResolver {
    pub(crate) allow_private: bool,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            // reqwest puts the URL's port on the addresses it is given.
            let addresses = lookup_checked(name.as_str(), 0, allow_private).await?;
            Ok(Box::new(addresses.into_iter()) as Addrs)
        })
    }
}

/// The kind of internal or reserved address `address` is, in words, or `None` for an address
/// that may receive webhooks.
fn internal_class(address: IpAddr) -> Option<&'static str> {
    match address {
        IpAddr::V4(v4) => v4_class(v4),
        IpAddr::V6(v6) => v6_class(v6),
    }
}

fn v4_class(address: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = address.octets();
    Some(match (a, b, c) {
        (0, _, _) => "\"this network\" (0.0.0.0/8)",
        (10, _, _) => "private (10.0.0.0/8)",
        (100, 64..=127, _) => "shared carrier-grade NAT (100.64.0.0/10)",
        (127, _, _) => "loopback (127.0.0.0/8)",
        (169, 254, _) => "link-local (169.254.0.0/16, cloud metadata included)",
        (172, 16..=31, _) => "private (172.16.0.0/12)",
        (192, 0, 0) => "IETF protocol assignments (192.0.0.0/24)",
        (192, 0, 2) => "documentation (192.0.2.0/24)",
        (192, 88, 99) => "6to4 relay anycast (192.88.99.0/24)",
        (192, 168, _) => "private (192.168.0.0/16)",
        (198, 18..=19, _) => "benchmarking (198.18.0.0/15)",
        (198, 51, 100) => "documentation (198.51.100.0/24)",
        (203, 0, 113) => "documentation (203.0.113.0/24)",
        (224..=239, _, _) => "multicast (224.0.0.0/4)",
        (255, 255, 255) if address == Ipv4Addr::BROADCAST => "broadcast (255.255.255.255)",
        (240..=255, _, _) => "reserved (240.0.0.0/4)",
        _ => return None,
    })
}

fn v6_class(address: Ipv6Addr) -> Option<&'static str> {
    if address.is_unspecified() {
        return Some("unspecified (::)");
    }
    if address.is_loopback() {
        return Some("loopback (::1)");
    }
    if let Some(v4) = address.to_ipv4_mapped() {
        return v4_class(v4).map(|_| "IPv4-mapped internal (::ffff:0:0/96)");
    }
    let s = address.segments();
    let embedded = |high: u16, low: u16| {
        let [a, b] = high.to_be_bytes();
        let [c, d] = low.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    match s {
        [0, 0, 0, 0, 0, 0, _, _] => Some("IPv4-compatible (deprecated, ::/96)"),
        [0x64, 0xff9b, 0, 0, 0, 0, high, low] => {
            v4_class(embedded(high, low)).map(|_| "NAT64 of an internal IPv4 (64:ff9b::/96)")
        }
        [0x64, 0xff9b, 1, ..] => Some("local-use NAT64 (64:ff9b:1::/48)"),
        [0x100, 0, 0, 0, ..] => Some("discard-only (100::/64)"),
        [0x2001, 0, ..] => Some("Teredo tunnel (2001::/32)"),
        [0x2001, 2, 0, ..] => Some("benchmarking (2001:2::/48)"),
        [0x2001, 0xdb8, ..] => Some("documentation (2001:db8::/32)"),
        [0x2002, high, low, ..] => {
            v4_class(embedded(high, low)).map(|_| "6to4 of an internal IPv4 (2002::/16)")
        }
        [first, ..] if first & 0xfff0 == 0x3ff0 => Some("documentation (3fff::/20)"),
        [first, ..] if first & 0xfe00 == 0xfc00 => Some("unique local (fc00::/7)"),
        [first, ..] if first & 0xffc0 == 0xfe80 => Some("link-local (fe80::/10)"),
        [first, ..] if first & 0xffc0 == 0xfec0 => Some("site-local (deprecated, fec0::/10)"),
        [first, ..] if first & 0xff00 == 0xff00 => Some("multicast (ff00::/8)"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(address: &str) -> bool {
        let address: IpAddr = address.parse().expect("an IP address");
        internal_class(address).is_some()
    }

    #[test]
    fn public_addresses_are_allowed() {
        for address in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.169.0.1",
            "198.20.0.1",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(!refused(address), "{address} was refused");
        }
    }

    #[test]
    fn every_internal_ipv4_class_is_refused() {
        for address in [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.255.254",
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "198.18.0.1",
            "198.19.255.255",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(refused(address), "{address} was allowed");
        }
    }

    #[test]
    fn every_internal_ipv6_class_is_refused() {
        for address in [
            "::",
            "::1",
            "fe80::1",
            "febf::1",
            "fc00::1",
            "fd12:3456::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "3fff::1",
            "100::1",
            "2001::1",
            "2001:2::1",
            "64:ff9b:1::1",
        ] {
            assert!(refused(address), "{address} was allowed");
        }
    }

    #[test]
    fn ipv4_inside_ipv6_is_checked_as_ipv4() {
        for address in [
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:192.168.0.1",
            "::ffff:0.0.0.0",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::1",
            "2002:c0a8:101::1",
        ] {
            assert!(refused(address), "{address} was allowed");
        }
    }

    #[test]
    fn the_form_of_a_url_is_checked() {
        let cases = [
            ("http://example.com/hook", false, TargetError::HttpsRequired),
            ("ftp://example.com/hook", false, TargetError::HttpsRequired),
            (
                "ftp://example.com/hook",
                true,
                TargetError::UnsupportedScheme,
            ),
            (
                "https://user:pw@example.com/hook",
                false,
                TargetError::Credentials,
            ),
            (
                "https://user@example.com/hook",
                true,
                TargetError::Credentials,
            ),
            (
                "https://:pw@example.com/hook",
                false,
                TargetError::Credentials,
            ),
            ("https://?token=x", false, TargetError::MissingHost),
            ("https://", false, TargetError::MissingHost),
            ("example.com/hook", false, TargetError::Malformed),
            ("not a url", false, TargetError::Malformed),
        ];
        for (raw, allow_private, expected) in cases {
            assert_eq!(
                EndpointUrl::parse(raw, allow_private).err(),
                Some(expected),
                "{raw}"
            );
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(
            EndpointUrl::parse(&long, false).err(),
            Some(TargetError::TooLong)
        );
    }

    #[test]
    fn https_is_accepted_and_http_only_with_private_networks() {
        let url = EndpointUrl::parse("https://crm.example.com/hooks?token=x", false)
            .expect("https accepted");
        assert!(url.is_https());
        assert_eq!(url.host(), "crm.example.com");
        let url = EndpointUrl::parse("http://receiver:8080/", true).expect("http accepted");
        assert!(!url.is_https());
        assert_eq!(url.port(), 8080);
    }

    #[test]
    fn a_literal_internal_address_is_refused_at_parse_in_every_spelling() {
        for raw in [
            "https://127.0.0.1/hook",
            "https://[::1]/hook",
            "https://[::ffff:127.0.0.1]/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://2130706433/hook",
            "https://0x7f.0.0.1/hook",
            "https://0177.0.0.1/hook",
            "https://10.1/hook",
            "https://[fe80::1]/hook",
        ] {
            assert!(
                matches!(
                    EndpointUrl::parse(raw, false),
                    Err(TargetError::Internal { .. })
                ),
                "{raw} was accepted"
            );
            assert!(
                EndpointUrl::parse(raw, true).is_ok(),
                "{raw} with private networks"
            );
        }
    }

    #[test]
    fn errors_never_echo_the_path_query_or_credentials() {
        let url = EndpointUrl::parse("https://10.0.0.1/hook?token=s3cret", true).expect("parses");
        assert!(!format!("{url:?}").contains("s3cret"));
        let error = EndpointUrl::parse("https://10.0.0.1/hook?token=s3cret", false)
            .expect_err("refused")
            .to_string();
        assert_eq!(
            error,
            "the host 10.0.0.1 resolves to 10.0.0.1, a private (10.0.0.0/8) address, which may \
             not receive webhooks"
        );
        let error = EndpointUrl::parse("https://me:s3cret@example.com/", false)
            .expect_err("refused")
            .to_string();
        assert!(!error.contains("s3cret"), "{error}");
    }

    #[tokio::test]
    async fn a_literal_ip_host_is_returned_with_its_port_without_a_lookup() {
        let url = EndpointUrl::parse("https://8.8.8.8:8443/hook", false).expect("parses");
        assert_eq!(
            resolve_checked(&url, false).await,
            Ok(vec!["8.8.8.8:8443".parse().expect("address")])
        );
        let url = EndpointUrl::parse("http://127.0.0.1:9/hook", true).expect("parses");
        assert_eq!(
            resolve_checked(&url, true).await,
            Ok(vec!["127.0.0.1:9".parse().expect("address")])
        );
        assert!(matches!(
            resolve_checked(&url, false).await,
            Err(TargetError::Internal { class, .. }) if class.starts_with("loopback")
        ));
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused() {
        let url = EndpointUrl::parse("https://localhost/hook", false).expect("a name parses");
        let error = resolve_checked(&url, false).await.expect_err("refused");
        assert!(
            matches!(&error, TargetError::Internal { host, class, .. }
                if host == "localhost" && class.starts_with("loopback")),
            "{error:?}"
        );
        let allowed = resolve_checked(&url, true)
            .await
            .expect("allowed with private networks");
        assert!(
            allowed
                .iter()
                .all(|address| address.ip().is_loopback() && address.port() == 443)
        );
    }

    #[tokio::test]
    async fn the_delivery_resolver_refuses_what_resolve_checked_refuses() {
        let name: Name = "localhost".parse().expect("a name");
        let refused = CheckedResolver {
            allow_private: false,
        }
        .resolve(name)
        .await;
        let error = refused.err().expect("refused");
        assert!(error.downcast_ref::<TargetError>().is_some(), "{error}");
        let name: Name = "localhost".parse().expect("a name");
        let allowed = CheckedResolver {
            allow_private: true,
        }
        .resolve(name)
        .await
        .expect("allowed with private networks");
        assert!(
            allowed
                .into_iter()
                .all(|address| address.ip().is_loopback())
        );
    }

    #[tokio::test]
    async fn a_name_that_does_not_resolve_is_said_so() {
        let url = EndpointUrl::parse("https://no-such-host.invalid/hook", false).expect("parses");
        assert_eq!(
            resolve_checked(&url, false).await,
            Err(TargetError::Unresolvable {
                host: "no-such-host.invalid".to_owned()
            })
        );
    }
}
