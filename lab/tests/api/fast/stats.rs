use std::collections::HashSet;

use calltrack::twilio::simulated::{Fixture, SimulatedCall};
use chrono::Utc;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{FORWARD_TO, TRACKED_NUMBER, TestApp};
use crate::world::Auth;

/// One call the test plays, and what it expects the statistics to count for it.
struct Played {
    from: &'static str,
    matched: bool,
    answered_talk: Option<u32>,
    missed: bool,
    recorded: bool,
}

async fn play(app: &TestApp, p: &Played) -> SimulatedCall {
    let call = SimulatedCall::new(p.from, TRACKED_NUMBER, FORWARD_TO);
    assert_eq!(
        app.post_signed("/twilio/voice", &call.voice())
            .await
            .status(),
        200
    );
    let now = Utc::now();
    let mut steps = vec![(
        "/twilio/status",
        call.child_status(Fixture::StatusChildRinging, now),
    )];
    if let Some(talk) = p.answered_talk {
        steps.push((
            "/twilio/status",
            call.child_status(Fixture::StatusChildAnswered, now),
        ));
        steps.push(("/twilio/status", call.child_completed(talk, now)));
        steps.push((
            "/twilio/dial-complete",
            call.dial_action("completed", talk, p.recorded),
        ));
        if p.recorded {
            steps.push(("/twilio/recording", call.recording(talk)));
        }
    } else if p.missed {
        steps.push((
            "/twilio/status",
            call.child_status(Fixture::StatusChildNoAnswer, now),
        ));
        steps.push((
            "/twilio/dial-complete",
            call.dial_action("no-answer", 0, false),
        ));
    }
    steps.push(("/twilio/status", call.parent_completed(60, now)));
    for (path, form) in steps {
        assert!(app.post_signed(path, &form).await.status().is_success());
    }
    call
}

#[tokio::test]
async fn call_stats_equal_the_counts_of_the_calls_the_test_made() {
    // The reward SMS stays queued: a worker that sent it to the fake Twilio (no mock, so a
    // failure) before the stats are read would turn a pending reward into a failed one.
    let app = TestApp::builder()
        .env(&[("OUTBOX_POLL_MS", "60000")])
        .spawn()
        .await;
    let world = app.world(1).await;
    app.seed_recipient(&world.campaign, "212.555.0001").await;
    let plays = [
        Played {
            from: "+12125550001",
            matched: true,
            answered_talk: Some(30),
            missed: false,
            recorded: true,
        },
        Played {
            from: "+12125550001",
            matched: true,
            answered_talk: Some(50),
            missed: false,
            recorded: false,
        },
        Played {
            from: "+16465550002",
            matched: false,
            answered_talk: None,
            missed: true,
            recorded: false,
        },
        Played {
            from: "+16465550003",
            matched: false,
            answered_talk: Some(10),
            missed: false,
            recorded: true,
        },
        Played {
            from: "anonymous",
            matched: false,
            answered_talk: None,
            missed: true,
            recorded: false,
        },
    ];
    let mut calls = Vec::new();
    for p in &plays {
        calls.push(play(&app, p).await);
    }
    // world() already placed one matched, still-ringing call from CALLER.
    let first = app.session(&calls[0].call_sid).await;
    let first_id: Uuid = first["id"].as_str().unwrap().parse().unwrap();
    let agent = Auth::user(world.agent);
    assert_eq!(app.mark(first_id, &agent, 1).await.0, 201);
    assert_eq!(app.mark(first_id, &agent, 2).await.0, 201);
    assert_eq!(app.mark(world.session_id, &agent, 1).await.0, 201);

    let (status, stats) = app
        .api_get(
            &format!("/api/v1/campaigns/{}/call-stats", world.campaign.id),
            &agent,
        )
        .await;

    assert_eq!(status, 200, "{stats}");
    let talks: Vec<u32> = plays.iter().filter_map(|p| p.answered_talk).collect();
    let mut callers: HashSet<&str> = plays
        .iter()
        .map(|p| p.from)
        .filter(|f| f.starts_with('+'))
        .collect();
    callers.insert(crate::world::CALLER);
    let expected = json!({
        "total_calls": plays.len() + 1,
        "unique_callers": callers.len(),
        "matched": plays.iter().filter(|p| p.matched).count() + 1,
        "unmatched": plays.iter().filter(|p| !p.matched).count(),
        "answered": talks.len(),
        "missed": plays.iter().filter(|p| p.missed).count(),
        "voicemail": 0,
        "abandoned": 0,
        "avg_talk_seconds": f64::from(talks.iter().sum::<u32>()) / talks.len() as f64,
        "recorded": plays.iter().filter(|p| p.recorded).count(),
        // Condition 1 for two recipients; condition 2 once (it has no reward).
        "conditions_met": { "1": 2, "2": 1 },
        // One card in the pool: the first mark got it, the third waits for cards.
        "rewards_provisioned": 1,
        "rewards_delivered": 0,
        "rewards_failed": 0,
        "rewards_pending": 2,
        "rewards_no_phone": 0,
    });
    assert_eq!(stats, expected);
}

#[tokio::test]
async fn call_stats_honour_the_time_window_and_the_callers_clients() {
    let app = TestApp::spawn().await;
    let world = app.world(1).await;
    let agent = Auth::user(world.agent);
    let path = format!("/api/v1/campaigns/{}/call-stats", world.campaign.id);

    let future = (Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339()
        .replace('+', "%2B");
    let (_, stats) = app.api_get(&format!("{path}?from={future}"), &agent).await;
    assert_eq!(stats["total_calls"], 0);
    assert_eq!(stats["avg_talk_seconds"], Value::Null);
    let (_, stats) = app.api_get(&format!("{path}?to={future}"), &agent).await;
    assert_eq!(stats["total_calls"], 1);

    let (other_client, _) = app.other_client_session().await;
    let outsider = app
        .seed_user(&["company_owner"], Some(other_client), None)
        .await;
    let (status, body) = app.api_get(&path, &Auth::user(outsider)).await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = app.api_get(&format!("{path}?from=yesterday"), &agent).await;
    assert_eq!(status, 400);
}
