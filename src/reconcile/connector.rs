//! The four QPS cloud connector kinds: desired model from the spec, observed
//! model from Qualys, natural keys, and the partial write for changed fields.

use std::collections::BTreeSet;

use serde_json::Value;

use super::desired::{self, schedule_json, text};
use super::fields::{Fields, secret_hash};
use crate::crd::aws::AwsPartition;
use crate::crd::azure::AzurePartition;
use crate::crd::common::{AdoptionPolicy, ConnectorSettings, Management, PerimeterScan, ScanSchedule};
use crate::crd::{AwsConnectorSpec, AzureConnectorSpec, GcpConnectorSpec, OciConnectorSpec};
use crate::qualys::{
    AuthRecordWrite, CloudKind, Connector, ConnectorAppWrite, ConnectorWrite, GcpServiceAccountKey, ScanConfig, Secret,
};

/// The spec of one of the four cloud kinds.
#[derive(Debug, Clone, PartialEq)]
pub enum CloudSpec {
    Aws(AwsConnectorSpec),
    Azure(AzureConnectorSpec),
    Gcp(GcpConnectorSpec),
    Oci(OciConnectorSpec),
}

/// Secret values a connector sends, resolved from its Secret references.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloudSecrets {
    /// Azure authenticationKey, GCP key file JSON, or OCI private key.
    pub primary: Option<Secret>,
    /// OCI passphrase.
    pub passphrase: Option<Secret>,
}

/// Everything needed to compare and write one connector.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredConnector {
    pub spec: CloudSpec,
    /// metadata.name, the default Qualys name.
    pub object_name: String,
    pub secrets: CloudSecrets,
}

/// The AWS account id inside a role ARN (`arn:aws:iam::123456789012:role/x`).
pub fn aws_account_of(arn: &str) -> Option<String> {
    arn.split(':')
        .nth(4)
        .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_string)
}

impl CloudSpec {
    /// The management fields every connector spec carries.
    pub fn policies(&self) -> (Management, AdoptionPolicy) {
        match self {
            Self::Aws(s) => (s.management.clone(), s.adoption_policy),
            Self::Azure(s) => (s.management.clone(), s.adoption_policy),
            Self::Gcp(s) => (s.management.clone(), s.adoption_policy),
            Self::Oci(s) => (s.management.clone(), s.adoption_policy),
        }
    }
}

impl DesiredConnector {
    pub fn kind(&self) -> CloudKind {
        match self.spec {
            CloudSpec::Aws(_) => CloudKind::Aws,
            CloudSpec::Azure(_) => CloudKind::Azure,
            CloudSpec::Gcp(_) => CloudKind::Gcp,
            CloudSpec::Oci(_) => CloudKind::Oci,
        }
    }

    pub fn settings(&self) -> &ConnectorSettings {
        match &self.spec {
            CloudSpec::Aws(s) => &s.settings,
            CloudSpec::Azure(s) => &s.settings,
            CloudSpec::Gcp(s) => &s.settings,
            CloudSpec::Oci(s) => &s.settings,
        }
    }

    /// The cloud account this connector is for, normalized; also the CloudView
    /// `accountIdentifier` for AWS, Azure and GCP.
    pub fn natural_key(&self) -> String {
        match &self.spec {
            CloudSpec::Aws(s) => aws_account_of(&s.arn).unwrap_or_else(|| s.arn.clone()),
            CloudSpec::Azure(s) => s.subscription_id.to_lowercase(),
            CloudSpec::Gcp(s) => s.project_id.clone(),
            CloudSpec::Oci(s) => s.tenant_id.clone(),
        }
    }

    /// The identity apps default to (role ARN, subscription, project, tenancy).
    fn app_identity(&self) -> &str {
        match &self.spec {
            CloudSpec::Aws(s) => &s.arn,
            CloudSpec::Azure(s) => &s.subscription_id,
            CloudSpec::Gcp(s) => &s.project_id,
            CloudSpec::Oci(s) => &s.tenant_id,
        }
    }

