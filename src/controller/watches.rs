//! The watch of one kind, made safe to run unattended: an object that cannot
//! be read as its kind is quarantined (logged, Event recorded, left out)
//! instead of failing every list of the kind.

use futures::{Stream, StreamExt};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::core::DeserializeGuard;
use kube::core::error_boundary::InvalidObject;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::watcher;
use kube::{Client, Resource};
use serde::de::DeserializeOwned;

/// Resolves once a watch has delivered its first complete list: `/readyz`
/// waits for every one. (Not `Store::wait_until_ready`: its one-shot wakes
/// only the last of several waiters, and the controller is one of them.)
pub type Synced = futures::future::BoxFuture<'static, ()>;

/// EVENTS unchanged, and a [`Synced`] for their first `InitDone`.
pub fn first_list<K, S>(events: S) -> (impl Stream<Item = S::Item> + Send + 'static, Synced)
where
    S: Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let mut tx = Some(tx);
    let events = events.inspect(move |event| {
        if matches!(event, Ok(watcher::Event::InitDone))
            && let Some(tx) = tx.take()
        {
            let _ = tx.send(());
        }
    });
    let synced = Box::pin(async move {
        // The stream was dropped unsynced: the controller stopped, and a
        // stopping replica is not ready.
        if rx.await.is_err() {
            futures::future::pending::<()>().await;
        }
    });
    (events, synced)
}

/// The watch events of `K` with unreadable objects taken out.
pub fn guarded<K>(
    client: &Client,
    namespace: Option<&str>,
    config: watcher::Config,
    recorder: Recorder,
) -> impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + DeserializeOwned
        + Clone
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    watcher(super::scoped::<DeserializeGuard<K>>(client, namespace), config).filter_map(move |event| {
        let recorder = recorder.clone();
        async move {
            match event {
                Err(e) => Some(Err(e)),
                Ok(event) => readable(event, &recorder).await.map(Ok),
            }
        }
    })
}

/// The event for the readable object; `None` for an unreadable one, which is
/// reported. Its deletion needs nothing: it never entered the cache.
async fn readable<K>(event: watcher::Event<DeserializeGuard<K>>, recorder: &Recorder) -> Option<watcher::Event<K>>
where
    K: Resource<DynamicType = ()>,
{
    match sort(event) {
        Ok(event) => event,
        Err(bad) => quarantine::<K>(*bad, recorder).await,
    }
}

/// The event of a readable object, `Ok(None)` for a deleted unreadable one,
/// `Err` for one to report.
fn sort<K>(event: watcher::Event<DeserializeGuard<K>>) -> Result<Option<watcher::Event<K>>, Box<InvalidObject>> {
    Ok(Some(match event {
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitDone => watcher::Event::InitDone,
        watcher::Event::Apply(g) => watcher::Event::Apply(g.0.map_err(Box::new)?),
        watcher::Event::InitApply(g) => watcher::Event::InitApply(g.0.map_err(Box::new)?),
        watcher::Event::Delete(g) => return Ok(g.0.ok().map(watcher::Event::Delete)),
    }))
}

async fn quarantine<K>(bad: InvalidObject, recorder: &Recorder) -> Option<watcher::Event<K>>
where
    K: Resource<DynamicType = ()>,
{
    let meta = &bad.metadata;
    let kind = K::kind(&());
    let name = meta.name.clone().unwrap_or_default();
    let namespace = meta.namespace.clone().unwrap_or_default();
    tracing::error!(
        kind = %kind,
        namespace = %namespace,
        name = %name,
        error = %bad.error,
        "object cannot be read as its kind and is left alone until it is fixed; the rest of the kind is reconciled"
    );
    let reference = ObjectReference {
        api_version: Some(K::api_version(&()).into_owned()),
        kind: Some(kind.into_owned()),
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        ..ObjectReference::default()
    };
    let event = Event {
        type_: EventType::Warning,
        reason: "Unreadable".into(),
        note: Some(format!(
            "the operator cannot read this object ({}); it is not reconciled until it is fixed",
            bad.error
        )),
        action: "Read".into(),
        secondary: None,
    };
    if let Err(e) = recorder.publish(&event, &reference).await {
        tracing::warn!(error = %e, name = %name, "could not record the Unreadable event");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::AwsConnector;
    use serde_json::json;

    fn guard(spec: serde_json::Value) -> DeserializeGuard<AwsConnector> {
        serde_json::from_value(json!({
            "apiVersion": "qualys-operator.io/v1alpha1",
            "kind": "AwsConnector",
            "metadata": {"name": "x", "namespace": "team-a"},
            "spec": spec,
        }))
        .unwrap_or_else(|e| panic!("a guard always deserializes: {e}"))
    }

    #[test]
    fn an_unreadable_object_is_set_aside_and_the_rest_passes() {
        let good = guard(json!({"arn": "arn:aws:iam::123456789012:role/r", "externalId": "x"}));
        let bad = guard(json!({"arn": 42}));
        assert!(matches!(
            sort(watcher::Event::InitApply(good)),
            Ok(Some(watcher::Event::InitApply(_)))
        ));
        match sort(watcher::Event::Apply(bad.clone())) {
            Err(invalid) => {
                assert_eq!(invalid.metadata.name.as_deref(), Some("x"));
                assert!(
                    invalid.error.contains("arn") || invalid.error.contains("string"),
                    "{}",
                    invalid.error
                );
            }
            other => panic!("expected the object set aside, got {other:?}"),
        }
        assert!(
            matches!(sort(watcher::Event::Delete(bad)), Ok(None)),
            "its deletion needs nothing"
        );
        assert!(matches!(
            sort::<AwsConnector>(watcher::Event::InitDone),
            Ok(Some(watcher::Event::InitDone))
        ));
    }
}
