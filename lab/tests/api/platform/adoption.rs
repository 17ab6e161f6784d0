//! calltrack inside the platform's own database, on two shapes of it: the platform's
//! Supabase project as its migrations left it (`lab/tests/platform/supabase_platform.sql`:
//! auth.users and auth.uid(), enum types for most enumerations, extra columns and tables,
//! RLS with the platform's own policies) and a database built from the platform's schema
//! document alone (`lab/tests/platform/documented_minimum.sql`: exactly its tables and columns).
//! Each is adopted by `migrate`, then the whole call → session → condition → reward → SMS
//! path, the consoles' API calls and the numbers API run on it. Every test here runs on
//! both, as `supabase_shaped::<test>` and `documented_minimum::<test>`.

use std::time::Duration;

use calltrack::db;
use calltrack::twilio::simulated::sms_status;
use serde_json::{Value, json};
use tokio_postgres::Client;
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, ResponseTemplate};

use crate::fast::numbers::{BOUGHT_SID, number_path, numbers_path, sold};
use crate::helpers::{Campaign, TRACKED_NUMBER, TestApp, conninfo, test_database};
use crate::world::{Auth, CALLER, GIFT_CARD_KEY};

const OWNER: &str = "platform_owner";
const MESSAGES_PATH: &str = "/2010-04-01/Accounts/ACae6d5b1f2c3e4d5a6b7c8d9e0f1a2b3c/Messages.json";

/// A shape of the platform's database that calltrack must adopt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// The platform's Supabase project: more columns and tables than the schema document,
    /// enum types for most enumerations, NOT NULLs and defaults.
    SupabaseShaped,
    /// The schema document's tables and columns and nothing more: no `deleted_at` on
    /// `campaigns` or `recipients`, enum types only where it says ENUM, almost no defaults.
    DocumentedMinimum,
}

impl Platform {
    fn sql(self) -> &'static str {
        match self {
            Self::SupabaseShaped => include_str!("../../platform/supabase_platform.sql"),
            Self::DocumentedMinimum => include_str!("../../platform/documented_minimum.sql"),
        }
    }
}

/// Runs each named `async fn(Platform)` as a test once per platform shape.
macro_rules! on_each_platform {
    ($($test:ident),+ $(,)?) => {
        mod supabase_shaped {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test($crate::platform::adoption::Platform::SupabaseShaped).await
                }
            )+
        }
        mod documented_minimum {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test($crate::platform::adoption::Platform::DocumentedMinimum).await
                }
            )+
        }
    };
}
pub(crate) use on_each_platform;

on_each_platform!(
    a_platform_database_is_adopted_and_carries_a_call_through_to_the_delivered_reward,
    the_consoles_api_calls_and_the_numbers_api_work_on_the_adopted_database,
    the_platforms_own_policies_still_govern_its_roles_after_adoption,
    rows_the_platform_wrote_before_adoption_are_filled_in,
    adoption_gives_the_platform_every_column_the_standalone_schema_has,
    a_missing_column_or_a_foreign_type_is_refused_by_name_and_nothing_changes,
    a_column_the_platform_retypes_after_adoption_stops_the_next_migration,
    adopting_from_two_processes_at_once_and_again_later_is_safe,
    batched_calls_and_callbacks_write_the_platforms_status_columns,
    calltracks_policies_on_the_adopted_database_test_the_scope_once_per_statement,
);

/// A fresh database of `platform`'s shape, owned by (and connected as) a role that is not
/// a superuser, as the platform's migrations leave it. Named like the suite's other test
/// databases, so a later run drops it once this process has ended.
pub async fn platform_database(platform: Platform) -> tokio_postgres::Config {
    let server = test_database().await;
    let admin = db::pool::connect(&server).await.unwrap();
    admin
        .batch_execute(&format!(
            "DO $$ BEGIN CREATE ROLE {OWNER} LOGIN CREATEROLE;
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        ))
        .await
        .unwrap();
    let name = format!(
        "calltrack_t_{}_platform_{}",
        std::process::id(),
        Uuid::new_v4().simple()
    );
    admin
        .batch_execute(&format!(
            "CREATE DATABASE {name} OWNER {OWNER} TEMPLATE template0"
        ))
        .await
        .unwrap();
    let mut config = server.clone();
    config.dbname(&name).user(OWNER);
    let owner = db::pool::connect(&config).await.unwrap();
    owner.batch_execute(platform.sql()).await.unwrap();
    config
}

pub async fn adopt(config: &tokio_postgres::Config) -> Vec<i32> {
    let mut client = db::pool::connect(config).await.unwrap();
    db::migrate::run(&mut client).await.unwrap()
}

/// The campaign of [`TestApp::seed_campaign`], its client, a recipient typed as a mail house
/// would, and an agent's condition 1.
pub(crate) async fn seed_platform_campaign(app: &TestApp) -> (Campaign, Uuid, Uuid) {
    let campaign = app.seed_campaign().await;
    let client_id: Uuid = app
        .db
        .query_one(
            "SELECT client_id FROM campaigns WHERE id = $1",
            &[&campaign.id],
        )
        .await
        .unwrap()
        .get(0);
    let recipient = app.seed_recipient(&campaign, "(415) 555-0100").await;
    app.db
        .execute(
            "INSERT INTO campaign_conditions (campaign_id, condition_number, condition_name,
                 trigger_type, is_active)
             VALUES ($1, 1, 'Booked an appointment', 'call', true)",
            &[&campaign.id],
        )
        .await
        .unwrap();
    (campaign, client_id, recipient)
}

