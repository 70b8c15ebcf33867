//! Which Qualys object an object may act on, checked before any plan
//! (DESIGN.md §4): one object per Qualys object and account, whatever named
//! the id; an id missing from a read older than the operator's last write to
//! it is unknown, not gone; an unanswered create is resolved by natural key.

use std::collections::BTreeSet;

use kube::Resource;
use serde_json::Value;

use super::context::Shared;
use super::observer::Seen;
use crate::reconcile::identity::{self, Listed, Resolution};
use crate::reconcile::object::{DesiredObject, Kind};
use crate::reconcile::snapshot::Snapshot;

fn status_id(object: &Value) -> Option<&str> {
    object
        .pointer("/status/externalId")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
}

/// Why `me` may not act on an id it names because another object holds it:
/// the id comes from the external-id annotation, status, or create-succeeded.
pub fn foreign_claim(
    shared: &Shared,
    account: &str,
    desired: &DesiredObject,
    me: &str,
    obj: &impl Resource,
    object: &Value,
) -> Option<String> {
    // The account's one global configuration has its own rule (the planner's).
    if desired.kind == Kind::GlobalScan {
        return None;
    }
    let recorded = status_id(object);
    let created = obj.meta().creation_timestamp.as_ref().map(|t| t.0);
    let named = [
        desired.recorded.annotation_id.as_deref(),
        desired.recorded.external_id.as_deref(),
    ];
    named.into_iter().flatten().find_map(|id| {
        let holder = shared.holder(account, desired.kind, id, me, recorded == Some(id), created)?;
        let source = if desired.recorded.annotation_id.as_deref() == Some(id) {
            "the qualys-operator.io/external-id annotation"
        } else if recorded == Some(id) {
            "status.externalId"
        } else {
            "the qualys-operator.io/create-succeeded annotation"
        };
        Some(format!(
            "Qualys {} {id}, named by {source}, is held by {holder}: one object per Qualys object, so nothing is \
             written or deleted for this one; remove the annotation, or delete {holder} first",
            desired.kind
        ))
    })
}

/// An id the object names that the operator wrote after `seen` was read:
/// until a refresh that started after the write, the object is unknown (never
/// taken for gone, never planned from its old state).
pub fn unconfirmed(shared: &Shared, account: &str, desired: &DesiredObject, seen: &Seen) -> Option<String> {
    let named = [
        desired.recorded.external_id.as_deref(),
        desired.recorded.annotation_id.as_deref(),
    ];
    // Listed or not: a read older than the write shows the object as it was,
    // and planning from it would write the same change again.
    named
        .into_iter()
        .flatten()
        .find(|id| !shared.observers.read_after_write(account, desired.kind, id, seen))
        .map(|id| {
            format!(
                "Qualys {} {id} was written and has not been read since; waiting for the next refresh before \
                 concluding anything about it",
                desired.kind
            )
        })
}

/// Resolve a create that was never answered, for a deletion: the single
/// unclaimed Qualys object matching the natural key is what the create made
/// (`None`: it made nothing). The snapshot was read after the create.
pub fn settle_pending(
    shared: &Shared,
    account: &str,
    desired: &DesiredObject,
    me: &str,
    snapshot: &Snapshot,
) -> Result<Option<String>, String> {
    if desired.recorded.annotation_id.is_some() {
        return Ok(None);
    }
    let claimed: BTreeSet<String> = shared
        .claims(account, desired.kind)
        .iter()
        .filter(|(_, holder)| holder.as_str() != me)
        .map(|(id, _)| id.clone())
        .collect();
    let key = desired.natural_key();
    match identity::resolve(
        &desired.recorded,
        &key,
        crate::crd::AdoptionPolicy::AdoptOrCreate,
        &snapshot.listed(desired.kind),
        &claimed,
    ) {
        Resolution::Adopt { id, .. } | Resolution::Known(id) => Ok(Some(id)),
        Resolution::Create { .. } => Ok(None),
        Resolution::Conflict(reason) => Err(format!(
            "the create of this object was never answered and cannot be resolved: {reason}; delete the right one \
             in Qualys, then remove the qualys-operator.io/create-pending annotation"
        )),
    }
}

/// A `create-succeeded` id with nothing in status to back it is trusted only
/// when the Qualys object it names has this object's natural key: it is an
/// annotation, which anyone who may edit the object can write.
pub fn foreign_create(desired: &DesiredObject, object: &Value, snapshot: &Snapshot) -> Option<String> {
    let id = desired.recorded.external_id.as_deref()?;
    if status_id(object).is_some() || desired.recorded.annotation_id.is_some() {
        return None;
    }
    let key = desired.natural_key();
    let found = snapshot
        .listed(desired.kind)
        .candidates()
        .into_iter()
        .find(|c| c.id == id)?;
    (found.key != key).then(|| {
        format!(
            "the qualys-operator.io/create-succeeded annotation names Qualys {} {id}, which is for {} and not this \
             object's {key}; this object did not create it: remove the annotation",
            desired.kind, found.key
        )
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::qualys::{CloudKind, Connector};
    use crate::reconcile::build::build;

    fn object(status_id: Option<&str>, create_succeeded: &str) -> Value {
        let mut o = json!({
            "apiVersion": "qualys-operator.io/v1alpha1",
            "kind": "AwsConnector",
            "metadata": {
                "name": "b", "namespace": "team-b",
                "annotations": {"qualys-operator.io/create-succeeded": create_succeeded}
            },
            "spec": {"arn": "arn:aws:iam::222222222222:role/R", "externalId": "x"}
        });
        if let Some(id) = status_id {
            o["status"] = json!({"externalId": id});
        }
        o
    }

    fn snapshot() -> Snapshot {
        let connector = |id: &str, account: &str| {
            Arc::new(Connector {
                id: Some(id.into()),
                arn: Some(format!("arn:aws:iam::{account}:role/R")),
                ..Connector::default()
            })
        };
        Snapshot {
            connectors: [(
                CloudKind::Aws,
                vec![connector("7", "111111111111"), connector("8", "222222222222")],
            )]
            .into(),
            ..Snapshot::default()
        }
    }

    #[test]
    fn create_succeeded_without_status_is_trusted_only_for_the_objects_own_key() {
        let foreign = object(None, "7");
        let desired = build(&foreign, &Default::default()).expect("builds");
        let message = foreign_create(&desired, &foreign, &snapshot()).expect("refused");
        assert!(message.contains('7') && message.contains("111111111111"), "{message}");

        let own = object(None, "8");
        let desired = build(&own, &Default::default()).expect("builds");
        assert_eq!(foreign_create(&desired, &own, &snapshot()), None);

        // Status records it: the operator's own history, trusted.
        let recorded = object(Some("7"), "7");
        let desired = build(&recorded, &Default::default()).expect("builds");
        assert_eq!(foreign_create(&desired, &recorded, &snapshot()), None);
    }
}
