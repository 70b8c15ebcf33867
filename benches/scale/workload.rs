//! The generated workload: N objects spread over the seven kinds, the Secrets
//! they reference and a `QualysAccount` pointing at the simulator.

use serde_json::{Value, json};

/// The Azure AD tenant every generated Azure connector (and the org connector) belongs to.
const AZURE_TENANT: &str = "0c6d8e2a-4b1f-4a3c-9d5e-7f8a9b0c1d2e";
const AZURE_APP: &str = "5e7f9a1b-3c5d-4e7f-9a1b-3c5d7e9f1a2b";
const ORG_APP: &str = "9b8a7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d";
/// Connectors of one cloud that share one credentials Secret.
const PER_SECRET: usize = 100;
/// Members each group selects per cloud (AWS, Azure, GCP).
const GROUP_MEMBERS_PER_CLOUD: usize = 4;

/// How many objects of each kind a workload of `n` objects has.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Mix {
    pub aws: usize,
    pub azure: usize,
    pub gcp: usize,
    pub oci: usize,
    pub orgs: usize,
    pub groups: usize,
    pub global_scan: usize,
}

impl Mix {
    /// Mostly connectors (35 % AWS, 30 % Azure, 20 % GCP, the rest OCI), one
    /// organization connector, one global scan configuration and 2 + n/1000
    /// groups (or `groups`).
    pub fn for_total(n: usize, groups: Option<usize>) -> Self {
        let groups = groups.unwrap_or(2 + n / 1000);
        let connectors = n.saturating_sub(groups + 2);
        let aws = connectors * 35 / 100;
        let azure = connectors * 30 / 100;
        let gcp = connectors * 20 / 100;
        Mix {
            aws,
            azure,
            gcp,
            oci: connectors - aws - azure - gcp,
            orgs: 1,
            groups,
            global_scan: 1,
        }
    }

    pub fn total(&self) -> usize {
        self.aws + self.azure + self.gcp + self.oci + self.orgs + self.groups + self.global_scan
    }
}

/// The generated manifests.
pub struct Workload {
    pub mix: Mix,
    /// Secrets and the QualysAccount (not counted in N).
    pub support: Vec<Value>,
    /// The N managed objects, connectors first.
    pub objects: Vec<Value>,
}

fn meta(name: &str, namespace: &str) -> Value {
    json!({"name": name, "namespace": namespace})
}

fn secret(name: &str, namespace: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": meta(name, namespace), "type": "Opaque", "stringData": data})
}

fn object(kind: &str, name: &str, namespace: &str, spec: Value) -> Value {
    json!({"apiVersion": "qualys-operator.io/v1alpha1", "kind": kind, "metadata": meta(name, namespace), "spec": spec})
}

fn uuid(tag: u32, i: usize) -> String {
    format!("{tag:08x}-0000-4000-8000-{i:012x}")
}

pub fn aws_name(i: usize) -> String {
    format!("aws-{i:05}")
}
pub fn azure_name(i: usize) -> String {
    format!("azure-{i:05}")
}
pub fn gcp_name(i: usize) -> String {
    format!("gcp-{i:05}")
}
pub fn oci_name(i: usize) -> String {
    format!("oci-{i:05}")
}

pub const DESCRIPTION: &str = "managed by the scale benchmark";

const GCP_KEY: &str = r#"{
  "type": "service_account",
  "project_id": "bench",
  "private_key_id": "0000000000000000000000000000000000000000",
  "private_key": "-----BEGIN PRIVATE KEY-----\nBENCH\n-----END PRIVATE KEY-----\n",
  "client_email": "qualys-reader@bench.iam.gserviceaccount.com",
  "client_id": "100000000000000000000"
}"#;

/// Label selecting group members; connectors `i < GROUP_MEMBERS_PER_CLOUD * groups`
/// of AWS, Azure and GCP carry it with value `g{i % groups}`.
const GROUP_LABEL: &str = "bench.qualys-operator.io/group";

fn group_label(i: usize, groups: usize) -> Option<Value> {
    (groups > 0 && i < GROUP_MEMBERS_PER_CLOUD * groups).then(|| json!({ GROUP_LABEL: format!("g{}", i % groups) }))
}

