//! Fault injection for "calls always connect": a private PostgreSQL cluster that can be
//! stopped, started, frozen and thawed, `calltrack serve` child processes that can be killed
//! and restarted on their spool, scripted calls played against them, and an audit of what
//! the database holds afterwards against what the client saw answered.
//!
//! Used by the integration tests (`lab/tests/api/faults/`) and by `calltrack-lab soak`.
//! Signals go through the `kill` command: the crate has no `unsafe`, and std only kills.

mod calls;
mod cluster;
mod serve;

pub use calls::{
    Answer, Audit, CallPlan, PlayedCall, RoundRobin, Step, StepKind, Webhook, audit,
    audit_until_clean, send_step,
};
pub use cluster::{FaultCluster, Population, TrackedLine};
pub use serve::{Metrics, ServeConfig, ServeProcess};

/// What can go wrong while injecting faults.
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the private PostgreSQL cluster failed")]
    Cluster(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("{context}")]
    Db {
        context: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("`{command}` failed ({status}): {output}")]
    Command {
        command: String,
        status: std::process::ExitStatus,
        output: String,
    },
    #[error("serve did not say where it listens within {waited:?}; its log ends:\n{log_tail}")]
    ServeDidNotStart {
        waited: std::time::Duration,
        log_tail: String,
    },
    #[error("serve exited ({status}) before serving; its log ends:\n{log_tail}")]
    ServeExited {
        status: std::process::ExitStatus,
        log_tail: String,
    },
    #[error("serve is not running")]
    ServeNotRunning,
    #[error("the PostgreSQL server's pid cannot be read from {path}")]
    NoPostmaster { path: std::path::PathBuf },
    #[error("timed out: {0}")]
    Timeout(&'static str),
    #[error("HTTP request failed")]
    Http(#[from] reqwest::Error),
}

impl FaultError {
    fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    fn db(context: &'static str) -> impl FnOnce(tokio_postgres::Error) -> Self {
        move |source| Self::Db { context, source }
    }
}

pub type Result<T> = std::result::Result<T, FaultError>;
