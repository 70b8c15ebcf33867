//! `qualys-operator run`: one kube-runtime `Controller` per kind in one
//! process, sharing one shutdown signal, the account registry, the
//! observation hub and the metrics; leader election decides which replica acts.

mod account_status;
mod accounts;
mod budget;
mod claims;
pub mod conditions;
mod context;
mod guard;
mod leader;
mod observer;
mod reconciler;
mod secret_index;
mod server;
pub mod status;
mod watches;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret as KubeSecret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Controller;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, predicates, watcher};
use kube::{Api, Client, CustomResourceExt, ResourceExt};
use tokio::sync::watch;

pub use accounts::AccountError;
use context::{Context, IdRecord, Settings, Shared, View};
pub use reconciler::FINALIZER;
use reconciler::{Reconciled, error_policy, reconcile};
use secret_index::SecretReferences;

use crate::crd::common::QualysStatus;
use crate::crd::group::MemberKind;
use crate::crd::{
    AwsConnector, AzureConnector, AzureOrgConnector, CloudViewReport, ConnectorGroup, GcpConnector,
    GlobalScanConfiguration, OciConnector, QualysAccount, SnapshotScanRegistration, UserScope,
};
use crate::metrics::Metrics;
use crate::reconcile::account::UrlOverrides;
use crate::reconcile::build::ANNOTATION_CREATE_SUCCEEDED;
use crate::reconcile::connector::aws_account_of;
use crate::reconcile::group::MemberCandidate;
use crate::reconcile::object::Kind;
use crate::telemetry::LogFormat;

/// Flags of `qualys-operator run`; each has an environment variable.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Namespaces to watch (repeatable or comma-separated); all when omitted.
    #[arg(long = "namespace", env = "QUALYS_OPERATOR_NAMESPACES", value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// Only reconcile objects matching this label selector (to shard across deployments).
    #[arg(long, env = "QUALYS_OPERATOR_LABEL_SELECTOR")]
    pub label_selector: Option<String>,
    #[arg(long, env = "QUALYS_OPERATOR_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    #[arg(long, env = "QUALYS_OPERATOR_LEADER_ELECTION")]
    pub leader_election: bool,
    #[arg(long, env = "QUALYS_OPERATOR_LEASE_NAME", default_value = "qualys-operator")]
    pub lease_name: String,
    /// Namespace of the Lease (the pod's namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub lease_namespace: String,
    /// Identity in the Lease and Events (the pod name).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// How long followers wait, from when they saw the last renewal, before taking the lease.
    #[arg(long, env = "QUALYS_OPERATOR_LEASE_DURATION", default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,
    /// How long the leader keeps writing to Qualys without renewing; shorter than the lease duration.
    #[arg(long, env = "QUALYS_OPERATOR_LEASE_RENEW_DEADLINE", default_value = "10s", value_parser = parse_duration)]
    pub lease_renew_deadline: Duration,
    /// Pause between attempts to acquire or renew the lease; shorter than the renew deadline.
    #[arg(long, env = "QUALYS_OPERATOR_LEASE_RETRY_PERIOD", default_value = "2s", value_parser = parse_duration)]
    pub lease_retry_period: Duration,
    #[arg(long, env = "QUALYS_OPERATOR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Plain)]
    pub log_format: LogFormat,
    /// `NAMESPACE/NAME` of the QualysAccount used by objects without `spec.accountRef`.
    #[arg(long, env = "QUALYS_OPERATOR_DEFAULT_ACCOUNT")]
    pub default_account: Option<String>,
    #[arg(long, env = "QUALYS_OPERATOR_MAX_CONCURRENT_RECONCILES", default_value_t = 4)]
    pub max_concurrent_reconciles: u16,
    /// Default resync interval (objects may set their own, at least 1m).
    #[arg(long, env = "QUALYS_OPERATOR_RESYNC_INTERVAL", default_value = "10m", value_parser = parse_duration)]
    pub resync_interval: Duration,
    /// Floor for any resync interval (tests lower it; the CRD already refuses less than 1m per object).
    #[arg(long, env = "QUALYS_OPERATOR_MIN_RESYNC_INTERVAL", default_value = "1m", value_parser = parse_duration, hide = true)]
    pub min_resync_interval: Duration,
    /// How soon an object Qualys is still synchronising (a new connector not
    /// yet SUCCESS) is looked at again; each look may refresh its kind once
    /// for every such object.
    #[arg(long, env = "QUALYS_OPERATOR_CREATING_REQUEUE", default_value = "15s", value_parser = parse_duration)]
    pub creating_requeue: Duration,
    /// Longest one Qualys HTTP call may take, request sent to answer read.
    #[arg(long, env = "QUALYS_OPERATOR_QUALYS_REQUEST_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub qualys_request_timeout: Duration,
    /// Longest one refresh of a kind's shared snapshot (every page of its
    /// search, retries included) may take; objects waiting on it are told why.
    #[arg(long, env = "QUALYS_OPERATOR_QUALYS_SEARCH_TIMEOUT", default_value = "2m", value_parser = parse_duration)]
    pub qualys_search_timeout: Duration,
    /// Override every account's Qualys URLs (tests and air-gapped mirrors).
    #[arg(long, env = "QUALYS_OPERATOR_QUALYS_URL", hide = true)]
    pub qualys_url_override: Option<String>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let d: jiff::SignedDuration = text
        .parse()
        .or_else(|_| {
            let secs: i64 = text
                .strip_suffix('s')
                .map(|n| n.parse())
                .or_else(|| text.strip_suffix('m').map(|n| n.parse::<i64>().map(|m| m * 60)))
                .or_else(|| text.strip_suffix('h').map(|n| n.parse::<i64>().map(|h| h * 3600)))
                .ok_or(())?
                .map_err(|_| ())?;
            Ok::<_, ()>(jiff::SignedDuration::from_secs(secs))
        })
        .map_err(|()| format!("{text:?} is not a duration like 10m, 90s or 1h"))?;
    Duration::try_from(d).map_err(|e| e.to_string())
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("connecting to Kubernetes: {0}")]
    Kube(#[from] kube::Error),
    #[error("{0}")]
    Setup(String),
}

