//! What really happened on a call: `call_outcome`, `call_answered_at` and the duration are
//! the same whatever order Twilio's callbacks arrive in — the voice webhook included, since a
//! spooled or parked call can be recorded after its callbacks.

use calltrack::twilio::form::FormPairs;
use calltrack::twilio::simulated::{Fixture, SimulatedCall};
use chrono::{Duration, Utc};

use crate::helpers::{FORWARD_TO, TRACKED_NUMBER, TestApp};

/// One call's webhooks, and what the session must say once all have arrived.
struct Scenario {
    name: &'static str,
    webhooks: Vec<(&'static str, FormPairs)>,
    outcome: &'static str,
    answered: bool,
    duration: Option<i64>,
}

fn child(call: &SimulatedCall, status: &str, at: chrono::DateTime<Utc>) -> FormPairs {
    let mut form = call.child_status(Fixture::StatusChildRinging, at);
    form.set("CallStatus", status);
    form
}

fn parent(call: &SimulatedCall, status: &str, duration: u32) -> FormPairs {
    let mut form = call.parent_completed(duration, Utc::now());
    form.set("CallStatus", status);
    form
}

fn scenarios(from: &str) -> Vec<(SimulatedCall, Scenario)> {
    let t0 = Utc::now() - Duration::seconds(120);
    let at = |s: i64| t0 + Duration::seconds(s);
    let mut out = Vec::new();

    let call = SimulatedCall::new(from, TRACKED_NUMBER, FORWARD_TO);
    let webhooks = vec![
        ("/twilio/voice", call.voice()),
        ("/twilio/status", child(&call, "ringing", at(2))),
        ("/twilio/status", child(&call, "in-progress", at(8))),
        ("/twilio/status", call.child_completed(42, at(50))),
        (
            "/twilio/dial-complete",
            call.dial_action("completed", 42, true),
        ),
        ("/twilio/status", call.parent_completed(55, at(51))),
    ];
    out.push((
        call,
        Scenario {
            name: "answered",
            webhooks,
            outcome: "answered",
            answered: true,
            duration: Some(55),
        },
    ));

    let call = SimulatedCall::new(from, TRACKED_NUMBER, FORWARD_TO);
    let webhooks = vec![
        ("/twilio/voice", call.voice()),
        ("/twilio/status", child(&call, "ringing", at(2))),
        ("/twilio/status", child(&call, "no-answer", at(32))),
        (
            "/twilio/dial-complete",
            call.dial_action("no-answer", 0, false),
        ),
        ("/twilio/status", call.parent_completed(33, at(33))),
    ];
    out.push((
        call,
        Scenario {
            name: "missed: rang out",
            webhooks,
            outcome: "missed",
            answered: false,
            duration: Some(33),
        },
    ));

    let call = SimulatedCall::new(from, TRACKED_NUMBER, FORWARD_TO);
    let webhooks = vec![
        ("/twilio/voice", call.voice()),
        ("/twilio/status", child(&call, "ringing", at(2))),
        ("/twilio/status", child(&call, "canceled", at(9))),
        (
            "/twilio/dial-complete",
            call.dial_action("canceled", 0, false),
        ),
        ("/twilio/status", call.parent_completed(10, at(10))),
    ];
    out.push((
        call,
        Scenario {
            name: "abandoned while ringing",
            webhooks,
            outcome: "abandoned",
            answered: false,
            duration: Some(10),
        },
    ));

    let call = SimulatedCall::new(from, TRACKED_NUMBER, FORWARD_TO);
    // The caller hung up while the business rang; the dial action calls it a no-answer.
    let webhooks = vec![
        ("/twilio/voice", call.voice()),
        ("/twilio/status", child(&call, "canceled", at(12))),
        (
            "/twilio/dial-complete",
            call.dial_action("no-answer", 0, false),
        ),
        ("/twilio/status", call.parent_completed(12, at(12))),
    ];
    out.push((
        call,
        Scenario {
            name: "abandoned, the dial action saying no-answer",
            webhooks,
            outcome: "abandoned",
            answered: false,
            duration: Some(12),
        },
    ));

    let call = SimulatedCall::new(from, TRACKED_NUMBER, FORWARD_TO);
    let webhooks = vec![
        ("/twilio/voice", call.voice()),
        ("/twilio/status", call.parent_completed(3, at(3))),
    ];
    out.push((
        call,
        Scenario {
            name: "abandoned during the notice",
            webhooks,
            outcome: "abandoned",
            answered: false,
            duration: Some(3),
        },
    ));

    let call = SimulatedCall::new(from, TRACKED_NUMBER, FORWARD_TO);
    let webhooks = vec![
        ("/twilio/voice", call.voice()),
        ("/twilio/status", child(&call, "busy", at(1))),
        ("/twilio/dial-complete", call.dial_action("busy", 0, false)),
        ("/twilio/status", parent(&call, "completed", 2)),
    ];
    out.push((
        call,
        Scenario {
            name: "missed: busy",
            webhooks,
            outcome: "missed",
            answered: false,
            duration: Some(2),
        },
    ));

    let call = SimulatedCall::new(from, TRACKED_NUMBER, FORWARD_TO);
    // The forwarded leg's callbacks carry the only durations: the parent's never came.
    let webhooks = vec![
        ("/twilio/voice", call.voice()),
        ("/twilio/status", child(&call, "in-progress", at(5))),
        ("/twilio/status", call.child_completed(61, at(66))),
        (
            "/twilio/dial-complete",
            call.dial_action("completed", 60, false),
        ),
    ];
    out.push((
        call,
        Scenario {
            name: "answered, only the leg's durations",
            webhooks,
            outcome: "answered",
            answered: true,
            duration: Some(61),
        },
    ));
    out
}

/// A few orders of `n` items: as sent, reversed, and rotations and swaps in between, so the
/// voice webhook and every callback come first and last at least once.
fn orders(n: usize) -> Vec<Vec<usize>> {
    let mut orders = vec![(0..n).collect::<Vec<_>>(), (0..n).rev().collect()];
    for shift in 1..n {
        orders.push((0..n).map(|i| (i + shift) % n).collect());
    }
    for i in 0..n.saturating_sub(1) {
        let mut swapped: Vec<usize> = (0..n).collect();
        swapped.swap(i, i + 1);
        orders.push(swapped);
    }
    orders
}

#[tokio::test]
async fn every_outcome_is_the_same_in_every_order_the_callbacks_arrive() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let mut checked = 0;
    for order in 0.. {
        let mut any = false;
        for (call, scenario) in scenarios("+14155550100") {
            let orders = orders(scenario.webhooks.len());
            let Some(order) = orders.get(order) else {
                continue;
            };
            any = true;
            for &i in order {
                let (path, form) = &scenario.webhooks[i];
                let status = app.post_signed(path, form).await.status();
                assert!(status.is_success(), "{} {path}: {status}", scenario.name);
            }
            let session = app.session(&call.call_sid).await;
            assert_eq!(
                session["call_outcome"], scenario.outcome,
                "{} in order {order:?}: {session}",
                scenario.name
            );
            assert_eq!(
                !session["call_answered_at"].is_null(),
                scenario.answered,
                "{} in order {order:?}: {session}",
                scenario.name
            );
            assert_eq!(
                session["call_duration_seconds"].as_i64(),
                scenario.duration,
                "{} in order {order:?}: {session}",
                scenario.name
            );
            checked += 1;
        }
        if !any {
            break;
        }
    }
    assert!(checked > 40, "{checked} orderings checked");
    assert_eq!(
        app.count("SELECT count(*) FROM call_callbacks_parked")
            .await,
        0,
        "every callback that came before its call was applied"
    );
}

