//! The routing copy is never older than what its process last answered or wrote: a number it
//! just forwarded a call for, or changed through its own API, is forwarded the same way when
//! the database goes away a moment later; and the screening and the dial action follow the
//! flow the voice answer used, on whichever instance they land.
//!
//! Most servers here poll the routing version once an hour, so the copy can only have
//! learned what it holds from the live path.

use std::time::Duration;

use calltrack::config::Settings;
use calltrack::twilio::simulated::SimulatedCall;
use chrono::Utc;
use serde_json::json;

use super::call_flow::url_in;
use crate::helpers::{FORWARD_TO, TRACKED_NUMBER, TestApp, test_database};
use crate::world::Auth;

const WHISPER: &str = "Call from the spring mailer.";

/// Loads the copy once at start and then never again within a test.
fn no_reload(settings: &mut Settings) {
    settings.routing_poll_interval = Duration::from_secs(3600);
}

/// A fail-open answer comes within this deadline, not the default 1.5 s.
const DEADLINE: (&str, &str) = ("VOICE_DEADLINE_MS", "300");

/// Waits until the server's first routing load is done (its snapshot is written).
async fn wait_for_first_load(app: &TestApp) {
    let path = app.spool_dir.join("routing.json");
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while !path.exists() {
        assert!(
            std::time::Instant::now() < until,
            "the routing copy never loaded"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The database stops for the server: its connections are cut and no new one is let in.
/// The test's own connection stays, to look at what was written.
async fn stop_database(app: &TestApp) {
    let name = app.db_config.get_dbname().unwrap();
    let ours: i32 = app
        .db
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let mut admin = app.db_config.clone();
    admin.dbname("postgres");
    let admin = calltrack::db::pool::connect(&admin).await.unwrap();
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {name} ALLOW_CONNECTIONS false;
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = '{name}' AND pid <> {ours};"
        ))
        .await
        .unwrap();
}

/// The database hangs for the voice webhook: the tracked numbers stay locked until the
/// returned client is dropped.
async fn hang_database(app: &TestApp) -> tokio_postgres::Client {
    let client = calltrack::db::pool::connect(&app.db_config).await.unwrap();
    client
        .batch_execute("BEGIN; LOCK TABLE tracked_phone_numbers IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    client
}

/// The answer to a new call to the tracked number, with its CallSid replaced by `CA…` so
/// answers to different calls compare.
async fn answer(app: &TestApp) -> (SimulatedCall, String) {
    let call = SimulatedCall::new("+14155550100", TRACKED_NUMBER, FORWARD_TO);
    let response = app.post_signed("/twilio/voice", &call.voice()).await;
    assert_eq!(response.status(), 200, "{}", app.address);
    let twiml = response.text().await.unwrap();
    let general = twiml.replace(&call.call_sid, "CA…");
    (call, general)
}

/// Follows the forward's `<Number url>` as Twilio does when the business picks up.
async fn screen(app: &TestApp, call: &SimulatedCall, forward: &str) -> String {
    let path = url_in(&forward.replace("CA…", &call.call_sid), "url");
    let response = app.post_signed(&path, &call.screen_request()).await;
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}

/// Asserts the database has no session of `call`: its answer came from the copy.
async fn assert_answered_without_the_database(app: &TestApp, call: &SimulatedCall) {
    let sessions: i64 = app
        .db
        .query_one(
            "SELECT count(*) FROM call_sessions WHERE twilio_call_sid = $1",
            &[&call.call_sid],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(sessions, 0, "the database took the call");
}

async fn manager(app: &TestApp, client_id: uuid::Uuid) -> Auth {
    Auth::user(
        app.seed_user(&["company_owner"], Some(client_id), None)
            .await,
    )
}

async fn client_of_tracked_number(app: &TestApp) -> uuid::Uuid {
    app.db
        .query_one(
            "SELECT c.client_id FROM tracked_phone_numbers t JOIN campaigns c ON c.id = t.campaign_id",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

async fn set_whisper(app: &TestApp, tracked_number_id: uuid::Uuid, auth: &Auth) {
    set_flow(app, tracked_number_id, auth, json!({ "whisper": WHISPER })).await;
}

async fn set_flow(
    app: &TestApp,
    tracked_number_id: uuid::Uuid,
    auth: &Auth,
    flow: serde_json::Value,
) {
    let (status, body) = app
        .api_patch(
            &format!("/api/v1/tracked-numbers/{tracked_number_id}"),
            auth,
            &flow,
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// Two instances on one database that never reload their copies, and a manager of the
/// tracked number's client.
async fn two_instances() -> (TestApp, TestApp, uuid::Uuid, Auth) {
    let db_config = test_database().await;
    let one = TestApp::builder()
        .databases(db_config.clone(), db_config.clone())
        .tune(no_reload)
        .spawn()
        .await;
    let other = TestApp::builder()
        .databases(db_config.clone(), db_config)
        .tune(no_reload)
        .spawn()
        .await;
    let campaign = one.seed_campaign().await;
    let auth = manager(&one, client_of_tracked_number(&one).await).await;
    (one, other, campaign.tracked_number_id, auth)
}

/// Posts the forward's `<Dial action>` with `dial_status` as Twilio does when the forwarded
/// leg ends.
async fn dial_complete(
    app: &TestApp,
    call: &SimulatedCall,
    forward: &str,
    dial_status: &str,
) -> String {
    let path = url_in(&forward.replace("CA…", &call.call_sid), "action");
    let response = app
        .post_signed(&path, &call.dial_action(dial_status, 0, false))
        .await;
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}

#[tokio::test]
async fn a_number_seeded_by_sql_and_called_once_still_forwards_when_the_database_stops_at_once() {
    let app = TestApp::builder()
        .env(&[DEADLINE])
        .tune(no_reload)
        .spawn()
        .await;
    wait_for_first_load(&app).await;
    // After the only load: the copy can learn the number from the call alone.
    app.seed_campaign().await;
    let (_, live) = answer(&app).await;
    assert!(live.contains(FORWARD_TO), "{live}");

    stop_database(&app).await;
    let (call, failed_open) = answer(&app).await;

    assert_eq!(failed_open, live, "forwarded exactly as a moment before");
    assert_answered_without_the_database(&app, &call).await;
}

#[tokio::test]
async fn a_number_switched_off_and_called_once_is_not_forwarded_when_the_database_stops() {
    let app = TestApp::builder()
        .env(&[DEADLINE])
        .tune(no_reload)
        .spawn()
        .await;
    app.seed_campaign().await;
    let (_, forwarded) = answer(&app).await;
    assert!(forwarded.contains(FORWARD_TO), "{forwarded}");
    app.db
        .execute("UPDATE tracked_phone_numbers SET is_active = false", &[])
        .await
        .unwrap();
    let (_, switched_off) = answer(&app).await;
    assert!(!switched_off.contains("<Dial"), "{switched_off}");

    stop_database(&app).await;
    let (call, failed_open) = answer(&app).await;

    assert_eq!(failed_open, switched_off);
    assert_answered_without_the_database(&app, &call).await;
}

#[tokio::test]
async fn a_number_learned_from_a_call_is_forwarded_after_a_restart_during_an_outage() {
    let db_config = test_database().await;
    let first = TestApp::builder()
        .databases(db_config.clone(), db_config.clone())
        .tune(no_reload)
        .spawn()
        .await;
    wait_for_first_load(&first).await;
    first.seed_campaign().await;
    let (_, live) = answer(&first).await;
    let spool_dir = first.spool_dir.display().to_string();
    first.stop().await;

    let unreachable = "postgres://postgres@127.0.0.1:1/postgres".parse().unwrap();
    let restarted = TestApp::builder()
        .databases(unreachable, db_config)
        .env(&[("CALLTRACK_SPOOL_DIR", &spool_dir), DEADLINE])
        .tune(no_reload)
        .spawn()
        .await;
    let (_, failed_open) = answer(&restarted).await;

    assert_eq!(failed_open, live);
}

#[tokio::test]
async fn a_whisper_patched_and_called_within_the_same_millisecond_screens_with_gather() {
    let app = TestApp::builder().tune(no_reload).spawn().await;
    wait_for_first_load(&app).await;
    let campaign = app.seed_campaign().await;
    let auth = manager(&app, client_of_tracked_number(&app).await).await;

    set_whisper(&app, campaign.tracked_number_id, &auth).await;
    let (call, forward) = answer(&app).await;
    let screening = screen(&app, &call, &forward).await;

    assert!(
        screening.contains("<Gather") && screening.contains(WHISPER),
        "{screening}"
    );
}

#[tokio::test]
async fn a_change_made_through_the_api_is_in_the_copy_before_the_request_answers() {
    let app = TestApp::builder()
        .env(&[DEADLINE])
        .tune(no_reload)
        .spawn()
        .await;
    wait_for_first_load(&app).await;
    // Never loaded nor called: only the API's change can teach the copy this number.
    let campaign = app.seed_campaign().await;
    let auth = manager(&app, client_of_tracked_number(&app).await).await;

    set_whisper(&app, campaign.tracked_number_id, &auth).await;
    let _hung = hang_database(&app).await;
    let (call, forward) = answer(&app).await;
    let screening = screen(&app, &call, &forward).await;

    assert_answered_without_the_database(&app, &call).await;
    assert!(forward.contains(FORWARD_TO), "{forward}");
    assert!(
        screening.contains("<Gather") && screening.contains(WHISPER),
        "{screening}"
    );
}

#[tokio::test]
async fn a_change_made_through_one_instance_is_used_by_the_others_next_poll() {
    let db_config = test_database().await;
    let one = TestApp::builder()
        .databases(db_config.clone(), db_config.clone())
        .spawn()
        .await;
    let other = TestApp::builder()
        .databases(db_config.clone(), db_config)
        .env(&[DEADLINE])
        .spawn()
        .await;
    let campaign = one.seed_campaign().await;
    other.wait_for_routing(TRACKED_NUMBER).await;
    let auth = manager(&one, client_of_tracked_number(&one).await).await;

    set_whisper(&one, campaign.tracked_number_id, &auth).await;
    // Its poll, not a call: nothing has been asked of the other instance yet.
    other.wait_for_routing(WHISPER).await;
    let _hung = hang_database(&other).await;
    let (call, forward) = answer(&other).await;
    let screening = screen(&other, &call, &forward).await;

    assert_answered_without_the_database(&other, &call).await;
    assert!(
        screening.contains("<Gather") && screening.contains(WHISPER),
        "{screening}"
    );
}

#[tokio::test]
async fn an_instance_never_answers_a_call_with_a_flow_older_than_its_own_last_answer() {
    let db_config = test_database().await;
    let one = TestApp::builder()
        .databases(db_config.clone(), db_config.clone())
        .tune(no_reload)
        .spawn()
        .await;
    let campaign = one.seed_campaign().await;
    let other = TestApp::builder()
        .databases(db_config.clone(), db_config)
        .env(&[DEADLINE])
        .tune(no_reload)
        .spawn()
        .await;
    // The other instance loads the number once, without a whisper, and never reloads.
    other.wait_for_routing(TRACKED_NUMBER).await;
    let auth = manager(&one, client_of_tracked_number(&one).await).await;
    set_whisper(&one, campaign.tracked_number_id, &auth).await;

    // Answered by the other instance from the database, with the whisper its copy lacked;
    // and one answered by the first instance, screened by the other.
    let (_, live) = answer(&other).await;
    let (elsewhere, forwarded_elsewhere) = answer(&one).await;
    let screened_here = screen(&other, &elsewhere, &forwarded_elsewhere).await;
    let _hung = hang_database(&other).await;
    let (later, failed_open) = answer(&other).await;
    let screening = screen(&other, &later, &failed_open).await;

    assert!(live.contains("whisper="), "{live}");
    assert_eq!(
        failed_open, live,
        "the flow of its last answer, not its load"
    );
    assert_answered_without_the_database(&other, &later).await;
    for screening in [screening, screened_here] {
        assert!(
            screening.contains("<Gather") && screening.contains(WHISPER),
            "{screening}"
        );
    }
}

#[tokio::test]
async fn a_screening_url_that_does_not_carry_the_whisper_screens_from_the_routing_copy() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    app.db
        .execute(
            &format!("UPDATE tracked_phone_numbers SET whisper = '{WHISPER}'"),
            &[],
        )
        .await
        .unwrap();
    app.wait_for_routing(WHISPER).await;
    let call = SimulatedCall::new("+14155550100", TRACKED_NUMBER, FORWARD_TO);

    // As built for calls forwarded before the whisper travelled in the URL.
    let path = format!(
        "/twilio/screen?number=%2B18005550123&parent={}",
        call.call_sid
    );
    let response = app.post_signed(&path, &call.screen_request()).await;
    let screening = response.text().await.unwrap();

    assert!(
        screening.contains("<Gather") && screening.contains(WHISPER),
        "{screening}"
    );
}

const FIRST_GREETING: &str = "Acme Roofing, first flow. Leave a message.";
const CHANGED_GREETING: &str = "Acme Roofing, changed flow. Leave a message.";

#[tokio::test]
async fn a_dial_action_on_another_instance_offers_the_voicemail_the_call_was_answered_with() {
    let (one, other, number, auth) = two_instances().await;
    let first = json!({ "voicemail": true, "voicemail_greeting": FIRST_GREETING });
    set_flow(&one, number, &auth, first).await;
    let (call, forward) = answer(&one).await;

    // Changed through the other instance while the call rings: its copy has the change.
    let changed = json!({ "voicemail": false, "voicemail_greeting": CHANGED_GREETING });
    set_flow(&other, number, &auth, changed).await;
    let after = dial_complete(&other, &call, &forward, "no-answer").await;

    assert!(
        after.contains("<Record") && after.contains(FIRST_GREETING),
        "{after}"
    );
    assert!(!after.contains(CHANGED_GREETING), "{after}");
}

#[tokio::test]
async fn a_dial_action_on_another_instance_offers_no_voicemail_when_the_call_was_answered_without()
{
    let (one, other, number, auth) = two_instances().await;
    set_flow(&one, number, &auth, json!({ "voicemail": false })).await;
    let (call, forward) = answer(&one).await;

    let changed = json!({ "voicemail": true, "voicemail_greeting": CHANGED_GREETING });
    set_flow(&other, number, &auth, changed).await;
    let after = dial_complete(&other, &call, &forward, "no-answer").await;

    assert!(
        after.contains("<Hangup/>") && !after.contains("<Record"),
        "{after}"
    );
}

#[tokio::test]
async fn a_screened_call_nobody_accepted_goes_to_voicemail_after_the_whisper_was_removed_elsewhere()
{
    let (one, other, number, auth) = two_instances().await;
    set_whisper(&one, number, &auth).await;
    let (call, forward) = answer(&one).await;
    // The business's own voicemail picked up the leg and pressed nothing.
    one.post_signed("/twilio/status", &call.child_completed(9, Utc::now()))
        .await;

    set_flow(&other, number, &auth, json!({ "whisper": null })).await;
    let after = dial_complete(&other, &call, &forward, "completed").await;

    assert!(
        after.contains("<Record") && after.contains(calltrack::domain::DEFAULT_VOICEMAIL_GREETING),
        "a completed leg nobody accepted is not a call taken: {after}"
    );
}

#[tokio::test]
async fn a_dial_action_url_that_does_not_carry_the_flow_follows_the_routing_copy() {
    let (one, other, number, auth) = two_instances().await;
    let (call, _) = answer(&one).await;
    let changed = json!({ "voicemail": true, "voicemail_greeting": CHANGED_GREETING });
    set_flow(&other, number, &auth, changed).await;

    // As built for calls forwarded before the flow travelled in the URL.
    let response = other
        .post_signed("/twilio/dial-complete", &call.dial_action("busy", 0, false))
        .await;
    let after = response.text().await.unwrap();

    assert!(
        after.contains("<Record") && after.contains(CHANGED_GREETING),
        "{after}"
    );
}
