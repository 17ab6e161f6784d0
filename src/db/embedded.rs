//! A private PostgreSQL cluster started from the machine's own PostgreSQL binaries, for when
//! no `DATABASE_URL` is given. It listens on a unix socket only and is reused across starts.

use std::os::unix::fs::MetadataExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

/// A running embedded cluster. Stop it with [`EmbeddedCluster::stop`]; dropping it leaves the
/// server running so a crashed process never orphans a half-stopped cluster.
#[derive(Debug)]
pub struct EmbeddedCluster {
    data_dir: PathBuf,
    socket_dir: PathBuf,
    bin_dir: PathBuf,
    run_as: Option<(u32, u32)>,
    started_here: bool,
}

const PORT: u16 = 5432;

/// How `pg_ctl stop` ends the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Disconnects every session, writes a checkpoint, exits.
    Fast,
    /// Kills the server without a checkpoint, as a crash would; the next start recovers.
    Immediate,
}

impl EmbeddedCluster {
    /// Initialises the cluster under `root` on first use, then starts it unless it is already
    /// running (another calltrack process on the same directory shares it).
    pub fn start(root: &Path) -> anyhow::Result<Self> {
        let bin_dir = find_bin_dir()?;
        std::fs::create_dir_all(root)
            .with_context(|| format!("cannot create CALLTRACK_DATA_DIR {}", root.display()))?;
        let root = root
            .canonicalize()
            .context("cannot resolve CALLTRACK_DATA_DIR")?;
        let data_dir = root.join("pgdata");
        let socket_dir = root.join("run");
        std::fs::create_dir_all(&socket_dir)?;
        let run_as = server_user()?;
        if run_as.is_some() {
            check_reachable_by_others(&root)?;
        }
        if let Some((uid, gid)) = run_as {
            for dir in [&root, &socket_dir] {
                std::os::unix::fs::chown(dir, Some(uid), Some(gid)).with_context(|| {
                    format!("cannot hand {} to the postgres user", dir.display())
                })?;
            }
        }
        let mut cluster = Self {
            data_dir,
            socket_dir,
            bin_dir,
            run_as,
            started_here: false,
        };
        if !cluster.data_dir.join("PG_VERSION").exists() {
            cluster.initdb()?;
        }
        if !cluster.is_running() {
            cluster.pg_ctl_start(&root.join("postgres.log"))?;
            cluster.started_here = true;
        }
        Ok(cluster)
    }

    /// Connection settings for the cluster's `postgres` database over its socket.
    pub fn pg_config(&self) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .host_path(&self.socket_dir)
            .port(PORT)
            .user("postgres")
            .dbname("postgres");
        config
    }

    /// A libpq-style URL for the same database, for child processes and `psql`.
    pub fn url(&self) -> String {
        format!(
            "postgresql://postgres@/postgres?host={}&port={PORT}",
            self.socket_dir.display()
        )
    }

    pub fn started_here(&self) -> bool {
        self.started_here
    }

    /// Whether the server runs as another user because this process is root.
    pub fn runs_as_other_user() -> bool {
        server_user().ok().flatten().is_some()
    }

    /// The cluster's data directory (`<root>/pgdata`); its `postmaster.pid` names the server.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Stops the server if this process started it.
    pub fn stop(&self) -> anyhow::Result<()> {
        self.stop_with(StopMode::Fast)
    }

    /// Stops the server in `mode` if this process started it, and waits until it is gone.
    pub fn stop_with(&self, mode: StopMode) -> anyhow::Result<()> {
        if !self.started_here {
            return Ok(());
        }
        let mode = match mode {
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        };
        // Captured: pg_ctl's progress dots are not this process's output.
        let output = self
            .command("pg_ctl")
            .args(["stop", "-m", mode, "-w", "-D"])
            .arg(&self.data_dir)
            .output()
            .context("cannot run pg_ctl stop")?;
        if !output.status.success() {
            bail!(
                "pg_ctl stop failed with {}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(())
    }

    fn initdb(&self) -> anyhow::Result<()> {
        let output = self
            .command("initdb")
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "-D",
            ])
            .arg(&self.data_dir)
            .output()
            .context("cannot run initdb")?;
        if !output.status.success() {
            bail!(
                "initdb failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(())
    }

    fn is_running(&self) -> bool {
        self.command("pg_ctl")
            .args(["status", "-D"])
            .arg(&self.data_dir)
            .output()
            .is_ok_and(|o| o.status.success())
    }

    fn pg_ctl_start(&self, log: &Path) -> anyhow::Result<()> {
        let options = format!(
            "-c listen_addresses='' -p {PORT} -k '{}' -c max_connections=200 -c fsync=on",
            self.socket_dir.display()
        );
        let output = self
            .command("pg_ctl")
            .args(["start", "-w", "-t", "60", "-D"])
            .arg(&self.data_dir)
            .arg("-l")
            .arg(log)
            .args(["-o", &options])
            .output()
            .context("cannot run pg_ctl start")?;
        if !output.status.success() {
            let log_tail = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = log_tail.lines().rev().take(5).collect();
            bail!(
                "embedded PostgreSQL did not start: {} {}",
                String::from_utf8_lossy(&output.stderr).trim(),
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            );
        }
        Ok(())
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(program));
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid).gid(gid);
        }
        cmd
    }
}

/// The `postgres` user must be able to walk down to the data directory; a home directory
/// like `/root` (mode 700) stops it, and initdb would fail with a confusing message.
fn check_reachable_by_others(root: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    for dir in root.ancestors().skip(1) {
        let mode = std::fs::metadata(dir)
            .map(|m| m.permissions().mode())
            .unwrap_or(0o755);
        if mode & 0o001 == 0 {
            bail!(
                "the embedded PostgreSQL runs as the 'postgres' user, which cannot enter {} \
                 (mode {:o}); set CALLTRACK_DATA_DIR to a directory it can reach, e.g. \
                 /var/lib/calltrack, or set DATABASE_URL",
                dir.display(),
                mode & 0o777
            );
        }
    }
    Ok(())
}

/// PostgreSQL refuses to run as root, so a root process runs it as the `postgres` user.
fn server_user() -> anyhow::Result<Option<(u32, u32)>> {
    let euid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX);
    if euid != 0 {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 3 && f[0] == "postgres")
        .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
        .map(Some)
        .context(
            "running as root, and PostgreSQL refuses to: create a 'postgres' system user \
             (installing the postgresql package does) or set DATABASE_URL",
        )
}

fn find_bin_dir() -> anyhow::Result<PathBuf> {
    let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(path) = std::env::var_os("PATH")
        && let Some(dir) = std::env::split_paths(&path).find(|d| has_tools(d))
    {
        return Ok(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin)| has_tools(bin))
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).context(
        "no DATABASE_URL and no PostgreSQL server binaries (initdb, pg_ctl) on PATH or in \
         /usr/lib/postgresql/*/bin: install PostgreSQL (e.g. `apt-get install postgresql`) \
         or set DATABASE_URL",
    )
}
