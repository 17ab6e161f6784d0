//! calltrack's lab: what measures the service and hurts it on purpose, kept out of the
//! service's library. The benchmark, the scale measurement and the soak drive the real `calltrack` binary from
//! outside, the fault harness stops and freezes a private PostgreSQL under it, and the
//! integration tests (`lab/tests/`) build on all three.
//!
//! Depends on the `calltrack` library; the library never depends on this crate.

use std::path::PathBuf;

use anyhow::Context as _;

pub mod bench;
pub mod faults;
pub mod import;
pub mod rewards;
pub mod scale;
pub mod seed;
pub mod soak;

/// The `calltrack` binary the lab drives: `CALLTRACK_BINARY` when set, else the one cargo
/// built beside this executable (`target/<profile>/calltrack`; a test executable sits one
/// folder deeper, in `deps/`). `cargo build` (or `cargo test` at the workspace root) builds it.
pub fn calltrack_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("CALLTRACK_BINARY") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let mut dir = exe.parent().context("this executable has no folder")?;
    if dir.ends_with("deps") {
        dir = dir.parent().context("deps/ has no parent folder")?;
    }
    let binary = dir.join("calltrack");
    anyhow::ensure!(
        binary.is_file(),
        "{} is missing: build the service first (`cargo build`, or `cargo build --release` for the benchmark)",
        binary.display()
    );
    Ok(binary)
}
