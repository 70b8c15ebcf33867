//! What the core decides for each object: a list of actions with the changed
//! fields named, rendered for people (`+`, `-`, `~`) and for machines (JSON).

use serde::Serialize;
use serde_json::Value;

use super::org::PENDING_MEMBER;

/// One field whose desired and observed values differ. Serializes with
/// secret values (hashes) replaced by `(sensitive)`, as the text rendering does.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    /// Spec path, e.g. `spec.runFrequencyMinutes`.
    pub path: String,
    /// Observed value; `None` when Qualys has none.
    pub before: Option<Value>,
    /// Desired value; `None` when the spec removes it.
    pub after: Option<Value>,
    /// Secret fields carry hashes, never values, and are printed masked.
    pub secret: bool,
}

impl Serialize for FieldChange {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mask = |v: &Option<Value>| match v {
            Some(_) if self.secret => Some(Value::String("(sensitive)".into())),
            other => other.as_ref().map(shown),
        };
        let mut s = serializer.serialize_struct("FieldChange", 4)?;
        s.serialize_field("path", &self.path)?;
        s.serialize_field("before", &mask(&self.before))?;
        s.serialize_field("after", &mask(&self.after))?;
        s.serialize_field("secret", &self.secret)?;
        s.end()
    }
}

/// A value as people see it: a member not created yet travels as
/// `pending:NAME` inside the core and is shown as `NAME (not created yet)`.
fn shown(value: &Value) -> Value {
    match value {
        Value::String(s) => match s.strip_prefix(PENDING_MEMBER) {
            Some(name) => Value::String(format!("{name} (not created yet)")),
            None => value.clone(),
        },
        Value::Array(items) => Value::Array(items.iter().map(shown).collect()),
        other => other.clone(),
    }
}

impl FieldChange {
    fn render_value(&self, value: &Option<Value>) -> String {
        match value {
            _ if self.secret => "(sensitive)".into(),
            None | Some(Value::Null) => "(none)".into(),
            Some(v) => shown(v).to_string(),
        }
    }

    fn line(&self) -> String {
        match (&self.before, &self.after) {
            (None, Some(_)) => format!("+ {} = {}", self.path, self.render_value(&self.after)),
            (Some(_), None) => format!("- {} (was {})", self.path, self.render_value(&self.before)),
            _ => format!(
                "~ {}: {} -> {}",
                self.path,
                self.render_value(&self.before),
                self.render_value(&self.after)
            ),
        }
    }
}

/// A step the executor takes against Qualys.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum Action {
    /// Create a new Qualys object with these fields.
    Create {
        fields: Vec<FieldChange>,
    },
    /// Take over an existing Qualys object found by its natural key.
    Adopt {
        id: String,
        reason: String,
    },
    /// Change these fields of the Qualys object.
    Update {
        id: String,
        changes: Vec<FieldChange>,
    },
    /// Delete the Qualys object.
    Delete {
        id: String,
    },
    /// Disable the Qualys object instead of deleting it.
    Disable {
        id: String,
    },
    /// Leave the Qualys object as it is and say why (orphan, no delete API).
    Retain {
        id: Option<String>,
        reason: String,
    },
    /// Register an AWS account for snapshot scans (Qualys answers 304 when it
    /// already holds it: registering is also how a registration is observed).
    Register {
        id: String,
        summary: String,
        /// The object registered exactly this before: sent again only to
        /// confirm Qualys still holds it (no change is planned).
        confirm: bool,
    },
    /// Remove every snapshot-scan registration of the Qualys account (Qualys
    /// deregisters without naming an account).
    Deregister {
        id: String,
    },
    /// Trigger a run (the run-requested-at annotation changed).
    Run {
        id: String,
        requested_at: String,
    },
    /// ObserveOnly: the differences are reported, never written.
    ReportDrift {
        id: String,
        changes: Vec<FieldChange>,
    },
    /// A member to attach to / detach from an organization connector, or a
    /// group membership change.
    Attach {
        id: String,
        member: String,
    },
    Detach {
        id: String,
        member: String,
    },
    /// The core refuses to act until a person decides.
    Conflict {
        reason: String,
    },
    /// ObserveOnly, and Qualys has no such object.
    NotFound {
        reason: String,
    },
}

impl Action {
    /// Whether executing the action writes to Qualys.
    pub fn writes(&self) -> bool {
        !matches!(
            self,
            Self::Retain { .. }
                | Self::ReportDrift { .. }
                | Self::Conflict { .. }
                | Self::NotFound { .. }
                | Self::Adopt { .. }
        )
    }

    fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        match self {
            Self::Create { fields } => {
                out.push("create".into());
                out.extend(fields.iter().map(|f| format!("    {}", f.line())));
            }
            Self::Adopt { id, reason } => out.push(format!("adopt existing Qualys object {id} ({reason})")),
            Self::Update { id, changes } => {
                out.push(format!("update {id}"));
                out.extend(changes.iter().map(|f| format!("    {}", f.line())));
            }
            Self::Delete { id } => out.push(format!("delete {id}")),
            Self::Disable { id } => out.push(format!("disable {id} (deletionPolicy Disable)")),
            Self::Retain { id, reason } => out.push(format!(
                "retain {} in Qualys: {reason}",
                id.as_deref().unwrap_or("(no object)")
            )),
            Self::Run { id, requested_at } => out.push(format!("run {id} (requested at {requested_at})")),
            Self::Register { id, summary, confirm } => out.push(if *confirm {
                format!("confirm the snapshot-scan registration of {id} (registered again; Qualys answers 304 when it holds it)")
            } else {
                format!("register {id} for snapshot scans: {summary}")
            }),
            Self::Deregister { id } => out.push(format!(
                "deregister {id} (and every other snapshot-scan registration of this Qualys account)"
            )),
            Self::ReportDrift { id, changes } => {
                out.push(format!("drift on {id} (ObserveOnly: not corrected)"));
                out.extend(changes.iter().map(|f| format!("    {}", f.line())));
            }
            Self::Attach { id, member } => out.push(format!("attach {member} to {id}")),
            Self::Detach { id, member } => out.push(format!("detach {member} from {id}")),
            Self::Conflict { reason } => out.push(format!("conflict: {reason}")),
            Self::NotFound { reason } => out.push(format!("not found: {reason}")),
        }
        out
    }
}

/// The plan for one manifest object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectPlan {
    /// `Kind/namespace/name`.
    pub object: String,
    /// The Qualys id the object maps to, when it exists.
    pub external_id: Option<String>,
    pub actions: Vec<Action>,
    /// Information for a person that is not an action (paused, unresolved members).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl ObjectPlan {
    pub fn is_noop(&self) -> bool {
        self.actions
            .iter()
            .all(|a| matches!(a, Action::Retain { .. } | Action::Register { confirm: true, .. }))
    }
}

/// Plans for every object of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    pub objects: Vec<ObjectPlan>,
}

impl Plan {
    /// Nothing would be written and nothing needs a person.
    pub fn is_empty(&self) -> bool {
        self.objects.iter().all(ObjectPlan::is_noop)
    }

    pub fn has_conflicts(&self) -> bool {
        self.objects
            .iter()
            .flat_map(|o| &o.actions)
            .any(|a| matches!(a, Action::Conflict { .. }))
    }

    /// Human-readable rendering, one block per object that has actions.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut unchanged = 0;
        for object in &self.objects {
            if object.actions.is_empty() && object.notes.is_empty() {
                unchanged += 1;
                continue;
            }
            out.push_str(&format!(
                "{}{}\n",
                object.object,
                object
                    .external_id
                    .as_ref()
                    .map(|id| format!(" (Qualys {id})"))
                    .unwrap_or_default()
            ));
            for action in &object.actions {
                for line in action.lines() {
                    out.push_str(&format!("  {line}\n"));
                }
            }
            for note in &object.notes {
                out.push_str(&format!("  note: {note}\n"));
            }
            // A registration sent again only to confirm it changes nothing.
            if object
                .actions
                .iter()
                .all(|a| matches!(a, Action::Register { confirm: true, .. }))
            {
                unchanged += 1;
            }
        }
        let changing = self.objects.len() - unchanged;
        out.push_str(&format!(
            "Plan: {changing} object(s) with actions, {unchanged} unchanged{}.\n",
            if self.has_conflicts() {
                "; conflicts need a person"
            } else {
                ""
            }
        ));
        out
    }
}

/// The strings of a list-valued field (`before`/`after` of a members change).
pub fn string_list(v: &Option<Value>) -> Vec<String> {
    v.as_ref()
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn members_not_created_yet_are_named_not_shown_as_placeholders() {
        let change = FieldChange {
            path: "spec.members".into(),
            before: None,
            after: Some(json!(["123", format!("{PENDING_MEMBER}azure-prod")])),
            secret: false,
        };
        let line = change.line();
        assert_eq!(line, r#"+ spec.members = ["123","azure-prod (not created yet)"]"#);
        let json = serde_json::to_string(&change).unwrap_or_default();
        assert!(!json.contains(PENDING_MEMBER), "{json}");
        assert!(json.contains("azure-prod (not created yet)"), "{json}");
    }

    #[test]
    fn secrets_are_masked_in_rendering_and_carry_no_value() {
        let change = FieldChange {
            path: "spec.authenticationKeySecretRef".into(),
            before: Some(json!("sha256:aaa")),
            after: Some(json!("sha256:bbb")),
            secret: true,
        };
        let plan = Plan {
            objects: vec![ObjectPlan {
                object: "AzureConnector/default/a".into(),
                external_id: Some("1".into()),
                actions: vec![Action::Update {
                    id: "1".into(),
                    changes: vec![change],
                }],
                notes: vec![],
            }],
        };
        let text = plan.render();
        assert!(
            text.contains("~ spec.authenticationKeySecretRef: (sensitive) -> (sensitive)"),
            "{text}"
        );
        assert!(!text.contains("sha256"), "{text}");
        let json = serde_json::to_string(&plan).unwrap_or_default();
        assert!(json.contains("(sensitive)") && !json.contains("sha256"), "{json}");
        assert!(!plan.is_empty());
    }

    #[test]
    fn retain_only_plans_are_empty_but_conflicts_are_not() {
        let mut plan = Plan {
            objects: vec![ObjectPlan {
                object: "ConnectorGroup/default/g".into(),
                external_id: None,
                actions: vec![Action::Retain {
                    id: None,
                    reason: "no delete API".into(),
                }],
                notes: vec![],
            }],
        };
        assert!(plan.is_empty());
        plan.objects[0].actions.push(Action::Conflict {
            reason: "two matches".into(),
        });
        assert!(!plan.is_empty());
        assert!(plan.render().contains("conflicts need a person"));
    }
}
