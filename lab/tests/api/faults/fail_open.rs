//! Calls always connect: with the database away the voice webhook answers from the routing
//! copy (or its snapshot, after a restart) exactly as it would have, callbacks are spooled,
//! and once the database answers the spool is replayed, each record exactly once.

use std::time::{Duration, Instant};

use calltrack::twilio::simulated::SimulatedCall;
use chrono::Utc;

use super::{spool_segments, unreachable_database};
use crate::helpers::{FORWARD_TO, TRACKED_NUMBER, TestApp, test_database};

#[tokio::test]
async fn a_restart_during_an_outage_still_forwards_and_the_spool_is_replayed_once_it_ends() {
    // Arrange: a server that knew the number, then stopped.
    let db_config = test_database().await;
    let first = TestApp::builder()
        .databases(db_config.clone(), db_config.clone())
        .spawn()
        .await;
    first.seed_campaign().await;
    first.wait_for_routing(TRACKED_NUMBER).await;
    let normal_answer = first.voice_answer("+14155550100").await;
    let spool_dir = first.spool_dir.display().to_string();
    first.stop().await;

    // Act: a new process starts while the database cannot be reached.
    let outage = TestApp::builder()
        .databases(unreachable_database(), db_config.clone())
        .env(&[
            ("CALLTRACK_SPOOL_DIR", &spool_dir),
            ("VOICE_DEADLINE_MS", "300"),
        ])
        .spawn()
        .await;
    let call = SimulatedCall::new("+14155550101", TRACKED_NUMBER, FORWARD_TO);
    let started = Instant::now();
    let voice = outage.post_signed("/twilio/voice", &call.voice()).await;
    assert!(started.elapsed() < Duration::from_millis(800));
    assert_eq!(voice.status(), 200);
    let answer = voice.text().await.unwrap();
    let mut callbacks = Vec::new();
    for (path, form) in [
        ("/twilio/status", call.child_completed(42, Utc::now())),
        (
            "/twilio/dial-complete",
            call.dial_action("completed", 42, true),
        ),
        ("/twilio/recording", call.recording(41)),
        ("/twilio/status", call.parent_completed(50, Utc::now())),
    ] {
        callbacks.push(outage.post_signed(path, &form).await.status().as_u16());
    }
    let ready = outage
        .http
        .get(format!("{}/readyz", outage.address))
        .send()
        .await
        .unwrap()
        .status();
    outage.stop().await;

    // Assert: forwarded exactly as before, every callback taken, nothing written yet.
    assert_eq!(
        answer, normal_answer,
        "the fail-open answer is the normal TwiML"
    );
    assert_eq!(callbacks, [204, 200, 204, 204]);
    assert_eq!(ready, 503);
    let sid_count = format!(
        "SELECT count(*) FROM call_sessions WHERE twilio_call_sid = '{}'",
        call.call_sid
    );
    let checker = calltrack::db::pool::connect(&db_config).await.unwrap();
    let before: i64 = checker.query_one(&sid_count, &[]).await.unwrap().get(0);
    assert_eq!(before, 0);

    // Act: the database is back and the service restarts on the same spool.
    let recovered = TestApp::builder()
        .databases(db_config.clone(), db_config)
        .env(&[("CALLTRACK_SPOOL_DIR", &spool_dir)])
        .spawn()
        .await;
    assert_eq!(recovered.wait_for_count(&sid_count, 1, 10).await, 1);
    let done = format!(
        "SELECT count(*) FROM call_sessions WHERE twilio_call_sid = '{}'
         AND call_status = 'completed' AND recording_sid IS NOT NULL
         AND call_duration_seconds = 50 AND talk_seconds = 42 AND call_answered_at IS NOT NULL",
        call.call_sid
    );
    assert_eq!(
        recovered.wait_for_count(&done, 1, 10).await,
        1,
        "{:?}",
        recovered.session(&call.call_sid).await
    );
    let events = format!(
        "SELECT count(*) FROM events WHERE event_type = 'call' AND event_data->>'call_sid' = '{}'",
        call.call_sid
    );
    assert_eq!(recovered.count(&events).await, 1);
    for _ in 0..50 {
        if spool_segments(&recovered) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        spool_segments(&recovered),
        0,
        "replayed segments are removed"
    );
}

#[tokio::test]
async fn a_callback_that_outruns_its_session_is_parked_and_applied_when_the_session_arrives() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let call = SimulatedCall::new("+14155550100", TRACKED_NUMBER, FORWARD_TO);

    let early = app
        .post_signed("/twilio/status", &call.parent_completed(30, Utc::now()))
        .await;
    assert_eq!(early.status(), 204);
    assert_eq!(
        app.count("SELECT count(*) FROM call_callbacks_parked")
            .await,
        1
    );
    app.post_signed("/twilio/voice", &call.voice()).await;

    let session = app.session(&call.call_sid).await;
    assert_eq!(session["call_status"], "completed");
    assert_eq!(session["call_duration_seconds"], 30);
    assert_eq!(
        app.count("SELECT count(*) FROM call_callbacks_parked")
            .await,
        0
    );
}

