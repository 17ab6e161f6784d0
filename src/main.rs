use std::process::ExitCode;

use clap::Parser as _;

use calltrack::cli::{Cli, Command, GiftCardsCommand, SimulateCommand};
use calltrack::config::{
    self, BenchSettings, DatabaseSource, DemoSettings, GiftCardImportSettings, NumbersSettings,
    ReconcileSettings,
};
use calltrack::telemetry::LogFormat;
use calltrack::tools::{bench, demo, numbers_cli, reconcile_cli, simulate, soak};
use calltrack::{gift_cards, startup, telemetry, trial};

/// A webhook makes many small, short-lived allocations (form pairs, strings, rows, log
/// lines); with mimalloc in place of glibc's allocator the server spends less CPU per
/// webhook (README, "Figures": the alternating runs of 2026-12-03).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    config::load_dotenv();
    // The demo's output is its timeline; only warnings interrupt it.
    // The bench's output is its table; the server it measures logs at info in its own file.
    let level = if matches!(cli.command, Command::Demo | Command::Bench(_)) {
        "warn"
    } else {
        "info"
    };
    let log = telemetry::init(LogFormat::from_lookup(&config::process_env), level);
    let result = run(cli.command, &config::process_env).await;
    // Every line queued before the error below, so it is the last thing written.
    drop(log);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Reads the command's own settings from `env`, then runs it.
async fn run(command: Command, env: &impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let (settings, trial) = trial::serve_settings(env)?;
            startup::serve(settings, trial).await
        }
        Command::Migrate { check: false } => {
            startup::migrate(&DatabaseSource::from_lookup(env)).await
        }
        Command::Migrate { check: true } => {
            startup::check_migrations(&DatabaseSource::from_lookup(env)).await
        }
        Command::Demo => demo::run(DemoSettings::from_lookup(env)?).await,
        Command::Simulate {
            what: SimulateCommand::Call(args),
        } => simulate::call(args, trial::simulate_settings(env)?).await,
        Command::Bench(args) => bench::run(args, BenchSettings::from_lookup(env)).await,
        Command::Soak(args) => soak::run(args).await,
        Command::Numbers { command } => {
            numbers_cli::run(command, NumbersSettings::from_lookup(env)?).await
        }
        Command::Reconcile(args) => {
            reconcile_cli::run(args, ReconcileSettings::from_lookup(env)?).await
        }
        Command::GiftCards {
            command: GiftCardsCommand::Import(args),
        } => gift_cards::import(args, &GiftCardImportSettings::from_lookup(env)?).await,
    }
}
