//! The six operations on `{aws,azure,gcp,oci}assetdataconnector`.

use super::codec::{Criterion, Envelope, Format, Operator, QpsError, ServiceRequest};
use super::fields;
use super::filter;
use super::render::V;
use super::view::{self, Mode, ViewCtx};
use super::{Call, Env};
use crate::simulator::state::{CloudKind, Connector, Phase, Tenant, World};

fn xsd(kind: CloudKind) -> &'static str {
    match kind {
        CloudKind::Aws => "awsassetdataconnector.xsd",
        CloudKind::Azure => "azureassetdataconnector.xsd",
        CloudKind::Gcp => "gcpassetdataconnector.xsd",
        CloudKind::Oci => "ociassetdataconnector.xsd",
    }
}

/// `data` in the shape the samples use: an array of typed items, except OCI JSON which
/// puts one object (or, for search, an array) under the type key (Q-ENV-4).
fn data(kind: CloudKind, fmt: Format, objects: Vec<V>, search: bool) -> Option<V> {
    if objects.is_empty() {
        return None;
    }
    if kind == CloudKind::Oci && fmt == Format::Json {
        let inner = if search || objects.len() > 1 {
            V::A(objects)
        } else {
            objects.into_iter().next().unwrap_or(V::O(Vec::new()))
        };
        return Some(V::O(vec![(kind.element().to_string(), inner)]));
    }
    Some(V::typed_list(kind.element(), objects))
}

fn envelope(kind: CloudKind, fmt: Format, objects: Vec<V>, search: bool) -> Envelope {
    let mut env = Envelope::new(xsd(kind));
    env.count = Some(objects.len());
    env.native_bools = kind == CloudKind::Oci;
    env.data = data(kind, fmt, objects, search);
    env
}

/// Refuses unknown fields and disallowed operators even when nothing would be compared.
fn check_criteria(kind: CloudKind, criteria: &[Criterion]) -> Result<(), QpsError> {
    let probe = Connector::new(0, kind, 0);
    let tenant = Tenant::default();
    for c in criteria {
        let mut probe_crit = c.clone();
        // Probe with a value valid for any type, so only field/operator errors surface.
        probe_crit.value = "0".into();
        if let Err(e) = filter::matches(&probe, &tenant, &probe_crit, 0, 0)
            && (e.message.contains("not a searchable field") || e.message.contains("not supported"))
        {
            return Err(e);
        }
    }
    Ok(())
}

fn visible(tenant: &Tenant, kind: CloudKind, id: u64) -> bool {
    tenant.connectors.get(&id).is_some_and(|c| c.kind == kind) && !tenant.out_of_scope.contains(&id)
}

fn not_found(kind: CloudKind, id: u64) -> QpsError {
    QpsError::not_found(format!("{} with id {id} was not found", kind.element()))
}

/// The connectors an update/delete/run acts on: the path id, else the body id, else
/// every match of the filters (Q-SEM-2, Q-SEM-7).
fn targets(
    tenant: &Tenant,
    kind: CloudKind,
    call: &Call<'_>,
    req: &ServiceRequest,
    env: &Env<'_>,
    forbid_not_equals: bool,
) -> Result<Vec<u64>, QpsError> {
    let body_id = match req.object(kind.element()).ok().flatten().and_then(|o| o.get_text("id")) {
        Some(id) if !id.is_empty() => Some(fields::parse_u64(id, "id")?),
        _ => None,
    };
    if let Some(id) = call.id.or(body_id) {
        return if visible(tenant, kind, id) {
            Ok(vec![id])
        } else {
            Err(not_found(kind, id))
        };
    }
    if req.criteria.is_empty() {
        return Err(QpsError::invalid(
            "an id in the URL or filters are required; an empty filter would act on every connector",
        ));
    }
    if forbid_not_equals && req.criteria.iter().any(|c| c.operator == Operator::NotEquals) {
        return Err(QpsError::invalid("NOT EQUALS is not supported for update and delete"));
    }
    check_criteria(kind, &req.criteria)?;
    let mut ids = Vec::new();
    for c in tenant.connectors.values() {
        if c.kind == kind
            && !tenant.out_of_scope.contains(&c.id)
            && filter::matches_all(c, tenant, &req.criteria, env.now, env.step_ms)?
        {
            ids.push(c.id);
        }
    }
    Ok(ids)
}

