//! Part 3: the operator binary (`qualys-operator run`) against a real
//! kube-apiserver (KUBECONFIG, e.g. from `scripts/testenv.sh run --`) and the
//! in-process simulator.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Event as KubeEvent, Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use serde::Serialize;
use serde_json::{Value, json};

use qualys_operator::crd::{
    AwsConnector, AzureConnector, AzureOrgConnector, ConnectorGroup, GcpConnector, GlobalScanConfiguration,
    OciConnector, QualysAccount,
};
use qualys_operator::simulator::SimHandle;

use crate::Options;
use crate::cli::Phase;
use crate::sim::{self, Calls, Holdings};
use crate::workload::{self, Mix, Workload};

const KINDS: [&str; 7] = [
    "AwsConnector",
    "AzureConnector",
    "GcpConnector",
    "OciConnector",
    "AzureOrgConnector",
    "ConnectorGroup",
    "GlobalScanConfiguration",
];

fn api_resource(kind: &str) -> ApiResource {
    match kind {
        "Secret" => ApiResource::erase::<Secret>(&()),
        "QualysAccount" => ApiResource::erase::<QualysAccount>(&()),
        "AwsConnector" => ApiResource::erase::<AwsConnector>(&()),
        "AzureConnector" => ApiResource::erase::<AzureConnector>(&()),
        "GcpConnector" => ApiResource::erase::<GcpConnector>(&()),
        "OciConnector" => ApiResource::erase::<OciConnector>(&()),
        "AzureOrgConnector" => ApiResource::erase::<AzureOrgConnector>(&()),
        "ConnectorGroup" => ApiResource::erase::<ConnectorGroup>(&()),
        "GlobalScanConfiguration" => ApiResource::erase::<GlobalScanConfiguration>(&()),
        other => panic!("no API resource for {other}"),
    }
}

/// CPU time and memory of one process, from /proc.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ProcStat {
    /// utime + stime, seconds.
    pub cpu_s: f64,
    /// VmHWM: peak resident set, KiB.
    pub peak_rss_kib: u64,
    /// VmRSS: current resident set, KiB.
    pub rss_kib: u64,
}

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}

pub fn proc_stat(pid: u32) -> Option<ProcStat> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start at field 3.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Some(ProcStat {
        cpu_s: ticks / clock_ticks(),
        peak_rss_kib: kib("VmHWM:"),
        rss_kib: kib("VmRSS:"),
    })
}

/// The test control plane's processes, when KUBECONFIG is `scripts/testenv.sh`'s.
fn control_plane_pids() -> Vec<(&'static str, u32)> {
    let Some(dir) = std::env::var_os("KUBECONFIG")
        .map(PathBuf::from)
        .and_then(|p| p.parent().map(Path::to_path_buf))
    else {
        return Vec::new();
    };
    [("kube-apiserver", "kube-apiserver.pid"), ("etcd", "etcd.pid")]
        .into_iter()
        .filter_map(|(name, file)| {
            let pid = std::fs::read_to_string(dir.join(file)).ok()?.trim().parse().ok()?;
            Some((name, pid))
        })
        .collect()
}

/// CPU seconds used by the control plane processes since `before`.
fn control_plane_cpu(before: &BTreeMap<String, ProcStat>) -> BTreeMap<String, f64> {
    control_plane_pids()
        .into_iter()
        .filter_map(|(name, pid)| {
            let now = proc_stat(pid)?;
            let then = before.get(name).map(|s| s.cpu_s).unwrap_or(0.0);
            Some((name.to_string(), now.cpu_s - then))
        })
        .collect()
}

fn control_plane_stats() -> BTreeMap<String, ProcStat> {
    control_plane_pids()
        .into_iter()
        .filter_map(|(name, pid)| Some((name.to_string(), proc_stat(pid)?)))
        .collect()
}

