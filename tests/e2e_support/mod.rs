//! Helpers of the operator e2e tier (`tests/e2e_operator.rs`): the gate, the
//! CRDs, one namespace + in-process simulator + operator process(es) per test,
//! kubectl, and polling with a timeout.
//!
//! Every test owns an [`Env`]: its namespace (random suffix, left behind: this
//! API server has no namespace controller), its simulator (inside the test
//! process; the operator reaches it over HTTP), and its operators (child
//! processes of `CARGO_BIN_EXE_qualys-operator`, killed when the Env drops).
//! When a test fails, the Env prints every operator's log, the namespace's
//! objects and Events, and the simulator's connectors.
#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use qualys_operator::simulator::{CloudKind, SimConfig, SimHandle, Simulator};
use serde_json::{Value, json};

pub const SKIP: &str = "skipped: set QUALYS_E2E=1 and run under scripts/testenv.sh run -- ...";

/// Resync interval the operators run with (and the floor they accept).
pub const RESYNC: Duration = Duration::from_secs(5);
/// Poll period of every wait.
const POLL: Duration = Duration::from_millis(500);

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn kubectl() -> Command {
    Command::new(std::env::var_os("KUBECTL").unwrap_or_else(|| "kubectl".into()))
}

/// Runs CMD (with STDIN) to completion.
pub fn output(cmd: &mut Command, stdin: Option<&str>) -> Output {
    let what = format!("{cmd:?}");
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        let input = input.to_owned();
        std::thread::spawn(move || {
            let _ = pipe.write_all(input.as_bytes());
        });
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for {what}: {e}"))
}

/// Runs CMD and returns its stdout, panicking with its stderr when it fails.
pub fn ok(cmd: &mut Command, stdin: Option<&str>) -> String {
    let what = format!("{cmd:?}");
    let out = output(cmd, stdin);
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        text(&out.stderr),
        text(&out.stdout)
    );
    text(&out.stdout)
}

/// The gate. Off: prints why and returns false. On: the cluster must be
/// reachable (a missing KUBECONFIG or kubectl fails the test) and the CRDs are
/// installed once per test process.
pub fn e2e() -> bool {
    if !e2e_on() {
        return false;
    }
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| install_crds("e2e-operator"));
    true
}

/// Whether the e2e tier runs; when it does not, says so.
pub fn e2e_on() -> bool {
    let on = std::env::var("QUALYS_E2E").is_ok_and(|v| !v.is_empty() && v != "0");
    if !on {
        println!("{SKIP}");
    }
    on
}

/// Checks the cluster is reachable and applies the project's CRDs under
/// `field_manager`, waiting until they are established.
pub fn install_crds(field_manager: &str) {
    let kubeconfig = std::env::var_os("KUBECONFIG")
        .filter(|k| !k.is_empty())
        .expect("QUALYS_E2E=1 needs KUBECONFIG (run under scripts/testenv.sh run -- ...)");
    assert!(
        Path::new(&kubeconfig).is_file(),
        "KUBECONFIG={} is not a file",
        kubeconfig.to_string_lossy()
    );
    ok(kubectl().args(["version", "--output=json"]), None);
    // Server-side: the CRDs are too large for the last-applied annotation,
    // and each e2e file applies them under its own field manager.
    ok(
        kubectl()
            .args(["apply", "--server-side", "--force-conflicts"])
            .arg(format!("--field-manager={field_manager}"))
            .arg("-f")
            .arg(root().join("crds")),
        None,
    );
    ok(
        kubectl()
            .args(["wait", "--for=condition=Established", "--timeout=60s", "-f"])
            .arg(root().join("crds")),
        None,
    );
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// `GET http://127.0.0.1:PORT/PATH`: (status, body), or None when nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let raw = text(&raw);
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let chunked = head
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding: chunked"));
    let body = if chunked { dechunk(body) } else { body.to_string() };
    Some((status, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Polls F every 500ms until it returns Ok or TIMEOUT passes; the panic
/// message carries F's last explanation.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    loop {
        match f() {
            Ok(v) => return v,
            Err(last) if start.elapsed() >= timeout => {
                panic!("timed out after {timeout:?} waiting for {what}; last seen: {last}")
            }
            Err(_) => std::thread::sleep(POLL),
        }
    }
}

/// One condition of an object: (status, reason, message).
pub fn condition(obj: &Value, type_: &str) -> Option<(String, String, String)> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (s("status"), s("reason"), s("message"))
        })
}

