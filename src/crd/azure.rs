//! `AzureConnector`: a QPS 3.0 `AzureAssetDataConnector`.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{
    AdoptionPolicy, ConnectorSettings, Management, PerimeterScan, QualysStatus, SecretKeyRef, UUID_PATTERN,
};

/// The Azure cloud the subscription lives in.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
pub enum AzurePartition {
    #[default]
    Global,
    GovCloud,
}

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "qualys-operator.io",
    version = "v1alpha1",
    kind = "AzureConnector",
    namespaced,
    status = "AzureConnectorStatus",
    shortname = "qazc",
    category = "qualys",
    doc = "A Qualys Azure asset data connector for one subscription."
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.name) == has(oldSelf.name)").message("name cannot be added or removed after creation").field_path(".name"))]
pub struct AzureConnectorSpec {
    /// Azure AD (Entra ID) tenant id.
    #[schemars(regex(pattern = UUID_PATTERN))]
    pub directory_id: String,
    /// Subscription to discover; cannot change after creation.
    #[schemars(regex(pattern = UUID_PATTERN))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("subscriptionId is immutable; create a new AzureConnector for another subscription"))]
    pub subscription_id: String,
    /// Application (client) id of the app registration Qualys uses.
    #[schemars(regex(pattern = UUID_PATTERN))]
    pub application_id: String,
    /// Secret key holding the application's client secret.
    pub authentication_key_secret_ref: SecretKeyRef,
    /// Global or GovCloud (Azure Government); cannot change after creation.
    #[serde(default)]
    #[x_kube(validation = Rule::new("self == oldSelf").message("partition is immutable"))]
    pub partition: AzurePartition,
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
pub struct AzureConnectorStatus {
    #[serde(flatten)]
    pub common: QualysStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloudview_uuid: Option<String>,
    /// Name of the AzureOrgConnector this connector is attached to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached_to_org_connector: Option<String>,
}
