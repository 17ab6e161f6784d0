//! The demo's world, written in a few statements: the campaign a caller reaches and last
//! week's history for the charts.

use anyhow::Context as _;
use uuid::Uuid;

/// Drops and creates `name`; each statement runs on its own, as DROP/CREATE DATABASE refuse
/// to run inside a transaction.
pub async fn recreate_database(admin: &tokio_postgres::Client, name: &str) -> anyhow::Result<()> {
    for statement in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        admin
            .batch_execute(&statement)
            .await
            .with_context(|| format!("cannot create the database {name}"))?;
    }
    Ok(())
}

/// The demo's organization and client: the business a manager signs in for. There is no API
/// for these (on the platform they are the platform's own), so they are the one thing the demo
/// writes itself; its campaign is set up through the manager API ([`super::setup`]).
pub async fn demo_business(client: &tokio_postgres::Client) -> anyhow::Result<Uuid> {
    let row = client
        .query_one(
            "WITH o AS (INSERT INTO organizations (name, type) VALUES ('Demo Agency', 'agency') RETURNING id)
             INSERT INTO clients (org_id, name, industry) SELECT id, 'Demo Roofing Co', 'roofing' FROM o
             RETURNING id",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

/// The demo campaign's recipients as the CSV a manager uploads: the three the tour's calls
/// come from (phones written the ways mailing lists write them), then the 24 callers of last
/// week's history.
pub fn recipients_csv() -> String {
    const FIRST: [&str; 8] = [
        "Alex", "Blair", "Casey", "Drew", "Emery", "Finley", "Gray", "Harper",
    ];
    const LAST: [&str; 3] = ["Nguyen", "Patel", "Garcia"];
    let mut csv = String::from(
        "first_name,last_name,phone,redemption_code\n\
         Dana,Rivera,(415) 555-0123,ROOF-1001\n\
         Sam,Okafor,415.555.0124,ROOF-1002\n\
         Lee,Chen,+1 415 555 0125,ROOF-1003\n",
    );
    for n in 0..24 {
        csv.push_str(&format!(
            "{},{},+1415555{:04},ROOF-2{n:03}\n",
            FIRST[n % FIRST.len()],
            LAST[n % LAST.len()],
            200 + n
        ));
    }
    csv
}

/// The campaign's recipients whose redemption code starts with `prefix` and who have a phone,
/// as (id, E.164 phone), by code.
pub async fn recipients_with_code_prefix(
    client: &tokio_postgres::Client,
    campaign_id: Uuid,
    prefix: &str,
) -> anyhow::Result<Vec<(Uuid, String)>> {
    Ok(client
        .query(
            "SELECT id, phone_e164 FROM recipients
             WHERE campaign_id = $1 AND starts_with(redemption_code, $2) AND phone_e164 IS NOT NULL
             ORDER BY redemption_code",
            &[&campaign_id, &prefix],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// One call as the demo reports it.
pub struct CallSummary {
    pub session_id: Uuid,
    pub match_status: String,
    pub call_status: String,
    pub first_name: String,
    pub talk_seconds: i32,
    pub recorded: bool,
}

pub async fn call_summary(
    client: &tokio_postgres::Client,
    call_sid: &str,
) -> anyhow::Result<CallSummary> {
    let row = client
        .query_one(
            "SELECT s.id, s.match_status, s.call_status, s.talk_seconds, r.first_name, s.recording_sid IS NOT NULL
             FROM call_sessions s LEFT JOIN recipients r ON r.id = s.recipient_id WHERE s.twilio_call_sid = $1",
            &[&call_sid],
        )
        .await?;
    Ok(CallSummary {
        session_id: row.get(0),
        match_status: row.get(1),
        call_status: row.get(2),
        talk_seconds: row.get::<_, Option<i32>>(3).unwrap_or_default(),
        first_name: row.get::<_, Option<String>>(4).unwrap_or_default(),
        recorded: row.get(5),
    })
}

/// The delivery state of the reward of a session's condition, if any.
pub async fn delivery_status(
    client: &tokio_postgres::Client,
    session: Uuid,
) -> anyhow::Result<Vec<Option<String>>> {
    let rows = client
        .query(
            "SELECT delivery_status::text FROM call_conditions_met WHERE call_session_id = $1
             ORDER BY condition_number",
            &[&session],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// A condition the call met by itself (a call rule), for the timeline.
#[derive(Debug, Clone)]
pub struct AutomaticReward {
    pub condition_number: i32,
    pub condition_name: String,
    pub talk_seconds: i64,
    pub min_talk_seconds: i64,
    pub reward_status: String,
}

/// The conditions `session`'s call met by itself.
pub async fn automatic_rewards(
    client: &tokio_postgres::Client,
    session: Uuid,
) -> anyhow::Result<Vec<AutomaticReward>> {
    let rows = client
        .query(
            "SELECT m.condition_number, coalesce(c.condition_name, ''),
                    (m.met_detail->>'talk_seconds')::bigint, (m.met_detail->>'min_talk_seconds')::bigint,
                    m.reward_status
             FROM call_conditions_met m
             JOIN campaign_conditions c
               ON c.campaign_id = m.campaign_id AND c.condition_number = m.condition_number
             WHERE m.call_session_id = $1 AND m.met_by = 'call_rule'
             ORDER BY m.condition_number",
            &[&session],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| AutomaticReward {
            condition_number: r.get(0),
            condition_name: r.get(1),
            talk_seconds: r.get::<_, Option<i64>>(2).unwrap_or_default(),
            min_talk_seconds: r.get::<_, Option<i64>>(3).unwrap_or_default(),
            reward_status: r.get(4),
        })
        .collect())
}

/// A finished (or still ringing) call written straight into `call_sessions` as the webhooks
/// would have left it, dated in the past: the demo's week of calls, and the tests' series.
#[derive(Debug, Clone)]
pub struct PastCall {
    pub campaign_id: Uuid,
    pub tracked_number_id: Uuid,
    pub at: chrono::DateTime<chrono::Utc>,
    /// `answered`, `missed`, `voicemail`, `abandoned`, or `live` (still ringing).
    pub outcome: &'static str,
    /// E.164, or `None` for a withheld caller.
    pub caller: Option<String>,
    /// The recipient the caller was matched to.
    pub recipient_id: Option<Uuid>,
    pub talk_seconds: i32,
    pub notes: Option<String>,
}

/// Writes `call` and returns its session id. The outcome is not written but settled by the
/// database's own trigger from the facts written here (leg status, answer time, voicemail),
/// so a seeded call is counted exactly as a played one would be.
pub async fn past_call(client: &tokio_postgres::Client, call: &PastCall) -> anyhow::Result<Uuid> {
    let row = client
        .query_one(
            "INSERT INTO call_sessions (campaign_id, tracked_number_id, caller_phone, recipient_id,
                 match_status, call_status, status_rank, leg_status, call_answered_at,
                 call_started_at, call_ended_at, call_duration_seconds, talk_seconds,
                 recording_sid, recording_url, recording_duration,
                 voicemail_sid, voicemail_url, voicemail_duration,
                 twilio_call_sid, forward_to_number, notes, created_at)
             SELECT $1, $2, $3, $4::uuid,
                 CASE WHEN $4::uuid IS NULL THEN 'unmatched' ELSE 'matched' END,
                 CASE WHEN o = 'live' THEN 'ringing' ELSE 'completed' END,
                 CASE WHEN o = 'live' THEN 2 ELSE 4 END,
                 CASE o WHEN 'answered' THEN 'completed' WHEN 'missed' THEN 'no-answer'
                      WHEN 'voicemail' THEN 'no-answer' WHEN 'abandoned' THEN 'canceled' END,
                 CASE WHEN o = 'answered' THEN t + interval '8 seconds' END,
                 t,
                 CASE WHEN o <> 'live' THEN t + make_interval(secs => talk + 20) END,
                 CASE WHEN o <> 'live' THEN talk + 20 END,
                 CASE WHEN o = 'answered' THEN talk END,
                 CASE WHEN o = 'answered' THEN 'RE' || sid END,
                 CASE WHEN o = 'answered' THEN 'https://api.twilio.com/2010-04-01/Accounts/ACdemo/Recordings/RE' || sid END,
                 CASE WHEN o = 'answered' THEN talk END,
                 CASE WHEN o = 'voicemail' THEN 'RE' || sid || 'v' END,
                 CASE WHEN o = 'voicemail' THEN 'https://api.twilio.com/2010-04-01/Accounts/ACdemo/Recordings/RE' || sid || 'v' END,
                 CASE WHEN o = 'voicemail' THEN 25 END,
                 'CA' || sid,
                 (SELECT forward_to_number FROM tracked_phone_numbers WHERE id = $2),
                 $8, t
             FROM (SELECT md5(random()::text) AS sid, $5::text AS o, $6::timestamptz AS t,
                          $7::int AS talk) s
             RETURNING id",
            &[
                &call.campaign_id,
                &call.tracked_number_id,
                &call.caller,
                &call.recipient_id,
                &call.outcome,
                &call.at,
                &call.talk_seconds,
                &call.notes,
            ],
        )
        .await
        .context("seeding a past call failed")?;
    Ok(row.get(0))
}

/// What the demo's week of history added, for its timeline.
pub struct DemoHistory {
    pub calls: usize,
    pub conditions_met: usize,
}

/// A week of past calls for the demo's charts: the campaign mailed eight days ago, calls
/// falling off day by day after the drop, mixed outcomes, a third of the callers matched to
/// recipients of their own, and conditions met with rewards delivered, sent and failed.
/// `recipients` are the (id, E.164 phone) of the campaign's recipients who call, and
/// `encrypted_cards` the (code, PIN) pairs of the cards those past rewards claimed.
pub async fn demo_history(
    client: &tokio_postgres::Client,
    campaign_id: Uuid,
    tracked_number_id: Uuid,
    recipients: &[(Uuid, String)],
    encrypted_cards: &[(String, String)],
) -> anyhow::Result<DemoHistory> {
    let today = chrono::Utc::now().date_naive();
    anyhow::ensure!(
        !recipients.is_empty(),
        "the history needs recipients to call"
    );
    // Calls on the days after the drop, the way responses to a mailing fall off.
    let per_day = [16, 13, 10, 8, 6, 5, 4];
    let mut answered_matched = Vec::new();
    let mut calls = 0;
    for (offset, count) in per_day.iter().enumerate() {
        let day = today - chrono::Days::new(7 - offset as u64);
        for j in 0..*count {
            let seq = calls;
            calls += 1;
            let outcome = match seq % 20 {
                0..=10 => "answered",
                11..=13 => "voicemail",
                14..=16 => "missed",
                _ => "abandoned",
            };
            let minutes = 9 * 60 + (j * 37) % (9 * 60);
            let at = day
                .and_hms_opt(0, 0, 0)
                .map(|d| d.and_utc() + chrono::Duration::minutes(minutes as i64))
                .context("a demo call's time")?;
            let matched = seq % 3 == 0;
            let (recipient_id, caller) = if matched {
                let (id, phone) = &recipients[(seq / 3) % recipients.len()];
                (Some(*id), Some(phone.clone()))
            } else if seq % 11 == 5 {
                (None, None)
            } else {
                (None, Some(format!("+1212555{:04}", 3000 + seq)))
            };
            let session = past_call(
                client,
                &PastCall {
                    campaign_id,
                    tracked_number_id,
                    at,
                    outcome,
                    caller,
                    recipient_id,
                    talk_seconds: 40 + ((seq * 53) % 300) as i32,
                    notes: None,
                },
            )
            .await?;
            if let (Some(recipient), "answered") = (recipient_id, outcome) {
                answered_matched.push((session, recipient, at));
            }
        }
    }
    // Rewards for most answered recipients: delivered, one still sent, one failed.
    let pool: Uuid = client
        .query_one(
            "SELECT gift_card_pool_id FROM campaign_reward_configs WHERE campaign_id = $1 AND condition_number = 1",
            &[&campaign_id],
        )
        .await?
        .get(0);
    let mut met: usize = 0;
    for (n, ((session, recipient, at), (code, pin))) in
        answered_matched.iter().zip(encrypted_cards).enumerate()
    {
        let met_at = *at + chrono::Duration::minutes(3);
        let (card_status, delivery, error_code) = match n {
            0 => ("claimed", "failed", Some(30006)),
            1 => ("claimed", "sent", None),
            _ => ("delivered", "delivered", None),
        };
        client
            .execute(
                "WITH card AS (
                     INSERT INTO gift_cards (pool_id, card_code, pin_code, value_amount, status, recipient_id,
                         campaign_id, claimed_at, delivered_at, delivery_method)
                     VALUES ($1, $2, $3, 25.00, $4::text, $5, $6, $7::timestamptz,
                         CASE WHEN $4::text = 'delivered' THEN $7::timestamptz + interval '20 seconds' END,
                         CASE WHEN $4::text = 'delivered' THEN 'sms' END)
                     RETURNING id)
                 INSERT INTO call_conditions_met (call_session_id, campaign_id, recipient_id, condition_number,
                     met_at, gift_card_id, reward_status, delivery_status, delivery_error_code,
                     delivery_error_message, notes)
                 SELECT $8, $6, $5, 1, $7, card.id, 'provisioned', $9::text, $10::int,
                     CASE WHEN $10::int IS NOT NULL THEN 'Landline or unreachable carrier' END,
                     'booked an inspection'
                 FROM card",
                &[
                    &pool, code, pin, &card_status, recipient, &campaign_id, &met_at, session,
                    &delivery, &error_code,
                ],
            )
            .await?;
        met += 1;
    }
    let delivered = met.saturating_sub(2) as i32;
    client
        .execute(
            "UPDATE gift_card_pools SET total_cards = total_cards + $2, delivered_cards = delivered_cards + $3
             WHERE id = $1",
            &[&pool, &(met as i32), &delivered],
        )
        .await?;
    // Some of them signed a contract too (no reward for that condition).
    for (session, recipient, at) in answered_matched.iter().step_by(3) {
        client
            .execute(
                "INSERT INTO call_conditions_met (call_session_id, campaign_id, recipient_id, condition_number, met_at, notes)
                 VALUES ($1, $2, $3, 2, $4, 'signed on the call')",
                &[session, &campaign_id, recipient, &(*at + chrono::Duration::minutes(5))],
            )
            .await?;
        met += 1;
    }
    Ok(DemoHistory {
        calls,
        conditions_met: met,
    })
}
