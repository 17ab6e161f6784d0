use calltrack::tools::fixtures::SimulatedCall;

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
    let app =
        TestApp::spawn_with(&[("PUBLIC_BASE_URL", "https://calltrack.example.com:8443")]).await;
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
