//! Desired state: a spec, its defaults and resolved references, as [`Fields`].
//! The observed side (`observed.rs`) must produce the same paths with the same
//! normalization; both follow the rules below.
//!
//! * Optional text: empty and absent are the same (`null`).
//! * Collections Qualys treats as sets are sorted and deduplicated.
//! * A collection absent from the spec is not managed (`defaultTagIds`, org
//!   `members`); an empty one is, and clears what Qualys holds.
//! * Secrets are compared by the hash of what was last sent.

use serde_json::{Value, json};

use super::fields::Fields;
use super::identity::guid;
use crate::crd::aws::AwsPartition;
use crate::crd::azure::AzurePartition;
use crate::crd::azure_org::AzureOrgConnectorSpec;
use crate::crd::common::{ConnectorApp, ConnectorSettings, PerimeterScan, ScanSchedule};
use crate::crd::{AwsConnectorSpec, AzureConnectorSpec, GcpConnectorSpec, OciConnectorSpec};

/// Optional text, with empty meaning absent.
pub fn text(value: Option<&str>) -> Value {
    match value {
        Some(s) if !s.is_empty() => Value::String(s.to_string()),
        _ => Value::Null,
    }
}

/// Apps as compared: the set of names, each app's identifier, and its tag when
/// known. A desired app without a tag leaves the tag unmanaged (Qualys often
/// omits `tagId` on reads, and the diff only looks at desired paths).
pub fn apps(fields: &mut Fields, apps: &[(String, String, Option<i64>)]) {
    fields.set_unordered("spec.apps", apps.iter().map(|(name, _, _)| name.as_str()));
    for (name, identifier, tag) in apps {
        fields.set(&format!("spec.apps.{name}.identifier"), guid(identifier));
        if let Some(tag) = tag {
            fields.set(&format!("spec.apps.{name}.tagId"), *tag);
        }
    }
}

/// Apps as Qualys reported them: a missing `tagId` is unknown, not "no tag"
/// (run, search and get often leave it out, Q-COL-4), and so is a missing
/// identifier (the gateway echoes `null` for an org app created without one):
/// neither is a value to write back or to change.
pub fn observed_apps(fields: &mut Fields, reported: &[(String, String, Option<i64>)]) {
    apps(fields, reported);
    for (name, identifier, tag) in reported {
        if identifier.trim().is_empty() {
            fields.set_unknown(
                &format!("spec.apps.{name}.identifier"),
                "(not reported by Qualys)",
                Vec::new(),
            );
        }
        if tag.is_none() {
            fields.set_unknown(
                &format!("spec.apps.{name}.tagId"),
                "(not reported by Qualys)",
                Vec::new(),
            );
        }
    }
}

/// Apps as the manifest states them, in the normal form reads are put in: an
/// Azure identifier stated as the application id means the default one, as
/// it does when Qualys echoes it (Q-COL-6).
fn desired_apps(
    list: &[ConnectorApp],
    default_identifier: &str,
    application_id: Option<&str>,
) -> Vec<(String, String, Option<i64>)> {
    list.iter()
        .map(|a| {
            let identifier = match &a.identifier {
                Some(stated) => {
                    super::identity::read_app_identifier(stated.clone(), application_id, Some(default_identifier))
                }
                None => default_identifier.to_string(),
            };
            (a.name.as_str().to_string(), identifier, a.tag_id)
        })
        .collect()
}

/// The comparable form of a perimeter-scan schedule, shared with the observed side.
pub fn schedule_json(
    option_profile_id: i64,
    recurrence: &str,
    days: &[String],
    scan_prefix: &str,
    start_date: &str,
    start_time: &str,
    timezone: &str,
) -> Value {
    // Days mean something only for WEEKLY; Qualys keeps stale ones after a
    // partial update to DAILY, which must not read as drift.
    let weekly = recurrence.eq_ignore_ascii_case("WEEKLY");
    let mut days: Vec<String> = days.iter().filter(|_| weekly).map(|d| d.to_uppercase()).collect();
    days.sort();
    days.dedup();
    json!({
        "optionProfileId": option_profile_id,
        "recurrence": recurrence.to_uppercase(),
        "daysOfWeek": days,
        "scanPrefix": scan_prefix,
        "startDate": start_date,
        "startTime": start_time,
        "timezone": timezone,
    })
}

