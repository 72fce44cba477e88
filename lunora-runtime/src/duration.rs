//! Durations as Cloudflare accepts them: a typed [`Duration`], milliseconds, or a string parsed
//! strictly by [`parse_duration`] (the grammar lives in `lunora-shared`, which the macros use
//! to check attribute strings at compile time).

use std::fmt;
use std::time::Duration;

pub use lunora_shared::duration::{millis, parse_duration, DurationError};

/// A duration given as a typed [`Duration`], milliseconds, or a string (parsed when used).
#[derive(Clone, PartialEq, Eq)]
pub enum DurationInput {
    Exact(Duration),
    Text(String),
}

impl DurationInput {
    /// The duration, or the parse error for a bad string.
    pub fn resolve(&self) -> Result<Duration, DurationError> {
        match self {
            DurationInput::Exact(d) => Ok(*d),
            DurationInput::Text(s) => parse_duration(s),
        }
    }
}

impl fmt::Debug for DurationInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurationInput::Exact(d) => write!(f, "{d:?}"),
            DurationInput::Text(s) => write!(f, "{s:?}"),
        }
    }
}

impl From<Duration> for DurationInput {
    fn from(d: Duration) -> Self {
        DurationInput::Exact(d)
    }
}

impl From<&str> for DurationInput {
    fn from(s: &str) -> Self {
        DurationInput::Text(s.to_owned())
    }
}

impl From<String> for DurationInput {
    fn from(s: String) -> Self {
        DurationInput::Text(s)
    }
}

/// A bare number is milliseconds, as in Cloudflare's API.
impl From<u64> for DurationInput {
    fn from(ms: u64) -> Self {
        DurationInput::Exact(Duration::from_millis(ms))
    }
}
