//! Pure planning: one resolved object × the snapshot → its [`ObjectPlan`].

use std::collections::BTreeMap;

use serde_json::Value;

use super::connector;
use super::fields::{Fields, diff};
use super::group;
use super::identity::{self, Claimed, Listed, Resolution};
use super::object::{DesiredObject, GLOBAL_SCAN_KEY, Kind, Model};
use super::org::{self, PENDING_MEMBER};
use super::plan::{Action, FieldChange, ObjectPlan, string_list};
use super::registration::DesiredRegistration;
use super::report;
use super::scope;
use super::snapshot::Snapshot;
use crate::crd::azure_org::MemberPolicy;
use crate::crd::common::DeletionPolicy;

/// The organization connector's secret, which the gateway will not edit.
const ORG_SECRET: &str = "spec.secretValueSecretRef";

/// Organization connector fields the gateway refuses to change after creation.
const ORG_FIXED: &[&str] = &[
    "spec.name",
    "spec.tenantId",
    "spec.applicationId",
    "spec.connectorPrefixName",
    ORG_SECRET,
];

/// CloudView has no API to rename a group.
const GROUP_FIXED: &[&str] = &["spec.name"];

/// Ids objects already map to → the object (`Kind/namespace/name`) holding
/// them. The planned object's own entry, if any, does not count.
pub type Claims = BTreeMap<String, String>;

/// The claim an object planning a create holds on its natural key (see
/// [`Claims`]): within one run, the objects after it that share the key are
/// conflicts, not second creates. Qualys enforces unique names for some kinds
/// only (report titles, for one, need not be unique).
pub fn creating_claim(kind: Kind, key: &str) -> String {
    format!("creating {kind} {key}")
}

/// The claims of every object but `me`.
struct ClaimedByOthers<'a> {
    claims: &'a Claims,
    me: &'a str,
}

impl ClaimedByOthers<'_> {
    fn holder(&self, id: &str) -> Option<&str> {
        self.claims.get(id).map(String::as_str).filter(|h| *h != self.me)
    }
}

impl Claimed for ClaimedByOthers<'_> {
    fn is_claimed(&self, id: &str) -> bool {
        self.holder(id).is_some()
    }
}

/// The observed fields of `id`, if the snapshot holds it.
pub fn observed_fields(obj: &DesiredObject, snap: &Snapshot, id: &str) -> Option<Fields> {
    let sent = obj.sent_secret_hash.clone();
    match obj.kind {
        Kind::Aws | Kind::Azure | Kind::Gcp | Kind::Oci => {
            let cloud = obj.kind.cloud()?;
            snap.connector(cloud, id)
                .map(|c| connector::observed_fields(cloud, c, sent))
        }
        Kind::AzureOrg => snap.org(id).map(|o| org::observed_fields(&o.org, &o.members, sent)),
        Kind::Group => snap.group(id).map(group::observed_fields),
        // Nothing to read: see `plan_registration`.
        Kind::SnapshotScan => None,
        Kind::UserScope => snap.scopes.get(id).map(|s| {
            let mut f = Fields::new();
            f.set("spec.scope", serde_json::json!(scope::keys(&scope::observed(s))));
            f
        }),
        Kind::Report => match &obj.model {
            Model::Report(r) => snap
                .report(id)
                .map(|item| report::observed_fields(item, snap.report_details.get(id), r)),
            _ => None,
        },
        Kind::GlobalScan => snap.global_scan.as_ref().map(|c| {
            let mut f = Fields::new();
            if let Value::Object(map) = connector::observed_schedule(c) {
                for (k, v) in map {
                    f.set(&format!("spec.{k}"), v);
                }
            }
            f
        }),
    }
}

fn all_fields(fields: &Fields) -> Vec<FieldChange> {
    fields
        .0
        .iter()
        .filter(|(_, f)| !f.value.is_null() && f.value.as_array().is_none_or(|a| !a.is_empty()))
        .map(|(path, f)| FieldChange {
            path: path.clone(),
            before: None,
            after: Some(f.value.clone()),
            secret: f.secret,
        })
        .collect()
}

