//! Export: what Qualys holds, as manifests a user can own (issue 20). Pure:
//! a [`Snapshot`] in, objects out. A connector's manifest is built from its
//! *observed* fields, the same paths and normal forms the diff compares, so
//! planning the export against the same Qualys comes back empty.
//!
//! Only what a user should own is written: fields at their defaults and
//! fields Qualys did not report are left out, server-added values never
//! appear, members an org connector created are left to it, and secrets
//! (never returned by Qualys) become Secrets with empty values, which plan and
//! apply treat as unknown until filled in.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::connector::{self, observed_key};
use super::fields::Fields;
use super::identity::guid;
use super::object::{GLOBAL_SCAN_KEY, Kind};
use super::org;
use super::snapshot::Snapshot;
use crate::crd::GROUP;
use crate::qualys::{CloudKind, Connector};

/// The annotation that makes the first apply adopt the exported object by id.
pub const EXTERNAL_ID: &str = "qualys-operator.io/external-id";

/// One Secret the exported objects reference, with its keys left empty.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretStub {
    pub name: String,
    pub keys: Vec<String>,
    /// What to put in it, for the comment above it.
    pub hint: String,
}

/// One exported object.
#[derive(Debug, Clone, PartialEq)]
pub struct Exported {
    pub kind: Kind,
    /// metadata.name: DNS-1123, unique per kind.
    pub name: String,
    /// The Qualys id (or `global`).
    pub id: String,
    pub manifest: Value,
    pub secret: Option<SecretStub>,
    /// Something a person should know before applying (written as a comment).
    pub notes: Vec<String>,
}

/// What to export.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Empty: every kind.
    pub kinds: BTreeSet<Kind>,
    pub name: Option<regex::Regex>,
}

impl Filter {
    fn wants(&self, kind: Kind, qualys_name: &str) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&kind))
            && self.name.as_ref().is_none_or(|r| r.is_match(qualys_name))
    }
}

/// A valid DNS-1123 subdomain from a Qualys name (lower case, `-` for
/// anything else, at most 63 characters so it is also a valid label).
pub fn dns_name(raw: &str) -> String {
    let mut out = String::new();
    for c in raw.trim().chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if c == '-' && (out.is_empty() || out.ends_with('-')) {
            continue;
        }
        out.push(c);
    }
    out.truncate(63);
    let out = out.trim_matches('-').to_string();
    if out.is_empty() { "unnamed".into() } else { out }
}

/// Names unique per kind: a second `prod` becomes `prod-2`, and so on.
/// Secrets are one more kind: every exported object of every kind gets its
/// own, so two kinds' `prod` never share (or overwrite) one Secret.
#[derive(Default)]
struct Names(BTreeMap<&'static str, BTreeSet<String>>);

impl Names {
    fn claim(&mut self, kind: Kind, raw: &str) -> String {
        self.claim_in(kind.kind_name(), raw)
    }

    /// The name of the Secret holding the credentials of object `owner`.
    fn secret(&mut self, owner: &str) -> String {
        self.claim_in("Secret", &format!("{owner}-credentials"))
    }

    fn claim_in(&mut self, kind: &'static str, raw: &str) -> String {
        let base = dns_name(raw);
        let taken = self.0.entry(kind).or_default();
        let mut name = base.clone();
        let mut n = 1;
        while taken.contains(&name) {
            n += 1;
            let suffix = format!("-{n}");
            let mut stem = base.clone();
            stem.truncate(63 - suffix.len());
            name = format!("{}{suffix}", stem.trim_end_matches('-'));
        }
        taken.insert(name.clone());
        name
    }
}

fn object(kind: Kind, name: &str, namespace: &str, id: &str, spec: Value) -> Value {
    json!({
        "apiVersion": format!("{GROUP}/v1alpha1"),
        "kind": kind.kind_name(),
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": { EXTERNAL_ID: id },
        },
        "spec": spec,
    })
}

/// Puts `value` at a dotted spec path (`spec.perimeterScan.enabled`).
fn put(spec: &mut Map<String, Value>, path: &str, value: Value) {
    let mut parts = path.trim_start_matches("spec.").split('.').peekable();
    let mut here = spec;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            here.insert(part.to_string(), value);
            return;
        }
        let next = here
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !next.is_object() {
            *next = Value::Object(Map::new());
        }
        let Value::Object(map) = next else { return };
        here = map;
    }
}

