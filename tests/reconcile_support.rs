//! Shared helpers of the reconcile tests (included with `#[path]`): the bundled
//! examples as editable documents, a simulator seeded like the demo, and the
//! CLI workspace driven in-process against it over real HTTP.
#![allow(dead_code, unused_imports)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use qualys_operator::cli::EXAMPLES;
use qualys_operator::cli::state::State;
use qualys_operator::cli::workspace::{AccountOptions, CliError, Workspace};
use qualys_operator::manifest::{self, Document};
use qualys_operator::metrics::Metrics;
use qualys_operator::qualys::QualysClient;
use qualys_operator::reconcile::account::UrlOverrides;
use qualys_operator::reconcile::execute::Applied;
use qualys_operator::reconcile::plan::{Action, FieldChange, ObjectPlan, Plan};
use qualys_operator::reconcile::snapshot::Snapshot;
pub use qualys_operator::simulator::{CloudKind as SimCloud, FaultAction, FaultRule, SimConfig, SimHandle, Simulator};

/// The AWS account the group example lists without managing it.
pub const LEGACY_AWS_ACCOUNT: &str = "210987654321";

/// Object references of the bundled examples.
pub const AWS: &str = "AwsConnector/default/aws-prod";
pub const AZURE: &str = "AzureConnector/default/azure-prod";
pub const GCP: &str = "GcpConnector/default/gcp-analytics";
pub const OCI: &str = "OciConnector/default/oci-finance";
pub const ORG: &str = "AzureOrgConnector/default/contoso";
pub const GROUP: &str = "ConnectorGroup/default/platform-team";
pub const SCAN: &str = "GlobalScanConfiguration/default/perimeter-scans";
/// Not in [`ALL`]: a user scope is never created, it changes an existing user.
pub const USER_SCOPE: &str = "UserScope/default/demo-analyst";
pub const REPORT: &str = "CloudViewReport/default/aws-prod-ccm";
/// The examples that create a Qualys object.
pub const ALL: [&str; 8] = [AWS, AZURE, GCP, OCI, ORG, GROUP, REPORT, SCAN];

/// The bundled examples, parsed.
pub fn example_documents() -> Vec<Document> {
    let mut docs = Vec::new();
    for (name, text) in EXAMPLES {
        docs.extend(manifest::parse_documents(Path::new(name), text).unwrap_or_else(|e| panic!("{name}: {e}")));
    }
    docs
}

/// Parse extra YAML documents as if read from `file`.
pub fn documents(file: &str, yaml: &str) -> Vec<Document> {
    manifest::parse_documents(Path::new(file), yaml).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The document of `kind`/`name`.
pub fn doc_mut<'a>(docs: &'a mut [Document], kind: &str, name: &str) -> &'a mut Value {
    let doc = docs
        .iter_mut()
        .find(|d| d.kind() == kind && d.name() == name)
        .unwrap_or_else(|| panic!("no {kind}/{name} in the documents"));
    &mut doc.value
}

pub fn workspace(docs: Vec<Document>) -> Workspace {
    Workspace::from_documents(docs).unwrap_or_else(|e| panic!("workspace: {e}"))
}

pub fn tenant(sim: &SimHandle) -> String {
    sim.users()
        .first()
        .map(|u| u.tenant().to_string())
        .unwrap_or_else(|| "demo".into())
}

/// The connector the group example's AWS account needs: created in the UI.
pub fn seed_legacy(sim: &SimHandle) -> u64 {
    sim.create_connector(
        &tenant(sim),
        SimCloud::Aws,
        json!({
            "name": "legacy (created in the UI)",
            "arn": format!("arn:aws:iam::{LEGACY_AWS_ACCOUNT}:role/Legacy"),
            "externalId": "legacy",
            "connectorAppInfos": {"set": {"ConnectorAppInfoQList": [
                {"set": {"ConnectorAppInfo": {"name": "CSA", "identifier": format!("arn:aws:iam::{LEGACY_AWS_ACCOUNT}:role/Legacy")}}}
            ]}}
        }),
    )
    .unwrap_or_else(|e| panic!("seeding the legacy connector: {e}"))
}