impl Workload {
    /// `n` objects in `namespace`; the account talks to `qualys_url`.
    pub fn generate(n: usize, groups: Option<usize>, namespace: &str, qualys_url: &str) -> Self {
        let mix = Mix::for_total(n, groups);
        let mut support = vec![
            secret(
                "qualys-credentials",
                namespace,
                json!({"username": "demo", "password": "demo"}),
            ),
            object(
                "QualysAccount",
                "default",
                namespace,
                // The simulator speaks plain HTTP on loopback.
                json!({"apiUrl": qualys_url, "gatewayUrl": qualys_url, "credentialsSecretRef": {"name": "qualys-credentials"}, "allowInsecureHttp": true}),
            ),
            secret("azure-org-app", namespace, json!({"clientSecret": "bench-org-secret"})),
        ];
        for j in 0..mix.azure.div_ceil(PER_SECRET) {
            support.push(secret(
                &format!("azure-key-{j}"),
                namespace,
                json!({"clientSecret": format!("bench-azure-secret-{j}")}),
            ));
        }
        for j in 0..mix.gcp.div_ceil(PER_SECRET) {
            support.push(secret(&format!("gcp-key-{j}"), namespace, json!({"key.json": GCP_KEY})));
        }
        for j in 0..mix.oci.div_ceil(PER_SECRET) {
            support.push(secret(
                &format!("oci-key-{j}"),
                namespace,
                json!({"private.pem": format!("-----BEGIN PRIVATE KEY-----\nBENCH{j}\n-----END PRIVATE KEY-----\n")}),
            ));
        }

        let mut objects = Vec::with_capacity(n);
        let with_labels = |mut v: Value, labels: Option<Value>| {
            if let Some(l) = labels {
                v["metadata"]["labels"] = l;
            }
            v
        };
        for i in 0..mix.aws {
            let account = 100_000_000_000u64 + i as u64;
            objects.push(with_labels(
                object(
                    "AwsConnector",
                    &aws_name(i),
                    namespace,
                    json!({
                        "description": DESCRIPTION,
                        "arn": format!("arn:aws:iam::{account}:role/QualysBench"),
                        "externalId": format!("bench-external-{i}"),
                        "runFrequencyMinutes": 240,
                        "apps": [{"name": "AI"}, {"name": "CI"}],
                    }),
                ),
                group_label(i, mix.groups),
            ));
        }
        for i in 0..mix.azure {
            objects.push(with_labels(
                object(
                    "AzureConnector",
                    &azure_name(i),
                    namespace,
                    json!({
                        "description": DESCRIPTION,
                        "directoryId": AZURE_TENANT,
                        "subscriptionId": uuid(0xa2_0000, i),
                        "applicationId": AZURE_APP,
                        "authenticationKeySecretRef": {"name": format!("azure-key-{}", i / PER_SECRET), "key": "clientSecret"},
                        "runFrequencyMinutes": 360,
                        "apps": [{"name": "AI"}, {"name": "CI"}],
                    }),
                ),
                group_label(i, mix.groups),
            ));
        }
        for i in 0..mix.gcp {
            objects.push(with_labels(
                object(
                    "GcpConnector",
                    &gcp_name(i),
                    namespace,
                    json!({
                        "description": DESCRIPTION,
                        "projectId": format!("bench-project-{i:05}"),
                        "serviceAccountKeySecretRef": {"name": format!("gcp-key-{}", i / PER_SECRET), "key": "key.json"},
                        "runFrequencyMinutes": 720,
                        "apps": [{"name": "CI"}, {"name": "CSA"}],
                    }),
                ),
                group_label(i, mix.groups),
            ));
        }
        for i in 0..mix.oci {
            objects.push(object(
                "OciConnector",
                &oci_name(i),
                namespace,
                json!({
                    "description": DESCRIPTION,
                    "tenantId": format!("ocid1.tenancy.oc1..aaaaaaaabench{i:06}"),
                    "userId": format!("ocid1.user.oc1..aaaaaaaareader{i:06}"),
                    "fingerprint": "12:34:56:78:9a:bc:de:f0:12:34:56:78:9a:bc:de:f0",
                    "homeRegion": "us-ashburn-1",
                    "privateKeySecretRef": {"name": format!("oci-key-{}", i / PER_SECRET), "key": "private.pem"},
                    "runFrequencyMinutes": 1440,
                    "apps": [{"name": "AI"}],
                }),
            ));
        }
        // The org connector adopts the last two Azure connectors as members
        // (outside the group selectors).
        let members: Vec<Value> = (mix.azure.saturating_sub(2)..mix.azure)
            .map(|i| json!({"name": azure_name(i)}))
            .collect();
        for o in 0..mix.orgs {
            objects.push(object(
                "AzureOrgConnector",
                &format!("org-{o}"),
                namespace,
                json!({
                    "description": "organization connector of the scale benchmark",
                    "tenantId": AZURE_TENANT,
                    "tenantName": "bench.onmicrosoft.com",
                    "applicationId": ORG_APP,
                    "secretValueSecretRef": {"name": "azure-org-app", "key": "clientSecret"},
                    "connectorPrefixName": format!("bench{o}"),
                    "orgRunFrequencyMinutes": 240,
                    "memberRunFrequencyMinutes": 360,
                    "apps": [{"name": "AI"}, {"name": "CI"}],
                    "members": if o == 0 { members.clone() } else { Vec::new() },
                }),
            ));
        }
        for g in 0..mix.groups {
            objects.push(object(
                "ConnectorGroup",
                &format!("group-{g}"),
                namespace,
                json!({
                    "name": format!("Bench group {g}"),
                    "members": {"selector": {"matchLabels": { GROUP_LABEL: format!("g{g}") }}},
                }),
            ));
        }
        for s in 0..mix.global_scan {
            objects.push(object(
                "GlobalScanConfiguration",
                &format!("perimeter-scans-{s}"),
                namespace,
                json!({
                    "optionProfileId": 2,
                    "recurrence": "DAILY",
                    "scanPrefix": "bench",
                    "startDate": "01/15/2027",
                    "startTime": "01:00",
                    "timezone": "UTC",
                }),
            ));
        }
        debug_assert_eq!(objects.len(), mix.total());
        Workload { mix, support, objects }
    }

    /// Every document, support first (as `plan -f` would read them).
    pub fn documents(&self) -> Vec<qualys_operator::manifest::Document> {
        self.support
            .iter()
            .chain(&self.objects)
            .enumerate()
            .map(|(index, value)| qualys_operator::manifest::Document {
                source: "generated.yaml".into(),
                index: index + 1,
                value: value.clone(),
                problems: Vec::new(),
            })
            .collect()
    }
}
