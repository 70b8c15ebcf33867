//! Shared observation (DESIGN.md §3): one snapshot per account and kind,
//! refreshed with paged searches at most once per resync interval however many
//! objects reconcile against it. Writes upsert the object they changed with a
//! single read instead of invalidating the whole snapshot.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::qualys::{QualysClient, QualysError};
use crate::reconcile::object::Kind;
use crate::reconcile::snapshot::Snapshot;

struct Entry {
    snapshot: Arc<Snapshot>,
    refreshed: Instant,
}

type Slot = Arc<Mutex<Option<Entry>>>;

#[derive(Default)]
pub struct ObserverHub {
    slots: std::sync::Mutex<HashMap<(String, Kind), Slot>>,
}

impl ObserverHub {
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
                list.extend(fresh);
            }
            _ => {
                entry.snapshot = Arc::new(Snapshot::observe(client, &BTreeSet::from([kind])).await?);
                entry.refreshed = Instant::now();
            }
        }
        Ok(())
    }
}
