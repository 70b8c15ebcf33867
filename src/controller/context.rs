//! What reconciles share: the kube client, accounts, the observation hub,
//! metrics and the claims index; plus per-controller parts (kind, recorder).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::Client;
use kube::runtime::events::{Recorder, Reporter};

use super::accounts::AccountRegistry;
use super::observer::ObserverHub;
use crate::metrics::Metrics;
use crate::reconcile::group::MemberCandidate;
use crate::reconcile::object::Kind;
use crate::reconcile::planner::Claims;

/// Operator-wide settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Default and minimum resync interval.
    pub resync: Duration,
    pub min_resync: Duration,
    /// Requeue while Qualys is still synchronising a new connector.
    pub creating_requeue: Duration,
    /// First and largest error backoff.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Longest one refresh of a snapshot (a kind's paged search) may take.
    pub search_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            resync: Duration::from_secs(600),
            min_resync: Duration::from_secs(60),
            creating_requeue: Duration::from_secs(15),
            backoff_base: Duration::from_secs(5),
            backoff_max: Duration::from_secs(600),
            search_timeout: Duration::from_secs(120),
        }
    }
}

pub struct Shared {
    pub client: Client,
    pub accounts: AccountRegistry,
    pub observers: ObserverHub,
    pub metrics: Arc<Metrics>,
    pub settings: Settings,
    /// (account, kind) → Qualys id → the object that maps to it, so two
    /// objects never adopt the same Qualys object.
    claims: Mutex<HashMap<(String, Kind), ClaimIndex>>,
    /// Per account and kind: natural key → the object that created (or is
    /// creating) a Qualys object with it. Two objects planning a create from
    /// the same read would otherwise both create: Qualys allows duplicate
    /// connectors per account and duplicate report titles.
    creating: Mutex<HashMap<(String, Kind), ClaimIndex>>,
    /// What groups and Azure connectors need to know of other kinds, read
    /// from those controllers' caches: listing the kinds per reconcile was
    /// the operator's largest memory and CPU cost at scale.
    views: Mutex<Views>,
    /// Per kind: the cached objects whose status records a given Qualys id.
    recorders: Mutex<HashMap<Kind, Vec<IdRecords>>>,
    /// Status this process wrote that the watch cache may not show yet.
    pub written: WrittenStatus,
}

/// The status last written per object (by uid), for a few seconds: a
/// reconcile that runs on a cached object older than that write (the
/// create-succeeded annotation's own watch event, say) reads what was
/// written, not what the cache still shows. Without it, a new connector's
/// next reconcile did not know its secret had been sent, and sent it again.
#[derive(Default)]
pub struct WrittenStatus {
    by_uid: Mutex<HashMap<String, (serde_json::Value, std::time::Instant)>>,
}

impl WrittenStatus {
    /// Longer than the watch cache ever lags behind a write it acknowledged.
    const FRESH: Duration = Duration::from_secs(30);

    pub fn remember(&self, uid: Option<&str>, status: &serde_json::Value) {
        let Some(uid) = uid else { return };
        let mut by_uid = self.by_uid.lock().unwrap_or_else(|e| e.into_inner());
        by_uid.retain(|_, (_, at)| at.elapsed() < Self::FRESH);
        by_uid.insert(uid.to_string(), (status.clone(), std::time::Instant::now()));
    }

    /// `object` with the status this process wrote last, if that was recent
    /// and the object does not show it.
    pub fn overlay(&self, object: &serde_json::Value, uid: Option<&str>) -> serde_json::Value {
        let by_uid = self.by_uid.lock().unwrap_or_else(|e| e.into_inner());
        match uid.and_then(|u| by_uid.get(u)) {
            Some((status, at)) if at.elapsed() < Self::FRESH && object.get("status") != Some(status) => {
                let mut object = object.clone();
                object["status"] = status.clone();
                object
            }
            _ => object.clone(),
        }
    }
}

/// An object whose status records a Qualys id.
#[derive(Debug, Clone)]
pub struct IdRecord {
    /// `Kind/namespace/name`, as claims name objects.
    pub reference: String,
    pub namespace: String,
    /// `spec.accountRef.name`.
    pub account_ref: Option<String>,
    pub created: Option<jiff::Timestamp>,
}

/// The objects of one controller's cache whose `status.externalId` is the given id.
pub type IdRecords = Box<dyn Fn(&str) -> Vec<IdRecord> + Send + Sync>;

/// What one controller's cache holds for a namespace.
pub type View<T> = Box<dyn Fn(&str) -> Vec<T> + Send + Sync>;

#[derive(Default)]
struct Views {
    /// Connector objects a group may reference.
    group_members: Vec<View<MemberCandidate>>,
    /// Names of the AzureConnectors AzureOrgConnector objects list as members.
    org_members: Vec<View<String>>,
}