/// Values the schema applies when a field is left out: exporting them would
/// only add noise.
fn is_default(path: &str, value: &Value) -> bool {
    match path {
        "spec.runFrequencyMinutes" => value == &json!(240),
        "spec.disabled" | "spec.remediationEnabled" | "spec.perimeterScan.enabled" => value == &json!(false),
        "spec.partition" => value == "Global",
        "spec.regions" | "spec.activation" | "spec.defaultTagIds" => value.as_array().is_some_and(Vec::is_empty),
        _ => value.is_null(),
    }
}

/// Whether the kind's schema has `path`: Qualys may report fields it does not
/// document for a cloud (activation on OCI, tags on GCP), which a manifest of
/// that kind cannot state and the spec therefore cannot own.
fn supports(kind: CloudKind, path: &str) -> bool {
    !matches!(
        (kind, path),
        (CloudKind::Gcp, "spec.activation" | "spec.defaultTagIds")
            | (CloudKind::Oci, "spec.activation" | "spec.perimeterScan.custom")
    )
}

/// The spec of a connector from its observed fields.
fn connector_spec(kind: CloudKind, c: &Connector, fields: &Fields, secret_ref: Option<(&str, &str)>) -> Value {
    let mut spec = Map::new();
    let identity = match kind {
        CloudKind::Aws => c.arn.clone(),
        CloudKind::Azure => c.subscription_id.as_deref().map(guid),
        CloudKind::Gcp => c.project_id.clone(),
        CloudKind::Oci => c.tenant_id.clone(),
    }
    .unwrap_or_default();
    for (path, field) in &fields.0 {
        if field.unknown.is_some() || field.secret || is_default(path, &field.value) || !supports(kind, path) {
            continue;
        }
        match path.as_str() {
            "spec.apps" => {}
            p if p.starts_with("spec.apps.") => {}
            "spec.perimeterScan.custom" => {
                let mut schedule = field.value.clone();
                if let Some(days) = schedule.get("daysOfWeek")
                    && days.as_array().is_some_and(Vec::is_empty)
                    && let Some(map) = schedule.as_object_mut()
                {
                    map.remove("daysOfWeek");
                }
                put(&mut spec, path, schedule);
            }
            _ => put(&mut spec, path, field.value.clone()),
        }
    }
    // A perimeter scan that is on: `perimeterScan: {}` means enabled.
    if fields.get("spec.perimeterScan.enabled") == Some(&Value::Bool(true))
        && let Some(Value::Object(scan)) = spec.get_mut("perimeterScan")
    {
        scan.remove("enabled");
    }
    if let Some(apps) = apps_of(fields, &identity) {
        spec.insert("apps".into(), apps);
    }
    if let Some((field, secret)) = secret_ref {
        spec.insert(field.into(), json!({ "name": secret, "key": secret_key(field) }));
    }
    Value::Object(spec)
}

/// `spec.apps` from observed fields: an identifier only where it is not the
/// default (`identity`), a tag only where Qualys reported one.
fn apps_of(fields: &Fields, identity: &str) -> Option<Value> {
    let Some(Value::Array(names)) = fields.get("spec.apps") else {
        return None;
    };
    let apps = names
        .iter()
        .filter_map(Value::as_str)
        .map(|name| {
            let mut app = json!({ "name": name });
            if let Some(Value::String(id)) = fields.get(&format!("spec.apps.{name}.identifier"))
                && guid(id) != guid(identity)
            {
                app["identifier"] = json!(id);
            }
            if let Some(tag) = fields.get(&format!("spec.apps.{name}.tagId")) {
                app["tagId"] = tag.clone();
            }
            app
        })
        .collect();
    Some(Value::Array(apps))
}

fn secret_key(field: &str) -> &'static str {
    match field {
        "authenticationKeySecretRef" => "authenticationKey",
        "serviceAccountKeySecretRef" => "key.json",
        "privateKeySecretRef" => "private.pem",
        _ => "clientSecret",
    }
}

fn secret_field(kind: CloudKind) -> Option<(&'static str, &'static str)> {
    match kind {
        CloudKind::Aws => None,
        CloudKind::Azure => Some(("authenticationKeySecretRef", "the Azure application's client secret")),
        CloudKind::Gcp => Some(("serviceAccountKeySecretRef", "the GCP service account's JSON key file")),
        CloudKind::Oci => Some(("privateKeySecretRef", "the OCI API signing key (PEM)")),
    }
}

fn cloud_kind(cloud: CloudKind) -> Kind {
    match cloud {
        CloudKind::Aws => Kind::Aws,
        CloudKind::Azure => Kind::Azure,
        CloudKind::Gcp => Kind::Gcp,
        CloudKind::Oci => Kind::Oci,
    }
}