/// The secret field whose Secret value is empty (unknown), if any.
fn unknown_secret(obj: &DesiredObject) -> Option<&'static str> {
    match &obj.model {
        Model::Connector(c) if c.kind() != crate::qualys::CloudKind::Aws && c.secrets.primary.is_none() => {
            Some(match c.kind() {
                crate::qualys::CloudKind::Azure => "spec.authenticationKeySecretRef",
                crate::qualys::CloudKind::Gcp => "spec.serviceAccountKeySecretRef",
                _ => "spec.privateKeySecretRef",
            })
        }
        Model::Org(o) if o.secret.is_none() => Some(ORG_SECRET),
        _ => None,
    }
}

fn pending_members(obj: &DesiredObject) -> Vec<String> {
    match &obj.model {
        Model::Org(o) => o
            .member_ids
            .iter()
            .filter_map(|m| m.strip_prefix(PENDING_MEMBER))
            .map(|name| format!("member AzureConnector {name} has no Qualys id yet; it is attached once created"))
            .collect(),
        Model::UserScope(u) => u
            .unresolved
            .iter()
            .map(|r| format!("{r} has no Qualys group uuid yet; it is added once it has one"))
            .collect(),
        Model::Group(g) => g
            .unresolved
            .iter()
            .map(|r| format!("member {r} matches no connector object"))
            .chain(
                g.waiting
                    .iter()
                    .map(|(_, r)| format!("member {r} has no Qualys connector yet; it is added once created")),
            )
            .chain(g.not_cloudview.iter().map(|(_, r)| {
                format!(
                    "member {r} is held back: its connector has neither the CI nor the CSA app, so CloudView \
                     does not know it and would refuse the batch; add one of those apps to {r}"
                )
            }))
            .collect(),
        _ => Vec::new(),
    }
}