pub fn create(
    world: &mut World,
    tenant_name: &str,
    kind: CloudKind,
    req: &ServiceRequest,
    call: &Call<'_>,
    env: &Env<'_>,
) -> Result<Envelope, QpsError> {
    let object = req
        .object(kind.element())?
        .ok_or_else(|| QpsError::invalid(format!("<{}> is required", kind.element())))?;
    if world.tenant(tenant_name).licence_exhausted() {
        return Err(QpsError::licence());
    }
    let id = world.allocate_id();
    let mut c = Connector::new(id, kind, env.now);
    fields::apply(&mut c, object)?;
    fields::validate(&mut c)?;
    if !c.disabled {
        c.sync.start_run(env.now);
    }
    let tenant = world.tenant(tenant_name);
    tenant.connectors.insert(id, c);
    let c = &tenant.connectors[&id];
    let ctx = ViewCtx {
        fmt: call.fmt,
        now: env.now,
        step_ms: env.step_ms,
        cfg: env.cfg,
        tenant,
    };
    Ok(envelope(
        kind,
        call.fmt,
        vec![view::connector(c, &ctx, Mode::Created)],
        false,
    ))
}

pub fn update(
    tenant: &mut Tenant,
    kind: CloudKind,
    req: &ServiceRequest,
    call: &Call<'_>,
    env: &Env<'_>,
) -> Result<Envelope, QpsError> {
    let object = req
        .object(kind.element())?
        .ok_or_else(|| QpsError::invalid(format!("<{}> is required", kind.element())))?;
    let ids = targets(tenant, kind, call, req, env, true)?;
    // All or nothing: validate every change before storing any.
    let mut updated = Vec::new();
    for id in &ids {
        let Some(before) = tenant.connectors.get(id) else {
            continue;
        };
        let mut after = before.clone();
        fields::apply(&mut after, object)?;
        fields::validate(&mut after)?;
        if before.disabled && !after.disabled {
            after.sync.start_run(env.now);
        }
        updated.push(after);
    }
    for c in updated {
        tenant.connectors.insert(c.id, c);
    }
    let ctx = ViewCtx {
        fmt: call.fmt,
        now: env.now,
        step_ms: env.step_ms,
        cfg: env.cfg,
        tenant,
    };
    let objects = ids
        .iter()
        .filter_map(|id| tenant.connectors.get(id))
        .map(|c| {
            if kind == CloudKind::Oci {
                view::connector(c, &ctx, Mode::Updated)
            } else {
                view::id_only(c, &ctx)
            }
        })
        .collect();
    Ok(envelope(kind, call.fmt, objects, false))
}

pub fn delete(
    tenant: &mut Tenant,
    kind: CloudKind,
    req: &ServiceRequest,
    call: &Call<'_>,
    env: &Env<'_>,
) -> Result<Envelope, QpsError> {
    let ids = targets(tenant, kind, call, req, env, true)?;
    let removed: Vec<Connector> = ids.iter().filter_map(|id| tenant.connectors.remove(id)).collect();
    let ctx = ViewCtx {
        fmt: call.fmt,
        now: env.now,
        step_ms: env.step_ms,
        cfg: env.cfg,
        tenant,
    };
    let objects = removed.iter().map(|c| view::id_only(c, &ctx)).collect();
    Ok(envelope(kind, call.fmt, objects, false))
}

