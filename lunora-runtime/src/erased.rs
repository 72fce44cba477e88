//! The type-erased forms that the object-safe traits of every layer use (step and workflows
//! backends, HTTP transport, clock): a boxed future, and JSON values.

use std::future::Future;
use std::pin::Pin;

/// A boxed future: `Send` natively, where the embedded engine runs on several threads; not
/// required to be on wasm32, where a Worker has one thread and JS values are not `Send`.
#[cfg(not(target_arch = "wasm32"))]
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
/// A boxed future: `Send` natively, where the embedded engine runs on several threads; not
/// required to be on wasm32, where a Worker has one thread and JS values are not `Send`.
#[cfg(target_arch = "wasm32")]
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;
/// Values cross the backend boundary as JSON, the format both engines persist.
pub type Json = serde_json::Value;
