//! Code generation for lunora workflows. Today: the `lunora-codegen names` command over the
//! shared naming helpers (re-exported here as [`naming`]).

pub use lunora_shared::naming;
