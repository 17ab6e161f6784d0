//! A private PostgreSQL cluster under a temporary directory, for breaking on purpose.

use std::path::{Path, PathBuf};

use super::{FaultError, Result};
use calltrack::db::EmbeddedCluster;
use calltrack::db::embedded::StopMode;

/// A private cluster of the machine's PostgreSQL under a fresh temporary directory, with
/// its own unix socket. Dropping it thaws, stops (immediately) and removes it, so a failed
/// test leaves no server behind.
#[derive(Debug)]
pub struct FaultCluster {
    /// The temporary directory: the cluster under `pg/`, and whatever else the caller puts
    /// there (spool directories, logs).
    root: PathBuf,
    /// `Some` while the server runs (frozen or not).
    running: Option<EmbeddedCluster>,
    /// Processes stopped by [`FaultCluster::freeze`], to continue on thaw.
    frozen: Vec<u32>,
    config: tokio_postgres::Config,
    url: String,
    /// Leave the directory behind on drop, for a post-mortem.
    keep: bool,
}

/// One tracked number of the seeded campaign population.
#[derive(Debug, Clone)]
pub struct TrackedLine {
    pub tracked_number: String,
    pub forward_to: String,
    /// The campaign's recipients' phones in E.164 (stored typed as `(212) 555-0100`).
    pub recipients: Vec<String>,
}

/// What [`FaultCluster::seed`] wrote.
#[derive(Debug, Clone)]
pub struct Population {
    pub lines: Vec<TrackedLine>,
}

impl FaultCluster {
    /// Initialises and starts a cluster under a new directory in the system's temporary
    /// directory, which the `postgres` user can reach when we run as root.
    pub async fn create() -> Result<Self> {
        let root = std::env::temp_dir().join(format!(
            "calltrack-faults-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&root)
            .map_err(|e| FaultError::io(format!("cannot create {}", root.display()), e))?;
        let cluster = start_embedded(root.join("pg")).await?;
        let config = cluster.pg_config();
        let url = cluster.url();
        Ok(Self {
            root,
            running: Some(cluster),
            frozen: Vec::new(),
            config,
            url,
            keep: false,
        })
    }

    /// Leaves the directory (data, logs, spools) in place when dropped; the server is still
    /// stopped.
    pub fn keep_directory(&mut self) {
        self.keep = true;
    }

    /// The temporary directory this cluster lives in; removed with it.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The `DATABASE_URL` of the cluster's `postgres` database; the same across restarts.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn pg_config(&self) -> tokio_postgres::Config {
        self.config.clone()
    }

    /// Whether the server is running (frozen counts as running).
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// A connection of the caller's own, driven on the current runtime.
    pub async fn connect(&self) -> Result<tokio_postgres::Client> {
        calltrack::db::pool::connect(&self.config)
            .await
            .map_err(|e| FaultError::Cluster(e.into()))
    }

    /// Stops the server (`pg_ctl stop -m fast` or `immediate`) and waits until it is gone:
    /// every connection is cut, and new ones are refused because the socket is gone.
    pub async fn stop(&mut self, mode: StopMode) -> Result<()> {
        self.thaw().await?;
        let Some(cluster) = self.running.take() else {
            return Ok(());
        };
        tokio::task::spawn_blocking(move || cluster.stop_with(mode))
            .await
            .map_err(|e| FaultError::Cluster(e.into()))?
            .map_err(|e| FaultError::Cluster(e.into()))
    }

    /// Starts the stopped server again on the same data and socket (after `immediate`, it
    /// recovers first); returns once it accepts connections.
    pub async fn start(&mut self) -> Result<()> {
        if self.running.is_none() {
            self.running = Some(start_embedded(self.root.join("pg")).await?);
        }
        Ok(())
    }

    /// Sends `SIGSTOP` to the postmaster and then to every process it forked, so the server
    /// accepts connections (the kernel queues them) but never answers: a hung database.
    /// Returns how many processes were stopped.
    pub async fn freeze(&mut self) -> Result<usize> {
        let Some(cluster) = &self.running else {
            return Ok(0);
        };
        if !self.frozen.is_empty() {
            return Ok(self.frozen.len());
        }
        let postmaster = postmaster_pid(cluster.data_dir())?;
        // The postmaster first, so it forks nothing between the listing and the signal.
        signal("STOP", &[postmaster]).await?;
        self.frozen.push(postmaster);
        let children = children_of(postmaster);
        if !children.is_empty() {
            signal("STOP", &children).await?;
        }
        self.frozen.extend(children);
        Ok(self.frozen.len())
    }

    /// Sends `SIGCONT` to every process [`FaultCluster::freeze`] stopped.
    pub async fn thaw(&mut self) -> Result<()> {
        if self.frozen.is_empty() {
            return Ok(());
        }
        let pids = std::mem::take(&mut self.frozen);
        signal("CONT", &pids).await
    }

    /// Runs `binary migrate` against the cluster, as an operator would before `serve`.
    pub async fn migrate(&self, binary: &Path) -> Result<()> {
        let output = tokio::process::Command::new(binary)
            .arg("migrate")
            .env("DATABASE_URL", &self.url)
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "warn")
            .current_dir(&self.root)
            .output()
            .await
            .map_err(|e| FaultError::io(format!("cannot run {} migrate", binary.display()), e))?;
        if !output.status.success() {
            return Err(FaultError::Command {
                command: format!("{} migrate", binary.display()),
                status: output.status,
                output: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            });
        }
        Ok(())
    }