fn enum_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

pub fn schedule_value(schedule: &ScanSchedule) -> Value {
    let days: Vec<String> = schedule.days_of_week.iter().map(enum_text).collect();
    schedule_json(
        schedule.option_profile_id,
        &enum_text(&schedule.recurrence),
        &days,
        &schedule.scan_prefix,
        &schedule.start_date,
        &schedule.start_time,
        &schedule.timezone,
    )
}

fn perimeter(fields: &mut Fields, scan: Option<&PerimeterScan>) {
    let enabled = scan.is_some_and(|s| s.enabled);
    fields.set("spec.perimeterScan.enabled", enabled);
    let custom = scan
        .filter(|s| s.enabled)
        .and_then(|s| s.custom.as_ref())
        .map_or(Value::Null, schedule_value);
    fields.set("spec.perimeterScan.custom", custom);
}

fn settings(
    fields: &mut Fields,
    s: &ConnectorSettings,
    object_name: &str,
    identity: &str,
    application_id: Option<&str>,
) {
    fields
        .set("spec.name", s.name.as_deref().unwrap_or(object_name))
        .set("spec.runFrequencyMinutes", s.run_frequency_minutes)
        .set("spec.disabled", s.disabled)
        .set("spec.remediationEnabled", s.remediation_enabled);
    if let Some(description) = &s.description {
        fields.set("spec.description", text(Some(description)));
    }
    if let Some(list) = &s.apps {
        apps(fields, &desired_apps(list, identity, application_id));
    }
    if let Some(modules) = &s.activation {
        fields.set_unordered("spec.activation", modules.iter().map(enum_text));
    }
    if let Some(tags) = &s.default_tag_ids {
        fields.set_unordered("spec.defaultTagIds", tags.iter().copied());
    }
}

pub fn aws(spec: &AwsConnectorSpec, object_name: &str) -> Fields {
    let mut f = Fields::new();
    settings(&mut f, &spec.settings, object_name, &spec.arn, None);
    f.set("spec.arn", spec.arn.as_str())
        .set("spec.externalId", spec.external_id.as_str())
        .set("spec.partition", partition_name(spec.partition));
    if let Some(regions) = &spec.regions {
        f.set_unordered("spec.regions", regions.iter().map(String::as_str));
    }
    perimeter(&mut f, spec.perimeter_scan.as_ref());
    f
}

pub fn partition_name(p: AwsPartition) -> &'static str {
    match p {
        AwsPartition::Global => "Global",
        AwsPartition::GovCloud => "GovCloud",
        AwsPartition::China => "China",
    }
}

pub fn azure(spec: &AzureConnectorSpec, object_name: &str, secret_hash: Option<String>) -> Fields {
    let mut f = Fields::new();
    settings(
        &mut f,
        &spec.settings,
        object_name,
        &spec.subscription_id,
        Some(&spec.application_id),
    );
    f.set("spec.directoryId", guid(&spec.directory_id))
        .set("spec.subscriptionId", guid(&spec.subscription_id))
        .set("spec.applicationId", guid(&spec.application_id))
        .set(
            "spec.partition",
            if spec.partition == AzurePartition::GovCloud {
                "GovCloud"
            } else {
                "Global"
            },
        )
        .set_secret("spec.authenticationKeySecretRef", secret_hash);
    perimeter(&mut f, spec.perimeter_scan.as_ref());
    f
}

pub fn gcp(spec: &GcpConnectorSpec, object_name: &str, secret_hash: Option<String>) -> Fields {
    let mut f = Fields::new();
    settings(&mut f, &spec.settings, object_name, &spec.project_id, None);
    f.set("spec.projectId", spec.project_id.as_str())
        .set_secret("spec.serviceAccountKeySecretRef", secret_hash);
    f
}

