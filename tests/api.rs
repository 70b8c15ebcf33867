//! The Kubernetes API: committed CRDs and reference match the generated ones,
//! every example is valid, every invalid example is refused with its message.

use std::path::{Path, PathBuf};

use qualys_operator::crd::{self, definitions, validation};
use qualys_operator::manifest;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn committed_crds_match_generated() {
    let all = definitions::all();
    assert_eq!(all.len(), 11, "eleven kinds");
    for crd in &all {
        let path = root().join("crds").join(definitions::file_name(crd));
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        let generated = definitions::to_yaml(crd).expect("yaml");
        assert!(
            committed == generated,
            "{} is stale: run `cargo run -- crds --out-dir crds`",
            path.display()
        );
    }
    let files = std::fs::read_dir(root().join("crds")).expect("crds/").count();
    assert_eq!(files, all.len(), "crds/ holds exactly one file per kind");
}

#[test]
fn committed_reference_matches_generated() {
    let committed = std::fs::read_to_string(root().join("docs/api-reference.md")).unwrap_or_default();
    assert!(
        committed == crd::reference::markdown(),
        "docs/api-reference.md is stale: run `cargo run -- crds --reference > docs/api-reference.md`"
    );
}

#[test]
fn every_crd_has_status_columns_category_and_short_name() {
    for crd in definitions::all() {
        let kind = &crd.spec.names.kind;
        assert_eq!(crd.spec.group, crd::GROUP);
        assert_eq!(crd.spec.scope, "Namespaced", "{kind}");
        assert_eq!(
            crd.spec.names.categories.as_deref(),
            Some(&["qualys".to_string()][..]),
            "{kind}"
        );
        assert!(
            crd.spec.names.short_names.as_ref().is_some_and(|s| !s.is_empty()),
            "{kind}"
        );
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, crd::VERSION);
        assert!(
            version.subresources.as_ref().and_then(|s| s.status.as_ref()).is_some(),
            "{kind} status"
        );
        let columns: Vec<&str> = version
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| c.name.as_str())
            .collect();
        for wanted in ["Ready", "State", "Qualys ID", "Age"] {
            assert!(columns.contains(&wanted), "{kind} lacks column {wanted}");
        }
    }
}

fn examples() -> Vec<manifest::Document> {
    let mut docs = Vec::new();
    for entry in std::fs::read_dir(root().join("examples")).expect("examples/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            docs.extend(manifest::read_paths(&[path]).expect("readable"));
        }
    }
    docs
}

fn parse_typed(doc: &manifest::Document) -> Result<(), String> {
    let v = doc.value.clone();
    let result = match doc.kind() {
        "QualysAccount" => serde_json::from_value::<crd::QualysAccount>(v).map(|_| ()),
        "AwsConnector" => serde_json::from_value::<crd::AwsConnector>(v).map(|_| ()),
        "AzureConnector" => serde_json::from_value::<crd::AzureConnector>(v).map(|_| ()),
        "GcpConnector" => serde_json::from_value::<crd::GcpConnector>(v).map(|_| ()),
        "OciConnector" => serde_json::from_value::<crd::OciConnector>(v).map(|_| ()),
        "AzureOrgConnector" => serde_json::from_value::<crd::AzureOrgConnector>(v).map(|_| ()),
        "ConnectorGroup" => serde_json::from_value::<crd::ConnectorGroup>(v).map(|_| ()),
        "GlobalScanConfiguration" => serde_json::from_value::<crd::GlobalScanConfiguration>(v).map(|_| ()),
        "UserScope" => serde_json::from_value::<crd::UserScope>(v).map(|_| ()),
        "SnapshotScanRegistration" => serde_json::from_value::<crd::SnapshotScanRegistration>(v).map(|_| ()),
        "CloudViewReport" => serde_json::from_value::<crd::CloudViewReport>(v).map(|_| ()),
        "Secret" => return Ok(()),
        other => return Err(format!("unexpected kind {other}")),
    };
    result.map_err(|e| e.to_string())
}

