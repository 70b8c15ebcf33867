//! The reconcile shell: the finalizer helper is the only top-level action;
//! both its branches run the pipeline dereference → build → observe → plan →
//! execute → status, on the same core `plan`/`apply` use.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::Secret as KubeSecret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action as Requeue;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tracing::Instrument;

use super::accounts::ResolvedAccount;
use super::claims;
use super::conditions::{Reason, Verdict};
use super::context::{Context, jitter, jitter_up};
use super::guard::KubeGuard;
use super::observer::Seen;
use super::status::{self, FIELD_MANAGER, StatusInput, reason_for};
use crate::crd::AzureConnector;
use crate::crd::common::{AdoptionPolicy, DeletionPolicy};
use crate::qualys::Secret;
use crate::qualys::share::{Priority, reads_at};
use crate::reconcile::build::{self, ANNOTATION_CREATE_PENDING, BuildError, Inputs, secret_refs};
use crate::reconcile::execute::{CreateGuard, ExecError, execute};
use crate::reconcile::object::Model;
use crate::reconcile::object::{DesiredObject, GLOBAL_SCAN_KEY, Kind};
use crate::reconcile::plan::Action;
use crate::reconcile::planner::plan_object;
use crate::reconcile::{report, scope};

pub const FINALIZER: &str = "qualys-operator.io/cleanup";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("object does not serialize: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error("finalizer: {0}")]
    Finalizer(String),
    /// Deletion could not complete; the finalizer stays and it is retried.
    #[error("cleanup incomplete: {0}")]
    Cleanup(String),
}

impl Error {
    pub fn category(&self) -> &'static str {
        match self {
            Self::Kube(_) => "kube",
            Self::Serialize(_) => "serialize",
            Self::Finalizer(_) => "finalizer",
            Self::Cleanup(_) => "cleanup",
        }
    }
}

/// Types every reconciled kind satisfies.
pub trait Reconciled:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Serialize
    + DeserializeOwned
    + Debug
    + Send
    + Sync
    + 'static
{
}
impl<K> Reconciled for K where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Serialize
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static
{
}

pub async fn reconcile<K: Reconciled>(obj: Arc<K>, ctx: Arc<Context>) -> Result<Requeue, Error> {
    let started = Instant::now();
    let namespace = obj.namespace().unwrap_or_default();
    let api: Api<K> = Api::namespaced(ctx.shared.client.clone(), &namespace);
    let reference = format!("{}/{}/{}", ctx.kind, namespace, obj.name_any());
    // The span is attached to the future, never entered across an await: an
    // entered guard held over awaits corrupts the subscriber's span stack
    // when the task moves between worker threads.
    let span = tracing::info_span!("reconcile", object = %reference);
    let result = finalizer(&api, FINALIZER, obj, |event| async {
        match event {
            FinalizerEvent::Apply(o) | FinalizerEvent::Cleanup(o) => sync(o, &api, &ctx).await,
        }
    })
    .instrument(span)
    .await
    .map_err(|e| match e {
        kube::runtime::finalizer::Error::ApplyFailed(inner) | kube::runtime::finalizer::Error::CleanupFailed(inner) => {
            inner
        }
        other => Error::Finalizer(other.to_string()),
    });
    let outcome = match &result {
        Ok(_) => "ok",
        Err(e) => e.category(),
    };
    ctx.shared
        .metrics
        .reconciled(ctx.kind.kind_name(), outcome, started.elapsed());
    result
}

/// Kubernetes API errors: back off per object.
pub fn error_policy<K: Reconciled>(obj: Arc<K>, error: &Error, ctx: Arc<Context>) -> Requeue {
    let reference = format!(
        "{}/{}/{}",
        ctx.kind,
        obj.namespace().unwrap_or_default(),
        obj.name_any()
    );
    let wait = ctx.backoff(&reference);
    tracing::warn!(object = %reference, error = %error, retry_in = ?wait, "reconcile failed");
    Requeue::requeue(wait)
}

fn decode_secret(secret: &KubeSecret) -> BTreeMap<String, Secret> {
    let mut keys: BTreeMap<String, Secret> = secret
        .data
        .iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), Secret::new(String::from_utf8(v.0.clone()).ok()?))))
        .collect();
    for (k, v) in secret.string_data.iter().flatten() {
        keys.insert(k.clone(), Secret::new(v.clone()));
    }
    keys
}

