//! `Criteria` evaluation: the searchable fields of each connector type, with the
//! operators the docs allow per data type (README §7).

use super::codec::{Criterion, Operator, QpsError};
use crate::simulator::clock::{self, Millis};
use crate::simulator::state::{CloudKind, Connector, Tenant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Int,
    Text,
    Date,
    Keyword,
    Bool,
}

impl Ty {
    fn allows(self, op: Operator) -> bool {
        use Operator::*;
        match self {
            Ty::Int => matches!(op, Equals | NotEquals | Greater | Lesser | In),
            Ty::Text => matches!(op, Contains | Equals | NotEquals),
            Ty::Date => matches!(op, Equals | NotEquals | Greater | Lesser),
            Ty::Keyword => matches!(op, Equals | NotEquals | In),
            Ty::Bool => matches!(op, Equals | NotEquals),
        }
    }
}

fn field_values(c: &Connector, tenant: &Tenant, field: &str, now: Millis, step: i64) -> Option<(Ty, Vec<String>)> {
    let one = |v: Option<String>| v.into_iter().collect::<Vec<_>>();
    let auth = |k: &str| one(c.auth_record.get(k).cloned());
    let f = field.to_ascii_lowercase();
    let aws = c.kind == CloudKind::Aws;
    let v = match f.as_str() {
        "id" => (Ty::Int, vec![c.id.to_string()]),
        "name" => (Ty::Text, vec![c.name.clone()]),
        "description" => (Ty::Text, one(c.description.clone())),
        "type" => (Ty::Keyword, vec![c.kind.type_name().to_string()]),
        "connectorstate" => (Ty::Keyword, vec![c.state(now, step).to_string()]),
        "lastsync" => (Ty::Date, one(c.sync.last_sync.map(clock::qps_time))),
        "nextsync" => (
            Ty::Date,
            one(c.sync.next_sync(step, c.period_ms()).map(clock::qps_time)),
        ),
        "lasterror" => (Ty::Text, one(c.sync.last_error.clone())),
        "activation" => {
            let mut modules = c.activation.clone();
            if c.has_cloudview_app() && !modules.iter().any(|m| m == "CLOUDVIEW") {
                modules.push("CLOUDVIEW".into());
            }
            (Ty::Keyword, modules)
        }
        "defaulttags.name" | "tagname" => (Ty::Text, c.default_tags.iter().map(|t| tenant.tag_name(*t)).collect()),
        "defaulttag" | "defaulttags" | "defaulttags.id" => {
            (Ty::Int, c.default_tags.iter().map(u64::to_string).collect())
        }
        "allregions" => (Ty::Bool, one(c.all_regions.map(|b| b.to_string()))),
        "endpoint.region" if aws => (Ty::Keyword, c.endpoints.clone()),
        "disabled" => (Ty::Bool, vec![c.disabled.to_string()]),
        "isremediationenabled" => (Ty::Bool, vec![c.is_remediation_enabled.to_string()]),
        "isgovcloudconfigured" => (Ty::Bool, vec![c.gov_cloud().to_string()]),
        "iscpsenabled" => (Ty::Bool, vec![c.is_cps_enabled.unwrap_or(false).to_string()]),
        "isdeleted" => (Ty::Bool, vec!["false".into()]),
        "runfrequency" => (Ty::Int, vec![c.run_frequency.to_string()]),
        "appcapability.name" => (Ty::Keyword, c.apps.iter().map(|a| a.name.clone()).collect()),
        "appcapability.tag.name" => (
            Ty::Text,
            c.apps
                .iter()
                .filter_map(|a| a.tag_id)
                .map(|t| tenant.tag_name(t))
                .collect(),
        ),
        "cloudviewuuid" => (Ty::Text, one(c.cloudview_uuid.clone())),
        "awsaccountid" if aws => (Ty::Text, vec![c.aws_account_id()]),
        "arn" if aws => (Ty::Text, one(c.arn.clone())),
        "externalid" if aws => (Ty::Text, one(c.external_id.clone())),
        "homeregion" if c.kind == CloudKind::Oci => (Ty::Text, one(c.home_region.clone())),
        "authrecord.applicationid" if c.kind == CloudKind::Azure => (Ty::Text, auth("applicationId")),
        "authrecord.directoryid" if c.kind == CloudKind::Azure => (Ty::Text, auth("directoryId")),
        "authrecord.subscriptionid" if c.kind == CloudKind::Azure => (Ty::Text, auth("subscriptionId")),
        "authrecord.projectid" if c.kind == CloudKind::Gcp => (Ty::Text, auth("projectId")),
        "authrecord.tenantid" if c.kind == CloudKind::Oci => (Ty::Text, auth("tenantId")),
        "authrecord.userid" if c.kind == CloudKind::Oci => (Ty::Text, auth("userId")),
        _ => return None,
    };
    Some(v)
}

