//! The controller's create guard (DESIGN.md §4): intent is recorded on the
//! object with optimistic concurrency before a create call, the id right
//! after. A crash in between leaves `create-pending` without a result, and the
//! next reconcile searches by natural key before it may create again.

use futures::future::BoxFuture;
use jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::reconcile::build::{ANNOTATION_CREATE_PENDING, ANNOTATION_CREATE_SUCCEEDED};
use crate::reconcile::execute::CreateGuard;
use crate::reconcile::object::DesiredObject;

pub struct KubeGuard<K: Resource> {
    pub api: Api<K>,
    pub name: String,
    /// The resourceVersion the reconcile read; a newer one aborts the create.
    pub resource_version: Option<String>,
}

impl<K> CreateGuard for KubeGuard<K>
where
    K: Resource + Clone + Serialize + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    fn before_create<'a>(&'a self, _obj: &'a DesiredObject) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            // A merge patch carrying metadata.resourceVersion is a compare-and-swap:
            // the API server answers 409 if anyone (another replica) wrote since.
            let patch = json!({
                "metadata": {
                    "resourceVersion": self.resource_version,
                    "annotations": { ANNOTATION_CREATE_PENDING: Timestamp::now().to_string() }
                }
            });
            self.api
                .patch(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map(|_| ())
                .map_err(|e| format!("recording create intent: {e}"))
        })
    }

    fn after_create<'a>(&'a self, _obj: &'a DesiredObject, id: &'a str) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let patch = json!({
                "metadata": { "annotations": { ANNOTATION_CREATE_PENDING: null, ANNOTATION_CREATE_SUCCEEDED: id } }
            });
            let mut last = String::new();
            // The Qualys object exists now: losing its id would leak it, so try hard.
            for attempt in 0..5u64 {
                match self
                    .api
                    .patch(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                {
                    Ok(_) => return Ok(()),
                    Err(e) => last = e.to_string(),
                }
                tokio::time::sleep(std::time::Duration::from_millis(200 * (attempt + 1))).await;
            }
            Err(format!("recording created id {id}: {last}"))
        })
    }
}
