//! CloudView report configurations. Qualys' report list shows a report's
//! title, type, format and accounts; its description, mandate and policies
//! only a read of that one report shows. Observation is the list (one paged
//! read per account); a report is read in full only when the list cannot
//! settle it:
//!
//! * the spec's description, mandate or policies are not confirmed: neither
//!   written by the operator nor read in full and found matching since they
//!   last changed (an adopted object, a changed spec, a failed write), or
//! * the list shows a difference (the object is written anyway, and the full
//!   read shows every field that differs and whether it can be changed).
//!
//! The hash of those three spec fields as last written or confirmed is
//! recorded (`status.confirmedHash`, the CLI's state file), as the hash of
//! secrets sent is for fields Qualys never shows; while it still matches and
//! the list shows nothing, no report is read in full. The cost: a change made
//! in Qualys to only the description or policies is seen at the next full
//! read, not at the next resync.

use std::collections::BTreeSet;

use serde_json::Value;

use super::desired::text;
use super::execute::Applied;
use super::fields::{Fields, diff, secret_hash};
use super::identity::{self, Resolution};
use super::object::{DesiredObject, Kind, Model};
use super::plan::{Action, ObjectPlan};
use super::snapshot::Snapshot;
use crate::crd::report::{CloudViewReportSpec, ReportType as SpecType};
use crate::qualys::cloudview::reports::{
    ReportAccountKey, ReportAccountWrite, ReportConfig, ReportFormat, ReportPolicyWrite, ReportType, ReportWrite,
};

/// Fields only a full read shows.
const UNLISTED: [&str; 3] = ["spec.description", "spec.mandateId", "spec.policies"];

/// What an observed field the list does not show reads as.
const NOT_LISTED: &str = "(not in Qualys' report list)";

/// Fields Qualys cannot change on an existing report (the API layer treats
/// them as fixed: a PATCH of either is refused).
pub const FIXED: &[&str] = &["spec.type", "spec.mandateId"];

/// A report configuration as the spec wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredReport {
    pub title: String,
    /// `None`: not managed (what Qualys has is sent back on a write).
    pub description: Option<String>,
    pub report_type: ReportType,
    /// MANDATE reports only.
    pub mandate_id: Option<String>,
    /// `(CLOUD, policy id)`, normalised and sorted; `None`: not managed.
    pub policies: Option<Vec<(String, String)>>,
    /// Normalised and sorted, without repeats.
    pub accounts: Vec<ReportAccountKey>,
    /// `status.confirmedHash`: see the module doc.
    pub confirmed: Option<String>,
}

fn policy_key(cloud: &str, id: &str) -> (String, String) {
    (cloud.trim().to_ascii_uppercase(), id.trim().to_ascii_lowercase())
}

fn joined((cloud, id): &(String, String)) -> String {
    format!("{cloud}:{id}")
}

fn account_key(k: &ReportAccountKey) -> String {
    format!("{}:{}", k.cloud_type, k.account_id)
}

fn enum_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The spec of object `object_name`, with the hash its status records.
pub fn desired(spec: &CloudViewReportSpec, object_name: &str, confirmed: Option<String>) -> DesiredReport {
    let mut accounts: Vec<ReportAccountKey> = spec
        .accounts
        .iter()
        .map(|a| ReportAccountKey::new(&enum_text(&a.cloud_type), &a.account_id))
        .collect();
    accounts.sort();
    accounts.dedup();
    let policies = spec.policies.as_ref().map(|list| {
        let mut keys: Vec<(String, String)> = list
            .iter()
            .map(|p| policy_key(&enum_text(&p.cloud_type), &p.policy_id))
            .collect();
        keys.sort();
        keys.dedup();
        keys
    });
    DesiredReport {
        title: spec.title.clone().unwrap_or_else(|| object_name.to_string()),
        description: spec.description.clone(),
        report_type: match spec.report_type {
            SpecType::Mandate => ReportType::Mandate,
            SpecType::Policy => ReportType::Policy,
        },
        mandate_id: spec.mandate_id.as_ref().map(|m| m.trim().to_string()),
        policies,
        accounts,
        confirmed: confirmed.filter(|h| !h.is_empty()),
    }
}

impl DesiredReport {
    pub fn fields(&self) -> Fields {
        let mut f = Fields::new();
        f.set("spec.title", self.title.as_str())
            .set("spec.type", self.report_type.as_str())
            .set("spec.format", ReportFormat::OnScreen.as_str())
            .set_unordered("spec.accounts", self.accounts.iter().map(account_key))
            .set("spec.mandateId", text(self.mandate_id.as_deref()));
        if let Some(description) = &self.description {
            f.set("spec.description", text(Some(description)));
        }
        if let Some(policies) = &self.policies {
            f.set_unordered("spec.policies", policies.iter().map(joined));
        }
        f
    }

