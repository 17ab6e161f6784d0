use calltrack::twilio::form::FormPairs;
use calltrack::twilio::simulated::SimulatedCall;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::{FORWARD_TO, PUBLIC_BASE_URL, TRACKED_NUMBER, TestApp, sign};

fn call() -> SimulatedCall {
    SimulatedCall::new("+14155550100", TRACKED_NUMBER, FORWARD_TO)
}

async fn assert_refused_and_nothing_written(app: &TestApp, response: reqwest::Response) {
    assert_eq!(response.status(), 403);
    assert_eq!(response.text().await.unwrap(), "", "a 403 says nothing");
    assert_eq!(app.count("SELECT count(*) FROM call_sessions").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM events").await, 0);
}

#[tokio::test]
async fn a_validly_signed_voice_webhook_is_accepted() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let response = app.post_signed("/twilio/voice", &call().voice()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.count("SELECT count(*) FROM call_sessions").await, 1);
}

#[tokio::test]
async fn a_missing_signature_is_refused() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let response = app
        .post_form("/twilio/voice", call().voice().encode(), None)
        .await;
    assert_refused_and_nothing_written(&app, response).await;
}

#[tokio::test]
async fn a_wrong_signature_is_refused() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let response = app
        .post_form(
            "/twilio/voice",
            call().voice().encode(),
            Some("GvWf1cFY/Q7PnoempGyD5oXAezc="),
        )
        .await;
    assert_refused_and_nothing_written(&app, response).await;
}

#[tokio::test]
async fn a_field_altered_after_signing_is_refused() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let mut form = call().voice();
    let signature = sign(&format!("{PUBLIC_BASE_URL}/twilio/voice"), &form);
    form.set("From", "+14155550111");
    let response = app
        .post_form("/twilio/voice", form.encode(), Some(&signature))
        .await;
    assert_refused_and_nothing_written(&app, response).await;
}

#[tokio::test]
async fn a_signature_over_the_url_with_its_default_port_is_accepted() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let form = call().voice();
    let signature = sign("https://calltrack.example.com:443/twilio/voice", &form);
    let response = app
        .post_form("/twilio/voice", form.encode(), Some(&signature))
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_configured_port_may_be_dropped_by_the_signer() {
    let app = TestApp::builder()
        .env(&[("PUBLIC_BASE_URL", "https://calltrack.example.com:8443")])
        .spawn()
        .await;
    app.seed_campaign().await;
    let form = call().voice();
    let without_port = sign("https://calltrack.example.com/twilio/voice", &form);
    let response = app
        .post_form("/twilio/voice", form.encode(), Some(&without_port))
        .await;
    assert_eq!(response.status(), 200);
    let other_port = sign("https://calltrack.example.com:9443/twilio/voice", &form);
    let response = app
        .post_form("/twilio/voice", form.encode(), Some(&other_port))
        .await;
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn an_extra_unknown_field_counts_for_the_signature() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let mut form = call().voice();
    form.set("SomeFieldTwilioAddsNextYear", "surprise");
    let response = app.post_signed("/twilio/voice", &form).await;
    assert_eq!(
        response.status(),
        200,
        "unknown fields signed by Twilio are fine"
    );

    let mut form = call().voice();
    let signature = sign(&format!("{PUBLIC_BASE_URL}/twilio/voice"), &form);
    form.set("Injected", "1");
    let response = app
        .post_form("/twilio/voice", form.encode(), Some(&signature))
        .await;
    assert_eq!(
        response.status(),
        403,
        "a field added after signing breaks it"
    );
}

#[tokio::test]
async fn a_url_built_from_the_socket_address_is_refused() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let form = call().voice();
    let signature = sign(&format!("{}/twilio/voice", app.address), &form);
    let response = app
        .post_form("/twilio/voice", form.encode(), Some(&signature))
        .await;
    assert_refused_and_nothing_written(&app, response).await;
}

#[tokio::test]
async fn the_query_string_is_part_of_the_signed_url() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let form = call().voice();
    let signature = sign(
        &format!("{PUBLIC_BASE_URL}/twilio/voice?campaign=spring&x=1"),
        &form,
    );
    let ok = app
        .post_form(
            "/twilio/voice?campaign=spring&x=1",
            form.encode(),
            Some(&signature),
        )
        .await;
    assert_eq!(ok.status(), 200);
    let altered = app
        .post_form(
            "/twilio/voice?campaign=summer&x=1",
            form.encode(),
            Some(&signature),
        )
        .await;
    assert_eq!(altered.status(), 403);
}

#[tokio::test]
async fn every_twilio_route_checks_the_signature() {
    let app = TestApp::spawn().await;
    let call = call();
    for (path, form) in [
        (
            "/twilio/status",
            call.parent_completed(10, chrono::Utc::now()),
        ),
        (
            "/twilio/dial-complete",
            call.dial_action("completed", 5, false),
        ),
        ("/twilio/recording", call.recording(5)),
    ] {
        let response = app.post_form(path, form.encode(), Some("bm9wZQ==")).await;
        assert_eq!(response.status(), 403, "{path}");
    }
}

