//! Offline validation of manifests against the generated CRD schemas: the same
//! OpenAPI constraints and CEL rules the API server enforces, read from the one
//! schema both use, so `plan` refuses what `kubectl apply` would refuse.

use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;

use kube_cel::{CompiledSchema, Validator, compile_schema};
use regex::Regex;
use serde_json::Value;

use super::definitions;

/// One refused field, named by its path (e.g. `spec.runFrequencyMinutes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

struct KindSchema {
    openapi: Value,
    compiled_spec: Option<CompiledSchema>,
}

fn schemas() -> &'static BTreeMap<String, KindSchema> {
    static SCHEMAS: OnceLock<BTreeMap<String, KindSchema>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        definitions::all()
            .into_iter()
            .filter_map(|crd| {
                let version = crd.spec.versions.first()?;
                let schema = version.schema.as_ref()?.open_api_v3_schema.as_ref()?;
                let openapi = serde_json::to_value(schema).ok()?;
                let compiled_spec = openapi.pointer("/properties/spec").map(compile_schema);
                Some((crd.spec.names.kind.clone(), KindSchema { openapi, compiled_spec }))
            })
            .collect()
    })
}

/// Kinds this validator knows.
pub fn known_kinds() -> Vec<&'static str> {
    schemas().keys().map(String::as_str).collect()
}

/// Validate a whole object (`apiVersion`, `kind`, `metadata`, `spec`) of one
/// of our kinds. Returns every violation, not just the first.
pub fn validate_object(object: &Value) -> Result<(), Vec<FieldError>> {
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or_default();
    let Some(schema) = schemas().get(kind) else {
        let hint = closest_kind(kind)
            .map(|k| format!("did you mean {k}? "))
            .unwrap_or_default();
        return Err(vec![FieldError {
            path: "kind".into(),
            message: format!(
                "unknown kind {kind:?} in {}: {hint}(kinds: {})",
                super::GROUP,
                known_kinds().join(", ")
            ),
        }]);
    };
    let mut errors = Vec::new();
    let expected_api_version = format!("{}/{}", super::GROUP, super::VERSION);
    if object.get("apiVersion").and_then(Value::as_str) != Some(expected_api_version.as_str()) {
        errors.push(FieldError {
            path: "apiVersion".into(),
            message: format!("must be {expected_api_version}"),
        });
    }
    check_name(object.pointer("/metadata/name"), &mut errors);
    check_namespace(object.pointer("/metadata/namespace"), &mut errors);
    let spec_schema = schema.openapi.pointer("/properties/spec");
    match (object.get("spec"), spec_schema) {
        (Some(spec), Some(spec_schema)) => {
            let before = errors.len();
            check(spec_schema, spec, "spec", &mut errors);
            // CEL rules assume a structurally valid object, as in the API server.
            if errors.len() == before
                && let Some(compiled) = &schema.compiled_spec
                && let Err(cel) = Validator::new().validate_compiled(compiled, spec, None)
            {
                errors.extend(cel.into_vec().into_iter().map(|e| FieldError {
                    path: join_path("spec", e.field_path.trim_start_matches('.')),
                    message: e.message,
                }));
            }
        }
        (None, Some(_)) => errors.push(FieldError {
            path: "spec".into(),
            message: "required field is missing".into(),
        }),
        _ => {}
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

fn join_path(base: &str, rest: &str) -> String {
    if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}.{rest}")
    }
}

fn check_name(name: Option<&Value>, errors: &mut Vec<FieldError>) {
    static DNS1123: OnceLock<Option<Regex>> = OnceLock::new();
    let pattern =
        DNS1123.get_or_init(|| Regex::new("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$").ok());
    match name.and_then(Value::as_str) {
        None => errors.push(FieldError {
            path: "metadata.name".into(),
            message: "required field is missing".into(),
        }),
        Some(n) if n.len() > 253 || pattern.as_ref().is_some_and(|p| !p.is_match(n)) => errors.push(FieldError {
            path: "metadata.name".into(),
            message: format!("{n:?} is not a lowercase RFC 1123 subdomain name"),
        }),
        Some(_) => {}
    }
}

/// A namespace is a DNS-1123 label, as the API server requires.
fn check_namespace(namespace: Option<&Value>, errors: &mut Vec<FieldError>) {
    static LABEL: OnceLock<Option<Regex>> = OnceLock::new();
    let pattern = LABEL.get_or_init(|| Regex::new("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$").ok());
    let message = match namespace {
        None => return,
        Some(Value::String(n)) if n.len() <= 63 && pattern.as_ref().is_none_or(|p| p.is_match(n)) => return,
        Some(Value::String(n)) => format!(
            "{n:?} is not a lowercase RFC 1123 label (at most 63 characters: a-z, 0-9 and '-', starting and ending alphanumeric)"
        ),
        Some(other) => format!("must be a string, got {}", type_name(other)),
    };
    errors.push(FieldError {
        path: "metadata.namespace".into(),
        message,
    });
}

