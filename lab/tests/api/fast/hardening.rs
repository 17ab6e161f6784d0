//! What a hostile or broken client meets at the HTTP boundary: bounded connections, bounded
//! metrics, and the API's error shape for every refusal.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::TestApp;
use crate::world::Auth;

fn host_port(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_owned()
}

async fn metrics_text(app: &TestApp, base: &str) -> (u16, String) {
    let response = app
        .http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn invented_http_methods_are_counted_under_one_label() {
    let app = TestApp::spawn().await;
    for i in 0..40 {
        let method = format!("XMETHOD{i}{}", "Z".repeat(200));
        let response = app
            .http
            .request(method.parse().unwrap(), format!("{}/healthz", app.address))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_client_error());
    }
    let (_, text) = metrics_text(&app, &app.address).await;
    assert!(
        !text.contains("XMETHOD"),
        "an invented method became a label"
    );
    assert!(text.contains(r#"method="other""#));
}

#[tokio::test]
async fn connections_that_never_finish_their_headers_are_cut_off() {
    let app = TestApp::builder()
        .tune(|settings| {
            settings.http.header_timeout = HEAD_TIMEOUT;
        })
        .spawn()
        .await;
    let mut idle = Vec::new();
    for _ in 0..200 {
        let mut stream = TcpStream::connect(host_port(&app)).await.unwrap();
        stream
            .write_all(b"POST /twilio/voice HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        idle.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for mut stream in idle {
        let mut buffer = [0u8; 512];
        // Cut off: the server answers 408 and closes, or just closes.
        let read = tokio::time::timeout(Duration::from_secs(2), async {
            let mut total = Vec::new();
            loop {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => return total,
                    Ok(n) => total.extend_from_slice(&buffer[..n]),
                }
            }
        })
        .await
        .expect("a half-sent request kept its connection open");
        let answer = String::from_utf8_lossy(&read);
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "{answer}"
        );
    }
    let health = app
        .http
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn a_body_that_never_arrives_is_answered_408() {
    let app = TestApp::builder()
        .tune(|settings| {
            settings.http.body_timeout = Duration::from_millis(300);
        })
        .spawn()
        .await;
    let mut stream = TcpStream::connect(host_port(&app)).await.unwrap();
    stream
        .write_all(
            b"POST /twilio/status HTTP/1.1\r\nHost: x\r\n\
              Content-Type: application/x-www-form-urlencoded\r\n\
              Content-Length: 100\r\n\r\nCallSid=CA",
        )
        .await
        .unwrap();
    let mut answer = vec![0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(3), stream.read(&mut answer))
        .await
        .expect("no answer to a stalled body")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(app.count("SELECT count(*) FROM call_sessions").await, 0);
}

#[tokio::test]
async fn api_refusals_come_in_the_error_shape() {
    let app = TestApp::spawn().await;
    let world = app.world(1).await;
    let agent = Auth::user(world.agent);
    let error_code = |body: &Value| {
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };

    // A NUL cannot be stored in PostgreSQL text; it is the client's fault, not a 500.
    let (status, body) = app
        .api_post(
            &format!("/api/v1/call-sessions/{}/conditions", world.session_id),
            &agent,
            &json!({ "condition_number": 1, "notes": "a\u{0}b" }),
        )
        .await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (400, "invalid_request")
    );
    assert_eq!(
        app.count("SELECT count(*) FROM call_conditions_met").await,
        0
    );
    let (status, _) = app
        .api_post(
            &format!("/api/v1/call-sessions/{}/recipient", world.session_id),
            &agent,
            &json!({ "redemption_code": "\u{0}" }),
        )
        .await;
    assert_eq!(status, 400);

    // A date PostgreSQL cannot hold.
    let (status, body) = app
        .api_get(
            &format!(
                "/api/v1/campaigns/{}/call-stats?from=-4713-01-01T00:00:00Z",
                world.campaign.id
            ),
            &agent,
        )
        .await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (400, "invalid_request")
    );

    // An id that is not even UTF-8.
    let (status, body) = app.api_get("/api/v1/call-sessions/%FF%FE", &agent).await;
    assert_eq!((status, error_code(&body).as_str()), (404, "not_found"));

    // A body over the limit, and one that is not JSON at all.
    let (status, body) = app
        .api_post(
            &format!("/api/v1/call-sessions/{}/conditions", world.session_id),
            &agent,
            &json!({ "condition_number": 1, "notes": "n".repeat(100_000) }),
        )
        .await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (413, "payload_too_large")
    );
    let response = app
        .http
        .post(format!(
            "{}/api/v1/call-sessions/{}/conditions",
            app.address, world.session_id
        ))
        .bearer_auth(crate::world::token(world.agent))
        .header("content-type", "text/plain")
        .body("condition_number=1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "unsupported_media_type");

    // An unknown API route, and a filter value that is not one of the enum's.
    let (status, body) = app.api_get("/api/v1/nothing-here", &agent).await;
    assert_eq!((status, error_code(&body).as_str()), (404, "not_found"));
    let (status, body) = app
        .api_get("/api/v1/call-sessions?call_status=queued", &agent)
        .await;
    assert_eq!(
        (status, error_code(&body).as_str()),
        (400, "invalid_request")
    );
}

