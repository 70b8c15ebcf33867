//! Which Qualys object a manifest means (DESIGN.md §4): an explicit id, else
//! the id recorded at the last successful create/adopt, else the kind's natural
//! key. Ambiguity stops for a person; nothing is created while a match exists.

use std::collections::BTreeSet;

use crate::crd::AdoptionPolicy;

/// The one normal form of identifiers Qualys and the clouds compare without
/// regard to case (Azure subscription, directory/tenant and application GUIDs,
/// OCI OCIDs): trimmed, lower case. Used on both sides of every comparison and
/// in every write, so a GUID typed in upper case neither diffs forever nor
/// misses its connector in group membership and org attachment.
pub fn guid(id: &str) -> String {
    id.trim().to_ascii_lowercase()
}

/// An app identifier as read back: Azure reads echo the application id where
/// the create sent the default identifier (the subscription, or the org's
/// tenant), quirk Q-COL-6; both mean that default, so it is read as the default.
pub fn read_app_identifier(identifier: String, application_id: Option<&str>, default: Option<&str>) -> String {
    match default {
        Some(default) if application_id.is_some_and(|app| guid(app) == guid(&identifier)) => default.to_string(),
        _ => identifier,
    }
}

/// A Qualys object of the kind being resolved, from the batched snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: String,
    /// Natural key, normalized (AWS account id, Azure subscription, GCP project,
    /// OCI tenancy, org tenant, group name, `global` for the scan configuration).
    pub key: String,
    pub name: String,
    /// Children of an Azure organization connector are never adopted as standalone.
    pub attached_to_org: bool,
}

/// What is known about the object from earlier runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    /// `qualys-operator.io/external-id`: adopt exactly this id.
    pub annotation_id: Option<String>,
    /// Id from status (controller) or the state file (CLI).
    pub external_id: Option<String>,
    /// An AzureOrgConnector manifest lists this object as a member, so a
    /// connector attached to an organization may be this very object.
    pub declared_org_member: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// The object maps to this id.
    Known(String),
    /// Take over this existing id; the reason says how it was found.
    Adopt {
        id: String,
        reason: String,
    },
    /// No Qualys object yet; `note` says why when a known id vanished.
    Create {
        note: Option<String>,
    },
    Conflict(String),
}

/// What Qualys lists for the kind being resolved. An object whose recorded
/// id is listed (every reconcile of a settled object) needs only the lookup;
/// the candidates are built only to match by natural key.
pub trait Listed {
    fn has(&self, id: &str) -> bool;
    fn candidates(&self) -> Vec<Candidate>;
}

impl Listed for [Candidate] {
    fn has(&self, id: &str) -> bool {
        self.iter().any(|c| c.id == id)
    }
    fn candidates(&self) -> Vec<Candidate> {
        self.to_vec()
    }
}

impl<const N: usize> Listed for [Candidate; N] {
    fn has(&self, id: &str) -> bool {
        self.as_slice().has(id)
    }
    fn candidates(&self) -> Vec<Candidate> {
        self.to_vec()
    }
}

/// Ids other objects already map to.
pub trait Claimed {
    fn is_claimed(&self, id: &str) -> bool;
}

impl Claimed for BTreeSet<String> {
    fn is_claimed(&self, id: &str) -> bool {
        self.contains(id)
    }
}

