//! The platform after a busy year, written with set-based SQL: clients, campaigns, tracked
//! numbers, recipients, call sessions, conditions met with their rewards, and the users who
//! look at them. Every id is derived from a name (`md5('scale-<kind>-<n>')`), so the
//! measuring side finds the big campaign, the quiet client and the users without a lookup
//! table, and two seeds of the same plan hold the same ids.

use std::time::Instant;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// Bumped whenever what a seed writes changes, so an older cached database is not reused.
pub const SEED_VERSION: u32 = 2;

/// The full size: the platform after a busy year.
const FULL_CLIENTS: f64 = 200.0;
const FULL_CAMPAIGNS: f64 = 2_000.0;
const FULL_RECIPIENTS: f64 = 5_000_000.0;
const FULL_SESSIONS: f64 = 10_000_000.0;
/// The busiest campaign's sessions, kept whatever the fraction.
pub const BIG_SESSIONS: i64 = 2_000_000;
/// Every tracked number forwards here.
pub const FORWARD_TO: &str = "+14155550199";
/// Rows written per statement, so the output shows progress and no statement runs for long.
const BATCH: i64 = 1_000_000;

/// How many of each the seed writes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    pub fraction: f64,
    pub clients: i64,
    /// Campaigns, the big one (number 0) included.
    pub campaigns: i64,
    pub big_sessions: i64,
    pub big_recipients: i64,
    /// Recipients of each campaign but the big one.
    pub recipients_per_campaign: i64,
    /// Sessions of all campaigns but the big one, spread evenly over them.
    pub other_sessions: i64,
}

impl Plan {
    /// The full size scaled by `fraction`, except the big campaign, which keeps
    /// `big_sessions` sessions (and a recipient for every four of them).
    pub fn new(fraction: f64, big_sessions: i64) -> anyhow::Result<Self> {
        anyhow::ensure!(
            fraction > 0.0 && fraction <= 1.0,
            "--fraction must be in (0, 1]"
        );
        anyhow::ensure!(
            big_sessions >= 1_000,
            "the big campaign needs 1,000 sessions or more"
        );
        let big_recipients = big_sessions / 4;
        let clients = ((FULL_CLIENTS * fraction).round() as i64).max(3);
        let campaigns = ((FULL_CAMPAIGNS * fraction).round() as i64).max(2 * clients);
        let full_big_recipients = (BIG_SESSIONS / 4) as f64;
        let other_recipients = ((FULL_RECIPIENTS - full_big_recipients) * fraction).round() as i64;
        let other_sessions = ((FULL_SESSIONS - BIG_SESSIONS as f64) * fraction).round() as i64;
        Ok(Self {
            fraction,
            clients,
            campaigns,
            big_sessions,
            big_recipients,
            recipients_per_campaign: (other_recipients / (campaigns - 1)).max(10),
            other_sessions,
        })
    }

    pub fn recipients(&self) -> i64 {
        self.big_recipients + (self.campaigns - 1) * self.recipients_per_campaign
    }

    pub fn sessions(&self) -> i64 {
        self.big_sessions + self.other_sessions
    }

    /// The cached database's name: the fraction, the big campaign when not the default, and
    /// the seed's version, e.g. `calltrack_scale_f1_v1` or `calltrack_scale_f0_01_v1`.
    pub fn database_name(&self) -> String {
        let fraction = format!("{}", self.fraction).replace('.', "_");
        let big = if self.big_sessions == BIG_SESSIONS {
            String::new()
        } else {
            format!("_b{}", self.big_sessions)
        };
        format!("calltrack_scale_f{fraction}{big}_v{SEED_VERSION}")
    }

    /// The client whose newest call is more than 30 days old: the last one.
    pub fn quiet_client(&self) -> i64 {
        self.clients - 1
    }

    /// The number of `campaign`'s first recipient (campaign 0 is the big one).
    pub fn first_recipient(&self, campaign: i64) -> i64 {
        if campaign == 0 {
            1
        } else {
            self.big_recipients + (campaign - 1) * self.recipients_per_campaign + 1
        }
    }

