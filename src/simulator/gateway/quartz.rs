//! Quartz cron syntax, as Qualys checks the snapshot `schedule` (a 7-field
//! Quartz expression in the sample [001:7249], Q-DATE-4). Read from the Quartz
//! format itself, by patterns, apart from the client's parser, so the two can
//! be held against each other.
//!
//! Fields: second, minute, hour, day-of-month, month, day-of-week, optional
//! year. `?` in exactly one of the day fields. Items: `*`, a value, a range
//! (backwards ranges wrap, except years), each with an optional `/step`;
//! lists of items; the day fields' `L`, `L-n`, `LW`, `nW`, `nL`, `n#k` alone.

use std::sync::OnceLock;

use regex::Regex;

struct Spec {
    name: &'static str,
    low: u32,
    high: u32,
    max_step: u32,
    names: &'static [&'static str],
}

const SPECS: [Spec; 7] = [
    Spec {
        name: "second",
        low: 0,
        high: 59,
        max_step: 59,
        names: &[],
    },
    Spec {
        name: "minute",
        low: 0,
        high: 59,
        max_step: 59,
        names: &[],
    },
    Spec {
        name: "hour",
        low: 0,
        high: 23,
        max_step: 23,
        names: &[],
    },
    Spec {
        name: "day-of-month",
        low: 1,
        high: 31,
        max_step: 31,
        names: &[],
    },
    Spec {
        name: "month",
        low: 1,
        high: 12,
        max_step: 12,
        names: &[
            "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
        ],
    },
    Spec {
        name: "day-of-week",
        low: 1,
        high: 7,
        max_step: 7,
        names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    },
    Spec {
        name: "year",
        low: 1970,
        high: 2099,
        max_step: 129,
        names: &[],
    },
];

fn pattern(cell: &'static OnceLock<Option<Regex>>, source: &str) -> Option<&'static Regex> {
    cell.get_or_init(|| Regex::new(source).ok()).as_ref()
}

/// `*`, `a` or `a-b`, then an optional `/n`.
fn item_pattern() -> Option<&'static Regex> {
    static CELL: OnceLock<Option<Regex>> = OnceLock::new();
    pattern(&CELL, r"^(?:(\*)|([0-9A-Z]+)(?:-([0-9A-Z]+))?)(?:/([0-9]+))?$")
}

fn day_of_month_special() -> Option<&'static Regex> {
    static CELL: OnceLock<Option<Regex>> = OnceLock::new();
    pattern(&CELL, r"^(?:L|LW|L-([0-9]+)|([0-9]+)W)$")
}

fn day_of_week_special() -> Option<&'static Regex> {
    static CELL: OnceLock<Option<Regex>> = OnceLock::new();
    pattern(&CELL, r"^(?:L|([0-9A-Z]+?)L|([0-9A-Z]+)#([0-9]+))$")
}

fn resolve(spec: &Spec, token: &str) -> Result<u32, String> {
    if let Ok(n) = token.parse::<u32>() {
        if (spec.low..=spec.high).contains(&n) {
            return Ok(n);
        }
        return Err(format!(
            "{} value {n} is not within {}-{}",
            spec.name, spec.low, spec.high
        ));
    }
    spec.names
        .iter()
        .position(|n| *n == token)
        .map(|i| spec.low + i as u32)
        .ok_or_else(|| format!("{token:?} is not a {} value", spec.name))
}

fn within(n: Option<&str>, low: u32, high: u32) -> bool {
    n.and_then(|n| n.parse::<u32>().ok())
        .is_some_and(|n| (low..=high).contains(&n))
}

