//! Code generation for lunora workflows: the scanner, the typed registry module, the JS entry
//! module and the wrangler config reconciliation, behind the build.rs [`Builder`] and the
//! `lunora-codegen` command (the lunora-codegen-cli crate). Names come from the one shared
//! implementation ([`naming`]).
//!
//! This library is what build scripts compile, so it parses and writes files and nothing more:
//! no async runtime, no HTTP client, no dependency on lunora-runtime.

pub use lunora_shared::naming;

pub mod builder;
mod cache;
mod cfg;
mod files;
pub mod new_project;
pub mod outline;
pub mod output;
mod pool;
pub mod project;
pub mod render;
mod resolve;
pub mod scaffold;
pub mod scan;
pub mod spec;
pub mod sync;

pub mod wrangler;

pub use builder::Builder;