    pub fn recipients_of(&self, campaign: i64) -> i64 {
        if campaign == 0 {
            self.big_recipients
        } else {
            self.recipients_per_campaign
        }
    }

    /// Whether `campaign` belongs to the quiet client.
    pub fn is_quiet(&self, campaign: i64) -> bool {
        campaign > 0 && campaign % self.clients == self.quiet_client()
    }

    /// The phone (digits after `+1`) of recipient `k`, as the seed types it.
    pub fn recipient_digits(k: i64) -> i64 {
        2_000_000_000 + k
    }
}

/// The ids the measuring side needs, derived as the seed derives them.
#[derive(Debug, Clone, Copy)]
pub struct Keys {
    pub big_campaign: Uuid,
    pub big_client: Uuid,
    pub quiet_client: Uuid,
    pub admin: Uuid,
    pub big_owner: Uuid,
    pub quiet_owner: Uuid,
    pub quiet_agent: Uuid,
}

/// The id the seed gives the `n`-th thing of `kind`.
pub async fn uid(client: &tokio_postgres::Client, kind: &str, n: i64) -> anyhow::Result<Uuid> {
    Ok(client
        .query_one(
            "SELECT md5('scale-' || $1::text || '-' || $2::bigint)::uuid",
            &[&kind, &n],
        )
        .await?
        .get(0))
}

impl Keys {
    pub async fn of(client: &tokio_postgres::Client, plan: &Plan) -> anyhow::Result<Self> {
        Ok(Self {
            big_campaign: uid(client, "campaign", 0).await?,
            big_client: uid(client, "client", 0).await?,
            quiet_client: uid(client, "client", plan.quiet_client()).await?,
            admin: uid(client, "user", 1).await?,
            big_owner: uid(client, "user", 2).await?,
            quiet_owner: uid(client, "user", 3).await?,
            quiet_agent: uid(client, "user", 4).await?,
        })
    }
}

/// The comment a finished seed leaves on its database; a database without it (a seed that
/// was interrupted) is seeded again from scratch.
pub fn marker(plan: &Plan, seconds: f64) -> String {
    serde_json::json!({
        "calltrack_scale_seed": SEED_VERSION,
        "fraction": plan.fraction,
        "big_sessions": plan.big_sessions,
        "sessions": plan.sessions(),
        "seeded_at": Utc::now(),
        "seed_seconds": seconds.round(),
    })
    .to_string()
}

/// Whether `comment` (the database's) is a finished seed of this version.
pub fn is_finished_seed(comment: Option<&str>) -> bool {
    comment
        .and_then(|c| serde_json::from_str::<serde_json::Value>(c).ok())
        .is_some_and(|v| v["calltrack_scale_seed"] == SEED_VERSION)
}

/// Runs one step and prints how long it took.
async fn step(client: &tokio_postgres::Client, what: &str, sql: &str) -> anyhow::Result<()> {
    let t = Instant::now();
    client
        .batch_execute(sql)
        .await
        .with_context(|| format!("seeding failed at: {what}"))?;
    println!("  {what}: {:.1} s", t.elapsed().as_secs_f64());
    Ok(())
}

/// Runs `sql` (with `$1` the seed's "now", `$2`/`$3` a range) over `1..=total` in batches.
async fn batched(
    client: &tokio_postgres::Client,
    what: &str,
    sql: &str,
    total: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let t = Instant::now();
    let statement = client
        .prepare(sql)
        .await
        .with_context(|| format!("preparing {what}"))?;
    let mut lo = 1;
    while lo <= total {
        let hi = (lo + BATCH - 1).min(total);
        client
            .execute(&statement, &[&now, &lo, &hi])
            .await
            .with_context(|| format!("seeding failed at: {what} {lo}..{hi}"))?;
        println!(
            "  {what}: {hi} of {total} ({:.1} s)",
            t.elapsed().as_secs_f64()
        );
        lo = hi + 1;
    }
    Ok(())
}

