//! A fresh machine for the commands meant to start on one (`demo`, and `serve` as a local
//! trial): the real binary, run in a temporary directory with nothing in its environment but
//! `PATH` and what the test gives it, its embedded PostgreSQL under that directory. Dropping
//! the machine stops a cluster its processes left running, so a failed test leaves no server.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::task::JoinHandle;

pub struct FreshMachine {
    dir: tempfile::TempDir,
}

impl FreshMachine {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("calltrack-fresh-")
            .tempdir()
            .unwrap();
        // Run as root, the cluster runs as `postgres`, which must be able to walk down to it.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        Self { dir }
    }

    /// The working directory of every command: no `.env` of the repository is read.
    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    /// `CALLTRACK_DATA_DIR`.
    pub fn data_dir(&self) -> PathBuf {
        self.home().join("data")
    }

    /// `calltrack <args>` with only `PATH` (where the PostgreSQL binaries may be) and
    /// `CALLTRACK_DATA_DIR` set; killed if dropped.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(calltrack_lab::calltrack_binary().unwrap());
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("CALLTRACK_DATA_DIR", self.data_dir())
            .current_dir(self.home())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// Whether the embedded cluster is running (its postmaster keeps its pid file).
    pub fn cluster_is_running(&self) -> bool {
        self.postmaster_pid_file().exists()
    }

    fn postmaster_pid_file(&self) -> PathBuf {
        self.data_dir().join("pgdata").join("postmaster.pid")
    }
}

impl Drop for FreshMachine {
    fn drop(&mut self) {
        let Ok(text) = std::fs::read_to_string(self.postmaster_pid_file()) else {
            return;
        };
        // SIGINT is PostgreSQL's fast shutdown.
        if let Some(pid) = text.lines().next() {
            let _ = std::process::Command::new("kill")
                .args(["-INT", pid.trim()])
                .status();
        }
        let until = Instant::now() + Duration::from_secs(15);
        while self.cluster_is_running() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A spawned command whose standard output is read line by line and whose standard error is
/// collected in the background (so neither pipe can fill and stall it).
pub struct Running {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    /// Every standard-output line read so far.
    pub output: Vec<String>,
    stderr: JoinHandle<Vec<String>>,
}

impl Running {
    pub fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        let stderr = tokio::spawn(async move {
            let mut lines = Vec::new();
            while let Ok(Some(line)) = stderr.next_line().await {
                lines.push(line);
            }
            lines
        });
        Self {
            child,
            stdout,
            output: Vec::new(),
            stderr,
        }
    }

    /// Reads standard output until a line starting with `prefix`, which it returns; panics
    /// with everything read when the output ends or `within` passes first.
    pub async fn read_until(&mut self, prefix: &str, within: Duration) -> String {
        let found = tokio::time::timeout(within, async {
            while let Some(line) = self.stdout.next_line().await.unwrap() {
                self.output.push(line.clone());
                if line.starts_with(prefix) {
                    return Some(line);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => line,
            _ => panic!(
                "no line starting with {prefix:?} within {within:?}; read:\n{}",
                self.output.join("\n")
            ),
        }
    }

    /// The line of the output so far that starts with `prefix`, without it.
    pub fn line_after(&self, prefix: &str) -> String {
        self.output
            .iter()
            .find_map(|line| line.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in:\n{}", self.output.join("\n")))
            .trim()
            .to_owned()
    }

    /// Sends `signal` (`INT`, `TERM`) and waits up to `within` for the process to exit.
    /// Kills it, and panics, if it does not exit.
    pub async fn stop(mut self, signal: &str, within: Duration) -> Stopped {
        let pid = self.child.id().expect("the process is still running");
        let sent = Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status()
            .await
            .unwrap();
        assert!(sent.success(), "kill -{signal} {pid} failed");
        let exited = tokio::time::timeout(within, async {
            while let Some(line) = self.stdout.next_line().await.unwrap() {
                self.output.push(line);
            }
            self.child.wait().await.unwrap()
        })
        .await;
        let Ok(status) = exited else {
            self.child.kill().await.unwrap();
            panic!("the process did not stop within {within:?} of SIG{signal}");
        };
        Stopped {
            status,
            output: self.output,
            stderr: self.stderr.await.unwrap(),
        }
    }
}

/// How a [`Running`] process ended, and everything it printed.
pub struct Stopped {
    pub status: ExitStatus,
    pub output: Vec<String>,
    pub stderr: Vec<String>,
}

impl Stopped {
    /// Standard output, then standard error.
    pub fn everything(&self) -> Vec<String> {
        self.output.iter().chain(&self.stderr).cloned().collect()
    }
}

/// A port nothing listens on right now, for a server that must be told its address up front.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The lines among `lines` that warn or report an error: JSON log lines at those levels,
/// pretty ones with the level as a word, and a command's own `error: ...`.
pub fn warnings_and_errors(lines: &[String]) -> Vec<&String> {
    lines
        .iter()
        .filter(
            |line| match serde_json::from_str::<serde_json::Value>(line) {
                Ok(json) => matches!(json["level"].as_str(), Some("WARN" | "ERROR")),
                Err(_) => {
                    line.split_whitespace()
                        .any(|word| matches!(word, "WARN" | "ERROR"))
                        || line.to_ascii_lowercase().starts_with("error")
                }
            },
        )
        .collect()
}