/// A platform user: a row of auth.users (the user-id columns reference it) with `role`.
pub(crate) async fn platform_user(db: &Client, role: &str, client_id: Uuid) -> Uuid {
    let user: Uuid = db
        .query_one(
            "INSERT INTO auth.users (email) VALUES ($1) RETURNING id",
            &[&format!("{}@example.com", Uuid::new_v4().simple())],
        )
        .await
        .unwrap()
        .get(0);
    db.execute(
        "INSERT INTO user_roles (user_id, role) VALUES ($1, $2::text::app_role)",
        &[&user, &role],
    )
    .await
    .unwrap();
    db.execute(
        "INSERT INTO client_users (client_id, user_id) VALUES ($1, $2)",
        &[&client_id, &user],
    )
    .await
    .unwrap();
    user
}

async fn column_type(db: &Client, table: &str, column: &str) -> String {
    db.query_one(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute
         WHERE attrelid = $1::text::regclass AND attname = $2",
        &[&table, &column],
    )
    .await
    .unwrap()
    .get(0)
}

/// The platform's policies, as the catalog holds them.
/// Every migration's version: an adoption stands in for V1 to V9 and applies the rest.
fn every_version() -> Vec<i32> {
    db::migrate::MIGRATIONS.iter().map(|m| m.version).collect()
}

