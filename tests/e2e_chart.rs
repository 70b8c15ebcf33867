//! Install artifacts: the Helm chart, the kustomize manifests, their CRD
//! copies, the GitOps health checks and the install docs.
//!
//! Two tiers:
//! * always (no cluster; needs helm, kubectl and go): `helm lint`; `helm
//!   template` over a matrix of values, each case checked for what it
//!   promises; values the schema or the chart must refuse are refused with a
//!   message naming the value; the CRD copies are identical to `crds/`;
//!   `deploy/base` and `deploy/overlays/ha` are the chart with the same values;
//!   every value is documented in docs/configuration.md; the Argo CD health
//!   check runs in gopher-lua over every condition reason, and the docs show
//!   the tested script; every reason has a troubleshooting section.
//! * e2e (`QUALYS_E2E=1`, on a real kube-apiserver):
//!   `scripts/testenv.sh run -- env QUALYS_E2E=1 cargo test --test e2e_chart`.
//!   Every rendering and both kustomizations are accepted by `kubectl apply
//!   --dry-run=server` (the pod in a `restricted` namespace with no
//!   PodSecurity warning; the ServiceMonitor against a stub CRD), the RBAC
//!   grants what the operator needs and nothing more (`kubectl auth can-i` as
//!   its ServiceAccount), and a real `helm install` / `upgrade` / `uninstall`
//!   works. With `QUALYS_E2E=1` a missing KUBECONFIG, kubectl or helm fails
//!   the test; it never skips.
//!
//! helm is `$HELM`, or `scripts/tools.sh helm` (installed once into a cache
//! outside the repository).

mod e2e_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use e2e_support::{Helm, e2e_on, helm, install_crds, kubectl, ok, output, root, text};
use serde::Deserialize;
use serde_json::{Value, json};

const RELEASE: &str = "qualys-operator";
const NAMESPACE: &str = "qualys-operator";
/// The operator's ServiceAccount (and every resource name) for RELEASE.
const FULLNAME: &str = "qualys-operator";

const KINDS: [&str; 11] = [
    "qualysaccounts",
    "awsconnectors",
    "azureconnectors",
    "gcpconnectors",
    "ociconnectors",
    "azureorgconnectors",
    "connectorgroups",
    "userscopes",
    "snapshotscanregistrations",
    "cloudviewreports",
    "globalscanconfigurations",
];

fn chart_dir() -> PathBuf {
    root().join("charts/qualys-operator")
}

// ---------------------------------------------------------------------------
// Processes

impl Helm {
    /// `helm template` with VALUES (YAML) as a values file: the rendered
    /// stream, or helm's error message.
    fn template(&self, release: &str, namespace: &str, values: &str, extra: &[&str]) -> Result<String, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("values.yaml");
        std::fs::write(&file, values).expect("write values");
        let out = output(
            self.cmd()
                .args(["template", release])
                .arg(chart_dir())
                .args(["--namespace", namespace, "--values"])
                .arg(&file)
                .args(extra),
            None,
        );
        if out.status.success() {
            Ok(text(&out.stdout))
        } else {
            Err(text(&out.stderr))
        }
    }
}

// ---------------------------------------------------------------------------
// YAML

/// Every non-empty document of a YAML stream.
fn documents(stream: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(stream)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("invalid YAML ({e}) in:\n{stream}")))
        .filter(|v| !v.is_null())
        .collect()
}

fn yaml_file(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn kind(doc: &Value) -> &str {
    doc["kind"].as_str().unwrap_or_default()
}

fn name(doc: &Value) -> &str {
    doc["metadata"]["name"].as_str().unwrap_or_default()
}

fn namespace(doc: &Value) -> &str {
    doc["metadata"]["namespace"].as_str().unwrap_or_default()
}

fn all<'a>(docs: &'a [Value], k: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| kind(d) == k).collect()
}

fn one<'a>(docs: &'a [Value], k: &str, n: &str) -> &'a Value {
    let found: Vec<_> = docs.iter().filter(|d| kind(d) == k && name(d) == n).collect();
    assert_eq!(found.len(), 1, "expected exactly one {k} {n}, found {}", found.len());
    found[0]
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// What the renderings promise

/// The operator's rules where it watches: our kinds, their status and
/// finalizers, Secrets read-only, events.k8s.io create+patch. Nothing else.
fn operator_rules() -> Value {
    let with = |suffix: &str| KINDS.iter().map(|k| format!("{k}{suffix}")).collect::<Vec<_>>();
    json!([
        {"apiGroups": ["qualys-operator.io"], "resources": with(""), "verbs": ["get", "list", "watch", "patch", "update"]},
        {"apiGroups": ["qualys-operator.io"], "resources": with("/status"), "verbs": ["get", "update", "patch"]},
        {"apiGroups": ["qualys-operator.io"], "resources": with("/finalizers"), "verbs": ["update"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
    ])
}

fn lease_rules(lease: &str) -> Value {
    json!([
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": [lease], "verbs": ["get", "update"]},
    ])
}

fn deployment(docs: &[Value]) -> &Value {
    let deployments = all(docs, "Deployment");
    assert_eq!(deployments.len(), 1, "one Deployment");
    deployments[0]
}

fn container(docs: &[Value]) -> &Value {
    let containers = &deployment(docs)["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers.as_array().map(Vec::len), Some(1), "one container");
    &containers[0]
}

fn args(docs: &[Value]) -> Vec<&str> {
    strings(&container(docs)["args"])
}

fn env<'a>(docs: &'a [Value], var: &str) -> &'a Value {
    container(docs)["env"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["name"] == var))
        .unwrap_or_else(|| panic!("no env {var}"))
}

