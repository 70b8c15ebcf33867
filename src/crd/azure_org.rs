//! `AzureOrgConnector`: an Azure organization connector on the Qualys gateway.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{
    AdoptionPolicy, AppName, LocalRef, Management, QualysStatus, SecretKeyRef, UUID_PATTERN, default_run_frequency,
};

/// One app of the organization connector. The identifier is fixed at creation.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgConnectorApp {
    pub name: AppName,
    /// Defaults to the tenant id; cannot change after creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("apps[].identifier is immutable"))]
    pub identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub tag_id: Option<i64>,
}

/// How an organization connector's `members` list is applied.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
pub enum MemberPolicy {
    /// Attach the listed members; leave every other member attached.
    #[default]
    Include,
    /// The list is the complete set: other members are detached.
    Exact,
}

/// Modules new member connectors are activated for.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoActivate {
    #[serde(default)]
    pub vm: bool,
    #[serde(default)]
    pub pc: bool,
    #[serde(default)]
    pub sca: bool,
    #[serde(default)]
    pub cert_view: bool,
    #[serde(default)]
    pub cloud_view: bool,
}

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "qualys-operator.io",
    version = "v1alpha1",
    kind = "AzureOrgConnector",
    namespaced,
    status = "AzureOrgConnectorStatus",
    shortname = "qazorg",
    category = "qualys",
    doc = "A Qualys Azure organization connector: one tenant's management groups, with member connectors per subscription."
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.name) == has(oldSelf.name)").message("name cannot be added or removed after creation").field_path(".name"),
    validation = Rule::new("!has(self.includedManagementGroups) || !has(self.excludedManagementGroups) || !self.includedManagementGroups.exists(g, g in self.excludedManagementGroups)").message("a management group cannot be both included and excluded").field_path(".excludedManagementGroups"),
)]
pub struct AzureOrgConnectorSpec {
    /// Unique name in Qualys; defaults to metadata.name; cannot change after creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("name is immutable (Qualys cannot rename an organization connector)"))]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,
    /// Azure tenant id; cannot change after creation.
    #[schemars(regex(pattern = UUID_PATTERN))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("tenantId is immutable"))]
    pub tenant_id: String,
    /// Azure tenant name; cannot change after creation.
    #[schemars(length(min = 1, max = 256))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("tenantName is immutable"))]
    pub tenant_name: String,
    /// Application (client) id; cannot change after creation.
    #[schemars(regex(pattern = UUID_PATTERN))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("applicationId is immutable"))]
    pub application_id: String,
    /// Secret key holding the application's client secret.
    pub secret_value_secret_ref: SecretKeyRef,
    /// Prefix of member connector names (at most 30 characters); cannot change after creation.
    #[schemars(length(min = 1, max = 30))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("connectorPrefixName is immutable"))]
    pub connector_prefix_name: String,
    /// Organization polling interval in minutes.
    #[serde(default = "default_run_frequency")]
    #[schemars(range(min = 60, max = 1440))]
    pub org_run_frequency_minutes: i32,
    /// Member connector polling interval in minutes.
    #[serde(default = "default_run_frequency")]
    #[schemars(range(min = 60, max = 1440))]
    pub member_run_frequency_minutes: i32,
    /// Management groups to include (all when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set"), length(max = 64), inner(length(min = 1, max = 128)))]
    pub included_management_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set"), length(max = 64), inner(length(min = 1, max = 128)))]
    pub excluded_management_groups: Vec<String>,
    /// Create member connectors for new subscriptions when the org connector runs.
    #[serde(default)]
    pub create_connectors_for_new_subscriptions: bool,
    /// Disable member connectors whose management group was deleted.
    #[serde(default)]
    pub disable_connectors_for_deleted_management_groups: bool,
    #[serde(default)]
    pub auto_activate: AutoActivate,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set"), length(max = 100), inner(range(min = 1)))]
    pub default_tag_ids: Vec<i64>,
    /// Apps the connector serves (AI, CI, CSA): Qualys requires at least one
    /// (`connectorAppInfos` is mandatory and refused empty).
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]), length(min = 1, max = 3))]
    pub apps: Vec<OrgConnectorApp>,
    #[serde(default)]
    pub remediation_enabled: bool,
    /// Disabled through the gateway's status endpoint.
    #[serde(default)]
    pub disabled: bool,
    /// `AzureConnector` objects (same namespace) to attach as members. Absent:
    /// membership is not managed at all. Listed members are attached; members
    /// not listed (for example those Qualys creates for new subscriptions) are
    /// detached only with `memberPolicy: Exact`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]), length(max = 1000))]
    pub members: Option<Vec<LocalRef>>,
    /// How `members` is applied: `Include` (default) attaches the listed members
    /// and leaves every other member alone; `Exact` makes the list the complete
    /// set and detaches any other member, including ones Qualys created itself.
    #[serde(default)]
    pub member_policy: MemberPolicy,
    #[serde(default)]
    pub adoption_policy: AdoptionPolicy,
    #[serde(flatten)]
    pub management: Management,
}

/// A member connector as the gateway reports it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgMember {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AzureOrgConnectorStatus {
    #[serde(flatten)]
    pub common: QualysStatus,
    /// Server-assigned organization id and uuid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// Member connectors attached to the organization connector.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<OrgMember>,
    /// The gateway's last job summary, as reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_job_summary: Option<String>,
}
