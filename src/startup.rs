//! Assembling the running service from its settings: the one function `serve`, the demo and
//! every test server call, so what is tested is what runs.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpResponse, web};
use anyhow::Context as _;
use tokio::sync::watch;
use tracing_actix_web::TracingLogger;

use crate::app::calls::Calls;
use crate::app::numbers::Numbers;
use crate::app::routing::RoutingCopy;
use crate::auth::JwtVerifier;
use crate::config::{DatabaseSource, HttpLimits, Settings};
use crate::crypto::CardCipher;
use crate::db::{self, Database, PgPool};
use crate::routes::error::ApiError;
use crate::routes::middleware::{self, BodyDeadline, RequestSpan};
use crate::routes::{self, AppState};
use crate::spool::Spool;
use crate::twilio::client::TwilioClient;
use crate::twilio::extract::WebhookVerifier;
use crate::twilio::twiml::Twiml;
use crate::workers::replay::ReplayWorker;
use crate::workers::{OutboxWorker, WebhookWorker};

/// A bound, ready-to-run server, its database and the background workers that run beside it.
pub struct Application {
    /// The database it was built on; an embedded cluster it started stops with it.
    database: Database,
    /// Applies the migrations once the database answers, when it did not at start.
    late_migration: Option<tokio::task::JoinHandle<()>>,
    /// The owed number releases worker's view of the numbers.
    owed_releases: Numbers,
    listener: std::net::TcpListener,
    metrics_listener: Option<std::net::TcpListener>,
    state: AppState,
    verifier: web::Data<WebhookVerifier>,
    limits: HttpLimits,
    outbox: OutboxWorker,
    /// `None` when the settings turn deliveries off (tests).
    webhooks: Option<WebhookWorker>,
    replay: ReplayWorker,
    routing_poll_interval: Duration,
    condition_check_interval: Duration,
    schema_ready: watch::Receiver<bool>,
    /// The client of the start-up reconciliation, when `RECONCILE_ON_START` is on.
    reconcile_on_start: Option<TwilioClient>,
}

impl Application {
    /// Opens the database of `settings` (starting the embedded cluster when there is no
    /// `DATABASE_URL`), applies the migrations, or, when the database does not answer within
    /// `settings.start_connect_timeout`, goes on without it and migrates once it does; builds the
    /// pools with the settings' deadlines (the webhooks' and workers' and the group-commit
    /// writers' with `VOICE_DEADLINE_MS`, the JSON API's with `API_DEADLINE_MS`); binds
    /// `settings.bind_addr` (port 0 picks a free port) and builds the routes and workers.
    ///
    /// What needs no database (the listeners, the spool, the Twilio client) is set up first,
    /// and a failure after the database was opened stops an embedded cluster this call
    /// started: a port in use never leaves a PostgreSQL running for nothing.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind(settings.bind_addr)
            .with_context(|| format!("cannot listen on {}", settings.bind_addr))?;
        let metrics_listener = settings
            .metrics_bind_addr
            .map(|addr| {
                std::net::TcpListener::bind(addr)
                    .with_context(|| format!("cannot listen on METRICS_BIND_ADDR {addr}"))
            })
            .transpose()?;
        let metrics_addr = metrics_listener
            .as_ref()
            .map(std::net::TcpListener::local_addr)
            .transpose()?;
        let twilio =
            TwilioClient::new(&settings.twilio).context("cannot build the Twilio client")?;
        let twiml = Twiml::new()?;
        std::fs::create_dir_all(&settings.spool_dir).with_context(|| {
            format!(
                "cannot create CALLTRACK_SPOOL_DIR {}",
                settings.spool_dir.display()
            )
        })?;
        let spool = open_spool(&settings.spool_dir).await?;

        let database = Database::open_in_background(&settings.database).await?;
        let connected = match connect(&settings, &database).await {
            Ok(connected) => connected,
            Err(error) => {
                if let Err(stop) = database.shutdown() {
                    tracing::warn!(
                        error = format!("{stop:#}"),
                        "the embedded database did not stop"
                    );
                }
                return Err(error);
            }
        };

