//! Durations as Cloudflare accepts them, parsed strictly.
//!
//! Grammar: `<number> <unit>` where number is a non-negative decimal (`1`, `1.5`) and unit is
//! one of `ms`, `millisecond`, `second`, `minute`, `hour`, `day`, `week`, `month` (30 days),
//! `year` (365.25 days), each optionally plural. One space separates them. Cloudflare's JS
//! parser multiplies an unknown unit by one (`"5 mins"` is 5 ms); here it is an error.

use std::fmt;
use std::time::Duration;

/// Milliseconds per unit, longest names first so the error message reads well.
const UNITS: &[(&str, u64)] = &[
    ("millisecond", 1),
    ("ms", 1),
    ("second", 1_000),
    ("minute", 60_000),
    ("hour", 3_600_000),
    ("day", 86_400_000),
    ("week", 604_800_000),
    ("month", 2_592_000_000),
    ("year", 31_557_600_000),
];

/// Fraction digits that count: past 18 a digit moves a year by less than 10⁻⁴ µs, which the
/// rounding to whole microseconds cannot show.
const FRACTION_DIGITS: usize = 18;

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
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
        return Err(DurationError::new(input, format!("\"{number}\" is not a number")));
    }
    let singular = unit.strip_suffix('s').filter(|s| *s != "m").unwrap_or(unit);
    let per_unit =
        UNITS.iter().find(|(name, _)| *name == singular || *name == unit).map(|(_, ms)| *ms).ok_or_else(|| {
            DurationError::new(input, format!("unknown unit \"{unit}\"; expected one of {UNIT_LIST}"))
        })?;
    // Exact decimal arithmetic in microseconds (no float parsing: a Worker need not link it).
    let too_large = || DurationError::new(input, "is too large");
    let unit_micros = u128::from(per_unit) * 1_000;
    let whole_micros = whole
        .bytes()
        .try_fold(0u128, |n, d| n.checked_mul(10)?.checked_add(u128::from(d - b'0')))
        .and_then(|n| n.checked_mul(unit_micros))
        .ok_or_else(too_large)?;
    let fraction = &fraction[..fraction.len().min(FRACTION_DIGITS)];
    let scale = 10u128.pow(fraction.len() as u32);
    let numerator = fraction.bytes().fold(0u128, |n, d| n * 10 + u128::from(d - b'0'));
    // Half a microsecond and up rounds up.
    let fraction_micros = (numerator * unit_micros * 2 + scale) / (scale * 2);
    let micros = whole_micros.checked_add(fraction_micros).ok_or_else(too_large)?;
    if micros / 1_000 > u128::from(u64::MAX / 2) {
        return Err(too_large());
    }
    Ok(Duration::new((micros / 1_000_000) as u64, (micros % 1_000_000) as u32 * 1_000))
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
        for bad in [". ms", "1.2.3 ms", "1..2 ms"] {
            assert_eq!(
                parse_duration(bad).unwrap_err().to_string(),
                format!("invalid duration \"{bad}\": \"{}\" is not a number", bad.split(' ').next().unwrap())
            );
        }
    }

    #[test]
    fn decimals_are_exact_to_the_microsecond() {
        let cases = [
            ("0.5 ms", 500),
            (".5 seconds", 500_000),
            ("2. seconds", 2_000_000),
            ("0.1 ms", 100),
            ("0.0005 ms", 1),
            ("0.0004999 ms", 0),
            ("1.000001 seconds", 1_000_001),
            ("0.333333333333333333333333 hours", 1_200_000_000),
            ("1.5 years", 47_336_400_000_000),
            ("00012 ms", 12_000),
        ];
        for (input, micros) in cases {
            assert_eq!(parse_duration(input).unwrap(), Duration::from_micros(micros), "{input}");
        }
    }

    #[test]
    fn huge_numbers_are_too_large_not_wrapped() {
        let limit_ms = u64::MAX / 2;
        assert_eq!(parse_duration(&format!("{limit_ms} ms")).unwrap(), Duration::from_millis(limit_ms));
        for huge in [
            format!("{} ms", limit_ms + 1),
            "300000000 years".to_owned(),
            format!("{} ms", "9".repeat(60)),
            format!("1{} years", "0".repeat(40)),
        ] {
            assert_eq!(
                parse_duration(&huge).unwrap_err().to_string(),
                format!("invalid duration \"{huge}\": is too large")
            );
        }
        let long_fraction = format!("1.{} seconds", "9".repeat(5_000));
        assert_eq!(parse_duration(&long_fraction).unwrap(), Duration::from_secs(2));
    }
}