/// Issue 17's measurements: the budget as a cap, observation stretched
/// to fit, and a spec change's way to Qualys while observation is saturated.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BudgetRun {
    /// The operator's share per rate window (the account's default: half the limit).
    pub share_per_window: f64,
    /// N creates ÷ that share: the fastest convergence the budget allows, seconds.
    pub physical_s: f64,
    /// `QualysAccount.status.rateLimit` after the steady window.
    pub status_steady: Value,
    /// `spec.budget.callsPerHour` set for the saturated phase: observation at
    /// the bench's resync wants 1.5× the part of it observation may use.
    pub saturated_calls_per_hour: u64,
    /// The saturated window: its length and the calls in it.
    pub saturated: Phase,
    /// `status.rateLimit` at the end of the saturated window.
    pub status_saturated: Value,
    /// Seconds from patching a spec to Qualys holding the change, one change at a time.
    pub spec_change_s: Vec<f64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct ControllerRun {
    pub n: usize,
    pub budget: BudgetRun,
    pub mix: Mix,
    pub resync_s: u64,
    pub operator_env: Vec<String>,
    /// Time to create the N objects in Kubernetes.
    pub create_s: f64,
    /// From the first create to every object Ready (calls over the same span).
    pub converge: Phase,
    pub all_ready: bool,
    /// Objects whose Ready condition ever showed each reason during convergence.
    pub reasons_seen: BTreeMap<String, usize>,
    /// Warning Events by reason (with their counts), during convergence.
    pub warning_events: BTreeMap<String, u64>,
    pub holdings: Holdings,
    /// A window with no drift: calls, and their rate per resync interval and per hour.
    pub steady: Phase,
    pub steady_intervals: f64,
    pub expected_searches_per_interval: u64,
    pub expected_observe: BTreeMap<String, u64>,
    /// k connectors edited behind the operator's back until all were corrected.
    pub drift_k: usize,
    pub drift: Phase,
    pub drift_corrected: usize,
    pub operator_converge: ProcStat,
    pub operator_steady_cpu_s: f64,
    /// VmRSS at the end of the steady window.
    pub operator_steady_rss_kib: u64,
    pub operator_end: ProcStat,
    /// CPU seconds the kube-apiserver and etcd used during convergence and the steady window.
    pub control_plane_converge_cpu_s: BTreeMap<String, f64>,
    pub control_plane_steady_cpu_s: BTreeMap<String, f64>,
    pub control_plane_end: BTreeMap<String, ProcStat>,
}

/// Ready state per object and every Ready reason seen, from watches.
#[derive(Default)]
struct Tracker {
    ready: HashMap<String, bool>,
    reasons: HashMap<String, BTreeSet<String>>,
}

