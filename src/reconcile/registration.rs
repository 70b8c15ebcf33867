//! Snapshot-scan registrations: an AWS account registered as a service
//! account of Qualys' snapshot-based scan.
//!
//! Qualys has no read for them. Registering is idempotent (Qualys answers 304
//! when it holds the account), so the register call itself is how a
//! registration is observed: each resync sends it again, which puts back a
//! registration deleted by hand. Qualys cannot change one either: a new
//! schedule or tags need a deregistration first, and deregistration takes no
//! account, so it removes every registration of the Qualys account; the other
//! objects register theirs again at their next reconcile.

use crate::crd::snapshot_scan::SnapshotScanRegistrationSpec;
use crate::qualys::cron::validate_quartz_cron;
use crate::qualys::{Registration, SnapshotTag};

/// A `SnapshotScanRegistration` object, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredRegistration {
    pub aws_account_id: String,
    pub schedule: String,
    pub tags: Vec<(String, String)>,
    /// What the object registered last (`status.registration`), if anything.
    pub registered: Option<String>,
}

impl DesiredRegistration {
    pub fn from_spec(spec: &SnapshotScanRegistrationSpec, registered: Option<String>) -> Self {
        Self {
            aws_account_id: spec.aws_account_id.trim().to_string(),
            // Qualys' cron fields are separated by single spaces in every sample.
            schedule: spec.schedule.split_whitespace().collect::<Vec<_>>().join(" "),
            tags: spec.tags.iter().map(|t| (t.key.clone(), t.value.clone())).collect(),
            registered,
        }
    }

    /// What is registered, as status records it: the schedule and the tags,
    /// e.g. `0 0 2 ? * * * | Owner=test`.
    pub fn summary(&self) -> String {
        let tags: Vec<String> = self.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if tags.is_empty() {
            self.schedule.clone()
        } else {
            format!("{} | {}", self.schedule, tags.join(","))
        }
    }

    /// Whether what Qualys holds (as far as the object knows) differs from the
    /// spec: only then is a deregistration worth its cost.
    pub fn changed(&self) -> bool {
        self.registered.as_ref().is_some_and(|r| *r != self.summary())
    }

    /// Why the schedule cannot be sent, naming the field and the fix.
    pub fn invalid(&self) -> Option<String> {
        validate_quartz_cron(&self.schedule)
            .err()
            .map(|e| format!("spec.schedule: {e} (a Quartz expression such as '0 0 2 ? * * *')"))
    }

    pub fn write(&self) -> Registration {
        Registration {
            account_id: self.aws_account_id.clone(),
            schedule: self.schedule.clone(),
            tags: self
                .tags
                .iter()
                .map(|(k, v)| SnapshotTag {
                    tag_key: k.clone(),
                    tag_value: v.clone(),
                })
                .collect(),
        }
    }

    /// What the object has registered after a run of `plan`: what it
    /// registered now, else what it had before; nothing once deregistered
    /// for its deletion.
    pub fn registered_after_run(
        &self,
        plan: &super::plan::ObjectPlan,
        applied: &super::execute::Applied,
    ) -> Option<String> {
        if applied.deleted {
            return None;
        }
        let registered = plan
            .actions
            .iter()
            .any(|a| matches!(a, super::plan::Action::Register { .. }));
        if registered && applied.failure.is_none() {
            Some(self.summary())
        } else {
            self.registered.clone()
        }
    }

    pub fn fields(&self) -> super::fields::Fields {
        let mut fields = super::fields::Fields::default();
        fields.set("spec.awsAccountId", self.aws_account_id.as_str());
        fields.set("spec.schedule", self.schedule.as_str());
        if !self.tags.is_empty() {
            fields.set("spec.tags", serde_json::json!(self.summary()));
        }
        fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::snapshot_scan::ScanTag;

    fn spec(schedule: &str, tags: &[(&str, &str)]) -> SnapshotScanRegistrationSpec {
        SnapshotScanRegistrationSpec {
            aws_account_id: "123456789012".into(),
            schedule: schedule.into(),
            tags: tags
                .iter()
                .map(|(k, v)| ScanTag {
                    key: k.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            management: Default::default(),
        }
    }

    #[test]
    fn a_changed_schedule_or_tags_is_a_change_blanks_are_not() {
        let sent = DesiredRegistration::from_spec(&spec("0 0 2 ? * * *", &[("Owner", "test")]), None).summary();
        assert_eq!(sent, "0 0 2 ? * * * | Owner=test");
        let same = DesiredRegistration::from_spec(&spec(" 0  0 2 ? * *  * ", &[("Owner", "test")]), Some(sent.clone()));
        assert!(!same.changed());
        let schedule = DesiredRegistration::from_spec(&spec("0 0 3 ? * * *", &[("Owner", "test")]), Some(sent.clone()));
        assert!(schedule.changed());
        let tags = DesiredRegistration::from_spec(&spec("0 0 2 ? * * *", &[]), Some(sent));
        assert!(tags.changed());
        let never = DesiredRegistration::from_spec(&spec("0 0 2 ? * * *", &[]), None);
        assert!(
            !never.changed(),
            "nothing registered yet: register, nothing to deregister"
        );
    }

    #[test]
    fn an_invalid_schedule_names_the_field_and_an_example() {
        let bad = DesiredRegistration::from_spec(&spec("0 0 25 ? * * *", &[]), None);
        let message = bad.invalid().unwrap_or_default();
        assert!(message.starts_with("spec.schedule: "), "{message}");
        assert!(message.contains("0 0 2 ? * * *"), "{message}");
        assert_eq!(
            DesiredRegistration::from_spec(&spec("0 0 2 ? * * *", &[]), None).invalid(),
            None
        );
    }
}
