//! Code generation for lunora workflows. Today: the shared naming helpers
//! (spec/lunora.md §1) and the `lunora-codegen names` command.

pub mod naming;
