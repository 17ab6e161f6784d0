//! Calls always connect, proven by breaking things for real: each test owns a private
//! PostgreSQL cluster it stops or freezes, and `calltrack serve` child processes it kills
//! and restarts, and plays whole calls (every webhook, signed, from Twilio's fixtures)
//! against them. Afterwards the database must hold everything the client saw answered,
//! exactly once.

use std::time::Duration;

use calltrack::db::embedded::StopMode;
use calltrack::twilio::simulated::SimulatedCall;
use calltrack_lab::faults::{
    Answer, CallPlan, FaultCluster, PlayedCall, Population, RoundRobin, ServeConfig, ServeProcess,
    audit_until_clean,
};

/// The fault tests run one at a time: each starts a PostgreSQL cluster and `serve`
/// processes of its own, and several at once on two cores starve each other past the
/// short deadline below, which would turn a test of faults into a test of the machine.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `VOICE_DEADLINE_MS` of every instance: short, so a frozen database costs little time.
const DEADLINE: Duration = Duration::from_millis(500);
/// The contract's bound on every answer: the deadline plus 500 ms.
const BOUND: Duration = Duration::from_millis(1000);
/// How long the spool may take to land in the database once it is back.
const REPLAY_WITHIN: Duration = Duration::from_secs(30);

fn binary() -> std::path::PathBuf {
    calltrack_lab::calltrack_binary().unwrap()
}

/// A migrated, seeded cluster of the test's own: two tracked numbers, five recipients each.
async fn cluster() -> (FaultCluster, Population) {
    let cluster = FaultCluster::create().await.unwrap();
    cluster.migrate(&binary()).await.unwrap();
    let population = cluster.seed(2, 5).await.unwrap();
    (cluster, population)
}

/// A `serve` instance named `name` on the cluster, once its routing snapshot knows every
/// number.
async fn serve(cluster: &FaultCluster, population: &Population, name: &str) -> ServeProcess {
    let config = ServeConfig::new(
        &binary(),
        cluster.url(),
        cluster.root().join(name),
        DEADLINE,
    );
    let serve = ServeProcess::start(config).await.unwrap();
    wait_for_routing(&serve, population).await;
    serve
}

async fn wait_for_routing(serve: &ServeProcess, population: &Population) {
    let numbers: Vec<&str> = population
        .lines
        .iter()
        .map(|l| l.tracked_number.as_str())
        .collect();
    serve
        .wait_for_routing(&numbers, Duration::from_secs(15))
        .await
        .unwrap_or_else(|e| panic!("{e}; log:\n{}", serve.log_tail(20)));
}

/// `n` calls over the population's numbers: answered and missed, from recipients and from
/// strangers.
fn plans(population: &Population, n: usize) -> Vec<CallPlan> {
    (0..n)
        .map(|i| {
            let line = &population.lines[i % population.lines.len()];
            let from = if i % 3 == 2 {
                format!("+1646555{:04}", 7000 + i)
            } else {
                line.recipients[i % line.recipients.len()].clone()
            };
            let call = SimulatedCall::new(&from, &line.tracked_number, &line.forward_to);
            let talk = 10 + u32::try_from(i).unwrap();
            if i % 4 == 3 {
                CallPlan::missed(call, 20)
            } else {
                CallPlan::answered(call, 5, talk)
            }
        })
        .collect()
}

/// Plays every call at once (each call's webhooks in order), over `targets`.
async fn play(
    http: &reqwest::Client,
    targets: &RoundRobin,
    plans: &[CallPlan],
) -> (Vec<PlayedCall>, Vec<Answer>) {
    let played = futures::future::join_all(plans.iter().map(|p| p.play(http, targets))).await;
    let mut records = Vec::new();
    let mut answers = Vec::new();
    for (record, call_answers) in played {
        records.push(record);
        answers.extend(call_answers);
    }
    (records, answers)
}

/// Every webhook was answered as Twilio needs (voice: `<Dial>` to the business), in time.
fn assert_all_answered_in_time(answers: &[Answer]) {
    let late_or_wrong: Vec<String> = answers
        .iter()
        .filter(|a| !a.acked || a.elapsed >= BOUND)
        .map(|a| {
            format!(
                "{:?}: {:?} after {:?} ({:?})",
                a.kind, a.status, a.elapsed, a.problem
            )
        })
        .collect();
    assert!(
        late_or_wrong.is_empty(),
        "{} of {} webhooks answered wrongly or late:\n{}",
        late_or_wrong.len(),
        answers.len(),
        late_or_wrong.join("\n")
    );
}

