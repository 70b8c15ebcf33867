//! The operator as users run it: the image (scripts/image.sh), installed with
//! Helm, running as Pods on a real kubelet + containerd under the chart's
//! ServiceAccount and RBAC, against the Qualys simulator.
//!
//! ```text
//! scripts/image.sh build e2e-a e2e-b
//! scripts/image.sh archive e2e-a /tmp/a.tar; scripts/image.sh archive e2e-b /tmp/b.tar
//! QUALYS_TESTENV_NODE=1 QUALYS_TESTENV_NODE_IMAGES="/tmp/a.tar /tmp/b.tar" \
//!   scripts/testenv.sh run -- env QUALYS_E2E_NODE=1 cargo test --test e2e_node -- --test-threads=1
//! ```
//! (scripts/test.sh does all of this.) Without `QUALYS_E2E_NODE=1` every test
//! prints that it did not run and why; with it, anything missing (the node,
//! the images, helm, kubectl) fails the test, it never skips.
//!
//! The node has no pod network that reaches the loopback-only API server and
//! simulator, so the operator pods use the chart's `hostNetwork` value, reach
//! the API server through KUBERNETES_SERVICE_HOST/PORT (no kube-proxy here)
//! and each release gets its own metrics port. "Two replicas" are therefore two
//! single-replica releases sharing one Lease (two hostNetwork pods of one
//! Deployment would need the same port on the one node); each reaches the
//! simulator through its own recording proxy, so every Qualys write is
//! attributed to the replica that sent it.

mod e2e_support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use e2e_support::*;
use serde_json::{Value, json};

const SKIP_NODE: &str = "NOT RUN: the node tier needs QUALYS_E2E_NODE=1 under \
     `QUALYS_TESTENV_NODE=1 scripts/testenv.sh run` with the image imported (scripts/test.sh does it)";
/// Pod start on the node plus the reconciles (2 cores shared with the build).
const READY: Duration = Duration::from_secs(180);
/// The chart's (and operator's default) lease duration.
const LEASE: Duration = Duration::from_secs(15);
const LEASE_NAME: &str = "qo-node";

/// What the node tier needs, from the environment scripts/testenv.sh and
/// scripts/test.sh set. None (after saying so) when the tier is off.
struct Node {
    apiserver: String,
    pod_logs: PathBuf,
    repository: String,
    tag: String,
    next_tag: String,
}

fn node() -> Option<Node> {
    if std::env::var("QUALYS_E2E_NODE").as_deref() != Ok("1") {
        println!("{SKIP_NODE}");
        return None;
    }
    let var = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| panic!("QUALYS_E2E_NODE=1 needs {name} (see tests/e2e_node.rs)"))
    };
    install_crds("e2e-node");
    let node_name = var("QUALYS_TESTENV_NODE_NAME");
    let ready = ok(
        kubectl().args([
            "get",
            "node",
            &node_name,
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ]),
        None,
    );
    assert_eq!(ready, "True", "node {node_name} is not Ready");
    let image = var("QUALYS_E2E_NODE_IMAGE");
    let (repository, tag) = image
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("QUALYS_E2E_NODE_IMAGE={image} has no tag"));
    Some(Node {
        apiserver: var("QUALYS_TESTENV_APISERVER"),
        pod_logs: PathBuf::from(var("QUALYS_TESTENV_POD_LOGS")),
        repository: repository.to_string(),
        tag: tag.to_string(),
        next_tag: var("QUALYS_E2E_NODE_NEXT_TAG"),
    })
}

// ---------------------------------------------------------------------------
// A recording proxy in front of the simulator

/// One request seen by a proxy: when, method, path.
#[derive(Clone, Debug)]
struct Request {
    at: SystemTime,
    method: String,
    path: String,
}

impl Request {
    /// A call that changes Qualys: everything but GETs, searches and logins.
    fn is_write(&self) -> bool {
        !(self.method == "GET" || self.path.contains("/search/") || self.path.starts_with("/auth"))
    }
}

/// A TCP proxy on loopback that notes the request line of every HTTP request
/// it forwards. Requests are recognised by their first bytes in a read: the
/// operator's client writes each request head in one go.
struct Proxy {
    port: u16,
    log: Arc<Mutex<Vec<Request>>>,
    /// While set, bytes are still read but held: every call through the
    /// proxy hangs, as behind a stalled load balancer or a frozen API server.
    frozen: Arc<AtomicBool>,
}