/// The CRDs this operator needs, checked at start-up with a message that says what to do.
async fn check_crds(client: &Client) -> Result<(), RunError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let wanted = [
        QualysAccount::crd_name(),
        AwsConnector::crd_name(),
        AzureConnector::crd_name(),
        GcpConnector::crd_name(),
        OciConnector::crd_name(),
        AzureOrgConnector::crd_name(),
        ConnectorGroup::crd_name(),
        UserScope::crd_name(),
        SnapshotScanRegistration::crd_name(),
        CloudViewReport::crd_name(),
        GlobalScanConfiguration::crd_name(),
    ];
    let mut missing = Vec::new();
    for name in wanted {
        if api.get_opt(name).await?.is_none() {
            missing.push(name);
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(RunError::Setup(format!(
            "CRDs not installed: {}. Install them with `kubectl apply -f crds/` (or `qualys-operator crds | kubectl apply -f -`)",
            missing.join(", ")
        )))
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => futures::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = futures::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// Objects of `K` whose Qualys object changed in a snapshot refresh: they are
/// reconciled now rather than at their next resync (DESIGN.md §3).
fn woken<K: Reconciled>(
    shared: &Arc<Shared>,
    kind: Kind,
) -> impl futures::Stream<Item = ObjectRef<K>> + Send + 'static {
    let shared = shared.clone();
    let changes = futures::stream::unfold(shared.observers.subscribe(), |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(changed) => return Some((changed, rx)),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    changes.flat_map(move |changed| {
        let objects = if changed.kind == kind {
            shared.objects_for(&changed.account, kind, &changed.ids)
        } else {
            Vec::new()
        };
        let refs: Vec<ObjectRef<K>> = objects
            .iter()
            .filter_map(|reference| {
                let mut parts = reference.splitn(3, '/');
                let (_, ns, name) = (parts.next()?, parts.next()?, parts.next()?);
                Some(ObjectRef::new(name).within(ns))
            })
            .collect();
        futures::stream::iter(refs)
    })
}

fn labels_of(o: &impl kube::Resource) -> std::collections::BTreeMap<String, String> {
    o.meta().labels.clone().unwrap_or_default()
}

/// What `extract` finds in the cached objects of one namespace.
fn view<K: Reconciled, T: 'static>(store: &Store<K>, extract: fn(&K) -> Vec<T>) -> View<T> {
    let cache = store.clone();
    Box::new(move |ns: &str| {
        cache
            .state()
            .iter()
            .filter(|o| o.namespace().as_deref() == Some(ns))
            .flat_map(|o| extract(o))
            .collect()
    })
}

/// Whether the object's Qualys connector exists: its id is in status, or
/// the create-succeeded annotation recorded it before status was written.
fn has_connector(o: &impl kube::Resource, status: Option<&QualysStatus>) -> bool {
    status.and_then(|s| s.external_id.as_ref()).is_some()
        || o.meta()
            .annotations
            .as_ref()
            .and_then(|a| a.get(ANNOTATION_CREATE_SUCCEEDED))
            .is_some_and(|id| !id.is_empty())
}

/// A connector object as a group member candidate (the account id a group
/// lists it by); none when its spec names no account.
fn candidate(
    kind: MemberKind,
    o: &impl kube::Resource,
    account: Option<String>,
    status: Option<&QualysStatus>,
    settings: &crate::crd::ConnectorSettings,
) -> Vec<MemberCandidate> {
    let waiting = !has_connector(o, status);
    account
        .map(|account| MemberCandidate {
            kind,
            name: o.meta().name.clone().unwrap_or_default(),
            labels: labels_of(o),
            account,
            waiting,
            // A create that reported an error: nothing to wait for.
            stalled: waiting && status.is_some_and(|s| s.last_error.is_some()),
            // Apps not managed by the spec: what Qualys reports decides.
            cloudview: settings.apps.as_ref().map(|apps| {
                apps.iter().any(|a| {
                    matches!(
                        a.name,
                        crate::crd::AppName::CloudInventory | crate::crd::AppName::CloudSecurityAssessment
                    )
                })
            }),
        })
        .into_iter()
        .collect()
}

fn aws_member(c: &AwsConnector) -> Vec<MemberCandidate> {
    let status = c.status.as_ref().map(|s| &s.common);
    candidate(
        MemberKind::AwsConnector,
        c,
        aws_account_of(&c.spec.arn),
        status,
        &c.spec.settings,
    )
}

fn azure_member(c: &AzureConnector) -> Vec<MemberCandidate> {
    let status = c.status.as_ref().map(|s| &s.common);
    candidate(
        MemberKind::AzureConnector,
        c,
        Some(crate::reconcile::identity::guid(&c.spec.subscription_id)),
        status,
        &c.spec.settings,
    )
}

fn gcp_member(c: &GcpConnector) -> Vec<MemberCandidate> {
    let status = c.status.as_ref().map(|s| &s.common);
    candidate(
        MemberKind::GcpConnector,
        c,
        Some(c.spec.project_id.clone()),
        status,
        &c.spec.settings,
    )
}

/// What claims read from every kind's objects: the account and the Qualys id
/// their status records.
trait Records {
    fn account_ref(&self) -> Option<&str>;
    fn recorded_id(&self) -> Option<&str>;
}

macro_rules! records {
    ($($k:ty),*) => {$(
        impl Records for $k {
            fn account_ref(&self) -> Option<&str> {
                self.spec.management.account_ref.as_ref().map(|r| r.name.as_str())
            }
            fn recorded_id(&self) -> Option<&str> {
                self.status.as_ref().and_then(|s| s.common.external_id.as_deref()).filter(|id| !id.is_empty())
            }
        }
    )*};
}

records!(
    AwsConnector,
    AzureConnector,
    GcpConnector,
    OciConnector,
    AzureOrgConnector,
    ConnectorGroup,
    UserScope,
    SnapshotScanRegistration,
    CloudViewReport,
    GlobalScanConfiguration
);

/// The cached objects whose status records an id.
fn recorders<K: Reconciled + Records>(store: &Store<K>, kind: Kind) -> context::IdRecords {
    let cache = store.clone();
    Box::new(move |id: &str| {
        cache
            .state_filter(|o| o.recorded_id() == Some(id))
            .iter()
            .map(|o| {
                let namespace = o.namespace().unwrap_or_default();
                IdRecord {
                    reference: format!("{kind}/{namespace}/{}", o.name_any()),
                    namespace,
                    account_ref: o.account_ref().map(str::to_string),
                    created: o.meta().creation_timestamp.as_ref().map(|t| t.0),
                }
            })
            .collect()
    })
}

/// An Api for one namespace, or all.
fn scoped<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Changes to objects of `R` in one namespace (or all), metadata only.
fn related<R>(
    client: &Client,
    namespace: Option<&str>,
) -> impl futures::Stream<Item = Result<PartialObjectMeta<R>, watcher::Error>> + Send + 'static
where
    R: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    watcher(
        scoped::<PartialObjectMeta<R>>(client, namespace),
        watcher::Config::default(),
    )
    .touched_objects()
}

