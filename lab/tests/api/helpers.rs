use std::collections::HashMap;
use std::path::PathBuf;

use calltrack::config::{DatabaseSource, Settings};
use calltrack::db::{self, EmbeddedCluster};
use calltrack::startup::Application;
use calltrack::twilio::form::FormPairs;
use calltrack::twilio::signature;
use calltrack::twilio::simulated::SimulatedCall;
use tokio::sync::OnceCell;
use tokio_postgres::Client;
use tokio_postgres::config::Host;
use uuid::Uuid;

pub const AUTH_TOKEN: &str = "test-auth-token-0123456789abcdef";
/// Deliberately not the socket's address: signatures must be checked against this.
pub const PUBLIC_BASE_URL: &str = "https://calltrack.example.com";
pub const TRACKED_NUMBER: &str = "+18005550123";
pub const FORWARD_TO: &str = "+14155550199";

/// The server every test database lives on, and the migrated template they are cloned from.
struct Server {
    admin: tokio_postgres::Config,
    template: String,
}

static SERVER: OnceCell<Server> = OnceCell::const_new();

async fn server() -> &'static Server {
    SERVER
        .get_or_init(|| async {
            let admin = match std::env::var("DATABASE_URL") {
                Ok(url) if !url.is_empty() => {
                    url.parse().expect("DATABASE_URL is not a PostgreSQL URL")
                }
                _ => {
                    // As root the cluster runs as `postgres`, which may not reach a checkout
                    // under /root; the system temp directory is reachable by everyone.
                    let dir = if EmbeddedCluster::runs_as_other_user() {
                        std::env::temp_dir().join("calltrack-test-embedded-pg")
                    } else {
                        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("embedded-pg")
                    };
                    tokio::task::spawn_blocking(move || EmbeddedCluster::start(&dir))
                        .await
                        .unwrap()
                        .expect("embedded PostgreSQL did not start")
                        .pg_config()
                }
            };
            let template = build_template(&admin).await;
            // Cleaning up earlier runs' databases must not hold every test up: it runs on a
            // thread of its own, and what it does not finish the next run continues.
            let cleanup = admin.clone();
            std::thread::spawn(move || {
                if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    runtime.block_on(drop_databases_of_finished_runs(&cleanup));
                }
                remove_spools_of_finished_runs();
            });
            Server { admin, template }
        })
        .await
}

/// Migrates a template database once per set of migrations; concurrent test runs serialise
/// on an advisory lock and build it into a scratch name first so a crash leaves no half.
async fn build_template(admin: &tokio_postgres::Config) -> String {
    let name = format!("calltrack_tmpl_{}", db::migrate::fingerprint());
    let client = db::pool::connect(admin).await.unwrap();
    client
        .execute("SELECT pg_advisory_lock(4242)", &[])
        .await
        .unwrap();
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .unwrap()
        .is_some();
    if !exists {
        let scratch = format!("{name}_wip");
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {scratch}"))
            .await
            .unwrap();
        client
            .batch_execute(&format!("CREATE DATABASE {scratch}"))
            .await
            .unwrap();
        let mut config = admin.clone();
        config.dbname(&scratch);
        {
            let mut migrating = db::pool::connect(&config).await.unwrap();
            db::migrate::run(&mut migrating).await.unwrap();
        }
        // The connection must be gone before the database can be renamed or cloned.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        client
            .batch_execute(&format!("ALTER DATABASE {scratch} RENAME TO {name}"))
            .await
            .unwrap();
    }
    client
        .execute("SELECT pg_advisory_unlock(4242)", &[])
        .await
        .unwrap();
    name
}

/// Test databases are named after the test process; those of processes that have ended are
/// dropped here, so repeated runs on one server do not pile databases up.
async fn drop_databases_of_finished_runs(admin: &tokio_postgres::Config) {
    let Ok(client) = db::pool::connect(admin).await else {
        return;
    };
    let names: Vec<String> = client
        .query(
            "SELECT datname FROM pg_database WHERE datname ~ '^calltrack_[te]_'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for name in names {
        let pid = name.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
        if !run_is_alive(pid) {
            // Another run may hold it; a database in use simply stays for a later run.
            let _ = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
                .await;
        }
    }
}

/// The folder name every test server's spool starts with; the test process's id follows.
const SPOOL_PREFIX: &str = "calltrack-test-spool-";

/// Whether the test process `pid` (as a name carries it) is still running.
fn run_is_alive(pid: Option<u32>) -> bool {
    pid.is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
}