    /// Hash of the spec fields only a full read shows ("unmanaged" counts:
    /// starting to manage one must be confirmed too).
    pub fn unlisted_hash(&self) -> String {
        let fields = self.fields();
        let parts: Vec<String> = UNLISTED
            .iter()
            .map(|path| {
                fields
                    .0
                    .get(*path)
                    .map_or("(unmanaged)".into(), |f| f.value.to_string())
            })
            .collect();
        secret_hash(parts.iter().map(String::as_str))
    }

    /// A full read showed Qualys matching the spec's unlisted fields as they are now.
    pub fn is_confirmed(&self) -> bool {
        self.confirmed.as_deref() == Some(self.unlisted_hash().as_str())
    }

    /// The whole configuration to send (create and PATCH send every field).
    /// A field the spec does not manage is sent as `current` has it
    /// (nothing on a create).
    pub fn write(&self, current: Option<&ReportConfig>) -> ReportWrite {
        let description = match &self.description {
            Some(d) => Some(d.clone()).filter(|d| !d.is_empty()),
            None => current.and_then(|c| c.description.clone()),
        };
        let policies = match &self.policies {
            Some(list) => list
                .iter()
                .map(|(cloud, id)| ReportPolicyWrite {
                    policy_id: id.clone(),
                    cloud_type: cloud.clone(),
                })
                .collect(),
            None => current
                .and_then(|c| c.policies.as_ref())
                .into_iter()
                .flatten()
                .filter_map(|p| {
                    Some(ReportPolicyWrite {
                        policy_id: p.policy_id.clone()?,
                        cloud_type: p.cloud_type.clone().unwrap_or_default(),
                    })
                })
                .collect(),
        };
        ReportWrite {
            title: self.title.clone(),
            report_type: self.report_type.clone(),
            format: ReportFormat::OnScreen,
            description,
            mandate_id: self.mandate_id.clone(),
            policies,
            accounts: self
                .accounts
                .iter()
                .map(|k| ReportAccountWrite {
                    account_id: k.account_id.clone(),
                    cloud_type: k.cloud_type.clone(),
                    name: None,
                    connector_id: None,
                })
                .collect(),
        }
    }
}

/// What Qualys holds, as the spec's paths: from the full read when there is
/// one, else from the list item. A field the list does not show is unknown:
/// it differs from nothing while the spec's hash is confirmed, and from the
/// spec's value (so the whole configuration is written) otherwise.
pub fn observed_fields(item: &ReportConfig, full: Option<&ReportConfig>, desired: &DesiredReport) -> Fields {
    let read = full.unwrap_or(item);
    let mut f = Fields::new();
    f.set("spec.title", text(read.title.as_deref().map(str::trim)))
        .set(
            "spec.type",
            read.report_type.as_ref().map_or(Value::Null, |t| t.as_str().into()),
        )
        .set(
            "spec.format",
            read.format.as_ref().map_or(Value::Null, |t| t.as_str().into()),
        );
    match read.account_keys() {
        Some(keys) => f.set_unordered("spec.accounts", keys.iter().map(account_key)),
        None => f.set_unknown("spec.accounts", "(not reported by Qualys)", Vec::new()),
    };
    match full {
        Some(full) => {
            f.set("spec.description", text(full.description.as_deref()))
                .set("spec.mandateId", text(full.mandate_id.as_deref().map(str::trim)));
            match &full.policies {
                Some(list) => f.set_unordered(
                    "spec.policies",
                    list.iter().filter_map(|p| {
                        Some(joined(&policy_key(
                            p.cloud_type.as_deref().unwrap_or_default(),
                            p.policy_id.as_deref()?,
                        )))
                    }),
                ),
                None => f.set_unknown("spec.policies", "(not reported by Qualys)", Vec::new()),
            };
        }
        None => {
            let wanted = desired.fields();
            let confirmed = desired.is_confirmed();
            for path in UNLISTED {
                // Never the mandate: a change of it is decided on a full read.
                let differs = match wanted.0.get(path) {
                    Some(want) if !confirmed && path != "spec.mandateId" => vec![want.value.clone()],
                    _ => Vec::new(),
                };
                f.set_unknown(path, NOT_LISTED, differs);
            }
        }
    }
    f
}

/// The report `obj` should be read in full before it is planned, if any:
/// the one it maps to, when its unlisted fields are unconfirmed or the list
/// shows a difference (see the module doc).
pub fn full_read_wanted(obj: &DesiredObject, snap: &Snapshot) -> Option<String> {
    let Model::Report(r) = &obj.model else { return None };
    if obj.deleting || obj.paused {
        return None;
    }
    let id = match identity::resolve(
        &obj.recorded,
        &obj.natural_key(),
        obj.adoption,
        &snap.listed(Kind::Report),
        &BTreeSet::<String>::new(),
    ) {
        Resolution::Known(id) | Resolution::Adopt { id, .. } => id,
        Resolution::Create { .. } | Resolution::Conflict(_) => return None,
    };
    if snap.report_details.contains_key(&id) {
        return None;
    }
    let item = snap.report(&id)?;
    let differs = !diff(&r.fields(), &observed_fields(item, None, r)).is_empty();
    (differs || !r.is_confirmed()).then_some(id)
}

