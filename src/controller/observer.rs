//! Shared observation (DESIGN.md §3): one snapshot per account and kind,
//! refreshed with paged searches at most once per resync interval however many
//! objects reconcile against it. Writes upsert the object they changed with a
//! single read instead of invalidating the whole snapshot.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, broadcast};
use tokio::time::Instant;

use crate::qualys::{QualysClient, QualysError};
use crate::reconcile::object::Kind;
use crate::reconcile::snapshot::Snapshot;

struct Entry {
    snapshot: Arc<Snapshot>,
    refreshed: Instant,
}

type Slot = Arc<Mutex<Option<Entry>>>;

/// Qualys objects whose observed state changed in a refresh.
#[derive(Debug, Clone)]
pub struct Changed {
    pub account: String,
    pub kind: Kind,
    pub ids: Vec<String>,
}

pub struct ObserverHub {
    slots: std::sync::Mutex<HashMap<(String, Kind), Slot>>,
    changes: broadcast::Sender<Changed>,
}

impl Default for ObserverHub {
    fn default() -> Self {
        Self {
            slots: Default::default(),
            changes: broadcast::channel(256).0,
        }
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
            _ if old.global_scan != new.global_scan => vec![crate::reconcile::object::GLOBAL_SCAN_KEY.to_string()],
            _ => Vec::new(),
        },
    }
}

impl ObserverHub {
    /// Refreshes that found changes, so only the affected objects are woken.
    pub fn subscribe(&self) -> broadcast::Receiver<Changed> {
        self.changes.subscribe()
    }

    fn slot(&self, account: &str, kind: Kind) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.entry((account.to_string(), kind)).or_default().clone()
    }

    /// The snapshot of `kind` for `account`, refreshed when older than
    /// `max_age` or when `force` is set. Concurrent callers share one refresh.
    pub async fn view(
        &self,
        account: &str,
        client: &QualysClient,
        kind: Kind,
        max_age: Duration,
        force: bool,
    ) -> Result<Arc<Snapshot>, QualysError> {
        let slot = self.slot(account, kind);
        let mut guard = slot.lock().await;
        if let Some(entry) = guard.as_ref()
            && !force
            && entry.refreshed.elapsed() < max_age
        {
            return Ok(entry.snapshot.clone());
        }
        let snapshot = Arc::new(Snapshot::observe(client, &BTreeSet::from([kind])).await?);
        if let Some(previous) = guard.as_ref() {
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
        *guard = Some(Entry {
            snapshot: snapshot.clone(),
            refreshed: Instant::now(),
        });
        Ok(snapshot)
    }

    /// After a write: re-read the changed object and put it in the snapshot
    /// (connectors), or re-read the kind (orgs, groups and the global scan
    /// configuration, which are few per account).
    pub async fn record_write(
        &self,
        account: &str,
        client: &QualysClient,
        kind: Kind,
        id: Option<&str>,
    ) -> Result<(), QualysError> {
        let slot = self.slot(account, kind);
        let mut guard = slot.lock().await;
        let Some(entry) = guard.as_mut() else { return Ok(()) };
        match (kind.cloud(), id) {
            (Some(cloud), Some(id)) => {
                let fresh = match client.get_connector(cloud, id).await {
                    Ok(c) => Some(c),
                    Err(QualysError::NotFound { .. }) => None,
                    Err(e) => return Err(e),
                };
                let snapshot = Arc::make_mut(&mut entry.snapshot);
                let list = snapshot.connectors.entry(cloud).or_default();
                list.retain(|c| c.id.as_deref() != Some(id));
                list.extend(fresh.map(Arc::new));
            }
            _ => {
                entry.snapshot = Arc::new(Snapshot::observe(client, &BTreeSet::from([kind])).await?);
                entry.refreshed = Instant::now();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
    fn a_refresh_reports_changed_new_and_gone_ids_only() {
        let old = snapshot(&[("1", "SUCCESS"), ("2", "QUEUED"), ("3", "SUCCESS")]);
        let new = snapshot(&[("1", "SUCCESS"), ("2", "SUCCESS"), ("4", "QUEUED")]);
        let mut ids = changed_ids(Kind::Aws, &old, &new);
        ids.sort();
        assert_eq!(ids, ["2", "3", "4"]);
        assert!(changed_ids(Kind::Aws, &new, &new).is_empty());
    }
}
