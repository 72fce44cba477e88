//! Cloudflare cron triggers, checked at compile time: five fields (minute hour day-of-month
//! month day-of-week, no seconds), each a comma-separated list of `*`, `N`, `N-M`, with an
//! optional `/step`; month and weekday names (`JAN`, `MON`); `L` and `NW` in the day of the
//! month; `NL` and `N#K` in the day of the week.
//!
//! Hand-written rather than a cron crate: this runs in every user build, unoptimised, and a
//! full cron parser (with a time library behind it) costs more than the whole rest of the
//! macro.

const MONTHS: [&str; 12] = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// Index of the first name (months start at 1, days at 0).
    names_from: u32,
}

const FIELDS: [Field; 5] = [
    Field { name: "minute", min: 0, max: 59, names: &[], names_from: 0 },
    Field { name: "hour", min: 0, max: 23, names: &[], names_from: 0 },
    Field { name: "day of month", min: 1, max: 31, names: &[], names_from: 0 },
    Field { name: "month", min: 1, max: 12, names: &MONTHS, names_from: 1 },
    Field { name: "day of week", min: 0, max: 7, names: &DAYS, names_from: 0 },
];

/// `Ok` for a valid Cloudflare cron string, else why not.
pub fn check(cron: &str) -> Result<(), String> {
    let fields: Vec<&str> = cron.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "invalid cron string \"{cron}\": expected 5 fields (minute hour day-of-month month day-of-week), found {}",
            fields.len()
        ));
    }
    for (i, (text, field)) in fields.iter().zip(FIELDS.iter()).enumerate() {
        for item in text.split(',') {
            check_item(item, field, i)
                .map_err(|why| format!("invalid cron string \"{cron}\": {} field \"{text}\": {why}", field.name))?;
        }
    }
    Ok(())
}

fn check_item(item: &str, field: &Field, index: usize) -> Result<(), String> {
    if item.is_empty() {
        return Err("empty list item".into());
    }
    // Day-of-month extras: L, LW, NW.
    if index == 2 && (item == "L" || item == "LW") {
        return Ok(());
    }
    if index == 2 {
        if let Some(day) = item.strip_suffix('W') {
            return value(day, field).map(drop);
        }
    }
    // Day-of-week extras: NL (last N-day of the month), N#K (K-th N-day).
    if index == 4 {
        if let Some(day) = item.strip_suffix('L') {
            return value(day, field).map(drop);
        }
        if let Some((day, nth)) = item.split_once('#') {
            value(day, field)?;
            return match nth.parse::<u32>() {
                Ok(1..=5) => Ok(()),
                _ => Err(format!("\"#{nth}\" must be #1 to #5")),
            };
        }
    }
    let (range, step) = match item.split_once('/') {
        Some((range, step)) => (range, Some(step)),
        None => (item, None),
    };
    if let Some(step) = step {
        match step.parse::<u32>() {
            Ok(n) if n >= 1 && n <= field.max.max(1) => {}
            _ => return Err(format!("step \"/{step}\" must be a number from 1 to {}", field.max)),
        }
    }
    if range == "*" {
        return Ok(());
    }
    match range.split_once('-') {
        Some((from, to)) => {
            let (from, to) = (value(from, field)?, value(to, field)?);
            if from > to {
                return Err(format!("range {from}-{to} runs backwards"));
            }
            Ok(())
        }
        None => value(range, field).map(drop),
    }
}

fn value(text: &str, field: &Field) -> Result<u32, String> {
    if let Some(i) = field.names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        return Ok(i as u32 + field.names_from);
    }
    match text.parse::<u32>() {
        Ok(n) if (field.min..=field.max).contains(&n) => Ok(n),
        Ok(n) => Err(format!("{n} is out of range {}-{}", field.min, field.max)),
        Err(_) if field.names.is_empty() => Err(format!("\"{text}\" is not a number")),
        Err(_) => Err(format!("\"{text}\" is neither a number nor one of {}", field.names.join(", "))),
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn accepts_what_cloudflare_accepts() {
        for ok in [
            "* * * * *",
            "0 3 * * *",
            "*/15 * * * MON-FRI",
            "0 0 1 JAN,JUL *",
            "30 8 L * *",
            "0 9 15W * *",
            "0 12 * * 5L",
            "0 12 * * FRI#2",
            "0-30/5 1,2,3 * 1-6/2 0",
            "59 23 31 12 7",
        ] {
            assert!(check(ok).is_ok(), "{ok}: {:?}", check(ok));
        }
    }

    #[test]
    fn rejects_with_the_field_and_the_reason() {
        let cases = [
            ("61 * * * *", "minute field \"61\": 61 is out of range 0-59"),
            ("0 0 3 * * *", "expected 5 fields"),
            ("* 24 * * *", "hour field \"24\": 24 is out of range 0-23"),
            ("* * 0 * *", "day of month field \"0\": 0 is out of range 1-31"),
            ("* * * FOO *", "month field \"FOO\": \"FOO\" is neither a number nor one of JAN"),
            ("* * * * MON#6", "\"#6\" must be #1 to #5"),
            ("*/0 * * * *", "step \"/0\" must be a number from 1 to 59"),
            ("5-1 * * * *", "range 5-1 runs backwards"),
            ("1,,2 * * * *", "empty list item"),
        ];
        for (cron, expected) in cases {
            let err = check(cron).unwrap_err();
            assert!(err.contains(expected), "{cron}: {err}");
        }
    }
}
