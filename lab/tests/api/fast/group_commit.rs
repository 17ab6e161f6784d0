//! Group commit: webhooks that wait while a writer is busy are written together in one
//! statement, retries of one call make one row, several callbacks about one call keep every
//! guard, and a batch that commits after its members gave up (and spooled themselves) leaves
//! each row there once.

use std::time::Duration;

use calltrack::twilio::form::FormPairs;
use calltrack::twilio::simulated::{Fixture, SimulatedCall};
use chrono::Utc;

use crate::helpers::{FORWARD_TO, TRACKED_NUMBER, TestApp};

const GATE: i64 = 4721;

/// Makes every `event` (INSERT or UPDATE) of a session wait while the returned client holds
/// the gate, and logs the transaction each row was written in (`batch_log`).
pub(crate) async fn gate_sessions(app: &TestApp, event: &str) -> tokio_postgres::Client {
    app.db
        .batch_execute(&format!(
            "CREATE TABLE batch_log (call_sid text, txid bigint);
             CREATE FUNCTION hold_and_log() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 PERFORM pg_advisory_lock({GATE}); PERFORM pg_advisory_unlock({GATE});
                 INSERT INTO batch_log VALUES (NEW.twilio_call_sid, txid_current());
                 RETURN NEW;
             END $$;
             CREATE TRIGGER hold_sessions BEFORE {event} ON call_sessions
                 FOR EACH ROW EXECUTE FUNCTION hold_and_log();"
        ))
        .await
        .unwrap();
    let gate = calltrack::db::pool::connect(&app.db_config).await.unwrap();
    gate.execute(&format!("SELECT pg_advisory_lock({GATE})"), &[])
        .await
        .unwrap();
    gate
}

