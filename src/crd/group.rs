//! `ConnectorGroup`: a CloudView v1 connector group.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{Management, QualysStatus};

/// Cloud types CloudView groups hold.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, schemars::JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum CloudType {
    Aws,
    Azure,
    Gcp,
}

/// Kinds that can be group members.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, schemars::JsonSchema)]
pub enum MemberKind {
    AwsConnector,
    AzureConnector,
    GcpConnector,
}

/// A connector object in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub struct ConnectorRef {
    pub kind: MemberKind,
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// A member given directly by its cloud account.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.cloudType != 'AWS' || self.accountIdentifier.matches('^[0-9]{12}$')").message("an AWS accountIdentifier is the 12-digit account id").field_path(".accountIdentifier"),
    validation = Rule::new("self.cloudType != 'AZURE' || self.accountIdentifier.matches('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')").message("an AZURE accountIdentifier is the subscription id (a UUID)").field_path(".accountIdentifier"),
    validation = Rule::new("self.cloudType != 'GCP' || self.accountIdentifier.matches('^[a-z][a-z0-9-]{4,28}[a-z0-9]$')").message("a GCP accountIdentifier is the project id").field_path(".accountIdentifier"),
)]
pub struct AccountMember {
    pub cloud_type: CloudType,
    /// AWS account id, Azure subscription id or GCP project id.
    #[schemars(length(min = 1, max = 64))]
    pub account_identifier: String,
}

/// Who belongs to the group: the union of the three lists.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupMembers {
    /// Connector objects by kind and name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1000))]
    pub connectors: Vec<ConnectorRef>,
    /// AWS, Azure and GCP connector objects whose labels match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// Cloud accounts not managed by this operator.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1000))]
    pub accounts: Vec<AccountMember>,
}

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "qualys-operator.io",
    version = "v1alpha1",
    kind = "ConnectorGroup",
    namespaced,
    status = "ConnectorGroupStatus",
    shortname = "qgroup",
    category = "qualys",
    doc = "A CloudView connector group. Qualys has no delete for groups: on deletion memberships are dropped and the group is retained."
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.name) == has(oldSelf.name)").message("name cannot be added or removed after creation").field_path(".name"),
    validation = Rule::new("self.deletionPolicy != 'Disable'").message("deletionPolicy Disable applies to connectors only; use Delete (drop memberships) or Orphan").field_path(".deletionPolicy"),
)]
pub struct ConnectorGroupSpec {
    /// Unique group name in Qualys; defaults to metadata.name; cannot change (Qualys cannot rename groups).
    /// No leading or trailing blanks: Qualys trims them, and a name that reads
    /// back different could never be matched again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256), regex(pattern = r"^\S(.*\S)?$"))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("name is immutable (Qualys cannot rename a group)"))]
    pub name: Option<String>,
    #[serde(default)]
    pub members: GroupMembers,
    #[serde(flatten)]
    pub management: Management,
}

/// A resolved member as Qualys holds it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupMemberStatus {
    pub cloud_type: CloudType,
    pub account_identifier: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_uuid: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorGroupStatus {
    #[serde(flatten)]
    pub common: QualysStatus,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<GroupMemberStatus>,
    /// Members the spec names that could not be resolved yet (e.g. a connector without an account id).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unresolved: Vec<String>,
}