#[test]
fn every_example_parses_and_validates() {
    let docs = examples();
    let mut kinds: Vec<&str> = docs.iter().map(|d| d.kind()).filter(|k| *k != "Secret").collect();
    kinds.sort_unstable();
    kinds.dedup();
    assert_eq!(kinds.len(), 11, "one example per kind, got {kinds:?}");
    for doc in &docs {
        parse_typed(doc).unwrap_or_else(|e| panic!("{}: {e}", doc.describe()));
        if doc.kind() != "Secret" {
            validation::validate_object(&doc.value).unwrap_or_else(|e| panic!("{}: {e:?}", doc.describe()));
        }
    }
}

#[test]
fn every_example_secret_reference_resolves() {
    let docs = examples();
    let secrets: Vec<(&str, Vec<String>)> = docs
        .iter()
        .filter(|d| d.kind() == "Secret")
        .map(|d| {
            let keys = d.value["stringData"]
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            (d.name(), keys)
        })
        .collect();
    let mut refs = Vec::new();
    for doc in &docs {
        collect_secret_refs(&doc.value["spec"], &mut refs);
    }
    assert!(refs.len() >= 5, "examples reference their secrets: {refs:?}");
    for (name, key) in refs {
        let found = secrets
            .iter()
            .any(|(n, keys)| *n == name && (key.is_empty() || keys.contains(&key)));
        assert!(found, "secret {name} key {key:?} is not among the examples");
    }
}

fn collect_secret_refs(value: &serde_json::Value, out: &mut Vec<(String, String)>) {
    if let Some(map) = value.as_object() {
        for (k, v) in map {
            if k.ends_with("SecretRef") {
                let name = v["name"].as_str().unwrap_or_default().to_string();
                let key = v["key"].as_str().unwrap_or_default().to_string();
                out.push((name, key));
            } else {
                collect_secret_refs(v, out);
            }
        }
    }
}

fn invalid_cases() -> Vec<(PathBuf, String)> {
    let dir = root().join("examples/invalid");
    let mut cases: Vec<(PathBuf, String)> = std::fs::read_dir(&dir)
        .expect("examples/invalid")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("readable");
            let expect = text
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("# expect: "))
                .unwrap_or_else(|| panic!("{} has no `# expect:` first line", p.display()))
                .to_string();
            (p, expect)
        })
        .collect();
    cases.sort();
    cases
}

fn validate_file(path: &Path) -> Result<(), Vec<validation::FieldError>> {
    let docs = manifest::read_paths(&[path.to_path_buf()]).expect("readable");
    assert_eq!(docs.len(), 1, "{}", path.display());
    validation::validate_object(&docs[0].value)
}

