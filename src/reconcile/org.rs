//! Azure organization connectors (gateway): desired/observed models, the full
//! write the gateway requires, and member ids.

use serde_json::Value;

use super::absent;
use super::desired::{self, text};
use super::fields::{Fields, secret_hash};
use super::identity::guid;
use crate::crd::AzureOrgConnectorSpec;
use crate::qualys::{OrgApp, OrgConnector, OrgConnectorWrite, OrgCredentials, RunFrequency, Secret};

/// Member ids not yet known (the AzureConnector is not created yet) carry
/// this prefix so the plan can show them and the executor can skip them.
pub const PENDING_MEMBER: &str = "pending:";

#[derive(Debug, Clone, PartialEq)]
pub struct DesiredOrg {
    pub spec: AzureOrgConnectorSpec,
    pub object_name: String,
    pub secret: Option<Secret>,
    /// Qualys ids of the member AzureConnectors, or `pending:<name>`.
    pub member_ids: Vec<String>,
}

impl DesiredOrg {
    pub fn natural_key(&self) -> String {
        guid(&self.spec.tenant_id)
    }

    pub fn name(&self) -> String {
        self.spec.name.clone().unwrap_or_else(|| self.object_name.clone())
    }

    pub fn secret_hash(&self) -> Option<String> {
        // Salted like the connectors' (see `DesiredConnector::secret_hash`).
        self.secret
            .as_ref()
            .map(|s| secret_hash(["azureorg", self.object_name.as_str(), s.expose()]))
    }

    pub fn fields(&self) -> Fields {
        desired::azure_org(&self.spec, &self.object_name, self.secret_hash(), &self.member_ids)
    }

    fn require_secret(&self) -> Result<Secret, String> {
        self.secret
            .clone()
            .ok_or_else(|| "spec.secretValueSecretRef: the referenced Secret key was not resolved".into())
    }

    pub fn credentials(&self) -> Result<OrgCredentials, String> {
        Ok(OrgCredentials {
            tenant_id: guid(&self.spec.tenant_id),
            application_id: guid(&self.spec.application_id),
            secret_value: self.require_secret()?,
        })
    }

    /// The gateway documents every field as mandatory on create and edit, so
    /// the write is always whole; fields it cannot change are resent unchanged.
    pub fn write(&self) -> Result<OrgConnectorWrite, String> {
        let s = &self.spec;
        let minutes = |m: i32| RunFrequency::from_minutes(u32::try_from(m).unwrap_or(0));
        Ok(OrgConnectorWrite {
            name: self.name(),
            description: s.description.clone().unwrap_or_default(),
            tenant_id: guid(&s.tenant_id),
            tenant_name: s.tenant_name.clone(),
            application_id: guid(&s.application_id),
            secret_value: self.require_secret()?,
            connector_prefix_name: s.connector_prefix_name.clone(),
            connector_app_infos: s
                .apps
                .iter()
                .map(|a| OrgApp {
                    name: Some(a.name.as_str().to_string()),
                    identifier: Some(a.identifier.clone().unwrap_or_else(|| guid(&s.tenant_id))),
                    tag_id: a.tag_id.map(|t| t.to_string()),
                })
                .collect(),
            org_run_frequency: minutes(s.org_run_frequency_minutes),
            connector_run_frequency: minutes(s.member_run_frequency_minutes),
            included_mem: s.included_management_groups.clone(),
            excluded_mem: s.excluded_management_groups.clone(),
            is_create_connector_for_new_subscriptions_automatically: s.create_connectors_for_new_subscriptions,
            is_disable_connectors_for_deleted_management_groups: s.disable_connectors_for_deleted_management_groups,
            is_remediation_enabled: s.remediation_enabled,
            auto_activate_cv: s.auto_activate.cloud_view,
            auto_activate_cert_view: s.auto_activate.cert_view,
            auto_activate_pc: s.auto_activate.pc,
            auto_activate_sca: s.auto_activate.sca,
            auto_activate_vm: s.auto_activate.vm,
            default_tag_ids: s.default_tag_ids.iter().map(ToString::to_string).collect(),
        })
    }
}

pub fn observed_key(o: &OrgConnector) -> Option<String> {
    o.tenant_id.as_deref().map(guid)
}

/// `members`: ids of the member connectors attached now. What an absent field
/// means is decided by [`absent::org_rule`].
pub fn observed_fields(o: &OrgConnector, members: &[String], sent_secret_hash: Option<String>) -> Fields {
    let mut f = Fields::new();
    let id = |s: &Option<String>| s.as_deref().map(|v| Value::String(guid(v)));
    let plain = |s: &Option<String>| s.as_deref().map(|v| text(Some(v)));
    let minutes = |r: Option<RunFrequency>| r.map(|r| Value::from(r.total_minutes()));
    let flag = |b: Option<bool>| b.map(Value::from);
    for (path, value) in [
        ("spec.name", plain(&o.name)),
        ("spec.description", plain(&o.description)),
        ("spec.tenantId", id(&o.tenant_id)),
        ("spec.applicationId", id(&o.application_id)),
        ("spec.connectorPrefixName", plain(&o.connector_prefix_name)),
        ("spec.orgRunFrequencyMinutes", minutes(o.org_run_frequency)),
        ("spec.memberRunFrequencyMinutes", minutes(o.connector_run_frequency)),
        (
            "spec.createConnectorsForNewSubscriptions",
            flag(o.create_connector_for_new_subscriptions_automatically),
        ),
        (
            "spec.disableConnectorsForDeletedManagementGroups",
            flag(o.disable_connectors_for_deleted_management_groups),
        ),
        ("spec.autoActivate.vm", flag(o.auto_activate_vm)),
        ("spec.autoActivate.pc", flag(o.auto_activate_pc)),
        ("spec.autoActivate.sca", flag(o.auto_activate_sca)),
        ("spec.autoActivate.certView", flag(o.auto_activate_cert_view)),
        ("spec.autoActivate.cloudView", flag(o.auto_activate_cv)),
        ("spec.remediationEnabled", flag(o.remediation_enabled)),
        ("spec.disabled", flag(o.disabled)),
    ] {
        f.observe(&absent::org_rule(path), path, value);
    }
    f.set_secret("spec.secretValueSecretRef", sent_secret_hash);
    let apps: Vec<(String, String, Option<i64>)> = o
        .connector_app_infos
        .iter()
        .filter_map(|a| {
            // Which id the gateway echoes is not documented (every sample is a
            // placeholder): read as the QPS Azure reads are.
            let identifier = super::identity::read_app_identifier(
                a.identifier.clone().unwrap_or_default(),
                o.application_id.as_deref(),
                o.tenant_id.as_deref(),
            );
            Some((
                a.name.clone()?.to_uppercase(),
                identifier,
                a.tag_id.as_deref().and_then(|t| t.trim().parse().ok()),
            ))
        })
        .collect();
    desired::observed_apps(&mut f, &apps);
    let excluded = match &o.member_configurations {
        Some(m) if o.excluded_mem.is_empty() => &m.excluded_members,
        _ => &o.excluded_mem,
    };
    f.set_unordered(
        "spec.includedManagementGroups",
        o.included_members().iter().map(String::as_str),
    );
    f.set_unordered("spec.excludedManagementGroups", excluded.iter().map(String::as_str));
    f.set_unordered("spec.members", members.iter().map(String::as_str));
    f.set_unordered(
        "spec.defaultTagIds",
        o.default_tag_ids.iter().filter_map(|t| t.trim().parse::<i64>().ok()),
    );
    f
}
