use chrono::Utc;

use crate::helpers::TestApp;

async fn assert_recording_stored(
    app: &TestApp,
    call: &calltrack::twilio::simulated::SimulatedCall,
) {
    let session = app.session(&call.call_sid).await;
    assert_eq!(session["recording_sid"], call.recording_sid.as_str());
    assert_eq!(session["recording_url"], call.recording_url());
    assert_eq!(session["recording_duration"], 41);
    assert_eq!(session["call_status"], "completed");
}

#[tokio::test]
async fn a_recording_that_arrives_before_the_final_status_is_kept() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let call = app.start_call("+14155550100").await;

    let response = app
        .post_signed("/twilio/recording", &call.recording(41))
        .await;
    assert_eq!(response.status(), 204);
    app.post_signed("/twilio/status", &call.parent_completed(48, Utc::now()))
        .await;

    assert_recording_stored(&app, &call).await;
}

#[tokio::test]
async fn a_recording_that_arrives_after_completion_is_kept_once() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let call = app.start_call("+14155550100").await;
    app.post_signed("/twilio/status", &call.parent_completed(48, Utc::now()))
        .await;

    for _ in 0..3 {
        let response = app
            .post_signed("/twilio/recording", &call.recording(41))
            .await;
        assert_eq!(response.status(), 204);
    }

    assert_recording_stored(&app, &call).await;
}

#[tokio::test]
async fn an_absent_recording_stores_nothing() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let call = app.start_call("+14155550100").await;
    let mut form = call.recording(0);
    form.set("RecordingStatus", "absent");

    let response = app.post_signed("/twilio/recording", &form).await;

    assert_eq!(response.status(), 204);
    assert_eq!(
        app.session(&call.call_sid).await["recording_sid"],
        serde_json::Value::Null
    );
}
