//! What the simulated Qualys holds, per tenant (subscription). Connector states are
//! derived lazily from timestamps: every access first calls `settle`, which turns
//! elapsed time into finished runs, so no background task is needed.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::clock::Millis;

/// The four QPS connector types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CloudKind {
    Aws,
    Azure,
    Gcp,
    Oci,
}

impl CloudKind {
    pub const ALL: [CloudKind; 4] = [CloudKind::Aws, CloudKind::Azure, CloudKind::Gcp, CloudKind::Oci];

    /// Element name in the ServiceRequest/ServiceResponse.
    pub fn element(self) -> &'static str {
        match self {
            CloudKind::Aws => "AwsAssetDataConnector",
            CloudKind::Azure => "AzureAssetDataConnector",
            CloudKind::Gcp => "GcpAssetDataConnector",
            CloudKind::Oci => "OciAssetDataConnector",
        }
    }

    /// Object name in the QPS path.
    pub fn object(self) -> &'static str {
        match self {
            CloudKind::Aws => "awsassetdataconnector",
            CloudKind::Azure => "azureassetdataconnector",
            CloudKind::Gcp => "gcpassetdataconnector",
            CloudKind::Oci => "ociassetdataconnector",
        }
    }

    /// Value of the read-only `type` field.
    pub fn type_name(self) -> &'static str {
        match self {
            CloudKind::Aws => "AWS",
            CloudKind::Azure => "AZURE",
            CloudKind::Gcp => "GCP",
            CloudKind::Oci => "OCI",
        }
    }

    pub fn from_object(object: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.object().eq_ignore_ascii_case(object))
    }

    pub fn from_type_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.type_name().eq_ignore_ascii_case(name))
    }
}

/// One `ConnectorAppInfo`, after all the request spellings are flattened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    pub name: String,
    pub identifier: Option<String>,
    pub tag_id: Option<u64>,
}

/// Cloud Perimeter Scan schedule: the global configuration and the per-connector one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanConfig {
    pub scan_prefix: Option<String>,
    pub option_profile_id: Option<u64>,
    pub recurrence: Option<String>,
    pub start_date: Option<String>,
    pub start_time: Option<String>,
    pub days_of_week: Vec<String>,
    pub timezone: Option<String>,
}

/// One error of a connector run, as the `assetdataconnectorerrors` search shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunError {
    pub message: String,
    pub created: Millis,
}

/// The run bookkeeping shared by QPS connectors and org connectors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncState {
    /// Start of the most recent run, if any.
    pub run_started: Option<Millis>,
    /// Whether the most recent run's outcome has been recorded.
    pub settled: bool,
    pub last_sync: Option<Millis>,
    pub last_success: Option<Millis>,
    pub last_error: Option<String>,
}

/// Where a run is, from its timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    NeverRun,
    Queued,
    Running,
    Processing,
    Finished { errors: bool },
}

impl SyncState {
    pub fn start_run(&mut self, now: Millis) {
        self.run_started = Some(now);
        self.settled = false;
    }

    /// Records the outcome of a finished run, then starts the scheduled runs whose time has
    /// come. `failure` is the error a run would end with now (bad credentials), if any.
    /// Returns the errors of runs that finished, for the errors search.
    pub fn settle(
        &mut self,
        now: Millis,
        step_ms: i64,
        period_ms: i64,
        scheduling: bool,
        failure: Option<&str>,
    ) -> Vec<RunError> {
        let mut errors = Vec::new();
        while let Some(started) = self.run_started {
            let finish = started + 3 * step_ms;
            if now < finish {
                break;
            }
            if !self.settled {
                self.settled = true;
                self.last_sync = Some(finish);
                match failure {
                    Some(message) => {
                        self.last_error = Some(message.to_string());
                        errors.push(RunError {
                            message: message.to_string(),
                            created: finish,
                        });
                    }
                    None => {
                        self.last_error = None;
                        self.last_success = Some(finish);
                    }
                }
            }
            if !scheduling || period_ms <= 0 {
                break;
            }
            let next = finish + period_ms;
            if now < next {
                break;
            }
            // Jump over whole missed periods at once so a long clock jump stays cheap;
            // only the latest scheduled run matters for what Qualys shows.
            let cycle = period_ms + 3 * step_ms;
            let skipped = (now - next) / cycle.max(1);
            self.start_run(next + skipped * cycle);
        }
        errors
    }

    pub fn phase(&self, now: Millis, step_ms: i64) -> Phase {
        let Some(started) = self.run_started else {
            return Phase::NeverRun;
        };
        if self.settled {
            return Phase::Finished {
                errors: self.last_error.is_some(),
            };
        }
        let elapsed = now - started;
        if elapsed < step_ms {
            Phase::Queued
        } else if elapsed < 2 * step_ms {
            Phase::Running
        } else {
            Phase::Processing
        }
    }

