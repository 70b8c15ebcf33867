//! Issue 5: the `plan`, `apply` and `demo` commands end to end: the built binary
//! against a simulator started in this test, manifests in a temporary directory.

#[path = "reconcile_support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};
use support::*;

const BIN: &str = env!("CARGO_BIN_EXE_qualys-operator");

/// Secret values of the examples, which no output may show.
const SECRET_VALUES: &[&str] = &[
    "REPLACE-ME~azure-client-secret",
    "REPLACE-ME~azure-org-client-secret",
    "BEGIN PRIVATE KEY",
];

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn all(&self) -> String {
        format!("--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr)
    }
}

/// Run the binary off the async runtime (the simulator lives on it).
async fn run(args: Vec<String>, env: Vec<(&'static str, String)>) -> Run {
    let output: Output = tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(BIN);
        cmd.args(&args)
            .env_remove("QUALYS_USERNAME")
            .env_remove("QUALYS_PASSWORD")
            .env_remove("QUALYS_URL")
            .env_remove("QUALYS_GATEWAY_URL")
            .env_remove("QUALYS_CLOUDVIEW_URL")
            .env("NO_COLOR", "1");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap_or_else(|e| panic!("{BIN}: {e}"))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let r = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    for secret in SECRET_VALUES {
        assert!(
            !r.stdout.contains(secret) && !r.stderr.contains(secret),
            "a secret leaks:\n{}",
            r.all()
        );
    }
    r
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The examples, with the account pointing at `base`, written into `dir`.
/// `keep_credentials`: whether the Qualys credentials Secret is written.
fn write_examples(dir: &Path, base: &str, keep_credentials: bool) {
    let mut docs = example_documents();
    let account = doc_mut(&mut docs, "QualysAccount", "default");
    account["spec"] = json!({"apiUrl": base, "gatewayUrl": base, "allowInsecureHttp": true, "credentialsSecretRef": {"name": "qualys-credentials"}});
    let mut n = 0;
    for doc in docs {
        if !keep_credentials && doc.kind() == "Secret" && doc.name() == "qualys-credentials" {
            continue;
        }
        n += 1;
        // JSON is YAML; one file per document.
        let path = dir.join(format!("{n:02}-{}.yaml", doc.name()));
        std::fs::write(&path, doc.value.to_string()).unwrap_or_else(|e| panic!("{e}"));
    }
}

struct Cli {
    sim: SimHandle,
    dir: tempfile::TempDir,
    state: PathBuf,
}

impl Cli {
    async fn new(keep_credentials: bool) -> Self {
        let sim = start_sim().await;
        seed_legacy(&sim);
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let manifests = dir.path().join("manifests");
        std::fs::create_dir(&manifests).unwrap_or_else(|e| panic!("{e}"));
        write_examples(&manifests, &sim.base_url(), keep_credentials);
        let state = dir.path().join("state.json");
        Self { sim, dir, state }
    }

    fn manifests(&self) -> String {
        self.dir.path().join("manifests").display().to_string()
    }

    async fn cmd(&self, command: &str, extra: &[&str]) -> Run {
        let mut a = args(&[
            command,
            "-f",
            &self.manifests(),
            "--state",
            &self.state.display().to_string(),
        ]);
        a.extend(args(extra));
        run(a, Vec::new()).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_apply_plan_with_exit_codes_and_json() {
    let cli = Cli::new(true).await;
    let first = cli.cmd("plan", &[]).await;
    assert_eq!(first.code, 2, "changes pending must exit 2:\n{}", first.all());
    for reference in ALL {
        assert!(first.stdout.contains(reference), "{reference}:\n{}", first.all());
    }
    assert!(
        first.stdout.contains("+ spec.runFrequencyMinutes = 240"),
        "{}",
        first.all()
    );
    assert!(
        first.stdout.contains("+ spec.authenticationKeySecretRef = (sensitive)"),
        "{}",
        first.all()
    );
    assert!(!cli.state.exists(), "plan must not write the state file");
    // The org's member is not created yet: named, not shown as an internal placeholder.
    assert!(!first.stdout.contains("pending:"), "{}", first.all());
    assert!(first.stdout.contains("azure-prod (not created yet)"), "{}", first.all());
    assert!(
        !first.stdout.contains("sha256"),
        "a secret hash is printed:\n{}",
        first.all()
    );
    assert_eq!(cli.sim.count("*", "*/create/*"), 0, "plan must not write");

    let apply = cli.cmd("apply", &[]).await;
    assert_eq!(apply.code, 0, "{}", apply.all());
    assert!(apply.stdout.contains("created"), "{}", apply.all());
    assert!(
        apply.stdout.contains("QUALYS ID"),
        "the resulting states:\n{}",
        apply.all()
    );
    let state: Value = serde_json::from_str(&std::fs::read_to_string(&cli.state).unwrap_or_default())
        .unwrap_or_else(|e| panic!("state file: {e}"));
    let text = state.to_string();
    for reference in ALL {
        assert!(text.contains(reference), "{reference} not in the state: {text}");
    }
    for secret in SECRET_VALUES {
        assert!(!text.contains(secret), "a secret is in the state file: {text}");
    }

    let again = cli.cmd("plan", &[]).await;
    assert_eq!(again.code, 0, "nothing to do must exit 0:\n{}", again.all());
    assert!(
        again.stdout.contains("0 object(s) with actions, 10 unchanged"),
        "{}",
        again.all()
    );

    let json_run = cli.cmd("plan", &["-o", "json"]).await;
    assert_eq!(json_run.code, 0, "{}", json_run.all());
    let v: Value = serde_json::from_str(&json_run.stdout).unwrap_or_else(|e| panic!("{e}:\n{}", json_run.all()));
    assert_eq!(v["changes"], json!(false), "{v}");
    assert_eq!(v["plan"]["objects"].as_array().map(Vec::len), Some(10), "{v}");
    assert!(v["qualysApiCalls"].as_u64().is_some_and(|n| n > 0), "{v}");

    // Drift out of band: exit 2, the field named, JSON says changes.
    let id = state["accounts"]
        .as_object()
        .and_then(|a| a.values().next())
        .and_then(|objects| objects[AWS]["externalId"].as_str())
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no AWS id in {text}"));
    cli.sim
        .edit_connector(&tenant(&cli.sim), id, json!({"runFrequency": 1440}))
        .unwrap_or_else(|e| panic!("{e}"));
    let drift = cli.cmd("plan", &[]).await;
    assert_eq!(drift.code, 2, "{}", drift.all());
    assert!(
        drift.stdout.contains("~ spec.runFrequencyMinutes: 1440 -> 240"),
        "{}",
        drift.all()
    );
    let drift_json = cli.cmd("plan", &["--output", "json"]).await;
    assert_eq!(drift_json.code, 2);
    let v: Value = serde_json::from_str(&drift_json.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v["changes"], json!(true));
    let fixed = cli.cmd("apply", &["-o", "json"]).await;
    assert_eq!(fixed.code, 0, "{}", fixed.all());
    let v: Value = serde_json::from_str(&fixed.stdout).unwrap_or_else(|e| panic!("{e}:\n{}", fixed.all()));
    assert!(
        v["results"]
            .as_array()
            .is_some_and(|r| r.iter().all(|x| x["ok"] == json!(true))),
        "{v}"
    );
    assert_eq!(cli.cmd("plan", &[]).await.code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_come_from_the_environment_when_no_secret_holds_them() {
    let cli = Cli::new(false).await;
    let base = args(&[
        "plan",
        "-f",
        &cli.manifests(),
        "--state",
        &cli.state.display().to_string(),
    ]);
    let missing = run(base.clone(), Vec::new()).await;
    assert_eq!(missing.code, 1, "{}", missing.all());
    assert!(missing.stderr.contains("QUALYS_USERNAME"), "{}", missing.all());
    assert!(
        missing
            .stderr
            .contains("QualysAccount default reads it from Secret qualys-credentials key \"username\""),
        "the Secret and key are named:\n{}",
        missing.all()
    );
    let creds = vec![
        ("QUALYS_USERNAME", "demo".to_string()),
        ("QUALYS_PASSWORD", "demo".to_string()),
    ];
    let ok = run(base.clone(), creds.clone()).await;
    assert_eq!(ok.code, 2, "{}", ok.all());
    let wrong = run(
        base.clone(),
        vec![
            ("QUALYS_USERNAME", "demo".to_string()),
            ("QUALYS_PASSWORD", "wrong".to_string()),
        ],
    )
    .await;
    assert_eq!(wrong.code, 1, "{}", wrong.all());
    assert!(!wrong.stderr.is_empty(), "{}", wrong.all());

    // No QualysAccount at all: the URL flag (or QUALYS_URL) and the environment.
    let bare = cli.dir.path().join("bare");
    std::fs::create_dir(&bare).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(bare.join("gcp.yaml"), include_str!("../examples/gcp-connector.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(bare.join("secrets.yaml"), include_str!("../examples/01-secrets.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let bare_args = |extra: &[&str]| {
        let mut a = args(&[
            "plan",
            "-f",
            &bare.display().to_string(),
            "--state",
            &cli.state.display().to_string(),
        ]);
        a.extend(args(extra));
        a
    };
    let no_url = run(bare_args(&[]), creds.clone()).await;
    assert_eq!(no_url.code, 1, "{}", no_url.all());
    assert!(no_url.stderr.contains("--qualys-url"), "{}", no_url.all());
    let url = cli.sim.base_url();
    let flagged = run(bare_args(&["--qualys-url", &url]), creds.clone()).await;
    assert_eq!(flagged.code, 2, "{}", flagged.all());
    assert!(
        flagged.stdout.contains("GcpConnector/default/gcp-analytics"),
        "{}",
        flagged.all()
    );
    let mut env_url = creds.clone();
    env_url.push(("QUALYS_URL", url));
    let from_env = run(bare_args(&[]), env_url).await;
    assert_eq!(from_env.code, 2, "{}", from_env.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_manifests_exit_1_naming_file_object_and_field() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("bad.yaml");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/invalid/aws-bad-arn.yaml"),
        &file,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let r = run(
        args(&[
            "plan",
            "-f",
            &file.display().to_string(),
            "--qualys-url",
            "http://127.0.0.1:9",
        ]),
        vec![
            ("QUALYS_USERNAME", "u".to_string()),
            ("QUALYS_PASSWORD", "p".to_string()),
        ],
    )
    .await;
    assert_eq!(r.code, 1, "{}", r.all());
    let expected = format!("{}#1 AwsConnector/aws-bad-arn: spec.arn:", file.display());
    assert!(r.stderr.contains(&expected), "{expected}\n{}", r.all());
    // Credentials on the command line are not accepted at all.
    let r = run(
        args(&["plan", "-f", &file.display().to_string(), "--password", "x"]),
        Vec::new(),
    )
    .await;
    assert_ne!(r.code, 0, "{}", r.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_shows_the_drift_and_its_correction() {
    let r = run(args(&["demo"]), Vec::new()).await;
    assert_eq!(r.code, 0, "{}", r.all());
    let out = &r.stdout;
    for reference in ALL {
        assert!(out.contains(reference), "{reference} missing:\n{out}");
    }
    let drift = out
        .find("someone edits the AWS connector")
        .unwrap_or_else(|| panic!("{out}"));
    let after = &out[drift..];
    assert!(after.contains("~ spec.runFrequencyMinutes: 1440 -> 240"), "{out}");
    assert!(after.contains("~ spec.description: \"changed by hand\" -> "), "{out}");
    let corrected = after
        .find("apply corrects the drift")
        .unwrap_or_else(|| panic!("{out}"));
    assert!(after[corrected..].contains("updated"), "{out}");
    assert!(after[corrected..].contains("Plan: 0 object(s) with actions"), "{out}");
    assert!(out.contains("Qualys API calls"), "{out}");
    assert!(!out.contains("FAILED") && !out.contains("NOT APPLIED"), "{out}");
}

/// The JSON plan masks secrets like the text one: no value, no hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_plan_shows_no_secret_hash() {
    let cli = Cli::new(true).await;
    let r = cli.cmd("plan", &["-o", "json"]).await;
    assert_eq!(r.code, 2, "{}", r.all());
    let v: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert!(!r.stdout.contains("sha256"), "{v:#}");
}

// ---- Issue 13: safe to point anywhere ----

/// A TCP listener that accepts connections and never answers: it counts them.
/// Stands in for a production host that must stay silent, or for a hung Qualys.
struct Silent {
    url: String,
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Silent {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                held.push(socket);
            }
        });
        Self {
            url: format!("http://{addr}"),
            accepted,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Requests the simulator saw per API family.
fn per_family(sim: &SimHandle) -> [u64; 3] {
    [
        sim.count("*", "/qps/*"),
        sim.count("*", "/auth") + sim.count("*", "/connectors/*"),
        sim.count("*", "/cloudview-api/*"),
    ]
}

/// The account names a platform (as a real one does); `--qualys-url` alone
/// must still send every family, and the credentials, to that URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qualys_url_alone_sends_every_family_there_and_nothing_to_the_platform() {
    let cli = Cli::new(true).await;
    let silent = Silent::start().await;
    // The account as a user writes it: a platform, no URLs.
    let account = std::fs::read_dir(cli.manifests())
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            std::fs::read_to_string(p)
                .unwrap_or_default()
                .contains("\"QualysAccount\"")
        })
        .unwrap_or_else(|| panic!("no account file"));
    let mut doc: Value =
        serde_json::from_str(&std::fs::read_to_string(&account).unwrap_or_default()).unwrap_or_else(|e| panic!("{e}"));
    doc["spec"] = json!({"platform": "US2", "credentialsSecretRef": {"name": "qualys-credentials"}});
    std::fs::write(&account, doc.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let url = cli.sim.base_url();
    let stand_in = vec![("QUALYS_OPERATOR_TEST_PLATFORM_URL", silent.url.clone())];
    let command = |command: &str, extra: &[&str]| {
        let mut a = args(&[
            command,
            "-f",
            &cli.manifests(),
            "--state",
            &cli.state.display().to_string(),
            "--qualys-url",
            &url,
        ]);
        a.extend(args(extra));
        a
    };

    let plan = run(command("plan", &[]), stand_in.clone()).await;
    assert_eq!(plan.code, 2, "{}", plan.all());
    assert_eq!(
        silent.accepted(),
        0,
        "the platform's host was contacted:\n{}",
        plan.all()
    );
    let [qps, gateway, cloudview] = per_family(&cli.sim);
    assert!(qps > 0 && gateway > 0 && cloudview > 0, "{qps} {gateway} {cloudview}");
    // The endpoints come first, each with its source.
    let head: Vec<&str> = plan.stdout.lines().take(4).collect();
    assert_eq!(head[0], "Endpoints:", "{}", plan.all());
    for (line, family) in head[1..].iter().zip(["QPS", "gateway", "CloudView"]) {
        assert!(line.trim_start().starts_with(family), "{line}");
        assert!(
            line.contains(&url) && line.contains("(--qualys-url / QUALYS_URL)"),
            "{line}"
        );
    }

    let json_plan = run(command("plan", &["-o", "json"]), stand_in.clone()).await;
    let v: Value = serde_json::from_str(&json_plan.stdout).unwrap_or_else(|e| panic!("{e}:\n{}", json_plan.all()));
    for family in ["qps", "gateway", "cloudview"] {
        assert_eq!(v["endpoints"][family]["url"], json!(url), "{v}");
        assert_eq!(
            v["endpoints"][family]["source"],
            json!("--qualys-url / QUALYS_URL"),
            "{v}"
        );
    }

    cli.sim.reset_counters();
    let apply = run(command("apply", &[]), stand_in.clone()).await;
    assert_eq!(apply.code, 0, "{}", apply.all());
    let [qps, gateway, cloudview] = per_family(&cli.sim);
    assert!(qps > 0 && gateway > 0 && cloudview > 0, "{qps} {gateway} {cloudview}");
    assert!(
        cli.sim.count("POST", "/connectors/v1.0/org/azure*") > 0,
        "the org connector was created here"
    );
    assert_eq!(
        silent.accepted(),
        0,
        "apply contacted the platform's host:\n{}",
        apply.all()
    );

    // Without --qualys-url the table (here the stand-in) is used, and shown as such.
    let table = run(
        args(&[
            "plan",
            "-f",
            &cli.manifests(),
            "--state",
            &cli.state.display().to_string(),
            "--request-timeout",
            "1s",
            "--timeout",
            "2s",
        ]),
        stand_in,
    )
    .await;
    assert_eq!(table.code, 1, "{}", table.all());
    assert!(
        table
            .stdout
            .contains("QualysAccount default spec.platform US2 (replaced by QUALYS_OPERATOR_TEST_PLATFORM_URL)"),
        "{}",
        table.all()
    );
    assert!(silent.accepted() > 0, "the stand-in is what the table resolves to");
}

/// A local QPS URL with the gateway left to a public platform is refused
/// before any request, unless the flag says it is intended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_private_and_public_endpoints_are_refused_unless_allowed() {
    let cli = Cli::new(true).await;
    let silent = Silent::start().await;
    let base = args(&[
        "plan",
        "-f",
        &cli.manifests(),
        "--state",
        &cli.state.display().to_string(),
        "--gateway-url",
        "https://gateway.qg2.apps.qualys.com",
        "--qualys-url",
        &silent.url,
    ]);
    let refused = run(base.clone(), Vec::new()).await;
    assert_eq!(refused.code, 1, "{}", refused.all());
    for part in [
        &format!("QPS {}", silent.url),
        "gateway https://gateway.qg2.apps.qualys.com",
        "--allow-mixed-endpoints",
    ] {
        assert!(refused.stderr.contains(part), "{part}:\n{}", refused.all());
    }
    assert_eq!(silent.accepted(), 0, "nothing may be sent before the refusal");
    let mut allowed = base;
    allowed.extend(args(&["--allow-mixed-endpoints", "--timeout", "1s"]));
    let r = run(allowed, Vec::new()).await;
    assert!(!r.stderr.contains("--allow-mixed-endpoints"), "{}", r.all());
    assert!(silent.accepted() > 0, "allowed: the run goes ahead:\n{}", r.all());
}

/// Each file of examples/invalid/cli is refused by `plan` (exit 1) with the
/// message of its `# expect:` line, before any request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cli_invalid_example_exits_1_with_its_message() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/invalid/cli");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{files:?}");
    let state = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{}: no `# expect:` first line", file.display()));
        let r = run(
            args(&[
                "plan",
                "-f",
                &file.display().to_string(),
                "--state",
                &state.path().join("s.json").display().to_string(),
            ]),
            vec![("QUALYS_USERNAME", "u".into()), ("QUALYS_PASSWORD", "p".into())],
        )
        .await;
        if r.code != 1 || !r.stderr.contains(expect) {
            failures.push(format!(
                "{}: expected exit 1 and {expect:?}:\n{}",
                file.display(),
                r.all()
            ));
        }
        if expect.starts_with("kind:") || expect.contains("duplicate") || expect.contains("out of range") {
            let named = format!("{}#1 ", file.display());
            if !r.stderr.contains(&named) {
                failures.push(format!("{}: the file is not named:\n{}", file.display(), r.all()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Qualys accepts the connection and never answers: `plan` gives up within
/// the limit, naming the endpoint, and says on stderr what it is waiting for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_server_fails_plan_within_the_limit_naming_the_endpoint() {
    let hung = Silent::start().await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.path().join("gcp.yaml"),
        include_str!("../examples/gcp-connector.yaml"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.path().join("secrets.yaml"),
        include_str!("../examples/01-secrets.yaml"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let creds = vec![
        ("QUALYS_USERNAME", "u".to_string()),
        ("QUALYS_PASSWORD", "p".to_string()),
    ];
    let plan = |extra: &[&str]| {
        let mut a = args(&[
            "plan",
            "-f",
            &dir.path().display().to_string(),
            "--state",
            &dir.path().join("s.json").display().to_string(),
            "--qualys-url",
            &hung.url,
        ]);
        a.extend(args(extra));
        a
    };

    let error = |r: &Run| {
        r.stderr
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or_default()
            .to_string()
    };
    // The whole-command limit.
    let started = std::time::Instant::now();
    let r = run(plan(&["--timeout", "3s"]), creds.clone()).await;
    let took = started.elapsed();
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(took < std::time::Duration::from_secs(3 + 5), "took {took:?}");
    assert!(
        error(&r).contains("--timeout") && error(&r).contains(&hung.url),
        "{}",
        r.all()
    );

    // The per-request limit: retried (shown on stderr), then given up.
    let started = std::time::Instant::now();
    let r = run(plan(&["--request-timeout", "1s"]), creds).await;
    let took = started.elapsed();
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(took < std::time::Duration::from_secs(4 + 4 + 5), "took {took:?}");
    assert!(error(&r).contains(&hung.url), "the endpoint is named:\n{}", r.all());
    assert!(
        r.stderr.contains("... retrying QPS"),
        "progress on stderr:\n{}",
        r.all()
    );
    assert!(r.stdout.starts_with("Endpoints:"), "{}", r.all());
}

/// The defaults fail a hung plan in under 90 s: 4 attempts of one request
/// timeout plus the backoff between them.
#[test]
fn the_default_limits_fail_a_hung_plan_in_under_90_seconds() {
    use clap::Parser;
    let cli = qualys_operator::cli::Cli::try_parse_from(["qualys-operator", "plan", "-f", "x"])
        .unwrap_or_else(|e| panic!("{e}"));
    let qualys_operator::cli::Command::Plan(args) = cli.command else {
        panic!("not plan")
    };
    let timeouts = args.connection.account_options().timeouts.unwrap_or_default();
    let attempts = timeouts.max_retries + 1;
    let backoff: std::time::Duration = (1..attempts).map(|r| timeouts.retry_base * 2u32.pow(r - 1)).sum();
    let worst = timeouts.request * attempts + backoff;
    assert!(worst < std::time::Duration::from_secs(90), "{worst:?}");
    assert!(
        timeouts.connect <= std::time::Duration::from_secs(5),
        "{:?}",
        timeouts.connect
    );
}

/// A state file that cannot be written stops `apply` before it writes to Qualys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_state_file_stops_apply_before_any_qualys_write() {
    let cli = Cli::new(true).await;
    // Below a regular file nothing can be created, even as root.
    let blocker = cli.dir.path().join("not-a-dir");
    std::fs::write(&blocker, "x").unwrap_or_else(|e| panic!("{e}"));
    let state = blocker.join("state.json");
    let r = run(
        args(&["apply", "-f", &cli.manifests(), "--state", &state.display().to_string()]),
        Vec::new(),
    )
    .await;
    assert_eq!(r.code, 1, "{}", r.all());
    assert!(r.stderr.contains(&state.display().to_string()), "{}", r.all());
    // Checked before the first request, so not even a read was made.
    assert_eq!(cli.sim.count("*", "*"), 0, "{:?}", cli.sim.counters());
    assert!(
        cli.sim.state().to_string().contains("legacy"),
        "the seeded connector is untouched"
    );
}

/// Saving the state fails mid-apply: nothing more is written to Qualys, and
/// what was done comes back with the error (the CLI prints it, then exits 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_state_save_stops_writing_and_returns_what_was_done() {
    let mut env = Env::examples().await;
    let snap = env.observe().await;
    let mut saves = 0;
    let run = env
        .ws
        .apply_saving(
            &env.client,
            &snap,
            &mut env.state,
            &env.account,
            &mut |_: &qualys_operator::cli::state::State| {
                saves += 1;
                if saves < 2 {
                    Ok(())
                } else {
                    Err(qualys_operator::cli::state::StateError::Io {
                        path: "state.json".into(),
                        message: "disk full".into(),
                    })
                }
            },
        )
        .await;
    assert_eq!(run.results.len(), 2, "{:?}", run.results);
    assert!(run.save_error.is_some());
    let created: usize = ["AWS", "AZURE", "GCP", "OCI"]
        .iter()
        .map(|cloud| env.connectors_of(cloud).len())
        .sum();
    // The seeded legacy AWS connector plus the two objects applied.
    assert_eq!(created, 3, "writes after the failed save:\n{:#}", env.world());
    let shown = qualys_operator::cli::workspace::CliError::StateNotSaved {
        done: run.results.len(),
        source: run.save_error.unwrap_or_else(|| panic!("no error")),
    }
    .to_string();
    assert!(
        shown.contains("disk full") && shown.contains("the 2 object(s) above"),
        "{shown}"
    );
}

/// Throttled by Qualys: the wait and its reason appear on stderr as it
/// happens, and a call held back by the paused budget says so after 5 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_waits_are_shown_with_their_reason() {
    let cli = Cli::new(true).await;
    let mut rule = FaultRule::new(
        "*/search/am/*",
        FaultAction::Status {
            status: 429,
            body: Some("This API cannot be run again for another 6 seconds.".into()),
        },
    );
    rule.times = Some(1);
    cli.sim.add_fault(rule);
    let r = cli.cmd("plan", &[]).await;
    assert_eq!(r.code, 2, "{}", r.all());
    assert!(
        r.stderr.contains("... rate-limited by Qualys on QPS") && r.stderr.contains("run again for another 6 seconds"),
        "{}",
        r.all()
    );
    assert!(
        r.stderr.contains("... waiting for the QPS rate budget") && r.stderr.contains("Qualys asked to wait"),
        "{}",
        r.all()
    );
}

/// `--help` and the README state the endpoint rule in the order the resolver
/// applies it (the unit tests of `qualys::platform` pin that order).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_and_readme_state_the_endpoint_rule() {
    for command in ["plan", "apply"] {
        let help = run(args(&[command, "--help"]), Vec::new()).await;
        let text = help.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            text.contains(
                "first match wins: the family's own flag (--gateway-url, --cloudview-url); --qualys-url; \
                 the QualysAccount's apiUrl, gatewayUrl, cloudviewUrl; its platform; for CloudView, the QPS URL"
            ) && text.contains("--allow-mixed-endpoints"),
            "{command} --help:\n{}",
            help.all()
        );
    }
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .unwrap_or_else(|e| panic!("{e}"));
    let order = [
        "1. the family's own flag",
        "2. `--qualys-url`",
        "3. the QualysAccount's",
        "4. the QualysAccount's `platform`",
        "5. for CloudView only: the QPS URL",
    ];
    let positions: Vec<Option<usize>> = order.iter().map(|s| readme.find(s)).collect();
    assert!(
        positions.iter().all(Option::is_some) && positions.windows(2).all(|w| w[0] < w[1]),
        "README Endpoints rule: {positions:?}"
    );
}
