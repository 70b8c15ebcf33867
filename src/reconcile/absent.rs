//! What a field absent from a Qualys read means, decided here for every field
//! of every kind and nowhere else. Qualys answers differ by operation and cloud
//! (quirks Q-COL-4, Q-COL-8, Q-SEM-6, Q-GCP-1): reading "absent" as "empty" when
//! it means "not reported" plans a destructive change (clearing what Qualys
//! holds) or a perpetual one (re-sending what Qualys never echoes).
//!
//! docs/field-ownership.md states the same rules for users.

use serde_json::Value;

use super::fields::Fields;
use crate::qualys::CloudKind;

/// The meaning of an absent field.
#[derive(Debug, Clone, PartialEq)]
pub enum Absent {
    /// Not reported: never a reason to write.
    Unknown,
    /// Qualys leaves the field out when it holds nothing.
    Empty,
    /// Qualys leaves the field out when it holds its documented default.
    Default(Value),
}

/// The rule for one path of a QPS connector of `kind`.
pub fn connector_rule(kind: CloudKind, path: &str) -> Absent {
    match path {
        "spec.description" => Absent::Empty,
        "spec.disabled" | "spec.remediationEnabled" | "spec.perimeterScan.enabled" => Absent::Default(false.into()),
        "spec.perimeterScan.custom" => Absent::Default(Value::Null),
        "spec.partition" => Absent::Default("Global".into()),
        // AWS and Azure reads list the tags and modules a connector has (and
        // leave the element out when there are none); GCP and OCI document
        // neither on reads.
        "spec.defaultTagIds" | "spec.activation" if matches!(kind, CloudKind::Aws | CloudKind::Azure) => Absent::Empty,
        _ => Absent::Unknown,
    }
}

/// The rule for one path of an Azure organization connector (gateway reads are
/// whole objects; booleans left out are false).
pub fn org_rule(path: &str) -> Absent {
    match path {
        "spec.description" => Absent::Empty,
        "spec.includedManagementGroups" | "spec.excludedManagementGroups" | "spec.defaultTagIds" => Absent::Empty,
        p if p.starts_with("spec.autoActivate.")
            || p == "spec.createConnectorsForNewSubscriptions"
            || p == "spec.disableConnectorsForDeletedManagementGroups"
            || p == "spec.remediationEnabled"
            || p == "spec.disabled" =>
        {
            Absent::Default(false.into())
        }
        _ => Absent::Unknown,
    }
}

impl Fields {
    /// Records an observed value, or what its absence means under `rule`.
    pub fn observe(&mut self, rule: &Absent, path: &str, value: Option<Value>) -> &mut Self {
        match (value, rule) {
            (Some(v), _) => self.set(path, v),
            (None, Absent::Unknown) => self.set_unknown(path, "(not reported by Qualys)", Vec::new()),
            (None, Absent::Empty) => self.set(path, Value::Null),
            (None, Absent::Default(d)) => self.set(path, d.clone()),
        }
    }

    /// Like [`Fields::observe`] for an order-insensitive collection.
    pub fn observe_set<I, T>(&mut self, rule: &Absent, path: &str, items: Option<I>) -> &mut Self
    where
        I: IntoIterator<Item = T>,
        T: Into<Value>,
    {
        match (items, rule) {
            (Some(items), _) => self.set_unordered(path, items),
            (None, Absent::Unknown) => self.set_unknown(path, "(not reported by Qualys)", Vec::new()),
            (None, Absent::Empty) => self.set(path, Value::Array(Vec::new())),
            (None, Absent::Default(d)) => self.set(path, d.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_never_plans_a_write_and_empty_does() {
        let mut observed = Fields::new();
        observed.observe(&Absent::Unknown, "spec.runFrequencyMinutes", None);
        observed.observe(&Absent::Empty, "spec.description", None);
        let mut desired = Fields::new();
        desired
            .set("spec.runFrequencyMinutes", 240)
            .set("spec.description", "x");
        let changes = super::super::fields::diff(&desired, &observed);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].path, "spec.description");
        assert_eq!(changes[0].after, Some(json!("x")));
    }

    #[test]
    fn defaults_stand_in_for_absent_flags() {
        let mut observed = Fields::new();
        observed.observe(&connector_rule(CloudKind::Aws, "spec.disabled"), "spec.disabled", None);
        assert_eq!(observed.get("spec.disabled"), Some(&json!(false)));
    }

    #[test]
    fn tags_are_unknown_where_reads_do_not_document_them() {
        assert_eq!(connector_rule(CloudKind::Aws, "spec.defaultTagIds"), Absent::Empty);
        assert_eq!(connector_rule(CloudKind::Gcp, "spec.defaultTagIds"), Absent::Unknown);
        assert_eq!(connector_rule(CloudKind::Oci, "spec.defaultTagIds"), Absent::Unknown);
    }
}
