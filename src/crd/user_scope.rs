//! `UserScope`: which connector groups and cloud accounts a CloudView user may see.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{LocalRef, Management, QualysStatus};

/// What of the user's scope the object owns.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
pub enum ScopeOwnership {
    /// Only the entries the object lists: it adds them, and removes only
    /// entries it added itself once they leave the spec. Access granted by
    /// hand or by another tool is never removed.
    #[default]
    Listed,
    /// The whole scope of the user: entries the spec does not list are
    /// removed, whoever granted them.
    All,
}

/// A connector group, by object, Qualys uuid or Qualys name (exactly one).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("[has(self.groupRef), has(self.uuid), has(self.name)].filter(x, x).size() == 1").message("give exactly one of groupRef (a ConnectorGroup object), uuid or name"))]
pub struct ScopeGroup {
    /// A `ConnectorGroup` object in the same namespace; its group must exist in Qualys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_ref: Option<LocalRef>,
    /// The group's Qualys uuid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = super::common::UUID_PATTERN))]
    pub uuid: Option<String>,
    /// The group's name in Qualys (group names are unique).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub name: Option<String>,
}

/// Accounts of one cloud type given to the user directly (not through a group).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloudAccounts {
    /// AWS account ids, Azure subscription ids or GCP project ids; each must
    /// have a CloudView connector.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set"), length(max = 1000), inner(length(min = 1, max = 64)))]
    pub account_identifiers: Vec<String>,
}

/// AWS accounts and the AWS regions the user may see.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AwsScope {
    /// 12-digit AWS account ids; each must have a CloudView connector.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set"), length(max = 1000), inner(regex(pattern = "^[0-9]{12}$")))]
    pub account_identifiers: Vec<String>,
    /// AWS regions in the user's scope, e.g. `us-east-1`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "set"), length(max = 64), inner(regex(pattern = "^[a-z]{2}(-[a-z]+)+-[0-9]$")))]
    pub regions: Vec<String>,
}

/// Direct account scope per cloud type.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScopeAccounts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsScope>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure: Option<CloudAccounts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcp: Option<CloudAccounts>,
}

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "qualys-operator.io",
    version = "v1alpha1",
    kind = "UserScope",
    namespaced,
    status = "UserScopeStatus",
    shortname = "qscope",
    category = "qualys",
    doc = "The connector groups and cloud accounts a Qualys CloudView user may see. By default the object owns only the entries it lists (ownership: Listed); deleting it removes exactly what it granted."
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.deletionPolicy != 'Disable'").message("deletionPolicy Disable applies to connectors only; use Delete (remove what this object granted) or Orphan").field_path(".deletionPolicy"),
)]
pub struct UserScopeSpec {
    /// The Qualys user name, e.g. `acme_jd`; cannot change (write a new object for another user).
    #[schemars(length(min = 1, max = 128), regex(pattern = r"^\S+$"))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("userName is immutable: create another UserScope for another user"))]
    pub user_name: String,
    /// `Listed` (default): own only the listed entries. `All`: own the user's whole scope.
    #[serde(default)]
    pub ownership: ScopeOwnership,
    /// Connector groups the user may see.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 500))]
    pub groups: Vec<ScopeGroup>,
    /// Cloud accounts the user may see directly.
    #[serde(default)]
    pub accounts: ScopeAccounts,
    #[serde(flatten)]
    pub management: Management,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserScopeStatus {
    #[serde(flatten)]
    pub common: QualysStatus,
    /// Entries this object added to the user's scope, as `group:<uuid>`,
    /// `AWS:<account>`, `AZURE:<subscription>`, `GCP:<project>` and
    /// `region:<aws region>`: what it removes when they leave the spec, and
    /// on deletion. Entries the user had before are not listed: they are
    /// never removed (unless `ownership: All`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub granted: Vec<String>,
    /// Groups the spec names that could not be resolved to a Qualys uuid yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unresolved: Vec<String>,
}