pub fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

/// An operator process.
pub struct Operator {
    child: Option<Child>,
    pub identity: String,
    pub log: PathBuf,
    pub metrics_port: u16,
}

impl Operator {
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, and reap it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The exit status, once it has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    pub fn alive(&mut self) -> bool {
        self.child.is_some() && self.exited().is_none()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Options of one operator process.
#[derive(Default, Clone)]
pub struct OperatorOptions {
    pub leader_election: bool,
    pub identity: Option<String>,
    pub extra_args: Vec<String>,
    /// Environment for the process (e.g. another KUBECONFIG).
    pub env: Vec<(String, String)>,
}

/// One test's world: namespace, simulator, operators.
pub struct Env {
    pub test: String,
    pub ns: String,
    pub tenant: String,
    pub sim: SimHandle,
    pub operators: Vec<Operator>,
    dir: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
}

impl Env {
    /// A fresh namespace and simulator; no operator yet.
    pub fn new(test: &str) -> Env {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let sim = rt
            .block_on(Simulator::start(SimConfig {
                state_step: Duration::from_millis(200),
                job_delay: Duration::from_millis(200),
                ..SimConfig::default()
            }))
            .unwrap_or_else(|e| panic!("starting the simulator: {e}"));
        let tenant = sim
            .users()
            .first()
            .map(|u| u.tenant().to_string())
            .unwrap_or_else(|| "demo".into());
        let ns = format!("qo-{test}-{:06x}", fastrand::u32(..0x100_0000));
        assert!(ns.len() <= 63, "namespace name {ns} too long");
        ok(kubectl().args(["create", "namespace", &ns]), None);
        Env {
            test: test.to_string(),
            ns,
            tenant,
            sim,
            operators: Vec::new(),
            dir: tempfile::tempdir().expect("tempdir"),
            rt,
        }
    }

    /// A fresh namespace, simulator and one operator.
    pub fn with_operator(test: &str) -> Env {
        let mut env = Env::new(test);
        env.start_operator(OperatorOptions::default());
        env
    }

    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// Starts `qualys-operator run` for this namespace against this simulator;
    /// returns its index in `operators`.
    pub fn start_operator(&mut self, options: OperatorOptions) -> usize {
        let index = self.operators.len();
        let identity = options
            .identity
            .clone()
            .unwrap_or_else(|| format!("{}-op{index}", self.ns));
        let log = self.dir.path().join(format!("operator-{index}-{identity}.log"));
        let file = File::create(&log).expect("operator log");
        let metrics_port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_qualys-operator"));
        cmd.arg("run")
            .args(["--namespace", &self.ns])
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
            .args(["--default-account", &format!("{}/default", self.ns)])
            .args(["--qualys-url-override", &self.sim.base_url()])
            .args(["--resync-interval", &format!("{}s", RESYNC.as_secs())])
            .args(["--min-resync-interval", &format!("{}s", RESYNC.as_secs())])
            .args(["--lease-name", &format!("qo-{}", self.test)])
            .args(["--lease-namespace", &self.ns])
            .args(["--identity", &identity])
            .args(&options.extra_args)
            .env("RUST_LOG", "info,kube=warn")
            .env("NO_COLOR", "1")
            // Only what the flags say: no stray QUALYS_OPERATOR_* from the caller.
            .env_remove("QUALYS_OPERATOR_NAMESPACES")
            .env_remove("QUALYS_OPERATOR_LABEL_SELECTOR")
            .env_remove("QUALYS_OPERATOR_LEADER_ELECTION")
            .envs(options.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone().expect("log handle")))
            .stderr(Stdio::from(file));
        if options.leader_election {
            cmd.arg("--leader-election");
        }
        let child = cmd.spawn().expect("starting qualys-operator run");
        self.operators.push(Operator {
            child: Some(child),
            identity,
            log,
            metrics_port,
        });
        index
    }

    /// Every operator's log, concatenated.
    pub fn logs(&self) -> String {
        self.operators
            .iter()
            .map(Operator::log_text)
            .collect::<Vec<_>>()
            .join("\n")
    }

    // -----------------------------------------------------------------------
    // kubectl in the namespace

    pub fn kubectl(&self) -> Command {
        let mut cmd = kubectl();
        cmd.args(["-n", &self.ns]);
        cmd
    }

    /// `kubectl apply -n NS -f PATH` (a file or a directory).
    pub fn apply_path(&self, path: &Path) {
        ok(self.kubectl().arg("apply").arg("-f").arg(path), None);
    }

    pub fn apply_example(&self, file: &str) {
        self.apply_path(&root().join("examples").join(file));
    }

    /// `kubectl apply -n NS -f -` with YAML.
    pub fn apply(&self, yaml: &str) {
        ok(self.kubectl().args(["apply", "-f", "-"]), Some(yaml));
    }

    /// The object as JSON, None when it does not exist.
    pub fn get(&self, kind: &str, name: &str) -> Option<Value> {
        let out = output(
            self.kubectl()
                .args(["get", kind, name, "-o", "json", "--ignore-not-found"]),
            None,
        );
        assert!(out.status.success(), "kubectl get {kind} {name}: {}", text(&out.stderr));
        let stdout = text(&out.stdout);
        if stdout.trim().is_empty() {
            return None;
        }
        Some(serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("kubectl get {kind} {name}: {e}: {stdout}")))
    }

