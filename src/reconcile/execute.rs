//! The executor: applies one object's plan through the client, action by
//! action, and reports what happened. It never retries a create or delete
//! (the client already refuses to after an ambiguous failure); a failed action
//! stops the object's plan so later actions never run on a wrong premise.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::future::BoxFuture;

use super::group::membership_changes;
use super::object::{DesiredObject, GLOBAL_SCAN_KEY, Kind, Model};
use super::org::PENDING_MEMBER;
use super::plan::{Action, FieldChange, ObjectPlan, string_list};
use super::scope;
use crate::qualys::{DeregisterOutcome, QualysClient, QualysError, RegisterOutcome, ScanConfig};

/// What executing a plan did, including what succeeded before a failure (a
/// create that succeeded must be recorded even when a later step fails).
#[derive(Debug, Default)]
pub struct Applied {
    /// The Qualys id the object maps to afterwards (`None` once deleted).
    pub external_id: Option<String>,
    /// Hash of secret values sent by this run, if any were.
    pub sent_secret_hash: Option<String>,
    /// The run request acted on.
    pub ran: Option<String>,
    pub created: bool,
    /// When Qualys says it created the object, if its create answer says
    /// (a report's does; later reads of the report list do not).
    pub created_on: Option<String>,
    pub deleted: bool,
    /// One line per action done, for people.
    pub log: Vec<String>,
    /// The action that failed, if one did; later actions were not attempted.
    pub failure: Option<ExecError>,
}

impl Applied {
    /// Whether Qualys may now hold something this run wrote: a step that
    /// succeeded (every log line but adoption and retention records one), or
    /// a failure whose request may have arrived. A refused write changed nothing.
    pub fn changed_qualys(&self) -> bool {
        let written = self
            .log
            .iter()
            .any(|line| !(line.starts_with("adopted ") || line.starts_with("retained")));
        written
            || self
                .failure
                .as_ref()
                .and_then(ExecError::qualys)
                .is_some_and(QualysError::is_ambiguous)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("{action}: {source}")]
    Qualys {
        action: String,
        #[source]
        source: QualysError,
    },
    #[error("{action}: {message}")]
    Input { action: String, message: String },
    /// Intent could not be recorded (the object changed meanwhile): no create was sent.
    #[error("create of {object} put off, nothing was sent: {message}")]
    Intent { object: String, message: String },
    #[error("create of {object} was interrupted by its guard: {message}")]
    Guard { object: String, message: String },
}

impl ExecError {
    /// Stable category for metrics and Event reasons.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Qualys { source, .. } => source.category(),
            Self::Input { .. } => "invalid_spec",
            Self::Intent { .. } => "create_deferred",
            Self::Guard { .. } => "guard",
        }
    }

    pub fn qualys(&self) -> Option<&QualysError> {
        match self {
            Self::Qualys { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Called around every create, so the controller can record intent before it
/// and the id right after (DESIGN.md §4). The CLI's guard records into its
/// state file.
pub trait CreateGuard: Send + Sync {
    fn before_create<'a>(&'a self, obj: &'a DesiredObject) -> BoxFuture<'a, Result<(), String>>;
    fn after_create<'a>(&'a self, obj: &'a DesiredObject, id: &'a str) -> BoxFuture<'a, Result<(), String>>;
}

/// A guard that records nothing.
pub struct NoGuard;

impl CreateGuard for NoGuard {
    fn before_create<'a>(&'a self, _: &'a DesiredObject) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
    fn after_create<'a>(&'a self, _: &'a DesiredObject, _: &'a str) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
}

/// How long an organization connector's test-connection job may take.
const TEST_JOB_POLLS: u32 = 60;
const TEST_JOB_INTERVAL: Duration = Duration::from_millis(500);

fn q(action: &str) -> impl FnOnce(QualysError) -> ExecError + '_ {
    move |source| ExecError::Qualys {
        action: action.to_string(),
        source,
    }
}