impl Proxy {
    fn start(upstream: &str) -> Proxy {
        let upstream = upstream.trim_start_matches("http://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy listener");
        let port = listener.local_addr().expect("proxy address").port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let frozen = Arc::new(AtomicBool::new(false));
        let sink = Arc::clone(&log);
        let hold = Arc::clone(&frozen);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let sink = Arc::clone(&sink);
                let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                let (h1, h2) = (Arc::clone(&hold), Arc::clone(&hold));
                std::thread::spawn(move || pump(client, server, Some(sink), &h1));
                std::thread::spawn(move || pump(s2, c2, None, &h2));
            }
        });
        Proxy { port, log, frozen }
    }

    /// `127.0.0.1:PORT`, for a TCP client (the API server's TLS passes through).
    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn freeze(&self, frozen: bool) {
        self.frozen.store(frozen, Ordering::SeqCst);
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn writes(&self) -> Vec<Request> {
        let log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.iter().filter(|r| r.is_write()).cloned().collect()
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, log: Option<Arc<Mutex<Vec<Request>>>>, frozen: &AtomicBool) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        while frozen.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Some(log) = &log
            && let Some(line) = buf[..n].split(|b| *b == b'\r').next()
        {
            let line = String::from_utf8_lossy(line);
            let mut parts = line.split(' ');
            if let (Some(method), Some(path), Some(version)) = (parts.next(), parts.next(), parts.next())
                && version.starts_with("HTTP/")
                && path.starts_with('/')
            {
                log.lock().unwrap_or_else(|e| e.into_inner()).push(Request {
                    at: SystemTime::now(),
                    method: method.to_string(),
                    path: path.to_string(),
                });
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

// ---------------------------------------------------------------------------
// Releases

/// Helm releases in a test namespace: uninstalled (and the pods' logs printed
/// if the test failed) when dropped.
struct Releases<'a> {
    node: &'a Node,
    env: &'a Env,
    names: Vec<String>,
}

impl<'a> Releases<'a> {
    fn new(node: &'a Node, env: &'a Env) -> Releases<'a> {
        Releases {
            node,
            env,
            names: Vec::new(),
        }
    }

    /// `helm install` (or `upgrade` when it exists) of one replica with the
    /// built image, host networking, this namespace only, talking to Qualys
    /// at QUALYS_URL.
    fn install(&mut self, name: &str, tag: &str, qualys_url: &str, leader_election: bool) {
        let apiserver = self.node.apiserver.clone();
        self.install_via(name, tag, qualys_url, leader_election, &apiserver);
    }

    /// [`Releases::install`] reaching the API server at APISERVER (host:port).
    fn install_via(&mut self, name: &str, tag: &str, qualys_url: &str, leader_election: bool, apiserver: &str) {
        let (host, port) = apiserver
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("API server address {apiserver} has no port"));
        let values = json!({
            "fullnameOverride": name,
            "image": {"repository": self.node.repository, "tag": tag, "pullPolicy": "Never"},
            "hostNetwork": true,
            "watchNamespaces": [self.env.ns],
            "defaultAccount": {"name": "default", "namespace": self.env.ns},
            "metrics": {"port": free_port(), "service": {"enabled": false}},
            "logFormat": "plain",
            "logLevel": "info,kube=warn,qualys_operator::qualys::transport=debug",
            "leaderElection": {"enabled": leader_election, "leaseName": LEASE_NAME},
            // One pod per node port: the old pod goes before the new one starts.
            "updateStrategy": if leader_election {
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}})
            } else {
                json!({})
            },
            "extraArgs": [format!("--qualys-url-override={qualys_url}")],
            "extraEnv": [
                {"name": "KUBERNETES_SERVICE_HOST", "value": host},
                {"name": "KUBERNETES_SERVICE_PORT", "value": port},
            ],
        });
        let file = tempfile::NamedTempFile::new().expect("values file");
        std::fs::write(file.path(), values.to_string()).expect("write values");
        ok(
            helm()
                .cmd()
                .args(["upgrade", "--install", name])
                .arg(root().join("charts/qualys-operator"))
                .args(["--namespace", &self.env.ns, "--values"])
                .arg(file.path()),
            None,
        );
        if !self.names.iter().any(|n| n == name) {
            self.names.push(name.to_string());
        }
    }

    /// The release's pods as JSON.
    fn pods(&self, name: &str) -> Vec<Value> {
        let out = ok(
            self.env.kubectl().args([
                "get",
                "pods",
                "-l",
                &format!("app.kubernetes.io/instance={name}"),
                "-o",
                "json",
            ]),
            None,
        );
        let v: Value = serde_json::from_str(&out).expect("pods JSON");
        v["items"].as_array().cloned().unwrap_or_default()
    }

    /// Waits until the release has exactly one pod, Ready, not terminating; returns it.
    fn wait_pod_ready(&self, name: &str) -> Value {
        wait_for(&format!("one Ready pod of {name}"), READY, || {
            let pods = self.pods(name);
            let live: Vec<&Value> = pods
                .iter()
                .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
                .collect();
            match live.as_slice() {
                [p] if condition(p, "Ready").is_some_and(|(s, _, _)| s == "True") => Ok((*p).clone()),
                _ => Err(format!(
                    "pods: {:?}",
                    pods.iter()
                        .map(|p| (str_at(p, "/metadata/name"), p["status"]["phase"].clone()))
                        .collect::<Vec<_>>()
                )),
            }
        })
    }

    /// Every container log of this namespace's pods (the node cannot serve `kubectl logs`).
    fn pod_logs(&self) -> String {
        let mut out = String::new();
        let Ok(dirs) = std::fs::read_dir(&self.node.pod_logs) else {
            return out;
        };
        for dir in dirs.flatten() {
            if !dir
                .file_name()
                .to_string_lossy()
                .starts_with(&format!("{}_", self.env.ns))
            {
                continue;
            }
            for file in walk(&dir.path()) {
                out.push_str(&format!("---- {} ----\n", file.display()));
                out.push_str(&std::fs::read_to_string(&file).unwrap_or_default());
            }
        }
        out
    }
}

