//! Quartz cron expressions. The `schedule` of a snapshot scan registration is
//! one (`0 0 2 ? * * *` in the sample [001:7249], Q-DATE-4), and Qualys refuses
//! a bad one only with "Incorrect Params or connector is not cloudview"
//! [001:7269], which names neither the field nor the fix. Checked here, offline,
//! a mistake is reported before anything is sent.
//!
//! Quartz, not Unix cron: seconds come first, a year may follow, and exactly
//! one of day-of-month and day-of-week is `?`. Six fields (no year) pass too:
//! Quartz, which the seven-field sample shows Qualys uses, treats the year as
//! optional. The special forms Quartz knows (`L`, `W`, `LW`, `L-n`, `nL`,
//! `n#k`) are accepted, so nothing Qualys would take is refused here.

use std::fmt;

/// The documented sample: daily at 02:00 [001:7249].
pub const EXAMPLE: &str = "0 0 2 ? * * *";

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// The fields of a Quartz expression, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CronField {
    Seconds,
    Minutes,
    Hours,
    DayOfMonth,
    Month,
    DayOfWeek,
    Year,
}

impl CronField {
    pub const ALL: [CronField; 7] = [
        CronField::Seconds,
        CronField::Minutes,
        CronField::Hours,
        CronField::DayOfMonth,
        CronField::Month,
        CronField::DayOfWeek,
        CronField::Year,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CronField::Seconds => "seconds",
            CronField::Minutes => "minutes",
            CronField::Hours => "hours",
            CronField::DayOfMonth => "day-of-month",
            CronField::Month => "month",
            CronField::DayOfWeek => "day-of-week",
            CronField::Year => "year",
        }
    }

    /// 1-based place in the expression.
    pub fn position(self) -> usize {
        CronField::ALL.iter().position(|f| *f == self).map_or(0, |i| i + 1)
    }

    /// What the field takes, for people.
    pub fn allowed(self) -> &'static str {
        match self {
            CronField::Seconds | CronField::Minutes => "0-59",
            CronField::Hours => "0-23",
            CronField::DayOfMonth => "1-31, `?`, `L` (last day), `L-n`, `nW` (nearest weekday) or `LW`",
            CronField::Month => "1-12 or JAN-DEC",
            CronField::DayOfWeek => "1-7 (1 = Sunday) or SUN-SAT, `?`, `nL` (last n-day) or `n#k` (k-th n-day, k 1-5)",
            CronField::Year => "1970-2099",
        }
    }

    fn bounds(self) -> (u32, u32) {
        match self {
            CronField::Seconds | CronField::Minutes => (0, 59),
            CronField::Hours => (0, 23),
            CronField::DayOfMonth => (1, 31),
            CronField::Month => (1, 12),
            CronField::DayOfWeek => (1, 7),
            CronField::Year => (1970, 2099),
        }
    }

    fn names(self) -> &'static [&'static str] {
        match self {
            CronField::Month => &MONTHS,
            CronField::DayOfWeek => &DAYS,
            _ => &[],
        }
    }

    /// Largest increment after `/` (Quartz refuses larger ones in the cyclic fields).
    fn max_step(self) -> u32 {
        match self {
            CronField::Year => 2099 - 1970,
            other => other.bounds().1.max(1),
        }
    }

    fn is_day(self) -> bool {
        matches!(self, CronField::DayOfMonth | CronField::DayOfWeek)
    }
}

impl fmt::Display for CronField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a schedule is not a Quartz expression, with the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    #[error(
        "the schedule is empty: write a Quartz cron expression such as `{EXAMPLE}` \
         (seconds minutes hours day-of-month month day-of-week year)"
    )]
    Empty,

    #[error(
        "the schedule has {found} field(s): a Quartz cron expression has 7 (seconds minutes hours \
         day-of-month month day-of-week year) or 6 (without the year), e.g. `{EXAMPLE}`{}",
        count_hint(*found)
    )]
    FieldCount { found: usize },

    #[error("field {} ({field}) `{value}`: {problem}; {field} takes {}", field.position(), field.allowed())]
    Field {
        field: CronField,
        value: String,
        problem: String,
    },

    #[error(
        "day-of-month `{day_of_month}` and day-of-week `{day_of_week}` are both set: Quartz needs `?` in \
         exactly one of them, e.g. `0 0 2 ? * MON *` (Mondays) or `0 0 2 1 * ? *` (the 1st of each month)"
    )]
    BothDays { day_of_month: String, day_of_week: String },

    #[error(
        "day-of-month and day-of-week are both `?`: give one of them a value, e.g. `*` in day-of-week \
         for every day (`{EXAMPLE}`)"
    )]
    NoDay,
}

