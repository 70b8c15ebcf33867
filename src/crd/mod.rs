//! The Kubernetes API of the operator: one module per kind, plus the pieces
//! they share, the generated CRDs and the offline validation that reads them.

pub mod account;
pub mod aws;
pub mod azure;
pub mod azure_org;
pub mod common;
pub mod definitions;
pub mod gcp;
pub mod global_scan;
pub mod group;
pub mod oci;
pub mod reference;
pub mod report;
pub mod snapshot_scan;
pub mod user_scope;
pub mod validation;

pub use account::{QualysAccount, QualysAccountSpec, QualysAccountStatus};
pub use aws::{AwsConnector, AwsConnectorSpec, AwsConnectorStatus};
pub use azure::{AzureConnector, AzureConnectorSpec, AzureConnectorStatus};
pub use azure_org::{AzureOrgConnector, AzureOrgConnectorSpec, AzureOrgConnectorStatus};
pub use common::*;
pub use gcp::{GcpConnector, GcpConnectorSpec, GcpConnectorStatus};
pub use global_scan::{GlobalScanConfiguration, GlobalScanConfigurationSpec, GlobalScanConfigurationStatus};
pub use group::{ConnectorGroup, ConnectorGroupSpec, ConnectorGroupStatus};
pub use oci::{OciConnector, OciConnectorSpec, OciConnectorStatus};
pub use report::{CloudViewReport, CloudViewReportSpec, CloudViewReportStatus};
pub use snapshot_scan::{SnapshotScanRegistration, SnapshotScanRegistrationSpec, SnapshotScanRegistrationStatus};
pub use user_scope::{UserScope, UserScopeSpec, UserScopeStatus};

/// API group of every kind.
pub const GROUP: &str = "qualys-operator.io";
/// API version of every kind.
pub const VERSION: &str = "v1alpha1";
