//! The routing copy: every tracked number in memory, so the voice webhook can forward a call
//! exactly as it would have when the database cannot answer in time.
//!
//! Loaded at start, reloaded whenever the routing version (bumped by a trigger on every change
//! to `tracked_phone_numbers`) moves, and written to disk after each load, so a process that
//! starts while the database is down still forwards with what it knew last.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};

use crate::db::routing::{self, NumberRoute};
use crate::db::{self, PgPool};
use crate::domain::E164;

/// No load and no snapshot yet.
const NEVER_LOADED: i64 = -1;

/// The in-memory numbers, keyed by E.164 number.
pub struct RoutingCopy {
    routes: RwLock<Arc<HashMap<String, NumberRoute>>>,
    version: AtomicI64,
    snapshot_path: PathBuf,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Snapshot {
    version: i64,
    saved_at: DateTime<Utc>,
    routes: Vec<NumberRoute>,
}

impl RoutingCopy {
    /// Starts from the snapshot at `snapshot_path` when there is a readable one.
    pub fn open(snapshot_path: PathBuf) -> Self {
        let copy = Self {
            routes: RwLock::new(Arc::new(HashMap::new())),
            version: AtomicI64::new(NEVER_LOADED),
            snapshot_path,
        };
        match read_snapshot(&copy.snapshot_path) {
            Ok(Some(snapshot)) => {
                tracing::info!(
                    numbers = snapshot.routes.len(),
                    saved_at = %snapshot.saved_at,
                    "routing copy loaded from its snapshot"
                );
                copy.replace(snapshot.version, snapshot.routes);
            }
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%error, path = %copy.snapshot_path.display(), "routing snapshot unreadable; ignored");
            }
        }
        copy
    }

    /// The route of `number`, if the copy knows it.
    pub fn lookup(&self, number: &E164) -> Option<NumberRoute> {
        self.current().get(number.as_str()).cloned()
    }

    /// How many numbers the copy holds.
    pub fn len(&self) -> usize {
        self.current().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The routing version the copy reflects; negative when it was never loaded.
    pub fn version(&self) -> i64 {
        self.version.load(Ordering::Acquire)
    }

    fn current(&self) -> Arc<HashMap<String, NumberRoute>> {
        // A poisoned lock still holds a whole map: replacing it is one assignment.
        match self.routes.read() {
            Ok(routes) => Arc::clone(&routes),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn replace(&self, version: i64, routes: Vec<NumberRoute>) {
        let map: HashMap<_, _> = routes
            .into_iter()
            .map(|r| (r.phone_number.clone(), r))
            .collect();
        let map = Arc::new(map);
        match self.routes.write() {
            Ok(mut routes) => *routes = map,
            Err(poisoned) => *poisoned.into_inner() = map,
        }
        self.version.store(version, Ordering::Release);
    }

    /// Reloads from the database if the routing version moved; returns whether it did.
    /// The new copy is in use, and written to the snapshot, before this returns.
    pub async fn refresh(&self, pool: &PgPool) -> Result<bool, RefreshError> {
        let mut client = pool.get().await.map_err(db::Error::from)?;
        if routing::version(&client).await? == self.version() {
            return Ok(false);
        }
        let (version, routes) = routing::load(&mut client).await?;
        drop(client);
        let count = routes.len();
        let snapshot = Snapshot {
            version,
            saved_at: Utc::now(),
            routes: routes.clone(),
        };
        // Memory first: calls are routed by the new copy at once, and the snapshot (which a
        // restart reads) never runs ahead of what this process routes by.
        self.replace(version, routes);
        tracing::info!(numbers = count, version, "routing copy reloaded");
        let path = self.snapshot_path.clone();
        tokio::task::spawn_blocking(move || write_snapshot(&path, &snapshot))
            .await
            .map_err(|e| RefreshError::Snapshot(std::io::Error::other(e)))?
            .map_err(RefreshError::Snapshot)?;
        Ok(true)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error(transparent)]
    Db(#[from] db::Error),
    #[error("the routing snapshot could not be written")]
    Snapshot(#[source] std::io::Error),
}

fn read_snapshot(path: &Path) -> std::io::Result<Option<Snapshot>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(std::io::Error::other),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes beside the snapshot, fsyncs, then renames over it: a crash leaves the old
/// snapshot or the new one, never half of one.
fn write_snapshot(path: &Path, snapshot: &Snapshot) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir)?;
    let temporary = path.with_extension("json.tmp");
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(&serde_json::to_vec(snapshot).map_err(std::io::Error::other)?)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(number: &str, active: bool) -> NumberRoute {
        NumberRoute {
            phone_number: number.into(),
            campaign_id: uuid::Uuid::new_v4(),
            tracked_number_id: uuid::Uuid::new_v4(),
            forward_to_number: "+14155550199".into(),
            is_active: active,
            flow: crate::domain::CallFlow::default(),
        }
    }

    #[test]
    fn a_snapshot_written_is_what_the_next_process_starts_with() {
        let dir = std::env::temp_dir().join(format!("routing-{}", uuid::Uuid::new_v4()));
        let path = dir.join("routing.json");
        let snapshot = Snapshot {
            version: 7,
            saved_at: Utc::now(),
            routes: vec![route("+18005550123", true), route("+18005550124", false)],
        };
        write_snapshot(&path, &snapshot).expect("snapshot written");

        let copy = RoutingCopy::open(path);

        assert_eq!(copy.version(), 7);
        assert_eq!(copy.len(), 2);
        let number = E164::parse("+18005550124").expect("valid number");
        assert_eq!(copy.lookup(&number).map(|r| r.is_active), Some(false));
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn an_unreadable_snapshot_starts_an_empty_copy() {
        let dir = std::env::temp_dir().join(format!("routing-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("routing.json");
        std::fs::write(&path, b"{ not json").expect("written");

        let copy = RoutingCopy::open(path);

        assert!(copy.is_empty());
        assert!(copy.version() < 0);
        std::fs::remove_dir_all(dir).ok();
    }
}