    /// When the next scheduled run starts.
    pub fn next_sync(&self, step_ms: i64, period_ms: i64) -> Option<Millis> {
        match (self.last_sync, self.run_started) {
            (Some(last), _) if self.settled => Some(last + period_ms),
            (_, Some(started)) => Some(started + 3 * step_ms + period_ms),
            _ => None,
        }
    }
}

/// A QPS asset data connector of any of the four types. Type-specific fields are
/// simply absent on the other types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connector {
    pub id: u64,
    pub kind: CloudKind,
    pub name: String,
    pub description: Option<String>,
    pub disabled: bool,
    pub run_frequency: u64,
    pub is_remediation_enabled: bool,
    pub is_gov_cloud_configured: bool,
    pub is_cps_enabled: Option<bool>,
    pub custom_scan_config_enabled: Option<bool>,
    pub scan_config: Option<ScanConfig>,
    pub default_tags: Vec<u64>,
    pub activation: Vec<String>,
    pub apps: Vec<AppInfo>,
    pub arn: Option<String>,
    pub external_id: Option<String>,
    pub all_regions: Option<bool>,
    pub endpoints: Vec<String>,
    pub home_region: Option<String>,
    /// Every `authRecord` field as sent, secrets included (never all echoed).
    pub auth_record: BTreeMap<String, String>,
    pub cloudview_uuid: Option<String>,
    pub created: Millis,
    pub sync: SyncState,
    pub errors: Vec<RunError>,
    /// Set through the admin API: runs end in FINISHED_ERRORS.
    pub bad_credentials: bool,
    /// Azure only: the org connector this member is attached to.
    pub org_connector_id: Option<u64>,
    pub parent_id: Option<String>,
}

impl Connector {
    pub fn new(id: u64, kind: CloudKind, now: Millis) -> Self {
        Self {
            id,
            kind,
            name: String::new(),
            description: None,
            disabled: false,
            run_frequency: 240,
            is_remediation_enabled: false,
            is_gov_cloud_configured: false,
            is_cps_enabled: None,
            custom_scan_config_enabled: None,
            scan_config: None,
            default_tags: Vec::new(),
            activation: Vec::new(),
            apps: Vec::new(),
            arn: None,
            external_id: None,
            all_regions: if kind == CloudKind::Aws { Some(true) } else { None },
            endpoints: Vec::new(),
            home_region: None,
            auth_record: BTreeMap::new(),
            cloudview_uuid: None,
            created: now,
            sync: SyncState::default(),
            errors: Vec::new(),
            bad_credentials: false,
            org_connector_id: None,
            parent_id: None,
        }
    }

    pub fn period_ms(&self) -> i64 {
        i64::try_from(self.run_frequency)
            .unwrap_or(i64::MAX / 120_000)
            .saturating_mul(60_000)
    }

    pub fn settle(&mut self, now: Millis, step_ms: i64) {
        let failure = self.bad_credentials.then(|| self.credential_error());
        let errors = self
            .sync
            .settle(now, step_ms, self.period_ms(), !self.disabled, failure.as_deref());
        self.errors.extend(errors);
    }

    /// Whether the app set makes this a CloudView connector too.
    pub fn has_cloudview_app(&self) -> bool {
        self.apps.iter().any(|a| a.name == "CI" || a.name == "CSA")
    }

