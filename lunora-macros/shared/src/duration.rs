//! Durations as Cloudflare accepts them, parsed strictly.
//!
//! Grammar: `<number> <unit>` where number is a non-negative decimal (`1`, `1.5`) and unit is
//! one of `ms`, `millisecond`, `second`, `minute`, `hour`, `day`, `week`, `month` (30 days),
//! `year` (365.25 days), each optionally plural. One space separates them. Cloudflare's JS
//! parser multiplies an unknown unit by one (`"5 mins"` is 5 ms); here it is an error.

use std::fmt;
use std::time::Duration;

/// Milliseconds per unit, longest names first so the error message reads well.
const UNITS: &[(&str, f64)] = &[
    ("millisecond", 1.0),
    ("ms", 1.0),
    ("second", 1_000.0),
    ("minute", 60_000.0),
    ("hour", 3_600_000.0),
    ("day", 86_400_000.0),
    ("week", 604_800_000.0),
    ("month", 2_592_000_000.0),
    ("year", 31_557_600_000.0),
];

/// Why a duration string was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DurationError {
    input: String,
    reason: String,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid duration \"{}\": {}", self.input, self.reason)
    }
}

impl std::error::Error for DurationError {}

impl DurationError {
    fn new(input: &str, reason: impl Into<String>) -> Self {
        Self { input: input.to_owned(), reason: reason.into() }
    }
}

/// The accepted units, for error messages.
pub const UNIT_LIST: &str = "ms, millisecond, second, minute, hour, day, week, month, year (singular or plural)";

/// Parses `"10 seconds"`, `"1 minute"`, `"1.5 days"`, `"250 ms"`.
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let (number, unit) = input
        .split_once(' ')
        .ok_or_else(|| DurationError::new(input, "expected \"<number> <unit>\", e.g. \"10 seconds\""))?;
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(DurationError::new(input, format!("\"{number}\" is not a non-negative number")));
    }
    let value: f64 = number.parse().map_err(|_| DurationError::new(input, format!("\"{number}\" is not a number")))?;
    let singular = unit.strip_suffix('s').filter(|s| *s != "m").unwrap_or(unit);
    let per_unit =
        UNITS.iter().find(|(name, _)| *name == singular || *name == unit).map(|(_, ms)| *ms).ok_or_else(|| {
            DurationError::new(input, format!("unknown unit \"{unit}\"; expected one of {UNIT_LIST}"))
        })?;
    let millis = value * per_unit;
    if !millis.is_finite() || millis > u64::MAX as f64 / 2.0 {
        return Err(DurationError::new(input, "is too large"));
    }
    Ok(Duration::from_micros((millis * 1_000.0).round() as u64))
}

/// A duration in whole milliseconds, saturating.
pub fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit_singular_and_plural() {
        let cases = [
            ("250 ms", 250),
            ("1 millisecond", 1),
            ("10 seconds", 10_000),
            ("1 second", 1_000),
            ("1 minute", 60_000),
            ("2 hours", 7_200_000),
            ("1.5 days", 129_600_000),
            ("1 week", 604_800_000),
            ("1 month", 2_592_000_000),
            ("1 year", 31_557_600_000),
            ("0 seconds", 0),
        ];
        for (input, ms) in cases {
            assert_eq!(parse_duration(input).unwrap(), Duration::from_millis(ms), "{input}");
        }
    }

    #[test]
    fn rejects_unknown_units_instead_of_multiplying_by_one() {
        let err = parse_duration("5 mins").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid duration \"5 mins\": unknown unit \"mins\"; expected one of ms, millisecond, \
             second, minute, hour, day, week, month, year (singular or plural)"
        );
    }

    #[test]
    fn rejects_malformed_numbers_and_shapes() {
        for bad in ["", "10", "10seconds", "-1 second", "1e3 ms", "ten seconds", "1  second", " 1 second"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