    /// Seeds an organization and client with `numbers` campaigns, each with one active
    /// tracked number (`+18005550100`, `+18005550101`, ...) forwarding to its own business
    /// number, and `recipients_per_number` recipients, with plain SQL as the platform would.
    pub async fn seed(&self, numbers: usize, recipients_per_number: usize) -> Result<Population> {
        let client = self.connect().await?;
        let org: uuid::Uuid = client
            .query_one(
                "WITH o AS (INSERT INTO organizations (name, type) VALUES ('Fault agency', 'agency') RETURNING id)
                 INSERT INTO clients (org_id, name, industry) SELECT id, 'Fault roofing', 'roofing' FROM o RETURNING id",
                &[],
            )
            .await
            .map_err(FaultError::db("seeding the client failed"))?
            .get(0);
        let mut lines = Vec::with_capacity(numbers);
        for i in 0..numbers {
            let line = TrackedLine {
                tracked_number: format!("+1800555{:04}", 100 + i),
                forward_to: format!("+1415555{:04}", 200 + i),
                recipients: (0..recipients_per_number)
                    .map(|k| format!("+1212555{:04}", 1000 + i * recipients_per_number + k))
                    .collect(),
            };
            let campaign: uuid::Uuid = client
                .query_one(
                    "WITH k AS (INSERT INTO campaigns (client_id, name, status)
                                VALUES ($1, $2, 'mailed') RETURNING id),
                          t AS (INSERT INTO tracked_phone_numbers (campaign_id, phone_number,
                                    forward_to_number, provider_sid)
                                SELECT id, $3, $4, $5 FROM k)
                     SELECT id FROM k",
                    &[
                        &org,
                        &format!("Fault mailer {i}"),
                        &line.tracked_number,
                        &line.forward_to,
                        &format!("PN{:032x}", i),
                    ],
                )
                .await
                .map_err(FaultError::db("seeding a campaign failed"))?
                .get(0);
            // Typed as a mail-house export would: `(212) 555-1000`.
            let typed: Vec<String> = line
                .recipients
                .iter()
                .map(|e164| format!("({}) {}-{}", &e164[2..5], &e164[5..8], &e164[8..]))
                .collect();
            client
                .execute(
                    "INSERT INTO recipients (campaign_id, redemption_code, first_name, phone)
                     SELECT $1, 'FC-' || $2::text || '-' || n, 'Dana', phone
                     FROM unnest($3::text[]) WITH ORDINALITY AS p(phone, n)",
                    &[&campaign, &i.to_string(), &typed],
                )
                .await
                .map_err(FaultError::db("seeding recipients failed"))?;
            lines.push(line);
        }
        Ok(Population { lines })
    }
}

impl Drop for FaultCluster {
    fn drop(&mut self) {
        // A frozen server cannot stop; a stopped one must not outlive its test.
        if !self.frozen.is_empty() {
            let _ = std::process::Command::new("kill")
                .arg("-CONT")
                .args(self.frozen.iter().map(u32::to_string))
                .status();
        }
        if let Some(cluster) = self.running.take()
            && let Err(error) = cluster.stop_with(StopMode::Immediate)
        {
            tracing::warn!(
                error = format!("{error:#}"),
                "cannot stop the fault cluster"
            );
        }
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

async fn start_embedded(root: PathBuf) -> Result<EmbeddedCluster> {
    tokio::task::spawn_blocking(move || EmbeddedCluster::start(&root))
        .await
        .map_err(|e| FaultError::Cluster(e.into()))?
        .map_err(|e| FaultError::Cluster(e.into()))
}

/// The postmaster's pid: the first line of `postmaster.pid`.
fn postmaster_pid(data_dir: &Path) -> Result<u32> {
    let path = data_dir.join("postmaster.pid");
    std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| text.lines().next()?.trim().parse().ok())
        .ok_or(FaultError::NoPostmaster { path })
}

/// Every process whose parent is `parent`, from `/proc/<pid>/stat`.
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // The command name is in parentheses and may hold spaces: fields follow the last ')'.
            let after_name = &stat[stat.rfind(')')? + 1..];
            let ppid: u32 = after_name.split_whitespace().nth(1)?.parse().ok()?;
            (ppid == parent).then_some(pid)
        })
        .collect()
}

/// `kill -<name> <pids>`.
async fn signal(name: &str, pids: &[u32]) -> Result<()> {
    let output = tokio::process::Command::new("kill")
        .arg(format!("-{name}"))
        .args(pids.iter().map(u32::to_string))
        .output()
        .await
        .map_err(|e| FaultError::io("cannot run kill", e))?;
    if !output.status.success() {
        return Err(FaultError::Command {
            command: format!("kill -{name} {pids:?}"),
            status: output.status,
            output: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(())
}