fn input(action: &str) -> impl FnOnce(String) -> ExecError + '_ {
    move |message| ExecError::Input {
        action: action.to_string(),
        message,
    }
}

fn scan_config(obj: &DesiredObject) -> Option<ScanConfig> {
    let Model::GlobalScan(s) = &obj.model else { return None };
    let text = |v: &dyn erased::Text| v.text();
    Some(ScanConfig {
        option_profile_id: u64::try_from(s.option_profile_id).ok(),
        recurrence: Some(text(&s.recurrence)),
        days_of_week: (!s.days_of_week.is_empty()).then(|| s.days_of_week.iter().map(|d| text(d)).collect()),
        scan_prefix: Some(s.scan_prefix.clone()),
        start_date: Some(s.start_date.clone()),
        start_time: Some(s.start_time.clone()),
        timezone: Some(s.timezone.clone()),
    })
}

mod erased {
    /// The serialized name of a unit enum variant.
    pub trait Text {
        fn text(&self) -> String;
    }
    impl<T: serde::Serialize> Text for T {
        fn text(&self) -> String {
            serde_json::to_value(self)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        }
    }
}

/// Execute `plan` for `obj`. Stops at the first failed action and reports it
/// in [`Applied::failure`], with everything done before it.
pub async fn execute(
    client: &QualysClient,
    obj: &DesiredObject,
    plan: &ObjectPlan,
    guard: &dyn CreateGuard,
) -> Applied {
    let mut applied = Applied {
        external_id: plan.external_id.clone(),
        ..Applied::default()
    };
    if let Err(e) = run_actions(client, obj, plan, guard, &mut applied).await {
        applied.failure = Some(e);
    }
    applied
}

async fn run_actions(
    client: &QualysClient,
    obj: &DesiredObject,
    plan: &ObjectPlan,
    guard: &dyn CreateGuard,
    applied: &mut Applied,
) -> Result<(), ExecError> {
    for action in &plan.actions {
        match action {
            Action::Create { fields } => {
                guard.before_create(obj).await.map_err(|message| ExecError::Intent {
                    object: obj.reference(),
                    message,
                })?;
                let (id, created_on) = create_object(client, obj).await?;
                applied.log.push(format!("created {id}"));
                applied.external_id = Some(id.clone());
                applied.created = true;
                applied.created_on = created_on;
                applied.sent_secret_hash = obj.secret_hash();
                guard.after_create(obj, &id).await.map_err(|message| ExecError::Guard {
                    object: obj.reference(),
                    message,
                })?;
                after_create(client, obj, fields, &id, applied).await?;
            }
            Action::Adopt { id, reason } => {
                applied.external_id = Some(id.clone());
                applied.log.push(format!("adopted {id} ({reason})"));
            }
            Action::Update { id, changes } => {
                update(client, obj, id, changes, applied).await?;
                if changes.iter().any(|c| c.secret) {
                    applied.sent_secret_hash = obj.secret_hash();
                }
            }
            Action::Delete { id } => {
                match obj.kind.cloud() {
                    Some(cloud) => client.delete_connector(cloud, id).await.map_err(q("delete"))?,
                    None if obj.kind == Kind::Report => client
                        .delete_reports(std::slice::from_ref(id))
                        .await
                        .map_err(q("delete"))?,
                    None => client.delete_org_connector(id).await.map_err(q("delete"))?,
                }
                applied.log.push(format!("deleted {id}"));
                applied.deleted = true;
                applied.external_id = None;
            }
            Action::Disable { id } => {
                match obj.kind.cloud() {
                    Some(cloud) => {
                        let write = crate::qualys::ConnectorWrite {
                            disabled: Some(true),
                            ..Default::default()
                        };
                        client.update_connector(cloud, id, &write).await.map_err(q("disable"))?;
                    }
                    None => {
                        client
                            .set_org_connectors_enabled(std::slice::from_ref(id), false)
                            .await
                            .map_err(q("disable"))?;
                    }
                }
                applied.log.push(format!("disabled {id}"));
            }
            Action::Run { id, requested_at } => {
                let id = if id == "(new)" {
                    applied.external_id.clone().unwrap_or_default()
                } else {
                    id.clone()
                };
                match obj.kind.cloud() {
                    Some(cloud) => {
                        client.run_connector(cloud, &id).await.map_err(q("run"))?;
                    }
                    None if obj.kind == Kind::SnapshotScan => {
                        let run = client.run_snapshot_scan().await.map_err(q("run"))?;
                        let targets: Vec<&str> = run
                            .target_accounts
                            .iter()
                            .filter_map(|t| t.aws_account_id.as_deref())
                            .collect();
                        applied
                            .log
                            .push(format!("snapshot scan started for {}", targets.join(", ")));
                    }
                    None => {
                        client
                            .run_org_connectors(std::slice::from_ref(&id))
                            .await
                            .map_err(q("run"))?;
                    }
                }
                applied.ran = Some(requested_at.clone());
                applied.log.push(format!("ran {id}"));
            }
            Action::Register { id, .. } => {
                let Model::SnapshotScan(r) = &obj.model else {
                    return Err(input("register")(format!("{} has no registration", obj.kind)));
                };
                let outcome = client
                    .register_service_account(&r.write())
                    .await
                    .map_err(q("register"))?;
                applied.external_id = Some(id.clone());
                // A 304 changed nothing: the log lists what a run changed.
                if outcome == RegisterOutcome::Registered {
                    applied.log.push(format!("registered {id} for snapshot scans"));
                }
            }
            Action::Deregister { id } => {
                let outcome = client.deregister_service_account().await.map_err(q("deregister"))?;
                applied.log.push(match outcome {
                    DeregisterOutcome::Deregistered => format!("deregistered {id} and every other registration"),
                    DeregisterOutcome::NotRegistered => format!("{id} was not registered"),
                });
                if obj.deleting {
                    applied.deleted = true;
                    applied.external_id = None;
                }
            }
            Action::Attach { .. } | Action::Detach { .. } => {}
            Action::Retain { reason, .. } => applied.log.push(format!("retained: {reason}")),
            Action::ReportDrift { .. } | Action::Conflict { .. } | Action::NotFound { .. } => {}
        }
    }
    Ok(())
}