    /// Hash of the secret material; `None` for AWS, which has none.
    pub fn secret_hash(&self) -> Option<String> {
        let primary = self.secrets.primary.as_ref()?;
        let passphrase = self.secrets.passphrase.as_ref().map(Secret::expose).unwrap_or("");
        // Salted with the object's kind and name: status is readable by many, and an
        // unsalted digest of a weak secret could be looked up in a precomputed table.
        Some(secret_hash([
            self.kind().label(),
            self.object_name.as_str(),
            primary.expose(),
            passphrase,
        ]))
    }

    pub fn fields(&self) -> Fields {
        let hash = self.secret_hash();
        match &self.spec {
            CloudSpec::Aws(s) => desired::aws(s, &self.object_name),
            CloudSpec::Azure(s) => desired::azure(s, &self.object_name, hash),
            CloudSpec::Gcp(s) => desired::gcp(s, &self.object_name, hash),
            CloudSpec::Oci(s) => desired::oci(s, &self.object_name, hash),
        }
    }

    /// The write for the given changed paths (`None`: everything, for create).
    /// Fields Qualys groups (authRecord, the perimeter scan, regions) are sent
    /// whole when any part changed.
    pub fn write(&self, changed: Option<&BTreeSet<String>>) -> Result<ConnectorWrite, String> {
        let wants = |path: &str| changed.is_none_or(|c| c.contains(path));
        let wants_prefix = |prefix: &str| changed.is_none_or(|c| c.iter().any(|p| p.starts_with(prefix)));
        let s = self.settings();
        let mut w = ConnectorWrite::default();
        if wants("spec.name") {
            w.name = Some(s.name.clone().unwrap_or_else(|| self.object_name.clone()));
        }
        if wants("spec.description") {
            // An empty string clears a description Qualys holds.
            w.description = match (&s.description, changed) {
                (Some(d), _) => Some(d.clone()),
                (None, Some(_)) => Some(String::new()),
                (None, None) => None,
            };
        }
        if wants("spec.runFrequencyMinutes") {
            w.run_frequency = u32::try_from(s.run_frequency_minutes).ok();
        }
        if wants("spec.disabled") {
            w.disabled = Some(s.disabled);
        }
        if wants("spec.remediationEnabled") {
            w.remediation_enabled = Some(s.remediation_enabled);
        }
        if wants("spec.activation") {
            w.activation = Some(s.activation.iter().map(enum_text).collect());
        }
        if wants("spec.defaultTagIds") && !s.default_tag_ids.is_empty() {
            w.default_tag_ids = Some(s.default_tag_ids.iter().map(ToString::to_string).collect());
        }
        if wants_prefix("spec.apps") {
            let identity = self.app_identity();
            w.apps = Some(
                s.apps
                    .iter()
                    .map(|a| ConnectorAppWrite {
                        name: a.name.as_str().to_string(),
                        identifier: a.identifier.clone().unwrap_or_else(|| identity.to_string()),
                        tag_id: a.tag_id.map(|t| t.to_string()),
                    })
                    .collect(),
            );
        }
        match &self.spec {
            CloudSpec::Aws(a) => {
                if wants("spec.arn") {
                    w.arn = Some(a.arn.clone());
                }
                if wants("spec.externalId") {
                    w.external_id = Some(a.external_id.clone());
                }
                if wants("spec.partition") {
                    w.gov_cloud = Some(a.partition == AwsPartition::GovCloud);
                    if a.partition == AwsPartition::China || changed.is_some() {
                        w.china = Some(a.partition == AwsPartition::China);
                    }
                }
                if wants("spec.regions") {
                    w.all_regions = Some(a.regions.is_empty());
                    if !a.regions.is_empty() {
                        w.regions = Some(a.regions.clone());
                    }
                }
                perimeter_write(&mut w, a.perimeter_scan.as_ref(), changed);
            }
            CloudSpec::Azure(a) => {
                if wants_prefix("spec.directoryId")
                    || wants("spec.subscriptionId")
                    || wants("spec.applicationId")
                    || wants("spec.authenticationKeySecretRef")
                {
                    w.auth_record = Some(AuthRecordWrite {
                        application_id: Some(a.application_id.clone()),
                        directory_id: Some(a.directory_id.clone()),
                        subscription_id: Some(a.subscription_id.clone()),
                        authentication_key: Some(self.require_primary("authenticationKeySecretRef")?),
                        ..AuthRecordWrite::default()
                    });
                }
                if wants("spec.partition") {
                    w.gov_cloud = Some(a.partition == AzurePartition::GovCloud);
                }
                perimeter_write(&mut w, a.perimeter_scan.as_ref(), changed);
            }
            CloudSpec::Gcp(g) => {
                if wants("spec.projectId") || wants("spec.serviceAccountKeySecretRef") {
                    let json = self.require_primary("serviceAccountKeySecretRef")?;
                    let key = GcpServiceAccountKey::from_json(json.expose())
                        .map_err(|e| format!("spec.serviceAccountKeySecretRef: {e}"))?;
                    w.auth_record = Some(AuthRecordWrite {
                        project_id: Some(g.project_id.clone()),
                        gcp_key: Some(key),
                        ..AuthRecordWrite::default()
                    });
                }
            }
            CloudSpec::Oci(o) => {
                if wants("spec.tenantId")
                    || wants("spec.userId")
                    || wants("spec.fingerprint")
                    || wants("spec.privateKeySecretRef")
                {
                    w.auth_record = Some(AuthRecordWrite {
                        tenant_id: Some(o.tenant_id.clone()),
                        user_id: Some(o.user_id.clone()),
                        fingerprint: Some(o.fingerprint.clone()),
                        private_key: Some(self.require_primary("privateKeySecretRef")?),
                        passphrase: self.secrets.passphrase.clone(),
                        ..AuthRecordWrite::default()
                    });
                }
                if wants("spec.homeRegion") {
                    w.home_region = Some(o.home_region.clone());
                }
                if wants("spec.perimeterScan.enabled") {
                    w.cps_enabled = Some(o.perimeter_scan.as_ref().is_some_and(|p| p.enabled));
                }
            }
        }
        Ok(w)
    }