/// Test servers' spools are named after the test process too; those of processes that have
/// ended are removed, so repeated runs do not pile folders up in the temporary directory.
fn remove_spools_of_finished_runs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(SPOOL_PREFIX)) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        if !run_is_alive(pid) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A fresh, migrated database of this test's own.
pub async fn test_database() -> tokio_postgres::Config {
    let server = server().await;
    let name = format!(
        "calltrack_t_{}_{}",
        std::process::id(),
        Uuid::new_v4().simple()
    );
    let admin = db::pool::connect(&server.admin).await.unwrap();
    let mut attempts = 0;
    // Cloning fails while another session briefly touches the template; retry then.
    loop {
        match admin
            .batch_execute(&format!(
                "CREATE DATABASE {name} TEMPLATE {}",
                server.template
            ))
            .await
        {
            Ok(()) => break,
            Err(error) if attempts < 50 => {
                attempts += 1;
                let _ = error;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(error) => panic!("cannot clone the template database: {error}"),
        }
    }
    let mut config = server.admin.clone();
    config.dbname(&name);
    config
}

pub fn settings_with(overrides: &[(&str, &str)]) -> Settings {
    let mut vars: HashMap<String, String> = [
        ("BIND_ADDR", "127.0.0.1:0"),
        ("PUBLIC_BASE_URL", PUBLIC_BASE_URL),
        ("TWILIO_ACCOUNT_SID", "ACae6d5b1f2c3e4d5a6b7c8d9e0f1a2b3c"),
        ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
        ("JWT_SECRET", "test-jwt-secret"),
        (
            "GIFT_CARD_KEY",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        ),
        ("DATABASE_URL", "postgres://unused"),
        ("LOG_FORMAT", "json"),
        ("TWILIO_SMS_FROM", "+18005550000"),
        // Off unless a test turns it on: the start-up run would query the fake Twilio.
        ("RECONCILE_ON_START", "false"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    // Every server has a spool of its own, as every serve process must.
    let spool = std::env::temp_dir().join(format!(
        "{SPOOL_PREFIX}{}-{}",
        std::process::id(),
        Uuid::new_v4().simple()
    ));
    vars.insert("CALLTRACK_SPOOL_DIR".into(), spool.display().to_string());
    for (k, v) in overrides {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    let mut settings =
        Settings::from_lookup(&|name| vars.get(name).cloned()).expect("test settings are valid");
    // Many servers run at once in the suite; one HTTP worker each keeps it light.
    settings.http.workers = 1;
    settings.pool_size = 16;
    settings.routing_poll_interval = std::time::Duration::from_millis(100);
    // Webhooks out stay in the outbox unless a test delivers them (see `delivering`).
    settings.webhooks.run_worker = false;
    settings
}

pub struct TestApp {
    pub address: String,
    /// The private metrics listener, when `METRICS_BIND_ADDR` was set.
    pub metrics_address: Option<String>,
    pub db: Client,
    pub db_config: tokio_postgres::Config,
    pub http: reqwest::Client,
    /// Stands in for Twilio's REST API (`TWILIO_API_BASE_URL` points here).
    pub twilio: wiremock::MockServer,
    /// This server's `CALLTRACK_SPOOL_DIR`.
    pub spool_dir: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    serving: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// A last word on a test server's settings.
type Tune<'a> = Box<dyn FnOnce(&mut Settings) + 'a>;

/// How a test's server differs from the suite's default one: environment variables, a last
/// word on the settings, the database it connects to. Every variant is built by
/// [`Application::build`], the function `serve` calls.
pub struct TestAppBuilder<'a> {
    env: Vec<(&'a str, &'a str)>,
    tune: Option<Tune<'a>>,
    /// The server's database and the test's own client's; a fresh clone of the template for
    /// both when unset.
    databases: Option<(tokio_postgres::Config, tokio_postgres::Config)>,
}

impl<'a> TestAppBuilder<'a> {
    /// Environment variables over the suite's (later ones win).
    pub fn env(mut self, vars: &[(&'a str, &'a str)]) -> Self {
        self.env.extend_from_slice(vars);
        self
    }

    /// A last word on the settings (timeouts, limits), after the environment is read.
    /// Several tunes apply in order.
    pub fn tune(mut self, tune: impl FnOnce(&mut Settings) + 'a) -> Self {
        let earlier = self.tune.take();
        self.tune = Some(Box::new(move |settings: &mut Settings| {
            if let Some(earlier) = earlier {
                earlier(settings);
            }
            tune(settings);
        }));
        self
    }

    /// The server connects to `server` (say, a database that is away), while the test's own
    /// client uses `test`.
    pub fn databases(
        mut self,
        server: tokio_postgres::Config,
        test: tokio_postgres::Config,
    ) -> Self {
        self.databases = Some((server, test));
        self
    }

    /// Runs the webhooks-out delivery worker, polling every 100 ms and allowed to deliver to
    /// local receivers (`WEBHOOK_ALLOW_PRIVATE_NETWORKS=true`).
    pub fn delivering(self) -> Self {
        self.env(&[
            ("WEBHOOK_ALLOW_PRIVATE_NETWORKS", "true"),
            ("OUTBOX_POLL_MS", "100"),
        ])
        .tune(|settings| settings.webhooks.run_worker = true)
    }

    /// Lets a statement run for `statement` instead of the webhook deadline, as `serve` bounds
    /// it: a write can then commit after its webhook gave up.
    pub fn statement_deadline(self, statement: std::time::Duration) -> Self {
        self.tune(move |settings| settings.statement_deadline = statement)
    }

    pub async fn spawn(self) -> TestApp {
        // TEST_LOG=1 shows the service's logs, which cargo test otherwise hides.
        if std::env::var_os("TEST_LOG").is_some() {
            calltrack::telemetry::init_in_place(calltrack::telemetry::LogFormat::Pretty, "info");
        }
        let (server_database, db_config) = match self.databases {
            Some(databases) => databases,
            None => {
                let clone = test_database().await;
                (clone.clone(), clone)
            }
        };
        let twilio = wiremock::MockServer::start().await;
        let twilio_uri = twilio.uri();
        let mut vars = vec![("TWILIO_API_BASE_URL", twilio_uri.as_str())];
        vars.extend(self.env);
        let mut settings = settings_with(&vars);
        settings.database = DatabaseSource::Located(Box::new(server_database));
        if let Some(tune) = self.tune {
            tune(&mut settings);
        }
        let spool_dir = settings.spool_dir.clone();
        let app = Application::build(settings).await.unwrap();
        let address = format!("http://{}", app.local_addr().unwrap());
        let metrics_address = app.metrics_addr().map(|addr| format!("http://{addr}"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        TestApp {
            spool_dir,
            address,
            metrics_address,
            db: db::pool::connect(&db_config).await.unwrap(),
            db_config,
            http: reqwest::Client::new(),
            twilio,
            stop: Some(stop),
            serving: Some(serving),
        }
    }
}

impl TestApp {
    /// The suite's default server on a fresh clone of the migrated template.
    pub async fn spawn() -> Self {
        Self::builder().spawn().await
    }

    /// A server that differs from the default one as the builder says.
    pub fn builder<'a>() -> TestAppBuilder<'a> {
        TestAppBuilder {
            env: Vec::new(),
            tune: None,
            databases: None,
        }
    }

    /// Stops the server gracefully, as SIGTERM would, and waits until it has.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(serving) = self.serving.take() {
            serving.await.unwrap().unwrap();
        }
        // A process that exits lets go of its spool at once; in-process, the HTTP worker
        // threads drop their handle on it a moment after the server has stopped, and the
        // next server on the same spool must not find it still locked.
        let lock = self.spool_dir.join("spool.lock");
        for _ in 0..500 {
            match std::fs::File::open(&lock) {
                Ok(file) if file.try_lock().is_err() => {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                _ => return,
            }
        }
        panic!("the stopped server still holds its spool");
    }

    /// Waits until the routing copy (as its snapshot shows) knows `number`.
    pub async fn wait_for_routing(&self, number: &str) {
        let path = self.spool_dir.join("routing.json");
        for _ in 0..100 {
            if std::fs::read_to_string(&path).is_ok_and(|s| s.contains(number)) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the routing copy never learnt {number}");
    }

    /// Waits until `sql` counts `expected`, for up to `seconds`; returns the last count.
    pub async fn wait_for_count(&self, sql: &str, expected: i64, seconds: u64) -> i64 {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
        loop {
            let n = self.count(sql).await;
            if n == expected || std::time::Instant::now() > until {
                return n;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Posts `form` to `path` signed exactly as Twilio would sign it.
    pub async fn post_signed(&self, path: &str, form: &FormPairs) -> reqwest::Response {
        let signature = sign(&format!("{PUBLIC_BASE_URL}{path}"), form);
        self.post_form(path, form.encode(), Some(&signature)).await
    }

    pub async fn post_form(
        &self,
        path: &str,
        body: String,
        signature: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .post(format!("{}{path}", self.address))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(signature) = signature {
            request = request.header("x-twilio-signature", signature);
        }
        request.send().await.expect("request failed")
    }

    pub async fn count(&self, sql: &str) -> i64 {
        self.db.query_one(sql, &[]).await.unwrap().get(0)
    }

    /// The session of `call_sid`, as a JSON object of its columns.
    pub async fn session(&self, call_sid: &str) -> serde_json::Value {
        self.db
            .query_one(
                "SELECT to_jsonb(s) FROM call_sessions s WHERE twilio_call_sid = $1",
                &[&call_sid],
            )
            .await
            .unwrap()
            .get(0)
    }

    /// An organization, client and campaign with one active tracked number. Written as the
    /// platform would, every value given: a platform built from its schema document alone
    /// has no defaults for them.
    pub async fn seed_campaign(&self) -> Campaign {
        let row = self
            .db
            .query_one(
                "WITH o AS (INSERT INTO organizations (name, type) VALUES ('Acme Agency', 'agency') RETURNING id),
                      c AS (INSERT INTO clients (org_id, name, industry) SELECT id, 'Acme Roofing', 'roofing' FROM o RETURNING id),
                      k AS (INSERT INTO campaigns (client_id, name, status) SELECT id, 'Spring mailer', 'mailed' FROM c RETURNING id),
                      t AS (INSERT INTO tracked_phone_numbers (campaign_id, phone_number, forward_to_number, provider,
                                provider_sid, is_active)
                            SELECT id, $1, $2, 'twilio', 'PN0123456789abcdef0123456789abcdef', true FROM k RETURNING id)
                 SELECT k.id, t.id FROM k, t",
                &[&TRACKED_NUMBER, &FORWARD_TO],
            )
            .await
            .unwrap();
        Campaign {
            id: row.get(0),
            tracked_number_id: row.get(1),
        }
    }

    /// A recipient of `campaign` whose phone was typed as `phone`.
    pub async fn seed_recipient(&self, campaign: &Campaign, phone: &str) -> Uuid {
        self.db
            .query_one(
                "INSERT INTO recipients (campaign_id, redemption_code, first_name, phone)
                 VALUES ($1, $2, 'Dana', $3) RETURNING id",
                &[
                    &campaign.id,
                    &format!("RC-{}", &Uuid::new_v4().simple().to_string()[..8]),
                    &phone,
                ],
            )
            .await
            .unwrap()
            .get(0)
    }

    /// The TwiML the service answers to a new call from `from` to the tracked number.
    pub async fn voice_answer(&self, from: &str) -> String {
        let call = SimulatedCall::new(from, TRACKED_NUMBER, FORWARD_TO);
        self.post_signed("/twilio/voice", &call.voice())
            .await
            .text()
            .await
            .unwrap()
    }

    /// Plays the voice webhook of a new call from `from` and checks it was accepted.
    pub async fn start_call(&self, from: &str) -> SimulatedCall {
        let call = SimulatedCall::new(from, TRACKED_NUMBER, FORWARD_TO);
        let response = self.post_signed("/twilio/voice", &call.voice()).await;
        assert_eq!(response.status(), 200);
        call
    }
}

pub struct Campaign {
    pub id: Uuid,
    pub tracked_number_id: Uuid,
}

/// A libpq key/value connection string for a child process.
pub fn conninfo(config: &tokio_postgres::Config) -> String {
    let host = match &config.get_hosts()[0] {
        Host::Tcp(host) => host.clone(),
        Host::Unix(path) => path.display().to_string(),
    };
    let mut info = format!(
        "host={host} port={} user={} dbname={}",
        config.get_ports().first().copied().unwrap_or(5432),
        config.get_user().unwrap_or("postgres"),
        config.get_dbname().unwrap_or("postgres"),
    );
    if let Some(password) = config.get_password() {
        info.push_str(&format!(" password={}", String::from_utf8_lossy(password)));
    }
    info
}

/// Twilio's signature of `url` and `form` under the test auth token.
pub fn sign(url: &str, form: &FormPairs) -> String {
    signature::compute(AUTH_TOKEN.as_bytes(), url, form.pairs())
}