/// Holds every container log file of a namespace open from the moment it
/// appears: the kubelet deletes a pod's logs with the pod, and what a deleted
/// leader wrote while terminating is exactly what the failover test reads.
struct LogKeeper {
    files: Arc<Mutex<Vec<(String, PathBuf, std::fs::File)>>>,
    stop: Arc<AtomicBool>,
}

impl LogKeeper {
    fn start(node: &Node, env: &Env) -> LogKeeper {
        let files: Arc<Mutex<Vec<(String, PathBuf, std::fs::File)>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (held, done) = (Arc::clone(&files), Arc::clone(&stop));
        let root = node.pod_logs.clone();
        let prefix = format!("{}_", env.ns);
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                for dir in std::fs::read_dir(&root).into_iter().flatten().flatten() {
                    let dir_name = dir.file_name().to_string_lossy().into_owned();
                    // NAMESPACE_POD_UID
                    let Some((pod, _)) = dir_name.strip_prefix(&prefix).and_then(|r| r.rsplit_once('_')) else {
                        continue;
                    };
                    for path in walk(&dir.path()) {
                        let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
                        if held.iter().any(|(_, p, _)| *p == path) {
                            continue;
                        }
                        if let Ok(file) = std::fs::File::open(&path) {
                            held.push((pod.to_string(), path, file));
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        LogKeeper { files, stop }
    }

    /// Every Qualys write the pods sent, as (pod, when), from the operator's
    /// `qualys write sent` debug line (logged as the request leaves, after
    /// the fence check).
    fn writes(&self) -> Vec<(String, SystemTime)> {
        let mut writes = Vec::new();
        let mut held = self.files.lock().unwrap_or_else(|e| e.into_inner());
        for (pod, path, file) in held.iter_mut() {
            let mut text = String::new();
            let _ = std::io::Seek::rewind(file).and_then(|()| file.read_to_string(&mut text));
            for line in text.lines().filter(|l| l.contains("qualys write sent")) {
                // CRI: TIME STREAM TAG MESSAGE; the message starts with the operator's own time.
                let at = line
                    .splitn(4, ' ')
                    .nth(3)
                    .and_then(|m| m.split_whitespace().next())
                    .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                    .unwrap_or_else(|| panic!("no time in {}: {line}", path.display()));
                writes.push((pod.clone(), SystemTime::from(at)));
            }
        }
        writes
    }
}

impl Drop for LogKeeper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files.sort();
    files
}

impl Drop for Releases<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("==== pod logs of {} ====\n{}", self.env.ns, self.pod_logs());
            let pods = output(self.env.kubectl().args(["get", "pods,events", "-o", "wide"]), None);
            eprintln!("---- pods, events ----\n{}{}", text(&pods.stdout), text(&pods.stderr));
        }
        for name in &self.names {
            let _ = output(
                helm().cmd().args(["uninstall", name, "--namespace", &self.env.ns]),
                None,
            );
        }
        let _ = output(
            kubectl().args(["delete", "namespace", &self.env.ns, "--wait=false"]),
            None,
        );
    }
}

