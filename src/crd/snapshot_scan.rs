//! `SnapshotScanRegistration`: an AWS account registered as the service
//! account of Qualys' snapshot-based scan.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{Management, QualysStatus};

/// A tag that selects the instances to scan.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScanTag {
    #[schemars(length(min = 1, max = 128))]
    pub key: String,
    #[schemars(length(max = 256))]
    pub value: String,
}

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "qualys-operator.io",
    version = "v1alpha1",
    kind = "SnapshotScanRegistration",
    namespaced,
    status = "SnapshotScanRegistrationStatus",
    shortname = "qsnapshot",
    category = "qualys",
    doc = "Registers an AWS account (with a CloudView connector) as the service account of Qualys' snapshot-based scan. One per QualysAccount: Qualys deregisters without naming an account. Qualys has no read for it: each resync sends the registration again (Qualys answers 304 when it holds it), so a deregistration made by hand is undone; a schedule or tags changed by hand are not visible."
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.deletionPolicy != 'Disable'").message("deletionPolicy Disable applies to connectors only; use Delete (deregister) or Orphan").field_path(".deletionPolicy"),
)]
pub struct SnapshotScanRegistrationSpec {
    /// The 12-digit AWS account id; it must have a CloudView connector in Qualys.
    #[schemars(regex(pattern = "^[0-9]{12}$"))]
    pub aws_account_id: String,
    /// When the scan runs: a Quartz cron expression with seconds and an
    /// optional year, e.g. `0 0 2 ? * * *` (every day at 02:00). Exactly one
    /// of day-of-month and day-of-week is `?`.
    #[schemars(length(min = 11, max = 256), regex(pattern = r"^\S+( +\S+){5,6}$"))]
    pub schedule: String,
    /// At most two tags (Qualys takes `tagkey`/`tagvalue` and `tagkey1`/`tagvalue1`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 2))]
    pub tags: Vec<ScanTag>,
    #[serde(flatten)]
    pub management: Management,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotScanRegistrationStatus {
    #[serde(flatten)]
    pub common: QualysStatus,
    /// The schedule and tags this object registered last, e.g.
    /// `0 0 2 ? * * * | Owner=test`: Qualys cannot be read back, so this is
    /// how a change of the spec is recognised (it needs a deregistration first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration: Option<String>,
}
