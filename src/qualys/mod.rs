//! Qualys API client: QPS 3.0, the connectors gateway and CloudView v1 over one
//! transport. No Kubernetes types in here.
//!
//! * [`QualysClient`]: one per Qualys account (cheap to clone); owns the
//!   account's rate governor and gateway token.
//! * Models: [`Connector`] / [`ConnectorWrite`] (QPS connectors of every
//!   cloud), [`ScanConfig`], [`OrgConnector`] / [`OrgConnectorWrite`]
//!   (gateway), [`Group`] (CloudView).
//! * [`QualysError`]: one error type with a stable [`QualysError::category`].

mod auth;
mod client;
pub mod cloudview;
pub mod config;
pub mod cron;
pub mod endpoints;
pub mod error;
pub mod fence;
pub mod gateway;
pub mod governor;
pub mod lenient;
pub mod observer;
pub mod platform;
pub mod qps;
pub mod secret;
pub mod share;
mod transport;
pub mod tree;

pub use client::{Paged, QualysClient, QualysClientBuilder};
pub use cloudview::groups::{CloudViewConnector, Group, GroupMember, GroupRef};
pub use cloudview::scope::{CloudScope, DirectAccount, ScopeGroup, UserScope};
pub use config::{AccountConfig, CloudViewAuth, ConfigError, QpsFormat, RateLimits, Timeouts};
pub use error::QualysError;
pub use gateway::org::{
    Job, JobSummaryEntry, ManagementGroups, MemberConnector, OrgApp, OrgConnector, OrgConnectorWrite, OrgCredentials,
    RunFrequency,
};
pub use gateway::snapshot::{
    DeregisterOutcome, RegisterOutcome, Registration, SnapshotRun, SnapshotTag, TargetAccount,
};
pub use observer::{CallObserver, CallRecord, Family, Progress};
pub use platform::{Platform, resolve_urls};
pub use qps::account_info::{AwsBaseAccount, ConnectorErrorEntry, PortalVersion};
pub use qps::connector::{
    AuthRecordWrite, CloudKind, Connector, ConnectorApp, ConnectorAppWrite, ConnectorWrite, GcpServiceAccountKey,
    TagRef,
};
pub use qps::criteria::{Criteria, Operator};
pub use qps::scan::ScanConfig;
pub use secret::Secret;
pub use transport::run_again_wait;

#[cfg(test)]
mod sample_tests;