/// The hash to record after a run: the spec's once it was written (a create
/// or update sends every field), or once a full read showed Qualys matching
/// it; none after a failed write or a delete (what Qualys holds is unknown:
/// the next run reads it in full); else what was recorded.
pub fn confirmed_after(r: &DesiredReport, snap: &Snapshot, plan: &ObjectPlan, applied: &Applied) -> Option<String> {
    if applied.failure.is_some() || applied.deleted {
        return None;
    }
    let written = plan
        .actions
        .iter()
        .any(|a| matches!(a, Action::Create { .. } | Action::Update { .. }));
    let read_in_full = plan
        .external_id
        .as_ref()
        .is_some_and(|id| snap.report_details.contains_key(id));
    let settled = plan
        .actions
        .iter()
        .all(|a| matches!(a, Action::Adopt { .. } | Action::Retain { .. }));
    if written || (read_in_full && settled) {
        Some(r.unlisted_hash())
    } else {
        r.confirmed.clone()
    }
}

/// Why a change of a fixed field cannot be applied, and what to do.
pub fn fixed_conflict(id: &str, fixed: &[&str]) -> String {
    format!(
        "Qualys report {id} differs in {}, which Qualys cannot change on an existing report: to get a new \
         report, delete this object with deletionPolicy Delete (the report is deleted with it) and apply it \
         again; or make the spec match Qualys",
        fixed.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::qualys::cloudview::reports::{ReportAccount, ReportPolicy};

    const CIS: &str = "68dc5320-8677-11e8-9d84-85bffa8eeea9";

    fn spec(value: Value) -> CloudViewReportSpec {
        serde_json::from_value(value).unwrap_or_else(|e| panic!("{e}"))
    }

    fn mandate_report() -> DesiredReport {
        desired(
            &spec(json!({
                "type": "MANDATE", "mandateId": "2481", "description": "CCM",
                "accounts": [
                    {"cloudType": "AZURE", "accountId": "AAAAAAAA-0000-0000-0000-000000000001"},
                    {"cloudType": "AWS", "accountId": "123456789012"},
                    {"cloudType": "AWS", "accountId": "123456789012"}
                ]
            })),
            "ccm",
            None,
        )
    }

    /// The report as a configuration read shows it: the spec's values, in
    /// Qualys' spelling.
    fn config(r: &DesiredReport) -> ReportConfig {
        ReportConfig {
            report_id: Some("r1".into()),
            title: Some(r.title.clone()),
            report_type: Some(r.report_type.clone()),
            format: Some(ReportFormat::OnScreen),
            description: r.description.clone(),
            mandate_id: r.mandate_id.clone(),
            accounts: Some(
                r.accounts
                    .iter()
                    .map(|k| ReportAccount {
                        account_id: Some(k.account_id.to_uppercase()),
                        cloud_type: Some(k.cloud_type.to_lowercase()),
                        ..ReportAccount::default()
                    })
                    .collect(),
            ),
            policies: Some(Vec::new()),
            created_on: Some("2019-03-27T08:52:58+0000".into()),
        }
    }

    /// What the list shows of it.
    fn list_item(full: &ReportConfig) -> ReportConfig {
        ReportConfig {
            description: None,
            mandate_id: None,
            policies: None,
            created_on: None,
            ..full.clone()
        }
    }

    #[test]
    fn the_title_defaults_to_the_object_name_and_accounts_are_a_normalised_set() {
        let r = mandate_report();
        assert_eq!(r.title, "ccm");
        assert_eq!(
            r.accounts,
            [
                ReportAccountKey::new("AWS", "123456789012"),
                ReportAccountKey::new("AZURE", "aaaaaaaa-0000-0000-0000-000000000001"),
            ]
        );
        assert_eq!(r.policies, None, "absent: not managed");
        let fields = r.fields();
        assert_eq!(fields.get("spec.mandateId"), Some(&json!("2481")));
        assert!(fields.get("spec.policies").is_none());
    }

    #[test]
    fn a_full_read_in_qualys_spelling_matches_the_spec() {
        let r = mandate_report();
        let full = config(&r);
        assert!(diff(&r.fields(), &observed_fields(&list_item(&full), Some(&full), &r)).is_empty());
    }

    #[test]
    fn what_the_list_cannot_show_differs_only_until_confirmed() {
        let mut r = mandate_report();
        let item = list_item(&config(&r));
        let changes = diff(&r.fields(), &observed_fields(&item, None, &r));
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(
            paths,
            ["spec.description"],
            "unconfirmed: written whole; never the mandate"
        );
        r.confirmed = Some(r.unlisted_hash());
        assert!(r.is_confirmed());
        assert!(diff(&r.fields(), &observed_fields(&item, None, &r)).is_empty());
        // A spec change of an unlisted field is no longer confirmed.
        let mut changed = r.clone();
        changed.description = Some("other".into());
        assert!(!changed.is_confirmed());
        let mut unmanaged = r.clone();
        unmanaged.description = None;
        assert_ne!(unmanaged.unlisted_hash(), r.unlisted_hash());
    }

    #[test]
    fn the_list_shows_drift_in_title_and_accounts() {
        let mut r = mandate_report();
        r.confirmed = Some(r.unlisted_hash());
        let mut item = list_item(&config(&r));
        item.title = Some("renamed by hand".into());
        item.accounts.as_mut().map(Vec::pop);
        let changes = diff(&r.fields(), &observed_fields(&item, None, &r));
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["spec.accounts", "spec.title"]);
    }

    #[test]
    fn a_write_states_everything_and_keeps_what_the_spec_leaves_alone() {
        let mut r = mandate_report();
        r.description = None;
        let mut current = config(&r);
        current.description = Some("by hand".into());
        current.policies = Some(vec![ReportPolicy {
            policy_id: Some(CIS.into()),
            cloud_type: Some("AWS".into()),
        }]);
        let write = r.write(Some(&current));
        assert_eq!(write.description.as_deref(), Some("by hand"));
        assert_eq!(write.policies.len(), 1);
        assert_eq!(write.mandate_id.as_deref(), Some("2481"));
        assert_eq!(write.accounts.len(), 2);
        assert_eq!(write.accounts[1].account_id, "aaaaaaaa-0000-0000-0000-000000000001");
        // Managed: the spec wins; "" clears.
        r.description = Some(String::new());
        r.policies = Some(Vec::new());
        let write = r.write(Some(&current));
        assert_eq!((write.description, write.policies.len()), (None, 0));
    }

    #[test]
    fn the_hash_is_recorded_once_written_or_read_matching_and_dropped_on_failure() {
        let r = DesiredReport {
            confirmed: Some("sha256:old".into()),
            ..mandate_report()
        };
        let plan = |actions: Vec<Action>| ObjectPlan {
            object: "CloudViewReport/default/ccm".into(),
            external_id: Some("r1".into()),
            actions,
            notes: Vec::new(),
        };
        let update = || Action::Update {
            id: "r1".into(),
            changes: Vec::new(),
        };
        let list_only = Snapshot::default();
        let read = Snapshot {
            report_details: [("r1".to_string(), config(&r))].into(),
            ..Snapshot::default()
        };
        let ok = Applied::default();
        let hash = Some(r.unlisted_hash());
        assert_eq!(confirmed_after(&r, &list_only, &plan(vec![update()]), &ok), hash);
        assert_eq!(
            confirmed_after(&r, &read, &plan(vec![]), &ok),
            hash,
            "read and matching"
        );
        assert_eq!(
            confirmed_after(&r, &list_only, &plan(vec![]), &ok),
            r.confirmed,
            "nothing learnt"
        );
        let conflict = plan(vec![Action::Conflict { reason: "type".into() }]);
        assert_eq!(confirmed_after(&r, &read, &conflict, &ok), r.confirmed);
        let failed = Applied {
            failure: Some(super::super::execute::ExecError::Input {
                action: "update".into(),
                message: "refused".into(),
            }),
            ..Applied::default()
        };
        assert_eq!(confirmed_after(&r, &read, &plan(vec![update()]), &failed), None);
        let deleted = Applied {
            deleted: true,
            ..Applied::default()
        };
        let delete = plan(vec![Action::Delete { id: "r1".into() }]);
        assert_eq!(confirmed_after(&r, &read, &delete, &deleted), None);
    }

    #[test]
    fn policies_compare_by_cloud_and_id_in_any_case() {
        let r = desired(
            &spec(json!({
                "type": "POLICY",
                "policies": [{"cloudType": "AWS", "policyId": CIS.to_uppercase()}],
                "accounts": [{"cloudType": "AWS", "accountId": "123456789012"}]
            })),
            "p",
            None,
        );
        let mut full = config(&r);
        full.policies = Some(vec![ReportPolicy {
            policy_id: Some(CIS.into()),
            cloud_type: Some("aws".into()),
        }]);
        assert!(diff(&r.fields(), &observed_fields(&list_item(&full), Some(&full), &r)).is_empty());
        assert_eq!(r.fields().get("spec.mandateId"), Some(&Value::Null));
    }
}
