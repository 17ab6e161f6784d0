use std::process::ExitCode;

use clap::Parser as _;

use calltrack::commands::cli::{Cli, Command};
use calltrack::config;
use calltrack::telemetry::LogFormat;
use calltrack::{commands, telemetry};

/// A webhook makes many small, short-lived allocations (form pairs, strings, rows, log
/// lines); with mimalloc in place of glibc's allocator the server spends less CPU per
/// webhook (docs/PERFORMANCE.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    config::load_dotenv();
    // The demo's output is its timeline; only warnings interrupt it.
    let level = if matches!(cli.command, Command::Demo) {
        "warn"
    } else {
        "info"
    };
    let log = telemetry::init(LogFormat::from_lookup(&config::process_env), level);
    let result = commands::run(cli.command, &config::process_env).await;
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
