//! Documents → workspace: kubectl's strictness (unknown kinds of our group,
//! other groups listed, nothing of ours, duplicates, missing Secrets) and the
//! schema validation of each object.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use super::{CliError, Workspace};
use crate::crd::QualysAccountSpec;
use crate::crd::validation;
use crate::manifest::{self, Document};
use crate::qualys::Secret;
use crate::reconcile::build::{self, member_candidate, org_member_names};
use crate::reconcile::object::Kind;

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
    /// Claims our API group with a kind we do not have.
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

    /// Only the QualysAccounts and Secrets of `paths` (for commands that read
    /// Qualys without managing objects, such as `export`); none without paths.
    pub fn accounts_only(paths: &[PathBuf]) -> Result<Self, CliError> {
        let mut ws = Workspace::default();
        if paths.is_empty() {
            return Ok(ws);
        }
        let mut errors = Vec::new();
        for doc in manifest::read_paths(paths)? {
            let namespace = doc.namespace().unwrap_or("default").to_string();
            match role(&doc) {
                Role::Secret => {
                    ws.inputs
                        .secrets
                        .insert((namespace, doc.name().to_string()), decode_secret_data(&doc));
                }
                Role::Account => match serde_json::from_value::<QualysAccountSpec>(doc.value["spec"].clone()) {
                    Ok(spec) => ws.accounts.push((doc.name().to_string(), spec)),
                    Err(e) => errors.push(format!("{}: spec: {e}", doc.describe())),
                },
                _ => {}
            }
        }
        if !errors.is_empty() {
            return Err(CliError::Invalid(errors));
        }
        Ok(ws)
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
}