// ---------------------------------------------------------------------------
// Helpers

/// The Lease's holder and when it acquired the lease.
fn lease(env: &Env) -> Option<(String, SystemTime)> {
    let o = env.get("lease", LEASE_NAME)?;
    let holder = str_at(&o, "/spec/holderIdentity").to_string();
    let acquired = str_at(&o, "/spec/acquireTime").parse::<jiff::Timestamp>().ok()?;
    Some((holder, SystemTime::from(acquired)))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

// ---------------------------------------------------------------------------
// Tests

#[test]
#[ignore = "node tier: needs a kubelet and the image; scripts/test.sh runs it with QUALYS_E2E_NODE=1"]
fn node_helm_install_brings_every_example_to_ready_as_a_pod_under_the_chart_rbac() {
    let Some(node) = node() else {
        return;
    };
    let env = Env::new("node-examples");
    // The group example lists an account whose connector was made in the UI.
    seed_cloudview_aws(&env, "210987654321", "legacy (created in the UI)");
    let mut releases = Releases::new(&node, &env);
    let started = Instant::now();
    releases.install("qo-examples", &node.tag, &env.sim.base_url(), false);
    env.apply_path(&root().join("examples"));
    for (kind, name) in EXAMPLES {
        env.wait_ready(kind, name, READY);
    }
    let elapsed = started.elapsed();
    println!(
        "NUMBER helm install -> all {} examples Ready: {elapsed:.1?}",
        EXAMPLES.len()
    );

    // It ran as the chart says: the image, its ServiceAccount, hardened.
    let pod = releases.wait_pod_ready("qo-examples");
    let spec = &pod["spec"];
    assert_eq!(spec["serviceAccountName"], "qo-examples");
    assert_eq!(spec["hostNetwork"], true);
    let container = &spec["containers"][0];
    assert_eq!(container["image"], format!("{}:{}", node.repository, node.tag));
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(container["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(spec["securityContext"]["runAsUser"], 65532);
    assert_eq!(
        pod["status"]["containerStatuses"][0]["restartCount"], 0,
        "never restarted"
    );
    // Events need their own verb: the chart's RBAC must grant it.
    env.wait_event("AwsConnector", "aws-prod", "Created", Duration::from_secs(30));
    // A missing verb shows up as a 403 in the operator's log even when a
    // retry later succeeded.
    let logs = releases.pod_logs();
    assert!(
        logs.contains("/operator/"),
        "no operator log under the node's pod logs:\n{logs}"
    );
    for bad in ["forbidden", "Forbidden", "panicked"] {
        assert!(!logs.contains(bad), "the operator log says {bad}:\n{logs}");
    }
    assert_eq!(env.sim_aws_for("123456789012").len(), 1, "one connector for aws-prod");
}

#[test]
#[ignore = "node tier: needs a kubelet and the image; scripts/test.sh runs it with QUALYS_E2E_NODE=1"]
fn node_deleting_the_leader_pod_hands_over_within_a_lease_and_never_two_writers() {
    let Some(node) = node() else {
        return;
    };
    let env = Env::new("node-leader");
    env.apply_account();
    let names = ["qo-a", "qo-b"];
    let logs = LogKeeper::start(&node, &env);
    let mut releases = Releases::new(&node, &env);
    for name in names {
        releases.install(name, &node.tag, &env.sim.base_url(), true);
    }
    for name in names {
        releases.wait_pod_ready(name);
    }
    let release_of = |holder: &str| names.iter().position(|n| holder.starts_with(&format!("{n}-")));
    let holder = wait_for("a leader", READY, || {
        lease(&env)
            .filter(|(h, _)| release_of(h).is_some())
            .ok_or_else(|| "no holder".to_string())
    });

    // Lease timeline: (acquired at, holder pod), from the Lease's own acquireTime.
    let mut timeline = vec![(holder.1, holder.0.clone())];
    let mut failovers = Vec::new();
    let mut objects = 0;
    for round in 0..5 {
        let (_, old) = timeline.last().cloned().expect("a holder");
        // Work in flight while the leader goes away.
        for _ in 0..3 {
            objects += 1;
            env.apply(&aws(&format!("fo-{objects}"), &format!("7000000{objects:05}"), ""));
        }
        ok(env.kubectl().args(["delete", "pod", &old, "--wait=false"]), None);
        let deleted = Instant::now();
        // The other release's pod or the Deployment's replacement: either is
        // a new replica, and either must wait for the old one to let go.
        let (new, acquired) = wait_for("another replica to take the Lease", LEASE * 2, || match lease(&env) {
            Some((h, t)) if h != old && release_of(&h).is_some() => Ok((h, t)),
            other => Err(format!("{other:?}")),
        });
        let took = deleted.elapsed();
        println!("round {round}: {new} took over from {old} after {took:.1?}");
        failovers.push(took);
        timeline.push((acquired, new));
        for i in objects - 2..=objects {
            env.wait_ready("awsconnector", &format!("fo-{i}"), READY);
        }
        // Both releases up again before the next round.
        for name in names {
            releases.wait_pod_ready(name);
        }
    }

    // Every write came from the pod that held the Lease at that moment.
    let writes = logs.writes();
    let foreign: Vec<String> = writes
        .iter()
        .filter_map(|(pod, at)| {
            let holder = timeline
                .iter()
                .rev()
                .find(|(acquired, _)| acquired <= at)
                .map_or("", |(_, h)| h.as_str());
            (holder != pod).then(|| format!("{pod} wrote at {at:?} while {holder:?} held the Lease"))
        })
        .collect();
    let median = median(failovers.clone());
    println!("NUMBER leader failover (median of 5): {median:.1?} ({failovers:.1?})");
    println!(
        "NUMBER Qualys writes by a non-leader: {} of {}",
        foreign.len(),
        writes.len()
    );
    assert!(
        writes.len() >= objects,
        "the pods' logs show {} Qualys writes for {objects} objects",
        writes.len()
    );
    assert!(
        foreign.is_empty(),
        "writes by a replica that did not hold the Lease: {foreign:#?}"
    );
    assert!(median < LEASE, "failover took {median:?}, more than one lease duration");
    for failover in &failovers {
        assert!(
            *failover < LEASE + Duration::from_secs(5),
            "a failover took {failover:?}"
        );
    }
    for i in 1..=objects {
        assert_eq!(
            env.sim_aws_for(&format!("7000000{i:05}")).len(),
            1,
            "one connector for object fo-{i}"
        );
    }
}

#[test]
#[ignore = "node tier: needs a kubelet and the image; scripts/test.sh runs it with QUALYS_E2E_NODE=1"]
fn node_helm_upgrade_rolls_to_the_new_image_without_duplicates_or_losses() {
    let Some(node) = node() else {
        return;
    };
    let env = Env::new("node-upgrade");
    env.apply_account();
    let mut releases = Releases::new(&node, &env);
    let url = env.sim.base_url();
    releases.install("qo-up", &node.tag, &url, true);
    let before = releases.wait_pod_ready("qo-up");
    for i in 1..=4 {
        env.apply(&aws(&format!("up-{i}"), &format!("71000000000{i}"), ""));
    }
    for i in 1..=2 {
        env.wait_ready("awsconnector", &format!("up-{i}"), READY);
    }
    releases.install("qo-up", &node.next_tag, &url, true);
    // Objects created during the rollout are not lost either.
    for i in 5..=8 {
        env.apply(&aws(&format!("up-{i}"), &format!("71000000000{i}"), ""));
    }
    ok(
        env.kubectl()
            .args(["rollout", "status", "deployment/qo-up", "--timeout=180s"]),
        None,
    );
    let after = releases.wait_pod_ready("qo-up");
    assert_ne!(after["metadata"]["uid"], before["metadata"]["uid"], "a new pod");
    assert_eq!(
        after["spec"]["containers"][0]["image"],
        format!("{}:{}", node.repository, node.next_tag)
    );
    for i in 1..=8 {
        env.wait_ready("awsconnector", &format!("up-{i}"), READY);
        assert_eq!(
            env.sim_aws_for(&format!("71000000000{i}")).len(),
            1,
            "one connector for up-{i}"
        );
    }
}

#[test]
#[ignore = "node tier: needs a kubelet and the image; scripts/test.sh runs it with QUALYS_E2E_NODE=1"]
fn node_a_leader_whose_api_calls_hang_stops_writing_before_the_next_one_starts() {
    let Some(node) = node() else {
        return;
    };
    let env = Env::new("node-hung");
    env.apply_account();
    let qualys = [Proxy::start(&env.sim.base_url()), Proxy::start(&env.sim.base_url())];
    // Only the first replica's API server path can hang.
    let api = Proxy::start(&node.apiserver);
    let names = ["qo-hung", "qo-next"];
    let mut releases = Releases::new(&node, &env);
    releases.install_via(names[0], &node.tag, &qualys[0].url(), true, &api.address());
    releases.wait_pod_ready(names[0]);
    let (first, _) = wait_for("the first replica to lead", READY, || {
        lease(&env)
            .filter(|(h, _)| h.starts_with(&format!("{}-", names[0])))
            .ok_or_else(|| format!("{:?}", lease(&env)))
    });
    releases.install(names[1], &node.tag, &qualys[1].url(), true);
    releases.wait_pod_ready(names[1]);

    // Work in flight: the leader is creating when its API calls start to hang.
    let objects = 30;
    let manifests: Vec<String> = (1..=objects)
        .map(|i| aws(&format!("hung-{i}"), &format!("72000000{i:04}"), ""))
        .collect();
    env.apply(&manifests.join("---\n"));
    wait_for("the leader to start writing", READY, || {
        let n = qualys[0].writes().len();
        if n >= 3 { Ok(()) } else { Err(format!("{n} writes")) }
    });
    api.freeze(true);
    let frozen_at = SystemTime::now();
    let (next, acquired) = wait_for("the other replica to take the Lease", LEASE * 3, || match lease(&env) {
        Some((h, t)) if h != first => Ok((h, t)),
        other => Err(format!("{other:?}")),
    });
    assert!(next.starts_with(&format!("{}-", names[1])), "{next} leads");
    for i in 1..=objects {
        env.wait_ready("awsconnector", &format!("hung-{i}"), READY);
    }
    // The hung replica may come back now; it must come back as a follower.
    api.freeze(false);

    let last_old = qualys[0]
        .writes()
        .iter()
        .map(|w| w.at)
        .max()
        .expect("the old leader wrote");
    let first_new = qualys[1]
        .writes()
        .iter()
        .map(|w| w.at)
        .min()
        .expect("the new leader wrote");
    let secs = |t: SystemTime| {
        t.duration_since(frozen_at)
            .map_or_else(|e| -e.duration().as_secs_f64(), |d| d.as_secs_f64())
    };
    println!(
        "NUMBER hung leader: last write {:+.1}s after the hang, new leader acquired {:+.1}s, first write {:+.1}s",
        secs(last_old),
        secs(acquired),
        secs(first_new)
    );
    assert!(
        last_old < acquired && last_old < first_new,
        "the hung leader wrote at {:+.1}s, after the new leader acquired the Lease ({:+.1}s) or wrote ({:+.1}s)",
        secs(last_old),
        secs(acquired),
        secs(first_new)
    );
    for i in 1..=objects {
        assert_eq!(
            env.sim_aws_for(&format!("72000000{i:04}")).len(),
            1,
            "one connector for hung-{i}"
        );
    }
}