async fn platform_policies(db: &Client) -> Vec<String> {
    db.query(
        "SELECT tablename || ' ' || policyname || ' ' || array_to_string(roles, ',') || ' '
                || coalesce(qual, '') || ' ' || coalesce(with_check, '')
         FROM pg_policies
         WHERE policyname NOT LIKE 'calltrack%' AND NOT ('calltrack_api' = ANY (roles))
         ORDER BY 1",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

async fn wait_for(db: &Client, sql: &str, id: Uuid, expected: &str) -> String {
    let mut last = String::new();
    for _ in 0..200 {
        last = db
            .query_one(sql, &[&id])
            .await
            .unwrap()
            .get::<_, Option<String>>(0)
            .unwrap_or_default();
        if last == expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    last
}

async fn a_platform_database_is_adopted_and_carries_a_call_through_to_the_delivered_reward(
    platform: Platform,
) {
    let config = platform_database(platform).await;
    assert_eq!(adopt(&config).await, every_version());
    // The platform's columns keep their types, enum or text; the soft-delete column the
    // schema document leaves out is there, added if the platform lacked it.
    let db = db::pool::connect(&config).await.unwrap();
    let call_status = match platform {
        Platform::SupabaseShaped => "call_status",
        Platform::DocumentedMinimum => "text",
    };
    assert_eq!(
        column_type(&db, "call_sessions", "call_status").await,
        call_status
    );
    assert_eq!(column_type(&db, "user_roles", "role").await, "app_role");
    assert_eq!(
        column_type(&db, "campaigns", "status").await,
        "campaign_status"
    );
    for table in ["campaigns", "recipients"] {
        assert_eq!(
            column_type(&db, table, "deleted_at").await,
            "timestamp with time zone"
        );
    }

    let app = TestApp::builder()
        .databases(config.clone(), config.clone())
        .env(&[("OUTBOX_POLL_MS", "20")])
        .spawn()
        .await;
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .respond_with(|request: &Request| {
            let form = calltrack::twilio::form::FormPairs::parse(&request.body).unwrap();
            ResponseTemplate::new(201).set_body_json(json!({
                "sid": "SM0123456789abcdef0123456789abcdef", "status": "queued",
                "to": form.get("To"), "body": form.get("Body"),
            }))
        })
        .mount(&app.twilio)
        .await;
    let (campaign, client_id, recipient) = seed_platform_campaign(&app).await;
    let pool = app.seed_pool(Some(client_id), 0).await;
    app.db
        .execute(
            "INSERT INTO campaign_reward_configs (campaign_id, condition_number, gift_card_pool_id, sms_template)
             VALUES ($1, 1, $2, 'Hi {first_name}, your {brand} card: {card_code}')",
            &[&campaign.id, &pool],
        )
        .await
        .unwrap();
    // Inventory arrives through calltrack's own import, into the platform's status column
    // (an enum on the Supabase-shaped database).
    let cards = std::env::temp_dir().join(format!("cards-{}.csv", Uuid::new_v4().simple()));
    std::fs::write(
        &cards,
        "card_code,pin_code,value_amount\nPLATFORM-CARD-1,,25.00\n",
    )
    .unwrap();
    let import = tokio::process::Command::new(calltrack_lab::calltrack_binary().unwrap())
        .args(["gift-cards", "import", "--pool", &pool.to_string()])
        .arg(&cards)
        .env("DATABASE_URL", conninfo(&config))
        .env("GIFT_CARD_KEY", GIFT_CARD_KEY)
        .output()
        .await
        .unwrap();
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    let agent = platform_user(&app.db, "call_center", client_id).await;
    app.wait_for_routing(TRACKED_NUMBER).await;
    // Conditions that meet themselves, on calltrack's columns of the platform's tables: the
    // call meets condition 2 by its talk time, the CRM's event condition 3.
    app.db
        .execute(
            "INSERT INTO campaign_conditions (campaign_id, condition_number, condition_name,
                 trigger_type, crm_event_name, is_active, auto_min_talk_seconds)
             VALUES ($1, 2, 'Talked for half a minute', 'call', NULL, true, 30),
                    ($1, 3, 'Kept the appointment', 'crm_event', 'appointment_kept', true, NULL)",
            &[&campaign.id],
        )
        .await
        .unwrap();

    // The call: voice webhook, both legs' status callbacks, the dial action, the recording.
    let call = app.start_call(CALLER).await;
    let at = chrono::Utc::now();
    for form in [
        call.child_completed(42, at),
        call.parent_completed(50, at),
        call.dial_action("completed", 42, true),
        call.recording(42),
    ] {
        let response = app.post_signed(path_of(&form), &form).await;
        assert!(response.status().is_success(), "{}", response.status());
    }
    let session = app.session(&call.call_sid).await;
    assert_eq!(session["match_status"], "matched");
    assert_eq!(session["recipient_id"], json!(recipient));
    assert_eq!(session["call_status"], "completed");
    assert_eq!(session["call_outcome"], "answered");
    assert_eq!(session["status_rank"], 4);
    assert!(session["recording_sid"].is_string());
    let session_id: Uuid = session["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE event_type = 'call'")
            .await,
        1
    );

    // The agent: the session, then the condition and its reward, then the SMS.
    let auth = Auth::user(agent);
    let (status, detail) = app
        .api_get(&format!("/api/v1/call-sessions/{session_id}"), &auth)
        .await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["recipient"]["id"], json!(recipient));
    let (status, listed) = app
        .api_get(
            "/api/v1/call-sessions?call_status=completed&match_status=matched&call_outcome=answered",
            &auth,
        )
        .await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let (status, marked) = app.mark(session_id, &auth, 1).await;
    assert_eq!(status, 201, "{marked}");
    assert_eq!(marked["reward"]["status"], "provisioned");
    assert_eq!(marked["condition"]["met_by"], "agent");
    let met_by = |number: i32| {
        let db = &app.db;
        async move {
            db.query_one(
                "SELECT met_by, call_session_id FROM call_conditions_met WHERE condition_number = $1",
                &[&number],
            )
            .await
            .map(|r| (r.get::<_, String>(0), r.get::<_, Option<Uuid>>(1)))
            .unwrap()
        }
    };
    assert_eq!(met_by(2).await, ("call_rule".to_owned(), Some(session_id)));
    let owner = platform_user(&app.db, "company_owner", client_id).await;
    let (status, reported) = app
        .api_post(
            "/api/v1/crm-events",
            &Auth::user(owner),
            &json!({"event": "appointment_kept", "id": "platform-crm-1",
                    "recipient": {"phone": "+1 (415) 555-0100"}}),
        )
        .await;
    assert_eq!(status, 201, "{reported}");
    assert_eq!(met_by(3).await, ("crm_event".to_owned(), Some(session_id)));
    let condition: Uuid = marked["condition"]["id"].as_str().unwrap().parse().unwrap();
    let delivery = "SELECT delivery_status::text FROM call_conditions_met WHERE id = $1";
    assert_eq!(wait_for(&app.db, delivery, condition, "sent").await, "sent");
    let form = sms_status(
        "SM0123456789abcdef0123456789abcdef",
        CALLER,
        "delivered",
        None,
    );
    assert_eq!(
        app.post_signed("/twilio/sms-status", &form).await.status(),
        204
    );
    assert_eq!(
        wait_for(&app.db, delivery, condition, "delivered").await,
        "delivered"
    );
    let card = "SELECT g.status::text FROM gift_cards g JOIN call_conditions_met m
                ON m.gift_card_id = g.id WHERE m.id = $1";
    assert_eq!(
        wait_for(&app.db, card, condition, "delivered").await,
        "delivered"
    );

    let (status, stats) = app
        .api_get(
            &format!("/api/v1/campaigns/{}/call-stats", campaign.id),
            &auth,
        )
        .await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(
        (
            &stats["total_calls"],
            &stats["matched"],
            &stats["answered"],
            &stats["rewards_delivered"]
        ),
        (&json!(1), &json!(1), &json!(1), &json!(1))
    );
    // The manager's views read the platform's enum-typed campaign and session columns too.
    let owner = Auth::user(platform_user(&app.db, "company_owner", client_id).await);
    let (status, campaigns) = app.api_get("/api/v1/campaigns", &owner).await;
    assert_eq!(status, 200, "{campaigns}");
    assert_eq!(campaigns["items"][0]["status"], "mailed", "{campaigns}");
    let (status, series) = app
        .api_get(
            &format!("/api/v1/campaigns/{}/call-stats/series", campaign.id),
            &owner,
        )
        .await;
    assert_eq!(status, 200, "{series}");
    let answered: i64 = series["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["answered"].as_i64().unwrap_or_default())
        .sum();
    assert_eq!(answered, 1, "{series}");
    let Auth::Bearer(token) = &owner else {
        unreachable!()
    };
    let csv = app
        .http
        .get(format!(
            "{}/api/v1/campaigns/{}/call-sessions.csv",
            app.address, campaign.id
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    let csv = csv.text().await.unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.contains(&call.call_sid), "{csv}");
    let metrics = app
        .http
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("calltrack_database_up 1"), "{metrics}");
    assert!(
        metrics.contains("calltrack_calls_last_24h{status=\"completed\"} 1"),
        "{metrics}"
    );
    app.stop().await;
}

/// Every call the agent console (`/agent`) and the manager console (`/manage`) make, and
/// the numbers API against a fake Twilio, on the adopted database.
async fn the_consoles_api_calls_and_the_numbers_api_work_on_the_adopted_database(
    platform: Platform,
) {
    let config = platform_database(platform).await;
    adopt(&config).await;
    let app = TestApp::builder()
        .databases(config.clone(), config)
        .spawn()
        .await;
    let (campaign, client_id, recipient) = seed_platform_campaign(&app).await;
    let agent = Auth::user(platform_user(&app.db, "call_center", client_id).await);
    let manager = Auth::user(platform_user(&app.db, "company_owner", client_id).await);
    app.wait_for_routing(TRACKED_NUMBER).await;
    // A caller who is not on file: the consoles link them by the code on their mail piece.
    app.start_call("+12125550177").await;

    // The agent console: its list, a session, linking the recipient, marking a condition.
    let (status, page) = app.api_get("/api/v1/call-sessions?limit=50", &agent).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["items"][0]["match_status"], "unmatched", "{page}");
    let session = page["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, detail) = app
        .api_get(&format!("/api/v1/call-sessions/{session}"), &agent)
        .await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["conditions"][0]["condition_number"], 1, "{detail}");
    let code = app.redemption_code(recipient).await;
    let (status, linked) = app
        .api_post(
            &format!("/api/v1/call-sessions/{session}/recipient"),
            &agent,
            &json!({ "redemption_code": code }),
        )
        .await;
    assert_eq!(status, 200, "{linked}");
    assert_eq!(linked["recipient"]["id"], json!(recipient), "{linked}");
    assert_eq!(linked["match_status"], "matched", "{linked}");
    let (status, marked) = app.mark(session.parse().unwrap(), &agent, 1).await;
    assert_eq!(status, 201, "{marked}");
    assert_eq!(
        marked["reward"]["status"], "no_reward_configured",
        "{marked}"
    );

    // The manager console: campaigns, one campaign, its series and stats, the unmatched
    // calls to link, the CSV export.
    let (status, campaigns) = app.api_get("/api/v1/campaigns?limit=50", &manager).await;
    assert_eq!(status, 200, "{campaigns}");
    let item = &campaigns["items"][0];
    assert_eq!(
        (
            &item["id"],
            &item["status"],
            &item["total_calls"],
            &item["matched"]
        ),
        (&json!(campaign.id), &json!("mailed"), &json!(1), &json!(1)),
        "{campaigns}"
    );
    let (status, one) = app
        .api_get(&format!("/api/v1/campaigns/{}", campaign.id), &manager)
        .await;
    assert_eq!((status, &one), (200, item));
    let now = chrono::Utc::now();
    let from = (now - chrono::Duration::days(6)).format("%Y-%m-%dT00:00:00Z");
    let to = (now + chrono::Duration::days(1)).format("%Y-%m-%dT00:00:00Z");
    let (status, series) = app
        .api_get(
            &format!(
                "/api/v1/campaigns/{}/call-stats/series?bucket=day&from={from}&to={to}",
                campaign.id
            ),
            &manager,
        )
        .await;
    assert_eq!(status, 200, "{series}");
    let calls: i64 = series["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["total_calls"].as_i64().unwrap_or_default())
        .sum();
    assert_eq!(calls, 1, "{series}");
    let (status, stats) = app
        .api_get(
            &format!(
                "/api/v1/campaigns/{}/call-stats?from={}&to={}",
                campaign.id,
                series["from"].as_str().unwrap(),
                series["to"].as_str().unwrap()
            ),
            &manager,
        )
        .await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(stats["conditions_met"]["1"], 1, "{stats}");
    let (status, unmatched) = app
        .api_get(
            &format!(
                "/api/v1/call-sessions?campaign_id={}&match_status=unmatched&limit=20",
                campaign.id
            ),
            &manager,
        )
        .await;
    assert_eq!(status, 200, "{unmatched}");
    assert_eq!(
        unmatched["items"],
        json!([]),
        "linked, so no longer unmatched"
    );
    let (status, filtered) = app
        .api_get(
            &format!(
                "/api/v1/call-sessions?campaign_id={}&match_status=matched&from={from}&to={to}&limit=50",
                campaign.id
            ),
            &manager,
        )
        .await;
    assert_eq!(status, 200, "{filtered}");
    assert_eq!(filtered["items"][0]["id"], json!(session), "{filtered}");
    let Auth::Bearer(token) = &manager else {
        unreachable!()
    };
    let csv = app
        .http
        .get(format!(
            "{}/api/v1/campaigns/{}/call-sessions.csv",
            app.address, campaign.id
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert_eq!(csv.text().await.unwrap().lines().count(), 2);

    // The numbers API: the list, a purchase at Twilio, a call-flow change, a new forward
    // number (re-pointed at Twilio), the release.
    let numbers = format!("/api/v1/campaigns/{}/tracked-numbers", campaign.id);
    let (status, listed) = app.api_get(&numbers, &manager).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(
        listed["items"][0]["phone_number"], TRACKED_NUMBER,
        "{listed}"
    );
    Mock::given(method("POST"))
        .and(path(numbers_path()))
        .respond_with(sold("+14155550123"))
        .expect(1)
        .mount(&app.twilio)
        .await;
    Mock::given(method("POST"))
        .and(path(number_path(BOUGHT_SID)))
        .respond_with(sold("+14155550123"))
        .expect(1)
        .mount(&app.twilio)
        .await;
    Mock::given(method("DELETE"))
        .and(path(number_path(BOUGHT_SID)))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&app.twilio)
        .await;
    let (status, bought) = app
        .api_post(
            &numbers,
            &manager,
            &json!({ "area_code": "415", "forward_to_number": "(415) 555-0199" }),
        )
        .await;
    assert_eq!(status, 201, "{bought}");
    assert_eq!(
        (
            &bought["provider"],
            &bought["provider_sid"],
            &bought["is_active"]
        ),
        (&json!("twilio"), &json!(BOUGHT_SID), &json!(true)),
        "{bought}"
    );
    let number = format!("/api/v1/tracked-numbers/{}", bought["id"].as_str().unwrap());
    let (status, flow) = app
        .api_patch(
            &number,
            &manager,
            &json!({ "whisper": "Call from the spring mailer.",
                     "business_hours": {"timezone": "America/Chicago", "weekly": {}} }),
        )
        .await;
    assert_eq!(status, 200, "{flow}");
    assert_eq!(flow["require_keypress"], true, "{flow}");
    let (status, moved) = app
        .api_patch(
            &number,
            &manager,
            &json!({ "forward_to_number": "+12125550142" }),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["forward_to_number"], "+12125550142");
    let (status, released) = app.api_delete(&number, &manager).await;
    assert_eq!(status, 200, "{released}");
    assert_eq!(released["is_active"], false, "{released}");
    assert!(released["released_at"].is_string(), "{released}");
    app.stop().await;
}

fn path_of(form: &calltrack::twilio::form::FormPairs) -> &'static str {
    if form.get("RecordingSid").is_some() {
        "/twilio/recording"
    } else if form.get("DialCallStatus").is_some() {
        "/twilio/dial-complete"
    } else {
        "/twilio/status"
    }
}

async fn the_platforms_own_policies_still_govern_its_roles_after_adoption(platform: Platform) {
    let config = platform_database(platform).await;
    let db = db::pool::connect(&config).await.unwrap();
    let clients: Vec<Uuid> = db
        .query(
            "WITH o AS (INSERT INTO organizations (name, type) VALUES ('Agency', 'agency') RETURNING id)
             INSERT INTO clients (org_id, name) SELECT id, n FROM o, (VALUES ('A'), ('B')) v (n)
             RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut users = Vec::new();
    for client in &clients {
        users.push(platform_user(&db, "company_owner", *client).await);
        db.execute(
            "INSERT INTO campaigns (client_id, name) VALUES ($1, 'Mailer')",
            &[client],
        )
        .await
        .unwrap();
    }
    let before = platform_policies(&db).await;
    adopt(&config).await;
    assert_eq!(
        platform_policies(&db).await,
        before,
        "a platform policy changed"
    );

    // The platform's role, through its own auth.uid() policies: one campaign each.
    for (user, client) in users.iter().zip(&clients) {
        db.batch_execute(&format!(
            "BEGIN; SET LOCAL ROLE authenticated;
             SELECT set_config('request.jwt.claims', '{{\"sub\":\"{user}\"}}', true)"
        ))
        .await
        .unwrap();
        let seen: Vec<Uuid> = db
            .query("SELECT client_id FROM campaigns", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        db.batch_execute("ROLLBACK").await.unwrap();
        assert_eq!(seen, vec![*client]);
    }
    // calltrack's role, through calltrack's policies: the clients it was given, nothing else.
    db.batch_execute(&format!(
        "BEGIN; SET LOCAL ROLE calltrack_api;
         SELECT set_config('calltrack.client_ids', '{}', true)",
        clients[1]
    ))
    .await
    .unwrap();
    let seen: Vec<Uuid> = db
        .query("SELECT client_id FROM campaigns", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    db.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(seen, vec![clients[1]]);
    // Supabase's default privileges granted calltrack's new tables to anon; adoption (and
    // the migration that made the rollups) took that back, so the outbox and the campaigns'
    // callers are not behind the platform's public API.
    for table in ["sms_outbox", "campaign_callers", "campaign_call_hours"] {
        db.batch_execute("BEGIN; SET LOCAL ROLE anon")
            .await
            .unwrap();
        let denied = db
            .query(&format!("SELECT count(*) FROM {table}"), &[])
            .await;
        db.batch_execute("ROLLBACK").await.unwrap();
        let error = denied.unwrap_err();
        let message = error
            .as_db_error()
            .map(|e| e.message().to_owned())
            .unwrap_or_default();
        assert!(message.contains("permission denied"), "{table}: {error:?}");
    }
}

async fn rows_the_platform_wrote_before_adoption_are_filled_in(platform: Platform) {
    let config = platform_database(platform).await;
    let db = db::pool::connect(&config).await.unwrap();
    db.batch_execute(
        "WITH o AS (INSERT INTO organizations (name, type) VALUES ('Agency', 'agency') RETURNING id),
              c AS (INSERT INTO clients (org_id, name) SELECT id, 'A' FROM o RETURNING id),
              k AS (INSERT INTO campaigns (client_id, name) SELECT id, 'Mailer' FROM c RETURNING id),
              r AS (INSERT INTO recipients (campaign_id, redemption_code, phone)
                    SELECT id, 'OLD-1', '415.555.0100' FROM k),
              t AS (INSERT INTO tracked_phone_numbers (campaign_id, phone_number, forward_to_number)
                    SELECT id, '+18005550123', '+14155550199' FROM k RETURNING id, campaign_id)
         INSERT INTO call_sessions (campaign_id, tracked_number_id, call_status, call_answered_at,
             twilio_call_sid)
         SELECT campaign_id, id, 'completed', now(), 'CAold0000000000000000000000000001' FROM t;
         INSERT INTO call_conditions_met (campaign_id, recipient_id, condition_number, met_at)
         SELECT campaign_id, id, 1, now() FROM recipients",
    )
    .await
    .unwrap();
    adopt(&config).await;
    let row = db
        .query_one(
            "SELECT (SELECT phone_e164 FROM recipients WHERE redemption_code = 'OLD-1'),
                    s.status_rank, s.call_outcome
             FROM call_sessions s",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, Option<String>>(0).as_deref(),
        Some("+14155550100")
    );
    assert_eq!(row.get::<_, i16>(1), 4);
    assert_eq!(row.get::<_, Option<String>>(2).as_deref(), Some("answered"));
    // Conditions met before calltrack came were met by the platform's agents.
    let met_by: String = db
        .query_one("SELECT met_by FROM call_conditions_met", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(met_by, "agent");
    // The campaign's statistics are read from its facts until it is counted into the
    // rollups, which `migrate` and `serve` do after the adoption.
    assert_eq!(
        db.query_one("SELECT count(*) FROM calltrack_rollup_fill", &[])
            .await
            .unwrap()
            .get::<_, i64>(0),
        1
    );
    let pool = db::pool::pool(config.clone(), 1).unwrap();
    assert_eq!(calltrack::app::rollups::fill(&pool, 10).await.unwrap(), 1);
    let totals = db
        .query_one(
            "SELECT calls, answered, (SELECT count(*) FROM calltrack_rollup_fill)
             FROM campaign_call_totals",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (
            totals.get::<_, i64>(0),
            totals.get::<_, i64>(1),
            totals.get::<_, i64>(2)
        ),
        (1, 1, 0)
    );
    // A phone the platform changes later is normalised again by calltrack's trigger.
    db.batch_execute(
        "UPDATE recipients SET phone = '+1 (212) 555-0111' WHERE redemption_code = 'OLD-1'",
    )
    .await
    .unwrap();
    let phone: String = db
        .query_one("SELECT phone_e164 FROM recipients", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(phone, "+12125550111");
}

/// The database's shape, to show that a refused migration changed nothing.
async fn shape(db: &Client) -> Value {
    db.query_one(
        "SELECT jsonb_build_array(
            (SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace),
            (SELECT count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
             WHERE c.relnamespace = 'public'::regnamespace),
            (SELECT count(*) FROM pg_policies),
            (SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace))",
        &[],
    )
    .await
    .unwrap()
    .get(0)
}

async fn migrate_command(config: &tokio_postgres::Config, check: bool) -> std::process::Output {
    let mut command = tokio::process::Command::new(calltrack_lab::calltrack_binary().unwrap());
    command.arg("migrate");
    if check {
        command.arg("--check");
    }
    command
        .env("DATABASE_URL", conninfo(config))
        .env("LOG_FORMAT", "json")
        .output()
        .await
        .unwrap()
}

async fn a_missing_column_or_a_foreign_type_is_refused_by_name_and_nothing_changes(
    platform: Platform,
) {
    let config = platform_database(platform).await;
    let db = db::pool::connect(&config).await.unwrap();
    db.batch_execute(
        "ALTER TABLE recipients DROP COLUMN redemption_code;
         ALTER TABLE campaigns ALTER COLUMN mail_date TYPE timestamp;
         ALTER TABLE call_sessions ALTER COLUMN call_duration_seconds TYPE bigint,
             ADD COLUMN talk_seconds numeric;
         ALTER TABLE gift_cards ADD CONSTRAINT cards_by_email CHECK (delivery_method = 'email');
         CREATE TYPE narrow_match_status AS ENUM ('matched');
         ALTER TABLE call_sessions ALTER COLUMN match_status DROP DEFAULT,
             ALTER COLUMN match_status TYPE narrow_match_status USING 'matched',
             ALTER COLUMN match_status SET DEFAULT 'matched';
         WITH o AS (INSERT INTO organizations (name, type) VALUES ('Agency', 'agency') RETURNING id),
              c AS (INSERT INTO clients (org_id, name) SELECT id, 'A' FROM o RETURNING id),
              k AS (INSERT INTO campaigns (client_id, name) SELECT id, 'Mailer' FROM c RETURNING id),
              t AS (INSERT INTO tracked_phone_numbers (campaign_id, phone_number, forward_to_number)
                    SELECT id, '+18005550123', '+14155550199' FROM k RETURNING id, campaign_id)
         INSERT INTO call_sessions (campaign_id, tracked_number_id, twilio_call_sid)
         SELECT campaign_id, id, 'CAdup' FROM t, generate_series(1, 2);
         ALTER TABLE call_sessions ALTER COLUMN created_at DROP DEFAULT",
    )
    .await
    .unwrap();
    let before = shape(&db).await;

    let check = migrate_command(&config, true).await;
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(!check.status.success(), "{report}");
    assert!(
        report.contains("table recipients has no column redemption_code"),
        "{report}"
    );
    for named in [
        "unique index calltrack_call_sessions_call_sid_key",
        "column campaigns.mail_date is timestamp without time zone, and calltrack reads it as date",
        "column call_sessions.call_duration_seconds is bigint, and calltrack reads it as integer",
        "column call_sessions.talk_seconds is numeric, and calltrack reads it as integer",
        "column call_sessions.created_at",
        "(enum narrow_match_status) has no value 'unmatched'",
        "column gift_cards.delivery_method has a CHECK constraint cards_by_email that refuses 'sms'",
    ] {
        assert!(report.contains(named), "{named} in {report}");
    }
    assert!(
        !report.contains("no column deleted_at"),
        "a column calltrack can supply is no problem: {report}"
    );
    let migrate = migrate_command(&config, false).await;
    let logged = String::from_utf8_lossy(&migrate.stderr);
    assert!(!migrate.status.success());
    assert!(
        logged.contains("recipients has no column redemption_code"),
        "{logged}"
    );
    assert_eq!(
        shape(&db).await,
        before,
        "a refused migration changed the schema"
    );
}

/// The columns of calltrack's tables in the platform's part of the schema, as the catalog
/// of `db` holds them.
async fn platform_columns(db: &Client) -> Vec<String> {
    let tables: Vec<&str> = db::migrate::owned::PLATFORM_TABLES
        .iter()
        .map(|t| t.name)
        .collect();
    db.query(
        "SELECT c.relname || '.' || a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
         WHERE c.relnamespace = 'public'::regnamespace AND c.relname = ANY ($1)
           AND a.attnum > 0 AND NOT a.attisdropped ORDER BY 1",
        &[&tables],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

/// The guard on the list of what calltrack reads: whatever column calltrack's standalone
/// schema gives a platform table (so its statements may read it) an adopted platform has
/// too, however little the platform started with.
async fn adoption_gives_the_platform_every_column_the_standalone_schema_has(platform: Platform) {
    let standalone = db::pool::connect(&test_database().await).await.unwrap();
    let config = platform_database(platform).await;
    adopt(&config).await;
    let adopted = platform_columns(&db::pool::connect(&config).await.unwrap()).await;
    let missing: Vec<String> = platform_columns(&standalone)
        .await
        .into_iter()
        .filter(|c| !adopted.contains(c))
        .collect();
    assert_eq!(missing, Vec::<String>::new());
}

/// The schema document lists `call_status` values without `canceled`, which Twilio reports
/// and calltrack stores; a platform that turned that list into a CHECK constraint is told
/// so before anything is written, not by a failing status callback.
#[tokio::test]
async fn a_call_status_check_built_from_the_documents_list_is_refused_for_canceled() {
    let config = platform_database(Platform::DocumentedMinimum).await;
    let db = db::pool::connect(&config).await.unwrap();
    db.batch_execute(
        "ALTER TABLE call_sessions ADD CONSTRAINT call_sessions_call_status_check
             CHECK (call_status IN ('initiated', 'ringing', 'in-progress', 'completed', 'busy',
                                    'no-answer', 'failed'))",
    )
    .await
    .unwrap();

    let check = migrate_command(&config, true).await;

    let report = String::from_utf8_lossy(&check.stdout);
    assert!(!check.status.success(), "{report}");
    let problems: Vec<&str> = report.lines().filter(|l| l.starts_with("  - ")).collect();
    assert_eq!(
        problems,
        [
            "  - column call_sessions.call_status has a CHECK constraint \
          call_sessions_call_status_check that refuses 'canceled', which calltrack writes \
          (let the constraint allow it)"
        ]
    );
}

async fn a_column_the_platform_retypes_after_adoption_stops_the_next_migration(platform: Platform) {
    let config = platform_database(platform).await;
    adopt(&config).await;
    let db = db::pool::connect(&config).await.unwrap();
    db.batch_execute("ALTER TABLE campaigns ALTER COLUMN mail_date TYPE timestamptz")
        .await
        .unwrap();

    let check = migrate_command(&config, true).await;
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(!check.status.success(), "{report}");
    let named =
        "column campaigns.mail_date is timestamp with time zone, and calltrack reads it as date";
    assert!(report.contains(named), "{report}");
    let migrate = migrate_command(&config, false).await;
    assert!(!migrate.status.success());
    assert!(
        String::from_utf8_lossy(&migrate.stderr).contains(named),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
}

async fn adopting_from_two_processes_at_once_and_again_later_is_safe(platform: Platform) {
    let config = platform_database(platform).await;
    let check = migrate_command(&config, true).await;
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{report}");
    assert!(report.contains("would adopt them"), "{report}");
    assert!(report.contains("call_sessions.status_rank"), "{report}");
    // The soft-delete columns the schema document leaves out are additions, listed as such,
    // where the platform lacks them.
    for table in ["campaigns", "recipients"] {
        assert_eq!(
            report.contains(&format!("  {table}.deleted_at timestamptz (the platform's")),
            platform == Platform::DocumentedMinimum,
            "{report}"
        );
    }

    let (first, second) = tokio::join!(
        migrate_command(&config, false),
        migrate_command(&config, false)
    );
    for output in [&first, &second] {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let db = db::pool::connect(&config).await.unwrap();
    let recorded: Vec<(i32, bool)> = db
        .query(
            "SELECT version, adopted FROM calltrack_schema_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let expected: Vec<(i32, bool)> = db::migrate::MIGRATIONS
        .iter()
        .map(|m| (m.version, m.version <= db::migrate::owned::BASELINE))
        .collect();
    assert_eq!(recorded, expected);
    let invalid = db
        .query_one("SELECT count(*) FROM pg_index WHERE NOT indisvalid", &[])
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(invalid, 0);

    // An adoption cut off before its indexes were built is finished by the next run.
    db.batch_execute(
        "DROP INDEX calltrack_call_sessions_call_sid_key;
         UPDATE calltrack_adoption SET finished_at = NULL",
    )
    .await
    .unwrap();
    assert!(adopt(&config).await.is_empty());
    let rebuilt = db
        .query_one(
            "SELECT to_regclass('calltrack_call_sessions_call_sid_key') IS NOT NULL
                    AND (SELECT finished_at IS NOT NULL FROM calltrack_adoption)",
            &[],
        )
        .await
        .unwrap()
        .get::<_, bool>(0);
    assert!(rebuilt);
    let again = migrate_command(&config, true).await;
    assert!(String::from_utf8_lossy(&again.stdout).contains("up to date"));
}

#[tokio::test]
async fn standalone_policies_apply_to_calltrack_api_alone() {
    let config = test_database().await;
    let db = db::pool::connect(&config).await.unwrap();
    let rows = db
        .query(
            "SELECT tablename || '.' || policyname || ' ' || array_to_string(roles, ',')
             FROM pg_policies ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    let policies: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    // Eleven on the platform's tables, eight on the statistics rollups', two on the CRM events
    // and the due conditions, three on the webhooks' endpoints, messages and attempts.
    assert_eq!(policies.len(), 24, "{policies:?}");
    for policy in policies {
        assert!(policy.ends_with(" calltrack_api"), "{policy}");
    }
}

async fn calltracks_policies_on_the_adopted_database_test_the_scope_once_per_statement(
    platform: Platform,
) {
    let config = platform_database(platform).await;
    adopt(&config).await;
    let db = db::pool::connect(&config).await.unwrap();

    let policies = crate::fast::row_security::assert_policies_are_set_based(&db).await;
    let (plan, count) = crate::fast::row_security::explain_scoped_count(
        &config,
        &calltrack::auth::ClientScope::Clients(vec![Uuid::new_v4()]),
    )
    .await;

    // Eleven on the platform's tables, eight on the statistics rollups', two on the CRM events
    // and the due conditions, three on the webhooks' endpoints, messages and attempts.
    assert_eq!(policies, 24);
    assert_eq!(count, 0);
    crate::fast::row_security::assert_scope_is_evaluated_once(&plan);
}

/// Posts `held` while the gate is shut, then `queued` once it has a waiter, then opens it:
/// the queued webhooks wait behind the held one's writer and go in one batch.
async fn post_behind_the_gate(
    app: &TestApp,
    gate: &Client,
    path: &str,
    held: &calltrack::twilio::form::FormPairs,
    queued: &[calltrack::twilio::form::FormPairs],
) {
    let first = app.post_signed(path, held);
    let rest = async {
        crate::fast::group_commit::wait_for_gate_waiters(app, 1).await;
        let sent = futures::future::join_all(queued.iter().map(|f| app.post_signed(path, f)));
        let (answers, ()) = tokio::join!(
            sent,
            crate::fast::group_commit::open_gate_after(gate, Duration::from_millis(700))
        );
        answers
    };
    let (first, answers) = tokio::join!(first, rest);
    assert!(first.status().is_success());
    for answer in answers {
        assert!(answer.status().is_success(), "{}", answer.status());
    }
}

async fn batched_calls_and_callbacks_write_the_platforms_status_columns(platform: Platform) {
    let config = platform_database(platform).await;
    adopt(&config).await;
    let overrides = [("WEBHOOK_WRITERS", "1"), ("VOICE_DEADLINE_MS", "5000")];
    let app = TestApp::builder()
        .databases(config.clone(), config)
        .env(&overrides)
        .spawn()
        .await;
    let campaign = app.seed_campaign().await;
    app.seed_recipient(&campaign, "(415) 555-0300").await;
    app.wait_for_routing(TRACKED_NUMBER).await;
    let calls: Vec<calltrack::twilio::simulated::SimulatedCall> = (0..11)
        .map(|i| {
            calltrack::twilio::simulated::SimulatedCall::new(
                &format!("+1415555030{}", i % 10),
                TRACKED_NUMBER,
                crate::helpers::FORWARD_TO,
            )
        })
        .collect();
    let batch_of = |held: &str| {
        format!("SELECT count(DISTINCT txid) FROM batch_log WHERE call_sid <> '{held}'")
    };

    let gate = crate::fast::group_commit::gate_sessions(&app, "INSERT").await;
    let voices: Vec<_> = calls[1..].iter().map(|c| c.voice()).collect();
    post_behind_the_gate(&app, &gate, "/twilio/voice", &calls[0].voice(), &voices).await;
    assert_eq!(app.count(&batch_of(&calls[0].call_sid)).await, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM call_sessions WHERE match_status = 'matched'")
            .await,
        2,
        "+14155550300 called twice, both matched"
    );
    assert_eq!(app.count("SELECT count(*) FROM call_sessions").await, 11);

    app.db
        .batch_execute(
            "DROP TRIGGER hold_sessions ON call_sessions; DROP FUNCTION hold_and_log();
             DROP TABLE batch_log;",
        )
        .await
        .unwrap();
    drop(gate);
    let gate = crate::fast::group_commit::gate_sessions(&app, "UPDATE").await;
    let at = chrono::Utc::now();
    let ends: Vec<_> = calls[1..]
        .iter()
        .map(|c| c.parent_completed(30, at))
        .collect();
    post_behind_the_gate(
        &app,
        &gate,
        "/twilio/status",
        &calls[0].parent_completed(30, at),
        &ends,
    )
    .await;
    assert_eq!(app.count(&batch_of(&calls[0].call_sid)).await, 1);
    assert_eq!(
        app.count(
            "SELECT count(*) FROM call_sessions
             WHERE call_status = 'completed' AND status_rank = 4 AND call_duration_seconds = 30"
        )
        .await,
        11
    );
}

/// The schema document gives `is_active` and the pool counters no NOT NULL: a row the platform
/// left NULL is read as switched off and as zero cards, never as a panic in a request.
#[tokio::test]
async fn nulls_the_documented_schema_allows_are_read_as_off_and_zero() {
    let config = platform_database(Platform::DocumentedMinimum).await;
    adopt(&config).await;
    let app = TestApp::builder()
        .databases(config.clone(), config.clone())
        .spawn()
        .await;
    let campaign = app.seed_campaign().await;
    app.db
        .execute(
            "UPDATE tracked_phone_numbers SET is_active = NULL WHERE campaign_id = $1",
            &[&campaign.id],
        )
        .await
        .unwrap();
    let pool = app.seed_pool(None, 0).await;
    app.db
        .execute(
            "UPDATE gift_card_pools SET available_cards = NULL, total_cards = NULL WHERE id = $1",
            &[&pool],
        )
        .await
        .unwrap();

    let call =
        calltrack::twilio::simulated::SimulatedCall::new(CALLER, TRACKED_NUMBER, "+14155550199");
    let voice = app.post_signed("/twilio/voice", &call.voice()).await;
    let metrics = app
        .http
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();

    assert_eq!(voice.status(), 200);
    assert!(
        voice.text().await.unwrap().contains("no longer in service"),
        "a number whose is_active is NULL is answered as switched off"
    );
    assert_eq!(app.count("SELECT count(*) FROM call_sessions").await, 0);
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics
            .text()
            .await
            .unwrap()
            .lines()
            .any(|line| line.contains(&pool.to_string()) && line.ends_with(" 0")),
        "the pool with NULL counters is gauged at zero"
    );
}
