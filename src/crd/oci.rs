//! `OciConnector`: a QPS 3.0 `OciAssetDataConnector`.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{AdoptionPolicy, ConnectorSettings, Management, PerimeterScan, QualysStatus, SecretKeyRef};

pub const TENANCY_PATTERN: &str = "^ocid1\\.tenancy\\.[a-z0-9-]+\\.[a-z0-9-]*\\.[a-z0-9]+$";
pub const USER_PATTERN: &str = "^ocid1\\.user\\.[a-z0-9-]+\\.[a-z0-9-]*\\.[a-z0-9]+$";
pub const FINGERPRINT_PATTERN: &str = "^([0-9a-f]{2}:){15}[0-9a-f]{2}$";

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "qualys-operator.io",
    version = "v1alpha1",
    kind = "OciConnector",
    namespaced,
    status = "OciConnectorStatus",
    shortname = "qocic",
    category = "qualys",
    doc = "A Qualys Oracle Cloud (OCI) asset data connector for one tenancy."
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.perimeterScan) || !has(self.perimeterScan.custom)").message("Qualys documents no custom perimeter-scan schedule for OCI; remove perimeterScan.custom (the GlobalScanConfiguration applies)").field_path(".perimeterScan.custom"),
    validation = Rule::new("has(self.name) == has(oldSelf.name)").message("name cannot be added or removed after creation").field_path(".name"),
    validation = Rule::new("!has(self.activation)").message("activation is not supported by Qualys OCI connectors; remove it").field_path(".activation"),
)]
pub struct OciConnectorSpec {
    /// Tenancy OCID; cannot change after creation.
    #[schemars(regex(pattern = TENANCY_PATTERN))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("tenantId is immutable; create a new OciConnector for another tenancy"))]
    pub tenant_id: String,
    /// OCID of the API user.
    #[schemars(regex(pattern = USER_PATTERN))]
    pub user_id: String,
    /// Fingerprint of the API signing key, `aa:bb:...` (16 pairs).
    #[schemars(regex(pattern = FINGERPRINT_PATTERN))]
    pub fingerprint: String,
    /// Region resources are discovered from, e.g. `us-ashburn-1`.
    #[schemars(regex(pattern = "^[a-z]{2}-[a-z]+-[0-9]$"))]
    pub home_region: String,
    /// Secret key holding the PEM private key of the API signing key.
    pub private_key_secret_ref: SecretKeyRef,
    /// Secret key holding the private key's passphrase, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase_secret_ref: Option<SecretKeyRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perimeter_scan: Option<PerimeterScan>,
    #[serde(flatten)]
    pub settings: ConnectorSettings,
    #[serde(default)]
    pub adoption_policy: AdoptionPolicy,
    #[serde(flatten)]
    pub management: Management,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OciConnectorStatus {
    #[serde(flatten)]
    pub common: QualysStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloudview_uuid: Option<String>,
}
