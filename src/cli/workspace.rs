//! Manifests on disk as the core sees them: validated offline, Secrets and
//! QualysAccounts resolved, objects built into the core's model; then plan and
//! apply in dependency order.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use super::endpoints::ShownEndpoints;
use super::state::{State, StateError};
use crate::crd::QualysAccountSpec;
use crate::crd::validation;
use crate::manifest::{self, Document};
use crate::metrics::Metrics;
use crate::qualys::{CallObserver, QualysClient, QualysError, Secret, Timeouts};
use crate::reconcile::account::{UrlOverrides, account_endpoints, config_for};
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
    #[error("{0}")]
    NoObjects(String),
    #[error("{0}")]
    Timeout(String),
    #[error(
        "{source}\nthe {done} object(s) above were processed in Qualys but the state file does not record them; \
         fix the state file and run apply again (existing objects are found again by their natural key)"
    )]
    StateNotSaved {
        done: usize,
        source: super::state::StateError,
    },
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
    /// Test-only stand-in for every platform table URL
    /// (`QUALYS_OPERATOR_TEST_PLATFORM_URL`), so tests can prove it stays unused.
    pub platform_url: Option<String>,
    /// Accept endpoints that mix loopback/private and public hosts.
    pub allow_mixed_endpoints: bool,
    /// Client time limits; `None` keeps the client's defaults.
    pub timeouts: Option<Timeouts>,
}

/// A client for the selected account and what the run will talk to.
pub struct Connection {
    pub client: QualysClient,
    /// The key of the account's entries in the state file (its QPS URL).
    pub state_key: String,
    pub endpoints: ShownEndpoints,
}

/// What an apply did, and whether the state file kept up.
#[derive(Debug)]
pub struct ApplyRun {
    pub results: Vec<(ObjectPlan, Applied)>,
    /// Saving the state failed after the last result; nothing was written after it.
    pub save_error: Option<StateError>,
}