/// Plan one object. `claims` holds ids objects of this run resolved to.
pub fn plan_object(obj: &DesiredObject, snap: &Snapshot, claims: &Claims) -> ObjectPlan {
    let judged;
    let obj = match &obj.model {
        // Members whose spec leaves apps out are judged by what Qualys reports.
        Model::Group(g) if !g.apps_unknown.is_empty() => {
            let mut g = g.clone();
            let reported = snap.cloudview_member_keys();
            g.judge_reported_apps(|key| reported.contains(key));
            judged = DesiredObject {
                model: Model::Group(g),
                ..obj.clone()
            };
            &judged
        }
        _ => obj,
    };
    let mut plan = ObjectPlan {
        object: obj.reference(),
        external_id: None,
        actions: Vec::new(),
        notes: pending_members(obj),
    };
    if let Model::SnapshotScan(r) = &obj.model {
        plan_registration(obj, r, claims, &mut plan);
        return plan;
    }
    if obj.deleting {
        plan_deletion(obj, snap, &mut plan);
        return plan;
    }
    if obj.paused {
        plan.external_id = obj.recorded.external_id.clone();
        plan.notes
            .push("paused (qualys-operator.io/paused): nothing is observed or written".into());
        return plan;
    }
    let me = obj.reference();
    let others = ClaimedByOthers { claims, me: &me };
    if obj.kind == Kind::GlobalScan
        && let Some(holder) = others.holder(GLOBAL_SCAN_KEY)
    {
        plan.actions.push(Action::Conflict {
            reason: format!("{holder} already manages this account's global scan configuration; keep one per account"),
        });
        return plan;
    }
    let key = obj.natural_key();
    let resolution = identity::resolve(&obj.recorded, &key, obj.adoption, &snap.listed(obj.kind), &others);
    let desired = obj.fields();
    // The natural key names a Qualys object another object holds: one object
    // per Qualys object, so no second one is created beside it either.
    if matches!(resolution, Resolution::Create { .. })
        && let Some((id, holder)) = snap
            .listed(obj.kind)
            .candidates()
            .into_iter()
            .filter(|c| c.key == key && (!c.attached_to_org || obj.recorded.declared_org_member))
            .find_map(|c| others.holder(&c.id).map(|h| (c.id.clone(), h.to_string())))
    {
        plan.actions.push(Action::Conflict {
            reason: format!(
                "Qualys {} {id} matches {key} and is held by {holder}; one object per Qualys object: delete one of \
                 the two objects, or give this one another {key_field}",
                obj.kind,
                key_field = natural_key_field(obj.kind)
            ),
        });
        return plan;
    }
    let (id, adopted) = match resolution {
        Resolution::Conflict(reason) => {
            plan.actions.push(Action::Conflict { reason });
            return plan;
        }
        Resolution::Create { note } if obj.observe_only() => {
            plan.actions.push(Action::NotFound {
                reason: format!("ObserveOnly, and Qualys has no {} for {key}", obj.kind),
            });
            plan.notes.extend(note);
            return plan;
        }
        Resolution::Create { note } if obj.kind == Kind::UserScope => {
            plan.notes.extend(note);
            plan.actions.push(Action::Conflict {
                reason: format!(
                    "Qualys has no user {key} (a user scope belongs to an existing user): create the user in \
                     Qualys, or correct spec.userName"
                ),
            });
            return plan;
        }
        Resolution::Create { note } if unknown_secret(obj).is_some() => {
            plan.notes.extend(note);
            let field = unknown_secret(obj).unwrap_or_default();
            plan.actions.push(Action::Conflict {
                reason: format!(
                    "{field}: the Secret's value is empty; Qualys needs it to create the {}: fill in the \
                     Secret, then apply",
                    obj.kind
                ),
            });
            return plan;
        }
        Resolution::Create { note } if others.holder(&creating_claim(obj.kind, &key)).is_some() => {
            plan.notes.extend(note);
            let holder = others.holder(&creating_claim(obj.kind, &key)).unwrap_or_default();
            plan.actions.push(Action::Conflict {
                reason: format!(
                    "{holder} creates the Qualys {} for {key} in this run; one object per Qualys object: delete one \
                     of the two objects, or give this one another {key_field}",
                    obj.kind,
                    key_field = natural_key_field(obj.kind)
                ),
            });
            return plan;
        }
        Resolution::Create { note } => {
            plan.notes.extend(note);
            let mut fields = all_fields(&desired);
            // A new group waits for its members like an existing one: created
            // now, its members added in one write once they all exist.
            if let Model::Group(g) = &obj.model
                && let Some(note) = hold_additions(&mut fields, g.creating)
            {
                plan.notes.push(note);
            }
            plan.actions.push(Action::Create { fields });
            push_run(obj, None, &mut plan);
            return plan;
        }
        Resolution::Known(id) => (id, None),
        Resolution::Adopt { id, reason } => (id.clone(), Some(reason)),
    };
    plan.external_id = Some(id.clone());
    if let Some(field) = unknown_secret(obj) {
        plan.notes.push(format!(
            "secret unknown: {field} will be sent when the Secret has a value"
        ));
    }
    if let Some(reason) = adopted.filter(|_| !obj.observe_only()) {
        plan.actions.push(Action::Adopt { id: id.clone(), reason });
    }
    let observed = observed_fields(obj, snap, &id).unwrap_or_default();
    let mut changes = diff(&desired, &observed);
    if let Model::UserScope(u) = &obj.model {
        changes = scope_changes(u, snap, &id, &mut plan.notes);
    }
    if let Model::Group(g) = &obj.model {
        keep_waiting_members(&mut changes, &g.waiting);
        keep_waiting_members(&mut changes, &g.not_cloudview);
        if let Some(note) = hold_additions(&mut changes, g.creating) {
            plan.notes.push(note);
        }
    }
    if let Model::Org(o) = &obj.model {
        if o.spec.member_policy == MemberPolicy::Include {
            keep_unlisted_members(&mut changes);
        }
        // A pending member cannot be attached yet: not a change to make now.
        changes.retain(|c| c.path != "spec.members" || !only_pending_added(c));
    }
    if obj.observe_only() {
        if !changes.is_empty() {
            plan.actions.push(Action::ReportDrift { id, changes });
        }
        return plan;
    }
    if obj.kind == Kind::AzureOrg {
        // The gateway cannot change the secret either: a secret never sent by
        // us cannot be compared, and a rotated one cannot be applied.
        changes.retain(|c| c.path != ORG_SECRET || c.before.is_some());
    }
    let fixed_paths: &[&str] = match obj.kind {
        Kind::AzureOrg => ORG_FIXED,
        Kind::Group => GROUP_FIXED,
        Kind::Report => report::FIXED,
        _ => &[],
    };
    let fixed: Vec<&str> = changes
        .iter()
        .map(|c| c.path.as_str())
        .filter(|p| fixed_paths.contains(p))
        .collect();
    if !fixed.is_empty() && obj.kind == Kind::Report {
        plan.actions.push(Action::Conflict {
            reason: report::fixed_conflict(&id, &fixed),
        });
        return plan;
    }
    if !fixed.is_empty() {
        plan.actions.push(Action::Conflict {
            reason: format!(
                "Qualys {} {id} differs in {} which Qualys cannot change after creation; recreate it in Qualys \
                 or make the spec match Qualys",
                obj.kind,
                fixed.join(", ")
            ),
        });
        return plan;
    }
    if !changes.is_empty() {
        plan.actions.push(Action::Update {
            id: id.clone(),
            changes,
        });
    }
    push_run(obj, Some(&id), &mut plan);
    plan
}