#[test]
fn every_invalid_example_is_refused_with_its_message() {
    let cases = invalid_cases();
    assert!(cases.len() >= 20, "a table of invalid manifests");
    let mut failures = Vec::new();
    for (path, expected) in cases {
        match validate_file(&path) {
            Ok(()) => failures.push(format!("{}: accepted, expected {expected:?}", path.display())),
            Err(errors) => {
                let rendered: Vec<String> = errors.iter().map(ToString::to_string).collect();
                if !rendered.iter().any(|e| e.contains(&expected)) {
                    failures.push(format!("{}: expected {expected:?}, got {rendered:?}", path.display()));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn validation_reports_every_error_not_just_the_first() {
    let doc = serde_json::json!({
        "apiVersion": "qualys-operator.io/v1alpha1",
        "kind": "AwsConnector",
        "metadata": {"name": "Bad_Name"},
        "spec": {"arn": "nope", "runFrequencyMinutes": 5, "activation": ["VM", "VM"]}
    });
    let errors = validation::validate_object(&doc).expect_err("invalid");
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    for wanted in [
        "metadata.name",
        "spec.arn",
        "spec.externalId",
        "spec.runFrequencyMinutes",
        "spec.activation[1]",
    ] {
        assert!(paths.contains(&wanted), "missing {wanted} in {paths:?}");
    }
}

#[test]
fn unknown_kind_and_wrong_api_version_are_named() {
    let doc = serde_json::json!({"apiVersion": "v1", "kind": "Connector", "metadata": {"name": "x"}});
    let errors = validation::validate_object(&doc).expect_err("unknown kind");
    assert!(errors[0].message.contains("AwsConnector"), "{errors:?}");
    let doc = serde_json::json!({
        "apiVersion": "qualys-operator.io/v1", "kind": "GlobalScanConfiguration", "metadata": {"name": "x"},
        "spec": {"optionProfileId": 2, "recurrence": "DAILY", "scanPrefix": "p", "startDate": "01/15/2027", "startTime": "01:00", "timezone": "UTC"}
    });
    let errors = validation::validate_object(&doc).expect_err("wrong version");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].path, "apiVersion");
}

/// How the schema guarantees a field Qualys requires.
#[derive(Debug, Clone, Copy)]
enum Guarantee {
    /// In `required`, and not empty (a list needs `minItems >= 1`).
    Required,
    /// The schema has a `default`.
    Defaulted,
    /// Optional; the operator sends `metadata.name` (which the API server requires).
    FromMetadataName,
}

/// Every field the Qualys API reference marks mandatory, with the spec field
/// that carries it. Sources: azure-org-connector.md "OrgConnectorRequest"
/// (Mandatory column: create and edit), connector-group.md "Group" (`name`,
/// "Ensure that the name is unique"). The connector (QPS) and global scan
/// pages state no mandatory fields.
const MANDATORY: &[(&str, &str, &str, Guarantee)] = &[
    ("AzureOrgConnector", "name", "name", Guarantee::FromMetadataName),
    ("AzureOrgConnector", "tenantId", "tenantId", Guarantee::Required),
    ("AzureOrgConnector", "tenantName", "tenantName", Guarantee::Required),
    (
        "AzureOrgConnector",
        "applicationId",
        "applicationId",
        Guarantee::Required,
    ),
    (
        "AzureOrgConnector",
        "secretValue",
        "secretValueSecretRef",
        Guarantee::Required,
    ),
    (
        "AzureOrgConnector",
        "connectorPrefixName",
        "connectorPrefixName",
        Guarantee::Required,
    ),
    ("AzureOrgConnector", "connectorAppInfos", "apps", Guarantee::Required),
    (
        "AzureOrgConnector",
        "orgRunFrequency",
        "orgRunFrequencyMinutes",
        Guarantee::Defaulted,
    ),
    (
        "AzureOrgConnector",
        "connectorRunFrequency",
        "memberRunFrequencyMinutes",
        Guarantee::Defaulted,
    ),
    ("ConnectorGroup", "name", "name", Guarantee::FromMetadataName),
];

#[test]
fn every_field_qualys_documents_as_mandatory_is_required_or_defaulted() {
    let mut failures = Vec::new();
    for (kind, qualys, field, guarantee) in MANDATORY {
        let crd = definitions::all()
            .into_iter()
            .find(|c| c.spec.names.kind == *kind)
            .unwrap_or_else(|| panic!("no CRD {kind}"));
        let schema = serde_json::to_value(&crd.spec.versions[0].schema).expect("schema");
        let spec = &schema["openAPIV3Schema"]["properties"]["spec"];
        let property = &spec["properties"][field];
        let required = spec["required"]
            .as_array()
            .is_some_and(|r| r.iter().any(|f| f == field));
        let ok = !property.is_null()
            && match guarantee {
                Guarantee::Required => {
                    let non_empty = match property["type"].as_str() {
                        Some("array") => property["minItems"].as_u64().is_some_and(|n| n >= 1),
                        Some("string") => {
                            property["minLength"].as_u64().is_some_and(|n| n >= 1) || property["pattern"].is_string()
                        }
                        _ => true,
                    };
                    required && non_empty
                }
                Guarantee::Defaulted => !property["default"].is_null(),
                Guarantee::FromMetadataName => property["description"]
                    .as_str()
                    .is_some_and(|d| d.contains("defaults to metadata.name")),
            };
        if !ok {
            failures.push(format!(
                "{kind} spec.{field} (Qualys {qualys}) is not {guarantee:?}: {property}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
