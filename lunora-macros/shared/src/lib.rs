//! The grammar lunora's macros, code generator and runtime share, so they can never disagree:
//! workflow naming (class, binding, default name), duration strings, and Cloudflare's limits and
//! name rules. Small and dependency-light on purpose: the runtime (also on wasm32) links it.

pub mod duration;
pub mod naming;
pub mod rules;