    /// `connectorState` as Qualys would show it now.
    pub fn state(&self, now: Millis, step_ms: i64) -> &'static str {
        if self.disabled {
            return "DISABLED";
        }
        match self.sync.phase(now, step_ms) {
            Phase::NeverRun => "PENDING",
            Phase::Queued => "QUEUED",
            Phase::Running => "RUNNING",
            Phase::Processing => "PROCESSING",
            Phase::Finished { errors: false } => "FINISHED_SUCCESS",
            Phase::Finished { errors: true } => "FINISHED_ERRORS",
        }
    }

    /// The account identifier CloudView groups use for this connector.
    pub fn account_identifier(&self) -> Option<String> {
        match self.kind {
            CloudKind::Aws => Some(self.aws_account_id()).filter(|s| !s.is_empty()),
            CloudKind::Azure => self.auth_record.get("subscriptionId").cloned(),
            CloudKind::Gcp => self.auth_record.get("projectId").cloned(),
            CloudKind::Oci => self.auth_record.get("tenantId").cloned(),
        }
    }

    /// The AWS account of the role ARN; `""` when the ARN has no account field (the
    /// documentation's own samples use such ARNs, and Qualys then shows `""`).
    pub fn aws_account_id(&self) -> String {
        let Some(arn) = &self.arn else { return String::new() };
        match arn.split(':').nth(4) {
            Some(account) if !account.is_empty() && account.bytes().all(|b| b.is_ascii_digit()) => account.to_string(),
            _ => String::new(),
        }
    }

    /// Whether Qualys reports the connector as GovCloud (`isGovCloudConfigured`,
    /// CloudView's `isGovCloud`, search filters): for AWS the partition, which
    /// the role ARN decides as much as the flag, like `isChinaConfigured`.
    pub fn gov_cloud(&self) -> bool {
        match self.kind {
            CloudKind::Aws => self.aws_partition() == "gov",
            _ => self.is_gov_cloud_configured,
        }
    }

    pub fn aws_partition(&self) -> &'static str {
        match &self.arn {
            Some(arn) if arn.starts_with("arn:aws-cn:") => "china",
            Some(arn) if arn.starts_with("arn:aws-us-gov:") => "gov",
            _ if self.is_gov_cloud_configured => "gov",
            _ => "global",
        }
    }

    fn credential_error(&self) -> String {
        match self.kind {
            CloudKind::Aws => "com.amazonaws.AmazonServiceException: AWS was not able to validate the provided access \
                               credentials (Service: AWSSecurityTokenService; Status Code: 403; Error Code: AccessDenied)"
                .into(),
            CloudKind::Azure => "Authorization exception while validating Azure credentials with cloud: \
                                 AADSTS7000215: Invalid client secret provided."
                .into(),
            CloudKind::Gcp => "Error while fetching GCP resources: 401 Unauthorized: invalid_grant: \
                               Invalid JWT Signature."
                .into(),
            CloudKind::Oci => "Error returned by SearchResources operation in ResourceSearch service.(401 \
                               NotAuthenticated false) The required information to complete authentication was \
                               not provided or was incorrect."
                .into(),
        }
    }
}

/// `{hours, minutes}` as the org connector API writes run frequencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoursMinutes {
    pub hours: u64,
    pub minutes: u64,
}

impl HoursMinutes {
    pub fn total_minutes(self) -> u64 {
        self.hours * 60 + self.minutes
    }
}

/// An Azure organization connector (gateway API).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgConnector {
    pub id: u64,
    pub uuid: String,
    pub organization_id: String,
    pub name: String,
    pub description: Option<String>,
    pub tenant_id: String,
    pub tenant_name: String,
    pub application_id: String,
    pub secret_value: String,
    pub connector_prefix_name: String,
    pub apps: Vec<AppInfo>,
    pub org_run_frequency: HoursMinutes,
    pub connector_run_frequency: HoursMinutes,
    pub included_mem: Vec<String>,
    pub excluded_mem: Vec<String>,
    pub create_for_new_subscriptions: bool,
    pub disable_for_deleted_groups: bool,
    pub auto_activate_vm: bool,
    pub auto_activate_pc: bool,
    pub auto_activate_sca: bool,
    pub auto_activate_cert_view: bool,
    pub auto_activate_cv: bool,
    pub remediation_enabled: bool,
    pub default_tag_ids: Vec<u64>,
    pub disabled: bool,
    pub created: Millis,
    pub sync: SyncState,
    pub job_errors: Vec<RunError>,
}

/// A test-connection job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub uuid: String,
    pub tenant_id: String,
    pub application_id: String,
    pub created: Millis,
    pub completes: Millis,
    /// Set when the Azure tenant's credentials were marked bad.
    pub error: Option<String>,
}

/// A CloudView connector group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    pub uuid: String,
    pub name: String,
    /// `(cloudType, accountIdentifier)` pairs.
    pub members: Vec<(String, String)>,
}

/// How the simulator treats one Azure AD tenant (set through the admin API).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AzureTenant {
    pub bad_credentials: bool,
    pub management_groups: Option<Vec<String>>,
}

/// Everything one subscription holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub customer_id: String,
    pub connectors: BTreeMap<u64, Connector>,
    pub org_connectors: BTreeMap<u64, OrgConnector>,
    pub jobs: BTreeMap<String, Job>,
    pub groups: Vec<Group>,
    pub global_scan: Option<ScanConfig>,
    /// Ids the caller can no longer see (role/scope change): OBJECT_NOT_FOUND / 404.
    pub out_of_scope: BTreeSet<u64>,
    /// Maximum number of connectors (QPS + org) the licence allows.
    pub licence_limit: Option<usize>,
    pub azure_tenants: BTreeMap<String, AzureTenant>,
    /// Names shown for tag ids; unknown ids get a made-up name.
    pub tag_names: BTreeMap<u64, String>,
    /// By user name; a user without an entry is granted nothing.
    #[serde(default)]
    pub user_scopes: BTreeMap<String, super::cloudview::scope::UserScopeGrants>,
    /// AWS accounts registered for snapshot-based scans, by account id.
    #[serde(default)]
    pub snapshot_accounts: BTreeMap<String, super::gateway::snapshot::SnapshotAccount>,
    #[serde(default)]
    pub reports: super::cloudview::reports::Reports,
}

