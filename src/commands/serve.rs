//! `calltrack serve`: the service, until SIGINT or SIGTERM.

use crate::config::Settings;
use crate::startup::Application;
use crate::trial::LocalTrial;

/// Descriptors kept back from HTTP connections for the pool, the spool and the log.
const RESERVED_DESCRIPTORS: u64 = 256;

/// Builds the application from `settings` and serves until SIGINT or SIGTERM. A database that
/// cannot be reached at start does not stop it (see [`Application::build`]). A local `trial`
/// is announced first and, once its listener is bound, prints its sign-in URLs.
pub async fn run(settings: Settings, trial: Option<LocalTrial>) -> anyhow::Result<()> {
    let shutdown = super::shutdown_signal()?;
    if let Some(trial) = &trial {
        trial.announce();
    }
    let descriptors = raise_descriptor_limit();
    let mut settings = settings;
    settings
        .http
        .fit_connections_to(descriptors.saturating_sub(RESERVED_DESCRIPTORS));
    let public_base_url = settings.public_base_url.clone();
    let jwt_secret = settings.jwt_secret.clone();
    let app = Application::build(settings).await?;
    if let Some(trial) = &trial
        && let Err(error) = trial
            .welcome(app.pool(), &jwt_secret, app.local_addr()?)
            .await
    {
        // Calls and the API still work; only the trial's sample business and links are missing.
        tracing::warn!(
            error = format!("{:#}", anyhow::Error::from(error)),
            "the local trial's business could not be set up"
        );
    }
    tracing::info!(addr = %app.local_addr()?, public_base_url = public_base_url.as_str(), "calltrack serving");
    let result = app.run_until(shutdown).await;
    tracing::info!("stopped serving");
    result
}

/// Raises the soft descriptor limit to the hard one, so idle connections cannot exhaust it
/// before the connection cap does; returns the limit in force.
fn raise_descriptor_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(error) => {
            tracing::warn!(%error, "cannot raise the open-file limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    }
}