/// Pod Security Standard `restricted`, resources, probes: every rendering.
fn assert_hardened(docs: &[Value]) {
    let pod = &deployment(docs)["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["securityContext"]["runAsUser"], 65532);
    assert_eq!(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault");
    let c = container(docs);
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    assert!(sc["capabilities"]["add"].is_null(), "no capability added");
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    for kind in ["requests", "limits"] {
        for res in ["cpu", "memory"] {
            assert!(!c["resources"][kind][res].is_null(), "resources.{kind}.{res}");
        }
    }
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["port"], "metrics");
    assert_eq!(c["ports"][0]["name"], "metrics");
    assert_eq!(
        c["ports"].as_array().map(Vec::len),
        Some(1),
        "listens only on the metrics port"
    );
    assert_eq!(
        env(docs, "POD_NAMESPACE")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
}

/// True for every rendering: labels, namespaces, no wildcard in RBAC.
fn assert_well_formed(docs: &[Value], release: &str) {
    for doc in docs {
        let what = format!("{} {}", kind(doc), name(doc));
        let labels = &doc["metadata"]["labels"];
        assert_eq!(labels["app.kubernetes.io/instance"], release, "{what}: instance label");
        assert_eq!(
            labels["app.kubernetes.io/name"], "qualys-operator",
            "{what}: name label"
        );
        assert_eq!(
            labels["app.kubernetes.io/managed-by"], "Helm",
            "{what}: managed-by label"
        );
        assert!(labels["helm.sh/chart"].is_string(), "{what}: chart label");
        let cluster_scoped = matches!(
            kind(doc),
            "ClusterRole" | "ClusterRoleBinding" | "CustomResourceDefinition"
        );
        assert_eq!(
            namespace(doc).is_empty(),
            cluster_scoped,
            "{what}: namespaced objects carry their namespace (GitOps tools apply without one)"
        );
        for rule in doc["rules"].as_array().into_iter().flatten() {
            for field in ["apiGroups", "resources", "verbs"] {
                assert!(!strings(&rule[field]).contains(&"*"), "{what}: wildcard in {field}");
            }
        }
    }
}

struct Case {
    name: &'static str,
    values: &'static str,
    /// Namespaces the rendering puts objects in (created before the e2e dry run).
    namespaces: &'static [&'static str],
    check: fn(&[Value]),
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "defaults",
            values: "{}",
            namespaces: &[NAMESPACE],
            check: |docs| {
                let kinds: BTreeSet<_> = docs.iter().map(|d| format!("{} {}", kind(d), name(d))).collect();
                let expected: BTreeSet<_> = [
                    "ServiceAccount qualys-operator",
                    "ClusterRole qualys-operator",
                    "ClusterRole qualys-operator-view",
                    "ClusterRole qualys-operator-edit",
                    "ClusterRoleBinding qualys-operator",
                    "ClusterRole qualys-operator-crds",
                    "ClusterRoleBinding qualys-operator-crds",
                    "Service qualys-operator-metrics",
                    "Deployment qualys-operator",
                ]
                .map(String::from)
                .into();
                assert_eq!(kinds, expected);
                assert_eq!(one(docs, "ClusterRole", FULLNAME)["rules"], operator_rules());
                let binding = one(docs, "ClusterRoleBinding", FULLNAME);
                assert_eq!(binding["roleRef"]["name"], FULLNAME);
                assert_eq!(
                    binding["subjects"],
                    json!([{"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}])
                );
                let d = deployment(docs);
                assert_eq!(d["spec"]["replicas"], 1);
                assert_eq!(d["spec"]["strategy"]["type"], "Recreate", "never two operators at once");
                assert_eq!(d["spec"]["template"]["spec"]["serviceAccountName"], FULLNAME);
                assert_eq!(
                    args(docs),
                    [
                        "--metrics-addr=0.0.0.0:8080",
                        "--log-format=json",
                        "--resync-interval=10m",
                        "--max-concurrent-reconciles=4"
                    ]
                );
                assert_eq!(env(docs, "RUST_LOG")["value"], "info");
                assert_eq!(
                    env(docs, "POD_NAME")["valueFrom"]["fieldRef"]["fieldPath"],
                    "metadata.name",
                    "the Lease identity is the pod's name (hostname-pid is shared under hostNetwork)"
                );
                assert!(
                    d["spec"]["template"]["spec"]["hostNetwork"].is_null(),
                    "the pod network by default"
                );
                assert_eq!(
                    container(docs)["image"],
                    "ghcr.io/qualys-operator/qualys-operator:0.1.0",
                    "the tag defaults to appVersion"
                );
                let svc = one(docs, "Service", "qualys-operator-metrics");
                assert_eq!(
                    svc["spec"]["selector"], d["spec"]["selector"]["matchLabels"],
                    "the Service selects the operator's pods"
                );
                assert_eq!(svc["spec"]["ports"][0]["targetPort"], "metrics");
                // Aggregated roles are for people: read-only view, no status or Secrets.
                let view = one(docs, "ClusterRole", "qualys-operator-view");
                assert_eq!(
                    view["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"],
                    "true"
                );
                assert_eq!(strings(&view["rules"][0]["verbs"]), ["get", "list", "watch"]);
            },
        },
        Case {
            name: "ha",
            values: "replicaCount: 2\n\
                     leaderElection: {enabled: true}\n\
                     metrics: {serviceMonitor: {enabled: true, labels: {release: prometheus}}}\n\
                     podDisruptionBudget: {enabled: true}\n",
            namespaces: &[NAMESPACE],
            check: |docs| {
                let d = deployment(docs);
                assert_eq!(d["spec"]["replicas"], 2);
                assert_eq!(d["spec"]["strategy"]["type"], "RollingUpdate");
                let a = args(docs);
                assert!(a.contains(&"--leader-election"), "{a:?}");
                assert!(a.contains(&"--lease-name=qualys-operator"), "{a:?}");
                let role = one(docs, "Role", "qualys-operator-leader-election");
                assert_eq!(namespace(role), NAMESPACE, "the Lease lives in the release namespace");
                assert_eq!(role["rules"], lease_rules("qualys-operator"));
                let binding = one(docs, "RoleBinding", "qualys-operator-leader-election");
                assert_eq!(binding["roleRef"]["name"], "qualys-operator-leader-election");
                assert_eq!(binding["subjects"][0]["name"], FULLNAME);
                let selector = &d["spec"]["selector"]["matchLabels"];
                let pdb = one(docs, "PodDisruptionBudget", FULLNAME);
                assert_eq!(pdb["spec"]["minAvailable"], 1);
                assert_eq!(&pdb["spec"]["selector"]["matchLabels"], selector);
                let sm = one(docs, "ServiceMonitor", FULLNAME);
                assert_eq!(sm["apiVersion"], "monitoring.coreos.com/v1");
                assert_eq!(sm["metadata"]["labels"]["release"], "prometheus");
                assert_eq!(sm["spec"]["endpoints"][0]["port"], "metrics");
                assert_eq!(sm["spec"]["endpoints"][0]["path"], "/metrics");
                let svc = one(docs, "Service", "qualys-operator-metrics");
                for (k, v) in sm["spec"]["selector"]["matchLabels"].as_object().expect("selector") {
                    assert_eq!(
                        &svc["metadata"]["labels"][k], v,
                        "the ServiceMonitor selects the Service"
                    );
                }
            },
        },
        Case {
            name: "namespace-scoped",
            values: "watchNamespaces: [team-a, team-b]\n",
            namespaces: &[NAMESPACE, "team-a", "team-b"],
            check: |docs| {
                let clusterwide: Vec<_> = all(docs, "ClusterRole").into_iter().map(name).collect();
                assert_eq!(
                    clusterwide,
                    ["qualys-operator-crds", "qualys-operator-view", "qualys-operator-edit"],
                    "no ClusterRole for the operator's objects"
                );
                // Cluster-wide, the operator may only read our CRDs (its start-up check).
                let crds: Vec<String> = KINDS.iter().map(|k| format!("{k}.qualys-operator.io")).collect();
                assert_eq!(
                    one(docs, "ClusterRole", "qualys-operator-crds")["rules"],
                    json!([{
                        "apiGroups": ["apiextensions.k8s.io"],
                        "resources": ["customresourcedefinitions"],
                        "resourceNames": crds,
                        "verbs": ["get"]
                    }])
                );
                let bindings: Vec<_> = all(docs, "ClusterRoleBinding").into_iter().map(name).collect();
                assert_eq!(bindings, ["qualys-operator-crds"], "no other ClusterRoleBinding");
                for ns in ["team-a", "team-b"] {
                    let role = docs
                        .iter()
                        .find(|d| kind(d) == "Role" && namespace(d) == ns)
                        .unwrap_or_else(|| panic!("no Role in {ns}"));
                    assert_eq!(role["rules"], operator_rules(), "Role in {ns}");
                    let binding = docs
                        .iter()
                        .find(|d| kind(d) == "RoleBinding" && namespace(d) == ns)
                        .unwrap_or_else(|| panic!("no RoleBinding in {ns}"));
                    assert_eq!(
                        binding["roleRef"],
                        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name(role)})
                    );
                    assert_eq!(
                        binding["subjects"],
                        json!([{"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}])
                    );
                }
                assert_eq!(
                    all(docs, "Role").len(),
                    2,
                    "Roles only where watched (no leader election)"
                );
                let a = args(docs);
                assert!(
                    a.contains(&"--namespace=team-a") && a.contains(&"--namespace=team-b"),
                    "{a:?}"
                );
            },
        },
        Case {
            name: "default-account",
            values: "defaultAccount:\n  create: true\n  platform: EU2\n  existingSecret: qualys-credentials\n  usernameKey: user\n",
            namespaces: &[NAMESPACE],
            check: |docs| {
                let account = one(docs, "QualysAccount", "default");
                assert_eq!(account["apiVersion"], "qualys-operator.io/v1alpha1");
                assert_eq!(namespace(account), NAMESPACE);
                assert_eq!(account["metadata"]["annotations"]["helm.sh/resource-policy"], "keep");
                assert_eq!(account["spec"]["platform"], "EU2");
                assert_eq!(
                    account["spec"]["credentialsSecretRef"],
                    json!({"name": "qualys-credentials", "usernameKey": "user", "passwordKey": "password"})
                );
                assert!(account["spec"]["apiUrl"].is_null(), "unset URLs are left out");
                assert!(args(docs).contains(&"--default-account=qualys-operator/default"));
            },
        },
        Case {
            name: "host-network",
            values: "hostNetwork: true\nreplicaCount: 2\nleaderElection: {enabled: true}\nmetrics: {port: 9443}\n",
            namespaces: &[NAMESPACE],
            check: |docs| {
                let pod = &deployment(docs)["spec"]["template"]["spec"];
                assert_eq!(pod["hostNetwork"], true);
                // Otherwise the pod would resolve names with the node's resolver only.
                assert_eq!(pod["dnsPolicy"], "ClusterFirstWithHostNet");
                assert!(args(docs).contains(&"--metrics-addr=0.0.0.0:9443"));
                assert_eq!(container(docs)["ports"][0]["containerPort"], 9443);
            },
        },
        Case {
            name: "private-platform-account-in-watched-namespace",
            values: "watchNamespaces: [team-a]\n\
                     leaderElection: {enabled: true, leaseName: qo-lock}\n\
                     logFormat: plain\nlogLevel: debug\nresyncInterval: 1h30m\n\
                     defaultAccount:\n  create: true\n  name: shared\n  namespace: team-a\n  \
                     apiUrl: https://qualysapi.qg4.apps.qualys.com\n  gatewayUrl: https://gateway.qg4.apps.qualys.com\n  \
                     existingSecret: qualys-api\n  keepOnUninstall: false\n",
            namespaces: &[NAMESPACE, "team-a"],
            check: |docs| {
                let account = one(docs, "QualysAccount", "shared");
                assert_eq!(namespace(account), "team-a");
                assert_eq!(account["spec"]["apiUrl"], "https://qualysapi.qg4.apps.qualys.com");
                assert!(account["spec"]["platform"].is_null());
                assert!(account["metadata"]["annotations"].is_null(), "no keep policy");
                let a = args(docs);
                for want in [
                    "--default-account=team-a/shared",
                    "--log-format=plain",
                    "--resync-interval=1h30m",
                    "--lease-name=qo-lock",
                    "--namespace=team-a",
                ] {
                    assert!(a.contains(&want), "{want} in {a:?}");
                }
                assert_eq!(env(docs, "RUST_LOG")["value"], "debug");
                assert_eq!(
                    one(docs, "Role", "qualys-operator-leader-election")["rules"],
                    lease_rules("qo-lock")
                );
            },
        },
    ]
}

fn render_case(case: &Case) -> Vec<Value> {
    let out = helm()
        .template(RELEASE, NAMESPACE, case.values, &[])
        .unwrap_or_else(|e| panic!("case {}: helm template failed:\n{e}", case.name));
    documents(&out)
}

// ---------------------------------------------------------------------------
// Tier 1: no cluster

#[test]
fn helm_lint_is_clean() {
    let out = ok(helm().cmd().args(["lint", "--strict"]).arg(chart_dir()), None);
    assert!(out.contains("0 chart(s) failed"), "{out}");
    // The matrix's values lint too (lint also renders the templates).
    for case in cases() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("values.yaml");
        std::fs::write(&file, case.values).expect("write");
        ok(
            helm()
                .cmd()
                .args(["lint", "--strict"])
                .arg(chart_dir())
                .arg("--values")
                .arg(&file),
            None,
        );
    }
}

#[test]
fn every_rendering_keeps_its_promises() {
    for case in cases() {
        let docs = render_case(&case);
        assert_well_formed(&docs, RELEASE);
        assert_hardened(&docs);
        (case.check)(&docs);
    }
}

#[test]
fn crds_are_installed_by_the_chart() {
    let out = helm()
        .template(RELEASE, NAMESPACE, "{}", &["--include-crds"])
        .expect("helm template");
    let crds: BTreeSet<_> = documents(&out)
        .iter()
        .filter(|d| kind(d) == "CustomResourceDefinition")
        .map(|d| name(d).to_owned())
        .collect();
    let expected: BTreeSet<_> = KINDS.iter().map(|k| format!("{k}.qualys-operator.io")).collect();
    assert_eq!(crds, expected);
}

#[test]
fn values_the_chart_must_refuse_are_refused() {
    // (values, what helm's message must contain)
    let refused = [
        ("logFormat: xml\n", "/logFormat"),
        ("replicaCount: two\n", "/replicaCount"),
        ("replicaCount: \"2\"\n", "/replicaCount"),
        ("unknownKey: 1\n", "unknownKey"),
        ("image: {repository: \"\"}\n", "/image/repository"),
        ("image: {pullPolicy: Sometimes}\n", "/image/pullPolicy"),
        ("leaderElection: {enabled: \"yes\"}\n", "/leaderElection/enabled"),
        ("leaderElection: {enable: true}\n", "enable"),
        ("watchNamespaces: [Team_A]\n", "/watchNamespaces/0"),
        ("watchNamespaces: team-a\n", "/watchNamespaces"),
        ("resyncInterval: 10 minutes\n", "/resyncInterval"),
        ("maxConcurrentReconciles: 0\n", "/maxConcurrentReconciles"),
        ("metrics: {port: 70000}\n", "/metrics/port"),
        (
            "podDisruptionBudget: {minAvailable: lots}\n",
            "/podDisruptionBudget/minAvailable",
        ),
        ("defaultAccount: {platform: MARS1}\n", "/defaultAccount/platform"),
        ("defaultAccount: {create: true, platform: US1}\n", "existingSecret"),
        ("defaultAccount: {create: true, existingSecret: s}\n", "/defaultAccount"),
        (
            "defaultAccount: {create: true, existingSecret: s, apiUrl: \"https://a.example\"}\n",
            "gatewayUrl",
        ),
        (
            "defaultAccount: {apiUrl: \"qualysapi.qualys.com\"}\n",
            "/defaultAccount/apiUrl",
        ),
        ("defaultAccount: {qpsFormat: XML}\n", "/defaultAccount/qpsFormat"),
        // Cross-value rules the chart enforces with `fail`.
        ("replicaCount: 2\n", "leaderElection.enabled"),
        (
            "watchNamespaces: [team-a]\ndefaultAccount: {name: acme}\n",
            "not in watchNamespaces",
        ),
        (
            "metrics: {service: {enabled: false}, serviceMonitor: {enabled: true}}\n",
            "metrics.service.enabled",
        ),
    ];
    for (values, expected) in refused {
        match helm().template(RELEASE, NAMESPACE, values, &[]) {
            Ok(_) => panic!("helm accepted {values:?}"),
            Err(message) => assert!(
                message.contains(expected),
                "refusing {values:?}, helm should name {expected:?}:\n{message}"
            ),
        }
    }
    // And their neighbours are accepted.
    for values in [
        "replicaCount: 2\nleaderElection: {enabled: true}\n",
        "replicaCount: 0\n",
        "watchNamespaces: [team-a]\ndefaultAccount: {name: acme, namespace: team-a}\n",
        "podDisruptionBudget: {enabled: true, maxUnavailable: \"50%\"}\n",
        "image: {digest: \"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}\n",
        "global: {imageRegistry: example.com}\n",
    ] {
        if let Err(e) = helm().template(RELEASE, NAMESPACE, values, &[]) {
            panic!("helm refused {values:?}:\n{e}");
        }
    }
}

fn assert_same_files(copy: &Path, extra_allowed: &[&str]) {
    let source = root().join("crds");
    let names = |dir: &Path| -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| !extra_allowed.contains(&n.as_str()))
            .collect()
    };
    let fix = "run `scripts/tools.sh sync-crds`";
    assert_eq!(
        names(copy),
        names(&source),
        "{} lists other files than crds/: {fix}",
        copy.display()
    );
    for file in names(&source) {
        let a = std::fs::read(source.join(&file)).expect("read");
        let b = std::fs::read(copy.join(&file)).expect("read");
        assert!(a == b, "{} differs from crds/{file}: {fix}", copy.join(&file).display());
    }
}