/// `form` with `key` added once for each of `values`, after the fields it has.
fn with_repeated(form: &FormPairs, key: &str, values: &[&str]) -> FormPairs {
    FormPairs::from_pairs(
        form.pairs()
            .iter()
            .cloned()
            .chain(values.iter().map(|v| (key.to_owned(), (*v).to_owned()))),
    )
}

/// POSTs `form` to `target` byte for byte: reqwest would percent-encode a `'` in the query
/// on the way, as every WHATWG URL parser does. Returns the answer's status code.
async fn post_raw(app: &TestApp, target: &str, form: &FormPairs, signature: &str) -> u16 {
    let body = form.encode();
    let mut stream = TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    let request = format!(
        "POST {target} HTTP/1.1\r\nHost: calltrack.example.com\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         X-Twilio-Signature: {signature}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer}"))
}

#[tokio::test]
async fn a_repeated_key_with_identical_values_is_accepted_signed_once_or_every_time() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let url = format!("{PUBLIC_BASE_URL}/twilio/voice");
    let events = ["initiated", "ringing", "initiated"];
    let first = with_repeated(&call().voice(), "StatusCallbackEvent", &events);
    // Dropping a repeat is all de-duplication may do; losing a distinct value is not.
    let lost_a_value = with_repeated(&call().voice(), "StatusCallbackEvent", &["initiated"]);
    let response = app
        .post_form(
            "/twilio/voice",
            first.encode(),
            Some(&sign(&url, &lost_a_value)),
        )
        .await;
    assert_refused_and_nothing_written(&app, response).await;

    let every_time = app.post_signed("/twilio/voice", &first).await;
    assert_eq!(every_time.status(), 200);

    let second_call = SimulatedCall::new("+14155550101", TRACKED_NUMBER, FORWARD_TO);
    let second = with_repeated(&second_call.voice(), "StatusCallbackEvent", &events);
    let once = with_repeated(
        &second_call.voice(),
        "StatusCallbackEvent",
        &["initiated", "ringing"],
    );
    let response = app
        .post_form("/twilio/voice", second.encode(), Some(&sign(&url, &once)))
        .await;
    assert_eq!(response.status(), 200, "signed once per distinct value");
    assert_eq!(app.count("SELECT count(*) FROM call_sessions").await, 2);
}

#[tokio::test]
async fn a_quote_in_the_query_is_accepted_however_a_proxy_wrote_it() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let form = call().voice();
    let raw = "/twilio/voice?city=Trezzo+Sull'Adda";
    let encoded = "/twilio/voice?city=Trezzo+Sull%27Adda";
    let signed_raw = sign(&format!("{PUBLIC_BASE_URL}{raw}"), &form);
    let signed_encoded = sign(&format!("{PUBLIC_BASE_URL}{encoded}"), &form);

    // Twilio signed the quote raw; a proxy percent-encoded it on the way.
    assert_eq!(post_raw(&app, encoded, &form, &signed_raw).await, 200);
    // A signer that percent-encoded it, and a request that arrived with it raw.
    assert_eq!(post_raw(&app, raw, &form, &signed_encoded).await, 200);
    assert_eq!(post_raw(&app, raw, &form, &signed_raw).await, 200);

    let other_city = sign(
        &format!("{PUBLIC_BASE_URL}/twilio/voice?city=Forli%27"),
        &form,
    );
    assert_eq!(post_raw(&app, raw, &form, &other_city).await, 403);
    assert_eq!(app.count("SELECT count(*) FROM call_sessions").await, 1);
}

#[tokio::test]
async fn connection_overrides_are_accepted_signed_or_not_and_go_back_out_in_callback_urls() {
    let base = "https://calltrack.example.com/hooks";
    let app = TestApp::builder()
        .env(&[(
            "PUBLIC_BASE_URL",
            "https://calltrack.example.com/hooks/#rc=2&rp=all",
        )])
        .spawn()
        .await;
    app.seed_campaign().await;
    let form = call().voice();

    let without = sign(&format!("{base}/twilio/voice"), &form);
    let response = app
        .post_form("/twilio/voice", form.encode(), Some(&without))
        .await;
    assert_eq!(response.status(), 200);
    let twiml = response.text().await.unwrap();
    assert!(
        twiml.contains(&format!(
            r#"action="{base}/twilio/dial-complete?voicemail=1&amp;screened=0#rc=2&amp;rp=all""#
        )),
        "{twiml}"
    );
    assert!(
        twiml.contains(&format!(
            r#"statusCallback="{base}/twilio/status#rc=2&amp;rp=all""#
        )),
        "{twiml}"
    );

    let with = sign(&format!("{base}/twilio/voice#rc=2&rp=all"), &form);
    let response = app
        .post_form("/twilio/voice", form.encode(), Some(&with))
        .await;
    assert_eq!(response.status(), 200, "signed with the fragment");

    let other = sign(&format!("{base}/twilio/voice#rc=5"), &form);
    let response = app
        .post_form("/twilio/voice", form.encode(), Some(&other))
        .await;
    assert_eq!(response.status(), 403);
    assert_eq!(app.count("SELECT count(*) FROM call_sessions").await, 1);
}