pub fn run(
    tenant: &mut Tenant,
    kind: CloudKind,
    req: &ServiceRequest,
    call: &Call<'_>,
    env: &Env<'_>,
) -> Result<Envelope, QpsError> {
    let ids = targets(tenant, kind, call, req, env, false)?;
    let enabled: Vec<u64> = ids
        .iter()
        .copied()
        .filter(|id| tenant.connectors.get(id).is_some_and(|c| !c.disabled))
        .collect();
    // Documented: one disabled connector → error; several, all disabled → error;
    // some disabled → only the enabled ones run [001:619-621].
    if enabled.is_empty() && !ids.is_empty() {
        let which = if ids.len() == 1 {
            "The connector is disabled"
        } else {
            "All selected connectors are disabled"
        };
        return Err(QpsError::invalid(format!("{which} and cannot be run")));
    }
    for id in &enabled {
        if let Some(c) = tenant.connectors.get_mut(id) {
            // A run already under way is not restarted; the request only confirms it.
            if matches!(
                c.sync.phase(env.now, env.step_ms),
                Phase::NeverRun | Phase::Finished { .. }
            ) {
                c.sync.start_run(env.now);
            }
        }
    }
    let ctx = ViewCtx {
        fmt: call.fmt,
        now: env.now,
        step_ms: env.step_ms,
        cfg: env.cfg,
        tenant,
    };
    let objects = enabled
        .iter()
        .filter_map(|id| tenant.connectors.get(id))
        .map(|c| {
            if kind == CloudKind::Oci {
                view::id_only(c, &ctx)
            } else {
                view::connector(c, &ctx, Mode::Queued)
            }
        })
        .collect();
    Ok(envelope(kind, call.fmt, objects, false))
}

pub fn search(
    tenant: &Tenant,
    kind: CloudKind,
    req: &ServiceRequest,
    call: &Call<'_>,
    env: &Env<'_>,
) -> Result<Envelope, QpsError> {
    check_criteria(kind, &req.criteria)?;
    let mut matching = Vec::new();
    for c in tenant.connectors.values() {
        if c.kind != kind || tenant.out_of_scope.contains(&c.id) {
            continue;
        }
        if req.start_from_id.is_some_and(|start| c.id < start) {
            continue;
        }
        if filter::matches_all(c, tenant, &req.criteria, env.now, env.step_ms)? {
            matching.push(c);
        }
    }
    let offset = req.start_from_offset.unwrap_or(1) - 1;
    let limit = req.limit_results.unwrap_or(100);
    let page: Vec<&Connector> = matching.iter().skip(offset).take(limit).copied().collect();
    let has_more = matching.len() > offset + page.len();
    let ctx = ViewCtx {
        fmt: call.fmt,
        now: env.now,
        step_ms: env.step_ms,
        cfg: env.cfg,
        tenant,
    };
    let objects = page
        .iter()
        .map(|c| view::select_fields(view::connector(c, &ctx, Mode::Full), &call.fields))
        .collect();
    let mut env_out = envelope(kind, call.fmt, objects, true);
    env_out.has_more = Some(has_more);
    if has_more {
        env_out.last_id = page.last().map(|c| c.id);
    }
    Ok(env_out)
}

pub fn get(tenant: &Tenant, kind: CloudKind, call: &Call<'_>, env: &Env<'_>) -> Result<Envelope, QpsError> {
    let id = call
        .id
        .ok_or_else(|| QpsError::invalid("get needs a connector id in the URL"))?;
    if !visible(tenant, kind, id) {
        return Err(not_found(kind, id));
    }
    let c = &tenant.connectors[&id];
    let ctx = ViewCtx {
        fmt: call.fmt,
        now: env.now,
        step_ms: env.step_ms,
        cfg: env.cfg,
        tenant,
    };
    let object = view::select_fields(view::connector(c, &ctx, Mode::Full), &call.fields);
    Ok(envelope(kind, call.fmt, vec![object], false))
}
