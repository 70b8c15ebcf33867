//! `GlobalScanConfiguration`: the account-wide Cloud Perimeter Scan schedule.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{Management, QualysStatus, ScanSchedule};

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "qualys-operator.io",
    version = "v1alpha1",
    kind = "GlobalScanConfiguration",
    namespaced,
    status = "GlobalScanConfigurationStatus",
    shortname = "qgsc",
    category = "qualys",
    doc = "The global Cloud Perimeter Scan configuration of a Qualys account (one per account; Qualys has no delete, so it is retained)."
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.deletionPolicy != 'Disable'").message("deletionPolicy Disable applies to connectors only; the global configuration is always retained in Qualys").field_path(".deletionPolicy"))]
pub struct GlobalScanConfigurationSpec {
    #[serde(flatten)]
    pub schedule: ScanSchedule,
    #[serde(flatten)]
    pub management: Management,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GlobalScanConfigurationStatus {
    #[serde(flatten)]
    pub common: QualysStatus,
}
