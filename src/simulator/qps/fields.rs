//! Applying a request object (create or partial update) to a stored connector:
//! scalar fields, QList collections (`set`/`add`/`remove`/`update`, or the bare form),
//! the many `connectorAppInfos` spellings, `authRecord` merges and validation.

use super::codec::QpsError;
use super::tree::Node;
use crate::simulator::state::{AppInfo, CloudKind, Connector, ScanConfig};

pub const MODULES: [&str; 5] = ["VM", "PC", "SCA", "CERTVIEW", "CLOUDVIEW"];
pub const APPS: [&str; 3] = ["AI", "CI", "CSA"];
pub const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// The last value given for a scalar field (the OCI sample even sends
/// `"isRemediationEnabled": [false, true]`).
pub fn scalar<'a>(node: &'a Node, key: &str) -> Result<Option<&'a str>, QpsError> {
    match node.all(key).last() {
        None => Ok(None),
        Some(v) => v
            .text()
            .map(Some)
            .ok_or_else(|| QpsError::invalid(format!("{key} must be a value, not an element list"))),
    }
}

pub fn parse_bool(value: &str, key: &str) -> Result<bool, QpsError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(QpsError::invalid(format!("{key} must be true or false, got {value:?}"))),
    }
}

/// Integers must be bare digits: QPS refuses `<id>\n34234\n</id>` (Q-ENV-11).
pub fn parse_u64(value: &str, key: &str) -> Result<u64, QpsError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(QpsError::invalid(format!(
            "{key} must be an integer without spaces, got {value:?}"
        )));
    }
    value
        .parse()
        .map_err(|_| QpsError::invalid(format!("{key} is out of range: {value}")))
}

fn opt_bool(node: &Node, key: &str) -> Result<Option<bool>, QpsError> {
    scalar(node, key)?.map(|v| parse_bool(v, key)).transpose()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListOp {
    Set,
    Add,
    Remove,
    Update,
}

/// The operations of a QList container. A container without `set`/`add`/`remove`/`update`
/// holds its items directly (the CPS sample's `<activation><ActivationModule>…`) and is a set.
pub fn list_ops(container: &Node) -> Vec<(ListOp, &Node)> {
    let mut ops = Vec::new();
    for (key, value) in container.entries() {
        let op = match key.to_ascii_lowercase().as_str() {
            "set" | "list" => ListOp::Set,
            "add" => ListOp::Add,
            "remove" => ListOp::Remove,
            "update" => ListOp::Update,
            _ => continue,
        };
        ops.push((op, value));
    }
    if ops.is_empty() {
        ops.push((ListOp::Set, container));
    }
    ops
}

/// Applies QList operations on a list of keys.
fn apply_keys<T: PartialEq + Clone>(
    current: &mut Vec<T>,
    container: &Node,
    item: &str,
    parse: impl Fn(&Node) -> Result<T, QpsError>,
) -> Result<(), QpsError> {
    for (op, node) in list_ops(container) {
        let items = node.all(item).map(&parse).collect::<Result<Vec<T>, QpsError>>()?;
        match op {
            ListOp::Set => *current = dedup(items),
            ListOp::Add | ListOp::Update => {
                for i in items {
                    if !current.contains(&i) && op == ListOp::Add {
                        current.push(i);
                    }
                }
            }
            ListOp::Remove => current.retain(|c| !items.contains(c)),
        }
    }
    Ok(())
}

fn dedup<T: PartialEq>(items: Vec<T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(items.len());
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

fn tag_id(node: &Node) -> Result<u64, QpsError> {
    let id = match node.text() {
        Some(text) => text,
        None => scalar(node, "id")?.ok_or_else(|| QpsError::invalid("TagSimple needs an id"))?,
    };
    parse_u64(id, "TagSimple.id")
}

fn module(node: &Node) -> Result<String, QpsError> {
    let value = node.text().unwrap_or_default().trim().to_ascii_uppercase();
    if MODULES.contains(&value.as_str()) {
        Ok(value)
    } else {
        Err(QpsError::invalid(format!(
            "unknown ActivationModule {value:?}; expected one of {}",
            MODULES.join(", ")
        )))
    }
}

fn region(node: &Node) -> Result<String, QpsError> {
    let code = match node.text() {
        Some(text) => text,
        None => scalar(node, "regionCode")?.unwrap_or_default(),
    };
    if code.trim().is_empty() {
        return Err(QpsError::invalid("AwsEndpointSimple needs a regionCode"));
    }
    Ok(code.trim().to_string())
}

fn app(node: &Node) -> Result<AppInfo, QpsError> {
    let name = scalar(node, "name")?.unwrap_or_default().trim().to_ascii_uppercase();
    if !APPS.contains(&name.as_str()) {
        return Err(QpsError::invalid(format!(
            "unknown ConnectorAppInfo name {name:?}; expected AI, CI or CSA"
        )));
    }
    let identifier = scalar(node, "identifier")?
        .map(str::to_string)
        .filter(|s| !s.is_empty());
    let tag_id = match scalar(node, "tagId")? {
        Some("") | None => None,
        Some(v) => Some(parse_u64(v, "tagId")?),
    };
    Ok(AppInfo {
        name,
        identifier,
        tag_id,
    })
}

fn apply_apps(current: &mut Vec<AppInfo>, container: &Node) -> Result<(), QpsError> {
    for (op, node) in list_ops(container) {
        // However the lists are nested (one QList per app, one QList with many apps, several
        // `set`s in one QList, arrays at every level), the apps are the ConnectorAppInfo leaves.
        let mut leaves = Vec::new();
        node.descendants("ConnectorAppInfo", &mut leaves);
        let apps = leaves.into_iter().map(app).collect::<Result<Vec<_>, _>>()?;
        match op {
            ListOp::Set => {
                current.clear();
                for a in apps {
                    upsert_app(current, a);
                }
            }
            ListOp::Add | ListOp::Update => {
                for a in apps {
                    if op == ListOp::Add || current.iter().any(|c| c.name == a.name) {
                        upsert_app(current, a);
                    }
                }
            }
            ListOp::Remove => current.retain(|c| !apps.iter().any(|a| a.name == c.name)),
        }
    }
    Ok(())
}

fn upsert_app(current: &mut Vec<AppInfo>, app: AppInfo) {
    match current.iter_mut().find(|c| c.name == app.name) {
        Some(existing) => *existing = app,
        None => current.push(app),
    }
}

fn auth_keys(kind: CloudKind) -> &'static [&'static str] {
    match kind {
        CloudKind::Aws => &[],
        CloudKind::Azure => &["applicationId", "directoryId", "subscriptionId", "authenticationKey"],
        CloudKind::Gcp => &[
            "projectId",
            "auth_provider_x509_cert_url",
            "auth_uri",
            "client_email",
            "client_id",
            "client_x509_cert_url",
            "private_key",
            "private_key_id",
            "token_uri",
            "type",
        ],
        CloudKind::Oci => &["tenantId", "userId", "fingerprint", "privateKey", "passphrase"],
    }
}

fn required_auth(kind: CloudKind) -> &'static [&'static str] {
    match kind {
        CloudKind::Aws => &[],
        CloudKind::Azure => &["applicationId", "directoryId", "subscriptionId", "authenticationKey"],
        CloudKind::Gcp => &["projectId", "client_email", "private_key"],
        CloudKind::Oci => &["tenantId", "userId", "fingerprint", "privateKey"],
    }
}