        let pool = connected.pool;
        let api_pool = connected.api_pool;
        let owed_releases = Numbers {
            pool: pool.clone(),
            twilio: twilio.clone(),
            public_base_url: settings.public_base_url.clone(),
            routing: None,
        };
        let reconcile_on_start = settings.reconcile_on_start.then(|| twilio.clone());
        let outbox = OutboxWorker::new(
            pool.clone(),
            twilio,
            CardCipher::new(&settings.gift_card_key),
            settings.public_base_url.join("/twilio/sms-status"),
            settings.outbox.poll_interval,
        );
        let deliverer = crate::webhooks::Deliverer::new(crate::webhooks::DeliveryConfig {
            allow_private: settings.webhooks.allow_private_networks,
            timeout: crate::webhooks::DEFAULT_TIMEOUT,
        })?;
        let webhooks = settings.webhooks.run_worker.then(|| {
            WebhookWorker::new(
                pool.clone(),
                deliverer,
                CardCipher::new(&settings.gift_card_key),
                settings.webhooks.concurrency,
                settings.webhooks.poll_interval,
            )
        });
        let routing = Arc::new(RoutingCopy::open(settings.spool_dir.join("routing.json")));
        let numbers = Numbers {
            pool: api_pool.clone(),
            routing: Some(Arc::clone(&routing)),
            ..owed_releases.clone()
        };
        let calls = Calls {
            pool: pool.clone(),
            deadline: settings.db_deadline,
            routing,
            spool: spool.clone(),
            writers: crate::app::group_commit::Writers::start(
                &connected.writer_pool,
                settings.db_deadline,
                settings.webhook_writers,
            ),
        };
        let replay = ReplayWorker {
            pool: pool.clone(),
            spool,
            dead_letter: settings.spool_dir.join("set-aside.jsonl"),
        };
        let state = AppState {
            pool: api_pool,
            api_deadline: settings.api_deadline,
            public_base_url: settings.public_base_url.clone(),
            twiml: Arc::new(twiml),
            voice: Arc::new(settings.voice.clone()),
            jwt: Arc::new(JwtVerifier::new(&settings.jwt_secret)),
            numbers: Arc::new(numbers),
            calls,
            metrics_addr,
            cipher: CardCipher::new(&settings.gift_card_key),
            webhook_allow_private_networks: settings.webhooks.allow_private_networks,
        };
        let verifier = web::Data::new(WebhookVerifier {
            public_base_url: settings.public_base_url.clone(),
            auth_token: settings.twilio.auth_token.clone(),
            secondary_auth_token: settings.twilio.secondary_auth_token.clone(),
        });
        // Installed before the first request so no early count is lost.
        crate::metrics::handle();
        Ok(Self {
            database,
            late_migration: connected.late_migration,
            owed_releases,
            listener,
            metrics_listener,
            state,
            verifier,
            limits: settings.http.clone(),
            outbox,
            webhooks,
            replay,
            routing_poll_interval: settings.routing_poll_interval,
            condition_check_interval: settings.condition_check_interval,
            schema_ready: connected.schema_ready,
            reconcile_on_start,
        })
    }

    /// The address the public listener is bound to.
    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// The pool of the webhooks and workers, for a caller that sets things up before serving
    /// (the local trial's business, the demo's campaign).
    pub fn pool(&self) -> &PgPool {
        &self.state.calls.pool
    }

    /// The private metrics listener's address, when `METRICS_BIND_ADDR` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.state.metrics_addr
    }

    /// Serves and runs every worker (the SMS outbox, the webhook deliveries, the spool replay, the routing refresh, the
    /// start-up reconciliation, owed number releases, event partitions, rollups, due conditions) until `shutdown`
    /// resolves; then stops accepting, lets in-flight requests finish, lets the workers finish
    /// their batch, and stops an embedded database once its connections have closed.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let routing = Arc::clone(&self.state.calls.routing);
        let pool = self.state.calls.pool.clone();
        let partitions = tokio::spawn(crate::workers::partitions::keep_event_partitions_ahead(
            pool.clone(),
        ));
        let owed_releases = tokio::spawn(crate::workers::releases::settle_owed_releases_forever(
            self.owed_releases,
        ));
        let server = start_server(
            self.state,
            self.verifier,
            &self.limits,
            self.listener,
            self.metrics_listener,
        )?;
        let handle = server.handle();
        let (stop, stopped) = watch::channel(false);
        let outbox = tokio::spawn(self.outbox.run(stopped.clone()));
        let webhooks = self
            .webhooks
            .map(|worker| tokio::spawn(worker.run(stopped.clone())));
        let (mut schema_ready, poll) = (self.schema_ready, self.routing_poll_interval);
        let (replay, replay_stop) = (self.replay, stopped.clone());
        let reconcile_on_start = self.reconcile_on_start;
        let condition_check_interval = self.condition_check_interval;
        let data_workers = tokio::spawn(async move {
            // A stop before the database ever answered ends the wait: nothing to replay yet.
            let mut stopping = stopped.clone();
            let ready = tokio::select! {
                ready = schema_ready.wait_for(|ready| *ready) => ready.is_ok(),
                _ = stopping.wait_for(|stop| *stop) => false,
            };
            if !ready {
                return;
            }
            // In the background: serving never waits on Twilio's call log.
            let reconcile = reconcile_on_start.map(|twilio| {
                tokio::spawn(crate::workers::reconcile::reconcile_on_start(
                    pool.clone(),
                    twilio,
                    stopped.clone(),
                ))
            });
            let rollups = tokio::spawn(crate::workers::rollups::keep_rollups(
                pool.clone(),
                stopped.clone(),
            ));
            let due_conditions = tokio::spawn(crate::workers::conditions::meet_due_conditions(
                pool.clone(),
                condition_check_interval,
                stopped.clone(),
            ));
            let routing = tokio::spawn(crate::workers::routing::keep_routing_fresh(
                routing, pool, poll, stopped,
            ));
            replay.run(replay_stop).await;
            let _ = routing.await;
            let _ = rollups.await;
            let _ = due_conditions.await;
            if let Some(reconcile) = reconcile {
                let _ = reconcile.await;
            }
        });
        let serving = tokio::spawn(server);
        shutdown.await;
        // Stop accepting and finish in-flight requests, then the worker's batch.
        handle.stop(true).await;
        let served = serving.await.context("HTTP server panicked")?;
        let _ = stop.send(true);
        if let Err(error) = outbox.await {
            tracing::error!(%error, "SMS outbox worker panicked");
        }
        if let Some(Err(error)) = match webhooks {
            Some(webhooks) => Some(webhooks.await),
            None => None,
        } {
            tracing::error!(%error, "webhook delivery worker panicked");
        }
        if let Err(error) = data_workers.await {
            tracing::error!(%error, "spool replay, routing refresh or reconciliation panicked");
        }
        partitions.abort();
        owed_releases.abort();
        if let Some(migration) = self.late_migration {
            migration.abort();
        }
        let stopped = self.database.shutdown_when_idle(DATABASE_CLOSE_WAIT).await;
        served.context("HTTP server failed")?;
        stopped
    }
}

