//! Shared observation (DESIGN.md §3): one snapshot per account and kind,
//! refreshed with paged searches at most once per resync interval however many
//! objects reconcile against it. Writes upsert the object they changed with a
//! single read instead of invalidating the whole snapshot.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, broadcast};
use tokio::time::Instant;

use crate::qualys::share::{Priority, read_priority};
use crate::qualys::{QualysClient, QualysError};
use crate::reconcile::object::Kind;
use crate::reconcile::snapshot::Snapshot;

struct Entry {
    snapshot: Arc<Snapshot>,
    /// When the read behind it started: it shows no write finished after this.
    started: Instant,
}

/// One account and kind. The snapshot is swapped under a short lock, never
/// held across a call to Qualys; `refresh` makes concurrent refreshes one.
#[derive(Default)]
struct Slot {
    entry: std::sync::Mutex<Option<Entry>>,
    refresh: Mutex<()>,
    /// Qualys id → when the operator's last write to it finished.
    writes: std::sync::Mutex<HashMap<String, Instant>>,
}

impl Slot {
    fn current(&self) -> Option<(Arc<Snapshot>, Instant)> {
        let entry = self.entry.lock().unwrap_or_else(|e| e.into_inner());
        entry.as_ref().map(|e| (e.snapshot.clone(), e.started))
    }
}

/// A snapshot and when the read behind it started.
#[derive(Clone)]
pub struct Seen {
    pub snapshot: Arc<Snapshot>,
    pub started: Instant,
}

/// The key a write to `id` is remembered under: the account's one global
/// scan configuration has no id of its own.
fn written_key(kind: Kind, id: Option<&str>) -> Option<&str> {
    id.or((kind == Kind::GlobalScan).then_some(crate::reconcile::object::GLOBAL_SCAN_KEY))
}

#[derive(Default)]
struct Writing {
    under_way: usize,
    last: Option<Instant>,
}

/// A write to Qualys under way; see [`ObserverHub::write_under_way`].
pub struct WriteUnderWay<'a> {
    hub: &'a ObserverHub,
    account: String,
    quiet: Duration,
}

impl Drop for WriteUnderWay<'_> {
    fn drop(&mut self) {
        let last_one = {
            let mut writing = self.hub.writing.lock().unwrap_or_else(|e| e.into_inner());
            let Some(w) = writing.get_mut(&self.account) else {
                return;
            };
            w.under_way = w.under_way.saturating_sub(1);
            // A write that ended without an answer (refused, cancelled) still
            // ends a run of writes now, not when the last answered one did.
            w.last = Some(Instant::now());
            w.under_way == 0
        };
        if last_one {
            self.hub.wake_when_quiet(&self.account, self.quiet);
        }
    }
}

/// Qualys objects whose observed state changed in a refresh.
#[derive(Debug, Clone)]
pub struct Changed {
    pub account: String,
    pub kind: Kind,
    pub ids: Vec<String>,
}

pub struct ObserverHub {
    slots: std::sync::Mutex<HashMap<(String, Kind), Arc<Slot>>>,
    /// Per account: when the operator's last write to Qualys finished, and
    /// how many writes are under way (most of them waiting for budget).
    writing: Arc<std::sync::Mutex<HashMap<String, Writing>>>,
    changes: broadcast::Sender<Changed>,
    /// Longest a refresh (every page of the kind's search) may take.
    search_timeout: Duration,
}

impl Default for ObserverHub {
    fn default() -> Self {
        Self::new(Duration::from_secs(120))
    }
}