/// Parses (partially) a CPS schedule, on top of `base`.
pub fn scan_config(node: &Node, base: Option<ScanConfig>) -> Result<ScanConfig, QpsError> {
    let mut cfg = base.unwrap_or_default();
    if let Some(v) = scalar(node, "scanPrefix")? {
        cfg.scan_prefix = Some(v.to_string());
    }
    if let Some(v) = scalar(node, "optionProfileId")? {
        cfg.option_profile_id = Some(parse_u64(v, "optionProfileId")?);
    }
    if let Some(v) = scalar(node, "recurrence")? {
        let v = v.trim().to_ascii_uppercase();
        if v != "DAILY" && v != "WEEKLY" {
            return Err(QpsError::invalid(format!(
                "recurrence must be DAILY or WEEKLY, got {v:?}"
            )));
        }
        cfg.recurrence = Some(v);
    }
    if let Some(v) = scalar(node, "startDate")? {
        // Documented mm/dd/yyyy, samples also dd/mm/yyyy (Q-DATE-1): accept both, keep verbatim.
        let parts: Vec<&str> = v.split('/').collect();
        let ok = parts.len() == 3
            && parts[0].len() == 2
            && parts[1].len() == 2
            && parts[2].len() == 4
            && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()));
        if !ok {
            return Err(QpsError::invalid(format!("startDate must be mm/dd/yyyy, got {v:?}")));
        }
        cfg.start_date = Some(v.to_string());
    }
    if let Some(v) = scalar(node, "startTime")? {
        let ok = v.len() == 5
            && v.as_bytes()[2] == b':'
            && v[..2].parse::<u8>().is_ok_and(|h| h < 24)
            && v[3..].parse::<u8>().is_ok_and(|m| m < 60);
        if !ok {
            return Err(QpsError::invalid(format!("startTime must be HH:MM (24 h), got {v:?}")));
        }
        cfg.start_time = Some(v.to_string());
    }
    if let Some(v) = scalar(node, "timezone")? {
        if v.trim().is_empty() {
            return Err(QpsError::invalid("timezone must not be empty"));
        }
        cfg.timezone = Some(v.to_string());
    }
    if let Some(days) = node.get("daysOfWeek") {
        apply_keys(&mut cfg.days_of_week, days, "Day", |n| {
            let day = n.text().unwrap_or_default().trim().to_ascii_uppercase();
            if DAYS.contains(&day.as_str()) {
                Ok(day)
            } else {
                Err(QpsError::invalid(format!("unknown Day {day:?}")))
            }
        })?;
    }
    Ok(cfg)
}

