//! The answering side of `ctx.run`: Lunora functions defined in Rust and the dispatch endpoint
//! that serves them (README, "Serving functions").
//!
//! [`Functions`] maps the paths of [`FunctionRef`](crate::dispatch::FunctionRef)s to handlers: the same constant the workflow
//! calls with `ctx.run(&CHARGE, args)` registers the handler with
//! `Functions::new().register(&CHARGE, charge)`, so path, args and result types cannot
//! disagree between caller and callee. [`DispatchEndpoint`] answers
//! `POST /_lunora/scheduler/dispatch` with them: authentication, the wire protocol's codes and
//! statuses, and exactly-once execution per dedup id over a [`DedupStore`]. It is a function of
//! (method, headers, body) → (status, headers, body), so every transport shares it: the
//! Worker's router on wasm32 (`cloudflare::serve_dispatch`), axum natively
//! (`functions::server`, feature `server`).

mod auth;
mod dedup_sql;
mod protocol;
mod registry;
mod store;

#[cfg(target_arch = "wasm32")]
mod d1;
#[cfg(not(target_arch = "wasm32"))]
mod sqlite;

#[cfg(all(feature = "server", not(target_arch = "wasm32")))]
pub mod server;

pub use auth::{AdminToken, TOKEN_VAR};
#[cfg(target_arch = "wasm32")]
pub use d1::D1DedupStore;
pub use protocol::{
    DispatchEndpoint, DispatchRequest, DispatchResponse, DECLINED_HEADER, DEFAULT_LEASE, DEFAULT_RETENTION,
    MAX_BODY_BYTES, REPLAYED_HEADER,
};
pub use registry::{FunctionContext, FunctionError, Functions};
#[cfg(not(target_arch = "wasm32"))]
pub use sqlite::SqliteDedupStore;
pub use store::{Claim, DedupStore, NoDedup, StoreError, StoredAnswer};
