//! The comparable form of an object: spec paths to normalized JSON values.
//! Desired and observed models of a kind produce the same paths, so the diff is
//! one generic function and "applied then re-observed comes back empty" can be
//! tested for every kind.

use std::collections::BTreeMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::plan::FieldChange;

/// One comparable field.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub value: Value,
    /// Compared by hash; never printed.
    pub secret: bool,
    /// Observed side only: Qualys did not report the value (see
    /// [`super::absent`]). `value` then says what is known, for people, and the
    /// field differs from a desired value only when that value is one of these
    /// (a connector known not to cover all regions, whose list Qualys omits).
    pub unknown: Option<Vec<Value>>,
}

impl Field {
    fn known(value: Value, secret: bool) -> Self {
        Self {
            value,
            secret,
            unknown: None,
        }
    }
}

/// Spec path → value. Only fields the spec manages appear on the desired side.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fields(pub BTreeMap<String, Field>);

impl Fields {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(&mut self, path: &str, value: impl Into<Value>) -> &mut Self {
        self.0.insert(path.to_string(), Field::known(value.into(), false));
        self
    }

    /// An order-insensitive collection: sorted and deduplicated.
    pub fn set_unordered<I, T>(&mut self, path: &str, items: I) -> &mut Self
    where
        I: IntoIterator<Item = T>,
        T: Into<Value>,
    {
        let mut values: Vec<Value> = items.into_iter().map(Into::into).collect();
        values.sort_by_key(Value::to_string);
        values.dedup();
        self.set(path, Value::Array(values))
    }

    /// A secret, by hash (`None`: nothing known, e.g. never sent).
    pub fn set_secret(&mut self, path: &str, hash: Option<String>) -> &mut Self {
        self.0.insert(
            path.to_string(),
            Field::known(hash.map_or(Value::Null, Value::String), true),
        );
        self
    }

    /// A value Qualys did not report: no change is planned for it unless the
    /// desired value is one of `differs_from`. `known` describes what is known.
    pub fn set_unknown(&mut self, path: &str, known: &str, differs_from: Vec<Value>) -> &mut Self {
        self.0.insert(
            path.to_string(),
            Field {
                value: Value::String(known.to_string()),
                secret: false,
                unknown: Some(differs_from),
            },
        );
        self
    }

    /// The value of a known field.
    pub fn get(&self, path: &str) -> Option<&Value> {
        self.0.get(path).filter(|f| f.unknown.is_none()).map(|f| &f.value)
    }
}

/// Fields of `desired` whose value differs from `observed`. Paths absent from
/// `desired` are not managed by the spec and never produce a change.
pub fn diff(desired: &Fields, observed: &Fields) -> Vec<FieldChange> {
    desired
        .0
        .iter()
        .filter_map(|(path, want)| {
            let observed = observed.0.get(path);
            let want_value = Some(&want.value).filter(|v| !v.is_null());
            if let Some(differs_from) = observed.and_then(|f| f.unknown.as_ref()) {
                let known_different = differs_from.contains(&want.value);
                return known_different.then(|| FieldChange {
                    path: path.clone(),
                    before: observed.map(|f| f.value.clone()),
                    after: want_value.cloned(),
                    secret: want.secret,
                });
            }
            let have = observed.map(|f| &f.value).filter(|v| !v.is_null());
            (have != want_value).then(|| FieldChange {
                path: path.clone(),
                before: have.cloned(),
                after: want_value.cloned(),
                secret: want.secret,
            })
        })
        .collect()
}

/// A stable hash of secret material, so rotation is detected without keeping
/// the value anywhere.
pub fn secret_hash<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unordered_sets_compare_equal_in_any_order() {
        let mut a = Fields::new();
        a.set_unordered("spec.activation", ["VM", "PC", "VM"]);
        let mut b = Fields::new();
        b.set_unordered("spec.activation", ["PC", "VM"]);
        assert!(diff(&a, &b).is_empty());
    }

    #[test]
    fn unmanaged_fields_are_ignored_and_managed_ones_named() {
        let mut desired = Fields::new();
        desired.set("spec.runFrequencyMinutes", 240).set("spec.disabled", false);
        let mut observed = Fields::new();
        observed
            .set("spec.runFrequencyMinutes", 300)
            .set("spec.disabled", false)
            .set("spec.extra", "x");
        let changes = diff(&desired, &observed);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].path, "spec.runFrequencyMinutes");
        assert_eq!(changes[0].before, Some(json!(300)));
        assert_eq!(changes[0].after, Some(json!(240)));
    }

    #[test]
    fn null_and_missing_are_the_same() {
        let mut desired = Fields::new();
        desired.set("spec.description", Value::Null);
        assert!(diff(&desired, &Fields::new()).is_empty());
    }

    #[test]
    fn unknown_fields_differ_only_from_what_they_are_known_not_to_be() {
        let mut observed = Fields::new();
        observed.set_unknown("spec.regions", "(some regions)", vec![json!([])]);
        let mut subset = Fields::new();
        subset.set_unordered("spec.regions", ["eu-south-1"]);
        assert!(diff(&subset, &observed).is_empty(), "an unlisted subset is not drift");
        let mut all = Fields::new();
        all.set_unordered("spec.regions", Vec::<String>::new());
        let changes = diff(&all, &observed);
        assert_eq!(changes.len(), 1, "all regions differs from a known subset");
        assert_eq!(changes[0].before, Some(json!("(some regions)")));
        assert_eq!(observed.get("spec.regions"), None);
    }

    #[test]
    fn secret_hashes_differ_by_value_and_boundaries() {
        assert_ne!(secret_hash(["ab", "c"]), secret_hash(["a", "bc"]));
        assert_eq!(secret_hash(["x"]), secret_hash(["x"]));
        let mut desired = Fields::new();
        desired.set_secret("spec.authenticationKeySecretRef", Some(secret_hash(["new"])));
        let mut observed = Fields::new();
        observed.set_secret("spec.authenticationKeySecretRef", Some(secret_hash(["old"])));
        let changes = diff(&desired, &observed);
        assert!(changes[0].secret);
    }
}