    fn require_primary(&self, field: &str) -> Result<Secret, String> {
        self.secrets
            .primary
            .clone()
            .ok_or_else(|| format!("spec.{field}: the referenced Secret key was not resolved"))
    }
}

fn enum_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn scan_config_of(s: &ScanSchedule) -> ScanConfig {
    ScanConfig {
        option_profile_id: u64::try_from(s.option_profile_id).ok(),
        recurrence: Some(enum_text(&s.recurrence)),
        days_of_week: (!s.days_of_week.is_empty()).then(|| s.days_of_week.iter().map(enum_text).collect()),
        scan_prefix: Some(s.scan_prefix.clone()),
        start_date: Some(s.start_date.clone()),
        start_time: Some(s.start_time.clone()),
        timezone: Some(s.timezone.clone()),
    }
}

fn perimeter_write(w: &mut ConnectorWrite, scan: Option<&PerimeterScan>, changed: Option<&BTreeSet<String>>) {
    let wants = |p: &str| changed.is_none_or(|c| c.contains(p));
    let enabled = scan.is_some_and(|s| s.enabled);
    if wants("spec.perimeterScan.enabled") || wants("spec.perimeterScan.custom") {
        w.cps_enabled = Some(enabled);
    }
    if wants("spec.perimeterScan.custom") && (enabled || changed.is_some()) {
        let custom = scan.filter(|s| s.enabled).and_then(|s| s.custom.as_ref());
        w.custom_scan_config_enabled = Some(custom.is_some());
        w.scan_config = custom.map(scan_config_of);
    }
}

/// The natural key of an observed connector (see [`DesiredConnector::natural_key`]).
pub fn observed_key(kind: CloudKind, c: &Connector) -> Option<String> {
    match kind {
        CloudKind::Aws => c
            .aws_account_id
            .clone()
            .filter(|a| !a.is_empty())
            .or_else(|| c.arn.as_deref().and_then(aws_account_of)),
        CloudKind::Azure => c.subscription_id.as_ref().map(|s| s.to_lowercase()),
        CloudKind::Gcp => c.project_id.clone(),
        CloudKind::Oci => c.tenant_id.clone(),
    }
}

/// The perimeter-scan schedule Qualys reports, in the desired side's form.
pub fn observed_schedule(c: &ScanConfig) -> Value {
    schedule_json(
        c.option_profile_id
            .and_then(|n| i64::try_from(n).ok())
            .unwrap_or_default(),
        c.recurrence.as_deref().unwrap_or_default(),
        c.days_of_week.as_deref().unwrap_or_default(),
        c.scan_prefix.as_deref().unwrap_or_default(),
        c.start_date.as_deref().unwrap_or_default(),
        c.start_time.as_deref().unwrap_or_default(),
        c.timezone.as_deref().unwrap_or_default(),
    )
}