#[test]
fn crd_copies_are_identical_to_crds() {
    assert_same_files(&chart_dir().join("crds"), &[]);
    assert_same_files(&root().join("deploy/crds"), &["kustomization.yaml"]);
    let listed: BTreeSet<String> = strings(&yaml_file(&root().join("deploy/crds/kustomization.yaml"))["resources"])
        .into_iter()
        .map(String::from)
        .collect();
    let files: BTreeSet<String> = std::fs::read_dir(root().join("crds"))
        .expect("crds/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        listed, files,
        "deploy/crds/kustomization.yaml: run `scripts/tools.sh sync-crds`"
    );
}

/// Labels only Helm sets are dropped (the rest of every object must be
/// equal), and `1.0` becomes `1` (kustomize rewrites numbers that way).
fn comparable(mut doc: Value) -> Value {
    fn numbers(v: &mut Value) {
        match v {
            Value::Number(n) => {
                if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && !n.is_i64() && !n.is_u64()) {
                    *v = json!(f as i64);
                }
            }
            Value::Array(a) => a.iter_mut().for_each(numbers),
            Value::Object(o) => o.values_mut().for_each(numbers),
            _ => {}
        }
    }
    if let Some(labels) = doc.pointer_mut("/metadata/labels").and_then(Value::as_object_mut) {
        labels.remove("helm.sh/chart");
        labels.remove("app.kubernetes.io/managed-by");
    }
    numbers(&mut doc);
    doc
}

