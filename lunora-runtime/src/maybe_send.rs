//! `Send` where the target has threads, nothing where it has none.
//!
//! Natively the embedded engine runs steps on Tokio's multi-threaded runtime, so step
//! callbacks, `#[step]` bodies, rollback handlers and workflow bodies must be `Send`. A Worker
//! (wasm32) has one thread: there the bounds are met by every type, so code that holds the
//! Worker's own values (`worker::Fetch`, a KV store, D1, any `JsValue`) across an `.await`
//! works in a step as it is.

/// `Send` natively; every type on wasm32.
#[cfg(not(target_arch = "wasm32"))]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not `Send`, and natively lunora runs steps, rollbacks and workflow bodies on a multi-threaded runtime",
    label = "not `Send`: it holds a value that cannot move between threads across an `.await`",
    note = "in a Worker (wasm32) any future is accepted; natively, keep `Rc`, `RefCell` guards and JS values out of the `.await`s, or compile code that needs them only for wasm32 with `#[cfg(target_arch = \"wasm32\")]`"
)]
pub trait MaybeSend: Send {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send + ?Sized> MaybeSend for T {}

/// Every type on wasm32, where a Worker has one thread.
#[cfg(target_arch = "wasm32")]
pub trait MaybeSend {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSend for T {}

/// `Sync` natively; every type on wasm32.
#[cfg(not(target_arch = "wasm32"))]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not `Sync`, and natively lunora shares rollback handlers between threads",
    label = "not `Sync`",
    note = "in a Worker (wasm32) any handler is accepted; natively, capture `Arc`s and `Mutex`es rather than `Rc`s and `RefCell`s"
)]
pub trait MaybeSync: Sync {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Sync + ?Sized> MaybeSync for T {}

/// Every type on wasm32, where a Worker has one thread.
#[cfg(target_arch = "wasm32")]
pub trait MaybeSync {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSync for T {}
