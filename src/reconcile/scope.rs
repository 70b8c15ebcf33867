//! A CloudView user's scope as a set of entries (groups, directly scoped
//! accounts, AWS regions), and the one rule for changing it: add what the
//! spec lists and the user lacks; remove only what the object owns.
//!
//! Ownership is what keeps a `UserScope` from stripping access somebody
//! granted by hand: in `Listed` mode the object owns only the entries it
//! added itself (`granted`, kept in status or the state file), never entries
//! the user already had when it listed them.

use std::collections::BTreeSet;
use std::fmt;

use crate::crd::user_scope::ScopeOwnership;
use crate::qualys::{CloudKind, UserScope};

/// The clouds a user's direct account scope is kept per (CloudView has no OCI).
pub const SCOPE_CLOUDS: [CloudKind; 3] = [CloudKind::Aws, CloudKind::Azure, CloudKind::Gcp];

/// One entry of a user's scope.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Entry {
    /// A connector group, by uuid (lower case).
    Group(String),
    /// An account given directly: AWS account id, Azure subscription (lower case), GCP project.
    Account(CloudKind, String),
    /// An AWS region.
    AwsRegion(String),
}

impl Entry {
    /// The entry in its one normal form: Qualys compares uuids and
    /// subscriptions without regard to case, so a spec in upper case must
    /// not diff forever.
    pub fn normal(self) -> Self {
        match self {
            Self::Group(uuid) => Self::Group(super::identity::guid(&uuid)),
            Self::Account(CloudKind::Azure, id) => Self::Account(CloudKind::Azure, super::identity::guid(&id)),
            Self::Account(cloud, id) => Self::Account(cloud, id.trim().to_string()),
            Self::AwsRegion(region) => Self::AwsRegion(region.trim().to_ascii_lowercase()),
        }
    }

    /// `group:<uuid>`, `AWS:<account>`, `region:<name>`: as status records it.
    pub fn key(&self) -> String {
        match self {
            Self::Group(uuid) => format!("group:{uuid}"),
            Self::Account(cloud, id) => format!("{}:{id}", cloud.type_name()),
            Self::AwsRegion(region) => format!("region:{region}"),
        }
    }

    /// The inverse of [`Entry::key`].
    pub fn from_key(key: &str) -> Option<Self> {
        let (prefix, rest) = key.split_once(':')?;
        let entry = match prefix {
            "group" => Self::Group(rest.to_string()),
            "region" => Self::AwsRegion(rest.to_string()),
            cloud => Self::Account(
                SCOPE_CLOUDS.into_iter().find(|c| c.type_name() == cloud)?,
                rest.to_string(),
            ),
        };
        Some(entry.normal())
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

pub type Entries = BTreeSet<Entry>;

/// What one reconcile changes in a user's scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeChange {
    pub add: Entries,
    pub remove: Entries,
    /// What the object owns once the change is made.
    pub granted: Entries,
}

impl ScopeChange {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty()
    }
}

/// The change that makes `observed` hold `desired`, removing only what
/// `ownership` lets the object remove: in `Listed` mode entries it granted
/// that left the spec, in `All` mode everything the spec does not list.
pub fn change(ownership: ScopeOwnership, desired: &Entries, observed: &Entries, granted: &Entries) -> ScopeChange {
    let add: Entries = desired.difference(observed).cloned().collect();
    let remove: Entries = match ownership {
        ScopeOwnership::Listed => granted
            .iter()
            .filter(|e| !desired.contains(*e) && observed.contains(*e))
            .cloned()
            .collect(),
        ScopeOwnership::All => observed.difference(desired).cloned().collect(),
    };
    // Owned: what it adds now, and what it added before that the spec still lists.
    let granted = granted
        .intersection(desired)
        .cloned()
        .chain(add.iter().cloned())
        .collect();
    ScopeChange { add, remove, granted }
}

/// What deleting the object removes: exactly what it granted that the user still has.
pub fn release(observed: &Entries, granted: &Entries) -> Entries {
    granted.intersection(observed).cloned().collect()
}