/// Resolve one object. `claimed` holds ids other manifests already map to, so
/// two manifests never adopt the same Qualys object.
pub fn resolve<L: Listed + ?Sized>(
    recorded: &Recorded,
    key: &str,
    policy: AdoptionPolicy,
    listed: &L,
    claimed: &impl Claimed,
) -> Resolution {
    if let Some(id) = &recorded.annotation_id {
        return match listed.has(id) {
            true if recorded.external_id.as_ref() == Some(id) => Resolution::Known(id.clone()),
            true => Resolution::Adopt {
                id: id.clone(),
                reason: "qualys-operator.io/external-id annotation".into(),
            },
            false => Resolution::Conflict(format!(
                "the qualys-operator.io/external-id annotation names {id}, which Qualys does not list for this user \
                 (deleted, or outside the user's scope); fix the annotation or remove it to match by natural key"
            )),
        };
    }
    let mut vanished = None;
    if let Some(id) = &recorded.external_id {
        if listed.has(id) {
            return Resolution::Known(id.clone());
        }
        vanished = Some(id.clone());
    }
    let candidates = listed.candidates();
    let matches: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| c.key == key && (!c.attached_to_org || recorded.declared_org_member) && !claimed.is_claimed(&c.id))
        .collect();
    match matches.as_slice() {
        [] => Resolution::Create {
            note: vanished.map(|id| {
                format!("Qualys object {id} is gone (deleted, or outside the user's scope) and nothing matches {key}")
            }),
        },
        [one] if vanished.is_none() && policy == AdoptionPolicy::MustCreate => Resolution::Conflict(format!(
            "adoptionPolicy is MustCreate but Qualys already has {} ({:?}) for {key}; delete it in Qualys, set the \
             qualys-operator.io/external-id annotation to adopt it, or use AdoptOrCreate",
            one.id, one.name
        )),
        [one] => Resolution::Adopt {
            id: one.id.clone(),
            reason: match vanished {
                Some(old) => format!("{old} is gone; found {key} again"),
                None => format!("natural key {key}"),
            },
        },
        many => Resolution::Conflict(format!(
            "{} Qualys objects match {key}: {}; set the qualys-operator.io/external-id annotation to the one to manage",
            many.len(),
            many.iter()
                .map(|c| format!("{} ({:?})", c.id, c.name))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(id: &str, key: &str) -> Candidate {
        Candidate {
            id: id.into(),
            key: key.into(),
            name: format!("c{id}"),
            attached_to_org: false,
        }
    }

    fn none() -> BTreeSet<String> {
        BTreeSet::new()
    }

    #[test]
    fn one_match_is_adopted_none_is_created() {
        let c = [cand("1", "k"), cand("2", "other")];
        assert!(
            matches!(resolve(&Recorded::default(), "k", AdoptionPolicy::AdoptOrCreate, &c, &none()), Resolution::Adopt { id, .. } if id == "1")
        );
        assert_eq!(
            resolve(&Recorded::default(), "x", AdoptionPolicy::AdoptOrCreate, &c, &none()),
            Resolution::Create { note: None }
        );
    }

    #[test]
    fn two_matches_are_a_conflict_naming_both() {
        let c = [cand("1", "k"), cand("2", "k")];
        let Resolution::Conflict(msg) = resolve(&Recorded::default(), "k", AdoptionPolicy::AdoptOrCreate, &c, &none())
        else {
            panic!("conflict expected")
        };
        assert!(msg.contains("1 (") && msg.contains("2 ("), "{msg}");
    }

    #[test]
    fn must_create_refuses_to_adopt() {
        let c = [cand("1", "k")];
        assert!(
            matches!(resolve(&Recorded::default(), "k", AdoptionPolicy::MustCreate, &c, &none()), Resolution::Conflict(m) if m.contains("MustCreate"))
        );
    }

    #[test]
    fn org_children_and_claimed_ids_are_never_adopted() {
        let mut child = cand("1", "k");
        child.attached_to_org = true;
        let claimed: BTreeSet<String> = ["2".to_string()].into();
        let c = [child, cand("2", "k")];
        assert_eq!(
            resolve(&Recorded::default(), "k", AdoptionPolicy::AdoptOrCreate, &c, &claimed),
            Resolution::Create { note: None }
        );
    }

    #[test]
    fn a_declared_org_member_may_be_found_attached() {
        let mut child = cand("1", "k");
        child.attached_to_org = true;
        let member = Recorded {
            declared_org_member: true,
            ..Recorded::default()
        };
        assert!(
            matches!(resolve(&member, "k", AdoptionPolicy::AdoptOrCreate, &[child], &none()), Resolution::Adopt { id, .. } if id == "1")
        );
    }

    #[test]
    fn a_recorded_id_wins_and_a_vanished_one_searches_first() {
        let c = [cand("7", "k")];
        let known = Recorded {
            external_id: Some("7".into()),
            ..Recorded::default()
        };
        assert_eq!(
            resolve(&known, "k", AdoptionPolicy::MustCreate, &c, &none()),
            Resolution::Known("7".into())
        );
        let vanished = Recorded {
            external_id: Some("3".into()),
            ..Recorded::default()
        };
        assert!(
            matches!(resolve(&vanished, "k", AdoptionPolicy::MustCreate, &c, &none()), Resolution::Adopt { id, .. } if id == "7")
        );
        let Resolution::Create { note: Some(note) } =
            resolve(&vanished, "zzz", AdoptionPolicy::AdoptOrCreate, &c, &none())
        else {
            panic!("create with a note expected")
        };
        assert!(note.contains('3'));
    }

    #[test]
    fn annotation_must_exist() {
        let c = [cand("7", "k")];
        let rec = Recorded {
            annotation_id: Some("9".into()),
            ..Recorded::default()
        };
        assert!(matches!(
            resolve(&rec, "k", AdoptionPolicy::AdoptOrCreate, &c, &none()),
            Resolution::Conflict(_)
        ));
        let rec = Recorded {
            annotation_id: Some("7".into()),
            ..Recorded::default()
        };
        assert!(matches!(
            resolve(&rec, "other", AdoptionPolicy::AdoptOrCreate, &c, &none()),
            Resolution::Adopt { .. }
        ));
    }
}