async fn assert_database_holds(cluster: &FaultCluster, records: &[PlayedCall], calls: usize) {
    let client = cluster.connect().await.unwrap();
    let audit = audit_until_clean(&client, records, REPLAY_WITHIN)
        .await
        .unwrap();
    assert!(audit.is_clean(), "{audit}");
    assert_eq!(audit.calls, calls);
    let sessions: i64 = client
        .query_one("SELECT count(*) FROM call_sessions", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        sessions,
        i64::try_from(calls).unwrap(),
        "no session of its own for a child leg"
    );
}

async fn readyz(http: &reqwest::Client, serve: &ServeProcess) -> u16 {
    http.get(format!("{}/readyz", serve.base_url().unwrap()))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn wait_for_empty_spool(http: &reqwest::Client, serve: &ServeProcess) {
    for _ in 0..100 {
        let metrics = serve.metrics(http).await.unwrap();
        if metrics.sum("calltrack_spool_depth", &[]) == 0.0 && serve.spool_segments() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the spool of {} never drained", serve.spool_dir().display());
}

fn assert_nothing_set_aside(serve: &ServeProcess) {
    let set_aside = serve.spool_dir().join("set-aside.jsonl");
    assert!(
        !set_aside.exists(),
        "records were set aside: {}",
        std::fs::read_to_string(&set_aside).unwrap_or_default()
    );
}

#[tokio::test]
async fn calls_taken_while_postgresql_is_stopped_are_forwarded_in_time_and_all_land_once_it_is_back()
 {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (mut cluster, population) = cluster().await;
    let serve = serve(&cluster, &population, "a").await;
    let http = reqwest::Client::new();
    let targets = RoundRobin::new(vec![serve.target().unwrap()]).unwrap();
    let all = plans(&population, 10);
    let (mut records, before) = play(&http, &targets, &all[..2]).await;
    assert_all_answered_in_time(&before);

    cluster.stop(StopMode::Fast).await.unwrap();
    let (during, answers) = play(&http, &targets, &all[2..]).await;
    let ready = readyz(&http, &serve).await;
    let metrics = serve.metrics(&http).await.unwrap();
    cluster.start().await.unwrap();

    assert_all_answered_in_time(&answers);
    assert_eq!(ready, 503);
    let webhooks = during.iter().map(|r| r.acked.len()).sum::<usize>();
    assert!(
        metrics.sum("calltrack_fail_open_answers_total", &[]) >= webhooks as f64,
        "every webhook of the outage failed open"
    );
    records.extend(during);
    assert_database_holds(&cluster, &records, 10).await;
    wait_for_empty_spool(&http, &serve).await;
    assert_nothing_set_aside(&serve);
}

#[tokio::test]
async fn calls_taken_while_postgresql_is_frozen_are_forwarded_in_time_and_all_land_once_it_thaws() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (mut cluster, population) = cluster().await;
    let serve = serve(&cluster, &population, "a").await;
    let http = reqwest::Client::new();
    let targets = RoundRobin::new(vec![serve.target().unwrap()]).unwrap();
    let all = plans(&population, 10);
    let (mut records, before) = play(&http, &targets, &all[..2]).await;
    assert_all_answered_in_time(&before);

    let frozen = cluster.freeze().await.unwrap();
    let (during, answers) = play(&http, &targets, &all[2..]).await;
    let ready = readyz(&http, &serve).await;
    cluster.thaw().await.unwrap();

    assert!(frozen > 1, "the postmaster and its backends were stopped");
    assert_all_answered_in_time(&answers);
    assert_eq!(ready, 503);
    records.extend(during);
    assert_database_holds(&cluster, &records, 10).await;
    wait_for_empty_spool(&http, &serve).await;
    assert_nothing_set_aside(&serve);
}

#[tokio::test]
async fn serve_killed_right_after_answering_spooled_calls_loses_none_of_them() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (mut cluster, population) = cluster().await;
    let mut serve = serve(&cluster, &population, "a").await;
    let http = reqwest::Client::new();
    let all = plans(&population, 8);

    cluster.stop(StopMode::Immediate).await.unwrap();
    let targets = RoundRobin::new(vec![serve.target().unwrap()]).unwrap();
    let (mut records, answers) = play(&http, &targets, &all[..5]).await;
    serve.kill().await.unwrap();
    assert_all_answered_in_time(&answers);
    assert!(serve.spool_segments() > 0, "the calls are in the spool");

    // A new process on the same spool, the database still away: it forwards from the
    // routing snapshot its predecessor wrote.
    serve.restart().await.unwrap();
    let targets = RoundRobin::new(vec![serve.target().unwrap()]).unwrap();
    let (after, answers) = play(&http, &targets, &all[5..]).await;
    assert_all_answered_in_time(&answers);
    records.extend(after);
    cluster.start().await.unwrap();

    assert_database_holds(&cluster, &records, 8).await;
    wait_for_empty_spool(&http, &serve).await;
    assert_nothing_set_aside(&serve);
}