#[tokio::test]
async fn a_call_that_is_not_inbound_is_hung_up_and_a_sip_call_to_no_number_rejected() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let call = SimulatedCall::new("+14155550100", TRACKED_NUMBER, FORWARD_TO);
    let mut outbound = call.voice();
    outbound.set("Direction", "outbound-api");

    let answer = app.post_signed("/twilio/voice", &outbound).await;
    assert_eq!(answer.status(), 200);
    assert!(answer.text().await.unwrap().contains("<Hangup/>"));

    let mut sip = SimulatedCall::new("sip:alice@example.com", TRACKED_NUMBER, FORWARD_TO).voice();
    sip.set("To", "sip:reception@acme.sip.twilio.com");
    let answer = app.post_signed("/twilio/voice", &sip).await;
    assert_eq!(answer.status(), 200);
    assert!(answer.text().await.unwrap().contains("<Reject/>"));
    assert_eq!(app.count("SELECT count(*) FROM call_sessions").await, 0);

    let mut sip_to_number = SimulatedCall::new("client:front-desk", TRACKED_NUMBER, FORWARD_TO);
    sip_to_number.to = format!("sip:{TRACKED_NUMBER}@acme.sip.twilio.com");
    let answer = app
        .post_signed("/twilio/voice", &sip_to_number.voice())
        .await;
    assert!(answer.text().await.unwrap().contains("<Dial"));
    let session = app.session(&sip_to_number.call_sid).await;
    assert_eq!(session["match_status"], "unmatched");
    assert!(session["caller_phone"].is_null());
}

#[tokio::test]
async fn the_callers_stir_verification_is_stored_and_an_absent_recording_is_204() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let call = SimulatedCall::new("+14155550100", TRACKED_NUMBER, FORWARD_TO);
    let mut voice = call.voice();
    voice.set("StirVerstat", "TN-Validation-Passed-A");
    app.post_signed("/twilio/voice", &voice).await;

    let mut absent = call.recording(0);
    absent.set("RecordingStatus", "absent");
    absent.remove("RecordingUrl");
    let answer = app.post_signed("/twilio/recording", &absent).await;

    assert_eq!(answer.status(), 204);
    let session = app.session(&call.call_sid).await;
    assert_eq!(session["caller_verstat"], "TN-Validation-Passed-A");
    assert!(session["recording_sid"].is_null());
}