#[tokio::test]
async fn metrics_can_be_kept_off_the_public_listener() {
    let app = TestApp::builder()
        .env(&[("METRICS_BIND_ADDR", "127.0.0.1:0")])
        .spawn()
        .await;
    let private = app.metrics_address.clone().unwrap();
    let (public_status, _) = metrics_text(&app, &app.address).await;
    assert_eq!(public_status, 404);
    let (private_status, text) = metrics_text(&app, &private).await;
    assert_eq!(private_status, 200);
    assert!(text.contains("calltrack_database_up"));
}

#[tokio::test]
async fn a_request_id_is_echoed_or_made() {
    let app = TestApp::spawn().await;
    let given = app
        .http
        .get(format!("{}/healthz", app.address))
        .header("x-request-id", "req-42")
        .send()
        .await
        .unwrap();
    assert_eq!(given.headers()["x-request-id"], "req-42");
    let made = app
        .http
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    let id = made.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
}

/// The caching and sniffing headers of one answer, for a readable failure.
fn privacy_headers(response: &reqwest::Response) -> (u16, Option<String>, Option<String>) {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    (
        response.status().as_u16(),
        header("cache-control"),
        header("x-content-type-options"),
    )
}

#[tokio::test]
async fn every_api_answer_refusals_included_is_kept_out_of_caches_and_not_sniffed() {
    let app = TestApp::spawn().await;
    let world = app.world(1).await;
    let agent = crate::world::token(world.agent);
    let base = &app.address;
    let conditions = format!(
        "{base}/api/v1/call-sessions/{}/conditions",
        world.session_id
    );
    let requests = [
        app.http
            .get(format!("{base}/api/v1/call-sessions"))
            .bearer_auth(&agent),
        app.http.get(format!("{base}/api/v1/openapi.json")),
        app.http.get(format!("{base}/api/v1/call-sessions")),
        app.http
            .get(format!(
                "{base}/api/v1/call-sessions/{}",
                uuid::Uuid::new_v4()
            ))
            .bearer_auth(&agent),
        app.http
            .get(format!("{base}/api/v1/nothing-here"))
            .bearer_auth(&agent),
        app.http
            .post(&conditions)
            .bearer_auth(&agent)
            .header("content-type", "application/json")
            .body("{\"condition_number\": "),
        app.http
            .post(&conditions)
            .bearer_auth(&agent)
            .header("content-type", "text/plain")
            .body("condition_number=1"),
        app.http
            .delete(format!(
                "{base}/api/v1/campaigns/{}/tracked-numbers",
                world.campaign.id
            ))
            .bearer_auth(&agent),
    ];
    let mut answers = Vec::new();
    for request in requests {
        answers.push(privacy_headers(&request.send().await.unwrap()));
    }

    let private = |status: u16| {
        (
            status,
            Some("no-store".to_owned()),
            Some("nosniff".to_owned()),
        )
    };
    assert_eq!(
        answers,
        [200, 200, 401, 404, 404, 400, 415, 405].map(private)
    );
}

#[tokio::test]
async fn an_api_answer_while_the_database_is_away_is_kept_out_of_caches_too() {
    let db_config = crate::helpers::test_database().await;
    let away: tokio_postgres::Config = "postgres://postgres@127.0.0.1:1/postgres".parse().unwrap();
    let app = TestApp::builder().databases(away, db_config).spawn().await;

    let response = app
        .http
        .get(format!("{}/api/v1/call-sessions", app.address))
        .bearer_auth(crate::world::token(uuid::Uuid::new_v4()))
        .send()
        .await
        .unwrap();

    assert_eq!(
        privacy_headers(&response),
        (503, Some("no-store".to_owned()), Some("nosniff".to_owned()))
    );
}

/// Reads one answer: its head and a body of its `Content-Length`.
async fn read_answer(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    loop {
        if let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse::<usize>().unwrap());
            if answer.len() >= end + 4 + length {
                return String::from_utf8_lossy(&answer).into_owned();
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer))
            .await
            .expect("no answer in time")
            .unwrap();
        assert!(n > 0, "closed before answering: {answer:?}");
        answer.extend_from_slice(&buffer[..n]);
    }
}

/// How a connection that sends a request head a byte at a time ends.
#[derive(Debug, PartialEq)]
enum Trickled {
    /// The server closed it after `sent` bytes of the head.
    Closed { sent: usize },
    /// The server answered the head.
    Answered(String),
}

