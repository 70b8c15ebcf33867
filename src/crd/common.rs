//! Types shared by every kind: management policies, references, the connector
//! fields common to the four cloud types, the perimeter-scan schedule and status.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Regular expressions the schema enforces; kept here so offline validation and
/// the API server read the same text.
pub const UUID_PATTERN: &str = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
pub const DURATION_PATTERN: &str = "^([0-9]+h)?([0-9]+m)?([0-9]+s)?$";
/// Qualys documents `mm/dd/yyyy` for perimeter-scan start dates.
pub const START_DATE_PATTERN: &str = "^(0[1-9]|1[0-2])/(0[1-9]|[12][0-9]|3[01])/[0-9]{4}$";
pub const START_TIME_PATTERN: &str = "^([01][0-9]|2[0-3]):[0-5][0-9]$";
pub const TIMEZONE_PATTERN: &str = "^(UTC|[A-Za-z]+(/[A-Za-z0-9_+-]+)+)$";

/// What happens in Qualys when the Kubernetes object is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete the Qualys object (kinds without a delete API retain it and say so).
    #[default]
    Delete,
    /// Leave the Qualys object untouched.
    Orphan,
    /// Disable the Qualys connector but keep it (connectors only).
    Disable,
}

/// Whether the operator writes to Qualys or only reports what it sees.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ManagementPolicy {
    #[default]
    Manage,
    /// Read the Qualys object and report drift in status; never write.
    ObserveOnly,
}

/// Whether an existing Qualys object with the same natural key may be taken over.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum AdoptionPolicy {
    #[default]
    AdoptOrCreate,
    /// Refuse to adopt: an existing match is reported as a conflict.
    MustCreate,
}

/// A `QualysAccount` in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct AccountRef {
    #[schemars(length(min = 1))]
    pub name: String,
}

/// A key of a Secret in the same namespace. Secret values never appear in spec.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct SecretKeyRef {
    /// Name of the Secret.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Key inside the Secret's data.
    #[schemars(length(min = 1))]
    pub key: String,
}

/// An object of another kind in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct LocalRef {
    #[schemars(length(min = 1))]
    pub name: String,
}

/// Management fields every kind carries.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Management {
    /// The Qualys account to use; the operator's default account when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_ref: Option<AccountRef>,
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    #[serde(default)]
    pub management_policy: ManagementPolicy,
    /// How often Qualys is re-read for this object, e.g. `10m` or `1h30m` (minimum 1m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN), length(max = 32))]
    #[x_kube(validation = Rule::new("self == '' || duration(self) >= duration('1m')").message("resyncInterval must be at least 1m"))]
    pub resync_interval: Option<String>,
}

/// Modules assets discovered by a connector are activated for. Qualys adds
/// `CLOUDVIEW` itself when the CSA app is enabled.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
pub enum ActivationModule {
    #[serde(rename = "VM")]
    Vm,
    #[serde(rename = "PC")]
    Pc,
    #[serde(rename = "SCA")]
    Sca,
    #[serde(rename = "CERTVIEW")]
    CertView,
}

/// Connector applications: Asset Inventory, Cloud Inventory, Cloud Security Assessment.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
pub enum AppName {
    #[serde(rename = "AI")]
    AssetInventory,
    #[serde(rename = "CI")]
    CloudInventory,
    #[serde(rename = "CSA")]
    CloudSecurityAssessment,
}

impl AppName {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AssetInventory => "AI",
            Self::CloudInventory => "CI",
            Self::CloudSecurityAssessment => "CSA",
        }
    }
}

/// One `connectorAppInfos` entry.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorApp {
    pub name: AppName,
    /// Cloud account identifier for the app; defaults to the connector's own
    /// identity (role ARN, subscription id, project id, tenancy OCID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub identifier: Option<String>,
    /// Tag applied to assets discovered by this app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub tag_id: Option<i64>,
}

/// Fields the four cloud connector kinds share.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorSettings {
    /// Connector name in Qualys; defaults to metadata.name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub name: Option<String>,
    /// Absent: the description Qualys has is left alone; `""` clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,
    /// Polling interval in minutes (Qualys accepts 60 to 1440).
    #[serde(default = "default_run_frequency")]
    #[schemars(range(min = 60, max = 1440))]
    pub run_frequency_minutes: i32,
    /// A disabled connector does not synchronise and cannot be run.
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub remediation_enabled: bool,
    /// Modules to activate discovered assets for (AWS and Azure). Absent: the
    /// modules Qualys has are left alone; `[]`: every module is removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"), length(max = 4))]
    pub activation: Option<Vec<ActivationModule>>,
    /// Tag ids applied to every discovered asset. Absent: Qualys' tags are left
    /// alone; `[]`: every tag is removed from the connector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"), length(max = 100), inner(range(min = 1)))]
    pub default_tag_ids: Option<Vec<i64>>,
    /// Connector applications (AI, CI, CSA), at most one entry per name.
    /// Absent: the apps Qualys has are left alone; listed: exactly these apps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]), length(max = 3))]
    pub apps: Option<Vec<ConnectorApp>>,
}

pub fn default_run_frequency() -> i32 {
    240
}

/// Perimeter-scan recurrence.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Recurrence {
    Daily,
    Weekly,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Day {
    Sun,
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
}

/// A Cloud Perimeter Scan schedule: the global one, or a connector's custom one.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.recurrence != 'WEEKLY' || (has(self.daysOfWeek) && size(self.daysOfWeek) > 0)").message("daysOfWeek is required when recurrence is WEEKLY").field_path(".daysOfWeek"),
    validation = Rule::new("self.recurrence != 'DAILY' || !has(self.daysOfWeek) || size(self.daysOfWeek) == 0").message("daysOfWeek applies only when recurrence is WEEKLY; remove it or set recurrence: WEEKLY").field_path(".daysOfWeek"),
)]
pub struct ScanSchedule {
    /// VM option profile id used for the scan.
    #[schemars(range(min = 1))]
    pub option_profile_id: i64,
    pub recurrence: Recurrence,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set"), length(max = 7))]
    pub days_of_week: Vec<Day>,
    /// Scan names are `<prefix>-<connectorId>-<timestamp>`.
    #[schemars(length(min = 1, max = 64))]
    pub scan_prefix: String,
    /// First scan date, `mm/dd/yyyy`.
    #[schemars(regex(pattern = START_DATE_PATTERN))]
    pub start_date: String,
    /// First scan time, `HH:MM` (24 hours).
    #[schemars(regex(pattern = START_TIME_PATTERN))]
    pub start_time: String,
    /// IANA time zone, e.g. `Europe/Paris`.
    #[schemars(regex(pattern = TIMEZONE_PATTERN))]
    pub timezone: String,
}

/// Cloud Perimeter Scan of a connector's public assets.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PerimeterScan {
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// A connector-specific schedule; without it the GlobalScanConfiguration applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<ScanSchedule>,
}

fn enabled_by_default() -> bool {
    true
}

/// Status every kind reports.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QualysStatus {
    /// `Ready` and `Synced`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The Qualys id of the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Qualys' state (connectorState, org connector state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_sync: Option<String>,
    /// The `qualys-operator.io/run-requested-at` value last acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_requested_at: Option<String>,
    /// Hash of the secret values last sent to Qualys (never the values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_hash: Option<String>,
}