#[tokio::test]
async fn many_retries_of_one_call_spooled_during_an_outage_make_one_session() {
    let db_config = test_database().await;
    let warm = TestApp::builder()
        .databases(db_config.clone(), db_config.clone())
        .spawn()
        .await;
    warm.seed_campaign().await;
    warm.wait_for_routing(TRACKED_NUMBER).await;
    let spool_dir = warm.spool_dir.display().to_string();
    warm.stop().await;
    let outage = TestApp::builder()
        .databases(unreachable_database(), db_config.clone())
        .env(&[
            ("CALLTRACK_SPOOL_DIR", &spool_dir),
            ("VOICE_DEADLINE_MS", "300"),
        ])
        .spawn()
        .await;
    let call = SimulatedCall::new("+14155550100", TRACKED_NUMBER, FORWARD_TO);

    let form = call.voice();
    let answers =
        futures::future::join_all((0..20).map(|_| outage.post_signed("/twilio/voice", &form)))
            .await;
    outage.stop().await;

    assert!(answers.iter().all(|a| a.status() == 200));
    let recovered = TestApp::builder()
        .databases(db_config.clone(), db_config)
        .env(&[("CALLTRACK_SPOOL_DIR", &spool_dir)])
        .spawn()
        .await;
    let replayed = "SELECT count(*) FROM spool_applied";
    assert_eq!(recovered.wait_for_count(replayed, 20, 10).await, 20);
    assert_eq!(
        recovered.count("SELECT count(*) FROM call_sessions").await,
        1
    );
    assert_eq!(
        recovered
            .count("SELECT count(*) FROM events WHERE event_type = 'call'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_replayed_segment_found_again_after_a_crash_applies_nothing_twice() {
    let db_config = test_database().await;
    let warm = TestApp::builder()
        .databases(db_config.clone(), db_config.clone())
        .spawn()
        .await;
    warm.seed_campaign().await;
    warm.wait_for_routing(TRACKED_NUMBER).await;
    let spool_dir = warm.spool_dir.clone();
    warm.stop().await;
    let outage = TestApp::builder()
        .databases(unreachable_database(), db_config.clone())
        .env(&[
            ("CALLTRACK_SPOOL_DIR", &spool_dir.display().to_string()),
            ("VOICE_DEADLINE_MS", "300"),
        ])
        .spawn()
        .await;
    let call = SimulatedCall::new("+14155550100", TRACKED_NUMBER, FORWARD_TO);
    outage.post_signed("/twilio/voice", &call.voice()).await;
    outage
        .post_signed("/twilio/recording", &call.recording(12))
        .await;
    outage.stop().await;
    // What a crash after the replay's commit but before the segment's removal leaves behind.
    let copy = spool_dir.with_extension("copy");
    copy_spool(&spool_dir, &copy);

    let first = TestApp::builder()
        .databases(db_config.clone(), db_config.clone())
        .env(&[("CALLTRACK_SPOOL_DIR", &spool_dir.display().to_string())])
        .spawn()
        .await;
    assert_eq!(
        first
            .wait_for_count("SELECT count(*) FROM spool_applied", 2, 10)
            .await,
        2
    );
    first.stop().await;
    let again = TestApp::builder()
        .databases(db_config.clone(), db_config)
        .env(&[("CALLTRACK_SPOOL_DIR", &copy.display().to_string())])
        .spawn()
        .await;
    for _ in 0..100 {
        if spool_segments(&again) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    assert_eq!(
        spool_segments(&again),
        0,
        "the old segment was read and removed"
    );
    assert_eq!(again.count("SELECT count(*) FROM spool_applied").await, 2);
    assert_eq!(again.count("SELECT count(*) FROM call_sessions").await, 1);
    assert_eq!(
        again
            .count("SELECT count(*) FROM events WHERE event_type = 'call'")
            .await,
        1
    );
}

fn copy_spool(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().to_string_lossy().ends_with(".spool") {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[tokio::test]
async fn a_call_to_a_number_the_routing_copy_never_knew_sends_twilio_to_the_fallback() {
    let db_config = test_database().await;
    let outage = TestApp::builder()
        .databases(unreachable_database(), db_config)
        .env(&[("VOICE_DEADLINE_MS", "300")])
        .spawn()
        .await;
    let call = SimulatedCall::new("+14155550100", TRACKED_NUMBER, FORWARD_TO);

    let answer = outage.post_signed("/twilio/voice", &call.voice()).await;

    assert_eq!(answer.status(), 503);
}

async fn scrape(app: &TestApp) -> prometheus_parse::Scrape {
    let text = app
        .http
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

fn value(scrape: &prometheus_parse::Scrape, name: &str) -> Option<f64> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .reduce(|a, b| a + b)
}

#[tokio::test]
async fn metrics_show_the_spool_filling_during_an_outage_and_draining_after_it() {
    let db_config = test_database().await;
    let warm = TestApp::builder()
        .databases(db_config.clone(), db_config.clone())
        .spawn()
        .await;
    warm.seed_campaign().await;
    warm.wait_for_routing(TRACKED_NUMBER).await;
    let spool_dir = warm.spool_dir.display().to_string();
    warm.stop().await;
    let outage = TestApp::builder()
        .databases(unreachable_database(), db_config.clone())
        .env(&[
            ("CALLTRACK_SPOOL_DIR", &spool_dir),
            ("VOICE_DEADLINE_MS", "300"),
        ])
        .spawn()
        .await;
    let call = SimulatedCall::new("+14155550100", TRACKED_NUMBER, FORWARD_TO);
    outage.post_signed("/twilio/voice", &call.voice()).await;
    outage
        .post_signed("/twilio/status", &call.parent_completed(20, Utc::now()))
        .await;

    let during = scrape(&outage).await;
    outage.stop().await;

    assert_eq!(value(&during, "calltrack_spool_depth"), Some(2.0));
    assert_eq!(value(&during, "calltrack_database_up"), Some(0.0));
    assert_eq!(value(&during, "calltrack_routing_numbers"), Some(1.0));
    let voice_fail_open = crate::fast::metrics::sample_value(
        &during,
        "calltrack_fail_open_answers_total",
        ("webhook", "voice"),
    );
    assert!(voice_fail_open >= Some(1.0), "{voice_fail_open:?}");

    let recovered = TestApp::builder()
        .databases(db_config.clone(), db_config)
        .env(&[("CALLTRACK_SPOOL_DIR", &spool_dir)])
        .spawn()
        .await;
    recovered
        .wait_for_count("SELECT count(*) FROM spool_applied", 2, 10)
        .await;
    let mut after = scrape(&recovered).await;
    for _ in 0..50 {
        if value(&after, "calltrack_spool_depth") == Some(0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        after = scrape(&recovered).await;
    }
    assert_eq!(value(&after, "calltrack_spool_depth"), Some(0.0));
    let applied = crate::fast::metrics::sample_value(
        &after,
        "calltrack_spool_replayed_total",
        ("outcome", "applied"),
    );
    assert!(applied >= Some(2.0), "{applied:?}");
}

/// Waits until `n` sessions wait for an advisory lock: a statement the test is holding.
async fn wait_for_lock_waiters(app: &TestApp, n: i64) {
    let waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted";
    assert_eq!(app.wait_for_count(waiting, n, 10).await, n, "lock waiters");
}

#[tokio::test]
async fn a_replayed_callback_parked_while_its_session_is_created_elsewhere_is_applied() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    // Every commit that parks a callback waits at COMMIT until the test lets it go.
    app.db
        .batch_execute(
            "CREATE FUNCTION hold_commit() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN PERFORM pg_advisory_lock(4711); PERFORM pg_advisory_unlock(4711); RETURN NULL; END $$;
             CREATE CONSTRAINT TRIGGER hold_parked_commit AFTER INSERT ON call_callbacks_parked
                 DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION hold_commit();",
        )
        .await
        .unwrap();
    let gate = calltrack::db::pool::connect(&app.db_config).await.unwrap();
    gate.execute("SELECT pg_advisory_lock(4711)", &[])
        .await
        .unwrap();
    let call = SimulatedCall::new("+14155550100", TRACKED_NUMBER, FORWARD_TO);
    let record = calltrack::spool::Record::new(
        calltrack::spool::RecordKind::Status,
        call.parent_completed(30, Utc::now()).pairs().to_vec(),
        Utc::now(),
    );
    let pool = calltrack::db::pool::pool(app.db_config.clone(), 2).unwrap();

    // Another instance replays the call's status: no session yet, so it parks it, and its
    // commit is held after its last look for the session.
    let replaying =
        tokio::spawn(async move { calltrack::app::replay::replay(&pool, &record).await });
    wait_for_lock_waiters(&app, 1).await;
    // Meanwhile the call itself arrives; the parked row is not committed, so it sees none.
    let voice = app.post_signed("/twilio/voice", &call.voice()).await;
    assert_eq!(voice.status(), 200);
    gate.execute("SELECT pg_advisory_unlock(4711)", &[])
        .await
        .unwrap();
    let replayed = replaying.await.unwrap().unwrap();

    assert_eq!(replayed, calltrack::app::replay::Replayed::Applied);
    let session = app.session(&call.call_sid).await;
    assert_eq!(session["call_status"], "completed", "{session}");
    assert_eq!(session["call_duration_seconds"], 30);
    assert_eq!(
        app.count("SELECT count(*) FROM call_callbacks_parked")
            .await,
        0,
        "nothing stranded"
    );
}

#[tokio::test]
async fn parked_callbacks_survive_a_voice_webhook_that_fails_open_while_applying_them() {
    let app = TestApp::builder()
        .env(&[("VOICE_DEADLINE_MS", "500")])
        .spawn()
        .await;
    app.seed_campaign().await;
    app.wait_for_routing(TRACKED_NUMBER).await;
    let call = SimulatedCall::new("+14155550100", TRACKED_NUMBER, FORWARD_TO);
    let early = app
        .post_signed("/twilio/status", &call.parent_completed(30, Utc::now()))
        .await;
    assert_eq!(early.status(), 204);
    assert_eq!(
        app.count("SELECT count(*) FROM call_callbacks_parked")
            .await,
        1
    );
    // Updates of sessions hang until the test lets them go: the voice webhook creates its
    // session, then runs out of time applying the parked callback to it.
    app.db
        .batch_execute(
            "CREATE FUNCTION hold_update() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN PERFORM pg_advisory_lock(4712); PERFORM pg_advisory_unlock(4712); RETURN NEW; END $$;
             CREATE TRIGGER hold_session_update BEFORE UPDATE ON call_sessions
                 FOR EACH ROW EXECUTE FUNCTION hold_update();",
        )
        .await
        .unwrap();
    let gate = calltrack::db::pool::connect(&app.db_config).await.unwrap();
    gate.execute("SELECT pg_advisory_lock(4712)", &[])
        .await
        .unwrap();

    let voice = app.post_signed("/twilio/voice", &call.voice()).await;
    assert_eq!(voice.status(), 200);
    assert!(voice.text().await.unwrap().contains("<Dial"));
    // The held update is cancelled by the statement timeout, not let through.
    wait_for_lock_waiters(&app, 0).await;
    gate.batch_execute(
        "SELECT pg_advisory_unlock(4712); DROP TRIGGER hold_session_update ON call_sessions",
    )
    .await
    .unwrap();

    let done = format!(
        "SELECT count(*) FROM call_sessions WHERE twilio_call_sid = '{}'
         AND call_status = 'completed' AND call_duration_seconds = 30",
        call.call_sid
    );
    assert_eq!(
        app.wait_for_count(&done, 1, 10).await,
        1,
        "{}",
        app.session(&call.call_sid).await
    );
    assert_eq!(
        app.count("SELECT count(*) FROM call_callbacks_parked")
            .await,
        0
    );
}

#[tokio::test]
async fn a_parked_callback_is_seen_applied_only_together_with_its_removal() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    app.wait_for_routing(TRACKED_NUMBER).await;
    let call = SimulatedCall::new("+14155550100", TRACKED_NUMBER, FORWARD_TO);
    let early = app
        .post_signed("/twilio/status", &call.parent_completed(30, Utc::now()))
        .await;
    assert_eq!(early.status(), 204);
    // Removing a parked callback waits until the test lets it go.
    app.db
        .batch_execute(
            "CREATE FUNCTION hold_delete() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN PERFORM pg_advisory_lock(4713); PERFORM pg_advisory_unlock(4713); RETURN OLD; END $$;
             CREATE TRIGGER hold_parked_delete BEFORE DELETE ON call_callbacks_parked
                 FOR EACH ROW EXECUTE FUNCTION hold_delete();",
        )
        .await
        .unwrap();
    let gate = calltrack::db::pool::connect(&app.db_config).await.unwrap();
    gate.execute("SELECT pg_advisory_lock(4713)", &[])
        .await
        .unwrap();

    let voice = {
        let app = &app;
        let body = call.voice();
        async move { app.post_signed("/twilio/voice", &body).await }
    };
    let applied = format!(
        "SELECT count(*) FROM call_sessions WHERE twilio_call_sid = '{}'
         AND call_status = 'completed'",
        call.call_sid
    );
    let held = async {
        // The removal is waiting at the gate: the callback it removes must not show yet.
        wait_for_lock_waiters(&app, 1).await;
        let seen_early = app.count(&applied).await;
        gate.execute("SELECT pg_advisory_unlock(4713)", &[])
            .await
            .unwrap();
        seen_early
    };
    let (voice, seen_early) = tokio::join!(voice, held);

    assert_eq!(voice.status(), 200);
    assert_eq!(
        seen_early, 0,
        "the parked callback's effect was visible while it was still parked"
    );
    assert_eq!(app.wait_for_count(&applied, 1, 10).await, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM call_callbacks_parked")
            .await,
        0
    );
}
