//! Reusable, validated steps (`#[step]`, Lunora's `defineStep`) and `ctx.run_step`.
//!
//! `run_step` does, in order: resolve config and name (per-call overrides
//! win); refuse names starting with `lunora:` (NonRetryableError, nothing runs); validate the
//! args *before* the durable step (a `ValidationError` with field paths, the body never runs);
//! run the body as `step.do(name, config, callback, rollback?)`; validate the returns after the
//! body (a mismatch is a NonRetryableError: retrying cannot fix it).

use std::future::Future;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::StepConfig;
use crate::context::WorkflowContext;
use crate::dispatch::{make_deterministic_failures_final, Dispatcher, FunctionRef};
use crate::env::Env;
use crate::erased::BoxFuture;
use crate::error::{Error, Result};
use crate::log::Logger;
use crate::maybe_send::MaybeSend;
use crate::status::StepId;
use crate::step::{Rollback, RollbackContext, StepContext};
use lunora_shared::rules::RESERVED_STEP_PREFIX;

/// The error name of argument validation failures.
pub const VALIDATION_ERROR: &str = "ValidationError";

/// A reusable step: typed, validated args and returns, optional config and rollback.
/// `#[step]` implements it on a unit struct named like the step fn.
pub trait Step: Send + Sync + 'static {
    type Args: Serialize + DeserializeOwned + Clone + Send + Sync + 'static;
    type Returns: Serialize + DeserializeOwned + Send + 'static;

    /// The step name used for `step.do` (the fn name unless `name = "…"`).
    const NAME: &'static str;
    /// Whether [`Step::rollback`] is a real handler.
    const HAS_ROLLBACK: bool = false;

    /// The declared durability config, if any.
    fn config() -> Option<StepConfig> {
        None
    }

    /// The rollback's own config, if any.
    fn rollback_config() -> Option<StepConfig> {
        None
    }

    /// Field-level validation (ranges, lengths…) of the args or the returns; `Err` lists the
    /// failing field paths. `#[step]` checks garde's rules for types that derive
    /// `garde::Validate` (with `Context = ()`) and accepts other types as serde read them. One
    /// method rather than two keeps generated code small.
    fn validate(_value: Validate<'_, Self::Args, Self::Returns>) -> std::result::Result<(), String> {
        Ok(())
    }

    /// The body, run once per attempt. `Send` natively; on wasm32 any future (see [`MaybeSend`]).
    fn call(ctx: StepContext, args: Self::Args) -> impl Future<Output = Result<Self::Returns>> + MaybeSend; // Send natively (wasm32: any): hold no Rc/RefCell/JsValue across .await

    /// The compensation, run if the instance later fails terminally.
    fn rollback(_ctx: StepRollbackContext<Self::Args, Self::Returns>) -> impl Future<Output = Result<()>> + MaybeSend {
        async { Ok(()) }
    }
}

/// What [`Step::validate`] checks.
#[derive(Debug)]
pub enum Validate<'a, A, R> {
    Args(&'a A),
    Returns(&'a R),
}

/// What a reusable step's rollback handler receives.
#[derive(Clone, Debug)]
pub struct StepRollbackContext<A, R> {
    /// The args the forward step ran with.
    pub args: A,
    /// The error that failed the workflow.
    pub error: Error,
    /// The forward step's output; `None` when it failed or never finished.
    pub output: Option<R>,
    /// The forward step's identity.
    pub step: StepId,
    pub env: Env,
    pub log: Logger,
    pub(crate) dispatch: Dispatcher,
}

impl<A, R> StepRollbackContext<A, R> {
    /// `ctx.run` inside a rollback handler: ids `…#step<i>rollback.<n>`.
    pub async fn run<FA: Serialize, FR: DeserializeOwned>(
        &self,
        function: &FunctionRef<FA, FR>,
        args: FA,
    ) -> Result<FR> {
        self.dispatch.call(function, &args).await
    }
}

/// Per-call overrides for [`WorkflowContext::run_step_with`].
#[derive(Clone, Debug, Default)]
pub struct RunStepOptions {
    /// Replaces the step's declared config.
    pub config: Option<StepConfig>,
    /// Replaces the step's name.
    pub name: Option<String>,
}

impl RunStepOptions {
    pub fn config(mut self, config: StepConfig) -> Self {
        self.config = Some(config);
        self
    }

    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

impl<P> WorkflowContext<P> {
    /// Runs a reusable step as a durable step with its declared config.
    pub fn run_step<'a, S: Step>(
        &'a self,
        step: &S,
        args: S::Args,
    ) -> impl Future<Output = Result<S::Returns>> + MaybeSend + 'a {
        self.run_step_with(step, args, RunStepOptions::default())
    }

    /// Runs a reusable step with a per-call config and/or name.
    pub fn run_step_with<'a, S: Step>(
        &'a self,
        _step: &S,
        args: S::Args,
        options: RunStepOptions,
    ) -> impl Future<Output = Result<S::Returns>> + MaybeSend + 'a {
        // Everything up to `do` happens now, so the durable step's count is allocated at call
        // time like any other step.
        let prepared = prepare::<S>(&self.step, &self.dispatch, args, options);
        async move { prepared?.await }
    }
}

fn prepare<'a, S: Step>(
    step: &'a crate::step::WorkflowStep,
    dispatch: &Dispatcher,
    args: S::Args,
    options: RunStepOptions,
) -> Result<BoxFuture<'a, Result<S::Returns>>> {
    // The i of this run_step's `#step<i>` dispatch ids.
    let index = dispatch.next_step_index();
    let name = options.name.unwrap_or_else(|| S::NAME.to_owned());
    let config = options.config.or_else(S::config);
    if name.starts_with(RESERVED_STEP_PREFIX) {
        return Err(Error::non_retryable(format!(
            "step name \"{name}\" is reserved: names starting with \"{RESERVED_STEP_PREFIX}\" belong to lunora"
        )));
    }
    S::validate(Validate::Args(&args))
        .map_err(|why| Error::named(VALIDATION_ERROR, format!("step \"{name}\" args validation failed: {why}")))?;
    let args = Arc::new(args);
    let rollback = S::HAS_ROLLBACK.then(|| {
        let args = args.clone();
        let dispatch = dispatch.clone();
        let rollback = Rollback::new(move |rc: RollbackContext<S::Returns>| {
            let ctx = StepRollbackContext {
                args: (*args).clone(),
                error: rc.error,
                output: rc.output,
                step: rc.ctx.step,
                env: rc.env,
                log: rc.log,
                dispatch: dispatch.runner(format!("step{index}rollback"), None),
            };
            S::rollback(ctx)
        });
        match S::rollback_config() {
            Some(cfg) => rollback.config(cfg),
            None => rollback,
        }
    });
    let label = name.clone();
    let dispatch = dispatch.clone();
    let callback = move |mut ctx: StepContext| {
        let args = (*args).clone();
        let label = label.clone();
        // A fresh runner per attempt: a retried attempt sends the same dispatch ids.
        ctx.dispatch = Some(dispatch.runner(format!("step{index}"), Some(ctx.config.timeout_ms)));
        async move {
            let returns = S::call(ctx, args).await.map_err(make_deterministic_failures_final)?;
            S::validate(Validate::Returns(&returns))
                .map_err(|why| Error::non_retryable(format!("step \"{label}\" returns validation failed: {why}")))?;
            Ok(returns)
        }
    };
    Ok(Box::pin(step.do_general(name, config, callback, rollback)))
}
