//! The contracts lunora's macros, code generator and runtime share, so they can never disagree:
//! workflow naming (class, binding, default name), duration strings, Cloudflare's limits and
//! name rules, which attributes are lunora's, backoff names and codes, the generated files'
//! names, and Rust's keywords. Small and dependency-light on purpose: the runtime (also on
//! wasm32) links it.

pub mod attributes;
pub mod backoff;
pub mod duration;
#[cfg(feature = "golden")]
pub mod golden;
pub mod keywords;
pub mod layout;
pub mod naming;
pub mod rules;
