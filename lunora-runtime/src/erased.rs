//! The type-erased forms that the object-safe traits of every layer use (step and workflows
//! backends, HTTP transport, clock): a boxed, sendable future, and JSON values.

use std::future::Future;
use std::pin::Pin;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
/// Values cross the backend boundary as JSON, the format both engines persist.
pub type Json = serde_json::Value;
