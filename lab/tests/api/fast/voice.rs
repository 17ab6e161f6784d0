use calltrack::twilio::simulated::SimulatedCall;

use crate::helpers::{FORWARD_TO, TRACKED_NUMBER, TestApp};

#[tokio::test]
async fn a_caller_matches_the_recipient_whose_messy_phone_is_the_same_number() {
    let app = TestApp::spawn().await;
    let campaign = app.seed_campaign().await;
    let recipient = app.seed_recipient(&campaign, "(415) 555-0100").await;
    app.seed_recipient(&campaign, "415.555.0177").await;

    let call = SimulatedCall::new("+14155550100", TRACKED_NUMBER, FORWARD_TO);
    let response = app.post_signed("/twilio/voice", &call.voice()).await;

    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/xml")
    );
    insta::assert_snapshot!("voice_forward_answer", response.text().await.unwrap());
    let session = app.session(&call.call_sid).await;
    assert_eq!(session["match_status"], "matched");
    assert_eq!(session["recipient_id"], recipient.to_string());
    assert_eq!(session["caller_phone"], "+14155550100");
    assert_eq!(session["campaign_id"], campaign.id.to_string());
    assert_eq!(
        session["tracked_number_id"],
        campaign.tracked_number_id.to_string()
    );
    assert_eq!(session["forward_to_number"], FORWARD_TO);
    assert_eq!(session["call_status"], "ringing");
    let event = app
        .db
        .query_one(
            "SELECT event_type, recipient_id, event_data FROM events",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(event.get::<_, String>(0), "call");
    assert_eq!(event.get::<_, Option<uuid::Uuid>>(1), Some(recipient));
    assert_eq!(
        event.get::<_, serde_json::Value>(2)["call_sid"],
        call.call_sid.as_str()
    );
}

#[tokio::test]
async fn a_caller_of_another_campaign_is_not_matched() {
    let app = TestApp::spawn().await;
    let campaign = app.seed_campaign().await;
    app.seed_recipient(&campaign, "+1 415 555 0177").await;
    let other = app
        .db
        .query_one(
            "INSERT INTO campaigns (client_id, name) SELECT client_id, 'Other' FROM campaigns RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get::<_, uuid::Uuid>(0);
    app.db
        .execute(
            "INSERT INTO recipients (campaign_id, redemption_code, phone) VALUES ($1, 'X1', '4155550100')",
            &[&other],
        )
        .await
        .unwrap();

    let call = app.start_call("+14155550100").await;

    let session = app.session(&call.call_sid).await;
    assert_eq!(session["match_status"], "unmatched");
    assert_eq!(session["recipient_id"], serde_json::Value::Null);
    assert_eq!(session["caller_phone"], "+14155550100");
}

#[tokio::test]
async fn a_withheld_caller_is_forwarded_and_stored_unmatched() {
    let app = TestApp::spawn().await;
    let campaign = app.seed_campaign().await;
    app.seed_recipient(&campaign, "(415) 555-0100").await;

    for withheld in ["anonymous", "+266696687", "Restricted"] {
        let call = SimulatedCall::new(withheld, TRACKED_NUMBER, FORWARD_TO);
        let response = app.post_signed("/twilio/voice", &call.voice()).await;
        assert_eq!(response.status(), 200);
        assert!(
            response.text().await.unwrap().contains("<Dial"),
            "{withheld} is forwarded"
        );
        let session = app.session(&call.call_sid).await;
        assert_eq!(session["match_status"], "unmatched");
        assert_eq!(session["caller_phone"], serde_json::Value::Null);
    }
}

#[tokio::test]
async fn a_call_to_an_unknown_number_is_rejected_and_not_recorded() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let call = SimulatedCall::new("+14155550100", "+18005559999", FORWARD_TO);

    let response = app.post_signed("/twilio/voice", &call.voice()).await;

    assert_eq!(response.status(), 200);
    insta::assert_snapshot!("voice_unknown_number", response.text().await.unwrap());
    assert_eq!(app.count("SELECT count(*) FROM call_sessions").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM events").await, 0);
}

#[tokio::test]
async fn a_call_to_an_inactive_number_hears_the_inactive_message() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    app.db
        .execute("UPDATE tracked_phone_numbers SET is_active = false", &[])
        .await
        .unwrap();
    let call = SimulatedCall::new("+14155550100", TRACKED_NUMBER, FORWARD_TO);

    let response = app.post_signed("/twilio/voice", &call.voice()).await;

    assert_eq!(response.status(), 200);
    insta::assert_snapshot!("voice_inactive_number", response.text().await.unwrap());
    assert_eq!(app.count("SELECT count(*) FROM call_sessions").await, 0);
}

#[tokio::test]
async fn the_same_call_sid_posted_twenty_times_at_once_makes_one_session_and_one_event() {
    let app = TestApp::spawn().await;
    let campaign = app.seed_campaign().await;
    app.seed_recipient(&campaign, "415-555-0100").await;
    let call = SimulatedCall::new("+14155550100", TRACKED_NUMBER, FORWARD_TO);
    let form = call.voice();

    let responses =
        futures::future::join_all((0..20).map(|_| app.post_signed("/twilio/voice", &form))).await;

    for response in responses {
        assert_eq!(response.status(), 200);
        assert!(
            response.text().await.unwrap().contains(FORWARD_TO),
            "every retry is forwarded"
        );
    }
    assert_eq!(app.count("SELECT count(*) FROM call_sessions").await, 1);
    assert_eq!(app.count("SELECT count(*) FROM events").await, 1);
    assert_eq!(app.session(&call.call_sid).await["match_status"], "matched");
}

#[tokio::test]
async fn recording_off_and_an_empty_notice_change_the_answer() {
    let app = TestApp::builder()
        .env(&[("RECORD_CALLS", "false")])
        .spawn()
        .await;
    app.seed_campaign().await;
    let body = app.voice_answer("+14155550100").await;
    assert!(!body.contains("record="), "{body}");
    assert!(!body.contains("<Say>"), "{body}");

    let app = TestApp::builder()
        .env(&[("RECORDING_NOTICE", "")])
        .spawn()
        .await;
    app.seed_campaign().await;
    let body = app.voice_answer("+14155550100").await;
    assert!(
        body.contains("record=\"record-from-answer-dual\""),
        "{body}"
    );
    assert!(!body.contains("<Say>"), "{body}");
}
