//! The connection pool, and opening the database a [`DatabaseSource`] names.

use std::str::FromStr as _;
use std::time::Duration;

use anyhow::Context as _;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use secrecy::ExposeSecret as _;
use tokio_postgres::NoTls;

use super::EmbeddedCluster;
use crate::config::DatabaseSource;

pub type PgPool = Pool;

/// A reachable database: its connection settings, and the embedded cluster behind it if any.
#[derive(Debug)]
pub struct Database {
    pub config: tokio_postgres::Config,
    pub embedded: Option<EmbeddedCluster>,
}

impl Database {
    /// Parses `DATABASE_URL`, or starts the embedded cluster (blocking while it starts).
    pub fn open(source: &DatabaseSource) -> anyhow::Result<Self> {
        match source {
            DatabaseSource::Url(url) => Ok(Self {
                config: tokio_postgres::Config::from_str(url.expose_secret())
                    .context("DATABASE_URL is not a valid PostgreSQL URL")?,
                embedded: None,
            }),
            DatabaseSource::Located(config) => Ok(Self {
                config: config.as_ref().clone(),
                embedded: None,
            }),
            DatabaseSource::Embedded { data_dir } => {
                let cluster = EmbeddedCluster::start(data_dir)?;
                Ok(Self {
                    config: cluster.pg_config(),
                    embedded: Some(cluster),
                })
            }
        }
    }

    /// [`Self::open`] off the async threads: starting the embedded cluster blocks for seconds.
    pub async fn open_in_background(source: &DatabaseSource) -> anyhow::Result<Self> {
        let source = source.clone();
        tokio::task::spawn_blocking(move || Self::open(&source)).await?
    }

    pub fn pool(&self, max_size: usize) -> anyhow::Result<PgPool> {
        pool(self.config.clone(), max_size)
    }

    /// Stops the embedded cluster if this process started it.
    pub fn shutdown(&self) -> anyhow::Result<()> {
        self.embedded.as_ref().map_or(Ok(()), EmbeddedCluster::stop)
    }

    /// As [`Self::shutdown`], once the connections this process has let go of are closed, or
    /// after `within`. A dropped client closes its connection in the background; stopping the
    /// server first ends that connection with the server's shutdown notice, which its driver
    /// reports as a warning, and a clean stop would then print one.
    pub async fn shutdown_when_idle(&self, within: Duration) -> anyhow::Result<()> {
        if self
            .embedded
            .as_ref()
            .is_some_and(EmbeddedCluster::started_here)
        {
            wait_for_other_sessions_to_end(&self.config, within).await;
        }
        self.shutdown()
    }
}

/// Polls until no client session but this one is connected, or `within` passes; its own
/// connection is closed before it returns.
async fn wait_for_other_sessions_to_end(config: &tokio_postgres::Config, within: Duration) {
    let Ok((client, connection)) = config.connect(NoTls).await else {
        return;
    };
    let driver = tokio::spawn(connection);
    let until = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < until {
        let others = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
                &[],
            )
            .await;
        match others {
            Ok(row) if row.get::<_, i64>(0) > 0 => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            _ => break,
        }
    }
    drop(client);
    // The connection's future ends once its client is gone and it has said goodbye.
    let _ = driver.await;
}

/// A pool over `config`. Statements are prepared once per connection and cached.
pub fn pool(config: tokio_postgres::Config, max_size: usize) -> anyhow::Result<PgPool> {
    Pool::builder(manager(config))
        .max_size(max_size)
        .build()
        .context("cannot build the connection pool")
}

/// How long a request may wait on the database: for a pooled connection (and to open one), and
/// for one statement, which the server itself cancels past its bound.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    pub connection: Duration,
    pub statement: Duration,
}

/// A pool for request paths: no wait on it, or on a statement through it, is unbounded.
pub fn bounded_pool(
    config: tokio_postgres::Config,
    max_size: usize,
    deadlines: Deadlines,
) -> anyhow::Result<PgPool> {
    bounded_pool_with(config, max_size, deadlines, "")
}

/// The webhooks' group-commit writers' own connections (see `app::group_commit`): bounded
/// like [`bounded_pool`], and planning their statements once. Their queries are keyed lookups
/// whose best plan never depends on the values; a custom plan, which PostgreSQL keeps choosing
/// for them, cost half a millisecond of planning per batch, a third of the batch's time in
/// the database. The other request paths keep custom plans: their time ranges do depend on
/// the values. Being apart, the writers also never wait behind the consoles for a connection.
pub fn webhook_writer_pool(
    config: tokio_postgres::Config,
    max_size: usize,
    deadlines: Deadlines,
) -> anyhow::Result<PgPool> {
    bounded_pool_with(
        config,
        max_size,
        deadlines,
        &format!(" -c plan_cache_mode={WEBHOOK_WRITER_PLANS}"),
    )
}

/// `plan_cache_mode` of the webhook writers' connections; the bench's per-call SQL uses it too,
/// so the two are compared on the same plans.
pub const WEBHOOK_WRITER_PLANS: &str = "force_generic_plan";

fn bounded_pool_with(
    mut config: tokio_postgres::Config,
    max_size: usize,
    deadlines: Deadlines,
    more_options: &str,
) -> anyhow::Result<PgPool> {
    config.connect_timeout(deadlines.connection);
    config.options(format!(
        "-c statement_timeout={}{more_options}",
        deadlines.statement.as_millis()
    ));
    Pool::builder(manager(config))
        .max_size(max_size)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(deadlines.connection))
        .create_timeout(Some(deadlines.connection))
        .recycle_timeout(Some(deadlines.connection))
        .build()
        .context("cannot build the connection pool")
}

fn manager(config: tokio_postgres::Config) -> Manager {
    Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    )
}

/// One round trip: the database takes a statement and answers.
pub async fn ping(client: &impl deadpool_postgres::GenericClient) -> super::Result<()> {
    client
        .batch_execute("SELECT 1")
        .await
        .map_err(|e| super::Error::from_driver("the database did not answer", e))
}

/// Opens one plain connection, driving it on the current runtime.
pub async fn connect(config: &tokio_postgres::Config) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = config
        .connect(NoTls)
        .await
        .context("cannot connect to PostgreSQL")?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "database connection closed with an error");
        }
    });
    Ok(client)
}
