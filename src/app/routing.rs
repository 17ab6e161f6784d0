//! The routing copy: every tracked number in memory, so the voice webhook can forward a call
//! exactly as it would have when the database cannot answer in time.
//!
//! Loaded at start and reloaded whenever the routing version (bumped by a trigger on every
//! change to `tracked_phone_numbers`) moves. Between loads it learns every route the live path
//! reads: a voice answer from the database, a change committed through this process's API. So
//! it is never older than what the process last answered or wrote, even in the second before
//! the next reload. A learned route keeps the version it was read at, and a reload replaces it
//! only when the reload is at least that new: a load that started before the change commits
//! with an older version and must not undo it.
//!
//! The copy is written to disk after each load, and after learning on the refresh worker's
//! next tick (the voice path never waits for an fsync), so a process that starts while the
//! database is down still forwards with what it knew last.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::{DateTime, Utc};

use crate::db::routing::{self, NumberRoute, RoutingVersion};
use crate::db::{self, PgPool};
use crate::domain::{CallFlow, E164};

/// The in-memory numbers, keyed by E.164 number.
pub struct RoutingCopy {
    routes: RwLock<Routes>,
    /// The version of the last full load, readable without the lock: a live answer read at
    /// or below it has nothing to teach the copy, which the voice path learns from one
    /// atomic load.
    loaded_version: AtomicI64,
    /// Something was learned since the snapshot was last written.
    unsaved: AtomicBool,
    /// Snapshot writes one at a time, each of the copy as it is when the write starts. Held
    /// by the blocking write itself, so a caller that stops waiting (a dropped request) never
    /// lets a second write into the same temporary file.
    saving: Arc<tokio::sync::Mutex<()>>,
    snapshot_path: PathBuf,
}

struct Routes {
    /// The version `loaded` reflects.
    version: RoutingVersion,
    loaded: HashMap<String, NumberRoute>,
    /// Routes read live since that load, each with the (newer) version it was read at.
    learned: HashMap<String, (RoutingVersion, NumberRoute)>,
}

impl Routes {
    fn get(&self, number: &str) -> Option<&NumberRoute> {
        match self.learned.get(number) {
            Some((_, route)) => Some(route),
            None => self.loaded.get(number),
        }
    }