fn ready_reason(obj: &DynamicObject) -> Option<(bool, String)> {
    let cond = obj.data["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?
        .clone();
    Some((
        cond["status"] == "True",
        cond["reason"].as_str().unwrap_or("").to_string(),
    ))
}

fn watch_kinds(client: &Client, ns: &str, tracker: Arc<Mutex<Tracker>>) -> Vec<tokio::task::JoinHandle<()>> {
    KINDS
        .iter()
        .map(|kind| {
            let ar = api_resource(kind);
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
            let tracker = tracker.clone();
            let kind = kind.to_string();
            tokio::spawn(async move {
                let mut stream = watcher(api, watcher::Config::default()).applied_objects().boxed();
                loop {
                    match stream.try_next().await {
                        Ok(Some(obj)) => {
                            let name = format!("{kind}/{}", obj.metadata.name.clone().unwrap_or_default());
                            if let Some((ready, reason)) = ready_reason(&obj) {
                                let mut t = tracker.lock().unwrap_or_else(|e| e.into_inner());
                                t.ready.insert(name.clone(), ready);
                                t.reasons.entry(name).or_default().insert(reason);
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            eprintln!("    watch {kind}: {e}");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
            })
        })
        .collect()
}

async fn install_crds(client: &Client) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let mut names = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let crd: CustomResourceDefinition =
            serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.patch(&name, &PatchParams::apply("qualys-bench").force(), &Patch::Apply(&crd))
            .await
            .unwrap_or_else(|e| panic!("installing {name}: {e}"));
        names.push(name);
    }
    for name in names {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let crd = api.get(&name).await.unwrap_or_else(|e| panic!("{name}: {e}"));
            let established = crd
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                break;
            }
            assert!(Instant::now() < deadline, "CRD {name} not established after 60 s");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

async fn create_all(client: &Client, ns: &str, objects: &[Value], parallel: usize) -> usize {
    futures::stream::iter(objects.iter().cloned())
        .map(|v| {
            let client = client.clone();
            async move {
                let kind = v["kind"].as_str().unwrap_or_default().to_string();
                let api: Api<DynamicObject> = Api::namespaced_with(client, ns, &api_resource(&kind));
                let obj: DynamicObject = serde_json::from_value(v).unwrap_or_else(|e| panic!("{kind}: {e}"));
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    match api.create(&PostParams::default(), &obj).await {
                        Ok(_) => return true,
                        Err(e) if attempt < 5 => {
                            eprintln!("    create {kind}/{:?}: {e}; retrying", obj.metadata.name);
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                        Err(e) => {
                            eprintln!("    create {kind}/{:?}: {e}", obj.metadata.name);
                            return false;
                        }
                    }
                }
            }
        })
        .buffer_unordered(parallel.max(1))
        .filter(|ok| futures::future::ready(*ok))
        .count()
        .await
}

/// The operator process; SIGTERM on drop.
struct Operator {
    child: Child,
}

/// Pid of the operator currently running (0: none), for the signal handler.
static RUNNING_OPERATOR: AtomicU32 = AtomicU32::new(0);

fn terminate(pid: u32) {
    let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
}

/// SIGTERM to the operator this harness started, if one is running.
pub fn stop_running_operator() {
    let pid = RUNNING_OPERATOR.swap(0, Ordering::SeqCst);
    if pid != 0 {
        terminate(pid);
    }
}

impl Operator {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(&mut self) {
        let _ = RUNNING_OPERATOR.compare_exchange(self.child.id(), 0, Ordering::SeqCst, Ordering::SeqCst);
        if let Ok(None) = self.child.try_wait() {
            terminate(self.child.id());
            for _ in 0..100 {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

fn start_operator(opts: &Options, ns: &str, sim: &SimHandle, log: &Path) -> (Operator, String) {
    let bin = env!("CARGO_BIN_EXE_qualys-operator");
    let metrics = format!("127.0.0.1:{}", free_port());
    let file = std::fs::File::create(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    let err = file.try_clone().unwrap_or_else(|e| panic!("{e}"));
    let resync = format!("{}s", opts.resync_s);
    let mut command = Command::new(bin);
    for pair in &opts.operator_env {
        if let Some((k, v)) = pair.split_once('=') {
            command.env(k, v);
        }
    }
    let child = command
        .args(["run", "--namespace", ns, "--qualys-url-override"])
        .arg(sim.base_url())
        .args(["--default-account", &format!("{ns}/default")])
        .args(["--resync-interval", &resync, "--min-resync-interval", &resync])
        .args(["--creating-requeue", &format!("{}s", opts.creating_requeue_s)])
        .args(["--metrics-addr", &metrics])
        .env("RUST_LOG", &opts.operator_log)
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {bin}: {e}"));
    RUNNING_OPERATOR.store(child.id(), Ordering::SeqCst);
    (Operator { child }, metrics)
}

async fn wait_ready_endpoint(addr: &str) {
    let url = format!("http://{addr}/readyz");
    let http = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(r) = http.get(&url).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the operator did not become ready at {url}");
}

async fn warning_events(client: &Client, ns: &str) -> BTreeMap<String, u64> {
    let api: Api<KubeEvent> = Api::namespaced(client.clone(), ns);
    let mut out = BTreeMap::new();
    let Ok(list) = api.list(&ListParams::default()).await else {
        return out;
    };
    for e in list {
        if e.type_.as_deref() == Some("Warning") {
            let n = e.count.map(|c| c.max(1) as u64).unwrap_or(1);
            *out.entry(e.reason.unwrap_or_default()).or_default() += n;
        }
    }
    out
}

pub async fn run(opts: &Options, n: usize) -> ControllerRun {
    let client = Client::try_default()
        .await
        .unwrap_or_else(|e| panic!("--controller needs a cluster (KUBECONFIG): {e}"));
    install_crds(&client).await;
    let sim = sim::start(opts).await;
    let ns = format!("qbench-{n}-{}", std::process::id());
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap_or_default(),
        )
        .await
        .unwrap_or_else(|e| panic!("namespace {ns}: {e}"));
    let w = Workload::generate(n, opts.groups, &ns, &sim.base_url());
    let mix = w.mix;
    eprintln!("[controller n={n}] namespace {ns}, {mix:?}");
    let created_support = create_all(&client, &ns, &w.support, 8).await;
    assert_eq!(
        created_support,
        w.support.len(),
        "creating the Secrets and the QualysAccount"
    );

    let log = std::env::temp_dir().join(format!("{ns}-operator.log"));
    let (mut operator, metrics_addr) = start_operator(opts, &ns, &sim, &log);
    eprintln!(
        "[controller n={n}] operator pid {} (log {})",
        operator.pid(),
        log.display()
    );
    wait_ready_endpoint(&metrics_addr).await;

    let tracker = Arc::new(Mutex::new(Tracker::default()));
    let watches = watch_kinds(&client, &ns, tracker.clone());

    // Converge from empty: apply everything, wait for every object to be Ready.
    sim::fresh_budget(&sim, opts);
    sim.reset_counters();
    let cp_before = control_plane_stats();
    let t0 = Instant::now();
    let created = create_all(&client, &ns, &w.objects, opts.kube_parallel).await;
    let create_s = t0.elapsed().as_secs_f64();
    eprintln!("[controller n={n}] {created} objects created in Kubernetes in {create_s:.1}s");
    let deadline = t0 + Duration::from_secs(opts.controller_timeout_s);
    let mut last_report = Instant::now();
    let mut last_calls = Calls::default();
    let all_ready = loop {
        let ready = {
            let t = tracker.lock().unwrap_or_else(|e| e.into_inner());
            t.ready.values().filter(|r| **r).count()
        };
        if ready >= n {
            break true;
        }
        if Instant::now() > deadline {
            eprintln!("[controller n={n}] timed out with {ready}/{n} Ready");
            break false;
        }
        if last_report.elapsed() > Duration::from_secs(30) {
            let c = Calls::of(&sim);
            let rss = proc_stat(operator.pid()).unwrap_or_default();
            eprintln!(
                "    {:>6.0}s: {ready}/{n} Ready, {} Qualys calls ({} throttled on the wire; last 30 s: +{} searches, +{} gets, +{} creates, +{} other writes), operator RSS {} MiB (peak {} MiB)",
                t0.elapsed().as_secs_f64(),
                c.total,
                c.throttled,
                c.searches - last_calls.searches,
                c.gets - last_calls.gets,
                c.creates - last_calls.creates,
                (c.writes - c.creates) - (last_calls.writes - last_calls.creates),
                rss.rss_kib / 1024,
                rss.peak_rss_kib / 1024
            );
            last_calls = c;
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let converge = Phase {
        wall_s: t0.elapsed().as_secs_f64(),
        calls: Calls::of(&sim),
    };
    let operator_converge = proc_stat(operator.pid()).unwrap_or_default();
    let control_plane_converge_cpu_s = control_plane_cpu(&cp_before);
    let reasons_seen = {
        let t = tracker.lock().unwrap_or_else(|e| e.into_inner());
        let mut m: BTreeMap<String, usize> = BTreeMap::new();
        for reasons in t.reasons.values() {
            for r in reasons {
                *m.entry(r.clone()).or_default() += 1;
            }
        }
        m
    };
    let warning_events = warning_events(&client, &ns).await;
    let holdings = sim::holdings(&sim);
    eprintln!(
        "[controller n={n}] converged: {:.1}s, {} calls ({} throttled on the wire), reasons seen {reasons_seen:?}, warnings {warning_events:?}",
        converge.wall_s, converge.calls.total, converge.calls.throttled
    );

    // Steady state: no drift, a window of several resync intervals.
    tokio::time::sleep(Duration::from_secs(opts.settle_s)).await;
    sim.reset_counters();
    let cp_before = control_plane_stats();
    let cpu_before = proc_stat(operator.pid()).unwrap_or_default().cpu_s;
    let t = Instant::now();
    let window = Duration::from_secs(opts.resync_s * opts.steady_intervals);
    eprintln!("[controller n={n}] steady-state window of {}s", window.as_secs());
    tokio::time::sleep(window).await;
    let steady = Phase {
        wall_s: t.elapsed().as_secs_f64(),
        calls: Calls::of(&sim),
    };
    let after_steady = proc_stat(operator.pid()).unwrap_or_default();
    let operator_steady_cpu_s = after_steady.cpu_s - cpu_before;
    let operator_steady_rss_kib = after_steady.rss_kib;
    let control_plane_steady_cpu_s = control_plane_cpu(&cp_before);
    let steady_intervals = steady.wall_s / opts.resync_s as f64;
    eprintln!(
        "[controller n={n}] steady: {} calls in {:.0}s ({} searches, {} gets, {} writes)",
        steady.calls.total, steady.wall_s, steady.calls.searches, steady.calls.gets, steady.calls.writes
    );

    // Drift: k connectors edited in Qualys, until the operator corrected all.
    let ids = sim::connector_ids_by_name(&sim);
    let names: Vec<String> = (0..opts.drift_k)
        .map(|i| match i % 4 {
            0 => workload::aws_name(i / 4 + 4 * mix.groups),
            1 => workload::azure_name(i / 4 + 4 * mix.groups),
            2 => workload::gcp_name(i / 4 + 4 * mix.groups),
            _ => workload::oci_name(i / 4),
        })
        .collect();
    let drifted: Vec<u64> = names
        .iter()
        .filter_map(|name| ids.get(name).map(|(id, _)| *id))
        .collect();
    let tenant = sim::tenant(&sim);
    sim.reset_counters();
    let t = Instant::now();
    for id in &drifted {
        sim.edit_connector(&tenant, *id, json!({"description": "edited in the Qualys UI"}))
            .unwrap_or_else(|e| panic!("drifting {id}: {e}"));
    }
    let drift_deadline = t + Duration::from_secs(opts.resync_s * 3 + 60);
    let drift_corrected = loop {
        let fixed = drifted
            .iter()
            .filter(|id| sim::description(&sim, **id).as_deref() == Some(workload::DESCRIPTION))
            .count();
        if fixed == drifted.len() || Instant::now() > drift_deadline {
            break fixed;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let drift = Phase {
        wall_s: t.elapsed().as_secs_f64(),
        calls: Calls::of(&sim),
    };
    eprintln!(
        "[controller n={n}] drift: {drift_corrected}/{} corrected in {:.1}s, {} calls ({} writes, {} gets, {} searches)",
        drifted.len(),
        drift.wall_s,
        drift.calls.total,
        drift.calls.writes,
        drift.calls.gets,
        drift.calls.searches
    );

    let budget = budget_phase(opts, &client, &ns, &sim, &mix, n, &steady).await;

    let operator_end = proc_stat(operator.pid()).unwrap_or_default();
    let control_plane_end = control_plane_stats();
    operator.stop();
    for w in watches {
        w.abort();
    }
    sim.shutdown().await;
    ControllerRun {
        n,
        budget,
        mix,
        resync_s: opts.resync_s,
        operator_env: opts.operator_env.clone(),
        create_s,
        converge,
        all_ready,
        reasons_seen,
        warning_events,
        holdings,
        steady,
        steady_intervals,
        expected_searches_per_interval: sim::expected_searches(&mix),
        expected_observe: sim::expected_observe(&mix),
        drift_k: drifted.len(),
        drift,
        drift_corrected,
        operator_converge,
        operator_steady_cpu_s,
        operator_steady_rss_kib,
        operator_end,
        control_plane_converge_cpu_s,
        control_plane_steady_cpu_s,
        control_plane_end,
    }
}

async fn rate_status(client: &Client, ns: &str) -> Value {
    let api: Api<QualysAccount> = Api::namespaced(client.clone(), ns);
    match api.get("default").await {
        Ok(a) => serde_json::to_value(a.status.and_then(|s| s.rate_limit)).unwrap_or_default(),
        Err(e) => json!({"error": e.to_string()}),
    }
}

/// Saturates observation with a small `spec.budget`, then changes specs one
/// at a time and times each change's way to Qualys.
async fn budget_phase(
    opts: &Options,
    client: &Client,
    ns: &str,
    sim: &SimHandle,
    mix: &Mix,
    n: usize,
    steady: &Phase,
) -> BudgetRun {
    let share_per_window = f64::from(opts.rate_limit) / 2.0;
    let physical_s = n as f64 / (share_per_window / opts.rate_window_sec as f64);
    let status_steady = rate_status(client, ns).await;
    eprintln!(
        "[controller n={n}] budget: share {share_per_window}/{}s, steady {} calls in {:.0}s, status {status_steady}",
        opts.rate_window_sec, steady.calls.total, steady.wall_s
    );
    // Observation at the bench's resync wants `cycle` calls per resync; a
    // budget whose observation part (80%) is two thirds of that saturates it.
    let cycle: u64 = sim::expected_observe(mix).values().sum();
    let wish_per_hour = cycle as f64 * 3600.0 / opts.resync_s as f64;
    let saturated_calls_per_hour = (wish_per_hour / 0.8 / 1.5).ceil() as u64;
    let accounts: Api<QualysAccount> = Api::namespaced(client.clone(), ns);
    accounts
        .patch(
            "default",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"budget": {"callsPerHour": saturated_calls_per_hour}}})),
        )
        .await
        .unwrap_or_else(|e| panic!("setting the account budget: {e}"));
    // Two stretched intervals to settle into the new pace, then measure.
    let stretched = opts.resync_s as f64 * 1.5;
    tokio::time::sleep(Duration::from_secs_f64(stretched * 2.0)).await;
    sim.reset_counters();
    let t = Instant::now();
    let ids = sim::connector_ids_by_name(sim);
    let mut spec_change_s = Vec::new();
    for i in 0..opts.spec_changes {
        let name = workload::aws_name(i);
        let Some((id, _)) = ids.get(&name) else { continue };
        let wanted = format!("changed in Git, change {i}");
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &api_resource("AwsConnector"));
        let patched = Instant::now();
        api.patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"description": wanted}})),
        )
        .await
        .unwrap_or_else(|e| panic!("changing {name}: {e}"));
        let deadline = patched + Duration::from_secs(120);
        while sim::description(sim, *id).as_deref() != Some(wanted.as_str()) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let took = patched.elapsed().as_secs_f64();
        eprintln!("    spec change {i} on {name}: in Qualys after {took:.2}s");
        spec_change_s.push(took);
        // Spread the changes over the window.
        let gap = stretched * 4.0 / opts.spec_changes.max(1) as f64;
        tokio::time::sleep(Duration::from_secs_f64((gap - took).max(0.5))).await;
    }
    let rest = Duration::from_secs_f64(stretched * 4.0).saturating_sub(t.elapsed());
    tokio::time::sleep(rest).await;
    let saturated = Phase {
        wall_s: t.elapsed().as_secs_f64(),
        calls: Calls::of(sim),
    };
    let status_saturated = rate_status(client, ns).await;
    eprintln!(
        "[controller n={n}] saturated: budget {saturated_calls_per_hour}/h, {} calls in {:.0}s ({:.0}/h; {} searches, {} gets, {} writes), spec changes {spec_change_s:?}, status {status_saturated}",
        saturated.calls.total,
        saturated.wall_s,
        saturated.calls.total as f64 * 3600.0 / saturated.wall_s,
        saturated.calls.searches,
        saturated.calls.gets,
        saturated.calls.writes,
    );
    BudgetRun {
        share_per_window,
        physical_s,
        status_steady,
        saturated_calls_per_hour,
        saturated,
        status_saturated,
        spec_change_s,
    }
}
