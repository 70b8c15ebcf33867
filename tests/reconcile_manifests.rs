//! Issue 5: bad manifests give errors naming the file, the object and the
//! field, before anything talks to Qualys; a missing Secret is a clear conflict
//! of its object only.

#[path = "reconcile_support.rs"]
mod support;

use std::path::{Path, PathBuf};

use serde_json::json;
use support::*;

use qualys_operator::cli::workspace::{CliError, Workspace};

fn invalid_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/invalid")
}

fn invalid_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(invalid_dir())
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

/// `# expect: PATH: MESSAGE` of an invalid example.
fn expectation(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{e}"));
    text.lines()
        .next()
        .and_then(|l| l.strip_prefix("# expect: "))
        .unwrap_or_else(|| panic!("{}: no expect line", path.display()))
        .to_string()
}

fn kind_and_name(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{e}"));
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.trim_start().strip_prefix(key))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    format!("{}/{}", field("kind:"), field("name:"))
}

fn invalid_errors(result: Result<Workspace, CliError>) -> Vec<String> {
    match result {
        Err(CliError::Invalid(lines)) => lines,
        Err(other) => panic!("CliError::Invalid expected, got {other}"),
        Ok(ws) => panic!("accepted: {:?}", ws.objects),
    }
}

#[test]
fn every_invalid_example_names_file_object_and_field() {
    let files = invalid_files();
    assert!(files.len() >= 20, "{files:?}");
    for path in &files {
        let lines = invalid_errors(Workspace::load(std::slice::from_ref(path)));
        let expected = format!("{}#1 {}: {}", path.display(), kind_and_name(path), expectation(path));
        assert!(
            lines.iter().any(|l| l.starts_with(&expected)),
            "{}:\nexpected a line starting with\n  {expected}\ngot\n  {}",
            path.display(),
            lines.join("\n  ")
        );
        // The Display of the error (what the CLI prints) carries it too.
        let shown = CliError::Invalid(lines.clone()).to_string();
        assert!(shown.contains(&expected), "{shown}");
    }
}

/// Every invalid object is reported at once, not just the first.
#[test]
fn a_directory_of_invalid_manifests_reports_every_one() {
    let files = invalid_files();
    let lines = invalid_errors(Workspace::load(&[invalid_dir()]));
    for path in &files {
        let prefix = format!("{}#1 {}:", path.display(), kind_and_name(path));
        assert!(
            lines.iter().any(|l| l.starts_with(&prefix)),
            "{prefix} missing from:\n{}",
            lines.join("\n")
        );
    }
}

/// The valid examples next to one invalid file: refused as a whole, naming only
/// the invalid one.
#[test]
fn one_invalid_object_refuses_the_set_and_names_only_it() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let bad = invalid_dir().join("run-frequency-too-high.yaml");
    let files: Vec<PathBuf> = std::fs::read_dir(&examples)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .chain([bad.clone()])
        .collect();
    let lines = invalid_errors(Workspace::load(&files));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with(&format!("{}#1 ", bad.display())), "{lines:?}");
    assert!(lines[0].contains("RunFrequencyMinutes: must be at most"), "{lines:?}");
}

/// A document in the middle of a multi-document file is named by its position.
#[test]
fn errors_name_the_document_position_in_a_multi_document_file() {
    let yaml = r#"
apiVersion: qualys-operator.io/v1alpha1
kind: GcpConnector
metadata: {name: fine}
spec:
  projectId: fine-project-1
  serviceAccountKeySecretRef: {name: k, key: key.json}
---
apiVersion: qualys-operator.io/v1alpha1
kind: AwsConnector
metadata: {name: second}
spec:
  arn: arn:aws:iam::123456789012:role/R
  externalId: x
  runFrequencyMinutes: 5
"#;
    let lines = invalid_errors(Workspace::from_documents(documents("team/connectors.yaml", yaml)));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("team/connectors.yaml#2 AwsConnector/second: spec.runFrequencyMinutes: "),
        "{lines:?}"
    );
}

#[test]
fn an_object_defined_twice_is_refused() {
    let mut docs = example_documents();
    docs.extend(documents(
        "copy.yaml",
        &doc_mut(&mut example_documents(), "OciConnector", "oci-finance").to_string(),
    ));
    let lines = invalid_errors(Workspace::from_documents(docs));
    assert!(
        lines
            .iter()
            .any(|l| l.contains("OciConnector/default/oci-finance") && l.contains("twice")),
        "{lines:?}"
    );
}

#[test]
fn yaml_that_does_not_parse_names_the_file_and_document() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("broken.yaml");
    std::fs::write(&path, "kind: Secret\nmetadata: {name: a}\n---\nkind: [unclosed\n")
        .unwrap_or_else(|e| panic!("{e}"));
    match Workspace::load(std::slice::from_ref(&path)) {
        Err(CliError::Manifest(e)) => {
            let text = e.to_string();
            assert!(text.starts_with(&format!("{}#2", path.display())), "{text}");
        }
        other => panic!("a YAML error expected, got {:?}", other.map(|w| w.objects)),
    }
}

