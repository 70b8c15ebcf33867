//! From a Kubernetes object (as JSON) plus prefetched inputs to a
//! [`DesiredObject`]. The controller and the CLI both serialize their objects
//! to JSON and call [`build`], so both resolve specs, secrets, references and
//! annotations identically. Earlier results come from `status` (the CLI fills
//! it from its state file).

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::connector::{CloudSecrets, CloudSpec, DesiredConnector, aws_account_of};
use super::group::{self, MemberCandidate};
use super::identity::Recorded;
use super::object::{DesiredObject, Kind, Model};
use super::org::{DesiredOrg, PENDING_MEMBER};
use super::registration::DesiredRegistration;
use super::report;
use super::scope;
use crate::crd::common::{AdoptionPolicy, Management, SecretKeyRef};
use crate::crd::group::MemberKind;
use crate::crd::report::CloudViewReportSpec;
use crate::crd::snapshot_scan::SnapshotScanRegistrationSpec;
use crate::crd::user_scope::UserScopeSpec;
use crate::crd::{
    AzureConnectorSpec, AzureOrgConnectorSpec, ConnectorGroupSpec, GcpConnectorSpec, GlobalScanConfigurationSpec,
    OciConnectorSpec,
};
use crate::qualys::Secret;

pub const ANNOTATION_EXTERNAL_ID: &str = "qualys-operator.io/external-id";
pub const ANNOTATION_RUN_REQUESTED_AT: &str = "qualys-operator.io/run-requested-at";
pub const ANNOTATION_PAUSED: &str = "qualys-operator.io/paused";
/// Written (with optimistic concurrency) just before a create call.
pub const ANNOTATION_CREATE_PENDING: &str = "qualys-operator.io/create-pending";
/// Written with the new id right after a create call succeeded.
pub const ANNOTATION_CREATE_SUCCEEDED: &str = "qualys-operator.io/create-succeeded";

/// Secrets, ids and member candidates fetched before building.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// (namespace, name) → key → value.
    pub secrets: BTreeMap<(String, String), BTreeMap<String, Secret>>,
    /// (namespace, AzureConnector name) → its Qualys id.
    pub azure_ids: BTreeMap<(String, String), String>,
    /// (namespace, ConnectorGroup name) → its Qualys uuid.
    pub group_ids: BTreeMap<(String, String), String>,
    /// namespace → connector objects groups may reference.
    pub members: BTreeMap<String, Vec<MemberCandidate>>,
    /// (namespace, AzureConnector name) listed as a member by some AzureOrgConnector.
    pub org_members: std::collections::BTreeSet<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("{kind} is not a Qualys kind")]
    UnknownKind { kind: String },
    #[error("spec does not parse: {message}")]
    InvalidSpec { message: String },
    #[error("{field}: Secret {namespace}/{name} has no key {key:?} (or does not exist)")]
    MissingSecret {
        field: String,
        namespace: String,
        name: String,
        key: String,
    },
}

