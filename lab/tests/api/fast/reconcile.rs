//! Reconciliation against a stand-in for Twilio's call log that pages as Twilio does.

use calltrack::app::reconcile::{self, ReconcileReport, Run, RunOutcome};
use calltrack::db::{self, PgPool};
use calltrack::twilio::client::TwilioClient;
use calltrack::twilio::form::FormPairs;
use chrono::{DateTime, Duration, TimeZone as _, Utc};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{AUTH_TOKEN, FORWARD_TO, TRACKED_NUMBER, TestApp, conninfo, settings_with};

const ACCOUNT: &str = "ACae6d5b1f2c3e4d5a6b7c8d9e0f1a2b3c";
const CALLER: &str = "+14155550100";

fn calls_path() -> String {
    format!("/2010-04-01/Accounts/{ACCOUNT}/Calls.json")
}

fn sid(n: u32) -> String {
    format!("CA{n:032x}")
}

/// Now, to the second: Twilio's times carry no fractions.
fn now() -> DateTime<Utc> {
    Utc.timestamp_opt(Utc::now().timestamp(), 0).unwrap()
}

fn rfc2822(at: DateTime<Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

/// One call of the log as Twilio lists it.
struct Listed<'a> {
    sid: &'a str,
    parent: Option<&'a str>,
    to: &'a str,
    from: &'a str,
    status: &'a str,
    direction: &'a str,
    start: DateTime<Utc>,
    /// Seconds, for a call that has ended.
    duration: Option<i64>,
    /// Seconds from `start` to the end; a dialled leg rings before its duration counts.
    ended_after: Option<i64>,
}

impl Listed<'_> {
    fn json(&self) -> Value {
        let live = matches!(self.status, "queued" | "ringing" | "in-progress");
        let duration = self.duration.filter(|_| !live);
        let end = self.ended_after.filter(|_| !live);
        json!({
            "sid": self.sid,
            "account_sid": ACCOUNT,
            "parent_call_sid": self.parent,
            "to": self.to,
            "to_formatted": self.to,
            "from": self.from,
            "from_formatted": self.from,
            "status": self.status,
            "direction": self.direction,
            "start_time": rfc2822(self.start),
            "end_time": end.map(|d| rfc2822(self.start + Duration::seconds(d))),
            "date_created": rfc2822(self.start - Duration::seconds(1)),
            "duration": duration.map(|d| d.to_string()),
            "price": null,
            "price_unit": "USD",
            "answered_by": null,
            "api_version": "2010-04-01",
            "uri": format!("/2010-04-01/Accounts/{ACCOUNT}/Calls/{}.json", self.sid),
        })
    }
}

/// An inbound call to the tracked number from `from`.
fn inbound<'a>(
    sid: &'a str,
    from: &'a str,
    status: &'a str,
    start: DateTime<Utc>,
    duration: Option<i64>,
) -> Listed<'a> {
    Listed {
        sid,
        parent: None,
        to: TRACKED_NUMBER,
        from,
        status,
        direction: "inbound",
        start,
        duration,
        ended_after: duration,
    }
}

/// The forwarded leg of `parent`, dialled at `dialled`, ringing `ring` seconds, then
/// lasting `talk` seconds if answered. Twilio's `start_time` of a dialled leg is when it was
/// dialled; its `duration` counts from the answer.
fn forwarded<'a>(
    sid: &'a str,
    parent: &'a str,
    status: &'a str,
    dialled: DateTime<Utc>,
    ring: i64,
    talk: Option<i64>,
) -> Listed<'a> {
    Listed {
        sid,
        parent: Some(parent),
        to: FORWARD_TO,
        from: TRACKED_NUMBER,
        status,
        direction: "outbound-dial",
        start: dialled,
        duration: Some(talk.unwrap_or(0)),
        ended_after: Some(ring + talk.unwrap_or(0)),
    }
}