/// The create call itself, answering the id and, where the answer has it,
/// when Qualys created the object; follow-up steps are in [`after_create`]
/// so the id is recorded before they can fail.
async fn create_object(client: &QualysClient, obj: &DesiredObject) -> Result<(String, Option<String>), ExecError> {
    let mut created_on = None;
    let id = match &obj.model {
        Model::Connector(c) => {
            let write = c.write(None).map_err(input("create"))?;
            let created = client.create_connector(c.kind(), &write).await.map_err(q("create"))?;
            created.id.ok_or_else(|| ExecError::Input {
                action: "create".into(),
                message: "Qualys answered the create without an id".into(),
            })?
        }
        Model::Org(o) => {
            let credentials = o.credentials().map_err(input("test connection"))?;
            let job = client
                .org_test_connection(&credentials)
                .await
                .map_err(q("test connection"))?;
            wait_for_job(client, &job).await?;
            let write = o.write().map_err(input("create"))?;
            let created = client.create_org_connector(&write).await.map_err(q("create"))?;
            created.id.ok_or_else(|| ExecError::Input {
                action: "create".into(),
                message: "the gateway answered the create without an id".into(),
            })?
        }
        Model::Group(g) => {
            let created = client.create_group(&g.name).await.map_err(q("create"))?;
            created.uuid.unwrap_or_default()
        }
        Model::GlobalScan(_) => {
            let config = scan_config(obj).unwrap_or_default();
            client.create_global_scan_config(&config).await.map_err(q("create"))?;
            GLOBAL_SCAN_KEY.to_string()
        }
        // Registered by `Action::Register`, never created.
        Model::SnapshotScan(r) => {
            return Err(ExecError::Input {
                action: "create".into(),
                message: format!(
                    "snapshot-scan registration of {} is registered, not created",
                    r.aws_account_id
                ),
            });
        }
        Model::Report(r) => {
            let created = client.create_report(&r.write(None)).await.map_err(q("create"))?;
            created_on = created.created_on;
            created.report_id.unwrap_or_default()
        }
        // The planner never creates one: a scope belongs to an existing user.
        Model::UserScope(u) => {
            return Err(ExecError::Input {
                action: "create".into(),
                message: format!("Qualys has no user {}; user scopes cannot be created", u.user),
            });
        }
    };
    Ok((id, created_on))
}

