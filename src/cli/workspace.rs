//! Manifests on disk as the core sees them: validated offline, Secrets and
//! QualysAccounts resolved, objects built into the core's model; then plan and
//! apply in dependency order.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use super::state::State;
use crate::crd::QualysAccountSpec;
use crate::crd::validation;
use crate::manifest::{self, Document};
use crate::metrics::Metrics;
use crate::qualys::{QualysClient, QualysError, Secret};
use crate::reconcile::account::{UrlOverrides, account_config};
use crate::reconcile::build::{self, Inputs, member_candidate, org_member_names};
use crate::reconcile::execute::{Applied, NoGuard, execute};
use crate::reconcile::object::{DesiredObject, Kind};
use crate::reconcile::plan::{ObjectPlan, Plan};
use crate::reconcile::planner::{Claims, plan_object};
use crate::reconcile::snapshot::Snapshot;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Manifest(#[from] manifest::ManifestError),
    #[error("invalid manifests:\n{}", .0.join("\n"))]
    Invalid(Vec<String>),
    #[error("{0}")]
    Account(String),
    #[error("observing Qualys: {0}")]
    Observe(#[source] QualysError),
    #[error("{0}")]
    State(#[from] super::state::StateError),
}

/// How to reach Qualys when the manifests do not say, or to override them.
#[derive(Debug, Clone, Default)]
pub struct AccountOptions {
    /// Which QualysAccount of the manifests to use.
    pub account: Option<String>,
    pub overrides: UrlOverrides,
    /// From `QUALYS_USERNAME` / `QUALYS_PASSWORD`, never from arguments.
    pub username: Option<String>,
    pub password: Option<Secret>,
}

/// The loaded manifests.
#[derive(Debug, Default)]
pub struct Workspace {
    /// Objects of the seven Qualys kinds, with `metadata.namespace` filled in.
    pub objects: Vec<Value>,
    pub inputs: Inputs,
    accounts: Vec<(String, QualysAccountSpec)>,
    /// Documents ignored (other kinds), for a note.
    pub ignored: Vec<String>,
}

fn decode_secret_data(doc: &Document) -> BTreeMap<String, Secret> {
    use base64::Engine as _;
    let mut keys = BTreeMap::new();
    if let Some(data) = doc.value.get("data").and_then(Value::as_object) {
        for (k, v) in data {
            if let Some(text) = v
                .as_str()
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
                .and_then(|bytes| String::from_utf8(bytes).ok())
            {
                keys.insert(k.clone(), Secret::new(text));
            }
        }
    }
    if let Some(data) = doc.value.get("stringData").and_then(Value::as_object) {
        for (k, v) in data {
            if let Some(text) = v.as_str() {
                keys.insert(k.clone(), Secret::new(text));
            }
        }
    }
    keys
}

impl Workspace {
    /// Read, validate and index manifests. Every invalid object is reported
    /// (file, object, field) before anything talks to Qualys.
    pub fn load(paths: &[PathBuf]) -> Result<Self, CliError> {
        Self::from_documents(manifest::read_paths(paths)?)
    }

    pub fn from_documents(documents: Vec<Document>) -> Result<Self, CliError> {
        let mut ws = Workspace::default();
        let mut errors = Vec::new();
        for doc in documents {
            let namespace = doc.namespace().unwrap_or("default").to_string();
            match doc.kind() {
                "Secret" => {
                    ws.inputs
                        .secrets
                        .insert((namespace, doc.name().to_string()), decode_secret_data(&doc));
                }
                "QualysAccount" => match validation::validate_object(&doc.value) {
                    Ok(()) => match serde_json::from_value::<QualysAccountSpec>(doc.value["spec"].clone()) {
                        Ok(spec) => ws.accounts.push((doc.name().to_string(), spec)),
                        Err(e) => errors.push(format!("{}: spec: {e}", doc.describe())),
                    },
                    Err(fields) => errors.extend(fields.iter().map(|f| format!("{}: {f}", doc.describe()))),
                },
                kind if Kind::from_kind_name(kind).is_some() => match validation::validate_object(&doc.value) {
                    Ok(()) => {
                        let mut value = doc.value.clone();
                        value["metadata"]["namespace"] = Value::String(namespace);
                        ws.inputs.org_members.extend(org_member_names(&value));
                        if let Some((ns, candidate)) = member_candidate(&value) {
                            ws.inputs.members.entry(ns).or_default().push(candidate);
                        }
                        ws.objects.push(value);
                    }
                    Err(fields) => errors.extend(fields.iter().map(|f| format!("{}: {f}", doc.describe()))),
                },
                _ => ws.ignored.push(doc.describe()),
            }
        }
        if !errors.is_empty() {
            return Err(CliError::Invalid(errors));
        }
        let mut seen = BTreeSet::new();
        for o in &ws.objects {
            let id = format!(
                "{}/{}/{}",
                o["kind"].as_str().unwrap_or(""),
                o["metadata"]["namespace"].as_str().unwrap_or(""),
                o["metadata"]["name"].as_str().unwrap_or("")
            );
            if !seen.insert(id.clone()) {
                errors.push(format!("{id}: defined twice"));
            }
        }
        if !errors.is_empty() {
            return Err(CliError::Invalid(errors));
        }
        Ok(ws)
    }

    /// The client for the selected account, and the account's state key.
    pub fn client(&self, options: &AccountOptions, metrics: Arc<Metrics>) -> Result<(QualysClient, String), CliError> {
        let chosen = match (&options.account, self.accounts.as_slice()) {
            (Some(name), list) => list
                .iter()
                .find(|(n, _)| n == name)
                .cloned()
                .ok_or_else(|| {
                    CliError::Account(format!(
                        "--account {name}: no QualysAccount of that name in the manifests (found: {})",
                        list.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
                    ))
                })
                .map(Some)?,
            (None, []) => None,
            (None, [one]) => Some(one.clone()),
            (None, many) => {
                return Err(CliError::Account(format!(
                    "the manifests define {} QualysAccounts ({}); choose one with --account",
                    many.len(),
                    many.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
                )));
            }
        };
        let (spec, from_secret) = match chosen {
            Some((_, spec)) => {
                let creds = self
                    .inputs
                    .secrets
                    .iter()
                    .find(|((_, name), _)| *name == spec.credentials_secret_ref.name)
                    .map(|(_, keys)| {
                        (
                            keys.get(&spec.credentials_secret_ref.username_key)
                                .map(|s| s.expose().to_string()),
                            keys.get(&spec.credentials_secret_ref.password_key).cloned(),
                        )
                    });
                (spec, creds)
            }
            None => {
                let url = options.overrides.api_url.clone().ok_or_else(|| {
                    CliError::Account(
                        "no QualysAccount in the manifests: pass --qualys-url (and --gateway-url if the gateway is elsewhere)"
                            .into(),
                    )
                })?;
                let spec = QualysAccountSpec {
                    platform: None,
                    api_url: Some(url.clone()),
                    gateway_url: Some(options.overrides.gateway_url.clone().unwrap_or_else(|| url.clone())),
                    cloudview_url: options.overrides.cloudview_url.clone(),
                    cloudview_auth: Default::default(),
                    qps_format: Default::default(),
                    credentials_secret_ref: crate::crd::account::CredentialsRef {
                        name: String::new(),
                        username_key: String::new(),
                        password_key: String::new(),
                    },
                    // The URL came from --qualys-url: the flag is the opt-in.
                    allow_insecure_http: true,
                };
                (spec, None)
            }
        };
        let (secret_user, secret_pass) = from_secret.unwrap_or((None, None));
        let username = options.username.clone().or(secret_user).ok_or_else(|| {
            CliError::Account("no Qualys username: set QUALYS_USERNAME or put it in the account's Secret".into())
        })?;
        let password = options.password.clone().or(secret_pass).ok_or_else(|| {
            CliError::Account("no Qualys password: set QUALYS_PASSWORD or put it in the account's Secret".into())
        })?;
        let mut overrides = options.overrides.clone();
        if overrides.gateway_url.is_none()
            && overrides.api_url.is_some()
            && spec.gateway_url.is_none()
            && spec.platform.is_none()
        {
            overrides.gateway_url = overrides.api_url.clone();
        }
        let config =
            account_config(&spec, username, password, &overrides).map_err(|e| CliError::Account(e.to_string()))?;
        let key = config.api_url.clone();
        let client = QualysClient::builder(config)
            .observer(metrics)
            .build()
            .map_err(|e| CliError::Account(e.to_string()))?;
        Ok((client, key))
    }

    fn kinds(&self) -> BTreeSet<Kind> {
        self.objects
            .iter()
            .filter_map(|o| o["kind"].as_str().and_then(Kind::from_kind_name))
            .collect()
    }

    fn reference(object: &Value) -> String {
        format!(
            "{}/{}/{}",
            object["kind"].as_str().unwrap_or_default(),
            object["metadata"]["namespace"].as_str().unwrap_or_default(),
            object["metadata"]["name"].as_str().unwrap_or_default()
        )
    }

    /// The object with its recorded facts from the state file put in `status`.
    fn with_state(object: &Value, state: &State, account: &str) -> Value {
        let mut value = object.clone();
        if let Some(entry) = state.entry(account, &Self::reference(object)) {
            value["status"] = serde_json::json!({
                "externalId": entry.external_id,
                "secretHash": entry.secret_hash,
                "lastRunRequestedAt": entry.last_run_requested_at,
            });
        }
        value
    }

    fn inputs_with_state(&self, state: &State, account: &str) -> Inputs {
        let mut inputs = self.inputs.clone();
        for object in &self.objects {
            if object["kind"] == "AzureConnector"
                && let Some(id) = state
                    .entry(account, &Self::reference(object))
                    .and_then(|e| e.external_id.clone())
            {
                let ns = object["metadata"]["namespace"].as_str().unwrap_or_default().to_string();
                let name = object["metadata"]["name"].as_str().unwrap_or_default().to_string();
                inputs.azure_ids.insert((ns, name), id);
            }
        }
        inputs
    }

    /// Build the objects of `kinds` (in order), or report why not.
    fn build(&self, kinds: &[Kind], state: &State, account: &str) -> (Vec<DesiredObject>, Vec<ObjectPlan>) {
        let inputs = self.inputs_with_state(state, account);
        let mut built = Vec::new();
        let mut failed = Vec::new();
        for kind in kinds {
            for object in self
                .objects
                .iter()
                .filter(|o| o["kind"].as_str() == Some(kind.kind_name()))
            {
                match build::build(&Self::with_state(object, state, account), &inputs) {
                    Ok(obj) => built.push(obj),
                    Err(e) => failed.push(ObjectPlan {
                        object: Self::reference(object),
                        external_id: None,
                        actions: vec![crate::reconcile::plan::Action::Conflict { reason: e.to_string() }],
                        notes: vec![],
                    }),
                }
            }
        }
        (built, failed)
    }

    pub async fn observe(&self, client: &QualysClient) -> Result<Snapshot, CliError> {
        Snapshot::observe(client, &self.kinds())
            .await
            .map_err(CliError::Observe)
    }

    /// Plan every object against one snapshot.
    pub fn plan(&self, snap: &Snapshot, state: &State, account: &str) -> Plan {
        let (built, mut plans) = self.build(&Kind::ALL, state, account);
        let mut claims = Claims::new();
        for obj in &built {
            let plan = plan_object(obj, snap, &claims);
            if let Some(id) = &plan.external_id {
                claims.insert(id.clone(), obj.reference());
            } else if obj.kind == Kind::GlobalScan {
                claims.insert(crate::reconcile::object::GLOBAL_SCAN_KEY.into(), obj.reference());
            }
            plans.push(plan);
        }
        Plan { objects: plans }
    }

    /// Apply tier by tier (connectors, org connectors, groups, global scan),
    /// rebuilding each tier with the ids the previous tiers produced.
    pub async fn apply(
        &self,
        client: &QualysClient,
        snap: &Snapshot,
        state: &mut State,
        account: &str,
        state_path: Option<&std::path::Path>,
    ) -> Result<Vec<(ObjectPlan, Applied)>, CliError> {
        let tiers: [&[Kind]; 4] = [
            &[Kind::Aws, Kind::Azure, Kind::Gcp, Kind::Oci],
            &[Kind::AzureOrg],
            &[Kind::Group],
            &[Kind::GlobalScan],
        ];
        let mut results = Vec::new();
        let mut claims = Claims::new();
        for tier in tiers {
            let (built, failed) = self.build(tier, state, account);
            results.extend(failed.into_iter().map(|p| (p, Applied::default())));
            for obj in &built {
                let plan = plan_object(obj, snap, &claims);
                if let Some(id) = &plan.external_id {
                    claims.insert(id.clone(), obj.reference());
                }
                let applied = execute(client, obj, &plan, &NoGuard).await;
                let entry = state.entry_mut(account, &obj.reference());
                if applied.external_id.is_some() || applied.deleted {
                    entry.external_id = applied.external_id.clone();
                }
                if let Some(hash) = &applied.sent_secret_hash {
                    entry.secret_hash = Some(hash.clone());
                }
                if let Some(ran) = &applied.ran {
                    entry.last_run_requested_at = Some(ran.clone());
                }
                if let Some(id) = &applied.external_id {
                    claims.insert(id.clone(), obj.reference());
                }
                // Saved after every object: an interrupted apply keeps what it created.
                if let Some(path) = state_path {
                    state.save(path)?;
                }
                results.push((plan, applied));
            }
        }
        Ok(results)
    }

    /// `(object, Qualys id, Qualys state)` for every object known to the state.
    pub fn states(&self, snap: &Snapshot, state: &State, account: &str) -> Vec<(String, String, String)> {
        self.objects
            .iter()
            .map(|o| {
                let reference = Self::reference(o);
                let id = state
                    .entry(account, &reference)
                    .and_then(|e| e.external_id.clone())
                    .unwrap_or_default();
                let kind = o["kind"].as_str().and_then(Kind::from_kind_name);
                let qualys_state = kind
                    .and_then(|k| snap.state_of(k, &id))
                    .unwrap_or_else(|| if id.is_empty() { "-".into() } else { "present".into() });
                (reference, if id.is_empty() { "-".into() } else { id }, qualys_state)
            })
            .collect()
    }
}