impl CronError {
    /// The field to point at, when one is to blame.
    pub fn field(&self) -> Option<CronField> {
        match self {
            CronError::Field { field, .. } => Some(*field),
            CronError::BothDays { .. } | CronError::NoDay => Some(CronField::DayOfWeek),
            CronError::Empty | CronError::FieldCount { .. } => None,
        }
    }
}

fn count_hint(found: usize) -> &'static str {
    if found == 5 {
        "; five fields look like a Unix cron: put the seconds first and `?` in day-of-month or \
         day-of-week (`0 2 * * *` is `0 0 2 ? * * *`)"
    } else {
        ""
    }
}

/// Whether `expression` is a Quartz cron expression Qualys can take as a
/// snapshot scan `schedule`. Pure: no clock, no I/O.
pub fn validate_quartz_cron(expression: &str) -> Result<(), CronError> {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    if fields.is_empty() {
        return Err(CronError::Empty);
    }
    if !(6..=7).contains(&fields.len()) {
        return Err(CronError::FieldCount { found: fields.len() });
    }
    let mut unspecified = [false; 2];
    for (field, text) in CronField::ALL.into_iter().zip(fields.iter().copied()) {
        let question = check_field(field, text)?;
        match field {
            CronField::DayOfMonth => unspecified[0] = question,
            CronField::DayOfWeek => unspecified[1] = question,
            _ => {}
        }
    }
    match unspecified {
        [true, true] => Err(CronError::NoDay),
        [false, false] => Err(CronError::BothDays {
            day_of_month: fields[3].to_owned(),
            day_of_week: fields[5].to_owned(),
        }),
        _ => Ok(()),
    }
}

/// Checks one field; `true` when it is `?`.
fn check_field(field: CronField, text: &str) -> Result<bool, CronError> {
    let fail = |problem: String| CronError::Field {
        field,
        value: text.to_owned(),
        problem,
    };
    let upper = text.to_ascii_uppercase();
    if upper == "?" {
        return if field.is_day() {
            Ok(true)
        } else {
            Err(fail("`?` is only allowed in day-of-month or day-of-week".into()))
        };
    }
    let items: Vec<&str> = upper.split(',').collect();
    for item in &items {
        if item.is_empty() {
            return Err(fail("a list has an empty item (two commas, or one at an end)".into()));
        }
        if item.contains('?') {
            return Err(fail("`?` stands alone, never in a list, range or step".into()));
        }
        if special(field, item).map_err(fail)? {
            if items.len() > 1 {
                return Err(fail(format!("`{item}` cannot be combined with other values in a list")));
            }
            continue;
        }
        check_item(field, item).map_err(fail)?;
    }
    Ok(false)
}

/// `Ok(true)` for a valid special form (`L`, `W`, `#`), `Err` for a broken
/// one, `Ok(false)` when `item` is not a special form at all.
fn special(field: CronField, item: &str) -> Result<bool, String> {
    match field {
        CronField::DayOfMonth => {
            if item == "L" || item == "LW" {
                return Ok(true);
            }
            if let Some(offset) = item.strip_prefix("L-") {
                return match number(offset) {
                    Some(n) if (1..=30).contains(&n) => Ok(true),
                    _ => Err("`L-n` (n days before the last day) takes n from 1 to 30".into()),
                };
            }
            if let Some(day) = item.strip_suffix('W') {
                return match number(day) {
                    Some(n) if (1..=31).contains(&n) => Ok(true),
                    _ => Err("`W` (nearest weekday) follows one day of the month, e.g. `15W`".into()),
                };
            }
            if item.contains(['L', 'W']) {
                return Err("`L` and `W` are written `L`, `L-n`, `nW` or `LW`".into());
            }
            Ok(false)
        }
        CronField::DayOfWeek => {
            if item == "L" {
                return Ok(true);
            }
            if let Some((day, nth)) = item.split_once('#') {
                value(field, day)?;
                return match number(nth) {
                    Some(k) if (1..=5).contains(&k) => Ok(true),
                    _ => Err("`#` is written day#k with k from 1 to 5, e.g. `MON#2`".into()),
                };
            }
            if let Some(day) = item.strip_suffix('L') {
                return value(field, day)
                    .map(|_| true)
                    .map_err(|_| "`L` (last) follows one day of the week, e.g. `6L` or `FRIL`".into());
            }
            Ok(false)
        }
        _ if item.contains('#') || item == "L" => Err(format!("`{item}` is only allowed in the day fields")),
        _ => Ok(false),
    }
}