/// The JSON path of the first difference, for a readable failure.
fn first_difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<_> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| {
                first_difference(
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                    &format!("{path}/{k}"),
                )
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (x, y))| first_difference(x, y, &format!("{path}/{i}"))),
        _ if a == b => None,
        _ => Some(format!("{path}: {a} != {b}")),
    }
}

/// Kustomize directories and the chart values they are equivalent to.
const KUSTOMIZATIONS: [(&str, &str); 2] = [
    ("deploy/base", "{}"),
    (
        "deploy/overlays/ha",
        "replicaCount: 2\nleaderElection: {enabled: true}\npodDisruptionBudget: {enabled: true}\n\
         metrics: {serviceMonitor: {enabled: true}}\n",
    ),
];

fn kustomize(dir: &str) -> String {
    ok(kubectl().arg("kustomize").arg(root().join(dir)), None)
}

#[test]
fn kustomizations_are_the_chart_with_the_same_values() {
    for (dir, values) in KUSTOMIZATIONS {
        let kustomized = documents(&kustomize(dir));
        let chart = documents(
            &helm()
                .template(RELEASE, NAMESPACE, values, &["--include-crds"])
                .expect("template"),
        );
        let key = |d: &Value| format!("{} {}/{}", kind(d), namespace(d), name(d));
        let index = |docs: Vec<Value>| -> BTreeMap<String, Value> {
            docs.into_iter()
                .filter(|d| kind(d) != "Namespace")
                .map(|d| (key(&d), comparable(d)))
                .collect()
        };
        let (k, c) = (index(kustomized.clone()), index(chart));
        assert_eq!(
            k.keys().collect::<Vec<_>>(),
            c.keys().collect::<Vec<_>>(),
            "{dir} and the chart with {values:?} hold different objects"
        );
        for (id, obj) in &k {
            if let Some(diff) = first_difference(obj, &c[id], "") {
                panic!("{id} differs between {dir} and the chart with {values:?} (kustomize != helm) at {diff}");
            }
        }
        let ns = kustomized
            .iter()
            .find(|d| kind(d) == "Namespace")
            .unwrap_or_else(|| panic!("{dir} creates its Namespace"));
        assert_eq!(name(ns), NAMESPACE);
        assert_eq!(
            ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
            "restricted"
        );
    }
}