    pub fn must_get(&self, kind: &str, name: &str) -> Value {
        self.get(kind, name)
            .unwrap_or_else(|| panic!("{kind} {name} does not exist"))
    }

    /// `kubectl annotate --overwrite`; `key-` removes.
    pub fn annotate(&self, kind: &str, name: &str, annotation: &str) {
        ok(
            self.kubectl().args(["annotate", "--overwrite", kind, name, annotation]),
            None,
        );
    }

    /// `kubectl delete --wait=false`.
    pub fn delete(&self, kind: &str, name: &str) {
        ok(self.kubectl().args(["delete", "--wait=false", kind, name]), None);
    }

    /// Waits until the object is gone (its finalizer ran).
    pub fn wait_gone(&self, kind: &str, name: &str, timeout: Duration) {
        wait_for(&format!("{kind} {name} to disappear"), timeout, || {
            match self.get(kind, name) {
                None => Ok(()),
                Some(o) => Err(format!(
                    "finalizers {} conditions {}",
                    o["metadata"]["finalizers"], o["status"]["conditions"]
                )),
            }
        })
    }

    /// Waits for Ready=True at the current generation; returns the object.
    pub fn wait_ready(&self, kind: &str, name: &str, timeout: Duration) -> Value {
        self.wait_condition(kind, name, "True", None, timeout)
    }

    /// Waits for condition Ready to have STATUS (and REASON when given) at the
    /// current generation; returns the object.
    pub fn wait_condition(
        &self,
        kind: &str,
        name: &str,
        status: &str,
        reason: Option<&str>,
        timeout: Duration,
    ) -> Value {
        let what = format!(
            "{kind} {name} Ready={status}{}",
            reason.map(|r| format!(" ({r})")).unwrap_or_default()
        );
        wait_for(&what, timeout, || {
            let o = self.get(kind, name).ok_or("no such object")?;
            let generation = &o["metadata"]["generation"];
            let observed = &o["status"]["observedGeneration"];
            match condition(&o, "Ready") {
                Some((s, r, _)) if s == status && reason.is_none_or(|want| want == r) && observed == generation => {
                    Ok(o)
                }
                other => Err(format!(
                    "Ready {other:?}, observedGeneration {observed} of {generation}, status {}",
                    o["status"]
                )),
            }
        })
    }

