//! [`InstanceStatus`] as JSON in the shape Cloudflare's Workflow binding returns (the rules are
//! on [`InstanceStatus`]): private wire structs borrowing from the status when writing and
//! owning their strings when reading.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::ser::{Serialize, Serializer};

use super::{InstanceStatus, InstanceStatusKind, RollbackOutcome, RollbackState};
use crate::error::Error;

#[derive(serde::Serialize)]
struct StatusOut<'a, O> {
    status: InstanceStatusKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<&'a O>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rollback: Option<RollbackOut<'a>>,
}

#[derive(serde::Deserialize)]
#[serde(expecting = "an instance status object {\"status\", \"error\"?, \"output\"?, \"rollback\"?}")]
struct StatusIn<O> {
    status: InstanceStatusKind,
    error: Option<ErrorIn>,
    output: Option<O>,
    rollback: Option<RollbackIn>,
}

#[derive(serde::Serialize)]
struct ErrorOut<'a> {
    name: &'a str,
    message: &'a str,
}

impl<'a> From<&'a Error> for ErrorOut<'a> {
    fn from(error: &'a Error) -> Self {
        Self { name: error.name(), message: error.message() }
    }
}

#[derive(serde::Deserialize)]
#[serde(expecting = "an error object {\"name\": string, \"message\": string}")]
struct ErrorIn {
    name: String,
    message: String,
}

impl From<ErrorIn> for Error {
    fn from(error: ErrorIn) -> Self {
        Error::named(error.name, error.message)
    }
}

/// `{outcome, error}`: `error` is `null` when the chain completed, as Cloudflare reports it.
#[derive(serde::Serialize)]
struct RollbackOut<'a> {
    outcome: RollbackOutcome,
    error: Option<ErrorOut<'a>>,
}

#[derive(serde::Deserialize)]
#[serde(expecting = "a rollback object {\"outcome\": \"complete\" | \"failed\", \"error\"?}")]
struct RollbackIn {
    #[serde(deserialize_with = "rollback_outcome")]
    outcome: RollbackOutcome,
    error: Option<ErrorIn>,
}

/// Read through a string so a non-string outcome says what was expected (serde_json's enum
/// reader only says "expected value").
fn rollback_outcome<'de, D: Deserializer<'de>>(deserializer: D) -> Result<RollbackOutcome, D::Error> {
    match String::deserialize(deserializer)?.as_str() {
        "complete" => Ok(RollbackOutcome::Complete),
        "failed" => Ok(RollbackOutcome::Failed),
        other => Err(de::Error::unknown_variant(other, &["complete", "failed"])),
    }
}

impl<O: Serialize> Serialize for InstanceStatus<O> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        StatusOut {
            status: self.status,
            error: self.error.as_ref().map(ErrorOut::from),
            output: self.output.as_ref(),
            rollback: self
                .rollback
                .as_ref()
                .map(|r| RollbackOut { outcome: r.outcome, error: r.error.as_ref().map(ErrorOut::from) }),
        }
        .serialize(serializer)
    }
}

impl<'de, O: Deserialize<'de>> Deserialize<'de> for InstanceStatus<O> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = StatusIn::<O>::deserialize(deserializer)?;
        Ok(InstanceStatus {
            status: wire.status,
            error: wire.error.map(Error::from),
            output: wire.output,
            rollback: wire.rollback.map(|r| RollbackState { outcome: r.outcome, error: r.error.map(Error::from) }),
        })
    }
}

/// Every spelling [`InstanceStatusKind::parse`] accepts, for the error naming them.
const STATUS_NAMES: &[&str] = &[
    "queued",
    "running",
    "paused",
    "errored",
    "terminated",
    "complete",
    "waiting",
    "waitingForPause",
    "rollingBack",
    "unknown",
];

/// Strict where [`InstanceStatusKind::parse`] is lenient: a string outside Cloudflare's spelling
/// is an error naming the accepted ones, and a non-string says what was expected.
impl<'de> Deserialize<'de> for InstanceStatusKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Strict;

        impl Visitor<'_> for Strict {
            type Value = InstanceStatusKind;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an instance status string such as \"running\"")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                match InstanceStatusKind::parse(text) {
                    InstanceStatusKind::Unknown if text != "unknown" => Err(E::unknown_variant(text, STATUS_NAMES)),
                    kind => Ok(kind),
                }
            }
        }

        deserializer.deserialize_str(Strict)
    }
}
