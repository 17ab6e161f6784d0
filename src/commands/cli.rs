//! The command line.

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "calltrack",
    version,
    about = "Twilio call tracking for direct-mail campaigns"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations, then serve HTTP until SIGINT/SIGTERM.
    Serve,
    /// Apply pending migrations and exit; on the platform's own database, adopt its tables.
    Migrate {
        /// Only report what would be added and what is missing; change nothing. Exits
        /// non-zero when the migration could not proceed.
        #[arg(long)]
        check: bool,
    },
    /// The one-command tour: embedded database, demo campaign, a simulated call, an agent
    /// marking a condition, the reward SMS; then keeps serving until Ctrl-C.
    Demo,
    /// Play Twilio's side of a call against a running server.
    Simulate {
        #[command(subcommand)]
        what: SimulateCommand,
    },
    /// Buy, list and release tracked numbers at Twilio.
    Numbers {
        #[command(subcommand)]
        command: super::numbers::NumbersCommand,
    },
    /// Fill in, from Twilio's call log, the calls and final statuses the service never
    /// received (say, while no instance was up).
    Reconcile(super::reconcile::ReconcileArgs),
    /// Manage gift-card inventory.
    GiftCards {
        #[command(subcommand)]
        command: GiftCardsCommand,
    },
    /// The campaign statistics' rollups.
    Stats {
        #[command(subcommand)]
        command: StatsCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum StatsCommand {
    /// Count every campaign's rollups (or one's) again from the calls and conditions met;
    /// safe while the service runs.
    Rebuild(super::stats::RebuildArgs),
}

#[derive(Debug, Subcommand)]
pub enum SimulateCommand {
    /// One inbound call with the outcome asked for: voice webhook, child-leg status
    /// callbacks, screening, dial action, voicemail, recording, as the server's TwiML leads.
    Call(super::simulate::CallArgs),
}

#[derive(Debug, Subcommand)]
pub enum GiftCardsCommand {
    /// Load cards from a CSV file into a pool; codes and PINs are encrypted before they
    /// reach the database, and waiting rewards of the pool are provisioned.
    Import(super::gift_cards::ImportArgs),
}
