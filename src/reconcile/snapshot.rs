//! Batched observation (DESIGN.md §3): one paged search per kind and account,
//! never one GET per object. Organization connectors are the exception the
//! gateway forces: its list carries no tenant or settings, so each listed org
//! is read once (organizations are few per account). Reports are listed; one
//! is read in full only when the list cannot settle it (see
//! [`super::report`]).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use super::connector;
use super::identity::{Candidate, Listed};
use super::object::{GLOBAL_SCAN_KEY, Kind};
use super::org;
use crate::qualys::cloudview::reports::ReportConfig;
use crate::qualys::{CloudKind, Connector, Group, OrgConnector, QualysClient, QualysError, ScanConfig, UserScope};

/// An organization connector with the ids of its attached members.
#[derive(Debug, Clone, PartialEq)]
pub struct OrgDetail {
    pub org: OrgConnector,
    pub members: Vec<String>,
}

/// What Qualys holds for the kinds observed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Shared items, so upserting one connector copies pointers, not connectors.
    pub connectors: BTreeMap<CloudKind, Vec<Arc<Connector>>>,
    pub orgs: Vec<OrgDetail>,
    pub groups: Vec<Group>,
    /// User scopes read, by user name. There is no list of users: each is
    /// read by name (see [`Snapshot::observe_scopes`]); a user Qualys does
    /// not know is absent.
    pub scopes: BTreeMap<String, UserScope>,
    /// The report list: title, type, format and accounts of each report.
    pub reports: Vec<ReportConfig>,
    /// Reports read in full (see [`Snapshot::observe_report_details`]), by
    /// the id asked for.
    pub report_details: BTreeMap<String, ReportConfig>,
    pub global_scan: Option<ScanConfig>,
    pub observed: BTreeSet<Kind>,
}

impl Snapshot {
    /// Observe the given kinds.
    pub async fn observe(client: &QualysClient, kinds: &BTreeSet<Kind>) -> Result<Self, QualysError> {
        let mut snap = Snapshot::default();
        for kind in kinds {
            match kind {
                Kind::Aws | Kind::Azure | Kind::Gcp | Kind::Oci => {
                    let Some(cloud) = kind.cloud() else { continue };
                    let found = client.search_connectors(cloud, &[]).await?;
                    let live = found
                        .items
                        .into_iter()
                        .filter(|c| c.is_deleted != Some(true))
                        .map(Arc::new)
                        .collect();
                    snap.connectors.insert(cloud, live);
                }
                Kind::AzureOrg => {
                    for summary in client.list_org_connectors(None).await?.items {
                        let Some(id) = summary.id.clone() else { continue };
                        let org = client.get_org_connector(&id).await?;
                        let members = client
                            .org_member_connectors(&id)
                            .await?
                            .items
                            .into_iter()
                            .filter_map(|m| m.id)
                            .collect();
                        snap.orgs.push(OrgDetail { org, members });
                    }
                }
                Kind::Group => snap.groups = client.list_groups().await?.items,
                // Read by user name: see `observe_scopes`.
                Kind::UserScope => continue,
                // Qualys has no read for registrations (see `registration`).
                Kind::SnapshotScan => continue,
                Kind::Report => snap.reports = client.list_reports().await?.items,
                Kind::GlobalScan => snap.global_scan = client.get_global_scan_config().await?,
            }
            snap.observed.insert(*kind);
        }
        Ok(snap)
    }

    /// Read the scope of each of `users` (one call each: Qualys lists no
    /// users). A user Qualys does not know is left out, not an error.
    pub async fn observe_scopes(
        &mut self,
        client: &QualysClient,
        users: impl IntoIterator<Item = &str>,
    ) -> Result<(), QualysError> {
        for user in users {
            match client.user_scope(user).await {
                Ok(scope) => {
                    self.scopes.insert(user.to_string(), scope);
                }
                Err(QualysError::NotFound { .. }) => {
                    self.scopes.remove(user);
                }
                Err(e) => return Err(e),
            }
        }
        self.observed.insert(Kind::UserScope);
        Ok(())
    }