/// Dotted paths of every value a user sets: recurse into mappings the schema
/// describes field by field; free-form mappings, lists and scalars are leaves.
fn value_leaves(value: &Value, schema: &Value, prefix: &str, out: &mut Vec<String>) {
    match (value.as_object(), schema.get("properties")) {
        (Some(map), Some(props)) if !map.is_empty() => {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                let sub = props
                    .get(k)
                    .unwrap_or_else(|| panic!("values.schema.json does not describe {path}"));
                value_leaves(v, sub, &path, out);
            }
        }
        _ => out.push(prefix.to_owned()),
    }
}

#[test]
fn every_value_is_documented() {
    let values = yaml_file(&chart_dir().join("values.yaml"));
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(chart_dir().join("values.schema.json")).expect("schema"))
            .expect("values.schema.json is JSON");
    let mut leaves = Vec::new();
    value_leaves(&values, &schema, "", &mut leaves);
    assert!(leaves.len() > 40, "{leaves:?}");
    let doc = std::fs::read_to_string(root().join("docs/configuration.md")).expect("docs/configuration.md");
    let missing: Vec<_> = leaves.iter().filter(|l| !doc.contains(&format!("`{l}`"))).collect();
    assert!(
        missing.is_empty(),
        "docs/configuration.md does not describe: {missing:?}"
    );
    // And the reference names no value that does not exist (first column of its tables).
    let known: BTreeSet<String> = leaves
        .iter()
        .flat_map(|l| {
            let parts: Vec<_> = l.split('.').collect();
            (1..=parts.len()).map(move |n| parts[..n].join("."))
        })
        .collect();
    let mut known = known;
    known.extend(schema["properties"].as_object().expect("properties").keys().cloned());
    for line in doc.lines() {
        if let Some(rest) = line.strip_prefix("| `") {
            let key = rest.split('`').next().unwrap_or_default();
            if key.starts_with('-') {
                continue; // a flag, not a value
            }
            assert!(
                known.contains(key),
                "docs/configuration.md describes `{key}`, which values.yaml lacks"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Tier 2: a real kube-apiserver

/// None (after saying so) when the e2e tier is off; with it on, the cluster
/// must be there, and the CRDs, a ServiceMonitor CRD stub and the namespaces
/// the matrix needs are in place.
fn e2e() -> Option<()> {
    if !e2e_on() {
        return None;
    }
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        // Our CRDs, for real: the renderings create QualysAccounts.
        install_crds("e2e-chart");
        helm();
        // The Prometheus Operator is not installed: a stub CRD that accepts
        // any ServiceMonitor, so the document is checked for kind and
        // metadata only (its spec is not validated).
        ok(
            kubectl().args(["apply", "--server-side", "--field-manager=e2e-chart", "-f", "-"]),
            Some(SERVICE_MONITOR_STUB),
        );
        ok(
            kubectl().args([
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                "crd/servicemonitors.monitoring.coreos.com",
            ]),
            None,
        );
        let mut namespaces: BTreeSet<&str> = cases().iter().flat_map(|c| c.namespaces.iter().copied()).collect();
        namespaces.extend(["qo-rbac", "qo-rbac-ns", "qo-helm"]);
        let mut manifest = String::new();
        for ns in namespaces {
            // `restricted` everywhere: the pod must pass the strictest Pod Security Standard.
            manifest.push_str(&format!(
                "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n  labels:\n    \
                 pod-security.kubernetes.io/enforce: restricted\n    pod-security.kubernetes.io/warn: restricted\n"
            ));
        }
        ok(
            kubectl().args(["apply", "--server-side", "--field-manager=e2e-chart", "-f", "-"]),
            Some(&manifest),
        );
    });
    Some(())
}

const SERVICE_MONITOR_STUB: &str = "\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: servicemonitors.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {kind: ServiceMonitor, listKind: ServiceMonitorList, plural: servicemonitors, singular: servicemonitor}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
";

/// Renderings that break the restricted Pod Security Standard on purpose,
/// and the one violation each may show (values.yaml says so).
const PSS_EXCEPTIONS: &[(&str, &str)] = &[("host-network", "host namespaces (hostNetwork=true)")];

/// `kubectl apply --dry-run=server`: accepted, and no PodSecurity warning
/// beyond the documented exception `allowed`.
fn assert_server_accepts(what: &str, stream: &str, allowed: Option<&str>) {
    let out = output(kubectl().args(["apply", "--dry-run=server", "-f", "-"]), Some(stream));
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{what}: the API server refused it:\n{stderr}");
    for warning in stderr.lines().filter(|l| l.contains("PodSecurity")) {
        let violations = warning.split_once("\":").map_or(warning, |(_, v)| v.trim());
        assert!(
            allowed.is_some_and(|a| violations == a),
            "{what}: the pod breaks the restricted Pod Security Standard:\n{stderr}"
        );
    }
    if let Some(allowed) = allowed {
        assert!(
            stderr.contains(allowed),
            "{what}: expected the PodSecurity warning {allowed:?}, got:\n{stderr}"
        );
    }
}

#[test]
#[ignore = "e2e tier: needs a control plane; scripts/test.sh runs it with QUALYS_E2E=1"]
fn e2e_every_rendering_is_accepted_by_the_api_server() {
    if e2e().is_none() {
        return;
    }
    for case in cases() {
        let out = helm()
            .template(RELEASE, NAMESPACE, case.values, &[])
            .expect("helm template");
        let allowed = PSS_EXCEPTIONS.iter().find(|(n, _)| *n == case.name).map(|(_, v)| *v);
        assert_server_accepts(&format!("helm template ({})", case.name), &out, allowed);
    }
    for (dir, _) in KUSTOMIZATIONS {
        assert_server_accepts(&format!("kubectl kustomize {dir}"), &kustomize(dir), None);
    }
}

/// `kubectl auth can-i` as the operator's ServiceAccount.
fn can_i(sa: &str, args: &[&str]) -> bool {
    let out = output(
        kubectl()
            .args(["auth", "can-i", "--as", &format!("system:serviceaccount:{sa}")])
            .args(args),
        None,
    );
    match out.status.code() {
        Some(0) => true,
        Some(1) => false,
        _ => panic!("kubectl auth can-i {args:?}: {}", text(&out.stderr)),
    }
}

#[test]
#[ignore = "e2e tier: needs a control plane; scripts/test.sh runs it with QUALYS_E2E=1"]
fn e2e_rbac_grants_what_the_operator_needs_and_nothing_more() {
    if e2e().is_none() {
        return;
    }
    // Cluster-wide, with leader election.
    let out = helm()
        .template("qo-rbac", "qo-rbac", "leaderElection: {enabled: true}\n", &[])
        .expect("helm template");
    ok(
        kubectl().args(["apply", "--server-side", "--field-manager=e2e-chart", "-f", "-"]),
        Some(&out),
    );
    let sa = "qo-rbac:qo-rbac-qualys-operator";
    let lease = "leases.coordination.k8s.io/qo-rbac-qualys-operator";
    let granted: &[&[&str]] = &[
        &["list", "secrets", "--all-namespaces"],
        &["watch", "secrets", "-n", "team-b"],
        &["get", "secrets", "-n", "default"],
        &["watch", "awsconnectors.qualys-operator.io", "--all-namespaces"],
        &["patch", "globalscanconfigurations.qualys-operator.io", "-n", "team-a"],
        &["update", "qualysaccounts.qualys-operator.io", "-n", "team-a"],
        &[
            "patch",
            "awsconnectors.qualys-operator.io",
            "--subresource=status",
            "-n",
            "team-a",
        ],
        &[
            "update",
            "connectorgroups.qualys-operator.io",
            "--subresource=status",
            "-n",
            "team-a",
        ],
        &[
            "update",
            "azureorgconnectors.qualys-operator.io",
            "--subresource=finalizers",
            "-n",
            "team-a",
        ],
        &["create", "events.events.k8s.io", "-n", "team-a"],
        &["patch", "events.events.k8s.io", "-n", "team-b"],
        &["create", "leases.coordination.k8s.io", "-n", "qo-rbac"],
        &["get", lease, "-n", "qo-rbac"],
        &["update", lease, "-n", "qo-rbac"],
    ];
    let denied: &[&[&str]] = &[
        &["create", "secrets", "-n", "team-a"],
        &["update", "secrets", "-n", "team-a"],
        &["delete", "secrets", "-n", "team-a"],
        &["create", "awsconnectors.qualys-operator.io", "-n", "team-a"],
        &["delete", "awsconnectors.qualys-operator.io", "-n", "team-a"],
        &[
            "delete",
            "awsconnectors.qualys-operator.io",
            "--subresource=finalizers",
            "-n",
            "team-a",
        ],
        &["create", "events", "-n", "team-a"],
        &["delete", "events.events.k8s.io", "-n", "team-a"],
        &["get", "leases.coordination.k8s.io/someone-else", "-n", "qo-rbac"],
        &["create", "leases.coordination.k8s.io", "-n", "team-a"],
        &["delete", lease, "-n", "qo-rbac"],
        &["list", "pods", "-n", "qo-rbac"],
        &["list", "configmaps", "-n", "team-a"],
        &["list", "namespaces"],
        &["create", "customresourcedefinitions.apiextensions.k8s.io"],
        &["*", "*"],
    ];
    for args in granted {
        assert!(can_i(sa, args), "cluster-wide operator should be allowed: {args:?}");
    }
    for args in denied {
        assert!(!can_i(sa, args), "cluster-wide operator must not be allowed: {args:?}");
    }

    // Namespace-scoped: only team-a and team-b.
    let out = helm()
        .template("qo-ns", "qo-rbac-ns", "watchNamespaces: [team-a, team-b]\n", &[])
        .expect("helm template");
    ok(
        kubectl().args(["apply", "--server-side", "--field-manager=e2e-chart", "-f", "-"]),
        Some(&out),
    );
    let sa = "qo-rbac-ns:qo-ns-qualys-operator";
    for ns in ["team-a", "team-b"] {
        for args in [
            ["list", "secrets"],
            ["watch", "ociconnectors.qualys-operator.io"],
            ["create", "events.events.k8s.io"],
        ] {
            assert!(
                can_i(sa, &[args[0], args[1], "-n", ns]),
                "namespace-scoped operator: {args:?} in {ns}"
            );
        }
    }
    for args in [
        &["list", "secrets", "--all-namespaces"][..],
        &["list", "secrets", "-n", "default"],
        &["get", "secrets", "-n", "qo-rbac-ns"],
        &["watch", "awsconnectors.qualys-operator.io", "--all-namespaces"],
        &["list", "awsconnectors.qualys-operator.io", "-n", "default"],
        &["create", "leases.coordination.k8s.io", "-n", "qo-rbac-ns"],
    ] {
        assert!(
            !can_i(sa, args),
            "namespace-scoped operator must not be allowed: {args:?}"
        );
    }
}

#[test]
#[ignore = "e2e tier: needs a control plane; scripts/test.sh runs it with QUALYS_E2E=1"]
fn e2e_helm_install_upgrade_uninstall() {
    if e2e().is_none() {
        return;
    }
    let values = "defaultAccount: {create: true, platform: US1, existingSecret: qualys-credentials}\n";
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("values.yaml");
    std::fs::write(&file, values).expect("write");
    let helm_in = |args: &[&str]| {
        let mut cmd = helm().cmd();
        cmd.args(args).args(["--namespace", "qo-helm"]);
        cmd
    };
    let notes = ok(
        helm_in(&["install", "qo-helm"])
            .arg(chart_dir())
            .arg("--values")
            .arg(&file),
        None,
    );
    assert!(
        notes.contains("kubectl get qualys"),
        "NOTES tell the next step:\n{notes}"
    );
    // The QualysAccount passed the CRD's validation (CEL included) for real.
    let account = ok(
        kubectl().args(["get", "qualysaccount", "default", "-n", "qo-helm", "-o", "json"]),
        None,
    );
    let account: Value = serde_json::from_str(&account).expect("json");
    assert_eq!(account["spec"]["credentialsSecretRef"]["name"], "qualys-credentials");
    ok(
        helm_in(&["upgrade", "qo-helm"])
            .arg(chart_dir())
            .arg("--values")
            .arg(&file)
            .args(["--set", "replicaCount=2", "--set", "leaderElection.enabled=true"]),
        None,
    );
    let deploy = ok(
        kubectl().args([
            "get",
            "deployment",
            "qo-helm-qualys-operator",
            "-n",
            "qo-helm",
            "-o",
            "json",
        ]),
        None,
    );
    let deploy: Value = serde_json::from_str(&deploy).expect("json");
    assert_eq!(deploy["spec"]["replicas"], 2);
    ok(&mut helm_in(&["uninstall", "qo-helm"]), None);
    // Kept on purpose (helm.sh/resource-policy: keep); the Deployment is gone.
    ok(
        kubectl().args(["get", "qualysaccount", "default", "-n", "qo-helm"]),
        None,
    );
    let gone = output(
        kubectl().args(["get", "deployment", "qo-helm-qualys-operator", "-n", "qo-helm"]),
        None,
    );
    assert!(!gone.status.success(), "the Deployment is removed by helm uninstall");
}

// ---------------------------------------------------------------------------
// GitOps health checks (tier 1)

#[test]
fn argo_cd_health_check_is_the_tested_script_everywhere() {
    let lua = std::fs::read_to_string(root().join("deploy/argocd/health.lua")).expect("health.lua");
    let cm = yaml_file(&root().join("deploy/argocd/argocd-cm.yaml"));
    let customizations: Value = serde_norway::from_str(
        cm["data"]["resource.customizations"]
            .as_str()
            .expect("resource.customizations"),
    )
    .expect("resource.customizations is YAML");
    assert_eq!(
        customizations["qualys-operator.io/*"]["health.lua"].as_str(),
        Some(lua.as_str()),
        "deploy/argocd/argocd-cm.yaml must embed deploy/argocd/health.lua"
    );
    let indented: String = lua
        .lines()
        .map(|l| {
            if l.is_empty() {
                "\n".to_owned()
            } else {
                format!("        {l}\n")
            }
        })
        .collect();
    let doc = std::fs::read_to_string(root().join("docs/gitops.md")).expect("docs/gitops.md");
    assert!(
        doc.contains(&indented),
        "docs/gitops.md must show deploy/argocd/health.lua as it is"
    );
}

/// Runs health.lua in gopher-lua (Argo CD's interpreter) over every state the
/// operator reports; needs Go, fetches gopher-lua from the module proxy once.
#[test]
fn argo_cd_health_check_maps_every_reason() {
    let out = output(
        Command::new(std::env::var_os("GO").unwrap_or_else(|| "go".into()))
            .current_dir(root().join("deploy/argocd/healthcheck"))
            .env("GOWORK", "off")
            .env("GOFLAGS", "-mod=readonly")
            .args(["run", ".", "../health.lua"]),
        None,
    );
    assert!(
        out.status.success(),
        "deploy/argocd/healthcheck failed:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn flux_health_expressions_cover_every_kind() {
    let doc = std::fs::read_to_string(root().join("docs/gitops.md")).expect("docs/gitops.md");
    let crd_kinds: BTreeSet<String> = std::fs::read_dir(root().join("crds"))
        .expect("crds/")
        .map(|e| {
            yaml_file(&e.expect("entry").path())["spec"]["names"]["kind"]
                .as_str()
                .expect("kind")
                .to_owned()
        })
        .collect();
    for kind in &crd_kinds {
        assert!(
            doc.contains(&format!("      kind: {kind}\n      inProgress:")),
            "docs/gitops.md: no Flux healthCheckExprs entry for {kind}"
        );
    }
}

// ---------------------------------------------------------------------------
// Docs (tier 1)

/// The install docs of this test's scope.
const DOCS: [&str; 6] = [
    "docs/install.md",
    "docs/configuration.md",
    "docs/gitops.md",
    "docs/upgrading.md",
    "docs/troubleshooting.md",
    "docs/rbac.md",
];

#[test]
fn troubleshooting_explains_every_condition_reason() {
    let doc = std::fs::read_to_string(root().join("docs/troubleshooting.md")).expect("troubleshooting.md");
    for reason in [
        "Available",
        "Creating",
        "QualysError",
        "CredentialsInvalid",
        "Throttled",
        "ReferenceNotReady",
        "CreateIncomplete",
        "CreateDeferred",
        "Unconfirmed",
        "DeletionFailed",
        "Paused",
        "Retained",
        "Conflict",
        "InvalidSpec",
        "DriftDetected",
        "NotFound",
    ] {
        assert!(
            doc.lines().any(|l| l.starts_with("### ") && l.contains(reason)),
            "docs/troubleshooting.md has no section for the reason {reason}"
        );
    }
}

#[test]
fn relative_links_in_the_docs_resolve() {
    let mut docs: Vec<PathBuf> = DOCS.iter().map(|d| root().join(d)).collect();
    docs.push(chart_dir().join("README.md"));
    docs.push(root().join("deploy/README.md"));
    for doc in docs {
        let text = std::fs::read_to_string(&doc).unwrap_or_else(|e| panic!("{}: {e}", doc.display()));
        for (i, _) in text.match_indices("](") {
            let target = text[i + 2..].split(')').next().unwrap_or_default();
            if target.contains("://") || target.starts_with('#') || target.starts_with("mailto:") {
                continue;
            }
            let path = target.split('#').next().unwrap_or_default();
            let resolved = doc.parent().expect("parent").join(path);
            assert!(
                resolved.exists(),
                "{}: link to {target} does not resolve",
                doc.display()
            );
        }
    }
}