/// Sends `head` a byte every `pause`, watching after each for the server to close or answer.
async fn trickle(mut stream: TcpStream, head: &[u8], pause: Duration) -> Trickled {
    let mut buffer = [0u8; 512];
    for sent in 0..head.len() {
        if stream.write_all(&head[sent..=sent]).await.is_err() {
            return Trickled::Closed { sent };
        }
        match tokio::time::timeout(pause, stream.read(&mut buffer)).await {
            Err(_) => {}
            Ok(Ok(0) | Err(_)) => return Trickled::Closed { sent: sent + 1 },
            Ok(Ok(n)) => return Trickled::Answered(String::from_utf8_lossy(&buffer[..n]).into()),
        }
    }
    match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer)).await {
        Ok(Ok(n)) if n > 0 => Trickled::Answered(String::from_utf8_lossy(&buffer[..n]).into()),
        _ => Trickled::Closed { sent: head.len() },
    }
}

const HEALTH_CHECK: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

/// A second at least: actix-http reads its first-request head deadline off a clock it
/// updates every 500 ms, so a shorter timeout can refuse a new connection's head at once.
const HEAD_TIMEOUT: Duration = Duration::from_secs(1);

#[tokio::test]
async fn kept_alive_connections_that_trickle_their_next_head_are_closed_before_it_completes() {
    let app = TestApp::builder()
        .tune(|settings| {
            settings.http.header_timeout = HEAD_TIMEOUT;
        })
        .spawn()
        .await;
    // At a byte every 100 ms this head takes 8 s: eight times the head timeout.
    let slow_head = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: {}\r\n\r\n",
        "z".repeat(36)
    );
    assert_eq!(slow_head.len(), 80);

    let connections = (0..20).map(|_| async {
        let mut stream = TcpStream::connect(host_port(&app)).await.unwrap();
        stream.write_all(HEALTH_CHECK).await.unwrap();
        let first = read_answer(&mut stream).await;
        assert!(first.starts_with("HTTP/1.1 200"), "{first}");
        trickle(stream, slow_head.as_bytes(), Duration::from_millis(100)).await
    });
    let ends = futures::future::join_all(connections).await;

    for end in &ends {
        assert!(
            matches!(end, Trickled::Closed { sent } if *sent < slow_head.len()),
            "{end:?}"
        );
    }
    let health = app
        .http
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn a_kept_alive_client_that_pauses_between_requests_and_before_a_body_is_served() {
    let app = TestApp::builder()
        .tune(|settings| {
            settings.http.header_timeout = HEAD_TIMEOUT;
        })
        .spawn()
        .await;
    let mut stream = TcpStream::connect(host_port(&app)).await.unwrap();
    let pause = HEAD_TIMEOUT * 3 / 2;

    let mut answers = Vec::new();
    for _ in 0..2 {
        stream.write_all(HEALTH_CHECK).await.unwrap();
        answers.push(read_answer(&mut stream).await);
        tokio::time::sleep(pause).await;
    }
    // A body may follow its head later than the head timeout: the body has a deadline of its own.
    let body = "CallSid=CA0123&CallStatus=completed";
    stream
        .write_all(
            format!(
                "POST /twilio/status HTTP/1.1\r\nHost: x\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\n\
                 Content-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    tokio::time::sleep(pause).await;
    stream.write_all(body.as_bytes()).await.unwrap();
    answers.push(read_answer(&mut stream).await);
    stream.write_all(HEALTH_CHECK).await.unwrap();
    answers.push(read_answer(&mut stream).await);

    let statuses: Vec<&str> = answers.iter().map(|a| &a[..12]).collect();
    assert_eq!(
        statuses,
        [
            "HTTP/1.1 200",
            "HTTP/1.1 200",
            // Unsigned: refused, but answered on the same connection.
            "HTTP/1.1 403",
            "HTTP/1.1 200"
        ]
    );
}

#[tokio::test]
async fn a_pipelined_head_that_stalls_is_closed_when_the_keep_alive_runs_out() {
    let app = TestApp::builder()
        .tune(|settings| {
            settings.http.header_timeout = HEAD_TIMEOUT;
            settings.http.keep_alive = HEAD_TIMEOUT * 2;
        })
        .spawn()
        .await;
    let mut stream = TcpStream::connect(host_port(&app)).await.unwrap();
    // One write: a whole request, then the first byte of the next, which the server reads
    // while answering the first and which therefore starts no head timeout of its own.
    let mut pipelined = HEALTH_CHECK.to_vec();
    pipelined.push(b'G');
    stream.write_all(&pipelined).await.unwrap();
    let first = read_answer(&mut stream).await;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");

    let mut buffer = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer))
        .await
        .expect("a stalled pipelined head kept its connection open");
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
}
