//! The four QPS cloud connector kinds: desired model from the spec, observed
//! model from Qualys, natural keys, and the partial write for changed fields.

use std::collections::BTreeSet;

use serde_json::Value;

use super::desired::{self, schedule_json, text};
use super::fields::{Fields, secret_hash};
use super::plan::FieldChange;
use super::{absent, identity};
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
            CloudSpec::Azure(s) => identity::guid(&s.subscription_id),
            CloudSpec::Gcp(s) => s.project_id.clone(),
            CloudSpec::Oci(s) => s.tenant_id.clone(),
        }
    }

    /// The identity apps default to (role ARN, subscription, project, tenancy).
    fn app_identity(&self) -> String {
        match &self.spec {
            CloudSpec::Aws(s) => s.arn.clone(),
            CloudSpec::Azure(s) => identity::guid(&s.subscription_id),
            CloudSpec::Gcp(s) => s.project_id.clone(),
            CloudSpec::Oci(s) => s.tenant_id.clone(),
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
            // `""` in the spec clears a description Qualys holds; absent is not managed.
            w.description = s.description.clone().filter(|d| !d.is_empty() || changed.is_some());
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
        let kind = self.kind();
        // Only fields Qualys documents for the kind go on the wire: GCP has no
        // activation or tags, OCI no activation and tags on update only.
        let activation_documented = matches!(kind, CloudKind::Aws | CloudKind::Azure);
        if wants("spec.activation") && activation_documented {
            w.activation = s
                .activation
                .as_ref()
                .filter(|m| changed.is_some() || !m.is_empty())
                .map(|m| m.iter().map(enum_text).collect());
        }
        let tags_documented = match kind {
            CloudKind::Aws | CloudKind::Azure => true,
            CloudKind::Oci => changed.is_some(),
            CloudKind::Gcp => false,
        };
        if wants("spec.defaultTagIds") && tags_documented {
            w.default_tag_ids = s
                .default_tag_ids
                .as_ref()
                .map(|tags| tags.iter().map(ToString::to_string).collect());
        }
        if wants_prefix("spec.apps") {
            let identity = self.app_identity();
            w.apps = s.apps.as_ref().map(|apps| {
                apps.iter()
                    .map(|a| ConnectorAppWrite {
                        name: a.name.as_str().to_string(),
                        identifier: a.identifier.clone().unwrap_or_else(|| identity.clone()),
                        tag_id: a.tag_id.map(|t| t.to_string()),
                    })
                    .collect()
            });
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
                match &a.regions {
                    Some(regions) if wants("spec.regions") => {
                        w.all_regions = Some(regions.is_empty());
                        if !regions.is_empty() {
                            w.regions = Some(regions.clone());
                        }
                    }
                    // Unmanaged: a new connector covers every region, said
                    // explicitly (Qualys documents no default).
                    None if changed.is_none() => w.all_regions = Some(true),
                    _ => {}
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
                        application_id: Some(identity::guid(&a.application_id)),
                        directory_id: Some(identity::guid(&a.directory_id)),
                        subscription_id: Some(identity::guid(&a.subscription_id)),
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

    /// The partial write for `changes`. A collection the spec emptied is
    /// applied by removing what Qualys reported, as `remove` is documented.
    pub fn write_update(&self, changes: &[FieldChange]) -> Result<ConnectorWrite, String> {
        let paths: BTreeSet<String> = changes.iter().map(|c| c.path.clone()).collect();
        let mut w = self.write(Some(&paths))?;
        let emptied = |path: &str| {
            changes
                .iter()
                .find(|c| c.path == path)
                .filter(|c| c.after.as_ref().is_none_or(|a| a.as_array().is_some_and(Vec::is_empty)))
                .map(|c| {
                    c.before
                        .iter()
                        .filter_map(Value::as_array)
                        .flatten()
                        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                        .collect::<Vec<_>>()
                })
                .filter(|before| !before.is_empty())
        };
        if let Some(before) = emptied("spec.defaultTagIds") {
            w.default_tag_ids = None;
            w.remove_tag_ids = Some(before);
        }
        if let Some(before) = emptied("spec.activation") {
            w.activation = None;
            w.remove_activation = Some(before);
        }
        Ok(w)
    }

    /// Tags Qualys takes only on update (OCI), sent right after the create.
    pub fn tags_after_create(&self) -> Option<ConnectorWrite> {
        let tags = self.settings().default_tag_ids.as_ref().filter(|t| !t.is_empty())?;
        (self.kind() == CloudKind::Oci).then(|| ConnectorWrite {
            default_tag_ids: Some(tags.iter().map(ToString::to_string).collect()),
            ..ConnectorWrite::default()
        })
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
        CloudKind::Azure => c.subscription_id.as_deref().map(identity::guid),
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
/// status or the state file): Qualys never shows secrets back. What an absent
/// field means is decided by [`absent::connector_rule`].
pub fn observed_fields(kind: CloudKind, c: &Connector, sent_secret_hash: Option<String>) -> Fields {
    let rule = |path: &str| absent::connector_rule(kind, path);
    let mut f = Fields::new();
    let text_of = |v: &Option<String>| v.as_deref().map(|s| text(Some(s)));
    for (path, value) in [
        ("spec.name", text_of(&c.name)),
        ("spec.description", text_of(&c.description)),
        ("spec.runFrequencyMinutes", c.run_frequency.map(Value::from)),
        ("spec.disabled", c.disabled.map(Value::from)),
        ("spec.remediationEnabled", c.remediation_enabled.map(Value::from)),
    ] {
        f.observe(&rule(path), path, value);
    }
    // Qualys adds CLOUDVIEW by itself when CSA is enabled: not the user's choice.
    f.observe_set(
        &rule("spec.activation"),
        "spec.activation",
        c.activation.as_ref().map(|modules| {
            modules
                .iter()
                .filter(|m| !m.eq_ignore_ascii_case("CLOUDVIEW"))
                .map(|m| m.to_uppercase())
                .collect::<Vec<_>>()
        }),
    );
    f.observe_set(
        &rule("spec.defaultTagIds"),
        "spec.defaultTagIds",
        c.default_tags.as_ref().map(|tags| {
            tags.iter()
                .filter_map(|t| t.id.trim().parse::<i64>().ok())
                .collect::<Vec<_>>()
        }),
    );
    match &c.apps {
        Some(apps) => {
            let apps: Vec<(String, String, Option<i64>)> = apps
                .iter()
                .map(|a| {
                    let identifier = a.identifier.clone().unwrap_or_default();
                    (
                        a.name.to_uppercase(),
                        app_identifier_as_written(kind, c, identifier),
                        a.tag_id.as_deref().and_then(|t| t.trim().parse().ok()),
                    )
                })
                .collect();
            desired::observed_apps(&mut f, &apps);
        }
        None => {
            f.observe(&rule("spec.apps"), "spec.apps", None);
        }
    }
    let cps = c.cps_enabled;
    match kind {
        CloudKind::Aws => {
            let partition = match (c.gov_cloud, c.china) {
                (Some(true), _) => Some("GovCloud"),
                (_, Some(true)) => Some("China"),
                (None, None) => None,
                _ => Some("Global"),
            };
            f.observe(&rule("spec.partition"), "spec.partition", partition.map(Value::from));
            f.observe(&rule("spec.arn"), "spec.arn", text_of(&c.arn)).observe(
                &rule("spec.externalId"),
                "spec.externalId",
                text_of(&c.external_id),
            );
            observe_regions(&mut f, c);
        }
        CloudKind::Azure => {
            let gov = c.gov_cloud.map(|g| Value::from(if g { "GovCloud" } else { "Global" }));
            f.observe(&rule("spec.partition"), "spec.partition", gov);
            for (path, value) in [
                ("spec.directoryId", &c.directory_id),
                ("spec.subscriptionId", &c.subscription_id),
                ("spec.applicationId", &c.application_id),
            ] {
                f.observe(
                    &rule(path),
                    path,
                    value.as_deref().map(|v| Value::from(identity::guid(v))),
                );
            }
            f.set_secret("spec.authenticationKeySecretRef", sent_secret_hash);
        }
        CloudKind::Gcp => {
            f.observe(&rule("spec.projectId"), "spec.projectId", text_of(&c.project_id))
                .set_secret("spec.serviceAccountKeySecretRef", sent_secret_hash);
        }
        CloudKind::Oci => {
            f.observe(&rule("spec.tenantId"), "spec.tenantId", text_of(&c.tenant_id))
                .observe(&rule("spec.userId"), "spec.userId", text_of(&c.user_id))
                .observe(
                    &rule("spec.fingerprint"),
                    "spec.fingerprint",
                    c.fingerprint.as_deref().map(|v| Value::from(identity::guid(v))),
                )
                .observe(&rule("spec.homeRegion"), "spec.homeRegion", text_of(&c.home_region))
                .set_secret("spec.privateKeySecretRef", sent_secret_hash);
        }
    }
    if kind != CloudKind::Gcp {
        f.observe(
            &rule("spec.perimeterScan.enabled"),
            "spec.perimeterScan.enabled",
            cps.map(Value::from),
        );
        let custom = c
            .scan_config
            .as_ref()
            .filter(|_| cps == Some(true) && c.custom_scan_config_enabled == Some(true))
            .map_or(Value::Null, observed_schedule);
        f.set("spec.perimeterScan.custom", custom);
    }
    f
}

/// AWS regions. `allRegions: true` is all regions (the empty list). With
/// `allRegions: false` every documented read leaves `endpoints` out (Q-COL-8):
/// the connector is known to cover some regions, not which.
fn observe_regions(f: &mut Fields, c: &Connector) {
    const PATH: &str = "spec.regions";
    let listed = c.regions.as_ref().filter(|r| !r.is_empty());
    match (c.all_regions, listed) {
        (Some(true), _) => {
            f.set_unordered(PATH, Vec::<String>::new());
        }
        (_, Some(regions)) => {
            f.set_unordered(PATH, regions.iter().map(String::as_str));
        }
        (Some(false), None) => {
            f.set_unknown(
                PATH,
                "(some regions; Qualys does not list them)",
                vec![Value::Array(Vec::new())],
            );
        }
        (None, None) => {
            f.observe(&absent::Absent::Unknown, PATH, None);
        }
    }
}

/// Azure reads echo the application id as each app's identifier where create
/// echoed the subscription id (Q-COL-6): both mean the connector's own
/// subscription, which is what an app without an explicit identifier is given.
fn app_identifier_as_written(kind: CloudKind, c: &Connector, identifier: String) -> String {
    match kind {
        CloudKind::Azure => {
            identity::read_app_identifier(identifier, c.application_id.as_deref(), c.subscription_id.as_deref())
        }
        _ => identifier,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qualys::tree::Node;
    use serde_json::json;

    fn desired(spec: CloudSpec, primary: Option<&str>) -> DesiredConnector {
        DesiredConnector {
            spec,
            object_name: "obj".into(),
            secrets: CloudSecrets {
                primary: primary.map(|s| Secret::new(s.to_string())),
                passphrase: None,
            },
        }
    }

    fn rendered(node: &Node) -> (String, String) {
        (
            node.to_xml("Connector"),
            serde_json::to_string(node).unwrap_or_default(),
        )
    }

    fn spec<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
        serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Finding 6: creates carry only the fields Qualys documents for the kind.
    #[test]
    fn creates_send_no_undocumented_or_empty_collections() {
        let key = r#"{"type":"service_account","project_id":"p","private_key_id":"k","private_key":"x","client_email":"a@b","client_id":"1","auth_uri":"u","token_uri":"t","auth_provider_x509_cert_url":"c","client_x509_cert_url":"d"}"#;
        let gcp = desired(
            CloudSpec::Gcp(spec(json!({"projectId": "analytics-prod-42",
                "serviceAccountKeySecretRef": {"name": "s", "key": "k"}}))),
            Some(key),
        );
        let oci = desired(
            CloudSpec::Oci(spec(
                json!({"tenantId": "ocid1.tenancy.oc1..a", "userId": "ocid1.user.oc1..b",
                "fingerprint": "aa:bb", "homeRegion": "us-ashburn-1", "defaultTagIds": [5],
                "privateKeySecretRef": {"name": "s", "key": "k"}}),
            )),
            Some("pem"),
        );
        let aws = desired(
            CloudSpec::Aws(spec(
                json!({"arn": "arn:aws:iam::123456789012:role/r", "externalId": "x"}),
            )),
            None,
        );
        for (label, c) in [("gcp", &gcp), ("oci", &oci), ("aws", &aws)] {
            let write = c.write(None).unwrap_or_else(|e| panic!("{label}: {e}"));
            let (xml, json) = rendered(&write.to_node());
            assert!(
                !xml.contains("activation") && !json.contains("activation"),
                "{label}: {xml}"
            );
            assert!(
                !xml.contains("defaultTags"),
                "{label}: tags are not sent on create: {xml}"
            );
        }
        assert!(
            oci.tags_after_create().is_some(),
            "OCI tags follow the create as an update"
        );
    }

    /// Regions left out of the spec are Qualys': a create says all regions
    /// (Qualys documents no default), an update never touches them, and a
    /// connector Qualys reports as scanning some is no drift.
    #[test]
    fn regions_left_out_are_all_at_create_and_untouched_after() {
        let aws = desired(
            CloudSpec::Aws(spec(
                json!({"arn": "arn:aws:iam::123456789012:role/r", "externalId": "x"}),
            )),
            None,
        );
        let create = aws.write(None).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(create.all_regions, Some(true));
        assert_eq!(create.regions, None);
        let changed = BTreeSet::from(["spec.runFrequencyMinutes".to_string()]);
        let update = aws.write(Some(&changed)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((update.all_regions, update.regions), (None, None));
        let some = Connector {
            all_regions: Some(false),
            ..Connector::default()
        };
        let changes = super::super::fields::diff(&aws.fields(), &observed_fields(CloudKind::Aws, &some, None));
        assert!(!changes.iter().any(|c| c.path == "spec.regions"), "{changes:?}");
    }

    /// A read without an app's `tagId` (Q-COL-4) is no reason to write it again.
    #[test]
    fn an_app_tag_missing_from_a_read_is_unknown() {
        let aws = desired(
            CloudSpec::Aws(spec(
                json!({"arn": "arn:aws:iam::123456789012:role/r", "externalId": "x",
                "apps": [{"name": "AI", "tagId": 20485923}]}),
            )),
            None,
        );
        let read = Connector {
            apps: Some(vec![crate::qualys::ConnectorApp {
                name: "AI".into(),
                identifier: Some("arn:aws:iam::123456789012:role/r".into()),
                tag_id: None,
            }]),
            ..Connector::default()
        };
        let observed = observed_fields(CloudKind::Aws, &read, None);
        let changes = super::super::fields::diff(&aws.fields(), &observed);
        assert!(!changes.iter().any(|c| c.path.starts_with("spec.apps")), "{changes:?}");
    }

    /// Finding 7: a list emptied in the spec is applied with `remove`.
    #[test]
    fn emptied_tags_and_modules_are_removed() {
        let aws = desired(
            CloudSpec::Aws(spec(
                json!({"arn": "arn:aws:iam::123456789012:role/r", "externalId": "x",
                "defaultTagIds": []}),
            )),
            None,
        );
        let changes = [
            FieldChange {
                path: "spec.defaultTagIds".into(),
                before: Some(json!([7, 8])),
                after: Some(json!([])),
                secret: false,
            },
            FieldChange {
                path: "spec.activation".into(),
                before: Some(json!(["VM"])),
                after: Some(json!([])),
                secret: false,
            },
        ];
        let write = aws.write_update(&changes).unwrap_or_else(|e| panic!("{e}"));
        let (xml, _) = rendered(&write.to_node());
        assert!(xml.contains("<defaultTags><remove><TagSimple><id>7</id></TagSimple><TagSimple><id>8</id></TagSimple></remove></defaultTags>"), "{xml}");
        assert!(
            xml.contains("<activation><remove><ActivationModule>VM</ActivationModule></remove></activation>"),
            "{xml}"
        );
    }
}