/// A snapshot-scan registration: Qualys has no read, so the plan is what
/// the object knows it registered against its spec. Registering again is how
/// it is observed (Qualys answers 304 when it holds the account).
fn plan_registration(obj: &DesiredObject, r: &DesiredRegistration, claims: &Claims, plan: &mut ObjectPlan) {
    let id = r.aws_account_id.clone();
    plan.external_id = Some(id.clone());
    let me = obj.reference();
    if let Some(holder) = (ClaimedByOthers { claims, me: &me }).holder(&id) {
        plan.actions.push(Action::Conflict {
            reason: format!(
                "{holder} already registers AWS account {id} for snapshot scans; keep one object per account"
            ),
        });
        return;
    }
    if obj.deleting {
        let action = match (obj.deletion_policy(), obj.observe_only(), &r.registered) {
            (_, _, None) => Action::Retain {
                id: Some(id),
                reason: "this object never registered the account".into(),
            },
            (DeletionPolicy::Orphan, _, _) => Action::Retain {
                id: Some(id),
                reason: "deletionPolicy Orphan".into(),
            },
            (_, true, _) => Action::Retain {
                id: Some(id),
                reason: "managementPolicy ObserveOnly".into(),
            },
            _ => {
                plan.notes.push(DEREGISTERS_ALL.into());
                Action::Deregister { id }
            }
        };
        plan.actions.push(action);
        return;
    }
    if obj.paused {
        plan.notes
            .push("paused (qualys-operator.io/paused): nothing is observed or written".into());
        return;
    }
    if obj.observe_only() {
        plan.notes.push(
            "ObserveOnly: Qualys has no read for snapshot-scan registrations, so there is nothing to report".into(),
        );
        return;
    }
    if let Some(reason) = r.invalid() {
        plan.actions.push(Action::Conflict { reason });
        return;
    }
    if r.changed() {
        // Qualys keeps a registration's schedule and tags: only a new one changes them.
        plan.notes.push(DEREGISTERS_ALL.into());
        plan.actions.push(Action::Deregister { id: id.clone() });
    }
    plan.actions.push(Action::Register {
        id: id.clone(),
        summary: r.summary(),
        confirm: r.registered.as_deref() == Some(r.summary().as_str()),
    });
    push_run(obj, Some(&id), plan);
}