    /// The namespace's Events (core/v1 view) as JSON items.
    pub fn events(&self) -> Vec<Value> {
        let out = ok(self.kubectl().args(["get", "events", "-o", "json"]), None);
        let v: Value = serde_json::from_str(&out).expect("events JSON");
        v["items"].as_array().cloned().unwrap_or_default()
    }

    /// Events about KIND/NAME with REASON.
    pub fn events_for(&self, kind: &str, name: &str, reason: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|e| {
                e["involvedObject"]["kind"] == kind && e["involvedObject"]["name"] == name && e["reason"] == reason
            })
            .collect()
    }

    pub fn wait_event(&self, kind: &str, name: &str, reason: &str, timeout: Duration) -> Value {
        wait_for(&format!("a {reason} Event for {kind} {name}"), timeout, || {
            self.events_for(kind, name, reason).into_iter().next().ok_or_else(|| {
                let seen: Vec<String> = self
                    .events()
                    .iter()
                    .map(|e| format!("{} {} {}", e["involvedObject"]["name"], e["reason"], e["message"]))
                    .collect();
                format!("events: {seen:?}")
            })
        })
    }

    // -----------------------------------------------------------------------
    // The simulator

    /// This test's tenant in the simulator state.
    pub fn sim_tenant(&self) -> Value {
        self.sim.state()["world"]["tenants"][&self.tenant].clone()
    }

    /// Every QPS connector of the tenant.
    pub fn sim_connectors(&self) -> Vec<Value> {
        self.sim_tenant()["connectors"]
            .as_object()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The connector with this id.
    pub fn sim_connector(&self, id: &str) -> Option<Value> {
        self.sim_tenant()["connectors"].get(id).cloned()
    }

    /// AWS connectors whose role ARN is in ACCOUNT.
    pub fn sim_aws_for(&self, account: &str) -> Vec<Value> {
        self.sim_connectors()
            .into_iter()
            .filter(|c| c["kind"] == "AWS" && str_at(c, "/arn").split(':').nth(4) == Some(account))
            .collect()
    }

    /// Seeds a connector as someone in the Qualys UI would; returns its id.
    pub fn seed_connector(&self, kind: CloudKind, fields: Value) -> String {
        self.sim
            .create_connector(&self.tenant, kind, fields)
            .unwrap_or_else(|e| panic!("seeding the simulator: {e}"))
            .to_string()
    }

    /// Changes a connector behind the operator's back.
    pub fn edit_connector(&self, id: &str, fields: Value) {
        let id: u64 = id.parse().unwrap_or_else(|_| panic!("{id} is not a connector id"));
        self.sim
            .edit_connector(&self.tenant, id, fields)
            .unwrap_or_else(|e| panic!("editing connector {id}: {e}"));
    }

    /// Calls whose method and route match (`*` globs).
    pub fn calls(&self, method: &str, route: &str) -> u64 {
        self.sim.count(method, route)
    }

    /// The namespace's account and its credentials (examples/00-account.yaml).
    pub fn apply_account(&self) {
        self.apply_example("00-account.yaml");
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("==== {} failed; namespace {} ====", self.test, self.ns);
            for op in &self.operators {
                eprintln!("---- operator {} log ({}) ----", op.identity, op.log.display());
                eprintln!("{}", op.log_text());
            }
            let objects = output(self.kubectl().args(["get", "qualys", "-o", "yaml"]), None);
            eprintln!("---- objects ----\n{}{}", text(&objects.stdout), text(&objects.stderr));
            let events = output(
                self.kubectl().args([
                    "get",
                    "events",
                    "--sort-by=.lastTimestamp",
                    "-o",
                    "custom-columns=OBJECT:.involvedObject.name,TYPE:.type,REASON:.reason,MESSAGE:.message",
                ]),
                None,
            );
            eprintln!("---- events ----\n{}{}", text(&events.stdout), text(&events.stderr));
            eprintln!(
                "---- simulator tenant ----\n{}",
                serde_json::to_string_pretty(&self.sim_tenant()).unwrap_or_default()
            );
            eprintln!("---- simulator counters ----");
            for c in self.sim.counters() {
                eprintln!("{} {} {} x{}", c.method, c.route, c.status, c.count);
            }
        }
        for op in &mut self.operators {
            op.kill();
        }
    }
}