/// The database side of the application: its pools, and whether its schema is ready.
struct Connected {
    /// The webhooks' and workers' pool, bounded by `VOICE_DEADLINE_MS`.
    pool: PgPool,
    /// The JSON API's pool, bounded by `API_DEADLINE_MS`.
    api_pool: PgPool,
    /// The group-commit writers' pool, apart from the others.
    writer_pool: PgPool,
    schema_ready: watch::Receiver<bool>,
    late_migration: Option<tokio::task::JoinHandle<()>>,
}

/// Migrates `database` (or, when it does not answer in time, starts migrating once it does)
/// and builds the pools with the settings' deadlines.
async fn connect(settings: &Settings, database: &Database) -> anyhow::Result<Connected> {
    let (schema_ready, schema_ready_rx) = watch::channel(false);
    let late_migration = match migrate_database(&database.config, settings.start_connect_timeout)
        .await
    {
        Ok(()) => {
            let _ = schema_ready.send(true);
            None
        }
        Err(MigrateError::Unreachable(error)) => {
            tracing::warn!(
                error = format!("{error:#}"),
                "database unreachable at start; taking calls from the routing snapshot and the spool until it answers"
            );
            Some(tokio::spawn(migrate_when_reachable(
                database.config.clone(),
                settings.start_connect_timeout,
                schema_ready,
            )))
        }
        Err(MigrateError::Failed(error)) => return Err(error),
    };
    let deadlines = db::pool::Deadlines {
        connection: settings.db_deadline,
        statement: settings.statement_deadline,
    };
    // The API's own pool rather than a `SET LOCAL statement_timeout` per transaction: its
    // wait for a connection is bounded by its own deadline too, it costs no statement, and a
    // console's slow request never holds a connection a webhook is waiting for.
    let api_deadlines = db::pool::Deadlines {
        connection: settings.api_deadline,
        statement: settings.api_deadline,
    };
    let pools = db::pool::bounded_pool(database.config.clone(), settings.pool_size, deadlines)
        .and_then(|pool| {
            let api_pool = db::pool::bounded_pool(
                database.config.clone(),
                settings.api_pool_size,
                api_deadlines,
            )?;
            let writer_pool = db::pool::webhook_writer_pool(
                database.config.clone(),
                crate::app::group_commit::Writers::connections(settings.webhook_writers),
                deadlines,
            )?;
            Ok((pool, api_pool, writer_pool))
        });
    match pools {
        Ok((pool, api_pool, writer_pool)) => Ok(Connected {
            pool,
            api_pool,
            writer_pool,
            schema_ready: schema_ready_rx,
            late_migration,
        }),
        Err(error) => {
            if let Some(migration) = late_migration {
                migration.abort();
            }
            Err(error)
        }
    }
}

/// How long an embedded database waits for the service's connections to close before it stops.
const DATABASE_CLOSE_WAIT: Duration = Duration::from_secs(5);

/// How long a new process waits for the one before it to let go of the spool directory (a
/// supervisor may start the next process while the last one is still finishing).
const SPOOL_LOCK_WAIT: Duration = Duration::from_secs(10);

