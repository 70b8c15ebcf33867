//! How a connector looks in a `ServiceResponse`, per type, format and endpoint,
//! following the samples: string booleans except OCI, `CLOUDVIEW` added to the
//! activation, secrets per the configured echo policy, Azure create without
//! tags/activation and an empty `authRecord`, OCI create/update with the short form.

use super::codec::Format;
use super::render::V;
use crate::simulator::clock::{self, Millis};
use crate::simulator::config::{SecretEcho, SimConfig};
use crate::simulator::state::{AppInfo, CloudKind, Connector, ScanConfig, Tenant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// search / get
    Full,
    /// create response: the connector was just queued
    Created,
    /// run response: just queued again
    Queued,
    /// OCI update response
    Updated,
}

pub struct ViewCtx<'a> {
    pub fmt: Format,
    pub now: Millis,
    pub step_ms: i64,
    pub cfg: &'a SimConfig,
    pub tenant: &'a Tenant,
}

fn mask(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() <= 8 {
        return "*****".into();
    }
    let head: String = chars[..2].iter().collect();
    let tail: String = chars[chars.len() - 5..].iter().collect();
    format!("{head}*****{tail}")
}

fn secret(policy: SecretEcho, value: &str) -> Option<V> {
    match policy {
        SecretEcho::Never => None,
        SecretEcho::Masked => Some(V::s(mask(value))),
        SecretEcho::Verbatim => Some(V::s(value)),
    }
}

fn id_value(c: &Connector, ctx: &ViewCtx<'_>, mode: Mode) -> V {
    // The samples quote ids in the AWS create response and in OCI responses, and leave
    // them bare elsewhere; clients must take both.
    let quoted =
        ctx.fmt == Format::Json && (c.kind == CloudKind::Oci || (mode == Mode::Created && c.kind == CloudKind::Aws));
    if quoted { V::s(c.id.to_string()) } else { V::n(c.id) }
}

pub fn id_only(c: &Connector, ctx: &ViewCtx<'_>) -> V {
    V::obj(vec![("id", id_value(c, ctx, Mode::Full))])
}

fn app_info(c: &Connector, a: &AppInfo, ctx: &ViewCtx<'_>, as_sent: bool) -> V {
    let mut e = vec![("name", V::s(&a.name))];
    // Azure run/search/get answers show the application id as the identifier
    // of an app the create gave (and echoed) the subscription id (Q-COL-6).
    let subscription = c.auth_record.get("subscriptionId");
    let application_id = c.auth_record.get("applicationId").filter(|_| {
        c.kind == CloudKind::Azure
            && !as_sent
            && a.identifier
                .as_deref()
                .zip(subscription)
                .is_some_and(|(i, s)| i.eq_ignore_ascii_case(s))
    });
    if let Some(identifier) = application_id.or(a.identifier.as_ref()) {
        e.push(("identifier", V::s(identifier)));
    }
    if let Some(tag) = a.tag_id {
        e.push(("tagId", V::n(tag)));
        e.push((
            "tagMetadata",
            V::obj(vec![("id", V::n(tag)), ("name", V::s(ctx.tenant.tag_name(tag)))]),
        ));
    }
    V::obj(e)
}

/// `as_sent`: a create/update answer, which echoes identifiers as they were sent.
fn apps(c: &Connector, ctx: &ViewCtx<'_>, short: bool, as_sent: bool) -> V {
    let qlist = ctx.cfg.app_info_list_name.as_str();
    let per_app: Vec<V> = c
        .apps
        .iter()
        .map(|a| {
            let info = app_info(c, a, ctx, as_sent);
            let inner = if short && ctx.fmt == Format::Json && c.apps.len() == 1 {
                // OCI create/update responses un-wrap single-element lists (Q-ENV-5).
                V::obj(vec![("ConnectorAppInfo", info)])
            } else {
                V::typed_list("ConnectorAppInfo", vec![info])
            };
            V::O(vec![(qlist.to_string(), V::obj(vec![("list", inner)]))])
        })
        .collect();
    let split_lists = match ctx.fmt {
        Format::Xml => matches!(c.kind, CloudKind::Azure | CloudKind::Gcp),
        // The GCP search JSON sample mirrors that with a repeated "list" key.
        Format::Json => c.kind == CloudKind::Gcp && !short && !as_sent,
    };
    if split_lists {
        // Azure and GCP XML responses wrap each QList in its own <list> (Q-COL-3).
        V::O(
            per_app
                .into_iter()
                .map(|item| ("list".to_string(), V::A(vec![item])))
                .collect(),
        )
    } else if short && ctx.fmt == Format::Json && per_app.len() == 1 {
        let mut per_app = per_app;
        V::obj(vec![("list", per_app.remove(0))])
    } else {
        V::obj(vec![("list", V::A(per_app))])
    }
}