/// Fetch what `build` needs: referenced Secrets, org member ids, group member candidates.
async fn gather_inputs(ctx: &Context, object: &Value, namespace: &str) -> Result<Inputs, kube::Error> {
    let client = ctx.shared.client.clone();
    let mut inputs = Inputs::default();
    let secrets: Api<KubeSecret> = Api::namespaced(client.clone(), namespace);
    for (_, r) in secret_refs(object) {
        if let Some(secret) = secrets.get_opt(&r.name).await? {
            inputs
                .secrets
                .insert((namespace.to_string(), r.name.clone()), decode_secret(&secret));
        }
    }
    match ctx.kind {
        Kind::Azure => {
            // Whether an org manifest lists this connector decides if an
            // org-attached connector may be adopted as this object.
            let listed = ctx.shared.declared_org_members(namespace);
            inputs
                .org_members
                .extend(listed.into_iter().map(|name| (namespace.to_string(), name)));
        }
        Kind::AzureOrg => {
            let azure: Api<AzureConnector> = Api::namespaced(client, namespace);
            for member in object
                .pointer("/spec/members")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(name) = member.get("name").and_then(Value::as_str) else {
                    continue;
                };
                if let Some(c) = azure.get_opt(name).await? {
                    let id = c
                        .status
                        .as_ref()
                        .and_then(|s| s.common.external_id.clone())
                        .or_else(|| c.annotations().get(build::ANNOTATION_CREATE_SUCCEEDED).cloned());
                    if let Some(id) = id {
                        inputs.azure_ids.insert((namespace.to_string(), name.to_string()), id);
                    }
                }
            }
        }
        Kind::Group => {
            inputs
                .members
                .insert(namespace.to_string(), ctx.shared.member_candidates(namespace));
        }
        Kind::UserScope => {
            let groups: Api<crate::crd::ConnectorGroup> = Api::namespaced(client, namespace);
            for name in object
                .pointer("/spec/groups")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|g| g.pointer("/groupRef/name").and_then(Value::as_str))
            {
                if let Some(uuid) = groups
                    .get_opt(name)
                    .await?
                    .and_then(|g| g.status)
                    .and_then(|s| s.common.external_id)
                {
                    inputs.group_ids.insert((namespace.to_string(), name.to_string()), uuid);
                }
            }
        }
        _ => {}
    }
    Ok(inputs)
}

/// A read of Qualys failed: a deletion waits for it (Ready=False and a
/// Warning); anything else retries when Qualys says, or after the backoff.
async fn read_failed<K: Reconciled>(
    api: &Api<K>,
    ctx: &Context,
    obj: &K,
    object: &Value,
    reference: &str,
    deleting: bool,
    e: crate::qualys::QualysError,
) -> Result<Requeue, Error> {
    if deleting {
        return cleanup_blocked(api, ctx, obj, object, reason_for(&e), e.to_string()).await;
    }
    let wait = e.retry_after().unwrap_or_else(|| ctx.backoff(reference));
    stop(api, obj, object, ctx, reason_for(&e), e.to_string(), wait).await
}

/// The group list (shared, refreshed at most every `max_age`) and `user`'s
/// scope read now: the read starts after any write of ours to it.
async fn observe_user_scope(
    shared: &super::context::Shared,
    account: &ResolvedAccount,
    user: &str,
    max_age: Duration,
) -> Result<Seen, crate::qualys::QualysError> {
    let groups = shared
        .observers
        .view(&account.key, &account.client, Kind::Group, max_age, false)
        .await?;
    let started = tokio::time::Instant::now();
    let mut snapshot = (*groups.snapshot).clone();
    snapshot.observe_scopes(&account.client, [user]).await?;
    shared.observers.confirmed(&account.key, Kind::UserScope, user, started);
    Ok(Seen {
        snapshot: Arc::new(snapshot),
        started,
    })
}