/// The entries of a scope as Qualys answered it. A cloud the answer leaves
/// out grants nothing there; AWS regions absent read as none.
pub fn observed(scope: &UserScope) -> Entries {
    let groups = scope.group_uuids().map(|uuid| Entry::Group(uuid.to_string()));
    let accounts = SCOPE_CLOUDS.into_iter().flat_map(|cloud| {
        scope
            .accounts(cloud)
            .into_iter()
            .map(move |account| Entry::Account(cloud, account.to_string()))
    });
    let regions = scope.regions().iter().map(|r| Entry::AwsRegion(r.clone()));
    groups.chain(accounts).chain(regions).map(Entry::normal).collect()
}

/// Status and plan lines list entries by key, sorted.
pub fn keys(entries: &Entries) -> Vec<String> {
    entries.iter().map(Entry::key).collect()
}

/// Entries from keys; a key that does not parse is dropped (status edited by hand).
pub fn from_keys<'a>(keys: impl IntoIterator<Item = &'a String>) -> Entries {
    keys.into_iter().filter_map(|k| Entry::from_key(k)).collect()
}

/// A `UserScope` object, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredScope {
    pub user: String,
    pub ownership: ScopeOwnership,
    /// What the spec lists, groups by uuid where already known.
    pub entries: Entries,
    /// Groups named by their Qualys name: resolved against the group list when planning.
    pub group_names: Vec<String>,
    /// Group references that name no group with a Qualys uuid yet.
    pub unresolved: Vec<String>,
    /// What the object granted earlier (status or state file).
    pub granted: Entries,
}

impl DesiredScope {
    /// `spec.scope` as the entries the spec lists; ownership is applied
    /// against what Qualys holds by [`DesiredScope::target`].
    pub fn fields(&self) -> super::fields::Fields {
        let mut fields = super::fields::Fields::default();
        fields.set("spec.scope", serde_json::json!(keys(&self.entries)));
        fields
    }

    /// The spec's entries with names resolved through `groups` (name → uuid);
    /// names that match no group are returned apart.
    pub fn resolve_names(&self, groups: &[crate::qualys::Group]) -> (Entries, Vec<String>) {
        let mut entries = self.entries.clone();
        let mut missing = Vec::new();
        for name in &self.group_names {
            match groups
                .iter()
                .find(|g| g.name.as_deref() == Some(name.as_str()))
                .and_then(|g| g.uuid.clone())
            {
                Some(uuid) => {
                    entries.insert(Entry::Group(uuid).normal());
                }
                None => missing.push(format!("group named {name:?}")),
            }
        }
        (entries, missing)
    }
}

/// The object's spec resolved: `group_ids` maps `ConnectorGroup` objects
/// (namespace, name) to their Qualys uuids; `granted` is what the object
/// recorded granting earlier.
pub fn desired(
    spec: &crate::crd::user_scope::UserScopeSpec,
    namespace: &str,
    group_ids: &std::collections::BTreeMap<(String, String), String>,
    granted: Entries,
) -> DesiredScope {
    let mut entries = Entries::new();
    let mut group_names = Vec::new();
    let mut unresolved = Vec::new();
    for g in &spec.groups {
        if let Some(uuid) = &g.uuid {
            entries.insert(Entry::Group(uuid.clone()).normal());
        } else if let Some(name) = &g.name {
            group_names.push(name.clone());
        } else if let Some(r) = &g.group_ref {
            match group_ids.get(&(namespace.to_string(), r.name.clone())) {
                Some(uuid) => {
                    entries.insert(Entry::Group(uuid.clone()).normal());
                }
                None => unresolved.push(format!("ConnectorGroup/{}", r.name)),
            }
        }
    }
    let accounts = &spec.accounts;
    let listed = [
        (CloudKind::Aws, accounts.aws.as_ref().map(|a| &a.account_identifiers)),
        (
            CloudKind::Azure,
            accounts.azure.as_ref().map(|a| &a.account_identifiers),
        ),
        (CloudKind::Gcp, accounts.gcp.as_ref().map(|a| &a.account_identifiers)),
    ];
    for (cloud, ids) in listed {
        entries.extend(
            ids.into_iter()
                .flatten()
                .map(|id| Entry::Account(cloud, id.clone()).normal()),
        );
    }
    entries.extend(
        accounts
            .aws
            .iter()
            .flat_map(|a| &a.regions)
            .map(|r| Entry::AwsRegion(r.clone()).normal()),
    );
    DesiredScope {
        user: spec.user_name.trim().to_string(),
        ownership: spec.ownership,
        entries,
        group_names,
        unresolved,
        granted,
    }
}