/// Opens the spool, waiting out a previous owner that is still stopping.
async fn open_spool(dir: &std::path::Path) -> anyhow::Result<Spool> {
    let started = std::time::Instant::now();
    loop {
        match Spool::open(dir) {
            Err(crate::spool::SpoolError::Locked { .. }) if started.elapsed() < SPOOL_LOCK_WAIT => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            result => {
                return result
                    .with_context(|| format!("cannot open the spool in {}", dir.display()));
            }
        }
    }
}

/// Builds the actix server over the bound listeners, every request head timed (see
/// [`routes::head_timeout`]). Kept out of `run_until` so that future holds none of the
/// per-worker (not `Send`) application types.
fn start_server(
    state: AppState,
    verifier: web::Data<WebhookVerifier>,
    limits: &HttpLimits,
    listener: std::net::TcpListener,
    metrics_listener: Option<std::net::TcpListener>,
) -> anyhow::Result<actix_web::dev::Server> {
    let state = web::Data::new(state);
    let deadline = web::Data::new(BodyDeadline(limits.body_timeout));
    let factory = move || {
        App::new()
            .app_data(state.clone())
            .app_data(verifier.clone())
            .app_data(deadline.clone())
            .configure(routes::configure)
            .default_service(web::to(not_found))
            .wrap(from_fn(middleware::api_deadline))
            .wrap(from_fn(middleware::api_headers))
            .wrap(from_fn(middleware::body_deadline))
            .wrap(from_fn(middleware::track_http))
            .wrap(TracingLogger::<RequestSpan>::new())
            .wrap(from_fn(middleware::request_id))
    };
    let mut server = actix_server::Server::build()
        .workers(limits.workers)
        .disable_signals()
        .shutdown_timeout(limits.shutdown_timeout.as_secs())
        .max_concurrent_connections(limits.max_connections_per_worker());
    for listener in std::iter::once(listener).chain(metrics_listener) {
        let addr = listener.local_addr()?;
        server = routes::head_timeout::listen(server, listener, limits, factory.clone())
            .with_context(|| format!("cannot serve on {addr}"))?;
    }
    Ok(server.run())
}

/// Unknown paths: the API answers in its error shape, everything else with an empty 404.
async fn not_found(req: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    if req.path().starts_with("/api/") {
        Err(ApiError::NotFound("no such route"))
    } else {
        Ok(HttpResponse::NotFound().finish())
    }
}

/// Opens the configured database and applies migrations.
pub async fn open_migrated(source: &DatabaseSource) -> anyhow::Result<Database> {
    let database = Database::open_in_background(source).await?;
    let mut client = db::pool::connect(&database.config).await?;
    db::migrate::run(&mut client).await?;
    db::migrate::ensure_event_partitions(&client).await?;
    Ok(database)
}

/// Opens the configured database, applies migrations and returns a pool over it.
pub async fn open_and_migrate(
    source: &DatabaseSource,
    pool_size: usize,
) -> anyhow::Result<(Database, PgPool)> {
    let database = open_migrated(source).await?;
    let pool = database.pool(pool_size)?;
    Ok((database, pool))
}

/// Why migrating at start did not happen.
enum MigrateError {
    /// No connection: `serve` goes on without the database.
    Unreachable(anyhow::Error),
    /// Connected, but a migration failed: a real problem, so `serve` stops.
    Failed(anyhow::Error),
}

async fn migrate_database(
    config: &tokio_postgres::Config,
    connect_timeout: Duration,
) -> Result<(), MigrateError> {
    let mut config = config.clone();
    config.connect_timeout(connect_timeout);
    let mut client = match tokio::time::timeout(connect_timeout, db::pool::connect(&config)).await {
        Ok(Ok(client)) => client,
        Ok(Err(error)) => return Err(MigrateError::Unreachable(error)),
        Err(elapsed) => return Err(MigrateError::Unreachable(elapsed.into())),
    };
    db::migrate::run(&mut client)
        .await
        .map_err(MigrateError::Failed)?;
    db::migrate::ensure_event_partitions(&client)
        .await
        .map_err(MigrateError::Failed)
}

/// Retries the start-up migration until the database answers, then lets replay begin.
async fn migrate_when_reachable(
    config: tokio_postgres::Config,
    connect_timeout: Duration,
    ready: watch::Sender<bool>,
) {
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        match migrate_database(&config, connect_timeout).await {
            Ok(()) => {
                tracing::info!("database reachable; migrations applied, replaying the spool");
                let _ = ready.send(true);
                return;
            }
            Err(MigrateError::Unreachable(_)) => {}
            Err(MigrateError::Failed(error)) => {
                // Serving goes on from the spool; an operator must fix the schema.
                tracing::error!(
                    error = format!("{error:#}"),
                    "migrations failed; the spool is kept until they succeed"
                );
            }
        }
    }
}