fn page(calls: &[Listed<'_>], number: u32, next_uri: Option<String>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "calls": calls.iter().map(Listed::json).collect::<Vec<_>>(),
        "first_page_uri": format!("{}?PageSize=100&Page=0", calls_path()),
        "next_page_uri": next_uri,
        "previous_page_uri": null,
        "page": number,
        "page_size": 100,
        "start": number * 100,
        "end": number * 100 + u32::try_from(calls.len()).unwrap(),
        "uri": format!("{}?PageSize=100&Page={number}", calls_path()),
    }))
}

/// Mounts the log of the tracked number since `since`'s date as consecutive pages, each
/// after the first reached only through the previous page's `next_page_uri`, each expected
/// exactly `times`.
async fn mount_log(
    twilio: &MockServer,
    since: DateTime<Utc>,
    pages: &[Vec<Listed<'_>>],
    times: u64,
) {
    let date = since.format("%Y-%m-%d").to_string();
    let next_uri = |n: usize| {
        (n < pages.len()).then(|| {
            format!(
                "{}?To=%2B{}&StartTime%3E={date}&PageSize=100&Page={n}&PageToken=PA{n:032x}",
                calls_path(),
                &TRACKED_NUMBER[1..]
            )
        })
    };
    for (n, calls) in pages.iter().enumerate() {
        let number = u32::try_from(n).unwrap();
        let mock = Mock::given(method("GET"))
            .and(path(calls_path()))
            .and(query_param("To", TRACKED_NUMBER))
            .and(query_param("StartTime>", date.as_str()))
            .and(query_param("PageSize", "100"));
        let mock = if n == 0 {
            mock.and(query_param_is_missing("PageToken"))
        } else {
            mock.and(query_param("PageToken", format!("PA{n:032x}")))
        };
        mock.respond_with(page(calls, number, next_uri(n + 1)))
            .expect(times)
            .named(format!("page {n} of the tracked number's calls"))
            .mount(twilio)
            .await;
    }
}

/// Mounts the forwarded legs of `parent`, expected exactly `times`.
async fn mount_children(twilio: &MockServer, parent: &str, children: &[Listed<'_>], times: u64) {
    Mock::given(method("GET"))
        .and(path(calls_path()))
        .and(query_param("ParentCallSid", parent))
        .respond_with(page(children, 0, None))
        .expect(times)
        .named(format!("the forwarded legs of {parent}"))
        .mount(twilio)
        .await;
}

/// Any other listing (the legs of a parent nobody mounted) is empty.
async fn mount_empty_otherwise(twilio: &MockServer) {
    Mock::given(method("GET"))
        .and(path(calls_path()))
        .respond_with(page(&[], 0, None))
        .with_priority(10)
        .mount(twilio)
        .await;
}

fn client_of(twilio: &MockServer) -> TwilioClient {
    let settings = settings_with(&[("TWILIO_API_BASE_URL", &twilio.uri())]);
    TwilioClient::new(&settings.twilio).unwrap()
}

fn pool_of(app: &TestApp) -> PgPool {
    db::pool::pool(app.db_config.clone(), 4).unwrap()
}

async fn reconcile_window(app: &TestApp, since: DateTime<Utc>) -> ReconcileReport {
    reconcile::reconcile(
        &pool_of(app),
        &client_of(&app.twilio),
        since,
        now() + Duration::minutes(1),
    )
    .await
    .unwrap()
}

struct Row {
    status: String,
    match_status: String,
    recipient_id: Option<uuid::Uuid>,
    started_at: Option<DateTime<Utc>>,
    answered_at: Option<DateTime<Utc>>,
    ended_at: Option<DateTime<Utc>>,
    duration: Option<i32>,
    talk: Option<i32>,
}

async fn row(app: &TestApp, call_sid: &str) -> Row {
    let r = app
        .db
        .query_one(
            "SELECT call_status, match_status, recipient_id, call_started_at, call_answered_at,
                    call_ended_at, call_duration_seconds, talk_seconds
             FROM call_sessions WHERE twilio_call_sid = $1",
            &[&call_sid],
        )
        .await
        .unwrap();
    Row {
        status: r.get(0),
        match_status: r.get(1),
        recipient_id: r.get(2),
        started_at: r.get(3),
        answered_at: r.get(4),
        ended_at: r.get(5),
        duration: r.get(6),
        talk: r.get(7),
    }
}

/// Every session's columns but `updated_at`, which any guarded update touches.
async fn sessions_snapshot(app: &TestApp) -> Vec<Value> {
    app.db
        .query(
            "SELECT to_jsonb(s) - 'updated_at' FROM call_sessions s ORDER BY twilio_call_sid",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

async fn post_ok(app: &TestApp, path: &str, form: &FormPairs) {
    let response = app.post_signed(path, form).await;
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
}

#[tokio::test]
async fn reconcile_pages_through_the_log_and_creates_the_sessions_never_received() {
    let app = TestApp::spawn().await;
    let campaign = app.seed_campaign().await;
    let recipient = app.seed_recipient(&campaign, "(415) 555-0100").await;
    let since = now() - Duration::hours(2);
    let (a, b, c, d, unreadable) = (sid(0xa), sid(0xb), sid(0xc), sid(0xd), sid(0xe));
    let a_start = now() - Duration::minutes(90);
    mount_log(
        &app.twilio,
        since,
        &[
            vec![
                inbound(&a, CALLER, "completed", a_start, Some(42)),
                inbound(
                    &b,
                    "+14155550111",
                    "in-progress",
                    now() - Duration::minutes(3),
                    None,
                ),
            ],
            vec![
                inbound(
                    &c,
                    "+14155550122",
                    "no-answer",
                    now() - Duration::minutes(60),
                    Some(0),
                ),
                // A status this service cannot read: skipped, not fatal to the page.
                inbound(
                    &unreadable,
                    CALLER,
                    "exploded",
                    now() - Duration::minutes(50),
                    None,
                ),
            ],
            vec![inbound(
                &d,
                "anonymous",
                "busy",
                now() - Duration::minutes(20),
                Some(0),
            )],
        ],
        1,
    )
    .await;
    mount_empty_otherwise(&app.twilio).await;

    let report = reconcile_window(&app, since).await;

    app.twilio.verify().await;
    assert_eq!(
        report,
        ReconcileReport {
            calls_seen: 4,
            sessions_created: 4,
            statuses_completed: 3,
            children_applied: 0,
        }
    );
    let matched = row(&app, &a).await;
    assert_eq!(matched.status, "completed");
    assert_eq!(matched.match_status, "matched");
    assert_eq!(matched.recipient_id, Some(recipient));
    assert_eq!(
        matched.started_at,
        Some(a_start),
        "dated at Twilio's start_time"
    );
    assert_eq!(matched.ended_at, Some(a_start + Duration::seconds(42)));
    assert_eq!(matched.duration, Some(42));
    let event_at: DateTime<Utc> = app
        .db
        .query_one(
            "SELECT created_at FROM events WHERE event_type = 'call' AND event_data->>'call_sid' = $1",
            &[&a],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        event_at, a_start,
        "the call event is dated when the call began"
    );
    let live = row(&app, &b).await;
    assert_eq!(
        live.status, "in-progress",
        "a live call gets its session, not an end"
    );
    assert_eq!(live.match_status, "unmatched");
    assert_eq!(live.ended_at, None);
    assert_eq!(row(&app, &c).await.status, "no-answer");
    assert_eq!(row(&app, &d).await.status, "busy");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM call_sessions WHERE twilio_call_sid = '{unreadable}'"
        ))
        .await,
        0
    );
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE event_type = 'call'")
            .await,
        4
    );
}