/// `Ok(true)` for a special day form, `Ok(false)` when `item` is none.
fn special(index: usize, item: &str) -> Result<bool, String> {
    let spec = &SPECS[index];
    let (re, is_day) = match index {
        3 => (day_of_month_special(), true),
        5 => (day_of_week_special(), true),
        _ => (None, false),
    };
    let Some(caps) = re.and_then(|re| re.captures(item)) else {
        return Ok(false);
    };
    let ok = match index {
        3 => match (caps.get(1), caps.get(2)) {
            (Some(offset), _) => within(Some(offset.as_str()), 1, 30),
            (_, Some(day)) => within(Some(day.as_str()), 1, 31),
            _ => true,
        },
        _ => match (caps.get(1), caps.get(2), caps.get(3)) {
            (Some(day), _, _) => resolve(spec, day.as_str()).is_ok(),
            (_, Some(day), nth) => resolve(spec, day.as_str()).is_ok() && within(nth.map(|m| m.as_str()), 1, 5),
            _ => true,
        },
    };
    if is_day && ok {
        Ok(true)
    } else {
        Err(format!("{item:?} is not a valid {} form", spec.name))
    }
}

fn item(index: usize, item: &str) -> Result<(), String> {
    let spec = &SPECS[index];
    let caps = item_pattern()
        .and_then(|re| re.captures(item))
        .ok_or_else(|| format!("{item:?} is not a valid {} item", spec.name))?;
    if let Some(step) = caps.get(4)
        && !within(Some(step.as_str()), 1, spec.max_step)
    {
        return Err(format!(
            "{} step {} is not within 1-{}",
            spec.name,
            step.as_str(),
            spec.max_step
        ));
    }
    if caps.get(1).is_some() {
        return Ok(());
    }
    let from = caps
        .get(2)
        .map(|m| resolve(spec, m.as_str()))
        .transpose()?
        .unwrap_or(spec.low);
    if let Some(to) = caps.get(3) {
        let to = resolve(spec, to.as_str())?;
        if index == 6 && to < from {
            return Err("a year range must not go backwards".into());
        }
    }
    Ok(())
}

/// `Ok(())` when Qualys would take `expression` as a schedule; else why not.
pub fn check(expression: &str) -> Result<(), String> {
    let upper = expression.to_ascii_uppercase();
    let fields: Vec<&str> = upper.split_whitespace().collect();
    if !(6..=7).contains(&fields.len()) {
        return Err(format!(
            "a Quartz cron expression has 6 or 7 fields, not {}",
            fields.len()
        ));
    }
    for (index, field) in fields.iter().enumerate() {
        if *field == "?" {
            if index == 3 || index == 5 {
                continue;
            }
            return Err(format!("'?' is not allowed in the {} field", SPECS[index].name));
        }
        let items: Vec<&str> = field.split(',').collect();
        for one in &items {
            if special(index, one)? {
                if items.len() > 1 {
                    return Err(format!("{one:?} must stand alone in the {} field", SPECS[index].name));
                }
            } else {
                item(index, one)?;
            }
        }
    }
    match (fields[3] == "?", fields[5] == "?") {
        (true, false) | (false, true) => Ok(()),
        _ => Err("exactly one of day-of-month and day-of-week must be '?'".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn quartz_forms() {
        for ok in [
            "0 0 2 ? * * *",
            "0 0 2 ? * *",
            "0 15 10 ? * MON-FRI",
            "0 0/5 14,18 * * ?",
            "0 15 10 L-2 * ? 2030",
            "0 15 10 15W * ?",
            "0 15 10 ? * 6#3",
            "0 15 10 ? * FRIL",
            "0 0 22-2 ? * SUN/2",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        for bad in [
            "0 2 * * *",
            "0 0 2 * * * *",
            "0 0 2 ? * ? *",
            "60 0 2 ? * * *",
            "0 0 2 ? 13 * *",
            "0 0 2 ? * 0 *",
            "0 0 2 ? * * 2100",
            "0 0 2 ? * * 2030-2025",
            "0 */0 2 ? * * *",
            "0 0 2 L,5 * ? *",
            "0 0 2 ? * MON#6 *",
            "0 0 2 32W * ? *",
            "0 0 L ? * * *",
            "0 0 2, ? * * *",
        ] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }
}