impl Shared {
    pub fn new(client: Client, accounts: AccountRegistry, metrics: Arc<Metrics>, settings: Settings) -> Self {
        Self {
            client,
            accounts,
            observers: ObserverHub::new(settings.search_timeout),
            metrics,
            settings,
            claims: Mutex::default(),
            creating: Mutex::default(),
            views: Mutex::default(),
            recorders: Mutex::default(),
            written: WrittenStatus::default(),
        }
    }

    /// Ids claimed by objects other than `object`.
    /// The account's claims for `kind`, shared: a reconcile reads them
    /// without copying (the planner skips the object's own entry).
    pub fn claims(&self, account: &str, kind: Kind) -> Arc<Claims> {
        let claims = self.claims.lock().unwrap_or_else(|e| e.into_inner());
        claims
            .get(&(account.to_string(), kind))
            .map(|c| c.by_id.clone())
            .unwrap_or_default()
    }

    pub fn add_group_member_view(&self, view: View<MemberCandidate>) {
        self.views().group_members.push(view);
    }

    pub fn add_org_member_view(&self, view: View<String>) {
        self.views().org_members.push(view);
    }

    /// Connector objects of `namespace` a group may reference.
    pub fn member_candidates(&self, namespace: &str) -> Vec<MemberCandidate> {
        self.views().group_members.iter().flat_map(|v| v(namespace)).collect()
    }

    /// AzureConnectors of `namespace` that an AzureOrgConnector lists.
    pub fn declared_org_members(&self, namespace: &str) -> Vec<String> {
        self.views().org_members.iter().flat_map(|v| v(namespace)).collect()
    }

    pub fn add_recorders(&self, kind: Kind, view: IdRecords) {
        let mut recorders = self.recorders.lock().unwrap_or_else(|e| e.into_inner());
        recorders.entry(kind).or_default().push(view);
    }

    /// The object other than `me` that holds Qualys `id` of `kind` in
    /// `account`, whatever named it (annotation, status, natural key, a
    /// create). An object whose status records the id holds it, the oldest
    /// such object when several do; before any status records it, the first
    /// object this process resolved to it. `mine` says whether `me`'s own
    /// status records it; `created` is `me`'s creation time.
    pub fn holder(
        &self,
        account: &str,
        kind: Kind,
        id: &str,
        me: &str,
        mine: bool,
        created: Option<jiff::Timestamp>,
    ) -> Option<String> {
        let recorded: Vec<IdRecord> = {
            let recorders = self.recorders.lock().unwrap_or_else(|e| e.into_inner());
            recorders
                .get(&kind)
                .into_iter()
                .flatten()
                .flat_map(|view| view(id))
                .filter(|r| r.reference != me)
                .filter(|r| {
                    self.accounts
                        .account_for(&r.namespace, r.account_ref.as_deref())
                        .is_ok_and(|(ns, name)| format!("{ns}/{name}") == account)
                })
                .collect()
        };
        let oldest = recorded
            .into_iter()
            .min_by(|a, b| (a.created, &a.reference).cmp(&(b.created, &b.reference)));
        match oldest {
            // Both statuses record it (an earlier takeover): the older object keeps it.
            Some(other) if mine => {
                let older = (other.created, other.reference.as_str()) < (created, me);
                older.then_some(other.reference)
            }
            Some(other) => Some(other.reference),
            None => self.claims(account, kind).get(id).filter(|h| *h != me).cloned(),
        }
    }

    fn views(&self) -> std::sync::MutexGuard<'_, Views> {
        self.views.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The objects (`Kind/namespace/name`) that map to these ids.
    pub fn objects_for(&self, account: &str, kind: Kind, ids: &[String]) -> Vec<String> {
        let claims = self.claims(account, kind);
        ids.iter().filter_map(|id| claims.get(id).cloned()).collect()
    }

    /// Reserves `key` for `object`'s create, or names the object that holds
    /// it. Held until the object lets go of Qualys (`claim` with no id).
    pub fn reserve_create(&self, account: &str, kind: Kind, key: &str, object: &str) -> Result<(), String> {
        let mut creating = self.creating.lock().unwrap_or_else(|e| e.into_inner());
        creating
            .entry((account.to_string(), kind))
            .or_default()
            .reserve(key, object)
    }

    pub fn claim(&self, account: &str, kind: Kind, id: Option<&str>, object: &str) {
        if id.is_none() {
            let mut creating = self.creating.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(index) = creating.get_mut(&(account.to_string(), kind)) {
                index.set(object, None);
            }
        }
        let mut claims = self.claims.lock().unwrap_or_else(|e| e.into_inner());
        claims.entry((account.to_string(), kind)).or_default().set(object, id);
    }
}

/// Claims of one account and kind, both ways.
#[derive(Default)]
struct ClaimIndex {
    /// Qualys id → object; shared with reconciles, copied only on a change.
    by_id: Arc<Claims>,
    /// Object → its Qualys id.
    by_object: HashMap<String, String>,
}

impl ClaimIndex {
    /// `object` takes `key` unless another object holds it (then: that object).
    fn reserve(&mut self, key: &str, object: &str) -> Result<(), String> {
        match self.by_id.get(key) {
            Some(holder) if holder != object => Err(holder.clone()),
            _ => {
                self.set(object, Some(key));
                Ok(())
            }
        }
    }

