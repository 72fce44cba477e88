//! Durable workflows for Cloudflare Workers, authored in Rust.
//!
//! - [`WorkflowContext`] and [`WorkflowStep`]: the body's view (`do_`, `sleep`, `sleep_until`,
//!   `wait_for_event`), with [`StepConfig`] and per-step [`Rollback`].
//! - [`Workflow`]: what a workflow is (the `#[workflow]` macro implements it).
//! - [`WorkflowHandle`] / [`InstanceHandle`]: create, inspect and steer instances.
//! - [`local`]: the embedded durable engine (SQLite journal) with Cloudflare's semantics, and
//!   [`testing`]: a harness with a virtual clock and step/event mocks for `cargo test`.
//!
//! Errors carry Cloudflare's names ([`Error::name`]): `NonRetryableError`,
//! `WorkflowTimeoutError`, `WorkflowFatalError`, `WorkflowInternalError`, `WorkflowError`.

pub mod config;
pub mod context;
pub mod duration;
pub mod error;
pub mod local;
pub mod reusable;
pub mod status;
pub mod step;
pub mod testing;
pub mod validation;
pub mod workflow;

pub use config::{Backoff, ResolvedStepConfig, RetryConfig, Sensitive, StepConfig};
pub use context::{Env, Logger, RollbackContext, StepContext, WorkflowContext, WorkflowEvent};
pub use duration::{parse_duration, DurationError, DurationInput};
pub use error::{Error, ErrorKind, NonRetryableError, Result};
pub use status::{
    CreateOptions, Event, InstanceStatus, InstanceStatusKind, RestartFrom, Retention, RollbackOutcome, RollbackState,
    StepId, StepKind, Timestamp,
};
pub use reusable::{RunStepOptions, Step, StepRollbackContext};
pub use step::{Rollback, WorkflowStep};
pub use workflow::{InstanceHandle, Workflow, WorkflowHandle, WorkflowsBackend};

pub use lunora_macros::{step, workflow};

/// What macro-generated code refers to. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::validation::{Validator, ViaGarde, ViaNothing};
}