fn all_in_store<K: Reconciled>(store: &Store<K>) -> Vec<ObjectRef<K>> {
    store.state().iter().map(|o| ObjectRef::from_obj(&**o)).collect()
}

/// One controller for kind `K` in one namespace (or all).
/// What every kind's controller shares in one run.
#[derive(Clone)]
struct Common<'a> {
    config: &'a watcher::Config,
    reporter: Reporter,
    concurrency: u16,
    shutdown: watch::Receiver<bool>,
}

fn controller<K: Reconciled + Records>(
    shared: Arc<Shared>,
    kind: Kind,
    namespace: Option<&str>,
    common: Common<'_>,
    views: fn(&Shared, &Store<K>),
    syncs: &mut Vec<watches::Synced>,
) -> futures::future::BoxFuture<'static, ()> {
    let client = shared.client.clone();
    let mut settings = kube::runtime::controller::Config::default().concurrency(common.concurrency);
    if matches!(kind, Kind::Group | Kind::AzureOrg) {
        // A burst of member changes (say, a hundred connectors created) wakes
        // each group or org connector once, not a hundred times.
        settings = settings.debounce(Duration::from_secs(1));
    }
    let (store, writer) = reflector::store();
    let recorder = Recorder::new(client.clone(), common.reporter.clone());
    // The store holds every object for the life of the process. Field
    // managers are about half of each object and nothing here reads them.
    let (events, synced) = watches::first_list(watches::guarded::<K>(
        &client,
        namespace,
        common.config.clone(),
        recorder.clone(),
    ));
    syncs.push(synced);
    let objects = events
        .modify(|o| o.managed_fields_mut().clear())
        .reflect(writer)
        .applied_objects();
    let ctl = Controller::for_stream(objects, store.clone()).with_config(settings);
    views(&shared, &store);
    shared.add_recorders(kind, recorders(&store, kind));
    // Related objects only wake ours, so their metadata is enough: the
    // operator never holds Secret data it does not use.
    let references = SecretReferences::new(store.clone());
    let by_account = store.clone();
    let mut ctl = ctl
        .watches_stream(related::<KubeSecret>(&client, namespace), move |s| {
            references.of(&s.namespace().unwrap_or_default(), &s.name_any())
        })
        .watches_stream(related::<QualysAccount>(&client, namespace), move |_| {
            all_in_store(&by_account)
        });
    // Groups follow their members' account ids; orgs their members' Qualys ids.
    if matches!(kind, Kind::Group | Kind::AzureOrg) {
        let s1 = store.clone();
        let s2 = store.clone();
        let s3 = store.clone();
        ctl = ctl.watches_stream(related::<AzureConnector>(&client, namespace), move |_| {
            all_in_store(&s1)
        });
        if kind == Kind::Group {
            ctl = ctl
                .watches_stream(related::<AwsConnector>(&client, namespace), move |_| all_in_store(&s2))
                .watches_stream(related::<GcpConnector>(&client, namespace), move |_| all_in_store(&s3));
        }
    }
    // A user scope follows the uuids of the groups it names.
    if kind == Kind::UserScope {
        let s4 = store.clone();
        ctl = ctl.watches_stream(related::<ConnectorGroup>(&client, namespace), move |_| {
            all_in_store(&s4)
        });
    }
    ctl = ctl.reconcile_on(woken::<K>(&shared, kind));
    let context = Arc::new(Context {
        shared,
        kind,
        recorder,
        reporter: common.reporter,
        failures: Default::default(),
        held: Default::default(),
    });
    let mut stop = common.shutdown;
    let signal = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    Box::pin(
        ctl.graceful_shutdown_on(signal)
            .run(reconcile::<K>, error_policy::<K>, context)
            .for_each(|result| async move {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "controller event");
                }
            }),
    )
}