impl Tenant {
    pub fn tag_name(&self, id: u64) -> String {
        self.tag_names.get(&id).cloned().unwrap_or_else(|| format!("Tag {id}"))
    }

    pub fn licence_exhausted(&self) -> bool {
        self.licence_limit
            .is_some_and(|limit| self.connectors.len() + self.org_connectors.len() >= limit)
    }

    pub fn settle(&mut self, now: Millis, step_ms: i64) {
        for c in self.connectors.values_mut() {
            c.settle(now, step_ms);
        }
        let bad: BTreeSet<String> = self
            .azure_tenants
            .iter()
            .filter(|(_, t)| t.bad_credentials)
            .map(|(k, _)| k.clone())
            .collect();
        for org in self.org_connectors.values_mut() {
            let failure = bad
                .contains(&org.tenant_id)
                .then_some("An exception occurred while running Org Connector. Contact support to resolve the issue.");
            let period = i64::try_from(org.org_run_frequency.total_minutes())
                .unwrap_or(0)
                .saturating_mul(60_000);
            let errors = org.sync.settle(now, step_ms, period, !org.disabled, failure);
            org.job_errors.extend(errors);
        }
    }
}

/// The whole simulated Qualys.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct World {
    pub tenants: BTreeMap<String, Tenant>,
    pub next_id: u64,
    pub next_org_id: u64,
}

impl World {
    pub fn new() -> Self {
        Self {
            tenants: BTreeMap::new(),
            next_id: 1_000_001,
            next_org_id: 500_001,
        }
    }

    pub fn tenant(&mut self, name: &str) -> &mut Tenant {
        self.tenants.entry(name.to_string()).or_insert_with(|| Tenant {
            customer_id: uuid::Uuid::new_v4().to_string(),
            ..Tenant::default()
        })
    }

    pub fn allocate_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub fn allocate_org_id(&mut self) -> u64 {
        let id = self.next_org_id;
        self.next_org_id += 1;
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_partition_model_reports_govcloud_and_china_from_the_role_arn() {
        let mut c = Connector::new(1, CloudKind::Aws, 0);
        c.arn = Some("arn:aws-us-gov:iam::123456789012:role/Q".into());
        assert!(
            c.gov_cloud(),
            "a GovCloud role is a GovCloud connector without the flag"
        );
        c.arn = Some("arn:aws-cn:iam::123456789012:role/Q".into());
        assert!(!c.gov_cloud());
        assert_eq!(c.aws_partition(), "china");
        c.arn = Some("arn:aws:iam::123456789012:role/Q".into());
        assert!(!c.gov_cloud());
        c.is_gov_cloud_configured = true;
        assert!(c.gov_cloud(), "the flag still counts");
        let mut azure = Connector::new(2, CloudKind::Azure, 0);
        assert!(!azure.gov_cloud());
        azure.is_gov_cloud_configured = true;
        assert!(azure.gov_cloud());
    }

    #[test]
    fn a_run_walks_through_the_states_and_then_follows_the_schedule() {
        let mut c = Connector::new(1, CloudKind::Aws, 0);
        c.run_frequency = 1; // one minute
        c.sync.start_run(0);
        let step = 1_000;
        for (t, state) in [
            (0, "QUEUED"),
            (1_000, "RUNNING"),
            (2_000, "PROCESSING"),
            (3_000, "FINISHED_SUCCESS"),
        ] {
            c.settle(t, step);
            assert_eq!(c.state(t, step), state, "at {t}");
        }
        assert_eq!(c.sync.last_sync, Some(3_000));
        assert_eq!(c.sync.next_sync(step, c.period_ms()), Some(63_000));
        c.bad_credentials = true;
        c.settle(63_500, step);
        assert_eq!(c.state(63_500, step), "QUEUED");
        c.settle(70_000, step);
        assert_eq!(c.state(70_000, step), "FINISHED_ERRORS");
        assert_eq!(c.errors.len(), 1);
        c.disabled = true;
        assert_eq!(c.state(70_000, step), "DISABLED");
    }

    #[test]
    fn aws_account_is_taken_from_a_well_formed_arn_only() {
        let mut c = Connector::new(1, CloudKind::Aws, 0);
        c.arn = Some("arn:aws:iam::123456789012:role/x".into());
        assert_eq!(c.aws_account_id(), "123456789012");
        c.arn = Some("arn:aws:iam:::12345678911/role:testrole".into());
        assert_eq!(c.aws_account_id(), "");
    }
}