/// `*`, a value or a range, with an optional `/step`.
fn check_item(field: CronField, item: &str) -> Result<(), String> {
    let (base, step) = match item.split_once('/') {
        Some((base, step)) => (base, Some(step)),
        None => (item, None),
    };
    if let Some(step) = step {
        if base.is_empty() {
            return Err("a step needs a start, e.g. `0/15` or `*/15`".into());
        }
        match number(step) {
            Some(n) if (1..=field.max_step()).contains(&n) => {}
            _ => return Err(format!("the step after `/` must be 1-{}", field.max_step())),
        }
    }
    if base == "*" {
        return Ok(());
    }
    match base.split_once('-') {
        Some((from, to)) => {
            let (from, to) = (value(field, from)?, value(field, to)?);
            // Quartz wraps a backwards range in the cyclic fields (`FRI-MON`, `22-2`).
            if field == CronField::Year && from > to {
                return Err("a range of years must go forward".into());
            }
            Ok(())
        }
        None => value(field, base).map(|_| ()),
    }
}

/// A number within the field's bounds, or a month / day name.
fn value(field: CronField, text: &str) -> Result<u32, String> {
    if text.is_empty() {
        return Err("a value is missing".into());
    }
    let (low, high) = field.bounds();
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return match number(text) {
            Some(n) if (low..=high).contains(&n) => Ok(n),
            _ => Err(format!("{text} is out of range")),
        };
    }
    let names = field.names();
    match names.iter().position(|n| *n == text) {
        Some(i) => Ok(low + u32::try_from(i).unwrap_or(0)),
        None if names.is_empty() => Err(format!("`{text}` is not a number")),
        None => Err(format!("`{text}` is neither a number nor a {} name", field.name())),
    }
}

