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
        again.stdout.contains("0 object(s) with actions, 7 unchanged"),
        "{}",
        again.all()
    );

    let json_run = cli.cmd("plan", &["-o", "json"]).await;
    assert_eq!(json_run.code, 0, "{}", json_run.all());
    let v: Value = serde_json::from_str(&json_run.stdout).unwrap_or_else(|e| panic!("{e}:\n{}", json_run.all()));
    assert_eq!(v["changes"], json!(false), "{v}");
    assert_eq!(v["plan"]["objects"].as_array().map(Vec::len), Some(7), "{v}");
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
