//! One manifest object with everything the core needs resolved: its model,
//! policies, what earlier runs recorded, and the run request.

use std::fmt;

use super::connector::DesiredConnector;
use super::fields::Fields;
use super::group::DesiredGroup;
use super::identity::Recorded;
use super::org::DesiredOrg;
use super::registration::DesiredRegistration;
use super::report::DesiredReport;
use super::scope::DesiredScope;
use crate::crd::common::{AdoptionPolicy, DeletionPolicy, Management, ManagementPolicy, ScanSchedule};
use crate::qualys::CloudKind;

/// The kinds that map to Qualys objects, in dependency order (connectors →
/// org members → groups → user scopes → reports → global scan configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Aws,
    Azure,
    Gcp,
    Oci,
    AzureOrg,
    Group,
    UserScope,
    SnapshotScan,
    Report,
    GlobalScan,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Self::Aws,
        Self::Azure,
        Self::Gcp,
        Self::Oci,
        Self::AzureOrg,
        Self::Group,
        Self::UserScope,
        Self::SnapshotScan,
        Self::Report,
        Self::GlobalScan,
    ];

    pub fn kind_name(self) -> &'static str {
        match self {
            Self::Aws => "AwsConnector",
            Self::Azure => "AzureConnector",
            Self::Gcp => "GcpConnector",
            Self::Oci => "OciConnector",
            Self::AzureOrg => "AzureOrgConnector",
            Self::Group => "ConnectorGroup",
            Self::UserScope => "UserScope",
            Self::SnapshotScan => "SnapshotScanRegistration",
            Self::Report => "CloudViewReport",
            Self::GlobalScan => "GlobalScanConfiguration",
        }
    }

    pub fn from_kind_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.kind_name() == name)
    }

    pub fn cloud(self) -> Option<CloudKind> {
        match self {
            Self::Aws => Some(CloudKind::Aws),
            Self::Azure => Some(CloudKind::Azure),
            Self::Gcp => Some(CloudKind::Gcp),
            Self::Oci => Some(CloudKind::Oci),
            _ => None,
        }
    }

    /// Whether Qualys can delete objects of this kind (a user scope is
    /// released entry by entry, the user stays).
    pub fn deletable(self) -> bool {
        !matches!(self, Self::Group | Self::UserScope | Self::GlobalScan)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind_name())
    }
}

/// The kind-specific model.
#[derive(Debug, Clone, PartialEq)]
pub enum Model {
    Connector(DesiredConnector),
    Org(DesiredOrg),
    Group(DesiredGroup),
    UserScope(DesiredScope),
    SnapshotScan(DesiredRegistration),
    Report(DesiredReport),
    GlobalScan(ScanSchedule),
}

/// Natural key of the singleton global scan configuration.
pub const GLOBAL_SCAN_KEY: &str = "global";

/// A manifest object, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredObject {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    pub model: Model,
    pub management: Management,
    pub adoption: AdoptionPolicy,
    pub recorded: Recorded,
    /// Hash of the secret values last sent (status or state file).
    pub sent_secret_hash: Option<String>,
    /// `qualys-operator.io/run-requested-at`, and the value last acted on.
    pub run_requested_at: Option<String>,
    pub last_run_requested_at: Option<String>,
    /// The Kubernetes object is being deleted.
    pub deleting: bool,
    /// `qualys-operator.io/paused`: observe nothing, write nothing (deletion still proceeds).
    pub paused: bool,
}

impl DesiredObject {
    /// `Kind/namespace/name`.
    pub fn reference(&self) -> String {
        format!("{}/{}/{}", self.kind, self.namespace, self.name)
    }

    pub fn natural_key(&self) -> String {
        match &self.model {
            Model::Connector(c) => c.natural_key(),
            Model::Org(o) => o.natural_key(),
            Model::Group(g) => g.name.clone(),
            Model::UserScope(u) => u.user.clone(),
            Model::SnapshotScan(r) => r.aws_account_id.clone(),
            Model::Report(r) => r.title.clone(),
            Model::GlobalScan(_) => GLOBAL_SCAN_KEY.into(),
        }
    }

    pub fn fields(&self) -> Fields {
        match &self.model {
            Model::Connector(c) => c.fields(),
            Model::Org(o) => o.fields(),
            Model::Group(g) => g.fields(),
            Model::UserScope(u) => u.fields(),
            Model::SnapshotScan(r) => r.fields(),
            Model::Report(r) => r.fields(),
            Model::GlobalScan(s) => super::desired::global_scan(s),
        }
    }

    /// Hash of the secret values this object would send now.
    pub fn secret_hash(&self) -> Option<String> {
        match &self.model {
            Model::Connector(c) => c.secret_hash(),
            Model::Org(o) => o.secret_hash(),
            _ => None,
        }
    }

    pub fn deletion_policy(&self) -> DeletionPolicy {
        self.management.deletion_policy
    }

    pub fn observe_only(&self) -> bool {
        self.management.management_policy == ManagementPolicy::ObserveOnly
    }
}