#[tokio::test]
async fn a_session_stuck_at_ringing_gets_its_final_status_and_its_forwarded_leg_the_talk_time() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let call = app.start_call(CALLER).await;
    let since = now() - Duration::hours(1);
    let start = now() - Duration::minutes(10);
    let child = sid(0xc1);
    mount_log(
        &app.twilio,
        since,
        &[vec![inbound(
            &call.call_sid,
            CALLER,
            "completed",
            start,
            Some(60),
        )]],
        1,
    )
    .await;
    // Dialled 3 s into the call, answered 10 s later, 45 s of talk: ends 2 s before the parent.
    let dialled = start + Duration::seconds(3);
    mount_children(
        &app.twilio,
        &call.call_sid,
        &[forwarded(
            &child,
            &call.call_sid,
            "completed",
            dialled,
            10,
            Some(45),
        )],
        1,
    )
    .await;

    let report = reconcile_window(&app, since).await;

    assert_eq!(
        report,
        ReconcileReport {
            calls_seen: 1,
            sessions_created: 0,
            statuses_completed: 1,
            children_applied: 1,
        }
    );
    let session = row(&app, &call.call_sid).await;
    assert_eq!(session.status, "completed");
    assert_eq!(session.duration, Some(60));
    assert_eq!(session.talk, Some(45));
    assert_eq!(session.answered_at, Some(dialled + Duration::seconds(10)));
    assert_eq!(session.ended_at, Some(start + Duration::seconds(60)));
    assert_eq!(
        app.count("SELECT count(*) FROM events").await,
        1,
        "no second call event"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM call_sessions").await,
        1,
        "a leg gets no session"
    );
}