/// What a deregistration does beyond this object.
const DEREGISTERS_ALL: &str = "Qualys deregisters without naming an account: every snapshot-scan registration of \
     this Qualys account is removed, and the other objects register theirs again at their next reconcile";

/// The one change of a user scope: `spec.scope` from `before` to `after`.
fn scope_change(before: &scope::Entries, after: &scope::Entries) -> FieldChange {
    FieldChange {
        path: "spec.scope".into(),
        before: Some(serde_json::json!(scope::keys(before))),
        after: Some(serde_json::json!(scope::keys(after))),
        secret: false,
    }
}

/// What a user scope changes: the spec's entries (group names resolved
/// through the group list) added, and what the ownership lets it remove.
fn scope_changes(u: &scope::DesiredScope, snap: &Snapshot, user: &str, notes: &mut Vec<String>) -> Vec<FieldChange> {
    let before = snap.scopes.get(user).map(scope::observed).unwrap_or_default();
    let (wanted, missing) = u.resolve_names(&snap.groups);
    notes.extend(
        missing
            .into_iter()
            .map(|m| format!("{m} matches no Qualys connector group; it is added once it exists")),
    );
    let after = scope::target(u.ownership, &wanted, &before, &u.granted);
    if after == before {
        Vec::new()
    } else {
        vec![scope_change(&before, &after)]
    }
}

/// The spec field a kind's natural key comes from, for messages.
pub fn natural_key_field(kind: Kind) -> &'static str {
    match kind {
        Kind::Aws => "spec.arn account",
        Kind::Azure => "spec.subscriptionId",
        Kind::Gcp => "spec.projectId",
        Kind::Oci => "spec.tenantId",
        Kind::AzureOrg => "spec.tenantId",
        Kind::Group => "spec.name",
        Kind::UserScope => "spec.userName",
        Kind::SnapshotScan => "spec.awsAccountId",
        Kind::Report => "spec.title",
        Kind::GlobalScan => "account",
    }
}

/// True when the members change only adds pending (not yet created) members.
fn only_pending_added(change: &FieldChange) -> bool {
    let before = string_list(&change.before);
    let after: Vec<String> = string_list(&change.after)
        .into_iter()
        .filter(|m| !m.starts_with(PENDING_MEMBER))
        .collect();
    let mut b = before.clone();
    b.sort();
    let mut a = after;
    a.sort();
    a == b
}

/// `memberPolicy: Include`: members the spec does not list (attached by hand
/// or created by Qualys for new subscriptions) stay attached.
fn keep_unlisted_members(changes: &mut Vec<FieldChange>) {
    keep_members(changes, |_| true);
}

/// A group member whose connector is still being created is not added
/// (Qualys refuses an account without a connector) nor removed if Qualys
/// already lists it.
fn keep_waiting_members(changes: &mut Vec<FieldChange>, waiting: &[(String, String)]) {
    if !waiting.is_empty() {
        keep_members(changes, |m| waiting.iter().any(|(k, _)| k == m));
    }
}

/// While `creating` members are still being created, additions wait for
/// them, so one membership write (one call per cloud type) adds them all
/// instead of one per member as they appear. Removals are never held. A
/// member whose create failed is not counted (see `MemberCandidate::stalled`).
fn hold_additions(changes: &mut Vec<FieldChange>, creating: usize) -> Option<String> {
    if creating == 0 {
        return None;
    }
    let mut held = 0;
    edit_members(changes, |before, after| {
        let count = after.len();
        after.retain(|m| before.contains(m));
        held = count - after.len();
    });
    (held > 0).then(|| {
        format!("{held} member(s) to add are held until the {creating} member(s) still being created exist, so one write adds them all")
    })
}

