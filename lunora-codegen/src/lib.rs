//! Code generation for lunora workflows: the scanner, the typed registry module, the JS entry
//! module and the wrangler config reconciliation, behind the `lunora-codegen` CLI and the
//! build.rs [`Builder`]. Names come from the one shared implementation ([`naming`]).

pub use lunora_shared::naming;

pub mod builder;
mod cache;
mod cfg;
mod files;
pub mod instances;
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
pub mod terminal;

pub mod wrangler;

pub use builder::Builder;