#[tokio::test]
async fn a_session_already_completed_is_left_as_it_is() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let call = app.start_call(CALLER).await;
    let ended = now() - Duration::minutes(1);
    post_ok(&app, "/twilio/status", &call.parent_completed(48, ended)).await;
    let before = sessions_snapshot(&app).await;
    let since = now() - Duration::hours(1);
    // A stale or contradictory log line must not move a finished session.
    mount_log(
        &app.twilio,
        since,
        &[vec![inbound(
            &call.call_sid,
            CALLER,
            "busy",
            now() - Duration::minutes(5),
            Some(7),
        )]],
        1,
    )
    .await;
    mount_children(&app.twilio, &call.call_sid, &[], 0).await;

    let report = reconcile_window(&app, since).await;

    app.twilio.verify().await;
    assert_eq!(report.calls_seen, 1);
    assert_eq!(report.statuses_completed, 0);
    assert_eq!(sessions_snapshot(&app).await, before);
    let session = row(&app, &call.call_sid).await;
    assert_eq!(session.status, "completed");
    assert_eq!(session.duration, Some(48));
    assert_eq!(
        app.count("SELECT count(*) FROM events").await,
        1,
        "no second call event"
    );
}

#[tokio::test]
async fn outbound_calls_forwarded_legs_and_calls_before_the_window_create_no_session() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let since = now() - Duration::minutes(30);
    let (outbound, leg, parent, early) = (sid(1), sid(2), sid(3), sid(4));
    mount_log(
        &app.twilio,
        since,
        &[vec![
            Listed {
                direction: "outbound-api",
                ..inbound(
                    &outbound,
                    "+14155550100",
                    "completed",
                    now() - Duration::minutes(5),
                    Some(30),
                )
            },
            // A leg dialled to the tracked number from another call (say, a forward to it).
            Listed {
                to: TRACKED_NUMBER,
                ..forwarded(
                    &leg,
                    &parent,
                    "completed",
                    now() - Duration::minutes(4),
                    5,
                    Some(20),
                )
            },
            inbound(
                &early,
                CALLER,
                "completed",
                since - Duration::seconds(1),
                Some(30),
            ),
        ]],
        1,
    )
    .await;

    let report = reconcile_window(&app, since).await;

    assert_eq!(
        report.calls_seen, 2,
        "the call before the window is not even seen"
    );
    assert_eq!(report.sessions_created, 0);
    assert_eq!(app.count("SELECT count(*) FROM call_sessions").await, 0);
    assert_eq!(app.count("SELECT count(*) FROM events").await, 0);
}