/// Members Qualys lists that `keep` selects are never removed by a
/// `spec.members` change.
fn keep_members(changes: &mut Vec<FieldChange>, keep: impl Fn(&str) -> bool) {
    edit_members(changes, |before, after| {
        after.extend(before.iter().filter(|m| keep(m)).cloned());
    });
}

/// Rewrites the wanted list of a `spec.members` change (`edit` gets the
/// listed members and the wanted ones); a change left with nothing to do is
/// dropped.
fn edit_members(changes: &mut Vec<FieldChange>, mut edit: impl FnMut(&[String], &mut Vec<String>)) {
    changes.retain_mut(|c| {
        if c.path != "spec.members" {
            return true;
        }
        let mut before = string_list(&c.before);
        let mut after = string_list(&c.after);
        edit(&before, &mut after);
        after.sort();
        after.dedup();
        before.sort();
        if after == before {
            return false;
        }
        c.after = Some(Value::Array(after.into_iter().map(Value::String).collect()));
        true
    });
}

fn push_run(obj: &DesiredObject, id: Option<&str>, plan: &mut ObjectPlan) {
    let Some(requested) = &obj.run_requested_at else { return };
    if obj.last_run_requested_at.as_ref() == Some(requested)
        || !matches!(
            obj.kind,
            Kind::Aws | Kind::Azure | Kind::Gcp | Kind::Oci | Kind::AzureOrg | Kind::SnapshotScan
        )
    {
        return;
    }
    let disabled = match &obj.model {
        Model::Connector(c) => c.settings().disabled,
        Model::Org(o) => o.spec.disabled,
        _ => false,
    };
    if disabled {
        plan.notes.push(format!(
            "run requested at {requested} skipped: the connector is disabled (Qualys refuses to run it)"
        ));
        return;
    }
    plan.actions.push(Action::Run {
        id: id.unwrap_or("(new)").to_string(),
        requested_at: requested.clone(),
    });
}