#[tokio::test]
async fn two_instances_behind_a_round_robin_both_fail_open_and_each_replays_its_own_spool() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (mut cluster, population) = cluster().await;
    let a = serve(&cluster, &population, "a").await;
    let b_config = ServeConfig {
        dir: cluster.root().join("b"),
        ..a.config().clone()
    };
    let b = ServeProcess::start(b_config).await.unwrap();
    wait_for_routing(&b, &population).await;
    let http = reqwest::Client::new();
    let targets = RoundRobin::new(vec![a.target().unwrap(), b.target().unwrap()]).unwrap();
    let all = plans(&population, 12);
    let (mut records, before) = play(&http, &targets, &all[..4]).await;
    assert_all_answered_in_time(&before);

    cluster.stop(StopMode::Fast).await.unwrap();
    let (during, answers) = play(&http, &targets, &all[4..]).await;
    cluster.start().await.unwrap();

    assert_all_answered_in_time(&answers);
    records.extend(during);
    assert_database_holds(&cluster, &records, 12).await;
    wait_for_empty_spool(&http, &a).await;
    wait_for_empty_spool(&http, &b).await;
    let client = cluster.connect().await.unwrap();
    let markers: i64 = client
        .query_one("SELECT count(*) FROM spool_applied", &[])
        .await
        .unwrap()
        .get(0);
    let mut spooled = 0.0;
    for serve in [&a, &b] {
        let metrics = serve.metrics(&http).await.unwrap();
        let failed_open = metrics.sum("calltrack_fail_open_answers_total", &[]);
        let replayed = metrics.sum("calltrack_spool_replayed_total", &["outcome=\"applied\""]);
        assert!(failed_open > 0.0, "both instances failed open");
        assert_eq!(
            replayed, failed_open,
            "each instance replayed its own spool, all of it"
        );
        assert_nothing_set_aside(serve);
        spooled += failed_open;
    }
    assert_eq!(markers as f64, spooled, "every spooled record applied once");
}

#[tokio::test]
async fn two_instances_taking_every_webhook_twice_at_once_write_their_batches_without_conflict() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (cluster, population) = cluster().await;
    let a = serve(&cluster, &population, "a").await;
    let b_config = ServeConfig {
        dir: cluster.root().join("b"),
        ..a.config().clone()
    };
    let b = ServeProcess::start(b_config).await.unwrap();
    wait_for_routing(&b, &population).await;
    let http = reqwest::Client::new();
    let targets = RoundRobin::new(vec![a.target().unwrap(), b.target().unwrap()]).unwrap();
    let all = plans(&population, 40);

    // Every call played twice at once: each webhook arrives twice, mostly once at each
    // instance, as Twilio's retries do, so both instances' batches hold the same CallSids.
    let ((records, first), (_, second)) =
        tokio::join!(play(&http, &targets, &all), play(&http, &targets, &all));

    assert_all_answered_in_time(&first);
    assert_all_answered_in_time(&second);
    assert_database_holds(&cluster, &records, 40).await;
    let client = cluster.connect().await.unwrap();
    let deadlocks: i64 = client
        .query_one(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(deadlocks, 0, "no two batches waited on each other");
    for serve in [&a, &b] {
        let metrics = serve.metrics(&http).await.unwrap();
        assert_eq!(
            metrics.sum("calltrack_fail_open_answers_total", &[]),
            0.0,
            "every batch was written, none failed open: {}",
            serve.log_tail(20)
        );
    }
}