fn activation(c: &Connector, ctx: &ViewCtx<'_>) -> V {
    let mut modules: Vec<String> = c.activation.iter().filter(|m| *m != "CLOUDVIEW").cloned().collect();
    modules.sort();
    if c.has_cloudview_app() || c.activation.iter().any(|m| m == "CLOUDVIEW") {
        modules.insert(0, "CLOUDVIEW".into());
    }
    let list = V::obj(vec![(
        "ActivationModule",
        V::A(modules.into_iter().map(V::S).collect()),
    )]);
    match ctx.fmt {
        // JSON responses have no `list` level here (Q-COL-1).
        Format::Json => list,
        Format::Xml => V::obj(vec![("list", list)]),
    }
}

pub fn scan_config(cfg: &ScanConfig) -> Vec<(&'static str, V)> {
    let mut e = Vec::new();
    if let Some(v) = &cfg.scan_prefix {
        e.push(("scanPrefix", V::s(v)));
    }
    if let Some(v) = cfg.option_profile_id {
        e.push(("optionProfileId", V::n(v)));
    }
    if let Some(v) = &cfg.recurrence {
        e.push(("recurrence", V::s(v)));
    }
    if let Some(v) = &cfg.start_date {
        e.push(("startDate", V::s(v)));
    }
    if let Some(v) = &cfg.start_time {
        e.push(("startTime", V::s(v)));
    }
    if !cfg.days_of_week.is_empty() {
        let days = V::A(cfg.days_of_week.iter().cloned().map(V::S).collect());
        e.push(("daysOfWeek", V::obj(vec![("list", V::obj(vec![("Day", days)]))])));
    }
    if let Some(v) = &cfg.timezone {
        e.push(("timezone", V::s(v)));
    }
    e
}

fn auth_record(c: &Connector, ctx: &ViewCtx<'_>, mode: Mode) -> Option<V> {
    let get = |k: &str| c.auth_record.get(k).map(V::s);
    let mut e: Vec<(&str, V)> = Vec::new();
    let mut push = |k: &'static str, v: Option<V>| {
        if let Some(v) = v {
            e.push((k, v));
        }
    };
    match (c.kind, mode) {
        (CloudKind::Aws, _) => return None,
        // Azure create answers `<authRecord/>` (Q-SEM-9).
        (CloudKind::Azure, Mode::Created) => {}
        (CloudKind::Azure, _) => {
            let key = c
                .auth_record
                .get("authenticationKey")
                .and_then(|k| secret(ctx.cfg.secret_echo, k));
            push("authenticationKey", key);
            push("applicationId", get("applicationId"));
            push("directoryId", get("directoryId"));
            push("subscriptionId", get("subscriptionId"));
        }
        (CloudKind::Gcp, _) => push("projectId", get("projectId")),
        (CloudKind::Oci, Mode::Created | Mode::Updated) => push("tenantId", get("tenantId")),
        (CloudKind::Oci, _) => {
            push("tenantId", get("tenantId"));
            push("userId", get("userId"));
            push("fingerprint", get("fingerprint"));
            let key = c
                .auth_record
                .get("privateKey")
                .and_then(|k| secret(ctx.cfg.secret_echo, k));
            push("privateKey", key);
        }
    }
    Some(V::obj(e))
}

/// The OCI create/update short form [001:6171-6211] [001:6272-6324].
fn oci_short(c: &Connector, ctx: &ViewCtx<'_>, mode: Mode) -> V {
    let mut e = vec![("id", id_value(c, ctx, mode)), ("name", V::s(&c.name))];
    if let Some(d) = &c.description {
        e.push(("description", V::s(d)));
    }
    if let Some(t) = c.sync.last_sync {
        e.push(("lastSync", V::s(clock::qps_time(t))));
    }
    if mode == Mode::Created {
        e.push(("tags", V::A(Vec::new())));
    }
    e.push(("disabled", V::B(c.disabled)));
    e.push(("isDeleted", V::B(false)));
    if !c.apps.is_empty() {
        e.push(("connectorAppInfos", apps(c, ctx, true, true)));
    }
    if let Some(a) = auth_record(c, ctx, mode) {
        e.push(("authRecord", a));
    }
    V::obj(e)
}