fn plan_deletion(obj: &DesiredObject, snap: &Snapshot, plan: &mut ObjectPlan) {
    // Only an id this operator recorded (or was told) is ever deleted.
    let Some(id) = obj
        .recorded
        .external_id
        .clone()
        .or_else(|| obj.recorded.annotation_id.clone())
    else {
        return;
    };
    let exists = match obj.kind {
        Kind::GlobalScan => snap.global_scan.is_some(),
        _ => snap.listed(obj.kind).has(&id),
    };
    plan.external_id = Some(id.clone());
    if !exists {
        plan.notes.push(format!("Qualys object {id} is already gone"));
        return;
    }
    if obj.observe_only() {
        plan.actions.push(Action::Retain {
            id: Some(id),
            reason: "managementPolicy ObserveOnly".into(),
        });
        return;
    }
    match (obj.deletion_policy(), obj.kind) {
        (DeletionPolicy::Orphan, _) => {
            plan.actions.push(Action::Retain {
                id: Some(id),
                reason: "deletionPolicy Orphan".into(),
            });
        }
        (_, Kind::Group) => {
            let observed = snap.group(&id).map(group::observed_fields).unwrap_or_default();
            let before = observed.get("spec.members").cloned();
            if before.as_ref().and_then(Value::as_array).is_some_and(|a| !a.is_empty()) {
                plan.actions.push(Action::Update {
                    id: id.clone(),
                    changes: vec![FieldChange {
                        path: "spec.members".into(),
                        before,
                        after: Some(Value::Array(Vec::new())),
                        secret: false,
                    }],
                });
            }
            plan.actions.push(Action::Retain {
                id: Some(id),
                reason: "Qualys has no API to delete a connector group; its memberships are dropped".into(),
            });
        }
        (_, Kind::UserScope) => {
            if let (Some(observed), Model::UserScope(u)) = (snap.scopes.get(&id), &obj.model) {
                let before = scope::observed(observed);
                let released = scope::release(&before, &u.granted);
                if !released.is_empty() {
                    let after: scope::Entries = before.difference(&released).cloned().collect();
                    plan.actions.push(Action::Update {
                        id: id.clone(),
                        changes: vec![scope_change(&before, &after)],
                    });
                }
            }
            plan.actions.push(Action::Retain {
                id: Some(id),
                reason: "the user stays in Qualys; only what this object granted is removed".into(),
            });
        }
        (_, Kind::GlobalScan) => plan.actions.push(Action::Retain {
            id: Some(id),
            reason: "Qualys has no API to delete the global scan configuration".into(),
        }),
        // The CRD refuses it; a manifest that bypassed the schema gets no delete either.
        (DeletionPolicy::Disable, Kind::Report) => plan.actions.push(Action::Retain {
            id: Some(id),
            reason: "deletionPolicy Disable does not apply to reports (Qualys cannot disable one); set Delete or \
                     Orphan"
                .into(),
        }),
        (DeletionPolicy::Disable, _) => plan.actions.push(Action::Disable { id }),
        (DeletionPolicy::Delete, _) => plan.actions.push(Action::Delete { id }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn members_change(before: &[&str], after: &[&str]) -> FieldChange {
        FieldChange {
            path: "spec.members".into(),
            before: Some(json!(before)),
            after: Some(json!(after)),
            secret: false,
        }
    }

    /// An AwsConnector object for account 123456789012 and a snapshot
    /// holding one connector (id 7) for that account.
    fn aws_object_and_snapshot(name: &str) -> (DesiredObject, Snapshot) {
        let object = json!({
            "apiVersion": "qualys-operator.io/v1alpha1",
            "kind": "AwsConnector",
            "metadata": {"name": name, "namespace": "team-b"},
            "spec": {"arn": "arn:aws:iam::123456789012:role/R", "externalId": "x"}
        });
        let desired = super::super::build::build(&object, &Default::default()).expect("builds");
        let connector = crate::qualys::Connector {
            id: Some("7".into()),
            arn: Some("arn:aws:iam::123456789012:role/R".into()),
            ..Default::default()
        };
        let snap = Snapshot {
            connectors: [(crate::qualys::CloudKind::Aws, vec![std::sync::Arc::new(connector)])].into(),
            ..Snapshot::default()
        };
        (desired, snap)
    }

    #[test]
    fn a_natural_key_held_by_another_object_is_a_conflict_naming_it_not_a_second_create() {
        let (desired, snap) = aws_object_and_snapshot("b");
        let claims: Claims = [("7".to_string(), "AwsConnector/team-a/a".to_string())].into();
        let plan = plan_object(&desired, &snap, &claims);
        let [Action::Conflict { reason }] = plan.actions.as_slice() else {
            panic!("a conflict, nothing else: {:?}", plan.actions)
        };
        assert!(
            reason.contains("AwsConnector/team-a/a") && reason.contains('7'),
            "{reason}"
        );
        // Unclaimed, the same connector is adopted.
        let plan = plan_object(&desired, &snap, &Claims::new());
        assert!(
            matches!(plan.actions.first(), Some(Action::Adopt { id, .. }) if id == "7"),
            "{:?}",
            plan.actions
        );
    }

    #[test]
    fn waiting_group_members_are_neither_added_nor_removed() {
        let waiting = [("AZURE:w".to_string(), "AzureConnector/w".to_string())];
        // Qualys lists the waiting member already: keep it, still add B.
        let mut changes = vec![members_change(&["AWS:a", "AZURE:w"], &["AWS:a", "AWS:b"])];
        keep_waiting_members(&mut changes, &waiting);
        assert_eq!(string_list(&changes[0].after), ["AWS:a", "AWS:b", "AZURE:w"]);
        // Only the waiting member differs: no change at all.
        let mut changes = vec![members_change(&["AWS:a", "AZURE:w"], &["AWS:a"])];
        keep_waiting_members(&mut changes, &waiting);
        assert!(changes.is_empty(), "{changes:?}");
        // Nothing waits: a removal stays a removal.
        let mut changes = vec![members_change(&["AWS:a", "AZURE:w"], &["AWS:a"])];
        keep_waiting_members(&mut changes, &[]);
        assert_eq!(string_list(&changes[0].after), ["AWS:a"]);
    }

    #[test]
    fn a_new_group_is_created_at_once_and_its_members_added_when_all_exist() {
        use crate::crd::group::MemberKind;
        use crate::reconcile::group::MemberCandidate;
        let object = json!({
            "apiVersion": "qualys-operator.io/v1alpha1",
            "kind": "ConnectorGroup",
            "metadata": {"name": "g", "namespace": "team-b"},
            "spec": {"members": {"connectors": [
                {"kind": "AwsConnector", "name": "ready"},
                {"kind": "AwsConnector", "name": "creating"}
            ]}}
        });
        let member = |name: &str, account: &str, waiting: bool| MemberCandidate {
            kind: MemberKind::AwsConnector,
            name: name.into(),
            labels: Default::default(),
            account: account.into(),
            waiting,
            stalled: false,
            cloudview: Some(true),
        };
        let plan_with = |members: Vec<MemberCandidate>| {
            let mut inputs = super::super::build::Inputs::default();
            inputs.members.insert("team-b".into(), members);
            let desired = super::super::build::build(&object, &inputs).expect("builds");
            plan_object(&desired, &Snapshot::default(), &Claims::new())
        };
        let plan = plan_with(vec![
            member("ready", "111111111111", false),
            member("creating", "222222222222", true),
        ]);
        let [Action::Create { fields }] = plan.actions.as_slice() else {
            panic!("one create: {:?}", plan.actions)
        };
        assert!(fields.iter().all(|f| f.path != "spec.members"), "{fields:?}");
        assert!(plan.notes.iter().any(|n| n.contains("held")), "{:?}", plan.notes);
        // Every member exists: the create carries them.
        let plan = plan_with(vec![
            member("ready", "111111111111", false),
            member("creating", "222222222222", false),
        ]);
        let [Action::Create { fields }] = plan.actions.as_slice() else {
            panic!("one create: {:?}", plan.actions)
        };
        let members = fields.iter().find(|f| f.path == "spec.members").expect("members");
        assert_eq!(string_list(&members.after), ["AWS:111111111111", "AWS:222222222222"]);
    }

    #[test]
    fn additions_wait_for_members_still_being_created_removals_do_not() {
        let listed = ["AWS:a", "AWS:b", "AWS:c", "AWS:d"];
        // Two to add, four listed, three still being created: held, and said.
        let mut changes = vec![members_change(
            &listed,
            &["AWS:a", "AWS:b", "AWS:c", "AWS:d", "AWS:e", "AWS:f"],
        )];
        let note = hold_additions(&mut changes, 3).unwrap_or_default();
        assert!(changes.is_empty(), "{changes:?}");
        assert!(note.contains("2 member(s)") && note.contains("3 member(s)"), "{note}");
        // A removal in the same change still goes; the additions stay held.
        let mut changes = vec![members_change(&listed, &["AWS:a", "AWS:b", "AWS:c", "AWS:e"])];
        assert!(hold_additions(&mut changes, 3).is_some());
        assert_eq!(string_list(&changes[0].after), ["AWS:a", "AWS:b", "AWS:c"]);
        // However many are ready, they wait for the rest.
        let mut changes = vec![members_change(&["AWS:a"], &["AWS:a", "AWS:b", "AWS:c"])];
        assert!(hold_additions(&mut changes, 1).is_some());
        assert!(changes.is_empty(), "{changes:?}");
        // Nothing being created: nothing held.
        let mut changes = vec![members_change(&listed, &["AWS:a", "AWS:b", "AWS:c", "AWS:d", "AWS:e"])];
        assert_eq!(hold_additions(&mut changes, 0), None);
        assert_eq!(changes.len(), 1);
    }
}