impl Inputs {
    /// A missing Secret is an error, except while deleting: cleanup must
    /// succeed even when the Secret is already gone.
    fn secret_for(
        &self,
        namespace: &str,
        field: &str,
        r: &SecretKeyRef,
        deleting: bool,
    ) -> Result<Option<Secret>, BuildError> {
        match self.secret(namespace, field, r) {
            // An empty value (a Secret written by `export`, not filled in yet)
            // is unknown: never sent, never compared.
            Ok(s) if s.expose().trim().is_empty() => Ok(None),
            Ok(s) => Ok(Some(s)),
            Err(_) if deleting => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn secret(&self, namespace: &str, field: &str, r: &SecretKeyRef) -> Result<Secret, BuildError> {
        self.secrets
            .get(&(namespace.to_string(), r.name.clone()))
            .and_then(|keys| keys.get(&r.key))
            .cloned()
            .ok_or_else(|| BuildError::MissingSecret {
                field: format!("spec.{field}"),
                namespace: namespace.to_string(),
                name: r.name.clone(),
                key: r.key.clone(),
            })
    }
}

fn text<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

fn annotation(v: &Value, key: &str) -> Option<String> {
    v.pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn spec<T: DeserializeOwned>(object: &Value) -> Result<T, BuildError> {
    serde_json::from_value(object.get("spec").cloned().unwrap_or(Value::Null))
        .map_err(|e| BuildError::InvalidSpec { message: e.to_string() })
}

/// The Secret references of an object (to prefetch), by field name.
pub fn secret_refs(object: &Value) -> Vec<(String, SecretKeyRef)> {
    let mut refs = Vec::new();
    if let Some(spec) = object.get("spec").and_then(Value::as_object) {
        for (field, value) in spec {
            if field.ends_with("SecretRef")
                && let Ok(r) = serde_json::from_value::<SecretKeyRef>(value.clone())
            {
                refs.push((field.clone(), r));
            }
        }
    }
    refs
}

/// The AzureConnectors an AzureOrgConnector object lists as members.
pub fn org_member_names(object: &Value) -> Vec<(String, String)> {
    if text(object, "/kind") != Some("AzureOrgConnector") {
        return Vec::new();
    }
    let namespace = text(object, "/metadata/namespace").unwrap_or("default").to_string();
    object
        .pointer("/spec/members")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("name").and_then(Value::as_str))
        .map(|name| (namespace.clone(), name.to_string()))
        .collect()
}

/// Whether a connector's `spec.apps` has the CI or CSA app, which is what
/// makes CloudView know the connector; `None` when the spec leaves apps
/// unmanaged (then what Qualys reports decides).
pub fn has_cloudview_app(apps: Option<&Value>) -> Option<bool> {
    apps.and_then(Value::as_array).map(|apps| {
        apps.iter()
            .filter_map(|a| a.get("name").and_then(Value::as_str))
            .any(is_cloudview_app)
    })
}

/// The apps that make CloudView know a connector (Cloud Inventory, Cloud
/// Security Assessment).
pub fn is_cloudview_app(name: &str) -> bool {
    name.eq_ignore_ascii_case("CI") || name.eq_ignore_ascii_case("CSA")
}

/// A connector object as a group member candidate, if it is one.
pub fn member_candidate(object: &Value) -> Option<(String, MemberCandidate)> {
    let kind = text(object, "/kind")?;
    let namespace = text(object, "/metadata/namespace").unwrap_or("default").to_string();
    let name = text(object, "/metadata/name")?.to_string();
    let labels = object
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let (kind, account) = match kind {
        "AwsConnector" => (MemberKind::AwsConnector, aws_account_of(text(object, "/spec/arn")?)?),
        "AzureConnector" => (
            MemberKind::AzureConnector,
            super::identity::guid(text(object, "/spec/subscriptionId")?),
        ),
        "GcpConnector" => (MemberKind::GcpConnector, text(object, "/spec/projectId")?.to_string()),
        _ => return None,
    };
    Some((
        namespace,
        MemberCandidate {
            kind,
            name,
            labels,
            account,
            // `plan` and `apply` create connectors before groups.
            waiting: false,
            stalled: false,
            cloudview: has_cloudview_app(object.pointer("/spec/apps")),
        },
    ))
}

/// Build the core's view of one object.
pub fn build(object: &Value, inputs: &Inputs) -> Result<DesiredObject, BuildError> {
    let kind_name = text(object, "/kind").unwrap_or_default();
    let kind = Kind::from_kind_name(kind_name).ok_or_else(|| BuildError::UnknownKind {
        kind: kind_name.to_string(),
    })?;
    let namespace = text(object, "/metadata/namespace").unwrap_or("default").to_string();
    let name = text(object, "/metadata/name").unwrap_or_default().to_string();
    let deleting = object
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null());
    let status = |key: &str| {
        text(object, &format!("/status/{key}"))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let secret = |field: &str, r: &SecretKeyRef| inputs.secret_for(&namespace, field, r, deleting);
    let cloud = |spec: CloudSpec, primary: Option<Secret>, passphrase: Option<Secret>| {
        let (management, adoption) = spec.policies();
        let secrets = CloudSecrets { primary, passphrase };
        (
            Model::Connector(DesiredConnector {
                spec,
                object_name: name.clone(),
                secrets,
            }),
            management,
            adoption,
        )
    };
    let (model, management, adoption): (Model, Management, AdoptionPolicy) = match kind {
        Kind::Aws => cloud(CloudSpec::Aws(spec(object)?), None, None),
        Kind::Azure => {
            let s: AzureConnectorSpec = spec(object)?;
            let key = secret("authenticationKeySecretRef", &s.authentication_key_secret_ref)?;
            cloud(CloudSpec::Azure(s), key, None)
        }
        Kind::Gcp => {
            let s: GcpConnectorSpec = spec(object)?;
            let key = secret("serviceAccountKeySecretRef", &s.service_account_key_secret_ref)?;
            cloud(CloudSpec::Gcp(s), key, None)
        }
        Kind::Oci => {
            let s: OciConnectorSpec = spec(object)?;
            let key = secret("privateKeySecretRef", &s.private_key_secret_ref)?;
            let passphrase = match &s.passphrase_secret_ref {
                Some(r) => secret("passphraseSecretRef", r)?,
                None => None,
            };
            cloud(CloudSpec::Oci(s), key, passphrase)
        }
        Kind::AzureOrg => {
            let s: AzureOrgConnectorSpec = spec(object)?;
            let secret = inputs.secret_for(&namespace, "secretValueSecretRef", &s.secret_value_secret_ref, deleting)?;
            let member_ids = s
                .members
                .iter()
                .flatten()
                .map(|m| {
                    inputs
                        .azure_ids
                        .get(&(namespace.clone(), m.name.clone()))
                        .cloned()
                        .unwrap_or_else(|| format!("{PENDING_MEMBER}{}", m.name))
                })
                .collect();
            let (m, a) = (s.management.clone(), s.adoption_policy);
            (
                Model::Org(DesiredOrg {
                    spec: s,
                    object_name: name.clone(),
                    secret,
                    member_ids,
                }),
                m,
                a,
            )
        }
        Kind::Group => {
            let s: ConnectorGroupSpec = spec(object)?;
            let candidates = inputs.members.get(&namespace).cloned().unwrap_or_default();
            let g = group::resolve(&s, &name, &candidates);
            (Model::Group(g), s.management, AdoptionPolicy::AdoptOrCreate)
        }
        Kind::UserScope => {
            let s: UserScopeSpec = spec(object)?;
            let granted = object
                .pointer("/status/granted")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .filter_map(scope::Entry::from_key)
                .collect();
            let u = scope::desired(&s, &namespace, &inputs.group_ids, granted);
            (Model::UserScope(u), s.management, AdoptionPolicy::AdoptOrCreate)
        }
        Kind::SnapshotScan => {
            let s: SnapshotScanRegistrationSpec = spec(object)?;
            let r = DesiredRegistration::from_spec(&s, status("registration"));
            (Model::SnapshotScan(r), s.management, AdoptionPolicy::AdoptOrCreate)
        }
        Kind::Report => {
            let s: CloudViewReportSpec = spec(object)?;
            let r = report::desired(&s, &name, status("confirmedHash"));
            (Model::Report(r), s.management, s.adoption_policy)
        }
        Kind::GlobalScan => {
            let s: GlobalScanConfigurationSpec = spec(object)?;
            (
                Model::GlobalScan(s.schedule),
                s.management,
                AdoptionPolicy::AdoptOrCreate,
            )
        }
    };
    let declared_org_member = kind == Kind::Azure && inputs.org_members.contains(&(namespace.clone(), name.clone()));
    let paused = annotation(object, ANNOTATION_PAUSED).is_some_and(|v| v != "false");
    Ok(DesiredObject {
        kind,
        namespace,
        name,
        model,
        management,
        adoption,
        recorded: Recorded {
            annotation_id: annotation(object, ANNOTATION_EXTERNAL_ID).filter(|s| !s.is_empty()),
            declared_org_member,
            external_id: status("externalId")
                .or_else(|| annotation(object, ANNOTATION_CREATE_SUCCEEDED).filter(|s| !s.is_empty())),
        },
        sent_secret_hash: status("secretHash"),
        run_requested_at: annotation(object, ANNOTATION_RUN_REQUESTED_AT).filter(|s| !s.is_empty()),
        last_run_requested_at: status("lastRunRequestedAt"),
        deleting: object
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|v| !v.is_null()),
        paused,
    })
}
