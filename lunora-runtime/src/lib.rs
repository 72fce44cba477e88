//! Durable workflows for Cloudflare Workers, authored in Rust.
//!
//! - [`WorkflowContext`] and [`WorkflowStep`]: the body's view (`do_`, `do_stream`, `sleep`,
//!   `sleep_until`, `wait_for_event`), with [`StepConfig`] and per-step [`Rollback`].
//! - [`Workflow`]: what a workflow is (the `#[workflow]` macro implements it).
//! - [`WorkflowHandle`] / [`InstanceHandle`]: create, inspect and steer instances.
//! - [`local`]: the embedded durable engine (SQLite journal) with Cloudflare's semantics, and
//!   [`testing`]: a harness with a virtual clock and step/event mocks for `cargo test`.
//! - [`http::Client`] (`ctx.http()` in a step): HTTP calls that work on both engines.
//!
//! Step callbacks, `#[step]` bodies, rollback handlers and workflow bodies must be `Send`
//! natively; on wasm32, where a Worker has one thread, any future is accepted ([`MaybeSend`],
//! [`MaybeSync`]), so code holding the Worker's JS values across an `.await` works as it is.
//! - [`history`] and [`replay`]: an instance's recorded history, from either engine, and the
//!   check that the current code still fits it (deploy safety for instances in flight).
//!
//! Errors carry Cloudflare's names ([`Error::name`]): `NonRetryableError`,
//! `WorkflowTimeoutError`, `WorkflowFatalError`, `WorkflowInternalError`, `WorkflowError`.
//!
//! # Layers
//!
//! A module uses only modules on lower lines (or its own), so there are no import cycles:
//!
//! 1. `maybe_send` (`Send` natively, nothing on wasm32), `erased` (boxed futures, JSON
//!    values), `error`, `duration`, `secret`, `env` (`ctx.env`),
//!    `log` (`ctx.log`), [`batch`] (what `createBatch` answers), `event_type` (typed events):
//!    leaves.
//! 2. [`status`], [`config`], [`clock`], [`http`] (the transport trait, the native and `fetch`
//!    transports, and `http::Client` for steps), [`listing`] (what listing instances takes and
//!    returns), [`subscription`] (the events `instance.subscribe` yields).
//! 3. [`dispatch`]: `ctx.run` over `http`; [`functions`]: the functions `ctx.run` calls and
//!    the endpoint that serves them (over `dispatch`'s `FunctionRef`).
//! 4. [`step_bytes`]: what stream steps return and the rules their streams are read by; then
//!    [`step`](mod@step): `ctx.step`, the step backend trait and what step callbacks receive;
//!    then `step_stream` (`ctx.step.do_stream`).
//! 5. [`context`]: what a workflow body receives.
//! 6. [`workflow`](mod@workflow) (the trait, the typed handles, the workflows backend trait),
//!    [`reusable`] (`#[step]`, `run_step`), then `validation` (garde checks for `#[step]`) and
//!    `handle_errors` (the instance operations' errors, worded once for both backends), then
//!    `child` (`ctx.child`: child workflows over the workflows backend).
//! 7. The backends, which implement the traits of 4 and 6: [`local`] (the embedded engine) and,
//!    on wasm32, `cloudflare`. [`rest`], the REST client, over `http`. [`history`], the
//!    instance history format (read from the REST client's instance detail; `local` writes it
//!    from its journal).
//! 8. `server` (feature `server`: the REST API over `local`, in `rest`'s shapes), [`testing`]
//!    (over `local`), [`replay`] (histories against the current code, over `step`,
//!    `history` and `local`'s `Registrar`), then this file and `macros`.
// The crate docs link the native-only `local`, `testing` and `server` modules; rustdoc for
// wasm32 (a Worker's docs) cannot resolve them and shows the names as plain text.
#![cfg_attr(target_arch = "wasm32", allow(rustdoc::broken_intra_doc_links))]
// The types shared between threads natively (in `Arc`s) hold JS values on wasm32, where a
// Worker has one thread: an `Arc` of a `!Send` value is fine there.
#![cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]

