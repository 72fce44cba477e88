//! Time as the engine and dispatch see it: "now" in epoch milliseconds and timers on the same
//! time line, so tests can swap in a virtual clock. Backend-neutral (also compiled for wasm32).

use crate::erased::BoxFuture;

/// A source of "now" (epoch milliseconds) and of timers on the same time line.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> i64;
    /// Resolves once `now() >= at`.
    fn sleep_until(&self, at: i64) -> BoxFuture<'static, ()>;
}
