//! Building and running the HTTP application, and the `serve` and `migrate` commands.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::http::{HeaderName, Request};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::JwtVerifier;
use crate::config::{DatabaseSource, Settings};
use crate::crypto::CardCipher;
use crate::db::{self, Database, PgPool};
use crate::numbers::Numbers;
use crate::routes::{self, AppState};
use crate::twilio::client::TwilioClient;
use crate::twilio::extract::WebhookVerifier;
use crate::twilio::twiml::Twiml;
use crate::workers::OutboxWorker;

/// Connections kept to PostgreSQL by one `serve` process.
const POOL_SIZE: usize = 32;

/// A bound, ready-to-run server and the background workers that run beside it.
pub struct Application {
    listener: TcpListener,
    router: Router,
    outbox: OutboxWorker,
}

impl Application {
    /// Binds `settings.bind_addr` (port 0 picks a free port) and builds the routes over `pool`.
    pub async fn build(settings: &Settings, pool: PgPool) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.bind_addr)
            .await
            .with_context(|| format!("cannot listen on {}", settings.bind_addr))?;
        let twilio =
            TwilioClient::new(&settings.twilio).context("cannot build the Twilio client")?;
        let numbers = Numbers {
            pool: pool.clone(),
            twilio: twilio.clone(),
            public_base_url: settings.public_base_url.clone(),
        };
        let outbox = OutboxWorker::new(
            pool.clone(),
            twilio,
            CardCipher::new(&settings.gift_card_key),
            settings.public_base_url.join("/twilio/sms-status"),
            settings.outbox.poll_interval,
        );
        let state = AppState {
            pool,
            verifier: Arc::new(WebhookVerifier {
                public_base_url: settings.public_base_url.clone(),
                auth_token: settings.twilio.auth_token.clone(),
            }),
            twiml: Arc::new(Twiml::new()?),
            voice: Arc::new(settings.voice.clone()),
            jwt: Arc::new(JwtVerifier::new(&settings.jwt_secret)),
            numbers: Arc::new(numbers),
        };
        // Installed before the first request so no early count is lost.
        crate::metrics::handle();
        Ok(Self {
            listener,
            router: with_request_ids(routes::router(state)),
            outbox,
        })
    }

    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves and runs the SMS outbox worker until `shutdown` resolves, then lets in-flight
    /// requests and the worker's current batch finish.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let outbox = tokio::spawn(self.outbox.run(stopped));
        let served = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
            .context("HTTP server failed");
        let _ = stop.send(true);
        if let Err(error) = outbox.await {
            tracing::error!(%error, "SMS outbox worker panicked");
        }
        served
    }
}

fn with_request_ids(router: Router) -> Router {
    let header = HeaderName::from_static("x-request-id");
    router
        .layer(PropagateRequestIdLayer::new(header.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let request_id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id)
        }))
        .layer(SetRequestIdLayer::new(header, MakeRequestUuid))
}

/// Opens the configured database, applies migrations and returns a pool over it.
pub async fn open_and_migrate(
    source: &DatabaseSource,
    pool_size: usize,
) -> anyhow::Result<(Database, PgPool)> {
    let source = source.clone();
    let database = tokio::task::spawn_blocking(move || Database::open(&source)).await??;
    let mut client = db::pool::connect(&database.config).await?;
    db::migrate::run(&mut client).await?;
    db::migrate::ensure_event_partitions(&client).await?;
    let pool = database.pool(pool_size)?;
    Ok((database, pool))
}

/// `calltrack serve`: migrate, serve until SIGINT or SIGTERM, stop the embedded database.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let (database, pool) = open_and_migrate(&settings.database, POOL_SIZE).await?;
    let app = Application::build(&settings, pool.clone()).await?;
    let owed_releases = tokio::spawn(crate::numbers::settle_owed_releases_forever(Numbers {
        pool: pool.clone(),
        twilio: TwilioClient::new(&settings.twilio)?,
        public_base_url: settings.public_base_url.clone(),
    }));
    let partitions = tokio::spawn(keep_event_partitions_ahead(pool));
    tracing::info!(addr = %app.local_addr()?, public_base_url = settings.public_base_url.as_str(), "calltrack serving");
    let result = app.run_until(shutdown_signal()).await;
    partitions.abort();
    owed_releases.abort();
    tracing::info!("stopped serving");
    database.shutdown()?;
    result
}

/// `calltrack migrate`: apply pending migrations and exit.
pub async fn migrate(source: &DatabaseSource) -> anyhow::Result<()> {
    let (database, _pool) = open_and_migrate(source, 1).await?;
    database.shutdown()
}

/// Partitions for the months ahead are created daily, so a long-running server never writes
/// a month's events into the default partition.
async fn keep_event_partitions_ahead(pool: PgPool) {
    let mut tick = tokio::time::interval(Duration::from_secs(24 * 3600));
    loop {
        tick.tick().await;
        let result = match pool.get().await {
            Ok(client) => db::migrate::ensure_event_partitions(&client).await,
            Err(e) => Err(e.into()),
        };
        if let Err(error) = result {
            tracing::warn!(
                error = format!("{error:#}"),
                "could not create events partitions"
            );
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