/// `seen` with the report `desired` maps to read in full, when the report
/// list cannot settle it (see `reconcile::report`); most reconciles read
/// nothing here.
async fn read_report_in_full(
    account: &ResolvedAccount,
    desired: &DesiredObject,
    seen: Seen,
) -> Result<Seen, crate::qualys::QualysError> {
    let Some(id) = report::full_read_wanted(desired, &seen.snapshot) else {
        return Ok(seen);
    };
    let mut snapshot = (*seen.snapshot).clone();
    snapshot.observe_report_details(&account.client, [id.as_str()]).await?;
    Ok(Seen {
        snapshot: Arc::new(snapshot),
        started: seen.started,
    })
}

/// Creating, waiting to confirm a write, or retrying a delete (whose answer
/// may have been lost after it was carried out): only a recent snapshot will do.
fn was_creating(object: &Value) -> bool {
    let recent = [Reason::Creating, Reason::Unconfirmed, Reason::DeletionFailed];
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|conds| {
            conds
                .iter()
                .any(|c| c["type"] == "Ready" && recent.iter().any(|r| c["reason"] == r.as_str()))
        })
}

/// The spec changed since status last recorded a reconcile of it.
fn spec_changed(object: &Value) -> bool {
    object.pointer("/metadata/generation") != object.pointer("/status/observedGeneration")
}

fn resync_of(ctx: &Context, object: &Value) -> Duration {
    let s = &ctx.shared.settings;
    let wanted = object
        .pointer("/spec/resyncInterval")
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<jiff::SignedDuration>().ok().or_else(|| parse_go_duration(t)))
        .and_then(|d| Duration::try_from(d).ok())
        .unwrap_or(s.resync);
    wanted.max(s.min_resync)
}

/// `1h30m`, `10m`, `90s`.
fn parse_go_duration(text: &str) -> Option<jiff::SignedDuration> {
    let mut total = 0i64;
    let mut number = String::new();
    for ch in text.chars() {
        match ch {
            '0'..='9' => number.push(ch),
            'h' | 'm' | 's' => {
                let n: i64 = number.parse().ok()?;
                total += n * match ch {
                    'h' => 3600,
                    'm' => 60,
                    _ => 1,
                };
                number.clear();
            }
            _ => return None,
        }
    }
    number.is_empty().then(|| jiff::SignedDuration::from_secs(total))
}

async fn publish(
    ctx: &Context,
    object: &impl Resource<DynamicType = ()>,
    type_: EventType,
    reason: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: reason.into(),
        secondary: None,
    };
    // kube's Recorder keys its series by object, reason and action, not by
    // note: through the shared recorder a second `Created`/`Updated`/... of
    // the same object would only bump the first Event's count and keep its
    // message (another id, other fields). Normal Events are emitted only when
    // something was done, so each gets its own Event; repeated warnings
    // (retries) aggregate in the shared recorder.
    let fresh;
    let recorder = match type_ {
        EventType::Normal => {
            fresh = Recorder::new(ctx.shared.client.clone(), ctx.reporter.clone());
            &fresh
        }
        EventType::Warning => &ctx.recorder,
    };
    if let Err(e) = recorder.publish(&event, &object.object_ref(&())).await {
        tracing::warn!(error = %e, "publishing an event failed");
    }
}

async fn write_status<K: Reconciled>(
    ctx: &Context,
    api: &Api<K>,
    obj: &K,
    previous: &Value,
    new: Value,
) -> Result<(), Error> {
    if *previous == new {
        return Ok(());
    }
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": new,
    });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    ctx.shared.written.remember(obj.meta().uid.as_deref(), &new);
    Ok(())
}

/// Report a problem that stops before Qualys is touched (or, for
/// `Unconfirmed`, a wait for the next read of Qualys).
async fn stop<K: Reconciled>(
    api: &Api<K>,
    obj: &K,
    object: &Value,
    ctx: &Context,
    reason: Reason,
    message: String,
    requeue: Duration,
) -> Result<Requeue, Error> {
    report(api, obj, object, ctx, reason, &message).await?;
    Ok(Requeue::requeue(jitter(requeue)))
}

/// Ready=False (Unknown while unconfirmed) with `reason`, `message` as
/// lastError, and a Warning when this is news (sent after the status is written).
async fn report<K: Reconciled>(
    api: &Api<K>,
    obj: &K,
    object: &Value,
    ctx: &Context,
    reason: Reason,
    message: &str,
) -> Result<(), Error> {
    let changed = write_failure(api, obj, object, ctx, reason, message).await?;
    if changed && reason != Reason::Unconfirmed {
        publish(ctx, obj, EventType::Warning, reason.as_str(), message.to_string()).await;
    }
    Ok(())
}