fn number(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn valid_expressions_pass() {
        for expr in [
            EXAMPLE,
            "0 0 2 ? * *",
            "  0\t0 2 ? * *  *  ",
            "0 0 2 * * ? *",
            "0 0 12 * * ?",
            "0 15 10 ? * MON-FRI",
            "0 15 10 ? * mon-fri 2030",
            "0 0/5 14,18 * * ?",
            "0 0-5 14 * * ?",
            "*/30 * * ? * * *",
            "0 10,44 14 ? 3 WED",
            "0 15 10 L * ?",
            "0 15 10 L-2 * ?",
            "0 15 10 LW * ?",
            "0 15 10 15W * ?",
            "0 15 10 ? * 6L",
            "0 15 10 ? * FRIL 2027-2029",
            "0 15 10 ? * 6#3",
            "0 15 10 ? * MON#1",
            "0 15 10 ? * L",
            "0 0 12 1/5 * ?",
            "0 11 11 11 11 ?",
            "0 0 22-2 ? * *",
            "0 0 0 ? * FRI-MON",
            "0 0 0 ? JAN-MAR,JUL,oct-dec SUN",
            "0 0 0 1 1 ? 1970",
            "0 0 0 1 1 ? 2099",
            "0 0 0 1 1 ? 2025/2",
            "0 0 0 1 1 ? *",
            "59 59 23 31 12 ? 2099",
            "0 0 2 ? */3 1,3,5-7",
            "0 0 2 ? * SUN/2",
        ] {
            assert_eq!(validate_quartz_cron(expr), Ok(()), "{expr:?}");
        }
    }

    #[test]
    fn invalid_expressions_name_the_field() {
        use CronField::*;
        let cases: &[(&str, Option<CronField>, &str)] = &[
            ("", None, "empty"),
            ("   ", None, "empty"),
            ("0 2 * * *", None, "Unix cron"),
            ("0 0 2 ? *", None, "5 field"),
            ("0 0 2 ? * * * *", None, "8 field"),
            ("60 0 2 ? * * *", Some(Seconds), "60 is out of range"),
            ("0 60 2 ? * * *", Some(Minutes), "60 is out of range"),
            ("0 0 24 ? * * *", Some(Hours), "24 is out of range"),
            ("0 0 2 0 * ? *", Some(DayOfMonth), "0 is out of range"),
            ("0 0 2 32 * ? *", Some(DayOfMonth), "32 is out of range"),
            ("0 0 2 ? 13 * *", Some(Month), "13 is out of range"),
            ("0 0 2 ? 0 * *", Some(Month), "0 is out of range"),
            ("0 0 2 ? * 0 *", Some(DayOfWeek), "0 is out of range"),
            ("0 0 2 ? * 8 *", Some(DayOfWeek), "8 is out of range"),
            ("0 0 2 ? * * 1969", Some(Year), "1969 is out of range"),
            ("0 0 2 ? * * 2100", Some(Year), "2100 is out of range"),
            ("0 0 2 ? * * 2030-2025", Some(Year), "go forward"),
            (
                "? 0 2 * * * *",
                Some(Seconds),
                "only allowed in day-of-month or day-of-week",
            ),
            ("0 0 2 ? ? * *", Some(Month), "only allowed"),
            ("0 0 2 ? * * ?", Some(Year), "only allowed"),
            ("0 0 2 ?,1 * * *", Some(DayOfMonth), "stands alone"),
            ("0 0 2 * * * *", Some(DayOfWeek), "both set"),
            ("0 0 2 1 * MON *", Some(DayOfWeek), "both set"),
            ("0 0 2 ? * ? *", Some(DayOfWeek), "both `?`"),
            ("0 0 2 ? JANUARY * *", Some(Month), "neither a number nor a month name"),
            (
                "0 0 2 ? * MONDAY *",
                Some(DayOfWeek),
                "neither a number nor a day-of-week name",
            ),
            ("0 0 2 ? MON * *", Some(Month), "month name"),
            ("0 0 2 ? * JAN *", Some(DayOfWeek), "day-of-week name"),
            ("0 0 TWO ? * * *", Some(Hours), "not a number"),
            ("0 0 2, ? * * *", Some(Hours), "empty item"),
            ("0 0 ,2 ? * * *", Some(Hours), "empty item"),
            ("0 */0 2 ? * * *", Some(Minutes), "step after `/` must be 1-59"),
            ("0 */60 2 ? * * *", Some(Minutes), "1-59"),
            ("0 0 */24 ? * * *", Some(Hours), "1-23"),
            ("0 /5 2 ? * * *", Some(Minutes), "needs a start"),
            ("0 5/x 2 ? * * *", Some(Minutes), "step"),
            ("0 1/2/3 2 ? * * *", Some(Minutes), "step"),
            ("0 1- 2 ? * * *", Some(Minutes), "missing"),
            ("0 -1 2 ? * * *", Some(Minutes), "missing"),
            ("0 0 2 L-31 * ? *", Some(DayOfMonth), "1 to 30"),
            ("0 0 2 L-0 * ? *", Some(DayOfMonth), "1 to 30"),
            ("0 0 2 32W * ? *", Some(DayOfMonth), "`W`"),
            ("0 0 2 1-5W * ? *", Some(DayOfMonth), "`W`"),
            ("0 0 2 L,15 * ? *", Some(DayOfMonth), "cannot be combined"),
            ("0 0 2 L/2 * ? *", Some(DayOfMonth), "`L` and `W`"),
            ("0 0 2 ? * MON#6 *", Some(DayOfWeek), "k from 1 to 5"),
            ("0 0 2 ? * 8#1 *", Some(DayOfWeek), "out of range"),
            ("0 0 2 ? * MON#1,TUE *", Some(DayOfWeek), "cannot be combined"),
            ("0 0 2 ? * 9L *", Some(DayOfWeek), "follows one day of the week"),
            (
                "0 0 2 ? * 5W *",
                Some(DayOfWeek),
                "neither a number nor a day-of-week name",
            ),
            ("0 0 L ? * * *", Some(Hours), "only allowed in the day fields"),
            ("0 0 2 ? 1#2 * *", Some(Month), "only allowed in the day fields"),
        ];
        for (expr, field, needle) in cases {
            let err = match validate_quartz_cron(expr) {
                Ok(()) => panic!("{expr:?} should be refused"),
                Err(e) => e,
            };
            assert_eq!(err.field(), *field, "{expr:?}: {err}");
            let text = err.to_string();
            assert!(text.contains(needle), "{expr:?}: {text:?} lacks {needle:?}");
            if let Some(f) = field {
                assert!(text.contains(f.name()), "{expr:?}: {text:?} does not name {f}");
            }
        }
    }

    #[test]
    fn messages_say_how_to_fix() {
        let unix = validate_quartz_cron("0 2 * * *").unwrap_err().to_string();
        assert!(unix.contains("Unix cron") && unix.contains(EXAMPLE), "{unix}");
        let both = validate_quartz_cron("0 0 2 * * * *").unwrap_err().to_string();
        assert!(both.contains("exactly one of them"), "{both}");
        let range = validate_quartz_cron("0 0 2 ? * 0 *").unwrap_err().to_string();
        assert!(
            range.starts_with("field 6 (day-of-week) `0`") && range.contains("1 = Sunday"),
            "{range}"
        );
    }

    /// One item of a field, built from the grammar; never a special form.
    fn item(field: CronField) -> impl Strategy<Value = String> {
        let (low, high) = field.bounds();
        let names = field.names();
        let value = if names.is_empty() {
            (low..=high).prop_map(|n| n.to_string()).boxed()
        } else {
            prop_oneof![
                (low..=high).prop_map(|n| n.to_string()),
                (0..names.len()).prop_map(move |i| names[i].to_string()),
            ]
            .boxed()
        };
        let step = 1..=field.max_step();
        prop_oneof![
            Just("*".to_string()),
            value.clone(),
            (value.clone(), value.clone()).prop_map(move |(a, b)| {
                // Years may not go backwards: order the two ends.
                if field == CronField::Year && a > b {
                    format!("{b}-{a}")
                } else {
                    format!("{a}-{b}")
                }
            }),
            (prop_oneof![Just("*".to_string()), value], step).prop_map(|(a, s)| format!("{a}/{s}")),
        ]
    }

    fn list(field: CronField) -> impl Strategy<Value = String> {
        proptest::collection::vec(item(field), 1..=3).prop_map(|items| items.join(","))
    }

    fn expression() -> impl Strategy<Value = Vec<String>> {
        (
            list(CronField::Seconds),
            list(CronField::Minutes),
            list(CronField::Hours),
            list(CronField::DayOfMonth),
            list(CronField::Month),
            list(CronField::DayOfWeek),
            prop::option::of(list(CronField::Year)),
            any::<bool>(),
        )
            .prop_map(|(s, m, h, dom, mon, dow, year, dom_set)| {
                let (dom, dow) = if dom_set { (dom, "?".into()) } else { ("?".into(), dow) };
                let mut fields = vec![s, m, h, dom, mon, dow];
                fields.extend(year);
                fields
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn generated_expressions_pass(fields in expression()) {
            let expr = fields.join(" ");
            prop_assert_eq!(validate_quartz_cron(&expr), Ok(()), "{}", expr);
        }

        #[test]
        fn an_out_of_range_value_is_blamed_on_its_field(fields in expression(), at in 0usize..6, over in 1u32..100) {
            let field = CronField::ALL[at];
            let mut fields = fields;
            let (low, high) = field.bounds();
            fields[at] = if low > 0 && over % 2 == 0 { "0".to_string() } else { (high + over).to_string() };
            let expr = fields.join(" ");
            let err = validate_quartz_cron(&expr);
            prop_assert!(
                matches!(&err, Err(CronError::Field { field: f, .. }) if *f == field),
                "{}: {:?}", expr, err
            );
        }
    }
}
