//! Manifests on disk as the core sees them: validated offline, Secrets and
//! QualysAccounts resolved, objects built into the core's model; then plan and
//! apply in dependency order.

use std::collections::BTreeSet;

use serde_json::Value;

use super::state::{State, StateError};
use crate::crd::QualysAccountSpec;
use crate::manifest;
use crate::qualys::{QualysClient, QualysError};
use crate::reconcile::build::{self, Inputs};
use crate::reconcile::execute::{Applied, NoGuard, execute};
use crate::reconcile::object::{DesiredObject, Kind, Model};
use crate::reconcile::plan::Action;
use crate::reconcile::plan::{ObjectPlan, Plan};
use crate::reconcile::planner::{Claims, creating_claim, plan_object};
use crate::reconcile::snapshot::Snapshot;
use crate::reconcile::{report, scope};

mod connect;
mod load;

pub use connect::{AccountOptions, Connection};

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
         fix the state file and run apply again (it adopts what it created by natural key, unless adoptionPolicy is MustCreate)"
    )]
    StateNotSaved {
        done: usize,
        source: super::state::StateError,
    },
}

/// What an apply did, and whether the state file kept up.
#[derive(Debug)]
pub struct ApplyRun {
    pub results: Vec<(ObjectPlan, Applied)>,
    /// Saving the state failed after the last result; nothing was written after it.
    pub save_error: Option<StateError>,
}

/// An object planning a create holds its natural key for the rest of the
/// run: the snapshot, read before the run, cannot show what it creates.
fn claim_create(claims: &mut Claims, obj: &DesiredObject, plan: &ObjectPlan) {
    if plan.actions.iter().any(|a| matches!(a, Action::Create { .. })) {
        claims.insert(creating_claim(obj.kind, &obj.natural_key()), obj.reference());
    }
}

/// The loaded manifests.
#[derive(Debug, Default)]
pub struct Workspace {
    /// Objects of the Qualys kinds, with `metadata.namespace` filled in.
    pub objects: Vec<Value>,
    pub inputs: Inputs,
    accounts: Vec<(String, QualysAccountSpec)>,
    /// Documents ignored (other kinds), for a note.
    pub ignored: Vec<String>,
}

impl Workspace {
    fn kinds(&self) -> BTreeSet<Kind> {
        let mut kinds: BTreeSet<Kind> = self
            .objects
            .iter()
            .filter_map(|o| o["kind"].as_str().and_then(Kind::from_kind_name))
            .collect();
        // User scopes name groups by name: the group list resolves them.
        if kinds.contains(&Kind::UserScope) {
            kinds.insert(Kind::Group);
        }
        kinds
    }

    /// The users the manifests' `UserScope` objects name.
    fn scope_users(&self) -> BTreeSet<String> {
        self.objects
            .iter()
            .filter(|o| o["kind"].as_str() == Some(Kind::UserScope.kind_name()))
            .filter_map(|o| o.pointer("/spec/userName").and_then(Value::as_str))
            .map(|u| u.trim().to_string())
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
                "granted": entry.granted,
                "registration": entry.registration,
                "confirmedHash": entry.confirmed_hash,
            });
        }
        value
    }

    fn inputs_with_state(&self, state: &State, account: &str) -> Inputs {
        let mut inputs = self.inputs.clone();
        for object in &self.objects {
            let Some(id) = state
                .entry(account, &Self::reference(object))
                .and_then(|e| e.external_id.clone())
            else {
                continue;
            };
            let ns = object["metadata"]["namespace"].as_str().unwrap_or_default().to_string();
            let name = object["metadata"]["name"].as_str().unwrap_or_default().to_string();
            if object["kind"] == "AzureConnector" {
                inputs.azure_ids.insert((ns, name), id);
            } else if object["kind"] == "ConnectorGroup" {
                inputs.group_ids.insert((ns, name), id);
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

    /// Read what the objects need: one batched read per kind, each user
    /// scope by name, and the reports the list cannot settle in full (which
    /// depends on what `state` recorded for them).
    pub async fn observe(&self, client: &QualysClient, state: &State, account: &str) -> Result<Snapshot, CliError> {
        let mut snap = Snapshot::observe(client, &self.kinds())
            .await
            .map_err(CliError::Observe)?;
        let users = self.scope_users();
        if !users.is_empty() {
            snap.observe_scopes(client, users.iter().map(String::as_str))
                .await
                .map_err(CliError::Observe)?;
        }
        let (reports, _) = self.build(&[Kind::Report], state, account);
        let full: BTreeSet<String> = reports
            .iter()
            .filter_map(|r| report::full_read_wanted(r, &snap))
            .collect();
        snap.observe_report_details(client, full.iter().map(String::as_str))
            .await
            .map_err(CliError::Observe)?;
        Ok(snap)
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
            claim_create(&mut claims, obj, &plan);
            plans.push(plan);
        }
        Plan { objects: plans }
    }

    /// Apply tier by tier (connectors, org connectors, groups, user scopes,
    /// reports, global scan),
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
        let tiers: [&[Kind]; 6] = [
            &[Kind::Aws, Kind::Azure, Kind::Gcp, Kind::Oci],
            &[Kind::AzureOrg],
            &[Kind::Group],
            &[Kind::UserScope, Kind::SnapshotScan],
            &[Kind::Report],
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
                claim_create(&mut claims, obj, &plan);
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
                match &obj.model {
                    Model::SnapshotScan(r) => entry.registration = r.registered_after_run(&plan, &applied),
                    Model::UserScope(u) => {
                        entry.granted = scope::keys(&scope::granted_after_run(u, &snap.groups, &plan));
                    }
                    Model::Report(r) => entry.confirmed_hash = report::confirmed_after(r, snap, &plan, &applied),
                    _ => {}
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