/// The user's scope after the change the object makes: `observed` plus what
/// it adds, minus what it may remove.
pub fn target(ownership: ScopeOwnership, desired: &Entries, observed: &Entries, granted: &Entries) -> Entries {
    let c = change(ownership, desired, observed, granted);
    observed.difference(&c.remove).cloned().chain(c.add).collect()
}

/// What the object owns after a write that took the scope from `before` to
/// `after`: what it owned and still lists, and what the write added.
pub fn granted_after(desired: &Entries, granted: &Entries, before: &Entries, after: &Entries) -> Entries {
    granted
        .intersection(desired)
        .cloned()
        .chain(after.difference(before).cloned())
        .collect()
}

/// What a user scope owns after a run of `plan`: what it owned and still
/// lists, plus every entry the run set out to add, whether or not Qualys took
/// it. Counting an add that failed as owned is harmless (removing what the
/// user does not have changes nothing); not counting one that went through
/// beside a refused call would leave that access behind for good.
pub fn granted_after_run(u: &DesiredScope, groups: &[crate::qualys::Group], plan: &super::plan::ObjectPlan) -> Entries {
    let (wanted, _) = u.resolve_names(groups);
    let change = plan.actions.iter().find_map(|a| match a {
        super::plan::Action::Update { changes, .. } => changes.iter().find(|c| c.path == "spec.scope"),
        _ => None,
    });
    match change {
        Some(c) => {
            let before = from_keys(&super::plan::string_list(&c.before));
            let after = from_keys(&super::plan::string_list(&c.after));
            granted_after(&wanted, &u.granted, &before, &after)
        }
        None => u.granted.intersection(&wanted).cloned().collect(),
    }
}

/// The calls that take a user's scope from `before` to `after`: one for
/// groups, one per cloud for accounts (and AWS regions), each only when it
/// changes something.
pub struct ScopeCalls {
    pub groups: Option<(Vec<String>, Vec<String>)>,
    /// Per cloud: accounts to add and remove, AWS regions to add and remove.
    pub accounts: Vec<(CloudKind, [Vec<String>; 4])>,
}

