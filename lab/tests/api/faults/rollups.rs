//! The rollups stay equal to a recount from the facts through a storm of webhooks in random
//! order, repeated, concurrent, across an outage whose spool is replayed while more arrive.

use std::time::Duration;

use calltrack::auth::ClientScope;
use calltrack::db::stats::{self, facts};
use calltrack::twilio::form::FormPairs;
use calltrack::twilio::simulated::{Fixture, SimulatedCall};
use chrono::Utc;
use rand::seq::SliceRandom as _;
use rand::{Rng as _, SeedableRng as _};
use uuid::Uuid;

use super::{spool_segments, unreachable_database};
use crate::fast::rollups::rollup_snapshot;
use crate::helpers::{FORWARD_TO, TRACKED_NUMBER, TestApp, test_database};
use crate::world::Auth;

/// Every webhook Twilio would send for one call with a random outcome, in Twilio's order.
fn script(call: &SimulatedCall, rng: &mut rand::rngs::StdRng) -> Vec<(&'static str, FormPairs)> {
    let now = Utc::now();
    let talk = rng.gen_range(5..300);
    let mut steps = vec![
        ("/twilio/voice", call.voice()),
        (
            "/twilio/status",
            call.child_status(Fixture::StatusChildRinging, now),
        ),
    ];
    match rng.gen_range(0..5) {
        // Answered, maybe recorded.
        0 | 1 => {
            let recorded = rng.gen_bool(0.5);
            steps.push((
                "/twilio/status",
                call.child_status(Fixture::StatusChildAnswered, now),
            ));
            steps.push(("/twilio/status", call.child_completed(talk, now)));
            steps.push((
                "/twilio/dial-complete",
                call.dial_action("completed", talk, recorded),
            ));
            if recorded {
                steps.push(("/twilio/recording", call.recording(talk)));
            }
        }
        // The business never picked up.
        2 => {
            steps.push((
                "/twilio/status",
                call.child_status(Fixture::StatusChildNoAnswer, now),
            ));
            steps.push((
                "/twilio/dial-complete",
                call.dial_action("no-answer", 0, false),
            ));
        }
        // The caller hung up while it rang.
        3 => steps.push(("/twilio/status", call.child_canceled(now))),
        // Still live: no end yet.
        _ => return steps,
    }
    steps.push(("/twilio/status", call.parent_completed(talk + 20, now)));
    steps
}

/// Sends `webhooks` to `app`, eight at a time; each is answered (or taken) or the test fails.
async fn send(app: &TestApp, webhooks: &[(&'static str, FormPairs)]) {
    for chunk in webhooks.chunks(8) {
        let answers =
            futures::future::join_all(chunk.iter().map(|(path, form)| app.post_signed(path, form)))
                .await;
        for answer in answers {
            assert!(answer.status().is_success(), "{}", answer.status());
        }
    }
}

#[tokio::test]
async fn after_a_storm_in_every_order_across_an_outage_and_its_replay_the_rollups_equal_a_recount()
{
    let seed: u64 = rand::random();
    println!("storm seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    // Arrange: a campaign whose recipients are some of the callers.
    let db_config = test_database().await;
    let first = TestApp::builder()
        .databases(db_config.clone(), db_config.clone())
        .spawn()
        .await;
    let world = first.world(3).await;
    let callers: Vec<String> = (0..12).map(|i| format!("+1212555{:04}", 300 + i)).collect();
    for caller in callers.iter().take(5) {
        first.seed_recipient(&world.campaign, caller).await;
    }
    first.wait_for_routing(TRACKED_NUMBER).await;
    let calls: Vec<SimulatedCall> = (0..36)
        .map(|_| {
            let caller = callers.choose(&mut rng).unwrap();
            SimulatedCall::new(caller, TRACKED_NUMBER, FORWARD_TO)
        })
        .collect();
    let mut storm: Vec<(&'static str, FormPairs)> = Vec::new();
    for call in &calls {
        for step in script(call, &mut rng) {
            // Twilio retries: some webhooks arrive twice.
            if rng.gen_bool(0.15) {
                storm.push(step.clone());
            }
            storm.push(step);
        }
    }
    storm.shuffle(&mut rng);
    let third = storm.len() / 3;
    let (before, rest) = storm.split_at(third);
    let (during, after) = rest.split_at(third);

    // Act: a third before the outage, a third during it (spooled), a third after it while the
    // spool is replayed.
    send(&first, before).await;
    let spool_dir = first.spool_dir.display().to_string();
    first.stop().await;
    let outage = TestApp::builder()
        .databases(unreachable_database(), db_config.clone())
        .env(&[
            ("CALLTRACK_SPOOL_DIR", &spool_dir),
            ("VOICE_DEADLINE_MS", "300"),
        ])
        .spawn()
        .await;
    send(&outage, during).await;
    outage.stop().await;
    let recovered = TestApp::builder()
        .databases(db_config.clone(), db_config.clone())
        .env(&[("CALLTRACK_SPOOL_DIR", &spool_dir)])
        .spawn()
        .await;
    send(&recovered, after).await;
    let sessions = format!(
        "SELECT count(*) FROM call_sessions WHERE campaign_id = '{}'
         AND twilio_call_sid <> (SELECT twilio_call_sid FROM call_sessions WHERE id = '{}')",
        world.campaign.id, world.session_id
    );
    assert_eq!(
        recovered
            .wait_for_count(&sessions, calls.len() as i64, 20)
            .await,
        calls.len() as i64
    );
    for _ in 0..200 {
        let parked = recovered
            .count("SELECT count(*) FROM call_callbacks_parked")
            .await;
        if parked == 0 && spool_segments(&recovered) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        recovered
            .count("SELECT count(*) FROM call_callbacks_parked")
            .await,
        0
    );
    // Agents meet conditions on the matched calls, each twice at once.
    let agent = Auth::user(world.agent);
    let matched: Vec<Uuid> = recovered
        .db
        .query(
            "SELECT id FROM call_sessions WHERE campaign_id = $1 AND recipient_id IS NOT NULL",
            &[&world.campaign.id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let marks = matched
        .iter()
        .flat_map(|id| [(*id, 1), (*id, 1), (*id, 2)])
        .map(|(id, condition)| recovered.mark(id, &agent, condition));
    for (status, body) in futures::future::join_all(marks).await {
        assert!([200, 201].contains(&status), "{status} {body}");
    }

    // The SMS outbox goes on changing delivery states: stopped, the facts hold still.
    recovered.stop().await;
    let db = calltrack::db::pool::connect(&db_config).await.unwrap();

    // Assert: what the writes kept is what a recount from the facts gives, and the API's
    // numbers are those of the facts.
    let kept = rollup_snapshot(&db).await;
    let pool = calltrack::db::pool::pool(db_config.clone(), 1).unwrap();
    calltrack::app::rollups::rebuild(&pool, None, |_| {})
        .await
        .unwrap();
    assert_eq!(kept, rollup_snapshot(&db).await, "storm seed {seed}");
    let mut conn = pool.get().await.unwrap();
    let tx = conn.transaction().await.unwrap();
    calltrack::db::access::restrict(&tx, &ClientScope::Clients(vec![world.client_id]), None)
        .await
        .unwrap();
    let from_facts = facts::campaign_stats(&tx, world.campaign.id, None, None)
        .await
        .unwrap();
    let from_rollups = stats::campaign_stats(&tx, world.campaign.id, None, None)
        .await
        .unwrap();
    assert_eq!(from_rollups, from_facts, "storm seed {seed}");
    assert_eq!(from_facts.total_calls, calls.len() as i64 + 1);
}