/// Steps that complete a create: org members and disabling, group members.
async fn after_create(
    client: &QualysClient,
    obj: &DesiredObject,
    fields: &[FieldChange],
    id: &str,
    applied: &mut Applied,
) -> Result<(), ExecError> {
    match &obj.model {
        Model::Connector(c) => {
            if let Some(write) = c.tags_after_create() {
                client
                    .update_connector(c.kind(), id, &write)
                    .await
                    .map_err(q("set tags"))?;
                applied.log.push("set default tags".into());
            }
        }
        Model::Org(o) => {
            for member in o.member_ids.iter().filter(|m| !m.starts_with(PENDING_MEMBER)) {
                client
                    .attach_member_connector(member, id)
                    .await
                    .map_err(q("attach member"))?;
                applied.log.push(format!("attached member {member}"));
            }
            if o.spec.disabled {
                client
                    .set_org_connectors_enabled(&[id.to_string()], false)
                    .await
                    .map_err(q("disable"))?;
            }
        }
        Model::Group(_) => {
            // The members the plan shows (the planner holds some back), not the spec's.
            let members = fields
                .iter()
                .find(|c| c.path == "spec.members")
                .map(|c| string_list(&c.after))
                .unwrap_or_default();
            apply_membership(client, id, &members, &[]).await?;
            if !members.is_empty() {
                applied.log.push(format!("added {} member(s)", members.len()));
            }
        }
        _ => {}
    }
    Ok(())
}

async fn wait_for_job(client: &QualysClient, job: &str) -> Result<(), ExecError> {
    for _ in 0..TEST_JOB_POLLS {
        let status = client.org_job(job).await.map_err(q("test connection"))?;
        if status.is_failed() {
            return Err(ExecError::Input {
                action: "test connection".into(),
                message: format!(
                    "Azure refused the tenant/application/secret: {}",
                    status.error.unwrap_or_else(|| "no detail".into())
                ),
            });
        }
        if status.is_finished() {
            return Ok(());
        }
        tokio::time::sleep(TEST_JOB_INTERVAL).await;
    }
    Err(ExecError::Input {
        action: "test connection".into(),
        message: format!("job {job} did not finish in time"),
    })
}

async fn apply_membership(
    client: &QualysClient,
    uuid: &str,
    desired: &[String],
    observed: &[String],
) -> Result<(), ExecError> {
    let group = [uuid.to_string()];
    // CloudView refuses a whole batch for one bad account; the other cloud
    // types' batches are still sent, and the first failure is reported.
    let mut first_failure = None;
    for (cloud, add, remove) in membership_changes(desired, observed) {
        if !add.is_empty()
            && let Err(e) = client.update_group_membership(cloud, &add, &group, &[]).await
        {
            first_failure.get_or_insert(q("add members")(e));
        }
        if !remove.is_empty()
            && let Err(e) = client.update_group_membership(cloud, &remove, &[], &group).await
        {
            first_failure.get_or_insert(q("remove members")(e));
        }
    }
    first_failure.map_or(Ok(()), Err)
}

