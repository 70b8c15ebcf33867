//! CloudView connector groups: members are `(cloudType, accountIdentifier)`
//! pairs; membership changes go per cloud type as add/remove lists.

use std::collections::{BTreeMap, BTreeSet};

use super::desired::{self, member_key};
use super::fields::Fields;
use crate::crd::group::{ConnectorGroupSpec, MemberKind};
use crate::qualys::{CloudKind, Group};

/// A connector object a group may reference: its kind, name, labels and the
/// cloud account it is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberCandidate {
    pub kind: MemberKind,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub account: String,
    /// The object has no Qualys connector yet (the controller is still
    /// creating it). Qualys refuses a member account without a connector, so
    /// the group adds it once the connector exists.
    pub waiting: bool,
    /// Waiting, but its create failed (the object reports an error): nothing
    /// to wait for until somebody fixes it.
    pub stalled: bool,
    /// The connector has the CI or CSA app. CloudView knows only such
    /// connectors, and refuses a whole membership batch for one that is not.
    /// `None`: the spec leaves apps unmanaged, so what Qualys reports decides.
    pub cloudview: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredGroup {
    pub name: String,
    /// `CLOUD:accountIdentifier` keys.
    pub members: Vec<String>,
    /// Member references that matched nothing.
    pub unresolved: Vec<String>,
    /// Members whose connector is still being created: `(key, Kind/name)`.
    /// Not added yet, and not removed if Qualys already has them.
    pub waiting: Vec<(String, String)>,
    /// How many of `waiting` are still being created (not stalled): while
    /// any are, additions are held so one membership write adds many.
    pub creating: usize,
    /// Members whose connector has neither the CI nor the CSA app: `(key,
    /// Kind/name)`. Held back (not added, not removed) so the rest of the
    /// batch goes through, and named in a note.
    pub not_cloudview: Vec<(String, String)>,
    /// Members whose spec leaves apps unmanaged: `(key, Kind/name)`, among
    /// `members` until [`DesiredGroup::judge_reported_apps`] decides.
    pub apps_unknown: Vec<(String, String)>,
}

impl DesiredGroup {
    /// Members whose apps the spec does not state stay members only if
    /// `reported_cloudview` says Qualys lists a connector with the CI or CSA
    /// app for them; the others are held back like a spec without those apps.
    pub fn judge_reported_apps(&mut self, reported_cloudview: impl Fn(&str) -> bool) {
        for (key, reference) in std::mem::take(&mut self.apps_unknown) {
            if !reported_cloudview(&key) {
                self.members.retain(|m| *m != key);
                self.not_cloudview.push((key, reference));
            }
        }
    }
}

fn cloud_of(kind: MemberKind) -> &'static str {
    match kind {
        MemberKind::AwsConnector => "AWS",
        MemberKind::AzureConnector => "AZURE",
        MemberKind::GcpConnector => "GCP",
    }
}

/// Resolve the spec's three member lists against the connector objects the
/// caller knows (same namespace).
pub fn resolve(spec: &ConnectorGroupSpec, object_name: &str, candidates: &[MemberCandidate]) -> DesiredGroup {
    let mut matched: Vec<&MemberCandidate> = Vec::new();
    let mut unresolved = Vec::new();
    for r in &spec.members.connectors {
        match candidates.iter().find(|c| c.kind == r.kind && c.name == r.name) {
            Some(c) => matched.push(c),
            None => unresolved.push(format!("{:?}/{}", r.kind, r.name)),
        }
    }
    if let Some(selector) = &spec.members.selector {
        matched.extend(candidates.iter().filter(|c| selector_matches(selector, &c.labels)));
    }
    let mut members = BTreeSet::new();
    let mut waiting = BTreeMap::new();
    let mut creating = BTreeSet::new();
    let mut not_cloudview = BTreeMap::new();
    let mut apps_unknown = BTreeMap::new();
    // Keys some reference vouches for: a stated CloudView app, or an account listed as such.
    let mut known_cloudview = BTreeSet::new();
    for c in matched {
        let key = member_key(cloud_of(c.kind), &c.account);
        let reference = || format!("{:?}/{}", c.kind, c.name);
        if c.cloudview == Some(false) {
            not_cloudview.entry(key).or_insert_with(reference);
        } else if c.waiting {
            if !c.stalled {
                creating.insert(key.clone());
            }
            waiting.entry(key).or_insert_with(reference);
        } else {
            match c.cloudview {
                None => {
                    apps_unknown.entry(key.clone()).or_insert_with(reference);
                }
                Some(_) => {
                    known_cloudview.insert(key.clone());
                }
            }
            members.insert(key);
        }
    }
    for a in &spec.members.accounts {
        let cloud = serde_json::to_value(a.cloud_type)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let key = member_key(&cloud, &a.account_identifier);
        known_cloudview.insert(key.clone());
        members.insert(key);
    }
    // Another object for the same account may already have its connector.
    waiting.retain(|key, _| !members.contains(key));
    creating.retain(|key| waiting.contains_key(key));
    not_cloudview.retain(|key, _| !members.contains(key));
    // Another object for the same account states a CloudView app.
    apps_unknown.retain(|key, _| !known_cloudview.contains(key));
    DesiredGroup {
        name: spec.name.clone().unwrap_or_else(|| object_name.to_string()),
        members: members.into_iter().collect(),
        unresolved,
        waiting: waiting.into_iter().collect(),
        creating: creating.len(),
        not_cloudview: not_cloudview.into_iter().collect(),
        apps_unknown: apps_unknown.into_iter().collect(),
    }
}

