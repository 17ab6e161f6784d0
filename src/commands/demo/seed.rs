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

/// What the demo world is made of.
pub struct DemoWorld<'a> {
    pub tracked: &'a str,
    pub business: &'a str,
    pub provider_sid: &'a str,
    /// Encrypted (card code, PIN) pairs.
    pub encrypted_cards: &'a [(String, String)],
}

/// The demo's organization, client, campaign, recipients, conditions, reward config, pool,
/// cards and tracked number.
pub async fn demo_campaign(
    client: &tokio_postgres::Client,
    demo: &DemoWorld<'_>,
) -> anyhow::Result<()> {
    let row = client
        .query_one(
            "WITH o AS (INSERT INTO organizations (name, type) VALUES ('Demo Agency', 'agency') RETURNING id),
                  c AS (INSERT INTO clients (org_id, name, industry) SELECT id, 'Demo Roofing Co', 'roofing' FROM o RETURNING id),
                  k AS (INSERT INTO campaigns (client_id, name, status, size, postage)
                        SELECT id, 'Spring roof check', 'mailed', '6x9', 'first_class' FROM c RETURNING id),
                  b AS (INSERT INTO gift_card_brands (brand_name, default_value, is_active) VALUES ('Amazon', 25, true) RETURNING id),
                  p AS (INSERT INTO gift_card_pools (client_id, brand_id, pool_name, value_amount)
                        SELECT c.id, b.id, 'Amazon $25', 25.00 FROM c, b RETURNING id)
             SELECT k.id, p.id FROM c, k, p",
            &[],
        )
        .await?;
    let (campaign, pool): (Uuid, Uuid) = (row.get(0), row.get(1));
    client
        .execute(
            "INSERT INTO recipients (campaign_id, redemption_code, first_name, last_name, phone, city, state)
             VALUES ($1, 'ROOF-1001', 'Dana', 'Rivera', '(415) 555-0123', 'San Francisco', 'CA'),
                    ($1, 'ROOF-1002', 'Sam', 'Okafor', '415.555.0124', 'Oakland', 'CA'),
                    ($1, 'ROOF-1003', 'Lee', 'Chen', '+1 415 555 0125', 'Berkeley', 'CA')",
            &[&campaign],
        )
        .await?;
    client
        .execute(
            "INSERT INTO campaign_conditions (campaign_id, condition_number, condition_name, trigger_type, is_active,
                 auto_min_talk_seconds)
             VALUES ($1, 1, 'Booked a roof inspection', 'call', true, NULL),
                    ($1, 2, 'Signed a contract', 'call', true, NULL),
                    ($1, 3, 'Talked with us for half a minute', 'call', true, NULL)",
            &[&campaign],
        )
        .await?;
    client
        .execute(
            "INSERT INTO campaign_reward_configs (campaign_id, condition_number, gift_card_pool_id, reward_description, sms_template)
             VALUES ($1, 1, $2, '$25 Amazon gift card',
                     'Hi {first_name}, thanks for booking your roof inspection! Your {brand} gift card worth ${value}: {card_code} PIN {pin_code}'),
                    ($1, 3, $2, '$25 Amazon gift card',
                     'Hi {first_name}, thanks for calling us! Your {brand} gift card worth ${value}: {card_code} PIN {pin_code}')",
            &[&campaign, &pool],
        )
        .await?;
    for (code, pin) in demo.encrypted_cards {
        client
            .execute(
                "INSERT INTO gift_cards (pool_id, card_code, pin_code, value_amount) VALUES ($1, $2, $3, 25.00)",
                &[&pool, code, pin],
            )
            .await?;
    }
    client
        .execute(
            "UPDATE gift_card_pools SET total_cards = 5, available_cards = 5 WHERE id = $1",
            &[&pool],
        )
        .await?;
    client
        .execute(
            "INSERT INTO tracked_phone_numbers (campaign_id, phone_number, forward_to_number, provider_sid)
             VALUES ($1, $2, $3, $4)",
            &[&campaign, &demo.tracked, &demo.business, &demo.provider_sid],
        )
        .await?;
    Ok(())
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

/// Gives condition 3 its call rule (30 s of talk). Done after the week of history is seeded,
/// so the history's answered calls do not meet it and take the tour's cards.
pub async fn enable_call_rule(
    client: &tokio_postgres::Client,
    campaign: Uuid,
) -> anyhow::Result<()> {
    client
        .execute(
            "UPDATE campaign_conditions SET auto_min_talk_seconds = 30
             WHERE campaign_id = $1 AND condition_number = 3",
            &[&campaign],
        )
        .await?;
    Ok(())
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
/// `encrypted_cards` are the (code, PIN) pairs of the cards those past rewards claimed.
pub async fn demo_history(
    client: &tokio_postgres::Client,
    campaign_id: Uuid,
    tracked_number_id: Uuid,
    encrypted_cards: &[(String, String)],
) -> anyhow::Result<DemoHistory> {
    const FIRST: [&str; 8] = [
        "Alex", "Blair", "Casey", "Drew", "Emery", "Finley", "Gray", "Harper",
    ];
    const LAST: [&str; 3] = ["Nguyen", "Patel", "Garcia"];
    let now = chrono::Utc::now();
    let today = now.date_naive();
    client
        .execute(
            "UPDATE campaigns SET mail_date = $2 WHERE id = $1",
            &[&campaign_id, &(today - chrono::Days::new(8))],
        )
        .await?;
    let mut recipients = Vec::new();
    for n in 0..24 {
        let row = client
            .query_one(
                "INSERT INTO recipients (campaign_id, redemption_code, first_name, last_name, phone)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[
                    &campaign_id,
                    &format!("ROOF-2{n:03}"),
                    &FIRST[n % FIRST.len()],
                    &LAST[n % LAST.len()],
                    &format!("+1415555{:04}", 200 + n),
                ],
            )
            .await?;
        recipients.push((row.get::<_, Uuid>(0), format!("+1415555{:04}", 200 + n)));
    }
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
