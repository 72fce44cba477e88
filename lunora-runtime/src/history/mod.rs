//! One instance's history, the same from both engines: what replay checks new code against.
//!
//! A history is JSON (README, "Histories and replay"): the workflow and instance, the deployed
//! version where known, the params and the trigger, and the ordered step records, each with its
//! kind, name and occurrence count, state, recorded output or error and attempts. The embedded
//! engine writes it from its journal (`local::history`), the REST client's instance detail gives
//! it for Cloudflare ([`History::from_rest`]).
//!
//! Histories come from outside (files pulled from an account, edited by hand): [`History::parse`]
//! never panics, and every refusal names the file and the field (`steps[2].count`).

mod parse;
mod record;
mod rest;

use std::path::Path;

pub use parse::{HistoryError, MAX_HISTORY_BYTES};
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use record::next_count;
pub use record::{
    step_label, AttemptRecord, History, RecordKind, RecordState, StepRecord, Trigger, FORMAT, FORMAT_VERSION,
    RESUMABLE_STATUSES,
};

/// What both engines show instead of the output of a step marked `sensitive: "output"`
/// (`#[step(sensitive)]`, `StepConfig::sensitive_output`) in histories and timelines.
pub const REDACTED_OUTPUT: &str = "[REDACTED]";

impl History {
    /// Parses a history; `source` names it in errors (a file path, or `<input>`).
    pub fn parse(text: &str, source: &str) -> Result<Self, HistoryError> {
        parse::parse(text, source)
    }

    /// Reads and parses a history file (at most [`MAX_HISTORY_BYTES`]).
    pub fn read(path: &Path) -> Result<Self, HistoryError> {
        parse::read(path)
    }
}
