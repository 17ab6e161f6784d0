//! Webhooks out, one attempt at a time: `calltrack::webhooks::Deliverer` against a local
//! receiver. No database: the outbox that feeds the deliverer is tested with its worker.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use calltrack::webhooks::{
    Deliverer, DeliveryConfig, EndpointUrl, Message, Outcome, WebhookSecret,
};
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret as _;
use sha2::Sha256;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const BODY: &[u8] = br#"{"type":"call.completed","timestamp":"2026-12-08T00:00:00Z","data":{}}"#;
const MSG_ID: &str = "msg_2c1f0e8a3b4d4e5f";

fn private_networks() -> Deliverer {
    Deliverer::new(DeliveryConfig {
        allow_private: true,
        ..DeliveryConfig::default()
    })
    .unwrap()
}

fn public_only() -> Deliverer {
    Deliverer::new(DeliveryConfig::default()).unwrap()
}

fn message() -> Message<'static> {
    Message {
        id: MSG_ID,
        timestamp: chrono::Utc::now().timestamp(),
        body: BODY,
    }
}

/// The receiver's side of the specification, written from it and not from calltrack's
/// signer: HMAC-SHA256 keyed with the base64-decoded part of `whsec_...` over
/// `id.timestamp.body`, compared with each `v1,` signature of the header.
fn receiver_accepts(whsec: &str, request: &Request) -> bool {
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    };
    let key = STANDARD
        .decode(whsec.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.", header("webhook-id"), header("webhook-timestamp")).as_bytes());
    mac.update(&request.body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    header("webhook-signature")
        .split(' ')
        .any(|signature| signature == expected)
}

async fn receiver(status: u16) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks"))
        .respond_with(ResponseTemplate::new(status).set_body_string("receiver says no"))
        .mount(&server)
        .await;
    server
}

fn endpoint(server: &MockServer) -> EndpointUrl {
    EndpointUrl::parse(&format!("{}/hooks?token=t0k3n", server.uri()), true).unwrap()
}

/// A TCP listener that only counts the connections made to it.
async fn counting_listener() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (port, accepted)
}

#[tokio::test]
async fn a_2xx_delivers_a_message_an_independent_verifier_accepts() {
    let server = receiver(204).await;
    let secret = WebhookSecret::generate();
    let message = message();

    let attempt = private_networks()
        .deliver(&endpoint(&server), &message, &[&secret])
        .await;

    assert_eq!(attempt.outcome, Outcome::Delivered, "{attempt:?}");
    assert_eq!(attempt.status_code, Some(204));
    assert_eq!(attempt.error, None);
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.body, BODY);
    assert_eq!(request.url.query(), Some("token=t0k3n"));
    let header = |name: &str| request.headers.get(name).unwrap().to_str().unwrap();
    assert_eq!(header("webhook-id"), MSG_ID);
    assert_eq!(header("webhook-timestamp"), message.timestamp.to_string());
    assert_eq!(header("content-type"), "application/json");
    assert!(
        header("user-agent").starts_with("calltrack-webhooks/"),
        "{}",
        header("user-agent")
    );
    assert!(receiver_accepts(secret.expose().expose_secret(), request));
    assert!(
        !receiver_accepts(WebhookSecret::generate().expose().expose_secret(), request),
        "the verifier can refuse"
    );
}

#[tokio::test]
async fn the_urls_host_name_is_kept_in_the_host_header() {
    let server = receiver(200).await;
    let port = server.address().port();
    let url = EndpointUrl::parse(&format!("http://localhost:{port}/hooks"), true).unwrap();

    let attempt = private_networks()
        .deliver(&url, &message(), &[&WebhookSecret::generate()])
        .await;

    assert_eq!(attempt.outcome, Outcome::Delivered, "{attempt:?}");
    let requests = server.received_requests().await.unwrap();
    assert_eq!(
        requests[0].headers.get("host").unwrap(),
        &format!("localhost:{port}")
    );
}

#[tokio::test]
async fn during_a_rotation_the_receiver_accepts_either_secret() {
    let server = receiver(200).await;
    let new = WebhookSecret::generate();
    let old = WebhookSecret::generate();

    let attempt = private_networks()
        .deliver(&endpoint(&server), &message(), &[&new, &old])
        .await;

    assert_eq!(attempt.outcome, Outcome::Delivered, "{attempt:?}");
    let requests = server.received_requests().await.unwrap();
    let signatures = requests[0].headers.get("webhook-signature").unwrap();
    assert_eq!(signatures.to_str().unwrap().split(' ').count(), 2);
    assert!(receiver_accepts(new.expose().expose_secret(), &requests[0]));
    assert!(receiver_accepts(old.expose().expose_secret(), &requests[0]));
}