    /// Read each of `ids` in full (one call each; only reports the list
    /// cannot settle are asked for). A report gone meanwhile is left out.
    pub async fn observe_report_details(
        &mut self,
        client: &QualysClient,
        ids: impl IntoIterator<Item = &str>,
    ) -> Result<(), QualysError> {
        for id in ids {
            match client.get_report(id).await {
                Ok(report) => {
                    self.report_details.insert(id.to_string(), report);
                }
                Err(QualysError::NotFound { .. }) => {
                    self.report_details.remove(id);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// About how many Qualys calls reading `kind` again costs, judged by what
    /// this snapshot holds (searches page by 100; an org costs two details).
    pub fn calls_to_observe(&self, kind: Kind) -> u32 {
        self.calls_to_observe_with(kind, 0)
    }

    /// [`Snapshot::calls_to_observe`] once `more` objects of `kind` exist.
    pub fn calls_to_observe_with(&self, kind: Kind, more: u32) -> u32 {
        let more = more as usize;
        let pages = |n: usize| u32::try_from((n + more).div_ceil(100).max(1)).unwrap_or(u32::MAX);
        match kind.cloud() {
            Some(cloud) => pages(self.connectors.get(&cloud).map_or(0, Vec::len)),
            None => match kind {
                Kind::AzureOrg => 1 + 2 * u32::try_from(self.orgs.len() + more).unwrap_or(u32::MAX / 2),
                Kind::Group => pages(self.groups.len()),
                Kind::Report => pages(self.reports.len()),
                Kind::UserScope => u32::try_from(self.scopes.len() + more).unwrap_or(u32::MAX).max(1),
                _ => 1,
            },
        }
    }

    /// Group member keys (`CLOUD:account`) for which Qualys lists a
    /// connector with an app that makes CloudView know it. Built once per
    /// plan: a group judging many members must not scan every connector for
    /// each of them.
    pub fn cloudview_member_keys(&self) -> HashSet<String> {
        [
            (CloudKind::Aws, "AWS"),
            (CloudKind::Azure, "AZURE"),
            (CloudKind::Gcp, "GCP"),
        ]
        .into_iter()
        .flat_map(|(cloud, name)| {
            self.connectors
                .get(&cloud)
                .into_iter()
                .flatten()
                .filter(|c| c.apps.iter().flatten().any(|a| super::build::is_cloudview_app(&a.name)))
                .filter_map(move |c| connector::observed_key(cloud, c))
                .map(move |account| super::desired::member_key(name, &account))
        })
        .collect()
    }

    /// What this snapshot lists for `kind`, for identity resolution.
    pub fn listed(&self, kind: Kind) -> KindListing<'_> {
        KindListing { snap: self, kind }
    }

    /// Candidates for identity resolution.
    pub fn candidates(&self, kind: Kind) -> Vec<Candidate> {
        match kind {
            Kind::Aws | Kind::Azure | Kind::Gcp | Kind::Oci => {
                let Some(cloud) = kind.cloud() else { return Vec::new() };
                self.connectors
                    .get(&cloud)
                    .into_iter()
                    .flatten()
                    .filter_map(|c| {
                        Some(Candidate {
                            id: c.id.clone()?,
                            key: connector::observed_key(cloud, c).unwrap_or_default(),
                            name: c.name.clone().unwrap_or_default(),
                            attached_to_org: c.is_attached_to_org_connector == Some(true),
                        })
                    })
                    .collect()
            }
            Kind::AzureOrg => self
                .orgs
                .iter()
                .filter_map(|o| {
                    Some(Candidate {
                        id: o.org.id.clone()?,
                        key: org::observed_key(&o.org).unwrap_or_default(),
                        name: o.org.name.clone().unwrap_or_default(),
                        attached_to_org: false,
                    })
                })
                .collect(),
            Kind::Group => self
                .groups
                .iter()
                .filter_map(|g| {
                    Some(Candidate {
                        id: g.uuid.clone()?,
                        key: g.name.clone().unwrap_or_default(),
                        name: g.name.clone().unwrap_or_default(),
                        attached_to_org: false,
                    })
                })
                .collect(),
            Kind::SnapshotScan => Vec::new(),
            Kind::UserScope => self
                .scopes
                .keys()
                .map(|user| Candidate {
                    id: user.clone(),
                    key: user.clone(),
                    name: user.clone(),
                    attached_to_org: false,
                })
                .collect(),
            Kind::Report => self
                .reports
                .iter()
                .filter_map(|r| {
                    let title = r.title.as_deref().unwrap_or_default().trim().to_string();
                    Some(Candidate {
                        id: r.report_id.clone()?,
                        key: title.clone(),
                        name: title,
                        attached_to_org: false,
                    })
                })
                .collect(),
            Kind::GlobalScan => self
                .global_scan
                .iter()
                .map(|_| Candidate {
                    id: GLOBAL_SCAN_KEY.into(),
                    key: GLOBAL_SCAN_KEY.into(),
                    name: "global scan configuration".into(),
                    attached_to_org: false,
                })
                .collect(),
        }
    }

    pub fn connector(&self, cloud: CloudKind, id: &str) -> Option<&Connector> {
        self.connectors
            .get(&cloud)?
            .iter()
            .find(|c| c.id.as_deref() == Some(id))
            .map(|c| &**c)
    }

    pub fn org(&self, id: &str) -> Option<&OrgDetail> {
        self.orgs.iter().find(|o| o.org.id.as_deref() == Some(id))
    }

    pub fn group(&self, uuid: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.uuid.as_deref() == Some(uuid))
    }

    /// The listed report `id` (report ids are UUIDs, compared without regard to case).
    pub fn report(&self, id: &str) -> Option<&ReportConfig> {
        self.reports
            .iter()
            .find(|r| r.report_id.as_deref().is_some_and(|r| r.eq_ignore_ascii_case(id)))
    }

    /// Qualys' state of an object, for status.
    pub fn state_of(&self, kind: Kind, id: &str) -> Option<String> {
        match kind.cloud() {
            Some(cloud) => self.connector(cloud, id)?.connector_state.clone(),
            None if kind == Kind::AzureOrg => self.org(id)?.org.state.clone(),
            None => None,
        }
    }
}

/// One kind of a [`Snapshot`], looked up by id without building candidates.
pub struct KindListing<'a> {
    snap: &'a Snapshot,
    kind: Kind,
}

impl Listed for KindListing<'_> {
    fn has(&self, id: &str) -> bool {
        match (self.kind.cloud(), self.kind) {
            (Some(cloud), _) => self.snap.connector(cloud, id).is_some(),
            (None, Kind::AzureOrg) => self.snap.org(id).is_some(),
            (None, Kind::Group) => self.snap.group(id).is_some(),
            (None, Kind::UserScope) => self.snap.scopes.contains_key(id),
            (None, Kind::Report) => self.snap.report(id).is_some(),
            (None, _) => id == GLOBAL_SCAN_KEY && self.snap.global_scan.is_some(),
        }
    }

    fn candidates(&self) -> Vec<Candidate> {
        self.snap.candidates(self.kind)
    }
}