/// Checks a complete schedule (global scan configuration create).
pub fn require_complete_schedule(cfg: &ScanConfig) -> Result<(), QpsError> {
    let missing: Vec<&str> = [
        ("scanPrefix", cfg.scan_prefix.is_none()),
        ("optionProfileId", cfg.option_profile_id.is_none()),
        ("recurrence", cfg.recurrence.is_none()),
        ("startDate", cfg.start_date.is_none()),
        ("startTime", cfg.start_time.is_none()),
        ("timezone", cfg.timezone.is_none()),
        (
            "daysOfWeek",
            cfg.recurrence.as_deref() == Some("WEEKLY") && cfg.days_of_week.is_empty(),
        ),
    ]
    .into_iter()
    .filter(|(_, missing)| *missing)
    .map(|(k, _)| k)
    .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(QpsError::invalid(format!(
            "missing required field(s): {}",
            missing.join(", ")
        )))
    }
}

/// Applies the writable fields of `node` to `c`. Read-only fields (`id`, `type`,
/// `connectorState`, `isDeleted`, …) are ignored, as the samples send them (Q-SEM-8).
pub fn apply(c: &mut Connector, node: &Node) -> Result<(), QpsError> {
    if let Some(v) = scalar(node, "name")? {
        if v.trim().is_empty() {
            return Err(QpsError::invalid("name must not be empty"));
        }
        c.name = v.to_string();
    }
    if let Some(v) = scalar(node, "description")? {
        c.description = Some(v.to_string());
    }
    if let Some(v) = opt_bool(node, "disabled")? {
        c.disabled = v;
    }
    if let Some(v) = scalar(node, "runFrequency")? {
        let minutes = parse_u64(v, "runFrequency")?;
        if minutes == 0 {
            return Err(QpsError::invalid("runFrequency must be a positive number of minutes"));
        }
        c.run_frequency = minutes;
    }
    if let Some(v) = opt_bool(node, "isRemediationEnabled")? {
        c.is_remediation_enabled = v;
    }
    if let Some(v) = opt_bool(node, "isGovCloudConfigured")? {
        c.is_gov_cloud_configured = v;
    }
    if let Some(v) = opt_bool(node, "isCPSEnabled")? {
        c.is_cps_enabled = Some(v);
    }
    if let Some(setting) = node.get("connectorScanSetting")
        && let Some(v) = opt_bool(setting, "isCustomScanConfigEnabled")?
    {
        c.custom_scan_config_enabled = Some(v);
    }
    if let Some(container) = node.get("connectorScanConfig") {
        for (op, ops_node) in list_ops(container) {
            let mut configs = Vec::new();
            ops_node.descendants("ConnectorScanConfiguration", &mut configs);
            match (op, configs.first()) {
                (ListOp::Remove, _) => c.scan_config = None,
                (_, Some(cfg)) => c.scan_config = Some(scan_config(cfg, c.scan_config.clone())?),
                (_, None) => {}
            }
        }
    }
    if let Some(container) = node.get("defaultTags") {
        apply_keys(&mut c.default_tags, container, "TagSimple", tag_id)?;
    }
    if let Some(container) = node.get("activation") {
        apply_keys(&mut c.activation, container, "ActivationModule", module)?;
    }
    let apps = node.get("connectorAppInfos").or_else(|| node.get("connectorApplInfos"));
    if let Some(container) = apps {
        apply_apps(&mut c.apps, container)?;
    }
    if c.kind == CloudKind::Aws {
        if let Some(v) = scalar(node, "arn")? {
            if !v.starts_with("arn:") {
                return Err(QpsError::invalid(format!("arn must be an AWS role ARN, got {v:?}")));
            }
            c.arn = Some(v.to_string());
        }
        if let Some(v) = scalar(node, "externalId")? {
            c.external_id = Some(v.to_string());
        }
        if let Some(v) = opt_bool(node, "allRegions")? {
            c.all_regions = Some(v);
        }
        if let Some(container) = node.get("endpoints") {
            apply_keys(&mut c.endpoints, container, "AwsEndpointSimple", region)?;
        }
    } else if let Some(v) = opt_bool(node, "allRegions")? {
        c.all_regions = Some(v);
    }
    if c.kind == CloudKind::Oci
        && let Some(v) = scalar(node, "homeRegion")?
    {
        c.home_region = Some(v.to_string());
    }
    if let Some(auth) = node.get("authRecord") {
        for key in auth_keys(c.kind) {
            match scalar(auth, key)? {
                // An update may leave out (or blank) a secret that does not change.
                Some(v) if !v.is_empty() => {
                    c.auth_record.insert((*key).to_string(), v.to_string());
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// What a connector must have after create (and keep after update).
pub fn validate(c: &mut Connector) -> Result<(), QpsError> {
    let mut missing = Vec::new();
    if c.name.trim().is_empty() {
        missing.push("name".to_string());
    }
    if c.kind == CloudKind::Aws && c.arn.is_none() {
        missing.push("arn".to_string());
    }
    if c.kind == CloudKind::Oci && c.home_region.is_none() {
        missing.push("homeRegion".to_string());
    }
    for key in required_auth(c.kind) {
        if !c.auth_record.contains_key(*key) {
            missing.push(format!("authRecord.{key}"));
        }
    }
    if !missing.is_empty() {
        return Err(QpsError::invalid(format!(
            "missing required field(s): {}",
            missing.join(", ")
        )));
    }
    let natural = match c.kind {
        CloudKind::Aws => c.arn.clone(),
        CloudKind::Azure => c.auth_record.get("subscriptionId").cloned(),
        CloudKind::Gcp => c.auth_record.get("projectId").cloned(),
        CloudKind::Oci => c.auth_record.get("tenantId").cloned(),
    };
    for a in &mut c.apps {
        if a.identifier.is_none() {
            a.identifier.clone_from(&natural);
        }
    }
    if c.has_cloudview_app() && c.cloudview_uuid.is_none() {
        c.cloudview_uuid = Some(uuid::Uuid::new_v4().to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::qps::tree::parse_json;

    fn node(json: &str) -> Node {
        parse_json(json).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn every_app_list_spelling_flattens_to_the_same_apps() {
        let forms = [
            r#"{"connectorAppInfos": {"set": {"ConnectorAppInfoQList": [{"set": {"ConnectorAppInfo": {"name": "AI", "identifier": "x", "tagId": 1}}}, {"set": {"ConnectorAppInfo": {"name": "CI", "identifier": "x", "tagId": 1}}}]}}}"#,
            r#"{"connectorAppInfos": {"set": {"ConnectorAppInfoQLList": {"set": {"ConnectorAppInfo": [{"name": "AI", "identifier": "x", "tagId": "1"}, {"name": "CI", "identifier": "x", "tagId": 1}]}}}}}"#,
            r#"{"connectorAppInfos": {"set": [{"ConnectorAppInfoQLList": [{"set": [{"ConnectorAppInfo": [{"name": "AI", "identifier": "x", "tagId": 1}]}]}, {"set": [{"ConnectorAppInfo": [{"name": "CI", "identifier": "x", "tagId": 1}]}]}]}]}}"#,
        ];
        for form in forms {
            let mut c = Connector::new(1, CloudKind::Gcp, 0);
            apply(&mut c, &node(form)).unwrap_or_else(|e| panic!("{e}"));
            let names: Vec<&str> = c.apps.iter().map(|a| a.name.as_str()).collect();
            assert_eq!(names, ["AI", "CI"], "{form}");
            assert_eq!(c.apps[0].tag_id, Some(1));
        }
    }

    #[test]
    fn qlist_add_and_remove() {
        let mut c = Connector::new(1, CloudKind::Aws, 0);
        apply(
            &mut c,
            &node(r#"{"activation": {"set": {"ActivationModule": ["VM", "SCA"]}}}"#),
        )
        .ok();
        apply(
            &mut c,
            &node(r#"{"activation": {"add": {"ActivationModule": "PC"}, "remove": {"ActivationModule": "VM"}}}"#),
        )
        .ok();
        assert_eq!(c.activation, ["SCA", "PC"]);
        assert!(apply(&mut c, &node(r#"{"activation": {"set": {"ActivationModule": "XX"}}}"#)).is_err());
        assert!(apply(&mut c, &node(r#"{"runFrequency": " 240"}"#)).is_err());
    }
}
