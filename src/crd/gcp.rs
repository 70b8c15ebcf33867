//! `GcpConnector`: a QPS 3.0 `GcpAssetDataConnector`.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{AdoptionPolicy, ConnectorSettings, Management, QualysStatus, SecretKeyRef};

/// GCP project ids: 6-30 lowercase letters, digits and hyphens, starting with a letter.
pub const PROJECT_ID_PATTERN: &str = "^[a-z][a-z0-9-]{4,28}[a-z0-9]$";

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "qualys-operator.io",
    version = "v1alpha1",
    kind = "GcpConnector",
    namespaced,
    status = "GcpConnectorStatus",
    shortname = "qgcpc",
    category = "qualys",
    doc = "A Qualys GCP asset data connector for one project."
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.name) == has(oldSelf.name)").message("name cannot be added or removed after creation").field_path(".name"),
    validation = Rule::new("!has(self.activation)").message("activation is not supported by Qualys GCP connectors; remove it").field_path(".activation"),
    validation = Rule::new("!has(self.defaultTagIds)").message("defaultTagIds is not supported by Qualys GCP connectors; remove it").field_path(".defaultTagIds"),
)]
pub struct GcpConnectorSpec {
    /// Project to discover; cannot change after creation.
    #[schemars(regex(pattern = PROJECT_ID_PATTERN))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("projectId is immutable; create a new GcpConnector for another project"))]
    pub project_id: String,
    /// Secret key holding the service account's JSON key file, as downloaded from GCP.
    pub service_account_key_secret_ref: SecretKeyRef,
    #[serde(flatten)]
    pub settings: ConnectorSettings,
    #[serde(default)]
    pub adoption_policy: AdoptionPolicy,
    #[serde(flatten)]
    pub management: Management,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GcpConnectorStatus {
    #[serde(flatten)]
    pub common: QualysStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloudview_uuid: Option<String>,
}