pub fn oci(spec: &OciConnectorSpec, object_name: &str, secret_hash: Option<String>) -> Fields {
    let mut f = Fields::new();
    settings(&mut f, &spec.settings, object_name, &spec.tenant_id, None);
    f.set("spec.tenantId", spec.tenant_id.as_str())
        .set("spec.userId", spec.user_id.as_str())
        .set("spec.fingerprint", guid(&spec.fingerprint))
        .set("spec.homeRegion", spec.home_region.as_str())
        .set_secret("spec.privateKeySecretRef", secret_hash);
    f.set(
        "spec.perimeterScan.enabled",
        spec.perimeter_scan.as_ref().is_some_and(|s| s.enabled),
    );
    f
}

/// `member_ids`: Qualys ids of the `members` AzureConnectors, resolved by the caller.
pub fn azure_org(
    spec: &AzureOrgConnectorSpec,
    object_name: &str,
    secret_hash: Option<String>,
    member_ids: &[String],
) -> Fields {
    let mut f = Fields::new();
    let org_apps: Vec<ConnectorApp> = spec
        .apps
        .iter()
        .map(|a| ConnectorApp {
            name: a.name,
            identifier: a.identifier.clone(),
            tag_id: a.tag_id,
        })
        .collect();
    f.set("spec.name", spec.name.as_deref().unwrap_or(object_name))
        .set("spec.description", text(spec.description.as_deref()))
        .set("spec.tenantId", guid(&spec.tenant_id))
        .set("spec.applicationId", guid(&spec.application_id))
        .set("spec.connectorPrefixName", spec.connector_prefix_name.as_str())
        .set("spec.orgRunFrequencyMinutes", spec.org_run_frequency_minutes)
        .set("spec.memberRunFrequencyMinutes", spec.member_run_frequency_minutes)
        .set(
            "spec.createConnectorsForNewSubscriptions",
            spec.create_connectors_for_new_subscriptions,
        )
        .set(
            "spec.disableConnectorsForDeletedManagementGroups",
            spec.disable_connectors_for_deleted_management_groups,
        )
        .set("spec.autoActivate.vm", spec.auto_activate.vm)
        .set("spec.autoActivate.pc", spec.auto_activate.pc)
        .set("spec.autoActivate.sca", spec.auto_activate.sca)
        .set("spec.autoActivate.certView", spec.auto_activate.cert_view)
        .set("spec.autoActivate.cloudView", spec.auto_activate.cloud_view)
        .set("spec.remediationEnabled", spec.remediation_enabled)
        .set("spec.disabled", spec.disabled)
        .set_secret("spec.secretValueSecretRef", secret_hash);
    apps(
        &mut f,
        &desired_apps(&org_apps, &spec.tenant_id, Some(&spec.application_id)),
    );
    f.set_unordered(
        "spec.includedManagementGroups",
        spec.included_management_groups.iter().map(String::as_str),
    );
    f.set_unordered(
        "spec.excludedManagementGroups",
        spec.excluded_management_groups.iter().map(String::as_str),
    );
    // Absent `members`: membership is not managed (see `MemberPolicy`).
    if spec.members.is_some() {
        f.set_unordered("spec.members", member_ids.iter().map(String::as_str));
    }
    if !spec.default_tag_ids.is_empty() {
        f.set_unordered("spec.defaultTagIds", spec.default_tag_ids.iter().copied());
    }
    f
}

/// A group member as CloudView identifies it: `CLOUD:accountIdentifier`.
pub fn member_key(cloud: &str, account: &str) -> String {
    format!("{}:{}", cloud.to_uppercase(), guid(account))
}

/// `members`: resolved `CLOUD:accountIdentifier` keys (see [`member_key`]).
pub fn group(name: &str, members: &[String]) -> Fields {
    let mut f = Fields::new();
    f.set("spec.name", name);
    f.set_unordered("spec.members", members.iter().map(String::as_str));
    f
}

pub fn global_scan(schedule: &ScanSchedule) -> Fields {
    let mut f = Fields::new();
    if let Value::Object(map) = schedule_value(schedule) {
        for (k, v) in map {
            f.set(&format!("spec.{k}"), v);
        }
    }
    f
}
