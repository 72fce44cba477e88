//! What workflow bodies, step callbacks and rollback handlers receive.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::ResolvedStepConfig;
use crate::dispatch::{Dispatcher, FunctionRef};
use crate::error::Error;
use crate::error::Result;
use crate::status::{StepId, Timestamp};
use crate::step::WorkflowStep;

/// The Worker's environment as the embedded engine provides it: string variables (what
/// `[vars]` and secrets are on Cloudflare) plus typed values for native code and tests
/// (a database pool, a mock client).
#[derive(Clone, Default)]
pub struct Env {
    vars: Arc<HashMap<String, String>>,
    values: Arc<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl Env {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a string variable.
    pub fn with_var(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.vars).insert(name.into(), value.into());
        self
    }

    /// Adds a typed value, retrievable with [`Env::get`].
    pub fn with<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        Arc::make_mut(&mut self.values).insert(TypeId::of::<T>(), Arc::new(value));
        self
    }

    /// A string variable, if set.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// A typed value, if one of type `T` was added.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.values.get(&TypeId::of::<T>()).and_then(|v| v.downcast_ref())
    }
}

impl fmt::Debug for Env {
    /// Variable names only: values are often secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&String> = self.vars.keys().collect();
        names.sort();
        f.debug_struct("Env").field("vars", &names).field("values", &self.values.len()).finish()
    }
}

/// Log severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

/// Where log lines go.
pub trait LogSink: Send + Sync {
    fn write(&self, level: Level, line: &str);
}

/// Writes to standard error.
pub struct StderrSink;

impl LogSink for StderrSink {
    fn write(&self, level: Level, line: &str) {
        eprintln!("{level:?} {line}");
    }
}

/// Keeps every line in memory, for tests.
#[derive(Default)]
pub struct CaptureSink {
    lines: Mutex<Vec<(Level, String)>>,
}

impl CaptureSink {
    /// The captured lines, oldest first.
    pub fn lines(&self) -> Vec<(Level, String)> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl LogSink for CaptureSink {
    fn write(&self, level: Level, line: &str) {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).push((level, line.to_owned()));
    }
}

/// A logger whose lines start with `[workflow:<exportName>]`.
#[derive(Clone)]
pub struct Logger {
    prefix: Arc<str>,
    sink: Arc<dyn LogSink>,
}

impl Logger {
    pub fn new(export_name: &str, sink: Arc<dyn LogSink>) -> Self {
        Self { prefix: format!("[workflow:{export_name}]").into(), sink }
    }

    fn write(&self, level: Level, message: fmt::Arguments<'_>) {
        self.sink.write(level, &format!("{} {message}", self.prefix));
    }

    pub fn debug(&self, message: impl fmt::Display) {
        self.write(Level::Debug, format_args!("{message}"));
    }

    pub fn info(&self, message: impl fmt::Display) {
        self.write(Level::Info, format_args!("{message}"));
    }

    pub fn warn(&self, message: impl fmt::Display) {
        self.write(Level::Warn, format_args!("{message}"));
    }

    pub fn error(&self, message: impl fmt::Display) {
        self.write(Level::Error, format_args!("{message}"));
    }
}

impl fmt::Debug for Logger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Logger").field("prefix", &self.prefix).finish()
    }
}

/// What a step callback receives on every attempt: `{step: {name, count}, attempt, config}`
/// plus the environment and logger.
#[derive(Clone, Debug)]
pub struct StepContext {
    pub step: StepId,
    /// 1-based attempt number.
    pub attempt: u32,
    /// The resolved config the step runs with.
    pub config: ResolvedStepConfig,
    pub env: Env,
    pub log: Logger,
    /// Set for the bodies of `#[step]`s run through `ctx.run_step` (the `#step<i>` runner).
    pub(crate) dispatch: Option<Dispatcher>,
}

impl StepContext {
    /// `ctx.run` inside a `#[step]` body: ids `…#step<i>.<n>`, reused by a retried attempt.
    pub async fn run<A: Serialize, R: DeserializeOwned>(&self, function: &FunctionRef<A, R>, args: A) -> Result<R> {
        match &self.dispatch {
            Some(d) => d.call(function, &args).await,
            None => Err(crate::error::Error::non_retryable(format!(
                "ctx.run({}) is available in #[step] bodies run through ctx.run_step; in a plain step \
                 callback, call the workflow's ctx.run",
                function.path()
            ))),
        }
    }
}

/// What a rollback handler receives.
#[derive(Clone, Debug)]
pub struct RollbackContext<T> {
    /// The forward step's context (`{step, attempt, config}` of its last attempt).
    pub ctx: StepContext,
    /// The error that failed the workflow (or the termination that asked for rollback).
    pub error: Error,
    /// The forward step's output; `None` when the step failed or never finished.
    pub output: Option<T>,
    pub env: Env,
    pub log: Logger,
}

/// The triggering event: `{payload, timestamp, instanceId, workflowName}`.
#[derive(Clone, Debug)]
pub struct WorkflowEvent {
    /// The raw create params (`{}` when none were given).
    pub payload: serde_json::Value,
    pub timestamp: Timestamp,
    pub instance_id: String,
    pub workflow_name: String,
}

/// What a workflow body receives.
pub struct WorkflowContext<P> {
    /// The durable step API: `do_`, `sleep`, `sleep_until`, `wait_for_event`.
    pub step: WorkflowStep,
    /// The decoded create params.
    pub params: P,
    pub event: WorkflowEvent,
    pub env: Env,
    pub log: Logger,
    pub(crate) dispatch: Dispatcher,
}

impl<P> WorkflowContext<P> {
    /// `ctx.run`: calls a Lunora function in the Worker (ids `…#body.<n>`). Not durable by
    /// itself: wrap it in a step, or call it from a `#[step]` body with `StepContext::run`.
    pub async fn run<A: Serialize, R: DeserializeOwned>(&self, function: &FunctionRef<A, R>, args: A) -> Result<R> {
        self.dispatch.call(function, &args).await
    }
}

impl<P: fmt::Debug> fmt::Debug for WorkflowContext<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkflowContext")
            .field("params", &self.params)
            .field("event", &self.event)
            .field("env", &self.env)
            .finish_non_exhaustive()
    }
}
