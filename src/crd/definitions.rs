//! The generated CustomResourceDefinitions, with the printer columns every kind
//! shares added in one place.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceColumnDefinition, CustomResourceDefinition,
};
use kube::CustomResourceExt;

use super::{
    AwsConnector, AzureConnector, AzureOrgConnector, CloudViewReport, ConnectorGroup, GcpConnector,
    GlobalScanConfiguration, OciConnector, QualysAccount, SnapshotScanRegistration, UserScope,
};

fn column(
    name: &str,
    type_: &str,
    json_path: &str,
    description: &str,
    priority: i32,
) -> CustomResourceColumnDefinition {
    CustomResourceColumnDefinition {
        name: name.into(),
        type_: type_.into(),
        json_path: json_path.into(),
        description: Some(description.into()),
        priority: (priority > 0).then_some(priority),
        format: None,
    }
}

/// Ready, State, Qualys ID, the kind's own columns, then Age.
fn with_columns(
    mut crd: CustomResourceDefinition,
    extra: Vec<CustomResourceColumnDefinition>,
) -> CustomResourceDefinition {
    let mut columns = vec![
        column(
            "Ready",
            "string",
            ".status.conditions[?(@.type==\"Ready\")].status",
            "Whether Qualys matches the spec",
            0,
        ),
        column("State", "string", ".status.state", "State reported by Qualys", 0),
        column(
            "Qualys ID",
            "string",
            ".status.externalId",
            "Id of the object in Qualys",
            0,
        ),
    ];
    columns.extend(extra);
    columns.push(column(
        "Reason",
        "string",
        ".status.conditions[?(@.type==\"Ready\")].reason",
        "Why the object is (not) ready",
        1,
    ));
    columns.push(column(
        "Age",
        "date",
        ".metadata.creationTimestamp",
        "Time since creation",
        0,
    ));
    for version in &mut crd.spec.versions {
        version.additional_printer_columns = Some(columns.clone());
    }
    crd
}

/// Every CRD the operator serves, in a stable order.
pub fn all() -> Vec<CustomResourceDefinition> {
    vec![
        with_columns(
            QualysAccount::crd(),
            vec![
                column("Platform", "string", ".spec.platform", "Qualys platform", 0),
                column("API URL", "string", ".spec.apiUrl", "QPS API server", 1),
            ],
        ),
        with_columns(
            AwsConnector::crd(),
            vec![column("Account", "string", ".status.awsAccountId", "AWS account id", 0)],
        ),
        with_columns(
            AzureConnector::crd(),
            vec![column(
                "Subscription",
                "string",
                ".spec.subscriptionId",
                "Azure subscription id",
                0,
            )],
        ),
        with_columns(
            GcpConnector::crd(),
            vec![column("Project", "string", ".spec.projectId", "GCP project id", 0)],
        ),
        with_columns(
            OciConnector::crd(),
            vec![column("Tenancy", "string", ".spec.tenantId", "OCI tenancy OCID", 1)],
        ),
        with_columns(
            AzureOrgConnector::crd(),
            vec![column("Tenant", "string", ".spec.tenantId", "Azure tenant id", 0)],
        ),
        with_columns(ConnectorGroup::crd(), vec![]),
        with_columns(
            UserScope::crd(),
            vec![
                column("User", "string", ".spec.userName", "Qualys user name", 0),
                column("Ownership", "string", ".spec.ownership", "Listed or All", 1),
            ],
        ),
        with_columns(
            SnapshotScanRegistration::crd(),
            vec![
                column("Account", "string", ".spec.awsAccountId", "AWS account id", 0),
                column("Schedule", "string", ".spec.schedule", "Quartz cron schedule", 0),
            ],
        ),
        with_columns(
            CloudViewReport::crd(),
            vec![
                column("Title", "string", ".spec.title", "Report name in Qualys", 0),
                column("Type", "string", ".spec.type", "MANDATE or POLICY", 0),
                column(
                    "Created",
                    "string",
                    ".status.createdOn",
                    "When Qualys created the report",
                    1,
                ),
            ],
        ),
        with_columns(
            GlobalScanConfiguration::crd(),
            vec![
                column("Recurrence", "string", ".spec.recurrence", "DAILY or WEEKLY", 0),
                column("Start", "string", ".spec.startDate", "First scan date", 1),
            ],
        ),
    ]
}

/// The CRD serving `kind`, if it is one of ours.
pub fn for_kind(kind: &str) -> Option<CustomResourceDefinition> {
    all().into_iter().find(|crd| crd.spec.names.kind == kind)
}

/// File name under `crds/` for a CRD: its plural name.
pub fn file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}.yaml", crd.spec.names.plural)
}

/// YAML for one CRD, as committed under `crds/`.
pub fn to_yaml(crd: &CustomResourceDefinition) -> Result<String, serde_norway::Error> {
    serde_norway::to_string(crd)
}

/// All CRDs as one multi-document YAML stream.
pub fn all_yaml() -> Result<String, serde_norway::Error> {
    let mut out = String::new();
    for crd in all() {
        out.push_str("---\n");
        out.push_str(&to_yaml(&crd)?);
    }
    Ok(out)
}