/// A spec for runs without a QualysAccount: every URL comes from the command line.
fn bare_account_spec() -> QualysAccountSpec {
    QualysAccountSpec {
        platform: None,
        api_url: None,
        gateway_url: None,
        cloudview_url: None,
        cloudview_auth: Default::default(),
        qps_format: Default::default(),
        credentials_secret_ref: crate::crd::account::CredentialsRef {
            name: String::new(),
            username_key: String::new(),
            password_key: String::new(),
        },
    }
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

/// What a document is to the CLI.
enum Role {
    Secret,
    Account,
    Object,
    /// Claims our API group (or one of our kinds) but is not one of them.
    Unknown,
    /// Another API group's object: listed as ignored.
    Other,
}

fn role(doc: &Document) -> Role {
    let api_version = doc.value.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    match doc.kind() {
        "Secret" if group.is_empty() => Role::Secret,
        "QualysAccount" => Role::Account,
        kind if Kind::from_kind_name(kind).is_some() => Role::Object,
        _ if group == crate::crd::GROUP => Role::Unknown,
        _ => Role::Other,
    }
}

impl Workspace {
    /// Read, validate and index manifests. Every invalid object is reported
    /// (file, object, field) before anything talks to Qualys.
    pub fn load(paths: &[PathBuf]) -> Result<Self, CliError> {
        let documents = manifest::read_paths(paths)?;
        if documents.is_empty() {
            return Err(CliError::NoObjects(format!(
                "no manifests in {}: the files are empty or the directories hold no .yaml, .yml or .json file",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Self::from_documents(documents)
    }

    pub fn from_documents(documents: Vec<Document>) -> Result<Self, CliError> {
        let mut ws = Workspace::default();
        let mut errors = Vec::new();
        let mut sources = BTreeMap::new();
        let count = documents.len();
        for doc in documents {
            let namespace = doc.namespace().unwrap_or("default").to_string();
            let refuse = |errors: &mut Vec<String>, fields: Vec<validation::FieldError>| {
                errors.extend(fields.iter().map(|f| format!("{}: {f}", doc.describe())));
            };
            if !doc.problems.is_empty() {
                errors.extend(doc.problems.iter().map(|p| format!("{}: {p}", doc.describe())));
                continue;
            }
            if !doc.value.is_object() || doc.kind().is_empty() {
                errors.push(format!(
                    "{}#{}: not a Kubernetes object: apiVersion and kind are required",
                    doc.source.display(),
                    doc.index
                ));
                continue;
            }
            match role(&doc) {
                Role::Secret => {
                    ws.inputs
                        .secrets
                        .insert((namespace, doc.name().to_string()), decode_secret_data(&doc));
                }
                Role::Account => match validation::validate_object(&doc.value) {
                    Ok(()) => match serde_json::from_value::<QualysAccountSpec>(doc.value["spec"].clone()) {
                        Ok(spec) => ws.accounts.push((doc.name().to_string(), spec)),
                        Err(e) => errors.push(format!("{}: spec: {e}", doc.describe())),
                    },
                    Err(fields) => refuse(&mut errors, fields),
                },
                Role::Object => match validation::validate_object(&doc.value) {
                    Ok(()) => {
                        let mut value = doc.value.clone();
                        value["metadata"]["namespace"] = Value::String(namespace);
                        ws.inputs.org_members.extend(org_member_names(&value));
                        if let Some((ns, candidate)) = member_candidate(&value) {
                            ws.inputs.members.entry(ns).or_default().push(candidate);
                        }
                        let id = Self::reference(&value);
                        if let Some(first) = sources.insert(id.clone(), doc.describe()) {
                            errors.push(format!("{id}: defined twice: {first} and {}", doc.describe()));
                        }
                        ws.objects.push(value);
                    }
                    Err(fields) => refuse(&mut errors, fields),
                },
                Role::Unknown => refuse(
                    &mut errors,
                    validation::validate_object(&doc.value).err().unwrap_or_default(),
                ),
                Role::Other => ws.ignored.push(format!(
                    "{} {}/{} ({}#{})",
                    doc.value
                        .get("apiVersion")
                        .and_then(Value::as_str)
                        .unwrap_or("(no apiVersion)"),
                    doc.kind(),
                    doc.name(),
                    doc.source.display(),
                    doc.index
                )),
            }
        }
        if errors.is_empty() {
            errors.extend(ws.missing_secrets(&sources));
        }
        if !errors.is_empty() {
            return Err(CliError::Invalid(errors));
        }
        if ws.objects.is_empty() {
            return Err(CliError::NoObjects(format!(
                "none of the {count} document(s) is a {} object to manage ({}){}",
                crate::crd::GROUP,
                Kind::ALL.map(Kind::kind_name).join(", "),
                ws.ignored_note().map(|n| format!("; {n}")).unwrap_or_default()
            )));
        }
        Ok(ws)
    }

    /// One line listing the documents of other API groups, or `None`.
    pub fn ignored_note(&self) -> Option<String> {
        (!self.ignored.is_empty()).then(|| {
            format!(
                "note: ignored {} object(s) not of {}: {}",
                self.ignored.len(),
                crate::crd::GROUP,
                self.ignored.join(", ")
            )
        })
    }

    /// Secret references the manifests cannot satisfy, as plan errors: a
    /// Secret that is not there is not a change to show but a fix to make.
    fn missing_secrets(&self, sources: &BTreeMap<String, String>) -> Vec<String> {
        let mut errors = Vec::new();
        for object in &self.objects {
            let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default().to_string();
            let reference = Self::reference(object);
            for (field, r) in build::secret_refs(object) {
                let found = self.inputs.secrets.get(&(namespace.clone(), r.name.clone()));
                let problem = match found {
                    None => format!(
                        "Secret {namespace}/{} (key {:?}) is not in the manifests",
                        r.name, r.key
                    ),
                    Some(keys) if !keys.contains_key(&r.key) => format!(
                        "Secret {namespace}/{} has no key {:?} (keys: {})",
                        r.name,
                        r.key,
                        keys.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                    Some(_) => continue,
                };
                let at = sources.get(&reference).cloned().unwrap_or(reference.clone());
                errors.push(format!(
                    "{at}: spec.{field}: {problem}; add it (kind: Secret) to the files given with -f"
                ));
            }
        }
        errors
    }

    /// The client for the selected account, and the account's state key.
    pub fn client(&self, options: &AccountOptions, metrics: Arc<Metrics>) -> Result<(QualysClient, String), CliError> {
        let c = self.connect(options, metrics)?;
        Ok((c.client, c.state_key))
    }

    /// The selected account's endpoints (under the one endpoint rule, refused
    /// when they mix private and public hosts), credentials and client.
    pub fn connect(&self, options: &AccountOptions, observer: Arc<dyn CallObserver>) -> Result<Connection, CliError> {
        let chosen = self.chosen_account(options)?;
        let (account_name, spec, from_secret) = match chosen {
            Some((name, spec)) => {
                let creds = self
                    .inputs
                    .secrets
                    .iter()
                    .find(|((_, secret), _)| *secret == spec.credentials_secret_ref.name)
                    .map(|(_, keys)| {
                        (
                            keys.get(&spec.credentials_secret_ref.username_key)
                                .map(|s| s.expose().to_string()),
                            keys.get(&spec.credentials_secret_ref.password_key).cloned(),
                        )
                    });
                (Some(name), spec, creds)
            }
            None => {
                if options.overrides.api_url.is_none() {
                    return Err(CliError::Account(
                        "no QualysAccount in the manifests: pass --qualys-url (it stands for the gateway and \
                         CloudView too unless --gateway-url / --cloudview-url say otherwise)"
                            .into(),
                    ));
                }
                (None, bare_account_spec(), None)
            }
        };
        let endpoints = account_endpoints(&spec, &options.overrides, options.platform_url.as_deref())
            .map_err(|e| CliError::Account(e.to_string()))?;
        if !options.allow_mixed_endpoints {
            endpoints
                .check_not_mixed()
                .map_err(|e| CliError::Account(e.to_string()))?;
        }
        let (secret_user, secret_pass) = from_secret.unwrap_or((None, None));
        let username = options.username.clone().or(secret_user).ok_or_else(|| {
            CliError::Account("no Qualys username: set QUALYS_USERNAME or put it in the account's Secret".into())
        })?;
        let password = options.password.clone().or(secret_pass).ok_or_else(|| {
            CliError::Account("no Qualys password: set QUALYS_PASSWORD or put it in the account's Secret".into())
        })?;
        let mut config =
            config_for(&spec, &endpoints, username, password).map_err(|e| CliError::Account(e.to_string()))?;
        if let Some(timeouts) = &options.timeouts {
            config.timeouts = timeouts.clone();
        }
        let state_key = config.api_url.clone();
        let client = QualysClient::builder(config)
            .observer(observer)
            .build()
            .map_err(|e| CliError::Account(e.to_string()))?;
        Ok(Connection {
            client,
            state_key,
            endpoints: ShownEndpoints {
                endpoints,
                account: account_name,
                platform_overridden: options.platform_url.is_some(),
            },
        })
    }

    fn chosen_account(&self, options: &AccountOptions) -> Result<Option<(String, QualysAccountSpec)>, CliError> {
        let list = self.accounts.as_slice();
        let names = || list.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ");
        match (&options.account, list) {
            (Some(name), _) => list.iter().find(|(n, _)| n == name).cloned().map(Some).ok_or_else(|| {
                CliError::Account(format!(
                    "--account {name}: no QualysAccount of that name in the manifests (found: {})",
                    names()
                ))
            }),
            (None, []) => Ok(None),
            (None, [one]) => Ok(Some(one.clone())),
            (None, many) => Err(CliError::Account(format!(
                "the manifests define {} QualysAccounts ({}); choose one with --account",
                many.len(),
                names()
            ))),
        }
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
        let run = self
            .apply_saving(client, snap, state, account, &mut |s: &State| match state_path {
                Some(path) => s.save(path),
                None => Ok(()),
            })
            .await;
        match run.save_error {
            Some(source) => Err(CliError::StateNotSaved {
                done: run.results.len(),
                source,
            }),
            None => Ok(run.results),
        }
    }

    /// [`Self::apply`], calling `save` after every object so an interrupted
    /// apply keeps what it created. When saving fails nothing more is written
    /// to Qualys, and the results so far are returned with the error.
    pub async fn apply_saving(
        &self,
        client: &QualysClient,
        snap: &Snapshot,
        state: &mut State,
        account: &str,
        save: &mut dyn FnMut(&State) -> Result<(), StateError>,
    ) -> ApplyRun {
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
                results.push((plan, applied));
                if let Err(e) = save(state) {
                    return ApplyRun {
                        results,
                        save_error: Some(e),
                    };
                }
            }
        }
        ApplyRun {
            results,
            save_error: None,
        }
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