// ---------------------------------------------------------------------------
// helm

pub struct Helm {
    bin: PathBuf,
    /// HELM_{CACHE,CONFIG,DATA}_HOME: the user's helm setup stays untouched.
    home: tempfile::TempDir,
}

/// `$HELM`, else `scripts/tools.sh helm`. Never skips: without helm the test fails.
pub fn helm() -> &'static Helm {
    static HELM: OnceLock<Helm> = OnceLock::new();
    HELM.get_or_init(|| {
        let bin = match std::env::var_os("HELM").filter(|h| !h.is_empty()) {
            Some(h) => PathBuf::from(h),
            None => {
                let out = output(Command::new(root().join("scripts/tools.sh")).arg("helm"), None);
                assert!(
                    out.status.success(),
                    "scripts/tools.sh helm could not provide helm (set HELM to a helm binary):\n{}",
                    text(&out.stderr)
                );
                PathBuf::from(text(&out.stdout).trim())
            }
        };
        let home = tempfile::tempdir().expect("tempdir");
        let helm = Helm { bin, home };
        ok(helm.cmd().arg("version"), None);
        helm
    })
}

impl Helm {
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        let home = self.home.path();
        cmd.env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_DATA_HOME", home.join("data"));
        cmd
    }
}

/// An AwsConnector for the AWS account ACCOUNT; `extra_spec` is appended to the spec.
pub fn aws(name: &str, account: &str, extra_spec: &str) -> String {
    aws_annotated(name, account, "", extra_spec)
}

/// [`aws`] with annotations (indented YAML lines under `metadata.annotations`).
pub fn aws_annotated(name: &str, account: &str, annotations: &str, extra_spec: &str) -> String {
    let annotations = if annotations.is_empty() {
        String::new()
    } else {
        format!("  annotations:\n{annotations}")
    };
    fill(
        "apiVersion: qualys-operator.io/v1alpha1
kind: AwsConnector
metadata:
  name: {{NAME}}
{{ANNOTATIONS}}spec:
  arn: arn:aws:iam::{{ACCOUNT}}:role/QualysConnectorRole
  externalId: e2e-{{ACCOUNT}}
  runFrequencyMinutes: 240
  apps:
    - name: AI
{{EXTRA}}",
        &[
            ("NAME", name),
            ("ACCOUNT", account),
            ("ANNOTATIONS", &annotations),
            ("EXTRA", extra_spec),
        ],
    )
}

/// `status.externalId`, which must be set.
pub fn external_id(obj: &Value) -> String {
    let id = str_at(obj, "/status/externalId").to_string();
    assert!(!id.is_empty(), "no status.externalId in {}", obj["status"]);
    id
}

/// The objects of examples/ (kind, name), in dependency order.
pub const EXAMPLES: [(&str, &str); 8] = [
    ("QualysAccount", "default"),
    ("AwsConnector", "aws-prod"),
    ("AzureConnector", "azure-prod"),
    ("GcpConnector", "gcp-analytics"),
    ("OciConnector", "oci-finance"),
    ("AzureOrgConnector", "contoso"),
    ("ConnectorGroup", "platform-team"),
    ("GlobalScanConfiguration", "perimeter-scans"),
];

/// A legacy AWS connector created in the Qualys UI, with CloudView (CSA), so
/// groups can list its account.
pub fn seed_cloudview_aws(env: &Env, account: &str, name: &str) -> String {
    let arn = format!("arn:aws:iam::{account}:role/Legacy");
    env.seed_connector(
        CloudKind::Aws,
        json!({
            "name": name,
            "arn": arn,
            "externalId": "legacy",
            "connectorAppInfos": {"set": {"ConnectorAppInfoQList": [
                {"set": {"ConnectorAppInfo": {"name": "CSA", "identifier": arn}}}
            ]}}
        }),
    )
}

/// A manifest with `{{NAME}}`-style placeholders filled in.
pub fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    vars.iter()
        .fold(template.to_string(), |t, (k, v)| t.replace(&format!("{{{{{k}}}}}"), v))
}