/// One workspace against one in-process simulator, with the CLI's state in memory.
pub struct Env {
    pub sim: SimHandle,
    pub ws: Workspace,
    pub client: QualysClient,
    pub account: String,
    pub state: State,
    pub tenant: String,
    pub metrics: Arc<Metrics>,
}

pub async fn start_sim() -> SimHandle {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Simulator::start(SimConfig::default())
        .await
        .unwrap_or_else(|e| panic!("simulator: {e}"))
}

pub fn overrides(sim: &SimHandle) -> AccountOptions {
    let base = sim.base_url();
    AccountOptions {
        overrides: UrlOverrides {
            api_url: Some(base.clone()),
            gateway_url: Some(base.clone()),
            cloudview_url: Some(base),
        },
        ..AccountOptions::default()
    }
}

impl Env {
    /// A fresh simulator (seeded with the legacy AWS connector) and `docs`.
    pub async fn new(docs: Vec<Document>) -> Self {
        let sim = start_sim().await;
        seed_legacy(&sim);
        Self::on(sim, workspace(docs))
    }

    /// The examples on a fresh, seeded simulator.
    pub async fn examples() -> Self {
        Self::new(example_documents()).await
    }

    pub fn on(sim: SimHandle, ws: Workspace) -> Self {
        let metrics = Metrics::new();
        let (client, account) = ws
            .client(&overrides(&sim), metrics.clone())
            .unwrap_or_else(|e| panic!("client: {e}"));
        Self {
            tenant: tenant(&sim),
            sim,
            ws,
            client,
            account,
            state: State::default(),
            metrics,
        }
    }

    /// Swap the manifests (same simulator, same state file).
    pub fn set_documents(&mut self, docs: Vec<Document>) {
        self.ws = workspace(docs);
    }

    pub async fn observe(&self) -> Snapshot {
        self.ws
            .observe(&self.client, &self.state, &self.account)
            .await
            .unwrap_or_else(|e| panic!("observe: {e}"))
    }

    pub async fn plan(&self) -> Plan {
        let snap = self.observe().await;
        self.ws.plan(&snap, &self.state, &self.account)
    }

    /// Apply; every result is returned (failures included).
    pub async fn try_apply(&mut self) -> Result<Vec<(ObjectPlan, Applied)>, CliError> {
        let snap = self.ws.observe(&self.client, &self.state, &self.account).await?;
        self.ws
            .apply(&self.client, &snap, &mut self.state, &self.account, None)
            .await
    }

    /// Apply and insist that nothing failed or conflicted.
    pub async fn apply(&mut self) -> Vec<(ObjectPlan, Applied)> {
        let results = self.try_apply().await.unwrap_or_else(|e| panic!("apply: {e}"));
        let problems = problems(&results);
        assert!(problems.is_empty(), "apply had problems:\n{}", problems.join("\n"));
        results
    }

    /// Apply, then insist the next plan is empty.
    pub async fn converge(&mut self) {
        self.apply().await;
        let plan = self.plan().await;
        assert!(plan.is_empty(), "perpetual diff after apply:\n{}", plan.render());
    }

    /// The Qualys id the state file recorded for `object`.
    pub fn id(&self, object: &str) -> String {
        self.state
            .entry(&self.account, object)
            .and_then(|e| e.external_id.clone())
            .unwrap_or_else(|| panic!("no id recorded for {object}: {:?}", self.state))
    }

    pub fn num_id(&self, object: &str) -> u64 {
        self.id(object)
            .parse()
            .unwrap_or_else(|e| panic!("{object}: id not numeric: {e}"))
    }

    /// The simulator's stored connector for `object` (by its recorded id).
    pub fn stored(&self, object: &str) -> qualys_operator::simulator::Connector {
        self.sim
            .connector(&self.tenant, self.num_id(object))
            .unwrap_or_else(|| panic!("{object}: gone from Qualys"))
    }

    /// The whole simulated tenant as JSON.
    pub fn world(&self) -> Value {
        self.sim.state()["world"]["tenants"][&self.tenant].clone()
    }

    /// QPS connectors of a type (`AWS`, `AZURE`, ...) stored in the simulator.
    pub fn connectors_of(&self, cloud: &str) -> Vec<Value> {
        self.world()["connectors"]
            .as_object()
            .map(|m| m.values().filter(|c| c["kind"] == cloud).cloned().collect())
            .unwrap_or_default()
    }