/// Write Ready=False with `reason` (Unknown while unconfirmed) and, for an
/// error, `message` as lastError; true when the status changed.
async fn write_failure<K: Reconciled>(
    api: &Api<K>,
    obj: &K,
    object: &Value,
    ctx: &Context,
    reason: Reason,
    message: &str,
) -> Result<bool, Error> {
    let previous = object.get("status").cloned().unwrap_or(Value::Null);
    let mut new = previous.as_object().cloned().unwrap_or_default();
    let previous_conditions: Vec<Condition> =
        serde_json::from_value(previous.get("conditions").cloned().unwrap_or(Value::Null)).unwrap_or_default();
    let verdict = if reason == Reason::Unconfirmed {
        // Waiting for a read changes nothing about how the last write went.
        let synced = previous_conditions
            .iter()
            .any(|c| c.type_ == "Synced" && c.status == "True");
        Verdict::unconfirmed(message, synced)
    } else {
        Verdict::failed(reason, message)
    };
    let conds = super::conditions::conditions(&previous_conditions, &verdict, obj.meta().generation, Timestamp::now());
    new.insert("conditions".into(), serde_json::to_value(conds)?);
    // Waiting to read Qualys again is no error.
    if reason != Reason::Unconfirmed {
        new.insert("lastError".into(), Value::String(message.to_string()));
    }
    if let Some(g) = obj.meta().generation {
        new.insert("observedGeneration".into(), json!(g));
    }
    let new = Value::Object(new);
    let changed = previous != new;
    write_status(ctx, api, obj, &previous, new).await?;
    Ok(changed)
}

/// A deletion that cannot reach Qualys. An object whose policy leaves Qualys
/// alone (deletionPolicy Orphan, managementPolicy ObserveOnly) needs nothing
/// from it and lets go; any other waits, with Ready=False and a Warning saying why.
async fn cleanup_blocked<K: Reconciled>(
    api: &Api<K>,
    ctx: &Context,
    obj: &K,
    object: &Value,
    reason: Reason,
    message: String,
) -> Result<Requeue, Error> {
    let spec = |field: &str| object.pointer(&format!("/spec/{field}")).and_then(Value::as_str);
    let keeps = if spec("deletionPolicy") == Some("Orphan") {
        Some("deletionPolicy Orphan")
    } else if spec("managementPolicy") == Some("ObserveOnly") {
        Some("managementPolicy ObserveOnly")
    } else {
        None
    };
    if let Some(policy) = keeps {
        let note = format!("retained: {policy}; Qualys was not contacted ({message})");
        publish(ctx, obj, EventType::Normal, Reason::Retained.as_str(), note).await;
        return Ok(Requeue::await_change());
    }
    report(api, obj, object, ctx, reason, &message).await?;
    Err(Error::Cleanup(message))
}

/// A delete Qualys refused or did not answer: the finalizer stays, status says why.
async fn cleanup_failed<K: Reconciled>(
    api: &Api<K>,
    obj: &K,
    object: &Value,
    ctx: &Context,
    message: String,
) -> Result<Requeue, Error> {
    // The executor's own Warning already went out; this records it in status.
    write_failure(api, obj, object, ctx, Reason::DeletionFailed, &message).await?;
    Err(Error::Cleanup(message))
}

/// Why a reconcile stops before touching Qualys, and when to look again.
struct Halt {
    reason: Reason,
    message: String,
    retry: Duration,
}

