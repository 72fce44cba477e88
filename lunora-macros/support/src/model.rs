//! The validated model. Built only by `check`, so expansion needs no error paths.

use crate::item::FnItem;
pub use lunora_shared::backoff::Backoff;
use lunora_shared::naming::WorkflowNames;
use syn::{Path, Type};

/// A checked `#[workflow]`.
#[derive(Clone, Debug)]
pub struct WorkflowDef {
    pub item: FnItem,
    pub names: WorkflowNames,
    /// `name = "…"`, or the default name.
    pub deployed_name: String,
    pub params: Type,
    pub output: Type,
    pub schedules: Vec<String>,
    pub step_limit: Option<u32>,
}

/// A checked `#[step]`.
#[derive(Clone, Debug)]
pub struct StepDef {
    pub item: FnItem,
    pub name: String,
    pub args: Type,
    pub returns: Type,
    pub config: Option<ConfigDef>,
    pub rollback: Option<Path>,
    pub rollback_config: Option<ConfigDef>,
    /// Types spelled differently in the attribute and the signature: the compiler compares them.
    pub type_checks: Vec<TypeCheck>,
}

#[derive(Clone, Debug)]
pub struct TypeCheck {
    pub declared: Type,
    pub actual: Type,
}

/// A step config from attribute values, durations already in milliseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigDef {
    pub retries: Option<RetriesDef>,
    pub timeout_ms: Option<u64>,
    /// `sensitive`: the output is redacted.
    pub sensitive: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetriesDef {
    pub limit: Option<u32>,
    pub delay_ms: Option<u64>,
    /// `delay = path`: a fn of the failed attempt.
    pub delay_fn: Option<syn::Path>,
    pub backoff: Option<Backoff>,
}