/// Ids present in `new` that are absent from or different in `old`, and ids that disappeared.
fn changed_ids(kind: Kind, old: &Snapshot, new: &Snapshot) -> Vec<String> {
    // Runs on every refresh, over every connector of the kind: one pass each way.
    fn diff<T: PartialEq>(old: &[T], new: &[T], id: impl Fn(&T) -> Option<&str>) -> Vec<String> {
        let before: HashMap<&str, &T> = old.iter().filter_map(|o| Some((id(o)?, o))).collect();
        let after: HashMap<&str, &T> = new.iter().filter_map(|n| Some((id(n)?, n))).collect();
        let changed = after
            .iter()
            .filter(|(k, n)| before.get(*k).is_none_or(|o| o != *n))
            .map(|(k, _)| k);
        let gone = before.keys().filter(|k| !after.contains_key(*k));
        changed.chain(gone).map(|k| k.to_string()).collect()
    }
    match kind.cloud() {
        Some(cloud) => diff(
            old.connectors.get(&cloud).map(Vec::as_slice).unwrap_or_default(),
            new.connectors.get(&cloud).map(Vec::as_slice).unwrap_or_default(),
            |c| c.id.as_deref(),
        ),
        None => match kind {
            Kind::AzureOrg => diff(&old.orgs, &new.orgs, |o| o.org.id.as_deref()),
            Kind::Group => diff(&old.groups, &new.groups, |g| g.uuid.as_deref()),
            Kind::Report => diff(&old.reports, &new.reports, |r| r.report_id.as_deref()),
            _ if old.global_scan != new.global_scan => vec![crate::reconcile::object::GLOBAL_SCAN_KEY.to_string()],
            _ => Vec::new(),
        },
    }
}

fn timed_out(what: &str, after: Duration) -> QualysError {
    QualysError::Transport {
        message: format!("{what} timed out after {}s", after.as_secs()),
        timeout: true,
        request_sent: true,
    }
}

impl ObserverHub {
    pub fn new(search_timeout: Duration) -> Self {
        Self {
            slots: Default::default(),
            writing: Default::default(),
            changes: broadcast::channel(256).0,
            search_timeout,
        }
    }

    /// Refreshes that found changes, so only the affected objects are woken.
    pub fn subscribe(&self) -> broadcast::Receiver<Changed> {
        self.changes.subscribe()
    }