#[tokio::test]
async fn running_reconciliation_twice_changes_nothing_the_second_time() {
    let app = TestApp::spawn().await;
    let campaign = app.seed_campaign().await;
    app.seed_recipient(&campaign, CALLER).await;
    let since = now() - Duration::hours(3);
    let (answered, missed, leg, missed_leg) = (sid(0xa1), sid(0xa2), sid(0xa3), sid(0xa4));
    let start = now() - Duration::hours(2);
    mount_log(
        &app.twilio,
        since,
        &[
            vec![inbound(&answered, CALLER, "completed", start, Some(80))],
            vec![inbound(
                &missed,
                "+14155550133",
                "completed",
                start,
                Some(25),
            )],
        ],
        2,
    )
    .await;
    // Each forwarded leg is read once: the second run finds both sessions final.
    let dialled = start + Duration::seconds(2);
    mount_children(
        &app.twilio,
        &answered,
        &[forwarded(
            &leg,
            &answered,
            "completed",
            dialled,
            8,
            Some(60),
        )],
        1,
    )
    .await;
    mount_children(
        &app.twilio,
        &missed,
        &[forwarded(
            &missed_leg,
            &missed,
            "no-answer",
            dialled,
            20,
            None,
        )],
        1,
    )
    .await;

    let first = reconcile_window(&app, since).await;
    let after_first = sessions_snapshot(&app).await;
    let second = reconcile_window(&app, since).await;

    app.twilio.verify().await;
    assert_eq!(
        first,
        ReconcileReport {
            calls_seen: 2,
            sessions_created: 2,
            statuses_completed: 2,
            children_applied: 2,
        }
    );
    assert_eq!(
        second,
        ReconcileReport {
            calls_seen: 2,
            ..ReconcileReport::default()
        }
    );
    assert_eq!(sessions_snapshot(&app).await, after_first);
    assert_eq!(app.count("SELECT count(*) FROM call_sessions").await, 2);
    assert_eq!(app.count("SELECT count(*) FROM events").await, 2);
    assert_eq!(row(&app, &answered).await.talk, Some(60));
    assert_eq!(
        row(&app, &missed).await.status,
        "no-answer",
        "an unanswered forward is a miss, as live"
    );
}

#[tokio::test]
async fn a_second_instance_skips_while_another_one_reconciles() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let holder = db::pool::connect(&app.db_config).await.unwrap();
    holder
        .execute("SELECT pg_advisory_lock($1)", &[&db::reconcile::LOCK_KEY])
        .await
        .unwrap();
    let (pool, twilio) = (pool_of(&app), client_of(&app.twilio));
    mount_empty_otherwise(&app.twilio).await;

    let busy = reconcile::run(&pool, &twilio, Run::StartUp).await.unwrap();
    holder
        .execute("SELECT pg_advisory_unlock($1)", &[&db::reconcile::LOCK_KEY])
        .await
        .unwrap();
    let requests_while_busy = app.twilio.received_requests().await.unwrap().len();
    let ran = reconcile::run(&pool, &twilio, Run::StartUp).await.unwrap();

    assert_eq!(busy, RunOutcome::Busy);
    assert_eq!(
        requests_while_busy, 0,
        "the skipped run asked Twilio nothing"
    );
    assert!(matches!(ran, RunOutcome::Ran { .. }), "{ran:?}");
    assert_eq!(app.count("SELECT count(*) FROM reconcile_runs").await, 1);
    let unlocked: bool = holder
        .query_one(
            "SELECT pg_try_advisory_lock($1)",
            &[&db::reconcile::LOCK_KEY],
        )
        .await
        .unwrap()
        .get(0);
    assert!(unlocked, "the run released its lock");
}