    /// Whether a route of `number` read at `version` is newer than what the copy holds.
    fn is_news(&self, number: &str, version: RoutingVersion) -> bool {
        version > self.version
            && self
                .learned
                .get(number)
                .is_none_or(|(learned, _)| version > *learned)
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Snapshot {
    version: RoutingVersion,
    saved_at: DateTime<Utc>,
    routes: Vec<NumberRoute>,
}

impl RoutingCopy {
    /// Starts from the snapshot at `snapshot_path` when there is a readable one.
    pub fn open(snapshot_path: PathBuf) -> Self {
        let copy = Self {
            routes: RwLock::new(Routes {
                version: RoutingVersion::NEVER_LOADED,
                loaded: HashMap::new(),
                learned: HashMap::new(),
            }),
            loaded_version: AtomicI64::new(RoutingVersion::NEVER_LOADED.get()),
            unsaved: AtomicBool::new(false),
            saving: Arc::new(tokio::sync::Mutex::new(())),
            snapshot_path,
        };
        match read_snapshot(&copy.snapshot_path) {
            Ok(Some(snapshot)) => {
                tracing::info!(
                    numbers = snapshot.routes.len(),
                    saved_at = %snapshot.saved_at,
                    "routing copy loaded from its snapshot"
                );
                copy.install(snapshot.version, snapshot.routes);
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
        self.read().get(number.as_str()).cloned()
    }

    /// How many numbers the copy holds.
    pub fn len(&self) -> usize {
        let routes = self.read();
        let only_learned = routes
            .learned
            .keys()
            .filter(|number| !routes.loaded.contains_key(*number))
            .count();
        routes.loaded.len() + only_learned
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The routing version of the last full load; [`RoutingVersion::NEVER_LOADED`] before one.
    pub fn version(&self) -> RoutingVersion {
        RoutingVersion::new(self.loaded_version.load(Ordering::Acquire))
    }

    /// A voice answer from the database forwarded a call to `number` as `forward_to_number`
    /// with `flow`, read at `version`. Costs one atomic load when the copy is at least that
    /// new (nearly every call); a read lock and a comparison while a change has not been
    /// reloaded yet; a write only when the answer differs from what the copy holds.
    pub fn learn_forwarding(
        &self,
        version: RoutingVersion,
        number: &E164,
        forward_to_number: &str,
        flow: &CallFlow,
    ) -> bool {
        if !self.may_be_news(version) {
            return false;
        }
        let answered = NumberRoute {
            phone_number: number.as_str().to_owned(),
            forward_to_number: forward_to_number.to_owned(),
            is_active: true,
            flow: flow.clone(),
        };
        self.learn(version, answered)
    }

    /// A voice answer from the database found `number` switched off, read at `version`.
    pub fn learn_inactive(&self, version: RoutingVersion, number: &E164) -> bool {
        if !self.may_be_news(version) {
            return false;
        }
        self.learn_with(version, number.as_str(), |held| match held {
            Some(held) if !held.is_active => None,
            // What it forwarded to stays known, for callbacks of calls already forwarded.
            Some(held) => Some(NumberRoute {
                is_active: false,
                ..held.clone()
            }),
            // An inactive number forwards nowhere; it is held only to be answered as such.
            None => Some(NumberRoute {
                phone_number: number.as_str().to_owned(),
                forward_to_number: String::new(),
                is_active: false,
                flow: CallFlow::default(),
            }),
        })
    }

    /// `route`, read at `version` (a change this process committed, or a live answer), is
    /// held from now on unless the copy already holds something as new. Returns whether the
    /// copy changed; the snapshot follows on [`Self::save_if_unsaved`].
    pub fn learn(&self, version: RoutingVersion, route: NumberRoute) -> bool {
        let number = route.phone_number.clone();
        self.learn_with(version, &number, |held| {
            (!held.is_some_and(|held| held.routes_like(&route))).then(|| route.clone())
        })
    }

    fn may_be_news(&self, version: RoutingVersion) -> bool {
        version.get() > self.loaded_version.load(Ordering::Acquire)
    }

    /// Holds what `changed` makes of the held route, when `version` is newer than what is
    /// held for `number` and `changed` returns a route (it returns `None` for a route that
    /// answers calls like the held one). Looks under the read lock first, so a route the copy
    /// already has never takes the write lock.
    fn learn_with(
        &self,
        version: RoutingVersion,
        number: &str,
        changed: impl Fn(Option<&NumberRoute>) -> Option<NumberRoute>,
    ) -> bool {
        {
            let routes = self.read();
            if !routes.is_news(number, version) || changed(routes.get(number)).is_none() {
                return false;
            }
        }
        let mut routes = self.write();
        // A reload or another answer may have come in between the two locks.
        if !routes.is_news(number, version) {
            return false;
        }
        let Some(route) = changed(routes.get(number)) else {
            return false;
        };
        routes.learned.insert(number.to_owned(), (version, route));
        drop(routes);
        self.unsaved.store(true, Ordering::Release);
        tracing::info!(%version, "routing copy learned a route ahead of its next reload");
        true
    }

    /// Replaces the loaded routes with `routes` at `version`. A route learned at a newer
    /// version stays: this load started before that change committed.
    fn install(&self, version: RoutingVersion, routes: Vec<NumberRoute>) {
        let loaded: HashMap<_, _> = routes
            .into_iter()
            .map(|r| (r.phone_number.clone(), r))
            .collect();
        let mut held = self.write();
        if version < held.version {
            // The version went back: another database (a restore) whose versions are not
            // comparable with what was learned.
            held.learned.clear();
        } else {
            held.learned.retain(|_, (learned, _)| *learned > version);
        }
        held.loaded = loaded;
        held.version = version;
        self.loaded_version.store(version.get(), Ordering::Release);
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
        // Memory first: calls are routed by the new copy at once, and the snapshot (which a
        // restart reads) never runs ahead of what this process routes by.
        self.install(version, routes);
        tracing::info!(numbers = count, %version, "routing copy reloaded");
        self.save().await.map_err(RefreshError::Snapshot)?;
        Ok(true)
    }

    /// Writes the snapshot if something was learned since the last write; returns whether
    /// it wrote.
    pub async fn save_if_unsaved(&self) -> std::io::Result<bool> {
        if !self.unsaved.load(Ordering::Acquire) {
            return Ok(false);
        }
        self.save().await.map(|()| true)
    }

    /// Writes the copy as it is now to the snapshot (fsynced). The snapshot holds the
    /// learned routes at the loaded version: a restart reloads at once when the database
    /// answers, since its version is past that.
    pub async fn save(&self) -> std::io::Result<()> {
        let one_at_a_time = Arc::clone(&self.saving).lock_owned().await;
        // Cleared before the copy is read: whatever is learned from here on marks it again.
        self.unsaved.store(false, Ordering::Release);
        let snapshot = {
            let routes = self.read();
            let mut all = routes.loaded.clone();
            for (number, (_, route)) in &routes.learned {
                all.insert(number.clone(), route.clone());
            }
            Snapshot {
                version: routes.version,
                saved_at: Utc::now(),
                routes: all.into_values().collect(),
            }
        };
        let path = self.snapshot_path.clone();
        let written = tokio::task::spawn_blocking(move || {
            let _one_at_a_time = one_at_a_time;
            write_snapshot(&path, &snapshot)
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|written| written);
        if written.is_err() {
            self.unsaved.store(true, Ordering::Release);
        }
        written
    }

    // A poisoned lock still holds whole maps: every change under it is one insert, one
    // retain or one assignment, none of which a panic leaves half done.
    fn read(&self) -> RwLockReadGuard<'_, Routes> {
        self.routes
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Routes> {
        self.routes
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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

    const NUMBER: &str = "+18005550123";

    fn route(number: &str, forward_to: &str) -> NumberRoute {
        NumberRoute {
            phone_number: number.into(),
            forward_to_number: forward_to.into(),
            is_active: true,
            flow: CallFlow::default(),
        }
    }

    fn v(version: i64) -> RoutingVersion {
        RoutingVersion::new(version)
    }

    fn number() -> E164 {
        E164::parse(NUMBER).expect("valid number")
    }

    fn scratch() -> PathBuf {
        std::env::temp_dir().join(format!("routing-{}", uuid::Uuid::new_v4()))
    }

    /// A copy loaded at version 10 with `NUMBER` forwarding to `+14155550100`.
    fn loaded_copy(dir: &Path) -> RoutingCopy {
        let copy = RoutingCopy::open(dir.join("routing.json"));
        copy.install(v(10), vec![route(NUMBER, "+14155550100")]);
        copy
    }

    fn forwards_to(copy: &RoutingCopy) -> Option<String> {
        copy.lookup(&number()).map(|r| r.forward_to_number)
    }

    #[test]
    fn a_snapshot_written_is_what_the_next_process_starts_with() {
        let dir = scratch();
        let path = dir.join("routing.json");
        let mut inactive = route("+18005550124", "+14155550199");
        inactive.is_active = false;
        let snapshot = Snapshot {
            version: v(7),
            saved_at: Utc::now(),
            routes: vec![route(NUMBER, "+14155550199"), inactive],
        };
        write_snapshot(&path, &snapshot).expect("snapshot written");

        let copy = RoutingCopy::open(path);

        assert_eq!(copy.version(), v(7));
        assert_eq!(copy.len(), 2);
        let number = E164::parse("+18005550124").expect("valid number");
        assert_eq!(copy.lookup(&number).map(|r| r.is_active), Some(false));
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_snapshot_from_before_routes_dropped_their_ids_still_loads() {
        let dir = scratch();
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("routing.json");
        let old = serde_json::json!({
            "version": 3,
            "saved_at": Utc::now(),
            "routes": [{
                "phone_number": NUMBER,
                "campaign_id": uuid::Uuid::new_v4(),
                "tracked_number_id": uuid::Uuid::new_v4(),
                "forward_to_number": "+14155550199",
                "is_active": true
            }]
        });
        std::fs::write(&path, old.to_string()).expect("written");

        let copy = RoutingCopy::open(path);

        assert_eq!(forwards_to(&copy).as_deref(), Some("+14155550199"));
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn an_unreadable_snapshot_starts_an_empty_copy() {
        let dir = scratch();
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("routing.json");
        std::fs::write(&path, b"{ not json").expect("written");

        let copy = RoutingCopy::open(path);

        assert!(copy.is_empty());
        assert_eq!(copy.version(), RoutingVersion::NEVER_LOADED);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn an_answer_read_at_a_newer_version_is_learned_at_once() {
        let copy = loaded_copy(&scratch());

        let learned = copy.learn_forwarding(v(11), &number(), "+14155550111", &CallFlow::default());

        assert!(learned);
        assert_eq!(forwards_to(&copy).as_deref(), Some("+14155550111"));
        assert!(copy.unsaved.load(Ordering::Acquire));
    }

    #[test]
    fn an_answer_no_newer_than_the_copy_changes_nothing() {
        let copy = loaded_copy(&scratch());

        // Read at the loaded version, or before it: a call that raced the reload.
        let at_load = copy.learn_forwarding(v(10), &number(), "+14155550111", &CallFlow::default());
        let older = copy.learn_forwarding(v(9), &number(), "+14155550111", &CallFlow::default());

        assert!(!at_load && !older);
        assert_eq!(forwards_to(&copy).as_deref(), Some("+14155550100"));
        assert!(!copy.unsaved.load(Ordering::Acquire));
    }

    #[test]
    fn a_newer_answer_that_routes_as_the_copy_does_writes_nothing() {
        let copy = loaded_copy(&scratch());

        // Another number changed (version 11): this one's answer is what the copy holds.
        let learned = copy.learn_forwarding(v(11), &number(), "+14155550100", &CallFlow::default());

        assert!(!learned);
        assert!(copy.read().learned.is_empty());
    }

    #[test]
    fn a_reload_at_an_older_version_keeps_the_newer_learned_route() {
        let copy = loaded_copy(&scratch());
        copy.learn_forwarding(v(12), &number(), "+14155550112", &CallFlow::default());

        // A load that started before the change at 12 committed.
        copy.install(v(11), vec![route(NUMBER, "+14155550100")]);

        assert_eq!(forwards_to(&copy).as_deref(), Some("+14155550112"));
        assert_eq!(copy.version(), v(11));
    }

    #[test]
    fn a_reload_at_the_learned_version_or_later_replaces_the_learned_route() {
        let copy = loaded_copy(&scratch());
        copy.learn_forwarding(v(12), &number(), "+14155550112", &CallFlow::default());

        copy.install(v(13), vec![route(NUMBER, "+14155550113")]);

        assert_eq!(forwards_to(&copy).as_deref(), Some("+14155550113"));
        assert!(copy.read().learned.is_empty());
    }

    #[test]
    fn an_older_answer_never_replaces_a_newer_learned_one() {
        let copy = loaded_copy(&scratch());
        let flow = CallFlow::default();
        copy.learn_forwarding(v(13), &number(), "+14155550113", &flow);

        // A slower statement that read the number before the change at 13.
        let learned = copy.learn_forwarding(v(12), &number(), "+14155550112", &flow);

        assert!(!learned);
        assert_eq!(forwards_to(&copy).as_deref(), Some("+14155550113"));
    }

    #[test]
    fn a_number_found_switched_off_is_answered_inactive_from_the_copy() {
        let copy = loaded_copy(&scratch());
        let unknown = E164::parse("+18005550999").expect("valid number");

        copy.learn_inactive(v(11), &number());
        copy.learn_inactive(v(11), &unknown);

        let held = copy.lookup(&number()).expect("still known");
        assert!(!held.is_active);
        assert_eq!(held.forward_to_number, "+14155550100");
        assert_eq!(copy.lookup(&unknown).map(|r| r.is_active), Some(false));
        assert_eq!(copy.len(), 2);
    }

    #[test]
    fn a_copy_never_loaded_learns_too() {
        let copy = RoutingCopy::open(scratch().join("routing.json"));

        copy.learn_forwarding(v(0), &number(), "+14155550100", &CallFlow::default());

        assert_eq!(forwards_to(&copy).as_deref(), Some("+14155550100"));
    }

    #[tokio::test]
    async fn learned_routes_are_in_the_snapshot_once_saved() {
        let dir = scratch();
        let copy = loaded_copy(&dir);
        copy.learn_forwarding(v(12), &number(), "+14155550112", &CallFlow::default());

        assert!(copy.save_if_unsaved().await.expect("saved"));
        assert!(!copy.save_if_unsaved().await.expect("nothing to save"));
        let restarted = RoutingCopy::open(dir.join("routing.json"));

        assert_eq!(forwards_to(&restarted).as_deref(), Some("+14155550112"));
        // At the loaded version: a restart reloads as soon as the database answers.
        assert_eq!(restarted.version(), v(10));
        std::fs::remove_dir_all(dir).ok();
    }
}