fn equal(ty: Ty, have: &str, want: &str) -> Result<bool, QpsError> {
    Ok(match ty {
        Ty::Int => match (have.parse::<i128>(), want.trim().parse::<i128>()) {
            (Ok(a), Ok(b)) => a == b,
            (_, Err(_)) => return Err(QpsError::invalid(format!("{want:?} is not an integer"))),
            _ => false,
        },
        Ty::Date => {
            let want = clock::parse_time(want).ok_or_else(|| QpsError::invalid(format!("{want:?} is not a date")))?;
            clock::parse_time(have) == Some(want)
        }
        Ty::Keyword | Ty::Bool => have.eq_ignore_ascii_case(want.trim()),
        Ty::Text => have == want,
    })
}

fn order(ty: Ty, have: &str, want: &str) -> Result<Option<std::cmp::Ordering>, QpsError> {
    match ty {
        Ty::Int => {
            let w = want
                .trim()
                .parse::<i128>()
                .map_err(|_| QpsError::invalid(format!("{want:?} is not an integer")))?;
            Ok(have.parse::<i128>().ok().map(|h| h.cmp(&w)))
        }
        Ty::Date => {
            let w = clock::parse_time(want).ok_or_else(|| QpsError::invalid(format!("{want:?} is not a date")))?;
            Ok(clock::parse_time(have).map(|h| h.cmp(&w)))
        }
        _ => Ok(None),
    }
}

/// Whether `c` matches one criterion; unknown fields and operators the field's type does
/// not allow are request errors, as Qualys would refuse them.
pub fn matches(c: &Connector, tenant: &Tenant, crit: &Criterion, now: Millis, step: i64) -> Result<bool, QpsError> {
    let (ty, values) = field_values(c, tenant, &crit.field, now, step).ok_or_else(|| {
        QpsError::invalid(format!(
            "{} is not a searchable field of {}",
            crit.field,
            c.kind.element()
        ))
    })?;
    if !ty.allows(crit.operator) {
        return Err(QpsError::invalid(format!(
            "operator {:?} is not supported on field {}",
            crit.operator, crit.field
        )));
    }
    let any = |pred: &dyn Fn(&str) -> Result<bool, QpsError>| -> Result<bool, QpsError> {
        for v in &values {
            if pred(v)? {
                return Ok(true);
            }
        }
        Ok(false)
    };
    match crit.operator {
        Operator::Equals => any(&|v| equal(ty, v, &crit.value)),
        Operator::NotEquals => any(&|v| equal(ty, v, &crit.value)).map(|m| !m),
        Operator::Contains => {
            let needle = crit.value.to_lowercase();
            any(&|v| Ok(v.to_lowercase().contains(&needle)))
        }
        Operator::In => {
            let wanted: Vec<&str> = crit.value.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
            any(&|v| {
                for w in &wanted {
                    if equal(ty, v, w)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            })
        }
        Operator::Greater => any(&|v| Ok(order(ty, v, &crit.value)? == Some(std::cmp::Ordering::Greater))),
        Operator::Lesser => any(&|v| Ok(order(ty, v, &crit.value)? == Some(std::cmp::Ordering::Less))),
    }
}

pub fn matches_all(
    c: &Connector,
    tenant: &Tenant,
    criteria: &[Criterion],
    now: Millis,
    step: i64,
) -> Result<bool, QpsError> {
    for crit in criteria {
        if !matches(c, tenant, crit, now, step)? {
            return Ok(false);
        }
    }
    Ok(true)
}