/// Takes `user`'s scope from `before` to `after`: one call for groups, one
/// per cloud for accounts. A refused call does not stop the others (each is
/// its own batch in Qualys); the first failure is reported.
async fn apply_scope(
    client: &QualysClient,
    user: &str,
    before: &scope::Entries,
    after: &scope::Entries,
) -> Result<(), ExecError> {
    let calls = scope::calls(before, after);
    let mut first_failure = None;
    if let Some((add, remove)) = calls.groups
        && let Err(e) = client.update_group_scope(user, &add, &remove).await
    {
        first_failure.get_or_insert(q("update group scope")(e));
    }
    for (cloud, [add, remove, add_regions, remove_regions]) in calls.accounts {
        if let Err(e) = client
            .update_account_scope(user, cloud, &add, &remove, &add_regions, &remove_regions)
            .await
        {
            first_failure.get_or_insert(q("update account scope")(e));
        }
    }
    first_failure.map_or(Ok(()), Err)
}

async fn update(
    client: &QualysClient,
    obj: &DesiredObject,
    id: &str,
    changes: &[FieldChange],
    applied: &mut Applied,
) -> Result<(), ExecError> {
    let paths: BTreeSet<String> = changes.iter().map(|c| c.path.clone()).collect();
    match (&obj.model, obj.kind) {
        (Model::Connector(c), _) => {
            let write = c.write_update(changes).map_err(input("update"))?;
            client
                .update_connector(c.kind(), id, &write)
                .await
                .map_err(q("update"))?;
        }
        (Model::Org(o), _) => {
            if let Some(change) = changes.iter().find(|c| c.path == "spec.members") {
                let want: BTreeSet<String> = string_list(&change.after)
                    .into_iter()
                    .filter(|m| !m.starts_with(PENDING_MEMBER))
                    .collect();
                let have: BTreeSet<String> = string_list(&change.before).into_iter().collect();
                let detach: Vec<String> = have.difference(&want).cloned().collect();
                if !detach.is_empty() {
                    client
                        .detach_member_connectors(&detach)
                        .await
                        .map_err(q("detach members"))?;
                    applied.log.push(format!("detached {}", detach.join(", ")));
                }
                for member in want.difference(&have) {
                    client
                        .attach_member_connector(member, id)
                        .await
                        .map_err(q("attach member"))?;
                    applied.log.push(format!("attached {member}"));
                }
            }
            if paths.contains("spec.disabled") {
                client
                    .set_org_connectors_enabled(&[id.to_string()], !o.spec.disabled)
                    .await
                    .map_err(q(if o.spec.disabled { "disable" } else { "enable" }))?;
            }
            if paths.iter().any(|p| p != "spec.members" && p != "spec.disabled") {
                let write = o.write().map_err(input("edit"))?;
                client.edit_org_connector(id, &write).await.map_err(q("edit"))?;
            }
        }
        (Model::Group(_), Kind::Group) | (Model::Group(_), _) => {
            if let Some(change) = changes.iter().find(|c| c.path == "spec.members") {
                apply_membership(client, id, &string_list(&change.after), &string_list(&change.before)).await?;
            }
        }
        (Model::SnapshotScan(_), _) => {
            return Err(input("update")(
                "a snapshot-scan registration cannot be updated; it is registered again".to_string(),
            ));
        }
        (Model::UserScope(u), _) => {
            if let Some(change) = changes.iter().find(|c| c.path == "spec.scope") {
                let before = scope::from_keys(&string_list(&change.before));
                let after = scope::from_keys(&string_list(&change.after));
                apply_scope(client, &u.user, &before, &after).await?;
            }
        }
        (Model::Report(r), _) => {
            // The whole configuration is sent: what the spec leaves alone is
            // sent back as Qualys has it now.
            let current = if r.description.is_none() || r.policies.is_none() {
                Some(client.get_report(id).await.map_err(q("read before update"))?)
            } else {
                None
            };
            client
                .patch_report(id, &r.write(current.as_ref()))
                .await
                .map_err(q("update"))?;
        }
        (Model::GlobalScan(_), _) => {
            let config = scan_config(obj).unwrap_or_default();
            client.update_global_scan_config(&config).await.map_err(q("update"))?;
        }
    }
    applied.log.push(format!(
        "updated {id}: {}",
        paths.into_iter().collect::<Vec<_>>().join(", ")
    ));
    Ok(())
}
