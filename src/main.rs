use std::process::ExitCode;

use clap::Parser as _;

use calltrack::cli::{Cli, Command, GiftCardsCommand, SimulateCommand};
use calltrack::config::{self, DatabaseSource, LogFormat, Settings};
use calltrack::tools::{bench, demo, numbers_cli, simulate};
use calltrack::{gift_cards, startup, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    config::load_dotenv();
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    // The demo's output is its timeline; only warnings interrupt it.
    let level = if matches!(cli.command, Command::Demo) {
        "warn"
    } else {
        "info"
    };
    telemetry::init(LogFormat::from_lookup(&env), level);
    let result = match cli.command {
        Command::Serve => match Settings::from_env() {
            Ok(settings) => startup::serve(settings).await,
            Err(error) => Err(error.into()),
        },
        Command::Migrate => startup::migrate(&DatabaseSource::from_lookup(&env)).await,
        Command::Simulate {
            what: SimulateCommand::Call(args),
        } => simulate::call(args).await,
        Command::GiftCards {
            command: GiftCardsCommand::Import(args),
        } => gift_cards::import(args, &env).await,
        Command::Bench(args) => bench::run(args).await,
        Command::Demo => demo::run().await,
        Command::Numbers { command } => numbers_cli::run(command).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
