//! The QPS endpoints around connectors: portal version, AWS base account, connector
//! errors and the global scan configuration.

use super::codec::{Envelope, Format, QpsError, ServiceRequest};
use super::fields;
use super::render::V;
use super::view;
use super::{Call, Env};
use crate::simulator::clock;
use crate::simulator::state::Tenant;

pub fn portal_version() -> Envelope {
    let mut env = Envelope::new("version.xsd");
    env.count = Some(1);
    let version = V::obj(vec![
        (
            "PortalApplication-VERSION",
            V::s("3.18.0.0-SIMULATOR (qualys-operator)"),
        ),
        ("WAS-VERSION", V::s("8.20.0.0")),
        ("FIM-VERSION", V::s("3.6.0")),
        ("VM-VERSION", V::s("2.0.0")),
        ("CERTVIEW-VERSION", V::s("2.11.0.0")),
        ("CM-VERSION", V::s("1.20.1")),
        ("MDS-VERSION", V::s("2.11.7.0")),
        ("CA-VERSION", V::s("2.9.1.0")),
        ("IOC-VERSION", V::s("1.1.0")),
        ("AV2-VERSION", V::s("0.1.0")),
        ("QUESTIONNAIRE-VERSION", V::s("2.14.0.4")),
        ("WAF-VERSION", V::s("2.7.0.0")),
    ]);
    env.data = Some(V::typed_list("Portal-Version", vec![version]));
    env
}

/// The base account's fields sit directly under `<data>` in XML and in a flat object in JSON.
pub fn aws_base_account(call: &Call<'_>, env: &Env<'_>, search: bool) -> Envelope {
    let base = &env.cfg.aws_base_accounts;
    let fields = V::obj(vec![
        ("globalAccountId", V::s(&base.global)),
        ("govAccountId", V::s(&base.gov)),
        ("chinaAccountId", V::s(&base.china)),
        ("customerGlobalAccount", V::B(false)),
        ("customerGovAccount", V::B(false)),
        ("customerChinaAccount", V::B(false)),
    ]);
    let mut out = Envelope::new("version.xsd");
    out.count = Some(1);
    if search {
        out.has_more = Some(false);
    }
    out.data = Some(match call.fmt {
        Format::Xml => fields,
        Format::Json => V::A(vec![fields]),
    });
    out
}

pub fn connector_errors(tenant: &Tenant, req: &ServiceRequest) -> Result<Envelope, QpsError> {
    let mut ids = Vec::new();
    for c in &req.criteria {
        if !c.field.eq_ignore_ascii_case("id") {
            return Err(QpsError::invalid(format!(
                "{} is not a searchable field of AssetDataConnectorErrors",
                c.field
            )));
        }
        for v in c.value.split(',') {
            ids.push(fields::parse_u64(v.trim(), "id")?);
        }
    }
    if ids.is_empty() {
        return Err(QpsError::invalid("a Criteria on the connector id is required"));
    }
    let mut errors = Vec::new();
    for id in ids {
        if tenant.out_of_scope.contains(&id) {
            continue;
        }
        if let Some(c) = tenant.connectors.get(&id) {
            errors.extend(c.errors.iter().rev().cloned());
        }
    }
    let offset = req.start_from_offset.unwrap_or(1) - 1;
    let limit = req.limit_results.unwrap_or(100);
    let page: Vec<_> = errors.iter().skip(offset).take(limit).collect();
    let mut env = Envelope::new("assetdataconnectorerrors.xsd");
    env.count = Some(page.len());
    if !page.is_empty() {
        env.has_more = Some(errors.len() > offset + page.len());
        let items = page
            .iter()
            .map(|e| {
                V::obj(vec![
                    ("errorMessage", V::s(&e.message)),
                    ("created", V::s(clock::qps_time(e.created))),
                ])
            })
            .collect();
        env.data = Some(V::typed_list("AssetDataConnectorErrors", items));
    }
    Ok(env)
}

const GSC: &str = "GlobalScanConfiguration";

fn gsc_envelope(cfg: Option<&crate::simulator::state::ScanConfig>, search: bool) -> Envelope {
    let mut env = Envelope::new("globalscanconfiguration.xsd");
    env.count = Some(usize::from(cfg.is_some()));
    if search {
        env.has_more = Some(false);
    }
    env.data = cfg.map(|c| V::typed_list(GSC, vec![V::obj(view::scan_config(c))]));
    env
}

/// The global scan configuration is a singleton per subscription (no id, no get, no
/// delete). Create when one exists, or update when none does, are refused so that a
/// client that skipped its search is caught.
pub fn global_scan(tenant: &mut Tenant, action: &str, req: &ServiceRequest) -> Result<Envelope, QpsError> {
    match action {
        "search" => Ok(gsc_envelope(tenant.global_scan.as_ref(), true)),
        "create" => {
            if tenant.global_scan.is_some() {
                return Err(QpsError::invalid(
                    "a global scan configuration already exists; use update",
                ));
            }
            let node = req
                .object(GSC)?
                .ok_or_else(|| QpsError::invalid("<GlobalScanConfiguration> is required"))?;
            let cfg = fields::scan_config(node, None)?;
            fields::require_complete_schedule(&cfg)?;
            tenant.global_scan = Some(cfg);
            Ok(gsc_envelope(tenant.global_scan.as_ref(), false))
        }
        "update" => {
            let current = tenant
                .global_scan
                .clone()
                .ok_or_else(|| QpsError::not_found("no global scan configuration exists"))?;
            let node = req
                .object(GSC)?
                .ok_or_else(|| QpsError::invalid("<GlobalScanConfiguration> is required"))?;
            let cfg = fields::scan_config(node, Some(current))?;
            fields::require_complete_schedule(&cfg)?;
            tenant.global_scan = Some(cfg);
            Ok(gsc_envelope(tenant.global_scan.as_ref(), false))
        }
        other => Err(QpsError::invalid(format!(
            "{other} is not supported on globalscanconfiguration"
        ))),
    }
}