/// Everything the snapshot holds that `filter` selects, as manifests in `namespace`.
pub fn export(snap: &Snapshot, filter: &Filter, namespace: &str) -> Vec<Exported> {
    let mut names = Names::default();
    let mut out = Vec::new();
    let org_members: BTreeSet<&str> = snap
        .orgs
        .iter()
        .flat_map(|o| o.members.iter().map(String::as_str))
        .collect();
    for (cloud, connectors) in &snap.connectors {
        let kind = cloud_kind(*cloud);
        for c in connectors {
            let (Some(id), qualys_name) = (c.id.clone(), c.name.clone().unwrap_or_default()) else {
                continue;
            };
            // Members belong to their org connector, which manages them.
            if org_members.contains(id.as_str()) || c.is_attached_to_org_connector == Some(true) {
                continue;
            }
            if !filter.wants(kind, &qualys_name) {
                continue;
            }
            let name = names.claim(kind, if qualys_name.is_empty() { &id } else { &qualys_name });
            let fields = connector::observed_fields(*cloud, c, None);
            let secret = secret_field(*cloud).map(|(field, hint)| (field, names.secret(&name), hint));
            let mut spec = connector_spec(*cloud, c, &fields, secret.as_ref().map(|(f, n, _)| (*f, n.as_str())));
            let mut notes = Vec::new();
            if qualys_name == name
                && let Some(map) = spec.as_object_mut()
            {
                map.remove("name");
            }
            if fields.0.get("spec.regions").is_some_and(|f| f.unknown.is_some()) {
                notes.push(
                    "Qualys does not list this connector's regions (it scans some, not all): spec.regions \
                     is left out, so they stay as they are; list them to manage them"
                        .into(),
                );
            }
            if observed_key(*cloud, c).is_none() {
                notes.push("Qualys reported no cloud account for this connector; check the identity fields".into());
            }
            out.push(Exported {
                kind,
                manifest: object(kind, &name, namespace, &id, spec),
                secret: secret.map(|(field, secret_name, hint)| SecretStub {
                    name: secret_name,
                    keys: vec![secret_key(field).to_string()],
                    hint: hint.to_string(),
                }),
                name,
                id,
                notes,
            });
        }
    }
    for detail in &snap.orgs {
        let o = &detail.org;
        let (Some(id), qualys_name) = (o.id.clone(), o.name.clone().unwrap_or_default()) else {
            continue;
        };
        if !filter.wants(Kind::AzureOrg, &qualys_name) {
            continue;
        }
        let name = names.claim(Kind::AzureOrg, if qualys_name.is_empty() { &id } else { &qualys_name });
        let fields = org::observed_fields(o, &detail.members, None);
        let secret_name = names.secret(&name);
        let mut spec = Map::new();
        for (path, field) in &fields.0 {
            if field.unknown.is_some() || field.secret || field.value.is_null() || path.starts_with("spec.apps") {
                continue;
            }
            if path == "spec.members" || (path.starts_with("spec.autoActivate.") && field.value == json!(false)) {
                continue;
            }
            put(&mut spec, path, field.value.clone());
        }
        if qualys_name == name {
            spec.remove("name");
        }
        let tenant = o.tenant_id.clone().unwrap_or_default();
        spec.insert(
            "tenantName".into(),
            json!(o.organization_name.clone().unwrap_or_else(|| tenant.clone())),
        );
        if let Some(apps) = apps_of(&fields, &tenant) {
            spec.insert("apps".into(), apps);
        }
        spec.insert(
            "secretValueSecretRef".into(),
            json!({ "name": secret_name, "key": "clientSecret" }),
        );
        let notes = (!detail.members.is_empty())
            .then(|| {
                format!(
                    "its {} member connector(s) ({}) are managed by this org connector and not exported; \
                     spec.members is left out, so membership stays as Qualys has it",
                    detail.members.len(),
                    detail.members.join(", ")
                )
            })
            .into_iter()
            .collect();
        out.push(Exported {
            kind: Kind::AzureOrg,
            manifest: object(Kind::AzureOrg, &name, namespace, &id, Value::Object(spec)),
            secret: Some(SecretStub {
                name: secret_name,
                keys: vec!["clientSecret".into()],
                hint: "the org application's client secret".into(),
            }),
            name,
            id,
            notes,
        });
    }
    for g in &snap.groups {
        let (Some(id), Some(qualys_name)) = (g.uuid.clone(), g.name.clone()) else {
            continue;
        };
        if !filter.wants(Kind::Group, &qualys_name) {
            continue;
        }
        let name = names.claim(Kind::Group, &qualys_name);
        let accounts: Vec<Value> = g
            .connectors
            .iter()
            .filter_map(|m| {
                Some(json!({
                    "cloudType": m.cloud_type.as_deref()?.to_uppercase(),
                    "accountIdentifier": m.account_identifier.as_deref()?,
                }))
            })
            .collect();
        let mut spec = json!({ "members": { "accounts": accounts } });
        if qualys_name != name {
            spec["name"] = json!(qualys_name);
        }
        out.push(Exported {
            kind: Kind::Group,
            manifest: object(Kind::Group, &name, namespace, &id, spec),
            secret: None,
            name,
            id,
            notes: Vec::new(),
        });
    }
    if let Some(scan) = &snap.global_scan
        && filter.wants(Kind::GlobalScan, "global")
    {
        let mut schedule = connector::observed_schedule(scan);
        if let Some(map) = schedule.as_object_mut()
            && map
                .get("daysOfWeek")
                .and_then(Value::as_array)
                .is_some_and(Vec::is_empty)
        {
            map.remove("daysOfWeek");
        }
        let name = names.claim(Kind::GlobalScan, "global-scan-configuration");
        out.push(Exported {
            kind: Kind::GlobalScan,
            manifest: object(Kind::GlobalScan, &name, namespace, GLOBAL_SCAN_KEY, schedule),
            secret: None,
            name,
            id: GLOBAL_SCAN_KEY.into(),
            notes: Vec::new(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dns_1123_and_unique() {
        assert_eq!(dns_name("  Prod AWS (EU)/main  "), "prod-aws-eu-main");
        assert_eq!(dns_name("___"), "unnamed");
        assert_eq!(dns_name(&"x".repeat(80)).len(), 63);
        let mut names = Names::default();
        assert_eq!(names.claim(Kind::Aws, "Prod"), "prod");
        assert_eq!(names.claim(Kind::Aws, "prod"), "prod-2");
        assert_eq!(names.claim(Kind::Azure, "prod"), "prod", "unique per kind");
        assert_eq!(names.secret("prod"), "prod-credentials");
        assert_eq!(
            names.secret("prod"),
            "prod-credentials-2",
            "an Azure and a GCP `prod` each get their own Secret"
        );
        let long_owner = "z".repeat(63);
        assert_ne!(names.secret(&long_owner), names.secret(&long_owner));
        let long = "y".repeat(70);
        let first = names.claim(Kind::Aws, &long);
        let second = names.claim(Kind::Aws, &long);
        assert_ne!(first, second);
        assert!(second.len() <= 63 && second.ends_with("-2"), "{second}");
    }

    #[test]
    fn fields_a_kind_cannot_state_are_left_out() {
        let mut oci = Connector {
            id: Some("7".into()),
            name: Some("oci".into()),
            activation: Some(vec!["VM".into()]),
            tenant_id: Some("ocid1.tenancy.oc1..a".into()),
            ..Connector::default()
        };
        let fields = connector::observed_fields(CloudKind::Oci, &oci, None);
        assert_eq!(fields.get("spec.activation"), Some(&json!(["VM"])), "observed");
        let spec = connector_spec(CloudKind::Oci, &oci, &fields, None);
        assert!(spec.get("activation").is_none(), "OCI has no activation: {spec}");
        oci.activation = None;
        let mut aws = oci.clone();
        aws.activation = Some(vec!["VM".into()]);
        aws.arn = Some("arn:aws:iam::123456789012:role/Q".into());
        let fields = connector::observed_fields(CloudKind::Aws, &aws, None);
        let spec = connector_spec(CloudKind::Aws, &aws, &fields, None);
        assert_eq!(spec["activation"], json!(["VM"]), "AWS has: {spec}");
    }

    #[test]
    fn an_app_without_an_echoed_identifier_is_written_without_one() {
        let mut fields = Fields::default();
        super::super::desired::observed_apps(&mut fields, &[("AI".into(), String::new(), Some(3))]);
        assert_eq!(apps_of(&fields, "tenant"), Some(json!([{ "name": "AI", "tagId": 3 }])));
    }

    #[test]
    fn put_builds_nested_paths() {
        let mut spec = Map::new();
        put(&mut spec, "spec.perimeterScan.enabled", json!(true));
        put(&mut spec, "spec.arn", json!("a"));
        assert_eq!(
            Value::Object(spec),
            json!({"perimeterScan": {"enabled": true}, "arn": "a"})
        );
    }
}