/// Resolve the account, Secrets and references, and build the core's object.
async fn dereference(
    ctx: &Context,
    object: &Value,
    namespace: &str,
    deleting: bool,
    resync: Duration,
) -> Result<Result<(ResolvedAccount, DesiredObject), Halt>, Error> {
    let shared = &ctx.shared;
    let not_ready = |message: String| Halt {
        reason: Reason::ReferenceNotReady,
        message,
        retry: Duration::from_secs(30),
    };
    let account_ref = object.pointer("/spec/accountRef/name").and_then(Value::as_str);
    let account = match shared.accounts.account_for(namespace, account_ref) {
        Ok((ns, name)) => shared.accounts.resolve(&ns, &name).await,
        Err(e) => Err(e),
    };
    let account = match account {
        Ok(a) => a,
        Err(e) if deleting => {
            return Err(Error::Cleanup(format!(
                "{e}; the Qualys object cannot be cleaned up (set deletionPolicy Orphan to let go)"
            )));
        }
        Err(e) => return Ok(Err(not_ready(e.to_string()))),
    };
    let inputs = gather_inputs(ctx, object, namespace).await?;
    Ok(match build::build(object, &inputs) {
        Ok(desired) => Ok((account, desired)),
        Err(e @ BuildError::MissingSecret { .. }) => Err(not_ready(e.to_string())),
        Err(e) => Err(Halt {
            reason: Reason::InvalidSpec,
            message: e.to_string(),
            retry: resync,
        }),
    })
}

