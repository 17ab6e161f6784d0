//! Every operator command of the `calltrack` binary, each a thin caller of [`crate::startup`]
//! and [`crate::app`]: parse its own settings, run, report.
//!
//! The commands that only measure or hurt the service (bench, soak, the fault harness) are
//! not here: they live in the lab crate, which depends on this library.

use std::future::Future;

use anyhow::Context as _;

use crate::config::{
    DatabaseSource, DemoSettings, GiftCardImportSettings, NumbersSettings, ReconcileSettings,
};
use cli::{Command, GiftCardsCommand, SimulateCommand, StatsCommand};

pub mod cli;
pub mod demo;
pub mod gift_cards;
pub mod migrate;
pub mod numbers;
pub mod reconcile;
pub mod serve;
pub mod simulate;
pub mod stats;

/// Reads the command's own settings from `env`, then runs it.
pub async fn run(command: Command, env: &impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let (settings, trial) = crate::trial::serve_settings(env)?;
            serve::run(settings, trial).await
        }
        Command::Migrate { check: false } => migrate::run(&DatabaseSource::from_lookup(env)).await,
        Command::Migrate { check: true } => migrate::check(&DatabaseSource::from_lookup(env)).await,
        Command::Demo => demo::run(DemoSettings::from_lookup(env)?).await,
        Command::Simulate {
            what: SimulateCommand::Call(args),
        } => simulate::call(args, crate::trial::simulate_settings(env)?).await,
        Command::Numbers { command } => {
            numbers::run(command, NumbersSettings::from_lookup(env)?).await
        }
        Command::Reconcile(args) => {
            reconcile::run(args, ReconcileSettings::from_lookup(env)?).await
        }
        Command::GiftCards {
            command: GiftCardsCommand::Import(args),
        } => gift_cards::import(args, &GiftCardImportSettings::from_lookup(env)?).await,
        Command::Stats {
            command: StatsCommand::Rebuild(args),
        } => stats::rebuild(args, &DatabaseSource::from_lookup(env)).await,
    }
}

/// Installs the SIGINT and SIGTERM handlers now (failing if they cannot be installed) and
/// returns a future that resolves when either arrives.
pub fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt =
        signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?;
    let mut terminate =
        signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        tracing::info!("shutdown signal received; finishing in-flight requests");
    })
}