    pub fn http(&self) -> Raw {
        Raw::new(&self.sim)
    }
}

/// One line per object whose apply failed or stopped at a conflict.
pub fn problems(results: &[(ObjectPlan, Applied)]) -> Vec<String> {
    results
        .iter()
        .filter(|(p, a)| a.failure.is_some() || p.actions.iter().any(|x| matches!(x, Action::Conflict { .. })))
        .map(|(p, a)| {
            format!(
                "{}: {:?} {:?}",
                p.object,
                a.failure.as_ref().map(ToString::to_string),
                p.actions
            )
        })
        .collect()
}

/// What applying `reference` did, from an apply's results.
pub fn applied<'a>(results: &'a [(ObjectPlan, Applied)], reference: &str) -> &'a Applied {
    results
        .iter()
        .find(|(p, _)| p.object == reference)
        .map(|(_, a)| a)
        .unwrap_or_else(|| panic!("{reference} was not applied"))
}

pub fn object<'a>(plan: &'a Plan, reference: &str) -> &'a ObjectPlan {
    plan.objects
        .iter()
        .find(|o| o.object == reference)
        .unwrap_or_else(|| panic!("{reference} not in the plan:\n{}", plan.render()))
}

/// Objects with actions.
pub fn busy(plan: &Plan) -> Vec<&ObjectPlan> {
    plan.objects.iter().filter(|o| !o.is_noop()).collect()
}

/// Insist the plan has exactly one object with actions, `reference`, with exactly
/// one Update, and return its changes.
pub fn single_update<'a>(plan: &'a Plan, reference: &str) -> &'a [FieldChange] {
    let busy = busy(plan);
    assert_eq!(
        busy.iter().map(|o| o.object.as_str()).collect::<Vec<_>>(),
        vec![reference],
        "only {reference} should change:\n{}",
        plan.render()
    );
    match busy[0].actions.as_slice() {
        [Action::Update { changes, .. }] => changes,
        other => panic!("{reference}: one Update expected, got {other:?}\n{}", plan.render()),
    }
}

pub fn paths(changes: &[FieldChange]) -> Vec<&str> {
    changes.iter().map(|c| c.path.as_str()).collect()
}

pub fn conflicts(plan: &ObjectPlan) -> Vec<&str> {
    plan.actions
        .iter()
        .filter_map(|a| match a {
            Action::Conflict { reason } => Some(reason.as_str()),
            _ => None,
        })
        .collect()
}

/// Raw HTTP to the simulator, as a person with the Qualys UI (or curl) would.
pub struct Raw {
    pub base: String,
    pub http: reqwest::Client,
}

impl Raw {
    pub fn new(sim: &SimHandle) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self {
            base: sim.base_url(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_else(|e| panic!("reqwest: {e}")),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> (u16, String) {
        let resp = req.send().await.unwrap_or_else(|e| panic!("request: {e}"));
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }

    /// A QPS call with Basic auth and a JSON body and answer.
    pub async fn qps(&self, path: &str, body: Value) -> (u16, String) {
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .basic_auth("demo", Some("demo"))
                .header("Content-Type", "application/json")
                .header("Accept", "application/json")
                .body(body.to_string()),
        )
        .await
    }

    pub async fn token(&self) -> String {
        let form = [("username", "demo"), ("password", "demo"), ("token", "true")];
        let (status, body) = self
            .send(self.http.post(format!("{}/auth", self.base)).form(&form))
            .await;
        assert_eq!(status, 201, "{body}");
        body
    }

    /// A gateway call with a fresh Bearer token.
    pub async fn gateway(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let token = self.token().await;
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::POST);
        self.send(
            self.http
                .request(method, format!("{}{path}", self.base))
                .bearer_auth(token)
                .header("Content-Type", "application/json")
                .header("Accept", "application/json")
                .body(body.to_string()),
        )
        .await
    }

    /// A CloudView call with Basic auth.
    pub async fn cloudview(&self, method: &str, path: &str, body: Option<Value>) -> (u16, String) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .basic_auth("demo", Some("demo"))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json");
        if let Some(body) = body {
            req = req.body(body.to_string());
        }
        self.send(req).await
    }
}
