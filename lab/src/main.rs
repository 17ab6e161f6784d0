use std::process::ExitCode;

use clap::{Parser, Subcommand};

use calltrack::config::{self, DatabaseSource};
use calltrack::telemetry;
use calltrack::telemetry::LogFormat;
use calltrack_lab::{bench, import, rewards, scale, soak};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The lab's commands: they measure and hurt a `calltrack serve` child from outside.
#[derive(Debug, Parser)]
#[command(
    name = "calltrack-lab",
    version,
    about = "calltrack's benchmark and soak"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Seed a benchmark database and measure webhook throughput against direct SQL.
    Bench(bench::BenchArgs),
    /// Seed the platform after a busy year (cached) and time the consoles' requests from
    /// outside beside their SQL alone, the big campaign's CSV export, and optionally the voice
    /// webhook against a fresh database (issue 27).
    Scale(scale::ScaleArgs),
    /// The reward engine: CRM events at N connections through `serve` beside the same use case
    /// straight against the database, and the due-conditions worker on a backlog (issue 28).
    Rewards(rewards::RewardsArgs),
    /// The recipients import: a CSV of N recipients streamed to a `serve` child, added and then
    /// updated; rows/s and the server's peak memory (issue 29).
    Import(import::ImportArgs),
    /// Soak under faults: mixed call traffic against a serve child on a private PostgreSQL
    /// cluster that is stopped and started twice; fails if anything answered was lost.
    Soak(soak::SoakArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    config::load_dotenv();
    // The output is a table; the server measured logs at info in its own file.
    let log = telemetry::init(LogFormat::from_lookup(&config::process_env), "warn");
    let result = match cli.command {
        Command::Bench(args) => {
            bench::run(args, DatabaseSource::from_lookup(&config::process_env)).await
        }
        Command::Scale(args) => {
            scale::run(args, DatabaseSource::from_lookup(&config::process_env)).await
        }
        Command::Rewards(args) => {
            rewards::run(args, DatabaseSource::from_lookup(&config::process_env)).await
        }
        Command::Import(args) => {
            import::run(args, DatabaseSource::from_lookup(&config::process_env)).await
        }
        Command::Soak(args) => soak::run(args).await,
    };
    drop(log);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