    fn slot(&self, account: &str, kind: Kind) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.entry((account.to_string(), kind)).or_default().clone()
    }

    /// The snapshot of `kind` for `account`, refreshed when older than
    /// `max_age` or, with `force`, by a read that starts after this call.
    /// Concurrent callers share one refresh; none waits longer than the search
    /// timeout, and none holds the snapshot while Qualys answers.
    pub async fn view(
        &self,
        account: &str,
        client: &QualysClient,
        kind: Kind,
        max_age: Duration,
        force: bool,
    ) -> Result<Seen, QualysError> {
        let asked = Instant::now();
        let slot = self.slot(account, kind);
        let usable = |(snapshot, started): (Arc<Snapshot>, Instant)| {
            let fresh = if force {
                started >= asked
            } else {
                started.elapsed() < max_age
            };
            fresh.then_some(Seen { snapshot, started })
        };
        if let Some(seen) = slot.current().and_then(usable) {
            return Ok(seen);
        }
        // A routine resync does not queue behind a refresh already under
        // way (which may be waiting for budget): it plans from the last read,
        // and the refresh wakes the objects it finds changed. Queued, it would
        // hold one of the kind's few reconcile slots that a spec change needs.
        if !force
            && read_priority() == Priority::Observation
            && let Err(_busy) = slot.refresh.try_lock()
            && let Some((snapshot, started)) = slot.current()
        {
            return Ok(Seen { snapshot, started });
        }
        let _refreshing = tokio::time::timeout(self.search_timeout, slot.refresh.lock())
            .await
            .map_err(|_| timed_out("waiting for another search of Qualys", self.search_timeout))?;
        // Someone else's refresh may have served us while we waited.
        if let Some(seen) = slot.current().and_then(usable) {
            return Ok(seen);
        }
        let started = Instant::now();
        let observed = tokio::time::timeout(self.search_timeout, Snapshot::observe(client, &BTreeSet::from([kind])))
            .await
            .map_err(|_| timed_out("searching Qualys", self.search_timeout))??;
        let snapshot = Arc::new(observed);
        {
            // Writes this read already shows need no tracking any more.
            let mut writes = slot.writes.lock().unwrap_or_else(|e| e.into_inner());
            writes.retain(|_, written| *written >= started);
        }
        let previous = {
            let mut entry = slot.entry.lock().unwrap_or_else(|e| e.into_inner());
            entry.replace(Entry {
                snapshot: snapshot.clone(),
                started,
            })
        };
        if let Some(previous) = previous {
            let ids = changed_ids(kind, &previous.snapshot, &snapshot);
            if !ids.is_empty() {
                // Nobody listening (tests, start-up) is fine: objects also resync on their own.
                let _ = self.changes.send(Changed {
                    account: account.to_string(),
                    kind,
                    ids,
                });
            }
        }
        Ok(Seen { snapshot, started })
    }

    /// About how many Qualys calls one refresh of every kind read so far for
    /// `account` costs: what observation spends per resync interval.
    pub fn calls_per_cycle(&self, account: &str) -> u32 {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots
            .iter()
            .filter(|((a, _), _)| a == account)
            .filter_map(|((_, kind), slot)| slot.current().map(|(snapshot, _)| snapshot.calls_to_observe(*kind)))
            .sum()
    }

    /// The snapshot as last read, without reading Qualys (empty before the first read).
    pub fn cached(&self, account: &str, kind: Kind) -> Seen {
        self.last_read(account, kind).unwrap_or_else(|| Seen {
            snapshot: Arc::default(),
            started: Instant::now(),
        })
    }

    /// The snapshot as last read, if Qualys was ever read for it.
    pub fn last_read(&self, account: &str, kind: Kind) -> Option<Seen> {
        let (snapshot, started) = self.slot(account, kind).current()?;
        Some(Seen { snapshot, started })
    }

    /// SNAPSHOT with the connectors last read for the group member kinds (no
    /// call to Qualys): a group judges a member whose spec leaves apps out by
    /// the apps Qualys reports for it.
    pub fn with_member_connectors(&self, account: &str, snapshot: &Arc<Snapshot>) -> Arc<Snapshot> {
        let mut merged = (**snapshot).clone();
        for kind in [Kind::Aws, Kind::Azure, Kind::Gcp] {
            if let (Some(cloud), Some((read, _))) = (kind.cloud(), self.slot(account, kind).current())
                && let Some(list) = read.connectors.get(&cloud)
            {
                merged.connectors.insert(cloud, list.clone());
                merged.observed.insert(kind);
            }
        }
        Arc::new(merged)
    }

    /// Whether the operator is still writing to `account`: a write is under
    /// way, or the last one finished less than `quiet` ago. A write waiting
    /// for budget counts: the share lets calls go in bursts, and the gap
    /// between two bursts is not a pause in the writes.
    fn writing(&self, account: &str, quiet: Duration) -> bool {
        let writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        writing
            .get(account)
            .is_some_and(|w| w.under_way > 0 || w.last.is_some_and(|last| last.elapsed() < quiet))
    }

    /// Marks a write to `account` under way until the returned guard drops
    /// (from before it waits for budget until its answer). When the last
    /// one ends and no other starts within `quiet`, the objects whose writes
    /// are unconfirmed are woken, so one refresh confirms them at once
    /// instead of at their next requeue.
    pub fn write_under_way(&self, account: &str, quiet: Duration) -> WriteUnderWay<'_> {
        let mut writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        writing.entry(account.to_string()).or_default().under_way += 1;
        WriteUnderWay {
            hub: self,
            account: account.to_string(),
            quiet,
        }
    }

    /// When the operator's last write to `id` finished, while no read has confirmed it.
    pub fn written_at(&self, account: &str, kind: Kind, id: Option<&str>) -> Option<Instant> {
        let id = written_key(kind, id)?;
        let slot = self.slot(account, kind);
        let writes = slot.writes.lock().unwrap_or_else(|e| e.into_inner());
        writes.get(id).copied()
    }

    /// A read of `id` alone that started at `started` (kinds read object by
    /// object, like user scopes) confirms the writes to it that finished before.
    pub fn confirmed(&self, account: &str, kind: Kind, id: &str, started: Instant) {
        let slot = self.slot(account, kind);
        let mut writes = slot.writes.lock().unwrap_or_else(|e| e.into_inner());
        if writes.get(id).is_some_and(|written| *written < started) {
            writes.remove(id);
        }
    }

    /// Every kind of `account` with writes no read has confirmed yet, and their ids.
    fn unconfirmed(&self, account: &str) -> Vec<Changed> {
        let slots: Vec<(Kind, Arc<Slot>)> = {
            let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots
                .iter()
                .filter(|((a, _), _)| a == account)
                .map(|((_, kind), slot)| (*kind, slot.clone()))
                .collect()
        };
        slots
            .into_iter()
            .filter_map(|(kind, slot)| {
                let writes = slot.writes.lock().unwrap_or_else(|e| e.into_inner());
                (!writes.is_empty()).then(|| Changed {
                    account: account.to_string(),
                    kind,
                    ids: writes.keys().cloned().collect(),
                })
            })
            .collect()
    }

    /// After the last write under way ended: once `quiet` has passed with
    /// no new write, wake the objects waiting for confirmation.
    fn wake_when_quiet(&self, account: &str, quiet: Duration) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let waiting = self.unconfirmed(account);
        if waiting.is_empty() {
            return;
        }
        let writing = self.writing.clone();
        let changes = self.changes.clone();
        let account = account.to_string();
        runtime.spawn(async move {
            tokio::time::sleep(quiet).await;
            let quiet_now = {
                let writing = writing.lock().unwrap_or_else(|e| e.into_inner());
                writing
                    .get(&account)
                    .is_none_or(|w| w.under_way == 0 && w.last.is_none_or(|last| last.elapsed() >= quiet))
            };
            if quiet_now {
                for changed in waiting {
                    // Nobody listening (no controller running) is not an error.
                    let _ = changes.send(changed);
                }
            }
        });
    }

    /// The snapshot to plan from instead of refreshing while the operator
    /// is writing to `account` (a write finished less than `quiet` ago):
    /// writes go first, and one refresh after they pause confirms every
    /// object they wrote. It is the one last read, as long as a refresh would
    /// cost more than 1/80 of the writes it would catch up on (its pages
    /// counted with those writes: a kind refreshes after 80 writes, then
    /// about every time it has grown fivefold), so refreshes during a long
    /// run of writes spend about 1.5% of it; none before the first read.
    pub fn while_writing(&self, account: &str, kind: Kind, quiet: Duration) -> Option<Seen> {
        const WRITES_PER_REFRESH_CALL: usize = 80;
        if !self.writing(account, quiet) {
            return None;
        }
        let slot = self.slot(account, kind);
        let (snapshot, started) = slot.current()?;
        let written = slot.writes.lock().unwrap_or_else(|e| e.into_inner()).len();
        let cost = u32::try_from(written).map_or(u32::MAX, |w| snapshot.calls_to_observe_with(kind, w));
        (written < WRITES_PER_REFRESH_CALL.saturating_mul(cost as usize)).then_some(Seen { snapshot, started })
    }

    /// Whether `seen` may be trusted about `id`: its read started after the
    /// operator's last write to `id` finished. An id missing from an older
    /// read is unknown, not gone.
    pub fn read_after_write(&self, account: &str, kind: Kind, id: &str, seen: &Seen) -> bool {
        let slot = self.slot(account, kind);
        let writes = slot.writes.lock().unwrap_or_else(|e| e.into_inner());
        writes.get(id).is_none_or(|written| seen.started > *written)
    }

    /// After a write to `id`: remember when it finished. Nothing is read
    /// here: the object stays unconfirmed until a batched refresh that started
    /// after the write (the write's object asks for one at most every
    /// creating-requeue interval, and one refresh serves every object written
    /// meanwhile). A create answer cannot stand in for that read: it shows
    /// apps, the Azure identifier and the account id differently from reads
    /// (Q-COL-4, Q-COL-6, Q-SEM-5), and updates answer with the id only (Q-SEM-6).
    pub fn record_write(&self, account: &str, kind: Kind, id: Option<&str>) {
        self.writing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(account.to_string())
            .or_default()
            .last = Some(Instant::now());
        // A create whose answer was lost has no id: its object searches afresh.
        if let Some(id) = written_key(kind, id) {
            let slot = self.slot(account, kind);
            let mut writes = slot.writes.lock().unwrap_or_else(|e| e.into_inner());
            writes.insert(id.to_string(), Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qualys::share::reads_at;
    use crate::qualys::{CloudKind, Connector};

    fn snapshot(connectors: &[(&str, &str)]) -> Snapshot {
        let list = connectors
            .iter()
            .map(|(id, state)| {
                Arc::new(Connector {
                    id: Some(id.to_string()),
                    connector_state: Some(state.to_string()),
                    ..Connector::default()
                })
            })
            .collect();
        Snapshot {
            connectors: [(CloudKind::Aws, list)].into(),
            ..Snapshot::default()
        }
    }

    #[test]
    fn an_id_missing_from_a_read_older_than_its_write_is_unknown_not_gone() {
        let hub = ObserverHub::new(Duration::from_secs(1));
        let before = Seen {
            snapshot: Arc::default(),
            started: Instant::now(),
        };
        std::thread::sleep(Duration::from_millis(5));
        hub.slot("a", Kind::Aws)
            .writes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert("7".into(), Instant::now());
        std::thread::sleep(Duration::from_millis(5));
        let after = Seen {
            snapshot: Arc::default(),
            started: Instant::now(),
        };
        assert!(
            !hub.read_after_write("a", Kind::Aws, "7", &before),
            "read before the write"
        );
        assert!(
            hub.read_after_write("a", Kind::Aws, "7", &after),
            "read after the write"
        );
        assert!(hub.read_after_write("a", Kind::Aws, "8", &before), "never written here");
        assert!(hub.read_after_write("b", Kind::Aws, "7", &before), "another account");
    }

    #[test]
    fn while_writing_the_last_read_serves_until_a_refresh_is_worth_80_writes() {
        let hub = ObserverHub::new(Duration::from_secs(1));
        let quiet = Duration::from_secs(60);
        assert!(hub.while_writing("a", Kind::Aws, quiet).is_none(), "nothing written");
        hub.record_write("a", Kind::Aws, Some("0"));
        assert!(
            hub.while_writing("a", Kind::Aws, quiet).is_none(),
            "never read: a read it is"
        );
        *hub.slot("a", Kind::Aws).entry.lock().unwrap_or_else(|e| e.into_inner()) = Some(Entry {
            snapshot: Arc::new(snapshot(&[("x", "SUCCESS")])),
            started: Instant::now(),
        });
        for id in 1..79 {
            hub.record_write("a", Kind::Aws, Some(&id.to_string()));
        }
        assert!(hub.while_writing("a", Kind::Aws, quiet).is_some(), "79 writes");
        hub.record_write("a", Kind::Aws, Some("79"));
        assert!(
            hub.while_writing("a", Kind::Aws, quiet).is_none(),
            "80 writes pay for a one-page refresh"
        );
        assert!(
            hub.while_writing("a", Kind::Aws, Duration::ZERO).is_none(),
            "writes have paused: read"
        );
        assert!(hub.while_writing("b", Kind::Aws, quiet).is_none(), "another account");
    }

    #[test]
    fn a_write_waiting_for_budget_keeps_the_account_writing() {
        let hub = ObserverHub::new(Duration::from_secs(1));
        *hub.slot("a", Kind::Aws).entry.lock().unwrap_or_else(|e| e.into_inner()) = Some(Entry {
            snapshot: Arc::new(snapshot(&[("x", "SUCCESS")])),
            started: Instant::now(),
        });
        hub.record_write("a", Kind::Aws, Some("1"));
        let paused = Duration::ZERO;
        assert!(
            hub.while_writing("a", Kind::Aws, paused).is_none(),
            "no write under way"
        );
        let first = hub.write_under_way("a", paused);
        let second = hub.write_under_way("a", paused);
        assert!(hub.while_writing("a", Kind::Aws, paused).is_some(), "two under way");
        assert!(hub.while_writing("b", Kind::Aws, paused).is_none(), "another account");
        drop(first);
        assert!(
            hub.while_writing("a", Kind::Aws, paused).is_some(),
            "one still under way"
        );
        drop(second);
        assert!(
            hub.while_writing("a", Kind::Aws, paused).is_none(),
            "all ended and quiet"
        );
        assert!(
            hub.while_writing("a", Kind::Aws, Duration::from_secs(60)).is_some(),
            "the last one ended just now"
        );
    }

    #[tokio::test]
    async fn when_the_writes_pause_the_objects_waiting_for_confirmation_are_woken() {
        let hub = ObserverHub::new(Duration::from_secs(1));
        let mut woken = hub.subscribe();
        let quiet = Duration::from_millis(100);
        let first = hub.write_under_way("a", quiet);
        hub.record_write("a", Kind::Aws, Some("1"));
        let second = hub.write_under_way("a", quiet);
        hub.record_write("a", Kind::Aws, Some("2"));
        drop(first);
        drop(second);
        // A write that starts within the quiet time keeps the run going.
        let third = hub.write_under_way("a", quiet);
        tokio::time::sleep(quiet * 3).await;
        assert!(
            woken.try_recv().is_err(),
            "a write is still under way: {:?}",
            woken.try_recv()
        );
        hub.record_write("a", Kind::Gcp, Some("3"));
        drop(third);
        let mut got = Vec::new();
        for _ in 0..2 {
            let changed = tokio::time::timeout(quiet * 10, woken.recv())
                .await
                .unwrap_or_else(|e| panic!("not woken: {e}"))
                .unwrap_or_else(|e| panic!("{e}"));
            let mut ids = changed.ids.clone();
            ids.sort();
            got.push((changed.kind, ids));
        }
        got.sort();
        assert_eq!(
            got,
            vec![
                (Kind::Aws, vec!["1".to_string(), "2".to_string()]),
                (Kind::Gcp, vec!["3".to_string()])
            ]
        );
        assert!(hub.written_at("a", Kind::Aws, Some("1")).is_some(), "still unconfirmed");
        assert!(hub.written_at("a", Kind::Aws, Some("9")).is_none());
    }

    #[tokio::test]
    async fn a_routine_resync_does_not_queue_behind_a_refresh_under_way() {
        let hub = ObserverHub::new(Duration::from_millis(200));
        let config = crate::qualys::config::AccountConfig::new("http://127.0.0.1:9", "http://127.0.0.1:9", "u", "p");
        let client = QualysClient::builder(config).build().unwrap_or_else(|e| panic!("{e}"));
        let slot = hub.slot("a", Kind::Aws);
        *slot.entry.lock().unwrap_or_else(|e| e.into_inner()) = Some(Entry {
            snapshot: Arc::new(snapshot(&[("x", "SUCCESS")])),
            started: Instant::now(),
        });
        let _refreshing = slot.refresh.lock().await;
        let stale = Duration::ZERO;
        let routine = hub.view("a", &client, Kind::Aws, stale, false).await;
        assert!(
            routine.is_ok_and(|seen| seen.snapshot.connectors.values().flatten().count() == 1),
            "the last read, at once"
        );
        // A read for a changed object waits for the refresh (here, in vain).
        let changed = reads_at(Priority::Changed, hub.view("a", &client, Kind::Aws, stale, false)).await;
        assert!(changed.is_err(), "queued behind the refresh until the search timeout");
    }

    #[test]
    fn a_refresh_reports_changed_new_and_gone_ids_only() {
        let old = snapshot(&[("1", "SUCCESS"), ("2", "QUEUED"), ("3", "SUCCESS")]);
        let new = snapshot(&[("1", "SUCCESS"), ("2", "SUCCESS"), ("4", "QUEUED")]);
        let mut ids = changed_ids(Kind::Aws, &old, &new);
        ids.sort();
        assert_eq!(ids, ["2", "3", "4"]);
        assert!(changed_ids(Kind::Aws, &new, &new).is_empty());
    }
}
