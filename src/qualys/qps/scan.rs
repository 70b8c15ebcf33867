//! Cloud Perimeter Scan schedules: per connector (`ConnectorScanConfiguration`)
//! and account-wide (`GlobalScanConfiguration`), which share one shape.

use serde_json::Value;

use crate::qualys::lenient;
use crate::qualys::tree::Node;

/// Element name of the account-wide configuration.
pub const GLOBAL_SCAN_ELEMENT: &str = "GlobalScanConfiguration";
/// QPS object name of the account-wide configuration.
pub const GLOBAL_SCAN_OBJECT: &str = "globalscanconfiguration";

/// A perimeter-scan schedule. `start_date` is sent as given: the docs say
/// `MM/DD/YYYY` while several samples use `DD/MM/YYYY`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanConfig {
    pub option_profile_id: Option<u64>,
    /// `DAILY` or `WEEKLY`.
    pub recurrence: Option<String>,
    /// `SUN`…`SAT`, for `WEEKLY`.
    pub days_of_week: Option<Vec<String>>,
    pub scan_prefix: Option<String>,
    pub start_date: Option<String>,
    /// `HH:MM`, 24 h.
    pub start_time: Option<String>,
    /// IANA zone name.
    pub timezone: Option<String>,
}

impl ScanConfig {
    pub fn from_value(v: &Value) -> Self {
        Self {
            option_profile_id: lenient::field_u64(v, "optionProfileId"),
            recurrence: lenient::field_token(v, "recurrence"),
            days_of_week: lenient::field_items(v, "daysOfWeek", "Day", &[])
                .map(|days| days.into_iter().filter_map(lenient::token).collect()),
            scan_prefix: lenient::field_text(v, "scanPrefix"),
            start_date: lenient::field_token(v, "startDate"),
            start_time: lenient::field_token(v, "startTime"),
            timezone: lenient::field_token(v, "timezone"),
        }
    }

    /// Field order follows the documented samples.
    pub(crate) fn to_node(&self) -> Node {
        Node::object()
            .with_opt("scanPrefix", self.scan_prefix.as_deref().map(Node::text))
            .with_opt("optionProfileId", self.option_profile_id.map(Node::number))
            .with_opt("recurrence", self.recurrence.as_deref().map(Node::text))
            .with_opt("startDate", self.start_date.as_deref().map(Node::text))
            .with_opt("startTime", self.start_time.as_deref().map(Node::text))
            .with_opt(
                "daysOfWeek",
                self.days_of_week.as_ref().map(|days| {
                    Node::object().with(
                        "set",
                        Node::object().with("Day", Node::List(days.iter().map(Node::text).collect())),
                    )
                }),
            )
            .with_opt("timezone", self.timezone.as_deref().map(Node::text))
    }
}