#[tokio::test]
async fn serve_reconciles_on_start_the_last_day_then_the_time_since_the_last_run() {
    let first = TestApp::builder()
        .env(&[("RECONCILE_ON_START", "true")])
        .spawn()
        .await;
    let finished =
        "SELECT count(*) FROM reconcile_runs WHERE kind = 'serve' AND finished_at IS NOT NULL";
    assert_eq!(first.wait_for_count(finished, 1, 20).await, 1);
    let (start, end): (DateTime<Utc>, DateTime<Utc>) = {
        let r = first
            .db
            .query_one("SELECT window_start, window_end FROM reconcile_runs", &[])
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(
        end - start,
        Duration::hours(24),
        "no run before: the last day"
    );
    first.seed_campaign().await;
    // A second instance starting later, against Twilio's log of a call it never received.
    let twilio = MockServer::start().await;
    let missed = sid(0xf1);
    let since = end - Duration::minutes(5);
    mount_log(
        &twilio,
        since,
        &[vec![inbound(
            &missed,
            CALLER,
            "completed",
            now() - Duration::seconds(30),
            Some(12),
        )]],
        1,
    )
    .await;
    mount_empty_otherwise(&twilio).await;
    let uri = twilio.uri();

    let second = TestApp::builder()
        .databases(first.db_config.clone(), first.db_config.clone())
        .env(&[
            ("RECONCILE_ON_START", "true"),
            ("TWILIO_API_BASE_URL", &uri),
        ])
        .spawn()
        .await;

    assert_eq!(second.wait_for_count(finished, 2, 20).await, 2);
    let r = second
        .db
        .query_one(
            "SELECT window_start, calls_seen, sessions_created, statuses_completed
             FROM reconcile_runs ORDER BY id DESC LIMIT 1",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        r.get::<_, DateTime<Utc>>(0),
        since,
        "from the last run's end less 5 minutes"
    );
    assert_eq!(
        (
            r.get::<_, Option<i32>>(1),
            r.get::<_, Option<i32>>(2),
            r.get::<_, Option<i32>>(3)
        ),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(row(&second, &missed).await.status, "completed");
    twilio.verify().await;
    second.stop().await;
    first.stop().await;
}

fn reconcile_command(app: &TestApp, since: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(calltrack_lab::calltrack_binary().unwrap());
    command
        .args(["reconcile", "--since", since])
        .env("DATABASE_URL", conninfo(&app.db_config))
        .env("TWILIO_ACCOUNT_SID", ACCOUNT)
        .env("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
        .env("TWILIO_API_BASE_URL", app.twilio.uri())
        .env("LOG_FORMAT", "json")
        // Reconciling needs neither the JWT secret nor the gift-card key.
        .env_remove("JWT_SECRET")
        .env_remove("GIFT_CARD_KEY");
    command
}

#[tokio::test]
async fn the_reconcile_command_prints_its_report_one_count_a_line() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    let since = now() - Duration::hours(2);
    let missed = sid(0xe1);
    mount_log(
        &app.twilio,
        since,
        &[vec![inbound(
            &missed,
            CALLER,
            "completed",
            now() - Duration::minutes(15),
            Some(33),
        )]],
        1,
    )
    .await;
    mount_empty_otherwise(&app.twilio).await;

    let output = reconcile_command(&app, "2h").output().await.unwrap();

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in [
        "calls seen: 1",
        "sessions created: 1",
        "statuses completed: 1",
        "children applied: 0",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "{line} missing from:\n{stdout}"
        );
    }
    assert_eq!(row(&app, &missed).await.duration, Some(33));
    assert_eq!(
        app.count(
            "SELECT count(*) FROM reconcile_runs WHERE kind = 'cli' AND finished_at IS NOT NULL"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn the_reconcile_command_fails_clearly_when_twilio_refuses() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    Mock::given(method("GET"))
        .and(path(calls_path()))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "code": 20003,
            "message": "Authenticate",
            "more_info": "https://www.twilio.com/docs/errors/20003",
            "status": 401,
        })))
        .mount(&app.twilio)
        .await;

    let refused = reconcile_command(&app, "30m").output().await.unwrap();
    let unreadable = reconcile_command(&app, "two hours").output().await.unwrap();

    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("Twilio answered HTTP 401 with error 20003"),
        "{stderr}"
    );
    let r = app
        .db
        .query_one("SELECT finished_at IS NULL, error FROM reconcile_runs", &[])
        .await
        .unwrap();
    assert!(r.get::<_, bool>(0), "a failed run is not finished");
    assert!(r.get::<_, Option<String>>(1).unwrap().contains("20003"));
    assert!(!unreadable.status.success());
    assert!(
        String::from_utf8_lossy(&unreadable.stderr).contains("30m, 2h, 3d"),
        "{}",
        String::from_utf8_lossy(&unreadable.stderr)
    );
}