/// Waits until at least `n` statements wait at the gate.
pub(crate) async fn wait_for_gate_waiters(app: &TestApp, n: i64) {
    let until = std::time::Instant::now() + Duration::from_secs(10);
    let waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted";
    while app.count(waiting).await < n {
        assert!(
            std::time::Instant::now() < until,
            "nothing reached the gate"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends `held`, which the gate stops, then `queued` while it waits, and lets the gate go
/// 700 ms later, time enough for `queued` to wait behind `held`'s writer. Returns the
/// answers to `held` and to each of `queued`.
async fn send_behind_the_gate(
    app: &TestApp,
    gate: &tokio_postgres::Client,
    held: (&str, &FormPairs),
    queued: &[(&str, FormPairs)],
) -> (reqwest::Response, Vec<reqwest::Response>) {
    let held = app.post_signed(held.0, held.1);
    let queued = async {
        wait_for_gate_waiters(app, 1).await;
        let sent = futures::future::join_all(
            queued
                .iter()
                .map(|(path, form)| app.post_signed(path, form)),
        );
        let (answers, ()) = tokio::join!(sent, open_gate_after(gate, Duration::from_millis(700)));
        answers
    };
    tokio::join!(held, queued)
}

/// Asserts that one callback waits parked for `call`, until its session exists.
async fn assert_parked_once(app: &TestApp, call: &SimulatedCall) {
    let parked = format!(
        "SELECT count(*) FROM call_callbacks_parked WHERE call_sid = '{}'",
        call.call_sid
    );
    assert_eq!(
        app.count(&parked).await,
        1,
        "parked until its session exists"
    );
}

/// Lets the gate go after `after`, time enough for the requests sent meanwhile to queue.
pub(crate) async fn open_gate_after(gate: &tokio_postgres::Client, after: Duration) {
    tokio::time::sleep(after).await;
    gate.execute(&format!("SELECT pg_advisory_unlock({GATE})"), &[])
        .await
        .unwrap();
}

#[tokio::test]
async fn calls_waiting_behind_a_busy_writer_are_written_in_one_statement_and_retries_make_one_row()
{
    let app = TestApp::builder()
        .env(&[("WEBHOOK_WRITERS", "1"), ("VOICE_DEADLINE_MS", "5000")])
        .spawn()
        .await;
    let campaign = app.seed_campaign().await;
    app.seed_recipient(&campaign, "(415) 555-0200").await;
    let gate = gate_sessions(&app, "INSERT").await;
    let first = SimulatedCall::new("+14155550100", TRACKED_NUMBER, FORWARD_TO);
    let retried = SimulatedCall::new("+14155550200", TRACKED_NUMBER, FORWARD_TO);
    let others: Vec<SimulatedCall> = (0..10)
        .map(|i| SimulatedCall::new(&format!("+1415555030{i}"), TRACKED_NUMBER, FORWARD_TO))
        .collect();
    // Ten retries of one call between ten other calls.
    let forms: Vec<_> = others
        .iter()
        .flat_map(|other| [retried.voice(), other.voice()])
        .map(|form| ("/twilio/voice", form))
        .collect();

    let first_form = first.voice();
    let (held, answers) =
        send_behind_the_gate(&app, &gate, ("/twilio/voice", &first_form), &forms).await;

    assert_eq!(held.status(), 200);
    for answer in answers {
        assert_eq!(answer.status(), 200);
        assert!(answer.text().await.unwrap().contains("<Dial"));
    }
    assert_eq!(app.count("SELECT count(*) FROM call_sessions").await, 12);
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE event_type = 'call'")
            .await,
        12
    );
    let retried_rows = format!(
        "SELECT count(*) FROM call_sessions WHERE twilio_call_sid = '{}' AND match_status = 'matched'",
        retried.call_sid
    );
    assert_eq!(app.count(&retried_rows).await, 1, "one matched session");
    let retried_events = format!(
        "SELECT count(*) FROM events WHERE event_data->>'call_sid' = '{}'",
        retried.call_sid
    );
    assert_eq!(app.count(&retried_events).await, 1, "one event");
    let statements = format!(
        "SELECT count(DISTINCT txid) FROM batch_log WHERE call_sid <> '{}'",
        first.call_sid
    );
    assert_eq!(
        app.count(&statements).await,
        1,
        "the eleven calls that waited went in one statement"
    );
}

#[tokio::test]
async fn callbacks_waiting_behind_a_busy_writer_keep_every_guard_and_park_what_has_no_session() {
    let app = TestApp::builder()
        .env(&[("WEBHOOK_WRITERS", "1"), ("VOICE_DEADLINE_MS", "5000")])
        .spawn()
        .await;
    app.seed_campaign().await;
    let answered = app.start_call("+14155550100").await;
    let missed = app.start_call("+14155550101").await;
    let unknown = SimulatedCall::new("+14155550102", TRACKED_NUMBER, FORWARD_TO);
    let gate = gate_sessions(&app, "UPDATE").await;
    let now = Utc::now();
    let at = |s: i64| now + chrono::Duration::seconds(s);
    let callbacks = [
        (
            "/twilio/status",
            answered.child_status(Fixture::StatusChildRinging, at(1)),
        ),
        ("/twilio/status", answered.parent_completed(45, at(50))),
        ("/twilio/status", answered.child_completed(40, at(48))),
        (
            "/twilio/status",
            missed.child_status(Fixture::StatusChildNoAnswer, at(20)),
        ),
        (
            "/twilio/dial-complete",
            answered.dial_action("completed", 40, false),
        ),
        (
            "/twilio/status",
            answered.child_status(Fixture::StatusChildAnswered, at(8)),
        ),
        ("/twilio/status", missed.parent_completed(21, at(21))),
        ("/twilio/status", unknown.parent_completed(30, at(30))),
    ];

    let initiated = answered.child_status(Fixture::StatusChildInitiated, now);
    let (held, answers) =
        send_behind_the_gate(&app, &gate, ("/twilio/status", &initiated), &callbacks).await;

    assert_eq!(held.status(), 204);
    for answer in answers {
        assert!(answer.status().is_success(), "{}", answer.status());
    }
    let session = app.session(&answered.call_sid).await;
    assert_eq!(session["call_status"], "completed", "{session}");
    assert_eq!(session["leg_status"], "completed", "{session}");
    assert_eq!(session["call_outcome"], "answered", "{session}");
    assert_eq!(session["call_duration_seconds"], 45, "{session}");
    assert_eq!(session["talk_seconds"], 40, "{session}");
    assert!(session["call_answered_at"].is_string(), "{session}");
    let session = app.session(&missed.call_sid).await;
    assert_eq!(session["call_outcome"], "missed", "{session}");
    assert!(session["call_answered_at"].is_null(), "{session}");
    assert_parked_once(&app, &unknown).await;
    // Five callbacks about one call waited: five successive statements, the other call's
    // two in the first two of them.
    let statements = format!(
        "SELECT count(DISTINCT txid) FROM batch_log WHERE txid <> (SELECT min(txid) FROM batch_log)
         AND call_sid IN ('{}', '{}')",
        answered.call_sid, missed.call_sid
    );
    assert_eq!(app.count(&statements).await, 5);
}

#[tokio::test]
async fn recordings_waiting_behind_a_busy_writer_go_in_one_statement_and_park_what_has_no_session()
{
    let app = TestApp::builder()
        .env(&[("WEBHOOK_WRITERS", "1"), ("VOICE_DEADLINE_MS", "5000")])
        .spawn()
        .await;
    app.seed_campaign().await;
    let held_call = app.start_call("+14155550100").await;
    let first = app.start_call("+14155550101").await;
    let second = app.start_call("+14155550102").await;
    let voicemail = app.start_call("+14155550103").await;
    let unknown = SimulatedCall::new("+14155550104", TRACKED_NUMBER, FORWARD_TO);
    let gate = gate_sessions(&app, "UPDATE").await;
    let callbacks = [
        ("/twilio/recording", first.recording(30)),
        ("/twilio/recording", second.recording(20)),
        // Twilio's retry of the first, in the same batch.
        ("/twilio/recording", first.recording(30)),
        ("/twilio/voicemail", voicemail.voicemail_recording(14)),
        ("/twilio/recording", unknown.recording(10)),
    ];

    let held_form = held_call.recording(41);
    let (held, answers) =
        send_behind_the_gate(&app, &gate, ("/twilio/recording", &held_form), &callbacks).await;

    assert_eq!(held.status(), 204);
    for answer in answers {
        assert_eq!(answer.status(), 204);
    }
    for (call, duration) in [(&held_call, 41), (&first, 30), (&second, 20)] {
        let session = app.session(&call.call_sid).await;
        assert_eq!(session["recording_url"], call.recording_url(), "{session}");
        assert_eq!(session["recording_duration"], duration, "{session}");
    }
    let session = app.session(&voicemail.call_sid).await;
    assert_eq!(
        session["voicemail_url"],
        voicemail.voicemail_url(),
        "{session}"
    );
    assert!(session["recording_url"].is_null(), "{session}");
    assert_parked_once(&app, &unknown).await;
    // The two calls' recordings went in one statement and the retry in a second; the
    // voicemail in a statement of its own kind.
    let pair = format!("call_sid IN ('{}', '{}')", first.call_sid, second.call_sid);
    let rows = format!("SELECT count(*) FROM batch_log WHERE {pair}");
    assert_eq!(app.count(&rows).await, 3);
    let statements = format!("SELECT count(DISTINCT txid) FROM batch_log WHERE {pair}");
    assert_eq!(app.count(&statements).await, 2);
}

#[tokio::test]
async fn a_batch_that_commits_after_its_call_was_spooled_leaves_one_session_and_one_event() {
    // Statements may outlive the webhook's deadline, so the batch lands after the webhook
    // has given up, answered from the routing copy and spooled the call.
    let app = TestApp::builder()
        .env(&[("VOICE_DEADLINE_MS", "300")])
        .statement_deadline(Duration::from_secs(20))
        .spawn()
        .await;
    app.seed_campaign().await;
    app.wait_for_routing(TRACKED_NUMBER).await;
    let gate = gate_sessions(&app, "INSERT").await;
    let call = SimulatedCall::new("+14155550100", TRACKED_NUMBER, FORWARD_TO);

    let started = std::time::Instant::now();
    let voice = app.post_signed("/twilio/voice", &call.voice()).await;
    assert!(started.elapsed() < Duration::from_millis(800));
    assert_eq!(voice.status(), 200);
    assert!(voice.text().await.unwrap().contains("<Dial"));
    // Both the batch and the spool's replay of the same call now wait at the gate.
    wait_for_gate_waiters(&app, 2).await;
    open_gate_after(&gate, Duration::ZERO).await;

    assert_eq!(
        app.wait_for_count("SELECT count(*) FROM spool_applied", 1, 10)
            .await,
        1,
        "the spooled copy was replayed"
    );
    assert_eq!(
        app.wait_for_count("SELECT count(*) FROM batch_log", 2, 10)
            .await,
        2,
        "the batch and the replay both wrote"
    );
    assert_eq!(app.count("SELECT count(*) FROM call_sessions").await, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE event_type = 'call'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_callback_parked_while_its_call_is_being_written_is_applied_by_the_look_after_the_commit()
{
    let app = TestApp::builder()
        .env(&[("VOICE_DEADLINE_MS", "5000")])
        .spawn()
        .await;
    app.seed_campaign().await;
    let call = SimulatedCall::new("+14155550100", TRACKED_NUMBER, FORWARD_TO);
    let gate = gate_sessions(&app, "INSERT").await;
    let voice = call.voice();
    let ringing = call.child_status(Fixture::StatusChildRinging, Utc::now());

    // The voice webhook's insert waits at the gate, uncommitted; the callback finds no
    // session, parks, looks again and still finds none. Only the voice webhook's look for
    // parked callbacks, which must run after its commit, can apply it.
    let voice_answer = app.post_signed("/twilio/voice", &voice);
    let callback = async {
        wait_for_gate_waiters(&app, 1).await;
        let answer = app.post_signed("/twilio/status", &ringing).await;
        assert_eq!(answer.status(), 204);
        assert_parked_once(&app, &call).await;
        open_gate_after(&gate, Duration::ZERO).await;
    };
    let (voice_answer, ()) = tokio::join!(voice_answer, callback);

    assert_eq!(voice_answer.status(), 200);
    let session = app.session(&call.call_sid).await;
    assert_eq!(session["leg_status"], "ringing", "{session}");
    assert_eq!(
        app.count("SELECT count(*) FROM call_callbacks_parked")
            .await,
        0,
        "applied and removed"
    );
}