/// The known kind nearest to a misspelt one (case-insensitive edit distance
/// of at most a third of its length), e.g. `AWSConnector` → `AwsConnector`.
pub fn closest_kind(kind: &str) -> Option<&'static str> {
    let wanted = kind.to_ascii_lowercase();
    known_kinds()
        .into_iter()
        .map(|k| (edit_distance(&wanted, &k.to_ascii_lowercase()), k))
        .filter(|(d, k)| *d <= k.len() / 3)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 60 {
        format!(
            "{}…",
            &text[..text.char_indices().nth(57).map_or(text.len(), |(i, _)| i)]
        )
    } else {
        text
    }
}

/// The structural subset of OpenAPI v3 that CRD schemas use.
fn check(schema: &Value, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
    let mut fail = |message: String| {
        errors.push(FieldError {
            path: path.to_string(),
            message,
        })
    };
    if value.is_null() {
        if !schema.get("nullable").and_then(Value::as_bool).unwrap_or(false) {
            fail("must not be null".into());
        }
        return;
    }
    if schema
        .get("x-kubernetes-int-or-string")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        if !matches!(type_name(value), "integer" | "string") {
            fail(format!("must be an integer or a string, got {}", type_name(value)));
        }
        return;
    }
    if let Some(expected) = schema.get("type").and_then(Value::as_str) {
        let actual = type_name(value);
        let ok = actual == expected || (expected == "number" && actual == "integer");
        if !ok {
            fail(format!(
                "must be {} {expected}, got {actual} {}",
                if expected.starts_with(['a', 'o', 'i']) {
                    "an"
                } else {
                    "a"
                },
                short(value)
            ));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let list: Vec<String> = allowed
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .collect();
        fail(format!(
            "unsupported value {}; supported values: {}",
            short(value),
            list.join(", ")
        ));
    }
    match value {
        Value::Number(n) => {
            let v = n.as_f64().unwrap_or_default();
            if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
                && v < min
            {
                fail(format!("must be at least {min} (got {n})"));
            }
            if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
                && v > max
            {
                fail(format!("must be at most {max} (got {n})"));
            }
        }
        Value::String(s) => {
            let len = s.chars().count() as u64;
            if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
                && len < min
            {
                fail(format!("must be at least {min} characters long"));
            }
            if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
                && len > max
            {
                fail(format!("must be at most {max} characters long (got {len})"));
            }
            if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
                match Regex::new(pattern) {
                    Ok(re) if !re.is_match(s) => fail(format!("{} does not match the pattern {pattern}", short(value))),
                    Ok(_) => {}
                    Err(e) => fail(format!("schema pattern {pattern} does not compile: {e}")),
                }
            }
        }
        Value::Array(items) => {
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
                && (items.len() as u64) < min
            {
                fail(format!("must have at least {min} items"));
            }
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
                && (items.len() as u64) > max
            {
                fail(format!("must have at most {max} items"));
            }
            check_list_type(schema, items, path, errors);
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(item_schema, item, &format!("{path}[{i}]"), errors);
                }
            }
        }
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            if let Some(required) = schema.get("required").and_then(Value::as_array) {
                for field in required.iter().filter_map(Value::as_str) {
                    if !map.contains_key(field) {
                        errors.push(FieldError {
                            path: join_path(path, field),
                            message: "required field is missing".into(),
                        });
                    }
                }
            }
            let preserve = schema
                .get("x-kubernetes-preserve-unknown-fields")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let additional = schema.get("additionalProperties");
            for (key, child) in map {
                let child_path = join_path(path, key);
                if let Some(child_schema) = properties.and_then(|p| p.get(key)) {
                    check(child_schema, child, &child_path, errors);
                } else if let Some(additional) = additional.filter(|a| a.is_object()) {
                    check(additional, child, &child_path, errors);
                } else if !preserve && additional.and_then(Value::as_bool) != Some(true) {
                    let mut known: Vec<&str> = properties
                        .map(|p| p.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    known.sort_unstable();
                    errors.push(FieldError {
                        path: child_path,
                        message: format!("unknown field; known fields here: {}", known.join(", ")),
                    });
                }
            }
        }
        _ => {}
    }
}

/// `x-kubernetes-list-type: set | map` forbid duplicates, as the API server does.
fn check_list_type(schema: &Value, items: &[Value], path: &str, errors: &mut Vec<FieldError>) {
    match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("set") => {
            let mut seen = HashSet::new();
            for (i, item) in items.iter().enumerate() {
                if !seen.insert(item.to_string()) {
                    errors.push(FieldError {
                        path: format!("{path}[{i}]"),
                        message: format!("duplicate value {}", short(item)),
                    });
                }
            }
        }
        Some("map") => {
            let keys: Vec<&str> = schema
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|k| k.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut seen = HashSet::new();
            for (i, item) in items.iter().enumerate() {
                let key: Vec<String> = keys
                    .iter()
                    .map(|k| item.get(*k).map(Value::to_string).unwrap_or_default())
                    .collect();
                if !seen.insert(key.clone()) {
                    errors.push(FieldError {
                        path: format!("{path}[{i}]"),
                        message: format!("duplicate entry with {} = {}", keys.join(","), key.join(",")),
                    });
                }
            }
        }
        _ => {}
    }
}
