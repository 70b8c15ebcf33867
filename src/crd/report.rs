//! `CloudViewReport`: a CloudView report configuration (a mandate or policy
//! compliance report over cloud accounts).

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{AdoptionPolicy, Management, QualysStatus, UUID_PATTERN};
use super::group::CloudType;

/// What the report measures the accounts against.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum ReportType {
    /// A compliance mandate of Qualys' catalogue (`spec.mandateId`).
    #[serde(rename = "MANDATE")]
    Mandate,
    /// Policies of Qualys' catalogue (`spec.policies`).
    #[serde(rename = "POLICY")]
    Policy,
}

/// How the report is delivered; Qualys supports on-screen reports only.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
pub enum ReportFormat {
    #[default]
    #[serde(rename = "ON_SCREEN")]
    OnScreen,
}

/// A policy of Qualys' policy catalogue (`GET /reports/policies`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportPolicy {
    /// The cloud the policy is for: AWS, AZURE or GCP (Qualys refuses a
    /// cloud the policy is not for).
    pub cloud_type: CloudType,
    /// The policy's id, a UUID.
    #[schemars(regex(pattern = UUID_PATTERN))]
    pub policy_id: String,
}

/// A cloud account the report covers; it must have a CloudView connector
/// (one with the CI or CSA app) in Qualys.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.cloudType != 'AWS' || self.accountId.matches('^[0-9]{12}$')").message("an AWS accountId is the 12-digit account id").field_path(".accountId"),
    validation = Rule::new("self.cloudType != 'AZURE' || self.accountId.matches('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')").message("an AZURE accountId is the subscription id (a UUID)").field_path(".accountId"),
    validation = Rule::new("self.cloudType != 'GCP' || self.accountId.matches('^[a-z][a-z0-9-]{4,28}[a-z0-9]$')").message("a GCP accountId is the project id").field_path(".accountId"),
)]
pub struct ReportAccount {
    /// AWS, AZURE or GCP.
    pub cloud_type: CloudType,
    /// AWS account id, Azure subscription id or GCP project id.
    #[schemars(length(min = 1, max = 64))]
    pub account_id: String,
}

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "qualys-operator.io",
    version = "v1alpha1",
    kind = "CloudViewReport",
    namespaced,
    status = "CloudViewReportStatus",
    shortname = "qreport",
    category = "qualys",
    doc = "A CloudView report configuration: a mandate or policy compliance report over cloud accounts. The title is the natural key: an existing report with the same title is adopted. Qualys' report list shows only the title, type, format and accounts: the description, mandate and policies are read in full only when the spec changed them since they were last written or read, or the list shows a difference (status.confirmedHash); a change made in Qualys to only those is seen at that next full read. A change of type or mandateId cannot be made in place: delete the object (deletionPolicy Delete removes the report) and create it again."
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.type != 'MANDATE' || has(self.mandateId)").message("a MANDATE report needs mandateId (a mandate of GET /cloudview-api/rest/v1/reports/mandates)").field_path(".mandateId"),
    validation = Rule::new("self.type != 'POLICY' || !has(self.mandateId)").message("mandateId applies to MANDATE reports only; remove it").field_path(".mandateId"),
    validation = Rule::new("self.type != 'POLICY' || (has(self.policies) && size(self.policies) > 0)").message("a POLICY report needs at least one policy").field_path(".policies"),
    validation = Rule::new("self.deletionPolicy != 'Disable'").message("deletionPolicy Disable applies to connectors only; use Delete (delete the report in Qualys) or Orphan").field_path(".deletionPolicy"),
)]
pub struct CloudViewReportSpec {
    /// The report's name in Qualys; defaults to metadata.name. An existing
    /// report with this title (and no other) is adopted; renaming one is an
    /// update. No leading or trailing blanks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256), regex(pattern = r"^\S(.*\S)?$"))]
    pub title: Option<String>,
    /// Absent: the description Qualys has is left alone; `""` clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,
    /// `MANDATE` or `POLICY`; cannot change (Qualys cannot change a report's type).
    #[serde(rename = "type")]
    #[x_kube(validation = Rule::new("self == oldSelf").message("type is immutable (Qualys cannot change a report's type): delete this object with deletionPolicy Delete and create it again"))]
    pub report_type: ReportType,
    /// `ON_SCREEN`, the only format Qualys supports.
    #[serde(default)]
    pub format: ReportFormat,
    /// The mandate of a MANDATE report, e.g. `2481` (Cloud Controls Matrix);
    /// required for MANDATE, refused for POLICY; cannot change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = "^[1-9][0-9]{0,17}$"))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("mandateId is immutable (Qualys cannot change a report's mandate): delete this object with deletionPolicy Delete and create it again"))]
    pub mandate_id: Option<String>,
    /// Policies the report covers: at least one for a POLICY report, optional
    /// for a MANDATE report. Absent: the policies Qualys has are left alone;
    /// listed: exactly these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["policyId"]), length(max = 100))]
    pub policies: Option<Vec<ReportPolicy>>,
    /// The cloud accounts the report covers (exactly these); each needs a
    /// CloudView connector in Qualys.
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["cloudType", "accountId"]), length(min = 1, max = 500))]
    pub accounts: Vec<ReportAccount>,
    #[serde(default)]
    pub adoption_policy: AdoptionPolicy,
    #[serde(flatten)]
    pub management: Management,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloudViewReportStatus {
    #[serde(flatten)]
    pub common: QualysStatus,
    /// When Qualys created the report (`createdOn`, as Qualys writes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_on: Option<String>,
    /// Hash of the spec's description, mandateId and policies as last written
    /// to Qualys, or last read in full and found matching. Qualys' report
    /// list does not show those fields: while the spec's hash equals this one
    /// and the list shows no difference, the report is not read in full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_hash: Option<String>,
}
