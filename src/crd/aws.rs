//! `AwsConnector`: a QPS 3.0 `AwsAssetDataConnector`.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{AdoptionPolicy, ConnectorSettings, Management, PerimeterScan, QualysStatus};

/// A role ARN in any AWS partition.
pub const ARN_PATTERN: &str = "^arn:aws(-us-gov|-cn)?:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$";

/// The AWS partition the account lives in.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
pub enum AwsPartition {
    #[default]
    Global,
    GovCloud,
    China,
}

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "qualys-operator.io",
    version = "v1alpha1",
    kind = "AwsConnector",
    namespaced,
    status = "AwsConnectorStatus",
    shortname = "qawsc",
    category = "qualys",
    doc = "A Qualys AWS asset data connector."
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.partition != 'GovCloud' || self.arn.startsWith('arn:aws-us-gov:')").message("partition GovCloud needs an arn:aws-us-gov: role ARN").field_path(".arn"),
    validation = Rule::new("self.partition != 'China' || self.arn.startsWith('arn:aws-cn:')").message("partition China needs an arn:aws-cn: role ARN").field_path(".arn"),
    validation = Rule::new("self.partition != 'Global' || self.arn.startsWith('arn:aws:')").message("partition Global needs an arn:aws: role ARN (set partition to GovCloud or China for those partitions)").field_path(".arn"),
    validation = Rule::new("self.arn.split(':')[4] == oldSelf.arn.split(':')[4]").message("the AWS account in arn cannot change; create a new AwsConnector for another account").field_path(".arn"),
    validation = Rule::new("has(self.name) == has(oldSelf.name)").message("name cannot be added or removed after creation").field_path(".name"),
)]
pub struct AwsConnectorSpec {
    /// IAM role Qualys assumes, e.g. `arn:aws:iam::123456789012:role/QualysConnector`.
    #[schemars(regex(pattern = ARN_PATTERN), length(max = 2048))]
    pub arn: String,
    /// External id Qualys generated for this user (shown in the Qualys UI when creating a connector).
    #[schemars(length(min = 1, max = 256))]
    pub external_id: String,
    /// Global, GovCloud or China; cannot change after creation.
    #[serde(default)]
    #[x_kube(validation = Rule::new("self == oldSelf").message("partition is immutable"))]
    pub partition: AwsPartition,
    /// Regions to discover (e.g. `us-east-1`); `[]` means all regions.
    /// Absent: left as Qualys has them (a new connector covers all regions),
    /// since Qualys never lists the regions of a connector that scans some.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "set"), length(max = 64), inner(regex(pattern = "^[a-z]{2}(-gov)?-[a-z]+-[0-9]$")))]
    pub regions: Option<Vec<String>>,
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
pub struct AwsConnectorStatus {
    #[serde(flatten)]
    pub common: QualysStatus,
    /// AWS account of the role, as Qualys reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_account_id: Option<String>,
    /// The Qualys AWS account to trust in the role's trust policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qualys_aws_account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloudview_uuid: Option<String>,
}