    /// `object` now holds `id` (none: it holds nothing); one id per object.
    fn set(&mut self, object: &str, id: Option<&str>) {
        // Almost every reconcile confirms the claim it already holds.
        if self.by_object.get(object).map(String::as_str) == id {
            return;
        }
        let by_id = Arc::make_mut(&mut self.by_id);
        if let Some(old) = self.by_object.remove(object) {
            by_id.remove(&old);
        }
        if let Some(id) = id {
            if let Some(previous) = by_id.insert(id.to_string(), object.to_string()) {
                self.by_object.remove(&previous);
            }
            self.by_object.insert(object.to_string(), id.to_string());
        }
    }
}

/// One per kind controller.
pub struct Context {
    pub shared: Arc<Shared>,
    pub kind: Kind,
    /// Shared by every reconcile of this controller, so repeated warnings aggregate.
    pub recorder: Recorder,
    /// For one-off Events (see `reconciler::publish`).
    pub reporter: Reporter,
    /// Consecutive failures per object, for exponential backoff.
    pub failures: Mutex<HashMap<String, u32>>,
    /// Objects whose last write to Qualys failed: not before this instant,
    /// unless their spec (generation) changes.
    pub held: Mutex<HashMap<String, (std::time::Instant, Option<i64>)>>,
}

impl Context {
    /// Backoff for the `n`th consecutive failure: exponential, capped, with
    /// ±20% jitter so failing objects do not retry in lockstep.
    pub fn backoff(&self, object: &str) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let n = failures.entry(object.to_string()).or_insert(0);
        *n = n.saturating_add(1);
        let s = &self.shared.settings;
        let exp = s.backoff_base.saturating_mul(1u32 << (*n - 1).min(16));
        jitter(exp.min(s.backoff_max))
    }

    pub fn succeeded(&self, object: &str) {
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).remove(object);
        self.held.lock().unwrap_or_else(|e| e.into_inner()).remove(object);
    }

    /// After a failed write to Qualys: the object's own annotation writes
    /// (the create-pending marker) wake it at once, and without this a
    /// refused create was retried as fast as the API server answered.
    pub fn hold(&self, object: &str, wait: Duration, generation: Option<i64>) {
        let until = std::time::Instant::now() + wait;
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.insert(object.to_string(), (until, generation));
    }

    /// How long the object must still wait, if its last write failed and its spec did not change since.
    pub fn held_for(&self, object: &str, generation: Option<i64>) -> Option<Duration> {
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let (until, seen) = held.get(object)?;
        (*seen == generation)
            .then(|| until.saturating_duration_since(std::time::Instant::now()))
            .filter(|left| !left.is_zero())
    }
}

/// ±20%.
pub fn jitter(d: Duration) -> Duration {
    let factor = 0.8 + fastrand::f64() * 0.4;
    d.mul_f64(factor)
}

/// +0–20%: a resync never comes before the shared snapshot is due for a
/// refresh, so the reconcile that refreshes it sees (and wakes) the changes.
pub fn jitter_up(d: Duration) -> Duration {
    d.mul_f64(1.0 + fastrand::f64() * 0.2)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_natural_key_is_reserved_for_one_creating_object_until_it_lets_go() {
        let mut index = ClaimIndex::default();
        assert_eq!(index.reserve("aws-prod CCM", "CloudViewReport/a/one"), Ok(()));
        assert_eq!(
            index.reserve("aws-prod CCM", "CloudViewReport/a/one"),
            Ok(()),
            "again: still mine"
        );
        assert_eq!(
            index.reserve("aws-prod CCM", "CloudViewReport/b/two"),
            Err("CloudViewReport/a/one".to_string())
        );
        // The first object's key changes (a new title before its create went through).
        assert_eq!(index.reserve("renamed", "CloudViewReport/a/one"), Ok(()));
        assert_eq!(
            index.reserve("aws-prod CCM", "CloudViewReport/b/two"),
            Ok(()),
            "the old key is free"
        );
        // Letting go frees the key.
        index.set("CloudViewReport/b/two", None);
        assert_eq!(index.reserve("aws-prod CCM", "CloudViewReport/c/three"), Ok(()));
    }

    #[test]
    fn a_cached_object_older_than_our_status_write_reads_what_was_written() {
        let written = WrittenStatus::default();
        let stale = json!({"metadata": {"uid": "u1"}, "status": null});
        assert_eq!(written.overlay(&stale, Some("u1")), stale, "nothing written yet");
        let status = json!({"externalId": "7", "secretHash": "h"});
        written.remember(Some("u1"), &status);
        assert_eq!(written.overlay(&stale, Some("u1"))["status"], status);
        assert_eq!(written.overlay(&stale, Some("u2")), stale, "another object");
        let current = json!({"metadata": {"uid": "u1"}, "status": status});
        assert_eq!(written.overlay(&current, Some("u1")), current);
    }
}