/// `matchLabels` and `matchExpressions` (In, NotIn, Exists, DoesNotExist).
pub fn selector_matches(
    selector: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    labels: &BTreeMap<String, String>,
) -> bool {
    let labels_ok = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let expressions_ok = selector.match_expressions.iter().flatten().all(|e| {
        let value = labels.get(&e.key);
        let values = e.values.clone().unwrap_or_default();
        match e.operator.as_str() {
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            _ => false,
        }
    });
    labels_ok && expressions_ok
}

impl DesiredGroup {
    pub fn fields(&self) -> Fields {
        desired::group(&self.name, &self.members)
    }
}

pub fn observed_fields(g: &Group) -> Fields {
    let members: Vec<String> = g
        .connectors
        .iter()
        .filter_map(|m| Some(member_key(m.cloud_type.as_deref()?, m.account_identifier.as_deref()?)))
        .collect();
    desired::group(g.name.as_deref().unwrap_or_default(), &members)
}

/// Per cloud: accounts to add and accounts to remove.
pub fn membership_changes(desired: &[String], observed: &[String]) -> Vec<(CloudKind, Vec<String>, Vec<String>)> {
    let want: BTreeSet<&String> = desired.iter().collect();
    let have: BTreeSet<&String> = observed.iter().collect();
    let mut per_cloud: BTreeMap<CloudKind, (Vec<String>, Vec<String>)> = BTreeMap::new();
    let split = |key: &str| -> Option<(CloudKind, String)> {
        let (cloud, account) = key.split_once(':')?;
        Some((CloudKind::from_type_name(cloud)?, account.to_string()))
    };
    for key in want.difference(&have) {
        if let Some((cloud, account)) = split(key) {
            per_cloud.entry(cloud).or_default().0.push(account);
        }
    }
    for key in have.difference(&want) {
        if let Some((cloud, account)) = split(key) {
            per_cloud.entry(cloud).or_default().1.push(account);
        }
    }
    per_cloud
        .into_iter()
        .map(|(cloud, (add, remove))| (cloud, add, remove))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::group::{AccountMember, CloudType, ConnectorRef, GroupMembers};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

    fn candidate(kind: MemberKind, name: &str, team: &str, account: &str) -> MemberCandidate {
        MemberCandidate {
            kind,
            name: name.into(),
            labels: [("team".to_string(), team.to_string())].into(),
            account: account.into(),
            waiting: false,
            stalled: false,
            cloudview: Some(true),
        }
    }

    /// A group whose members are the connectors `selector` matches.
    fn selecting(selector: LabelSelector) -> ConnectorGroupSpec {
        ConnectorGroupSpec {
            name: None,
            members: GroupMembers {
                connectors: Vec::new(),
                selector: Some(selector),
                accounts: Vec::new(),
            },
            management: Default::default(),
        }
    }
    #[test]
    fn members_come_from_refs_selector_and_accounts_without_duplicates() {
        let spec = ConnectorGroupSpec {
            name: None,
            members: GroupMembers {
                connectors: vec![
                    ConnectorRef {
                        kind: MemberKind::GcpConnector,
                        name: "g".into(),
                    },
                    ConnectorRef {
                        kind: MemberKind::AwsConnector,
                        name: "missing".into(),
                    },
                ],
                selector: Some(LabelSelector {
                    match_labels: Some([("team".to_string(), "platform".to_string())].into()),
                    ..LabelSelector::default()
                }),
                accounts: vec![AccountMember {
                    cloud_type: CloudType::Aws,
                    account_identifier: "111111111111".into(),
                }],
            },
            management: Default::default(),
        };
        let candidates = [
            candidate(MemberKind::AwsConnector, "a", "platform", "111111111111"),
            candidate(MemberKind::AzureConnector, "z", "other", "sub"),
            candidate(MemberKind::GcpConnector, "g", "other", "proj-1"),
        ];
        let group = resolve(&spec, "obj", &candidates);
        assert_eq!(group.name, "obj");
        assert_eq!(
            group.members,
            vec!["AWS:111111111111".to_string(), "GCP:proj-1".to_string()]
        );
        assert_eq!(group.unresolved, vec!["AwsConnector/missing".to_string()]);
    }

    #[test]
    fn members_without_a_connector_yet_wait() {
        let spec = selecting(LabelSelector {
            match_labels: Some([("team".to_string(), "platform".to_string())].into()),
            ..LabelSelector::default()
        });
        let waiting = |c: MemberCandidate| MemberCandidate { waiting: true, ..c };
        let candidates = [
            candidate(MemberKind::AwsConnector, "ready", "platform", "1"),
            waiting(candidate(MemberKind::AwsConnector, "new", "platform", "2")),
            // Same account as a connector that exists: a member, not waiting.
            waiting(candidate(MemberKind::AwsConnector, "twin", "platform", "1")),
        ];
        let group = resolve(&spec, "obj", &candidates);
        assert_eq!(group.members, ["AWS:1"]);
        assert_eq!(group.waiting, [("AWS:2".to_string(), "AwsConnector/new".to_string())]);
        assert_eq!(group.creating, 1, "the twin's account exists: nothing to wait for");
    }

    #[test]
    fn a_member_whose_create_failed_is_not_waited_for() {
        let spec = selecting(LabelSelector::default());
        let waiting = |c: MemberCandidate, stalled| MemberCandidate {
            waiting: true,
            stalled,
            ..c
        };
        let candidates = [
            waiting(candidate(MemberKind::AwsConnector, "coming", "t", "1"), false),
            waiting(candidate(MemberKind::AwsConnector, "refused", "t", "2"), true),
        ];
        let group = resolve(&spec, "obj", &candidates);
        // Both are neither added nor removed; only one holds additions back.
        assert_eq!(group.waiting.len(), 2, "{:?}", group.waiting);
        assert_eq!(group.creating, 1);
    }

    #[test]
    fn members_whose_spec_leaves_apps_out_are_judged_by_what_qualys_reports() {
        let spec = selecting(LabelSelector::default());
        let unstated = |c: MemberCandidate| MemberCandidate { cloudview: None, ..c };
        let candidates = [
            unstated(candidate(MemberKind::AwsConnector, "has-csa", "t", "1")),
            unstated(candidate(MemberKind::AwsConnector, "ai-only", "t", "2")),
            // Another object for account 3 states CSA: it vouches for the key.
            unstated(candidate(MemberKind::AwsConnector, "twin", "t", "3")),
            candidate(MemberKind::AwsConnector, "stated", "t", "3"),
        ];
        let mut group = resolve(&spec, "obj", &candidates);
        assert_eq!(group.members, ["AWS:1", "AWS:2", "AWS:3"]);
        assert_eq!(group.apps_unknown.len(), 2, "{:?}", group.apps_unknown);
        group.judge_reported_apps(|key| key == "AWS:1");
        assert_eq!(group.members, ["AWS:1", "AWS:3"]);
        assert_eq!(
            group.not_cloudview,
            [("AWS:2".to_string(), "AwsConnector/ai-only".to_string())]
        );
        assert!(group.apps_unknown.is_empty());
    }

    #[test]
    fn members_without_a_cloudview_app_are_held_back() {
        let spec = selecting(LabelSelector::default());
        let no_app = |c: MemberCandidate| MemberCandidate {
            cloudview: Some(false),
            ..c
        };
        let candidates = [
            candidate(MemberKind::AwsConnector, "ci", "t", "1"),
            no_app(candidate(MemberKind::GcpConnector, "ai-only", "t", "p")),
        ];
        let group = resolve(&spec, "obj", &candidates);
        assert_eq!(group.members, ["AWS:1"]);
        assert_eq!(
            group.not_cloudview,
            [("GCP:p".to_string(), "GcpConnector/ai-only".to_string())]
        );
    }

    #[test]
    fn membership_changes_are_split_by_cloud() {
        let desired = vec!["AWS:1".to_string(), "GCP:p".to_string()];
        let observed = vec!["AWS:2".to_string(), "GCP:p".to_string()];
        let changes = membership_changes(&desired, &observed);
        assert_eq!(
            changes,
            vec![(CloudKind::Aws, vec!["1".to_string()], vec!["2".to_string()])]
        );
    }
}