/// Run the operator until SIGTERM / Ctrl-C.
pub fn run(args: RunArgs) -> std::process::ExitCode {
    crate::telemetry::init(args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run_async(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "operator stopped");
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run_async(args: RunArgs) -> Result<(), RunError> {
    let client = Client::try_default().await?;
    check_crds(&client).await?;
    let metrics = Metrics::new();
    let default_account = match &args.default_account {
        Some(text) => Some(
            text.split_once('/')
                .map(|(ns, n)| (ns.to_string(), n.to_string()))
                .ok_or_else(|| RunError::Setup(format!("--default-account {text:?}: expected NAMESPACE/NAME")))?,
        ),
        None => None,
    };
    let overrides = UrlOverrides {
        api_url: args.qualys_url_override.clone(),
        gateway_url: args.qualys_url_override.clone(),
        cloudview_url: args.qualys_url_override.clone(),
    };
    let settings = Settings {
        resync: args.resync_interval.max(args.min_resync_interval),
        min_resync: args.min_resync_interval,
        search_timeout: args.qualys_search_timeout,
        creating_requeue: args.creating_requeue,
        ..Settings::default()
    };
    let leadership = if args.leader_election {
        leader::Leadership::elected()
    } else {
        leader::Leadership::unelected()
    };
    let accounts = accounts::AccountRegistry::new(
        client.clone(),
        default_account,
        overrides,
        metrics.clone(),
        leadership.clone(),
    )
    .with_request_timeout(args.qualys_request_timeout);
    let shared = Arc::new(Shared::new(client.clone(), accounts, metrics.clone(), settings));

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let ready = Arc::new(AtomicBool::new(false));
    let health = server::Health {
        metrics: metrics.clone(),
        ready: ready.clone(),
    };
    let mut server_stop = shutdown_rx.clone();
    let server = tokio::spawn(server::serve(args.metrics_addr, health, async move {
        let _ = server_stop.wait_for(|s| *s).await;
    }));
    let signal_tx = shutdown_tx.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        signal_tx.send_replace(true);
    });

    let identity = args
        .identity
        .clone()
        .unwrap_or_else(|| format!("{}-{}", hostname(), std::process::id()));
    // The election task releases the lease on shutdown: the process waits for
    // it, or a rolling update would wait a whole lease for the next leader.
    let mut election: Option<tokio::task::JoinHandle<()>> = None;
    if args.leader_election {
        let (leading_tx, mut leading_rx) = watch::channel(false);
        let lease = leader::LeaseConfig {
            name: args.lease_name.clone(),
            namespace: args.lease_namespace.clone(),
            identity: identity.clone(),
            duration: args.lease_duration,
            renew_deadline: args.lease_renew_deadline,
            retry_period: args.lease_retry_period,
        };
        lease.validate().map_err(RunError::Setup)?;
        let lease_client = client.clone();
        let lost_tx = shutdown_tx.clone();
        let leader_metrics = metrics.clone();
        let lease_shutdown = shutdown_rx.clone();
        election = Some(tokio::spawn(async move {
            let result = leader::run(lease_client, lease, leadership, leading_tx, lease_shutdown).await;
            leader_metrics.leader.set(0);
            if let Err(e) = result {
                tracing::error!(error = %e, "leader election failed");
            }
            // Lost or failed: stop everything; the pod restarts as a follower.
            lost_tx.send_replace(true);
        }));
        // A standby is healthy and ready: it only waits for the lease.
        ready.store(true, Ordering::Relaxed);
        tracing::info!(identity = %identity, "waiting for leadership");
        let mut stop = shutdown_rx.clone();
        tokio::select! {
            _ = leading_rx.wait_for(|l| *l) => {}
            _ = stop.wait_for(|s| *s) => {
                let _ = server.await;
                return Ok(());
            }
        }
        metrics.leader.set(1);
        // Now leading: ready again once this replica's caches are synced.
        ready.store(false, Ordering::Relaxed);
    } else {
        metrics.leader.set(1);
    }

    let mut config = watcher::Config::default();
    if let Some(selector) = &args.label_selector {
        config = config.labels(selector);
    }
    let reporter = Reporter {
        controller: "qualys-operator".into(),
        instance: Some(identity),
    };
    let namespaces: Vec<Option<String>> = if args.namespaces.is_empty() {
        vec![None]
    } else {
        args.namespaces.iter().cloned().map(Some).collect()
    };
    let mut controllers = Vec::new();
    let mut syncs = Vec::new();
    for ns in &namespaces {
        let ns = ns.as_deref();
        let common = Common {
            config: &config,
            reporter: reporter.clone(),
            concurrency: args.max_concurrent_reconciles,
            shutdown: shutdown_rx.clone(),
        };
        macro_rules! start {
            ($k:ty, $kind:expr, $views:expr) => {
                controllers.push(controller::<$k>(
                    shared.clone(),
                    $kind,
                    ns,
                    common.clone(),
                    $views,
                    &mut syncs,
                ))
            };
        }
        start!(AwsConnector, Kind::Aws, |s, store| {
            s.add_group_member_view(view(store, aws_member))
        });
        start!(AzureConnector, Kind::Azure, |s, store| {
            s.add_group_member_view(view(store, azure_member))
        });
        start!(GcpConnector, Kind::Gcp, |s, store| {
            s.add_group_member_view(view(store, gcp_member))
        });
        start!(OciConnector, Kind::Oci, |_, _| {});
        start!(AzureOrgConnector, Kind::AzureOrg, |s, store| {
            s.add_org_member_view(view(store, |o| {
                o.spec.members.iter().flatten().map(|m| m.name.clone()).collect()
            }))
        });
        start!(ConnectorGroup, Kind::Group, |_, _| {});
        start!(UserScope, Kind::UserScope, |_, _| {});
        start!(SnapshotScanRegistration, Kind::SnapshotScan, |_, _| {});
        start!(CloudViewReport, Kind::Report, |_, _| {});
        start!(GlobalScanConfiguration, Kind::GlobalScan, |_, _| {});
    }
    for ns in &namespaces {
        let api: Api<QualysAccount> = scoped(&client, ns.as_deref());
        let (store, writer) = reflector::store();
        let (events, synced) = watches::first_list(watcher(api, watcher::Config::default()));
        syncs.push(synced);
        // Only spec changes wake an account: its status carries the budget
        // Qualys reports, which its own reconcile's call changes, so status
        // updates would wake it for ever.
        let changed = events
            .reflect(writer)
            .applied_objects()
            .predicate_filter(predicates::generation, Default::default());
        let ctl = Controller::for_stream(changed, store.clone());
        let mut stop = shutdown_rx.clone();
        let ctx = Arc::new(account_status::AccountContext { shared: shared.clone() });
        controllers.push(Box::pin(
            ctl.watches_stream(related::<KubeSecret>(&client, ns.as_deref()), move |s| {
                let ns = s.namespace().unwrap_or_default();
                let name = s.name_any();
                store
                    .state()
                    .iter()
                    .filter(|a| a.namespace().unwrap_or_default() == ns && a.spec.credentials_secret_ref.name == name)
                    .map(|a| ObjectRef::from_obj(&**a))
                    .collect::<Vec<_>>()
            })
            .graceful_shutdown_on(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .run(account_status::reconcile, account_status::error_policy, ctx)
            .for_each(|_| async {}),
        ));
    }
    // The leader is ready once every controller's cache holds its first
    // list; awaiting that here, before the controllers run, would never end.
    tokio::spawn(async move {
        futures::future::join_all(syncs).await;
        ready.store(true, Ordering::Relaxed);
        tracing::info!("caches synced: ready");
    });
    tracing::info!(namespaces = ?args.namespaces, "controllers started");
    futures::future::join_all(controllers).await;
    shutdown_tx.send_replace(true);
    if let Some(election) = election {
        let _ = tokio::time::timeout(Duration::from_secs(5), election).await;
    }
    let _ = server.await;
    Ok(())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "qualys-operator".into())
}