async fn sync<K: Reconciled>(obj: Arc<K>, api: &Api<K>, ctx: &Context) -> Result<Requeue, Error> {
    let object = ctx
        .shared
        .written
        .overlay(&serde_json::to_value(&*obj)?, obj.meta().uid.as_deref());
    let namespace = obj.namespace().unwrap_or_default();
    let reference = format!("{}/{}/{}", ctx.kind, namespace, obj.name_any());
    let deleting = obj.meta().deletion_timestamp.is_some();
    let shared = &ctx.shared;
    let resync = resync_of(ctx, &object);
    if !deleting && let Some(left) = ctx.held_for(&reference, obj.meta().generation) {
        return Ok(Requeue::requeue(left));
    }

    let (account, mut desired) = match dereference(ctx, &object, &namespace, deleting, resync).await {
        Ok(Ok(ready)) => ready,
        // Never let a deletion through on a spec or reference problem: Qualys was not cleaned up.
        Ok(Err(halt)) if deleting => return cleanup_blocked(api, ctx, &*obj, &object, halt.reason, halt.message).await,
        Ok(Err(halt)) => return stop(api, &obj, &object, ctx, halt.reason, halt.message, halt.retry).await,
        Err(Error::Cleanup(message)) => {
            return cleanup_blocked(api, ctx, &*obj, &object, Reason::ReferenceNotReady, message).await;
        }
        Err(e) => return Err(e),
    };
    // The object's resync interval is a wish: observation stretches to fit
    // the account's budget (writes and spec changes are not slowed).
    let resync = super::budget::effective_resync(shared, &account, resync).interval;
    // Letting go that needs nothing from Qualys never waits on it.
    if deleting && let Some(policy) = keeps_qualys(&desired) {
        shared.claim(&account.key, ctx.kind, None, &reference);
        shared.metrics.object_ready(&reference, ctx.kind.kind_name(), None);
        let note = format!("retained: {policy}; Qualys was not contacted");
        publish(ctx, &*obj, EventType::Normal, Reason::Retained.as_str(), note).await;
        return Ok(Requeue::await_change());
    }
    // One object per Qualys object, whatever named it.
    if let Some(conflict) = claims::foreign_claim(shared, &account.key, &desired, &reference, &*obj, &object) {
        if deleting {
            shared.claim(&account.key, ctx.kind, None, &reference);
            let note = format!("retained: not deleted in Qualys: {conflict}");
            publish(ctx, &*obj, EventType::Warning, Reason::Conflict.as_str(), note).await;
            return Ok(Requeue::await_change());
        }
        return stop(api, &obj, &object, ctx, Reason::Conflict, conflict, resync).await;
    }
    // A create whose result was never recorded: search afresh before anything else.
    let pending = obj.annotations().contains_key(ANNOTATION_CREATE_PENDING) && desired.recorded.external_id.is_none();
    if pending {
        // The marker proves a connector found by the natural key is the one
        // this object's create made, so MustCreate may take it.
        desired.adoption = AdoptionPolicy::AdoptOrCreate;
    }
    // While Qualys is still synchronising a new object, accept only a recent
    // snapshot: one batched refresh serves every object that is creating.
    let creating = was_creating(&object);
    let max_age = if creating {
        shared.settings.creating_requeue.min(resync)
    } else {
        resync
    };
    // A write of ours no read has confirmed yet: only a read that started
    // after it will do (it is reconciled when the writes pause).
    let written = shared
        .observers
        .written_at(&account.key, ctx.kind, desired.recorded.external_id.as_deref());
    let max_age = written.map_or(max_age, |written| max_age.min(written.elapsed()));
    // Planned from the last read, without waiting for a refresh:
    // - a changed spec of an object Qualys holds: its write does not wait
    //   for observation, which may be what fills the share;
    // - anything while the operator is writing to this account: writes go
    //   first, and one refresh after they pause confirms what they wrote.
    // A create planned so cannot duplicate the operator's own writes (claims
    // and markers record them); only an object made outside the operator
    // meanwhile goes unseen until that refresh. Deletions and unanswered
    // creates always read.
    let quiet = super::budget::confirm_quiet(&account);
    let last_read = if pending || deleting {
        None
    } else if spec_changed(&object) && desired.recorded.external_id.is_some() {
        shared.observers.last_read(&account.key, ctx.kind)
    } else {
        shared.observers.while_writing(&account.key, ctx.kind, quiet)
    };
    // Objects whose spec changed, or that wait for their write to be
    // confirmed, read before routine observation.
    let changed = written.is_some() || spec_changed(&object);
    let priority = |urgent: bool| {
        if urgent {
            Priority::Changed
        } else {
            Priority::Observation
        }
    };
    let seen = if ctx.kind == Kind::SnapshotScan {
        // Nothing to read: registering again is the observation.
        Seen {
            snapshot: Arc::default(),
            started: tokio::time::Instant::now(),
        }
    } else if let Some(seen) = last_read.filter(|_| ctx.kind != Kind::UserScope) {
        seen
    } else if desired.paused && !deleting {
        // A paused object reads nothing: it shows what was last seen.
        shared.observers.cached(&account.key, ctx.kind)
    } else {
        let read = async {
            if ctx.kind == Kind::UserScope {
                // Read by name on every reconcile (Qualys lists no users),
                // with the shared group list for groups named by name.
                observe_user_scope(shared, &account, &desired.natural_key(), resync).await
            } else {
                shared
                    .observers
                    .view(&account.key, &account.client, ctx.kind, max_age, pending)
                    .await
            }
        };
        match reads_at(priority(deleting || creating || changed), read).await {
            Ok(s) => s,
            Err(e) => return read_failed(api, ctx, &*obj, &object, &reference, deleting, e).await,
        }
    };
    // An id missing from a read older than our last write to it is unknown, not gone.
    if !desired.paused
        && let Some(message) = claims::unconfirmed(shared, &account.key, &desired, &seen)
    {
        if deleting {
            return cleanup_blocked(api, ctx, &*obj, &object, Reason::Unconfirmed, message).await;
        }
        let wait = shared.settings.creating_requeue.min(resync);
        return stop(api, &obj, &object, ctx, Reason::Unconfirmed, message, wait).await;
    }
    if deleting && pending {
        // Resolve the unanswered create before letting go: what it made is ours.
        match claims::settle_pending(shared, &account.key, &desired, &reference, &seen.snapshot) {
            Ok(found) => desired.recorded.external_id = found,
            Err(message) => {
                return cleanup_blocked(api, ctx, &*obj, &object, Reason::CreateIncomplete, message).await;
            }
        }
    }
    if let Some(message) = claims::foreign_create(&desired, &object, &seen.snapshot) {
        if deleting {
            let note = format!("retained: not deleted in Qualys: {message}");
            publish(ctx, &*obj, EventType::Warning, Reason::Conflict.as_str(), note).await;
            return Ok(Requeue::await_change());
        }
        return stop(api, &obj, &object, ctx, Reason::Conflict, message, resync).await;
    }
    let seen = if ctx.kind == Kind::Report && !deleting && !desired.paused {
        match reads_at(priority(changed), read_report_in_full(&account, &desired, seen)).await {
            Ok(s) => s,
            Err(e) => return read_failed(api, ctx, &*obj, &object, &reference, deleting, e).await,
        }
    } else {
        seen
    };
    let snapshot = if ctx.kind == Kind::Group {
        shared.observers.with_member_connectors(&account.key, &seen.snapshot)
    } else {
        seen.snapshot.clone()
    };
    let claims = shared.claims(&account.key, ctx.kind);
    let plan = plan_object(&desired, &snapshot, &claims);
    let guard = KubeGuard {
        api: api.clone(),
        name: obj.name_any(),
        resource_version: obj.meta().resource_version.clone(),
    };
    // Two objects with one natural key planning a create from the same read
    // would both create: the first to get here reserves the key.
    if plan.actions.iter().any(|a| matches!(a, Action::Create { .. }))
        && let Err(holder) = shared.reserve_create(&account.key, ctx.kind, &desired.natural_key(), &reference)
    {
        let message = format!(
            "{holder} is creating (or created) the Qualys {} for {}; one object per Qualys object: delete one of \
             the two objects, or give this one another {}",
            ctx.kind,
            desired.natural_key(),
            crate::reconcile::planner::natural_key_field(ctx.kind)
        );
        return stop(api, &obj, &object, ctx, Reason::Conflict, message, resync).await;
    }
    let under_way = plan
        .actions
        .iter()
        .any(Action::writes)
        .then(|| shared.observers.write_under_way(&account.key, quiet));
    let applied = execute(&account.client, &desired, &plan, &guard).await;
    // A registration is confirmed by the register call's own answer.
    let wrote = applied.changed_qualys() && ctx.kind != Kind::SnapshotScan;
    if wrote && !applied.deleted {
        let id = applied.external_id.as_deref().or(plan.external_id.as_deref());
        shared.observers.record_write(&account.key, ctx.kind, id);
    }
    // Ended after the write is recorded, so the wake after the last write
    // of a run includes this object.
    drop(under_way);
    // The account's one global scan configuration is held by its first object
    // even before Qualys has it; a second one that met the holder's claim
    // (a Conflict) must not take it over.
    let conflicted = plan.actions.iter().any(|a| matches!(a, Action::Conflict { .. }));
    let claimed = if ctx.kind == Kind::GlobalScan && !deleting && !conflicted {
        Some(GLOBAL_SCAN_KEY)
    } else {
        applied.external_id.as_deref()
    };
    shared.claim(
        &account.key,
        ctx.kind,
        if deleting { None } else { claimed },
        &reference,
    );

    // A pending create settled by finding the object (adopted or known):
    // record the id like a successful create would have.
    if pending
        && !deleting
        && !applied.created
        && let Some(id) = applied.external_id.as_deref()
        && let Err(message) = guard.after_create(&desired, id).await
    {
        tracing::warn!(%message, "clearing create-pending failed; the next reconcile retries");
    }
    if applied.created
        && let Some(old) = desired.recorded.external_id.as_deref()
    {
        let note = format!(
            "Qualys object {old} was gone (deleted, or outside the Qualys user's scope) and nothing matched its \
             natural key, so it was created again as {}; if it was only out of scope, delete the duplicate",
            applied.external_id.as_deref().unwrap_or("?")
        );
        publish(ctx, &*obj, EventType::Warning, "Recreated", note).await;
    }
    for line in &applied.log {
        let reason = line.split_whitespace().next().unwrap_or("Updated");
        let reason = match reason {
            "created" => "Created",
            "adopted" => "Adopted",
            "deleted" => "Deleted",
            "disabled" => "Disabled",
            "ran" => "RunRequested",
            "retained:" | "retained" => "Retained",
            "attached" | "detached" | "added" => "MembersChanged",
            _ => "Updated",
        };
        publish(ctx, &*obj, EventType::Normal, reason, line.clone()).await;
    }
    // A create put off because the object changed sent nothing: the change's
    // own reconcile follows, so it is no warning.
    if let Some(failure) = applied
        .failure
        .as_ref()
        .filter(|f| !matches!(f, ExecError::Intent { .. }))
    {
        publish(ctx, &*obj, EventType::Warning, failure.category(), failure.to_string()).await;
    }

    if deleting {
        if let Some(e) = &applied.failure {
            let message = format!(
                "deleting {}: {e}",
                plan.external_id.as_deref().unwrap_or("the Qualys object")
            );
            return cleanup_failed(api, &obj, &object, ctx, message).await;
        }
        shared.metrics.object_ready(&reference, ctx.kind.kind_name(), None);
        return Ok(Requeue::await_change());
    }

    let external_id = applied.external_id.clone();
    let mut observed = status::observed(ctx.kind, &snapshot, external_id.as_deref());
    if let Model::SnapshotScan(r) = &desired.model
        && let Some(summary) = r.registered_after_run(&plan, &applied)
    {
        observed.extra.insert("registration".into(), json!(summary));
        observed.state = Some("REGISTERED".into());
    }
    if let Model::UserScope(u) = &desired.model {
        let granted = scope::granted_after_run(u, &snapshot.groups, &plan);
        if !granted.is_empty() {
            observed.extra.insert("granted".into(), json!(scope::keys(&granted)));
        }
    }
    if let Model::Report(r) = &desired.model {
        if let Some(hash) = report::confirmed_after(r, &snapshot, &plan, &applied) {
            observed.extra.insert("confirmedHash".into(), json!(hash));
        }
        // Only the create answer and a full read show it: kept from then.
        let kept = object.pointer("/status/createdOn").and_then(Value::as_str);
        if !observed.extra.contains_key("createdOn")
            && let Some(created) = applied.created_on.as_deref().or(kept)
        {
            observed.extra.insert("createdOn".into(), json!(created));
        }
    }
    let mut verdict = status::verdict(
        &plan,
        &applied,
        observed.state.as_deref(),
        observed.last_error.as_deref(),
        desired.paused,
    );
    if wrote && applied.failure.is_none() {
        // Written, not read yet: nothing says Qualys matches until the next
        // batched refresh, which one read serves for every object written.
        verdict = Verdict::unconfirmed(
            format!(
                "written to Qualys {}; the first batched read after the operator's writes pause confirms it",
                external_id.as_deref().unwrap_or(""),
            ),
            true,
        );
    }
    for note in &plan.notes {
        tracing::info!(note = %note, "plan note");
    }
    let previous = object.get("status").cloned().unwrap_or(Value::Null);
    let new = status::build_status(StatusInput {
        previous: &previous,
        generation: obj.meta().generation,
        verdict: &verdict,
        external_id,
        observed,
        last_run_requested_at: applied.ran.clone().or(desired.last_run_requested_at.clone()),
        secret_hash: applied.sent_secret_hash.clone().or(desired.sent_secret_hash.clone()),
        now: Timestamp::now(),
    });
    let changed_conditions = previous.get("conditions") != new.get("conditions");
    if changed_conditions && !verdict.synced && applied.failure.is_none() && verdict.reason != Reason::Unconfirmed {
        publish(
            ctx,
            &*obj,
            EventType::Warning,
            verdict.reason.as_str(),
            verdict.message.clone(),
        )
        .await;
    }
    write_status(ctx, api, &obj, &previous, new).await?;
    shared
        .metrics
        .object_ready(&reference, ctx.kind.kind_name(), Some(verdict.ready));

    let requeue = if let Some(failure) = &applied.failure {
        let wait = failure
            .qualys()
            .and_then(|q| q.retry_after())
            .unwrap_or_else(|| ctx.backoff(&reference));
        if !matches!(failure, ExecError::Intent { .. }) {
            ctx.hold(&reference, wait, obj.meta().generation);
        }
        wait
    } else if verdict.reason.is_terminal() {
        ctx.succeeded(&reference);
        resync
    } else if matches!(verdict.reason, Reason::Creating | Reason::Unconfirmed) {
        ctx.succeeded(&reference);
        shared.settings.creating_requeue.min(resync)
    } else {
        ctx.succeeded(&reference);
        return Ok(Requeue::requeue(jitter_up(resync)));
    };
    Ok(Requeue::requeue(jitter(requeue)))
}

/// The policy under which deleting the object leaves Qualys alone, if any.
fn keeps_qualys(desired: &DesiredObject) -> Option<&'static str> {
    if desired.deletion_policy() == DeletionPolicy::Orphan {
        Some("deletionPolicy Orphan")
    } else if desired.observe_only() {
        Some("managementPolicy ObserveOnly")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::parse_go_duration;

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse_go_duration("1h30m").map(|d| d.as_secs()), Some(5400));
        assert_eq!(parse_go_duration("90s").map(|d| d.as_secs()), Some(90));
        assert_eq!(parse_go_duration("10x"), None);
    }
}
