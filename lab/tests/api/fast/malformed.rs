use calltrack::twilio::simulated::SimulatedCall;

use crate::helpers::{FORWARD_TO, PUBLIC_BASE_URL, TRACKED_NUMBER, TestApp, sign};

async fn assert_nothing_written(app: &TestApp) {
    assert_eq!(app.count("SELECT count(*) FROM call_sessions").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM events").await, 0);
}

#[tokio::test]
async fn a_truncated_percent_escape_is_a_400_with_a_reason() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let call = SimulatedCall::new("+14155550100", TRACKED_NUMBER, FORWARD_TO);
    let body = format!("{}&Broken=%2", call.voice().encode());

    let response = app
        .post_form("/twilio/voice", body, Some("irrelevant"))
        .await;

    assert_eq!(response.status(), 400);
    assert_eq!(
        response.text().await.unwrap(),
        "malformed percent escape in form body"
    );
    assert_nothing_written(&app).await;
}

#[tokio::test]
async fn a_correctly_signed_body_with_a_nul_byte_is_a_400_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let call = SimulatedCall::new("+14155550100", TRACKED_NUMBER, FORWARD_TO);
    let mut form = call.voice();
    form.set("CallerName", "Dana\0Smith");
    let body = form.encode();
    assert!(body.contains("%00"), "{body}");

    let response = app.post_signed("/twilio/voice", &form).await;

    assert_eq!(response.status(), 400);
    assert_eq!(
        response.text().await.unwrap(),
        "form field contains a NUL byte"
    );
    assert_nothing_written(&app).await;
}

#[tokio::test]
async fn a_signed_body_missing_a_required_field_is_a_400() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let call = SimulatedCall::new("+14155550100", TRACKED_NUMBER, FORWARD_TO);
    for (path, mut form, field) in [
        ("/twilio/voice", call.voice(), "CallSid"),
        ("/twilio/voice", call.voice(), "To"),
        (
            "/twilio/status",
            call.parent_completed(5, chrono::Utc::now()),
            "CallStatus",
        ),
        (
            "/twilio/dial-complete",
            call.dial_action("completed", 5, false),
            "DialCallStatus",
        ),
        ("/twilio/recording", call.recording(5), "RecordingSid"),
    ] {
        form.remove(field);
        let response = app.post_signed(path, &form).await;
        assert_eq!(response.status(), 400, "{path} without {field}");
        assert_eq!(
            response.text().await.unwrap(),
            format!("missing required field {field}")
        );
    }
    assert_nothing_written(&app).await;
}

#[tokio::test]
async fn signed_garbage_values_are_400_not_500() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let call = SimulatedCall::new("+14155550100", TRACKED_NUMBER, FORWARD_TO);
    let cases = [
        (
            "/twilio/voice",
            "CallSid",
            "CA'; DROP TABLE call_sessions; --",
        ),
        ("/twilio/voice", "CallStatus", "exploded"),
        ("/twilio/status", "CallDuration", "forty"),
        ("/twilio/status", "ParentCallSid", "nonsense"),
    ];
    for (path, field, value) in cases {
        let mut form = if path == "/twilio/voice" {
            call.voice()
        } else {
            call.parent_completed(5, chrono::Utc::now())
        };
        form.set(field, value);
        let response = app.post_signed(path, &form).await;
        assert_eq!(response.status(), 400, "{path} {field}={value}");
    }
    assert_nothing_written(&app).await;
}

#[tokio::test]
async fn a_body_over_64_kib_is_a_413() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let mut form = SimulatedCall::new("+14155550100", TRACKED_NUMBER, FORWARD_TO).voice();
    form.set("Padding", "x".repeat(70 * 1024));
    let signature = sign(&format!("{PUBLIC_BASE_URL}/twilio/voice"), &form);

    let response = app
        .post_form("/twilio/voice", form.encode(), Some(&signature))
        .await;

    assert_eq!(response.status(), 413);
    assert_nothing_written(&app).await;
}

#[tokio::test]
async fn a_chunked_body_over_64_kib_is_a_413_too() {
    let app = TestApp::spawn().await;
    let chunks: Vec<Result<String, std::io::Error>> =
        (0..80).map(|_| Ok("a".repeat(1024))).collect();
    let response = app
        .http
        .post(format!("{}/twilio/voice", app.address))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", "x")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn a_body_that_is_not_form_encoded_is_a_415() {
    let app = TestApp::spawn().await;
    for content_type in [Some("application/json"), Some("text/plain"), None] {
        let mut request = app
            .http
            .post(format!("{}/twilio/voice", app.address))
            .header("x-twilio-signature", "x")
            .body(r#"{"CallSid":"CA1"}"#);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 415, "{content_type:?}");
    }
    assert_nothing_written(&app).await;
}

#[tokio::test]
async fn a_form_content_type_with_a_charset_is_accepted() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let form = SimulatedCall::new("+14155550100", TRACKED_NUMBER, FORWARD_TO).voice();
    let signature = sign(&format!("{PUBLIC_BASE_URL}/twilio/voice"), &form);
    let response = app
        .http
        .post(format!("{}/twilio/voice", app.address))
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .header("x-twilio-signature", signature)
        .body(form.encode())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}