/// The indexes of `table` that back no constraint, dropped; returns their definitions to
/// build them again once the rows are in (one sort per index instead of ten million
/// random inserts into each). Whatever indexes the running build's migrations made are
/// the ones rebuilt.
async fn drop_indexes(client: &tokio_postgres::Client, table: &str) -> anyhow::Result<Vec<String>> {
    let rows = client
        .query(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
             FROM pg_index i
             WHERE i.indrelid = $1::text::regclass
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
            &[&table],
        )
        .await?;
    let mut definitions = Vec::new();
    for row in rows {
        let name: String = row.get(0);
        client.batch_execute(&format!("DROP INDEX {name}")).await?;
        definitions.push(row.get(1));
    }
    Ok(definitions)
}

/// Writes the whole population into an empty, migrated database on `client`'s connection.
/// Triggers are off while it writes (`session_replication_role = replica`), so every column
/// a trigger would set is written here: `call_outcome` by the database's own
/// `calltrack_call_outcome`, `status_rank`, `updated_at`.
pub async fn populate(client: &tokio_postgres::Client, plan: &Plan) -> anyhow::Result<()> {
    let now = Utc::now();
    let cl = plan.clients;
    let orgs = (cl / 10).max(1);
    let c = plan.campaigns;
    let rb = plan.big_recipients;
    let rp = plan.recipients_per_campaign;
    let b = plan.big_sessions;
    client
        .batch_execute(&format!(
            "SET session_replication_role = replica;
             SET synchronous_commit = off;
             SET maintenance_work_mem = '1GB';
             SET work_mem = '256MB';
             SET max_parallel_maintenance_workers = 1;
             SELECT setseed(0.27);
             CREATE FUNCTION pg_temp.uid(kind text, n bigint) RETURNS uuid
                 LANGUAGE sql IMMUTABLE AS $$ SELECT md5('scale-' || kind || '-' || n)::uuid $$;
             CREATE FUNCTION pg_temp.client_of(n bigint) RETURNS bigint
                 LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN n = 0 THEN 0 ELSE n % {cl} END $$;
             CREATE FUNCTION pg_temp.quiet(n bigint) RETURNS boolean
                 LANGUAGE sql IMMUTABLE AS $$ SELECT n > 0 AND n % {cl} = {quiet} $$;
             -- Days from a campaign's mail date to now: the big one mailed a year ago, the
             -- quiet client's 120 to 364 days ago, the others 3 to 364 days ago.
             CREATE FUNCTION pg_temp.mail_days(n bigint) RETURNS int
                 LANGUAGE sql IMMUTABLE AS $$
                 SELECT CASE WHEN n = 0 THEN 365
                             WHEN pg_temp.quiet(n) THEN 120 + (n * 7919 % 245)::int
                             ELSE 3 + (n * 7919 % 362)::int END $$;
             -- Over how many days after the mail date its calls come (the quiet client's
             -- stop 31 days ago or earlier).
             CREATE FUNCTION pg_temp.span_days(n bigint) RETURNS int
                 LANGUAGE sql IMMUTABLE AS $$
                 SELECT CASE WHEN n = 0 THEN 365
                             WHEN pg_temp.quiet(n) THEN least(90, pg_temp.mail_days(n) - 31)
                             ELSE least(90, pg_temp.mail_days(n)) END $$;
             CREATE FUNCTION pg_temp.rec_base(n bigint) RETURNS bigint
                 LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN n = 0 THEN 0 ELSE {rb} + (n - 1) * {rp} END $$;
             CREATE FUNCTION pg_temp.rec_count(n bigint) RETURNS bigint
                 LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN n = 0 THEN {rb} ELSE {rp} END $$;",
            quiet = plan.quiet_client(),
        ))
        .await
        .context("preparing the seed's session")?;

    let people = format!(
        "INSERT INTO organizations (id, name, type, created_at)
         SELECT pg_temp.uid('org', i), 'Agency ' || i, 'agency', now() - interval '400 days'
         FROM generate_series(0, {orgs} - 1) i;
         INSERT INTO clients (id, org_id, name, industry, created_at)
         SELECT pg_temp.uid('client', i), pg_temp.uid('org', i % {orgs}),
                CASE WHEN i = 0 THEN 'Big Roofing Co' WHEN i = {quiet} THEN 'Quiet Dental' ELSE 'Client ' || i END,
                (ARRAY['roofing', 'rei', 'auto_service', 'home_services', 'insurance', 'real_estate',
                       'solar', 'hvac', 'legal', 'dental', 'medical', 'other'])[1 + i % 12],
                now() - interval '400 days'
         FROM generate_series(0, {cl} - 1) i;
         INSERT INTO campaigns (id, client_id, name, status, size, postage, vendor, mail_date, created_at, updated_at)
         SELECT pg_temp.uid('campaign', n), pg_temp.uid('client', pg_temp.client_of(n)),
                CASE WHEN n = 0 THEN 'Spring storm mailer (big)' ELSE 'Campaign ' || n END,
                CASE WHEN pg_temp.mail_days(n) > 90 THEN 'completed' ELSE 'mailed' END, '6x9', 'standard', 'PrintCo',
                (now() - make_interval(days => pg_temp.mail_days(n)))::date,
                now() - make_interval(days => pg_temp.mail_days(n) + 20),
                now() - make_interval(days => pg_temp.mail_days(n) + 20)
         FROM generate_series(0, {c} - 1) n;
         INSERT INTO tracked_phone_numbers (id, campaign_id, phone_number, forward_to_number, provider_sid,
                                            friendly_name, created_at, updated_at)
         SELECT pg_temp.uid('number', n), pg_temp.uid('campaign', n), '+1800' || lpad(n::text, 7, '0'),
                '{FORWARD_TO}', 'PN' || md5('scale-pn-' || n), 'Campaign ' || n,
                now() - make_interval(days => pg_temp.mail_days(n) + 10),
                now() - make_interval(days => pg_temp.mail_days(n) + 10)
         FROM generate_series(0, {c} - 1) n;
         INSERT INTO campaign_conditions (id, campaign_id, condition_number, condition_name, trigger_type)
         SELECT pg_temp.uid('condition-' || k, n), pg_temp.uid('campaign', n), k,
                CASE k WHEN 1 THEN 'Called in' ELSE 'Booked an inspection' END, 'call'
         FROM generate_series(0, {c} - 1) n, generate_series(1, 2) k;
         INSERT INTO gift_card_brands (id, brand_name, default_value) VALUES (pg_temp.uid('brand', 0), 'Amazon', 25);
         INSERT INTO gift_card_pools (id, client_id, brand_id, pool_name, value_amount)
         SELECT pg_temp.uid('pool', i), pg_temp.uid('client', i), pg_temp.uid('brand', 0), 'Amazon $25', 25
         FROM generate_series(0, {cl} - 1) i;
         INSERT INTO campaign_reward_configs (id, campaign_id, condition_number, gift_card_pool_id,
                                              reward_description, sms_template)
         SELECT pg_temp.uid('reward-' || k, n), pg_temp.uid('campaign', n), k,
                pg_temp.uid('pool', pg_temp.client_of(n)), '$25 Amazon gift card',
                'Thanks for calling! Your $25 Amazon gift card: {{{{code}}}}'
         FROM generate_series(0, {c} - 1) n, generate_series(1, 2) k;
         -- 1 admin, 2 the big client's company owner, 3 the quiet client's company owner,
         -- 4 the quiet client's call-center agent, 5 the big client's agent.
         INSERT INTO user_roles (user_id, role)
         VALUES (pg_temp.uid('user', 1), 'admin'), (pg_temp.uid('user', 2), 'company_owner'),
                (pg_temp.uid('user', 3), 'company_owner'), (pg_temp.uid('user', 4), 'call_center'),
                (pg_temp.uid('user', 5), 'call_center');
         INSERT INTO client_users (client_id, user_id)
         VALUES (pg_temp.uid('client', 0), pg_temp.uid('user', 2)),
                (pg_temp.uid('client', {quiet}), pg_temp.uid('user', 3)),
                (pg_temp.uid('client', {quiet}), pg_temp.uid('user', 4)),
                (pg_temp.uid('client', 0), pg_temp.uid('user', 5));
         INSERT INTO profiles (id, email, full_name)
         SELECT pg_temp.uid('user', u), 'scale-user-' || u || '@example.com', 'Scale user ' || u
         FROM generate_series(1, 5) u;",
        quiet = plan.quiet_client(),
    );
    step(
        client,
        "organizations, clients, campaigns, numbers, users",
        &people,
    )
    .await?;

    let recipient_indexes = drop_indexes(client, "recipients").await?;
    let session_indexes = drop_indexes(client, "call_sessions").await?;

    // Phones typed three ways, as other systems store them; recipient k's is 2000000000 + k.
    let recipients = format!(
        "INSERT INTO recipients (id, campaign_id, redemption_code, purl_token, first_name, last_name, email,
                                 phone, city, state, zip, status, delivered_at, created_at)
         SELECT pg_temp.uid('recipient', k), pg_temp.uid('campaign', n), 'S' || k, md5('scale-purl-' || k),
                (ARRAY['James', 'Mary', 'Robert', 'Patricia', 'John', 'Jennifer', 'Michael', 'Linda'])[1 + k % 8],
                (ARRAY['Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller'])[1 + k % 7],
                'r' || k || '@example.com',
                CASE k % 3
                    WHEN 0 THEN format('(%s) %s-%s', substr(d, 1, 3), substr(d, 4, 3), substr(d, 7))
                    WHEN 1 THEN format('%s.%s.%s', substr(d, 1, 3), substr(d, 4, 3), substr(d, 7))
                    ELSE format('+1 %s %s %s', substr(d, 1, 3), substr(d, 4, 3), substr(d, 7))
                END,
                (ARRAY['Dallas', 'Austin', 'Tulsa', 'Denver', 'Omaha'])[1 + k % 5],
                (ARRAY['TX', 'TX', 'OK', 'CO', 'NE'])[1 + k % 5], lpad((k % 99999)::text, 5, '0'),
                'delivered', $1::timestamptz - make_interval(days => pg_temp.mail_days(n)),
                $1::timestamptz - make_interval(days => pg_temp.mail_days(n) + 20)
         FROM generate_series($2::bigint, $3::bigint) k
         CROSS JOIN LATERAL (SELECT CASE WHEN k <= {rb} THEN 0 ELSE 1 + (k - {rb} - 1) / {rp} END AS n) c
         CROSS JOIN LATERAL (SELECT (2000000000 + k)::text AS d) digits"
    );
    batched(client, "recipients", &recipients, plan.recipients(), now).await?;

    // Sessions 1..=B are the big campaign's, spread over the year; the others' come after
    // their campaign's mail date and fall off (the square of a uniform draw). Outcomes:
    // 55% answered, 20% missed, 10% voicemail, 15% abandoned; calls of the last three
    // minutes before the seed are still ringing (live). 60% of callers are recipients.
    let sessions = format!(
        "INSERT INTO call_sessions (id, campaign_id, tracked_number_id, recipient_id, caller_phone, match_status,
             call_status, status_rank, leg_status, call_outcome, call_started_at, call_answered_at, call_ended_at,
             call_duration_seconds, talk_seconds, recording_url, recording_sid, recording_duration, recording_status,
             voicemail_sid, voicemail_url, voicemail_duration, twilio_call_sid, forward_to_number, caller_verstat,
             notes, created_at, updated_at)
         SELECT id, campaign_id, tracked_number_id, recipient_id, caller_phone, match_status, call_status,
                status_rank, leg_status,
                calltrack_call_outcome(voicemail_sid, answered_at, leg_status, call_status, status_rank),
                at, answered_at, ended_at, duration, talk_seconds, recording_url, recording_sid,
                recording_duration, recording_status, voicemail_sid, voicemail_url, voicemail_duration,
                'CA' || md5('scale-call-' || g), '{FORWARD_TO}', verstat, notes, at, coalesce(ended_at, at)
         FROM (
             SELECT g, at, pg_temp.uid('session', g) AS id, pg_temp.uid('campaign', n) AS campaign_id,
                    pg_temp.uid('number', n) AS tracked_number_id,
                    CASE WHEN matched THEN pg_temp.uid('recipient', k) END AS recipient_id,
                    CASE WHEN matched THEN '+1' || (2000000000 + k)
                         ELSE '+1646' || lpad(floor(u_caller * 2000000)::int::text, 7, '0') END AS caller_phone,
                    CASE WHEN matched THEN 'matched' ELSE 'unmatched' END AS match_status,
                    CASE WHEN live THEN 'ringing' ELSE 'completed' END AS call_status,
                    (CASE WHEN live THEN 2 ELSE 4 END)::smallint AS status_rank,
                    CASE WHEN live THEN 'ringing'
                         WHEN o = 'answered' THEN 'completed'
                         WHEN o = 'missed' THEN CASE WHEN u_rec < 0.8 THEN 'no-answer' ELSE 'busy' END
                         WHEN o = 'voicemail' THEN 'no-answer'
                         WHEN u_rec < 0.7 THEN 'canceled' END AS leg_status,
                    CASE WHEN NOT live AND o = 'answered' THEN at + make_interval(secs => ring) END AS answered_at,
                    CASE WHEN NOT live AND o = 'answered' THEN talk END AS talk_seconds,
                    CASE WHEN NOT live THEN at + make_interval(secs => duration) END AS ended_at,
                    CASE WHEN NOT live THEN duration END AS duration,
                    CASE WHEN recorded THEN 'RE' || md5('scale-rec-' || g) END AS recording_sid,
                    CASE WHEN recorded THEN 'https://api.twilio.com/2010-04-01/Accounts/ACscale/Recordings/RE'
                                            || md5('scale-rec-' || g) END AS recording_url,
                    CASE WHEN recorded THEN talk END AS recording_duration,
                    CASE WHEN recorded THEN 'completed' END AS recording_status,
                    CASE WHEN voicemail THEN 'RE' || md5('scale-vm-' || g) END AS voicemail_sid,
                    CASE WHEN voicemail THEN 'https://api.twilio.com/2010-04-01/Accounts/ACscale/Recordings/RE'
                                             || md5('scale-vm-' || g) END AS voicemail_url,
                    CASE WHEN voicemail THEN 5 + floor(u_talk * 60)::int END AS voicemail_duration,
                    CASE WHEN u_v < 0.7 THEN 'TN-Validation-Passed-A'
                         WHEN u_v < 0.8 THEN 'TN-Validation-Passed-B' END AS verstat,
                    CASE WHEN u_v > 0.99 THEN 'Asked about financing' END AS notes
             FROM (
                 SELECT t.*, at > $1::timestamptz - interval '3 minutes' AS live,
                        at <= $1::timestamptz - interval '3 minutes' AND o = 'answered' AND u_rec < 0.7 AS recorded,
                        at <= $1::timestamptz - interval '3 minutes' AND o = 'voicemail' AS voicemail,
                        CASE o WHEN 'answered' THEN ring + talk + 2 WHEN 'missed' THEN ring + 1
                               WHEN 'voicemail' THEN ring + 8 + floor(u_talk * 60)::int
                               ELSE 1 + ring / 2 END AS duration
                 FROM (
                     SELECT r.*,
                            CASE WHEN n = 0 THEN $1::timestamptz - u_time * interval '365 days'
                                 ELSE $1::timestamptz - make_interval(days => pg_temp.mail_days(n))
                                      + (u_time * u_time) * make_interval(days => pg_temp.span_days(n)) END AS at,
                            u_match < 0.6 AS matched,
                            pg_temp.rec_base(n) + 1 + floor(u_k * pg_temp.rec_count(n))::bigint AS k,
                            CASE WHEN u_out < 0.55 THEN 'answered' WHEN u_out < 0.75 THEN 'missed'
                                 WHEN u_out < 0.85 THEN 'voicemail' ELSE 'abandoned' END AS o,
                            4 + floor(u_ring * 20)::int AS ring,
                            15 + floor(u_talk * u_talk * 900)::int AS talk
                     FROM (
                         SELECT g, CASE WHEN g <= {b} THEN 0 ELSE 1 + (g - {b} - 1) % ({c} - 1) END AS n,
                                random() AS u_time, random() AS u_match, random() AS u_k, random() AS u_out,
                                random() AS u_ring, random() AS u_talk, random() AS u_rec,
                                random() AS u_caller, random() AS u_v
                         FROM generate_series($2::bigint, $3::bigint) g
                     ) r
                 ) t
             ) v
         ) w"
    );
    batched(client, "call sessions", &sessions, plan.sessions(), now).await?;

    // About one matched call in ten meets condition 1, a third of those condition 2 too; a
    // recipient meets each condition once (repeat callers' later calls are skipped).
    let conditions = "INSERT INTO call_conditions_met (id, call_session_id, campaign_id, recipient_id,
             condition_number, met_at, met_by_agent_id, gift_card_id, delivery_status, reward_status,
             reward_config_id, created_at, updated_at)
         SELECT md5('scale-met-' || s.id || '-' || k)::uuid, s.id, s.campaign_id, s.recipient_id, k, met_at,
                pg_temp.uid('user', 5),
                CASE WHEN reward = 'provisioned' THEN md5('scale-card-' || s.id || '-' || k)::uuid END,
                CASE WHEN reward = 'no_phone' THEN NULL
                     WHEN reward <> 'provisioned' THEN 'pending'
                     WHEN u3 < 0.68 THEN 'delivered' WHEN u3 < 0.75 THEN 'sent'
                     WHEN u3 < 0.78 THEN 'failed' ELSE 'pending' END,
                reward, CASE WHEN reward <> 'no_reward_configured' THEN rc.id END, met_at, met_at
         FROM (
             SELECT s.*, k, s.call_answered_at + make_interval(secs => s.talk_seconds + 60 * k) AS met_at,
                    CASE WHEN u3 < 0.85 THEN 'provisioned' WHEN u3 < 0.90 THEN 'pool_exhausted'
                         WHEN u3 < 0.95 THEN 'no_reward_configured' ELSE 'no_phone' END AS reward
             FROM (
                 SELECT id, campaign_id, recipient_id, call_answered_at, talk_seconds,
                        random() AS u1, random() AS u2, random() AS u3
                 FROM call_sessions
                 WHERE match_status = 'matched' AND call_outcome = 'answered'
             ) s
             CROSS JOIN generate_series(1, 2) k
             WHERE s.u1 < 0.18 AND (k = 1 OR s.u2 < 0.3)
         ) s
         JOIN campaign_reward_configs rc ON rc.campaign_id = s.campaign_id AND rc.condition_number = s.k
         ON CONFLICT DO NOTHING";
    step(client, "conditions met", conditions).await?;

    let cards = "INSERT INTO gift_cards (id, pool_id, card_code, value_amount, status, recipient_id, campaign_id,
             claimed_at, delivered_at, delivery_method, created_at)
         SELECT m.gift_card_id, rc.gift_card_pool_id, 'scale:' || md5('scale-code-' || m.id), 25,
                CASE WHEN m.delivery_status = 'delivered' THEN 'delivered' ELSE 'claimed' END,
                m.recipient_id, m.campaign_id, m.met_at,
                CASE WHEN m.delivery_status = 'delivered' THEN m.met_at + interval '1 minute' END,
                'sms', m.met_at - interval '30 days'
         FROM call_conditions_met m JOIN campaign_reward_configs rc ON rc.id = m.reward_config_id
         WHERE m.gift_card_id IS NOT NULL;
         INSERT INTO gift_cards (pool_id, card_code, value_amount, status, created_at)
         SELECT p.id, 'scale:' || md5('scale-spare-' || p.id || '-' || g), 25, 'available', now() - interval '60 days'
         FROM gift_card_pools p, generate_series(1, 100) g;
         UPDATE gift_card_pools p SET total_cards = n.total, available_cards = n.available,
                                      delivered_cards = n.delivered
         FROM (SELECT pool_id, count(*) AS total, count(*) FILTER (WHERE status = 'available') AS available,
                      count(*) FILTER (WHERE status = 'delivered') AS delivered
               FROM gift_cards GROUP BY pool_id) n
         WHERE n.pool_id = p.id;";
    step(client, "gift cards", cards).await?;

    // A call event for each session of the months that have their own partition (last
    // month and this one); older sessions have none.
    let events = "INSERT INTO events (campaign_id, recipient_id, event_type, event_data, created_at)
         SELECT s.campaign_id, s.recipient_id, 'call',
                jsonb_build_object('call_session_id', s.id, 'call_sid', s.twilio_call_sid,
                    'tracked_number_id', s.tracked_number_id, 'to', t.phone_number, 'from', s.caller_phone,
                    'match_status', s.match_status),
                s.created_at
         FROM call_sessions s JOIN tracked_phone_numbers t ON t.id = s.tracked_number_id
         WHERE s.created_at >= (date_trunc('month', now() AT TIME ZONE 'UTC') - interval '1 month') AT TIME ZONE 'UTC'";
    step(client, "call events of last month and this one", events).await?;

    for definition in recipient_indexes.iter().chain(&session_indexes) {
        let name = definition
            .split_whitespace()
            .nth(if definition.starts_with("CREATE UNIQUE") {
                3
            } else {
                2
            })
            .unwrap_or("index");
        step(client, &format!("index {name}"), definition).await?;
    }
    // A platform's sessions lie on disk in the order its calls came in; generated at random
    // times they would not, and every read of a campaign's calls in time order (an export)
    // would fetch a page per row.
    step(
        client,
        "sessions laid out in call order (CLUSTER)",
        "CLUSTER call_sessions USING call_sessions_created_at_idx",
    )
    .await?;
    client
        .batch_execute("RESET session_replication_role")
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_full_plan_is_the_busy_year_of_issue_27() {
        let plan = Plan::new(1.0, BIG_SESSIONS).unwrap();
        assert_eq!((plan.clients, plan.campaigns), (200, 2_000));
        assert_eq!(plan.sessions(), 10_000_000);
        assert_eq!(plan.recipients(), 4_999_749);
        assert_eq!(
            plan.database_name(),
            format!("calltrack_scale_f1_v{SEED_VERSION}")
        );
    }

    #[test]
    fn a_fraction_scales_everything_but_the_big_campaign() {
        let plan = Plan::new(0.1, BIG_SESSIONS).unwrap();
        assert_eq!((plan.clients, plan.campaigns), (20, 200));
        assert_eq!(plan.big_sessions, 2_000_000);
        assert_eq!(plan.sessions(), 2_000_000 + 800_000);
        assert_eq!(
            plan.database_name(),
            format!("calltrack_scale_f0_1_v{SEED_VERSION}")
        );
        let tiny = Plan::new(0.0001, 5_000).unwrap();
        assert_eq!(
            tiny.clients, 3,
            "a big, a quiet and an ordinary client at least"
        );
        assert!(tiny.database_name().contains("_b5000_"));
        assert!(Plan::new(0.0, BIG_SESSIONS).is_err());
        assert!(Plan::new(1.5, BIG_SESSIONS).is_err());
    }

    #[test]
    fn recipients_of_each_campaign_follow_one_another_without_overlap() {
        let plan = Plan::new(0.01, 20_000).unwrap();
        let mut next = 1;
        for campaign in 0..plan.campaigns {
            assert_eq!(plan.first_recipient(campaign), next);
            next += plan.recipients_of(campaign);
        }
        assert_eq!(next - 1, plan.recipients());
        assert!(plan.is_quiet(plan.quiet_client()));
        assert!(!plan.is_quiet(0));
    }

    #[test]
    fn only_a_finished_seed_of_this_version_is_reused() {
        let plan = Plan::new(0.5, BIG_SESSIONS).unwrap();
        assert!(is_finished_seed(Some(&marker(&plan, 12.0))));
        assert!(!is_finished_seed(None));
        assert!(!is_finished_seed(Some("a comment someone wrote")));
        assert!(!is_finished_seed(Some(r#"{"calltrack_scale_seed": 0}"#)));
    }
}