/// Observed fields. `sent_secret_hash` is what this operator last sent (from
/// status or the state file): Qualys never shows secrets back.
pub fn observed_fields(kind: CloudKind, c: &Connector, sent_secret_hash: Option<String>) -> Fields {
    let mut f = Fields::new();
    f.set("spec.name", text(c.name.as_deref()))
        .set("spec.description", text(c.description.as_deref()))
        .set(
            "spec.runFrequencyMinutes",
            c.run_frequency.map_or(Value::Null, Value::from),
        )
        .set("spec.disabled", c.disabled.unwrap_or(false))
        .set("spec.remediationEnabled", c.remediation_enabled.unwrap_or(false));
    // Qualys adds CLOUDVIEW by itself when CSA is enabled: not the user's choice.
    f.set_unordered(
        "spec.activation",
        c.activation
            .iter()
            .flatten()
            .filter(|m| !m.eq_ignore_ascii_case("CLOUDVIEW"))
            .map(|m| m.to_uppercase()),
    );
    f.set_unordered(
        "spec.defaultTagIds",
        c.default_tags
            .iter()
            .flatten()
            .filter_map(|t| t.id.trim().parse::<i64>().ok()),
    );
    let apps: Vec<(String, String, Option<i64>)> = c
        .apps
        .iter()
        .flatten()
        .map(|a| {
            (
                a.name.to_uppercase(),
                a.identifier.clone().unwrap_or_default(),
                a.tag_id.as_deref().and_then(|t| t.trim().parse().ok()),
            )
        })
        .collect();
    desired::apps(&mut f, &apps);
    let cps = c.cps_enabled.unwrap_or(false);
    match kind {
        CloudKind::Aws => {
            let partition = if c.gov_cloud == Some(true) {
                "GovCloud"
            } else if c.china == Some(true) {
                "China"
            } else {
                "Global"
            };
            f.set("spec.arn", text(c.arn.as_deref()))
                .set("spec.externalId", text(c.external_id.as_deref()))
                .set("spec.partition", partition);
            let regions: Vec<&str> = if c.all_regions == Some(true) {
                Vec::new()
            } else {
                c.regions.iter().flatten().map(String::as_str).collect()
            };
            f.set_unordered("spec.regions", regions);
        }
        CloudKind::Azure => {
            let lower = |s: &Option<String>| s.as_ref().map_or(Value::Null, |v| Value::String(v.to_lowercase()));
            f.set("spec.directoryId", lower(&c.directory_id))
                .set("spec.subscriptionId", lower(&c.subscription_id))
                .set("spec.applicationId", lower(&c.application_id))
                .set(
                    "spec.partition",
                    if c.gov_cloud == Some(true) {
                        "GovCloud"
                    } else {
                        "Global"
                    },
                )
                .set_secret("spec.authenticationKeySecretRef", sent_secret_hash);
        }
        CloudKind::Gcp => {
            f.set("spec.projectId", text(c.project_id.as_deref()))
                .set_secret("spec.serviceAccountKeySecretRef", sent_secret_hash);
        }
        CloudKind::Oci => {
            f.set("spec.tenantId", text(c.tenant_id.as_deref()))
                .set("spec.userId", text(c.user_id.as_deref()))
                .set(
                    "spec.fingerprint",
                    c.fingerprint
                        .as_ref()
                        .map_or(Value::Null, |v| Value::String(v.to_lowercase())),
                )
                .set("spec.homeRegion", text(c.home_region.as_deref()))
                .set_secret("spec.privateKeySecretRef", sent_secret_hash);
        }
    }
    if kind != CloudKind::Gcp {
        f.set("spec.perimeterScan.enabled", cps);
        let custom = c
            .scan_config
            .as_ref()
            .filter(|_| cps && c.custom_scan_config_enabled == Some(true))
            .map_or(Value::Null, observed_schedule);
        f.set("spec.perimeterScan.custom", custom);
    }
    f
}