pub fn calls(before: &Entries, after: &Entries) -> ScopeCalls {
    let add: Vec<&Entry> = after.difference(before).collect();
    let remove: Vec<&Entry> = before.difference(after).collect();
    let groups = |list: &[&Entry]| -> Vec<String> {
        list.iter()
            .filter_map(|e| match e {
                Entry::Group(uuid) => Some(uuid.clone()),
                _ => None,
            })
            .collect()
    };
    let accounts = |list: &[&Entry], cloud: CloudKind| -> Vec<String> {
        list.iter()
            .filter_map(|e| match e {
                Entry::Account(c, id) if *c == cloud => Some(id.clone()),
                _ => None,
            })
            .collect()
    };
    let regions = |list: &[&Entry]| -> Vec<String> {
        list.iter()
            .filter_map(|e| match e {
                Entry::AwsRegion(r) => Some(r.clone()),
                _ => None,
            })
            .collect()
    };
    let (group_add, group_remove) = (groups(&add), groups(&remove));
    let per_cloud = SCOPE_CLOUDS
        .into_iter()
        .map(|cloud| {
            let (add_regions, remove_regions) = if cloud == CloudKind::Aws {
                (regions(&add), regions(&remove))
            } else {
                (Vec::new(), Vec::new())
            };
            (
                cloud,
                [
                    accounts(&add, cloud),
                    accounts(&remove, cloud),
                    add_regions,
                    remove_regions,
                ],
            )
        })
        .filter(|(_, lists)| lists.iter().any(|l| !l.is_empty()))
        .collect();
    ScopeCalls {
        groups: (!group_add.is_empty() || !group_remove.is_empty()).then_some((group_add, group_remove)),
        accounts: per_cloud,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry() -> impl Strategy<Value = Entry> {
        prop_oneof![
            (0u8..6).prop_map(|i| Entry::Group(format!("0000000{i}-0000-4000-8000-000000000000"))),
            (0u8..6).prop_map(|i| Entry::Account(CloudKind::Aws, format!("11111111111{i}"))),
            (0u8..4).prop_map(|i| Entry::Account(CloudKind::Gcp, format!("project-{i}"))),
            (0u8..4).prop_map(|i| Entry::AwsRegion(format!("us-east-{i}"))),
        ]
    }

    fn entries() -> impl Strategy<Value = Entries> {
        proptest::collection::btree_set(entry(), 0..10)
    }

    fn apply(observed: &Entries, change: &ScopeChange) -> Entries {
        observed
            .difference(&change.remove)
            .cloned()
            .chain(change.add.iter().cloned())
            .collect()
    }

    proptest! {
        #[test]
        fn listed_never_removes_what_it_did_not_grant(desired in entries(), observed in entries(), granted in entries()) {
            let c = change(ScopeOwnership::Listed, &desired, &observed, &granted);
            prop_assert!(c.remove.is_subset(&granted), "removes {:?} not granted {:?}", c.remove, granted);
            prop_assert!(c.remove.is_subset(&observed));
            prop_assert!(c.add.is_disjoint(&observed));
            let after = apply(&observed, &c);
            prop_assert!(desired.is_subset(&after));
            // Everything the user had that the object does not own survives.
            let foreign: Entries = observed.difference(&granted).cloned().collect();
            prop_assert!(foreign.is_subset(&after));
            prop_assert!(c.granted.is_subset(&desired));
        }

        #[test]
        fn all_makes_the_scope_exactly_the_spec(desired in entries(), observed in entries(), granted in entries()) {
            let c = change(ScopeOwnership::All, &desired, &observed, &granted);
            prop_assert_eq!(apply(&observed, &c), desired);
        }

        #[test]
        fn a_second_pass_changes_nothing(desired in entries(), observed in entries(), granted in entries(), all in any::<bool>()) {
            let ownership = if all { ScopeOwnership::All } else { ScopeOwnership::Listed };
            let first = change(ownership, &desired, &observed, &granted);
            let after = apply(&observed, &first);
            let second = change(ownership, &desired, &after, &first.granted);
            prop_assert!(second.is_empty(), "{second:?}");
            prop_assert_eq!(second.granted, first.granted);
        }

        #[test]
        fn release_removes_exactly_what_was_granted_and_is_still_there(observed in entries(), granted in entries()) {
            let removed = release(&observed, &granted);
            prop_assert!(removed.is_subset(&granted) && removed.is_subset(&observed));
            prop_assert_eq!(removed.len(), granted.intersection(&observed).count());
        }

        #[test]
        fn keys_round_trip(e in entry()) {
            prop_assert_eq!(Entry::from_key(&e.key()), Some(e.normal()));
        }
    }

    #[test]
    fn an_entry_the_user_had_before_is_not_owned_and_never_removed() {
        let by_hand = Entry::Account(CloudKind::Aws, "123456789012".into());
        let listed = Entries::from([by_hand.clone()]);
        let c = change(ScopeOwnership::Listed, &listed, &listed, &Entries::new());
        assert!(c.is_empty() && c.granted.is_empty(), "{c:?}");
        // The spec drops it: still not removed.
        let c = change(ScopeOwnership::Listed, &Entries::new(), &listed, &c.granted);
        assert!(c.remove.is_empty());
    }

    #[test]
    fn upper_case_guids_are_one_entry() {
        let upper = Entry::Group("52660405-27D3-3F69-B764-B0061AB4C494".into()).normal();
        let lower = Entry::Group("52660405-27d3-3f69-b764-b0061ab4c494".into());
        assert_eq!(upper, lower);
        let sub = Entry::Account(CloudKind::Azure, " 2E0C1660-AAAA-4BBB-8CCC-DDDDDDDDDDDD".into()).normal();
        assert_eq!(sub.key(), "AZURE:2e0c1660-aaaa-4bbb-8ccc-dddddddddddd");
    }
}
