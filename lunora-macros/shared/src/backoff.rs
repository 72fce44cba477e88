//! Retry backoff as `#[step(retries(backoff = "…"))]` and `StepConfig` spell it, and the code
//! the `#[step]` expansion passes to the runtime (`lunora_runtime::__private::step_config`).

use std::fmt;

/// How the delay between retries grows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(rename_all = "lowercase"))]
pub enum Backoff {
    /// `delay` every time.
    Constant,
    /// `delay × n` after the n-th failed attempt.
    Linear,
    /// `delay × 2^(n−1)` after the n-th failed attempt.
    Exponential,
}

impl Backoff {
    /// Every backoff, in the order of their codes.
    pub const ALL: [Backoff; 3] = [Backoff::Constant, Backoff::Linear, Backoff::Exponential];

    /// The name users write: `constant`, `linear` or `exponential` (Cloudflare's spelling).
    pub const fn name(self) -> &'static str {
        match self {
            Backoff::Constant => "constant",
            Backoff::Linear => "linear",
            Backoff::Exponential => "exponential",
        }
    }

    /// The code the `#[step]` expansion passes to the runtime: 0, 1 or 2 (`-1` there means
    /// "not declared").
    pub const fn code(self) -> i8 {
        match self {
            Backoff::Constant => 0,
            Backoff::Linear => 1,
            Backoff::Exponential => 2,
        }
    }

    /// The backoff of a [`Backoff::code`].
    pub fn from_code(code: i8) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.code() == code)
    }

    /// Parses a name; the error states the names accepted.
    pub fn parse(name: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|b| b.name() == name).ok_or_else(|| {
            format!(
                "unknown backoff \"{name}\"; expected \"{}\", \"{}\" or \"{}\"",
                Backoff::Constant.name(),
                Backoff::Linear.name(),
                Backoff::Exponential.name()
            )
        })
    }
}

impl fmt::Display for Backoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes_round_trip() {
        for b in Backoff::ALL {
            assert_eq!(Backoff::parse(b.name()), Ok(b));
            assert_eq!(Backoff::from_code(b.code()), Some(b));
        }
        assert_eq!(Backoff::ALL.map(Backoff::code), [0, 1, 2]);
        assert_eq!(Backoff::from_code(-1), None);
        assert_eq!(Backoff::from_code(3), None);
    }

    #[test]
    fn unknown_names_are_refused_with_the_accepted_ones() {
        assert_eq!(
            Backoff::parse("Exponential").unwrap_err(),
            "unknown backoff \"Exponential\"; expected \"constant\", \"linear\" or \"exponential\""
        );
    }
}
