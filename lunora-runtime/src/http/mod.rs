//! HTTP: [`Client`], the documented way for steps to call HTTP APIs on both engines, and the
//! transport behind it, `ctx.run` dispatch and the Workflows REST client: one object-safe
//! trait ([`HttpTransport`]), implemented natively by [`NativeTransport`] (ureq with rustls, on
//! Tokio's blocking pool) and on wasm32 by `FetchTransport` (the Worker's `fetch`).
//!
//! What this module prints never shows credentials: a request's `Debug` hides credential
//! headers, messages show URLs without their userinfo, and [`Client`]'s errors redact what a
//! server echoed. No transport follows a redirect.

mod client;
#[cfg(target_arch = "wasm32")]
mod fetch;
mod transport;

pub(crate) use client::platform_transport;
pub use client::{is_retryable_status, Client, DEFAULT_TIMEOUT, HTTP_ERROR};
#[cfg(target_arch = "wasm32")]
pub use fetch::FetchTransport;
#[cfg(not(target_arch = "wasm32"))]
pub use transport::NativeTransport;
pub use transport::{HttpRequest, HttpResponse, HttpTransport, TransportError};