pub fn connector(c: &Connector, ctx: &ViewCtx<'_>, mode: Mode) -> V {
    if c.kind == CloudKind::Oci && matches!(mode, Mode::Created | Mode::Updated) {
        return oci_short(c, ctx, mode);
    }
    let aws = c.kind == CloudKind::Aws;
    let state = match mode {
        Mode::Created | Mode::Queued if !c.disabled => "QUEUED",
        _ => c.state(ctx.now, ctx.step_ms),
    };
    let mut e: Vec<(&str, V)> = vec![("id", id_value(c, ctx, mode)), ("name", V::s(&c.name))];
    if aws {
        e.push(("awsAccountId", V::s(c.aws_account_id())));
    }
    if let Some(d) = &c.description {
        e.push(("description", V::s(d)));
    }
    if let Some(t) = c.sync.last_sync {
        e.push(("lastSync", V::s(clock::qps_time(t))));
    }
    if let Some(err) = &c.sync.last_error {
        e.push(("lastError", V::s(err)));
    }
    if !c.disabled
        && let Some(t) = c.sync.next_sync(ctx.step_ms, c.period_ms())
    {
        e.push(("nextSync", V::s(clock::qps_time(t))));
    }
    e.push(("connectorState", V::s(state)));
    e.push(("type", V::s(c.kind.type_name())));
    let azure_create = c.kind == CloudKind::Azure && mode == Mode::Created;
    if !c.default_tags.is_empty() && !azure_create {
        let tags = c
            .default_tags
            .iter()
            .map(|t| V::obj(vec![("id", V::n(*t)), ("name", V::s(ctx.tenant.tag_name(*t)))]))
            .collect();
        e.push(("defaultTags", V::obj(vec![("list", V::typed_list("TagSimple", tags))])));
    }
    let has_activation = !c.activation.is_empty() || c.has_cloudview_app();
    if has_activation && !azure_create {
        e.push(("activation", activation(c, ctx)));
    }
    e.push(("disabled", V::B(c.disabled)));
    e.push(("isGovCloudConfigured", V::B(c.gov_cloud())));
    if aws {
        e.push(("isChinaConfigured", V::B(c.aws_partition() == "china")));
    }
    e.push(("runFrequency", V::n(c.run_frequency)));
    e.push(("isRemediationEnabled", V::B(c.is_remediation_enabled)));
    if mode != Mode::Created {
        e.push(("isDeleted", V::B(false)));
    }
    if let Some(cps) = c.is_cps_enabled {
        e.push(("isCPSEnabled", V::B(cps)));
    }
    if let Some(custom) = c.custom_scan_config_enabled {
        e.push((
            "connectorScanSetting",
            V::obj(vec![("isCustomScanConfigEnabled", V::B(custom))]),
        ));
    }
    if let Some(cfg) = &c.scan_config {
        let item = V::obj(scan_config(cfg));
        e.push((
            "connectorScanConfig",
            V::obj(vec![("list", V::typed_list("ConnectorScanConfiguration", vec![item]))]),
        ));
    }
    if !c.apps.is_empty() {
        e.push(("connectorAppInfos", apps(c, ctx, false, mode == Mode::Created)));
    }
    if let Some(uuid) = &c.cloudview_uuid {
        e.push(("cloudviewUuid", V::s(uuid)));
    }
    if aws {
        if let Some(arn) = &c.arn {
            e.push(("arn", V::s(arn)));
        }
        if let Some(x) = &c.external_id {
            e.push(("externalId", V::s(x)));
        }
        let base = &ctx.cfg.aws_base_accounts;
        let qualys_account = match c.aws_partition() {
            "gov" => &base.gov,
            "china" => &base.china,
            _ => &base.global,
        };
        e.push(("qualysAwsAccountId", V::s(qualys_account)));
        // The regions are stored, but no documented answer lists them: with
        // `allRegions: false` every sample leaves `endpoints` out (Q-COL-8).
        e.push(("allRegions", V::B(c.all_regions.unwrap_or(true))));
    }
    if let Some(a) = auth_record(c, ctx, mode) {
        e.push(("authRecord", a));
    }
    if c.kind == CloudKind::Azure {
        if let Some(sub) = c.auth_record.get("subscriptionId") {
            let short: String = sub.chars().take(8).collect();
            e.push(("subscriptionName", V::s(format!("subscription-{short}"))));
        }
        e.push(("isAttachedToOrgConnector", V::B(c.org_connector_id.is_some())));
    }
    if c.kind == CloudKind::Oci {
        if let Some(r) = &c.home_region {
            e.push(("homeRegion", V::s(r)));
        }
        e.push(("isSnapshotAssessmentEnabled", V::B(false)));
    }
    if c.kind != CloudKind::Gcp && mode != Mode::Created {
        e.push(("isInstantAssessmentEnabled", V::B(false)));
    }
    V::obj(e)
}

/// Keeps only the fields named by `?fields=` (first path segment; `*` keeps all).
pub fn select_fields(v: V, fields: &[String]) -> V {
    if fields.is_empty() || fields.iter().any(|f| f == "*") {
        return v;
    }
    match v {
        V::O(entries) => V::O(
            entries
                .into_iter()
                .filter(|(k, _)| k == "id" || fields.iter().any(|f| f.split('.').next() == Some(k.as_str())))
                .collect(),
        ),
        other => other,
    }
}