pub mod batch;
mod child;
pub mod clock;
#[cfg(target_arch = "wasm32")]
pub mod cloudflare;
pub mod config;
pub mod context;
pub mod dispatch;
pub mod duration;
mod env;
mod erased;
pub mod error;
mod event_type;
pub mod functions;
mod handle_errors;
pub mod history;
pub mod http;
pub mod listing;
#[cfg(not(target_arch = "wasm32"))]
pub mod local;
mod log;
mod macros;
mod maybe_send;
#[cfg(not(target_arch = "wasm32"))]
pub mod replay;
pub mod rest;
pub mod reusable;
pub mod secret;
#[cfg(all(feature = "server", not(target_arch = "wasm32")))]
pub mod server;
pub mod status;
pub mod step;
pub mod step_bytes;
mod step_stream;
pub mod subscription;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
mod validation;
pub mod workflow;

pub use child::CHILD_FAILED;
pub use config::{Backoff, DelayFn, ResolvedStepConfig, RetryConfig, RetryDelayContext, Sensitive, StepConfig};
pub use context::{Env, Logger, RollbackContext, StepContext, WorkflowContext, WorkflowEvent};
pub use dispatch::{Dispatcher, FunctionRef};
pub use duration::{parse_duration, DurationError, DurationInput};
pub use error::{Error, ErrorKind, NonRetryableError, Result};
pub use event_type::EventType;
pub use functions::{DispatchEndpoint, FunctionContext, FunctionError, Functions};
pub use maybe_send::{MaybeSend, MaybeSync};
pub use reusable::{RunStepOptions, Step, StepRollbackContext};
pub use status::{
    CreateOptions, Event, InstanceStatus, InstanceStatusKind, RestartFrom, Retention, RollbackOutcome, RollbackState,
    Schedule, StepId, StepKind, Timestamp,
};
pub use step::{Rollback, WorkflowStep};
pub use step_bytes::StepBytes;
pub use subscription::{InstanceEvent, InstanceEventKind, SubscribeOptions, Subscription};
pub use workflow::{
    unknown_workflow, BatchCreated, InstanceHandle, Untyped, WaitFor, Workflow, WorkflowHandle, WorkflowInfo,
    WorkflowsBackend,
};

pub use lunora_macros::{step, workflow};

/// What macro-generated code refers to. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::reusable::Validate;
    pub use crate::validation::check;

    /// The runner classes `#[workflow]` exports on wasm32 are built with these.
    #[cfg(target_arch = "wasm32")]
    pub use {crate::cloudflare::run_workflow, js_sys, wasm_bindgen};

    /// The wasm32 runner class of a `#[workflow]` (see `macros.rs`).
    pub use crate::__lunora_workflow_runner as workflow_runner;

    /// What `Step::validate` returns.
    pub type Checked = ::core::result::Result<(), ::std::string::String>;

    /// A step config from `#[step]` attribute values; `-1` means "not declared".
    pub fn step_config(
        has_retries: bool,
        limit: i64,
        delay_ms: i64,
        backoff: i8,
        timeout_ms: i64,
    ) -> Option<crate::StepConfig> {
        let ms = |v: i64| (v >= 0).then(|| crate::DurationInput::Exact(std::time::Duration::from_millis(v as u64)));
        let retries = has_retries.then(|| crate::RetryConfig {
            limit: u32::try_from(limit).ok(),
            delay: ms(delay_ms),
            backoff: crate::Backoff::from_code(backoff),
            delay_fn: None,
        });
        Some(crate::StepConfig { retries, timeout: ms(timeout_ms), sensitive: None })
    }

    /// What `step_config` cannot take as plain values: `#[step(sensitive)]` and
    /// `retries(delay = path::to::fn)`.
    pub fn step_config_with(
        config: Option<crate::StepConfig>,
        sensitive: bool,
        delay_fn: Option<crate::DelayFn>,
    ) -> Option<crate::StepConfig> {
        let mut config = config.unwrap_or_default();
        if sensitive {
            config.sensitive = Some(crate::Sensitive::Output);
        }
        if let Some(delay_fn) = delay_fn {
            config.retries.get_or_insert_with(Default::default).delay_fn = Some(delay_fn);
        }
        Some(config)
    }
}