// --- Secrets ---

fn without_secret(name: &str) -> Vec<qualys_operator::manifest::Document> {
    example_documents()
        .into_iter()
        .filter(|d| !(d.kind() == "Secret" && d.name() == name))
        .collect()
}

/// A missing Secret, or a missing key in one, is a plan error (exit 1) naming
/// the object, the field, the Secret and the key: not a change to show.
#[test]
fn a_missing_secret_or_key_is_an_error_naming_field_secret_and_key() {
    let cases = [
        (
            "azure-prod-app",
            "AzureConnector/azure-prod",
            "spec.authenticationKeySecretRef",
            "clientSecret",
        ),
        (
            "gcp-analytics-key",
            "GcpConnector/gcp-analytics",
            "spec.serviceAccountKeySecretRef",
            "key.json",
        ),
        (
            "oci-api-key",
            "OciConnector/oci-finance",
            "spec.privateKeySecretRef",
            "private.pem",
        ),
        (
            "azure-org-app",
            "AzureOrgConnector/contoso",
            "spec.secretValueSecretRef",
            "clientSecret",
        ),
    ];
    for (secret, object, field, key) in cases {
        let lines = invalid_errors(Workspace::from_documents(without_secret(secret)));
        assert_eq!(lines.len(), 1, "{lines:?}");
        for part in [object, field, &format!("Secret default/{secret}"), key] {
            assert!(lines[0].contains(part), "{part} not in {:?}", lines[0]);
        }
    }
    let mut docs = example_documents();
    doc_mut(&mut docs, "OciConnector", "oci-finance")["spec"]["privateKeySecretRef"]["key"] = json!("wrong.pem");
    let lines = invalid_errors(Workspace::from_documents(docs));
    assert!(
        lines.len() == 1 && lines[0].contains("has no key \"wrong.pem\"") && lines[0].contains("oci-api-key"),
        "{lines:?}"
    );
}

/// "defined twice" names both places, so the duplicate can be found.
#[test]
fn an_object_defined_twice_names_both_files() {
    let gcp = include_str!("../examples/gcp-connector.yaml");
    let mut docs = example_documents();
    docs.extend(documents("team/copy.yaml", gcp));
    let lines = invalid_errors(Workspace::from_documents(docs));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("GcpConnector/default/gcp-analytics: defined twice: examples/gcp-connector.yaml#1")
            && lines[0].contains("and team/copy.yaml#1"),
        "{lines:?}"
    );
}

/// Strict like kubectl: other groups are listed (not dropped silently), our
/// group's unknown kinds are errors, and a set without our objects is refused.
#[test]
fn other_groups_are_listed_and_no_objects_of_ours_is_an_error() {
    let mut docs = example_documents();
    docs.extend(documents(
        "extra.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\napiVersion: example.com/v1\nkind: AwsConnector2\nmetadata: {name: x}\n",
    ));
    let ws = Workspace::from_documents(docs).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        ws.ignored_note().as_deref(),
        Some(
            "note: ignored 2 object(s) not of qualys-operator.io: v1 ConfigMap/c (extra.yaml#1), \
             example.com/v1 AwsConnector2/x (extra.yaml#2)"
        )
    );
    let only_account: Vec<_> = example_documents()
        .into_iter()
        .filter(|d| matches!(d.kind(), "QualysAccount" | "Secret"))
        .collect();
    match Workspace::from_documents(only_account) {
        Err(CliError::NoObjects(m)) => assert!(m.contains("is a qualys-operator.io object to manage"), "{m}"),
        other => panic!("{:?}", other.map(|w| w.objects.len())),
    }
    let empty = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    match Workspace::load(&[empty.path().to_path_buf()]) {
        Err(CliError::NoObjects(m)) => assert!(m.starts_with("no manifests in"), "{m}"),
        other => panic!("{:?}", other.map(|w| w.objects.len())),
    }
}

/// Secrets given as base64 `data` work like `stringData`.
#[tokio::test]
async fn secrets_in_base64_data_are_resolved() {
    let mut docs = example_documents();
    let secret = doc_mut(&mut docs, "Secret", "azure-prod-app");
    secret.as_object_mut().map(|o| o.remove("stringData"));
    // "REPLACE-ME~azure-client-secret"
    secret["data"] = json!({"clientSecret": "UkVQTEFDRS1NRX5henVyZS1jbGllbnQtc2VjcmV0"});
    let mut env = Env::new(docs).await;
    env.converge().await;
    let stored = env.stored(AZURE);
    assert_eq!(
        stored.auth_record.get("authenticationKey").map(String::as_str),
        Some("REPLACE-ME~azure-client-secret")
    );
    // Same value as the stringData form: nothing to rotate.
    env.set_documents(example_documents());
    let plan = env.plan().await;
    assert!(plan.is_empty(), "{}", plan.render());
}
