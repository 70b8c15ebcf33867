//! Which objects of a kind reference a Secret.
//!
//! Answering by serialising every object on every Secret event is quadratic
//! when each connector has its own Secret: a restart lists N Secrets and
//! would serialise the whole store for each. Here an object is read once per
//! resourceVersion; later Secret events cost one map lookup per object.

use std::collections::HashMap;
use std::sync::Mutex;

use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};

use super::reconciler::Reconciled;
use crate::reconcile::build::secret_refs;

pub struct SecretReferences<K: Reconciled> {
    store: Store<K>,
    read: Mutex<HashMap<ObjectRef<K>, Read>>,
}

/// The Secret names one version of an object references.
struct Read {
    version: Option<String>,
    secrets: Vec<String>,
}

impl<K: Reconciled> SecretReferences<K> {
    pub fn new(store: Store<K>) -> Self {
        Self {
            store,
            read: Mutex::default(),
        }
    }

    /// Objects in `namespace` that reference Secret `name`.
    pub fn of(&self, namespace: &str, name: &str) -> Vec<ObjectRef<K>> {
        // A panic elsewhere while holding the lock leaves a cache that is
        // at worst stale by resourceVersion, which this function re-checks.
        let mut read = self.read.lock().unwrap_or_else(|p| p.into_inner());
        let mut previous = std::mem::take(&mut *read);
        let mut hits = Vec::new();
        for object in self.store.state() {
            let reference = ObjectRef::from_obj(&*object);
            let version = object.resource_version();
            let secrets = match previous.remove(&reference) {
                Some(r) if r.version == version => r.secrets,
                _ => secret_names(&*object),
            };
            if object.namespace().as_deref() == Some(namespace) && secrets.iter().any(|s| s == name) {
                hits.push(reference.clone());
            }
            // Rebuilt from the store each time, so deleted objects drop out.
            read.insert(reference, Read { version, secrets });
        }
        hits
    }
}

fn secret_names<K: Reconciled>(object: &K) -> Vec<String> {
    serde_json::to_value(object)
        .map(|v| secret_refs(&v).into_iter().map(|(_, r)| r.name).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use kube::runtime::reflector::store;
    use kube::runtime::watcher::Event;
    use serde_json::json;

    use super::*;
    use crate::crd::GcpConnector;

    fn gcp(name: &str, namespace: &str, secret: &str, version: &str) -> GcpConnector {
        serde_json::from_value(json!({
            "apiVersion": "qualys-operator.io/v1alpha1",
            "kind": "GcpConnector",
            "metadata": {"name": name, "namespace": namespace, "resourceVersion": version},
            "spec": {
                "name": name,
                "projectId": "project-1",
                "serviceAccountKeySecretRef": {"name": secret, "key": "key.json"},
            },
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn follows_spec_changes_namespaces_and_deletions() {
        let (reader, mut writer) = store::<GcpConnector>();
        writer.apply_watcher_event(&Event::Apply(gcp("a", "ns1", "key-a", "1")));
        writer.apply_watcher_event(&Event::Apply(gcp("b", "ns1", "shared", "1")));
        writer.apply_watcher_event(&Event::Apply(gcp("c", "ns2", "shared", "1")));
        let index = SecretReferences::new(reader);
        let names = |refs: Vec<ObjectRef<GcpConnector>>| refs.into_iter().map(|r| r.name).collect::<Vec<_>>();

        assert_eq!(names(index.of("ns1", "key-a")), ["a"]);
        assert_eq!(names(index.of("ns1", "shared")), ["b"]);
        assert_eq!(names(index.of("ns2", "shared")), ["c"]);

        // A new resourceVersion is read again: `a` now uses the shared Secret.
        writer.apply_watcher_event(&Event::Apply(gcp("a", "ns1", "shared", "2")));
        assert!(index.of("ns1", "key-a").is_empty());
        let mut shared = names(index.of("ns1", "shared"));
        shared.sort();
        assert_eq!(shared, ["a", "b"]);

        writer.apply_watcher_event(&Event::Delete(gcp("b", "ns1", "shared", "2")));
        assert_eq!(names(index.of("ns1", "shared")), ["a"]);
    }
}