#[tokio::test]
async fn a_500_is_retried_with_its_status_and_the_same_webhook_id() {
    let server = receiver(500).await;
    let deliverer = private_networks();
    let secret = WebhookSecret::generate();

    let first = deliverer
        .deliver(&endpoint(&server), &message(), &[&secret])
        .await;
    let second = deliverer
        .deliver(&endpoint(&server), &message(), &[&secret])
        .await;

    for attempt in [&first, &second] {
        assert_eq!(attempt.outcome, Outcome::Retry);
        assert_eq!(attempt.status_code, Some(500));
        assert_eq!(
            attempt.error.as_deref(),
            Some("the endpoint answered 500 Internal Server Error: \"receiver says no\"")
        );
    }
    let requests = server.received_requests().await.unwrap();
    let ids: Vec<_> = requests
        .iter()
        .map(|r| r.headers.get("webhook-id").unwrap())
        .collect();
    assert_eq!(ids, [MSG_ID, MSG_ID]);
}

#[tokio::test]
async fn a_410_asks_for_the_endpoint_to_be_disabled() {
    let server = receiver(410).await;

    let attempt = private_networks()
        .deliver(
            &endpoint(&server),
            &message(),
            &[&WebhookSecret::generate()],
        )
        .await;

    assert_eq!(attempt.outcome, Outcome::Gone);
    assert_eq!(attempt.status_code, Some(410));
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_is_retried() {
    let server = MockServer::start().await;
    Mock::given(path("/hooks"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/elsewhere", server.uri())),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path("/elsewhere"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;

    let attempt = private_networks()
        .deliver(
            &endpoint(&server),
            &message(),
            &[&WebhookSecret::generate()],
        )
        .await;

    assert_eq!(attempt.outcome, Outcome::Retry);
    assert_eq!(attempt.status_code, Some(302));
    assert!(attempt.error.unwrap().contains("not followed"));
    server.verify().await;
}

#[tokio::test]
async fn a_receiver_slower_than_the_timeout_is_retried_as_timed_out() {
    let server = MockServer::start().await;
    Mock::given(path("/hooks"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let deliverer = Deliverer::new(DeliveryConfig {
        allow_private: true,
        timeout: Duration::from_millis(300),
    })
    .unwrap();

    let attempt = deliverer
        .deliver(
            &endpoint(&server),
            &message(),
            &[&WebhookSecret::generate()],
        )
        .await;

    assert_eq!(attempt.outcome, Outcome::Retry);
    assert_eq!(attempt.status_code, None);
    assert_eq!(
        attempt.error.as_deref(),
        Some("timed out: no answer within 300 ms")
    );
    assert!(
        attempt.duration >= Duration::from_millis(300),
        "{attempt:?}"
    );
    assert!(attempt.duration < Duration::from_secs(3), "{attempt:?}");
}

#[tokio::test]
async fn a_closed_port_is_retried_as_a_failed_connection() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let url =
        EndpointUrl::parse(&format!("http://127.0.0.1:{port}/hooks?token=t0k3n"), true).unwrap();

    let attempt = private_networks()
        .deliver(&url, &message(), &[&WebhookSecret::generate()])
        .await;

    assert_eq!(attempt.outcome, Outcome::Retry);
    let error = attempt.error.unwrap();
    assert!(error.starts_with("could not connect"), "{error}");
    assert!(
        !error.contains("t0k3n"),
        "the URL's query stays out: {error}"
    );
}

#[tokio::test]
async fn without_private_networks_a_loopback_address_is_refused_before_connecting() {
    let (port, accepted) = counting_listener().await;
    // Registered while private networks were allowed; refused once they no longer are.
    let literal = EndpointUrl::parse(&format!("https://127.0.0.1:{port}/hooks"), true).unwrap();
    // A name is not resolved when it is parsed: it is refused by what it resolves to.
    let name = EndpointUrl::parse(&format!("https://localhost:{port}/hooks"), false).unwrap();

    for url in [literal, name] {
        let attempt = public_only()
            .deliver(&url, &message(), &[&WebhookSecret::generate()])
            .await;
        assert_eq!(attempt.outcome, Outcome::Retry);
        assert_eq!(attempt.status_code, None);
        let error = attempt.error.unwrap();
        assert!(error.contains("127.0.0.1, a loopback"), "{error}");
    }

    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "no connection was made");
}

#[tokio::test]
async fn the_counting_listener_counts_a_connection_that_is_made() {
    let (port, accepted) = counting_listener().await;
    let url = EndpointUrl::parse(&format!("https://localhost:{port}/hooks"), true).unwrap();

    let attempt = private_networks()
        .deliver(&url, &message(), &[&WebhookSecret::generate()])
        .await;

    assert_eq!(attempt.outcome, Outcome::Retry, "no TLS on the other side");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(accepted.load(Ordering::SeqCst) >= 1);
}

#[tokio::test]
async fn without_private_networks_http_is_refused() {
    let (port, accepted) = counting_listener().await;
    let url = EndpointUrl::parse(&format!("http://localhost:{port}/hooks"), true).unwrap();

    let attempt = public_only()
        .deliver(&url, &message(), &[&WebhookSecret::generate()])
        .await;

    assert_eq!(attempt.outcome, Outcome::Retry);
    assert_eq!(
        attempt.error.as_deref(),
        Some("the endpoint URL must start with https://")
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(accepted.load(Ordering::SeqCst), 0);
}
