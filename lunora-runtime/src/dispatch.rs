//! `ctx.run`: calling a Lunora query, mutation or action back in the Worker (README,
//! "Calling back into the Worker (`ctx.run`)").
//!
//! `POST <LUNORA_ORIGIN_URL>/_lunora/scheduler/dispatch` with `authorization: Bearer
//! <LUNORA_ADMIN_TOKEN>` and `{"args", "functionPath", "id"}`. The id is replay-stable:
//! `<exportName>/<instanceId>#body.<n>` in the workflow body, `#step<i>.<n>` inside the i-th
//! `run_step`, `#step<i>rollback.<n>` inside its rollback, `n` counting from 1 per runner, so a
//! replay or a retried attempt sends the same ids and the Worker can deduplicate them.
//! A `409 DISPATCH_IN_PROGRESS` decline ("already running elsewhere") is waited out: the same id
//! again after 1 s, doubling to 30 s, for at most 15 minutes and never past 2 s before the
//! step's timeout. Each request may take 30 s, or what `LUNORA_DISPATCH_TIMEOUT` says
//! (`"10 seconds"`, `"500 ms"`: the step duration grammar).
//!
//! The admin token never reaches what is stored or logged: every text that comes back (error
//! messages and codes, bodies, results, redirect targets, transport errors) has it replaced
//! by `[REDACTED]` in every spelling [`crate::secret`] recognises, before anything else reads
//! it. So the token can be recognised, it must have at least [`MIN_SECRET_CHARS`] characters;
//! and `LUNORA_ORIGIN_URL` may not carry a userinfo (`user:password@`), which the
//! `authorization` header would override anyway. Redirects are not followed.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::clock::Clock;
use crate::env::Env;
use crate::erased::Json;
use crate::error::{Error, Result};
use crate::http::{HttpRequest, HttpResponse, HttpTransport};
use crate::secret::{url_for_display, url_userinfo, Redactor, MIN_SECRET_CHARS};

/// The endpoint path under `LUNORA_ORIGIN_URL`.
pub const DISPATCH_PATH: &str = "/_lunora/scheduler/dispatch";
/// Per-request timeout, unless `LUNORA_DISPATCH_TIMEOUT` sets another.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The variable that overrides [`REQUEST_TIMEOUT`].
pub const TIMEOUT_VAR: &str = "LUNORA_DISPATCH_TIMEOUT";
/// The error name of dispatch failures.
pub const DISPATCH_ERROR: &str = "DispatchError";
const FIRST_DECLINE_WAIT_MS: i64 = 1_000;
const MAX_DECLINE_WAIT_MS: i64 = 30_000;
const MAX_DECLINE_TOTAL_MS: i64 = 15 * 60_000;
const STEP_TIMEOUT_MARGIN_MS: i64 = 2_000;

/// A typed reference to a Lunora function, `module:function`.
pub struct FunctionRef<A, R> {
    path: &'static str,
    _types: PhantomData<fn(A) -> R>,
}

impl<A, R> FunctionRef<A, R> {
    /// `FunctionRef::new("payments:charge")`; usable in a `const`.
    pub const fn new(path: &'static str) -> Self {
        Self { path, _types: PhantomData }
    }

    pub fn path(&self) -> &'static str {
        self.path
    }
}

impl<A, R> fmt::Debug for FunctionRef<A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FunctionRef({})", self.path)
    }
}

/// What every runner of one workflow execution shares.
pub(crate) struct Shared {
    /// `None`: the platform's, made at the first `ctx.run`, so a Worker that never calls one
    /// does not link the `fetch` transport.
    pub transport: Option<Arc<dyn HttpTransport>>,
    pub clock: Arc<dyn Clock>,
    pub env: Env,
    pub export_name: String,
    pub instance_id: String,
    /// How many `run_step`s the body started (the `i` of `#step<i>`).
    run_steps: AtomicU32,
}

/// One runner's dispatcher: the body, one attempt of a `run_step`, or one rollback.
#[derive(Clone)]
pub struct Dispatcher {
    shared: Arc<Shared>,
    scope: String,
    counter: Arc<AtomicU32>,
    /// Decline waits end 2 s before this time (the step attempt's timeout), epoch ms.
    deadline: Option<i64>,
}

impl fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dispatcher").field("scope", &self.scope).finish_non_exhaustive()
    }
}

impl Dispatcher {
    /// The body's dispatcher for one execution of the workflow.
    pub(crate) fn for_body(
        transport: Option<Arc<dyn HttpTransport>>,
        clock: Arc<dyn Clock>,
        env: Env,
        export_name: &str,
        instance_id: &str,
    ) -> Self {
        let shared = Arc::new(Shared {
            transport,
            clock,
            env,
            export_name: export_name.to_owned(),
            instance_id: instance_id.to_owned(),
            run_steps: AtomicU32::new(0),
        });
        Self { shared, scope: "body".into(), counter: Arc::default(), deadline: None }
    }

    /// The index of the next `run_step` of this execution (1-based).
    pub(crate) fn next_step_index(&self) -> u32 {
        self.shared.run_steps.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// A fresh runner: `step<i>` for an attempt (ending at `timeout_ms` from now), or
    /// `step<i>rollback`.
    pub(crate) fn runner(&self, scope: String, timeout_ms: Option<i64>) -> Self {
        let deadline = timeout_ms.map(|t| self.shared.clock.now() + t);
        Self { shared: self.shared.clone(), scope, counter: Arc::default(), deadline }
    }

    fn var(&self, name: &str) -> Result<String> {
        match self.shared.env.var(name) {
            Some(v) if !v.trim().is_empty() => Ok(v.to_owned()),
            _ => Err(Error::named(
                DISPATCH_ERROR,
                format!(
                    "ctx.run needs the environment variable {name}; set it in the Worker's vars (or the engine's Env)"
                ),
            )),
        }
    }

    /// [`REQUEST_TIMEOUT`], or the duration `LUNORA_DISPATCH_TIMEOUT` names.
    fn request_timeout(&self) -> Result<Duration> {
        let Some(text) = self.shared.env.var(TIMEOUT_VAR).filter(|t| !t.trim().is_empty()) else {
            return Ok(REQUEST_TIMEOUT);
        };
        let invalid =
            |why: String| Error::named(DISPATCH_ERROR, format!("the environment variable {TIMEOUT_VAR}: {why}"));
        match crate::duration::parse_duration(text) {
            Ok(timeout) if timeout.is_zero() => Err(invalid(format!("{text:?} is zero; a request needs time"))),
            Ok(timeout) => Ok(timeout),
            Err(e) => Err(invalid(e.to_string())),
        }
    }

    /// Calls `function` with `args` and decodes its result.
    pub async fn call<A: Serialize, R: DeserializeOwned>(&self, function: &FunctionRef<A, R>, args: &A) -> Result<R> {
        let result = self
            .call_json(
                function.path,
                serde_json::to_value(args).map_err(|e| {
                    Error::non_retryable(format!("ctx.run({}): args cannot be serialised: {e}", function.path))
                })?,
            )
            .await?;
        serde_json::from_value(result).map_err(|e| {
            Error::non_retryable(format!(
                "ctx.run({}): the result does not decode as the expected type: {e}",
                function.path
            ))
        })
    }

    /// `LUNORA_ORIGIN_URL`, refused when it carries credentials.
    fn origin(&self) -> Result<String> {
        let origin = self.var("LUNORA_ORIGIN_URL")?;
        if url_userinfo(&origin).is_some() {
            return Err(Error::named(
                DISPATCH_ERROR,
                format!(
                    "LUNORA_ORIGIN_URL must not carry credentials ({}): ctx.run authenticates with \
                     LUNORA_ADMIN_TOKEN, and a user name or password in the URL would not be used",
                    url_for_display(&origin)
                ),
            ));
        }
        Ok(origin)
    }

    /// `LUNORA_ADMIN_TOKEN`, refused when too short to be redacted reliably.
    fn token(&self) -> Result<String> {
        let token = self.var("LUNORA_ADMIN_TOKEN")?;
        let length = token.chars().count();
        if length < MIN_SECRET_CHARS {
            return Err(Error::named(
                DISPATCH_ERROR,
                format!(
                    "LUNORA_ADMIN_TOKEN is {length} characters long; ctx.run needs at least {MIN_SECRET_CHARS}, \
                     so that the token can be told apart from other text and redacted wherever a Worker \
                     echoes it (use a long random token)"
                ),
            ));
        }
        Ok(token)
    }

    async fn call_json(&self, path: &str, args: Json) -> Result<Json> {
        let origin = self.origin()?;
        let token = self.token()?;
        let redactor = Redactor::new([token.as_str()]);
        let timeout = self.request_timeout()?;
        let n = self.counter.fetch_add(1, Ordering::SeqCst) + 1;
        let id = format!("{}/{}#{}.{n}", self.shared.export_name, self.shared.instance_id, self.scope);
        let args = if args.is_null() { serde_json::json!({}) } else { args };
        let body = serde_json::json!({ "args": args, "functionPath": path, "id": id });
        let request = HttpRequest {
            method: "POST".into(),
            url: format!("{}{DISPATCH_PATH}", origin.trim_end_matches('/')),
            headers: vec![
                ("authorization".into(), format!("Bearer {token}")),
                ("content-type".into(), "application/json".into()),
            ],
            body: Some(body.to_string().into_bytes()),
            timeout,
        };
        let clock = &self.shared.clock;
        let started = clock.now();
        let mut limit = started + MAX_DECLINE_TOTAL_MS;
        // A `#[step]` body's runner knows its attempt's timeout; the body's runner, called from
        // inside a plain step callback, learns it from the callback it runs in.
        if let Some(deadline) = self.deadline.or_else(enclosing_step_deadline) {
            limit = limit.min(deadline - STEP_TIMEOUT_MARGIN_MS);
        }
        let transport = self.shared.transport.clone().unwrap_or_else(crate::http::platform_transport);
        let mut wait = FIRST_DECLINE_WAIT_MS;
        loop {
            let response = transport.send(request.clone()).await.map_err(|e| {
                let message = redactor.redact(&e.message);
                Error::named(DISPATCH_ERROR, format!("function dispatch of {path} failed: {message}"))
            })?;
            // Redacted before it is parsed, so no part of what is kept can hold the token.
            let text = redactor.redact_to_string(&String::from_utf8_lossy(&response.body));
            if (200..300).contains(&response.status) {
                return decode_success(path, &text);
            }
            if (300..400).contains(&response.status) {
                return Err(redirected(path, &response, &redactor));
            }
            let error = decode_failure(response.status, &text);
            let declined = response.status == 409
                && error.code() == Some("DISPATCH_IN_PROGRESS")
                && response.header("x-lunora-dispatch-declined") == Some("1");
            if !declined {
                return Err(error);
            }
            let now = clock.now();
            if now + wait > limit {
                return Err(Error::named(
                    DISPATCH_ERROR,
                    format!(
                        "function {path} (id {id}) is still running elsewhere after {} s of waiting",
                        (now - started) / 1_000
                    ),
                )
                .with_code(Some("DISPATCH_IN_PROGRESS".into()), Some(409)));
            }
            clock.sleep_until(now + wait).await;
            wait = (wait * 2).min(MAX_DECLINE_WAIT_MS);
        }
    }
}

fn decode_success(path: &str, text: &str) -> Result<Json> {
    if text.trim().is_empty() {
        return Ok(Json::Null);
    }
    match serde_json::from_str::<Json>(text) {
        Ok(Json::Object(mut map)) if map.contains_key("result") => Ok(map.remove("result").unwrap_or(Json::Null)),
        _ => Err(Error::named(
            DISPATCH_ERROR,
            format!("function dispatch of {path} answered with an unexpected body: {}", cut(text)),
        )),
    }
}

/// A 3xx: where it pointed (redacted, without userinfo), and what to do.
fn redirected(path: &str, response: &HttpResponse, redactor: &Redactor) -> Error {
    let status = response.status;
    let target = match response.header("location") {
        Some(location) => format!(" to {}", cut(&url_for_display(&redactor.redact(location)))),
        None => String::new(),
    };
    Error::named(
        DISPATCH_ERROR,
        format!(
            "function dispatch of {path} was redirected (HTTP {status}){target}; ctx.run does not follow \
             redirects: set LUNORA_ORIGIN_URL to the origin that answers"
        ),
    )
    .with_code(None, Some(status))
}

/// `{"error": {code, message?, data?}}` → a typed error; anything else → the raw body.
fn decode_failure(status: u16, text: &str) -> Error {
    let parsed: Option<(String, Option<String>)> = serde_json::from_str::<Json>(text).ok().and_then(|v| {
        let error = v.get("error")?;
        let code = error.get("code")?.as_str()?.to_owned();
        let message = error.get("message").and_then(|m| m.as_str()).map(str::to_owned);
        Some((code, message))
    });
    match parsed {
        Some((code, message)) => {
            let message = message.unwrap_or_else(|| code.clone());
            Error::named(DISPATCH_ERROR, format!("{message} ({code}, HTTP {status})"))
                .with_code(Some(code), Some(status))
        }
        None => Error::named(DISPATCH_ERROR, format!("function dispatch failed ({status}): {}", cut(text)))
            .with_code(None, Some(status)),
    }
}

fn cut(text: &str) -> String {
    if text.chars().count() <= 256 {
        return text.to_owned();
    }
    text.chars().take(256).collect::<String>() + "…"
}

thread_local! {
    /// While a step callback is polled: when its attempt times out (epoch ms).
    static STEP_DEADLINE: Cell<Option<i64>> = const { Cell::new(None) };
}

fn enclosing_step_deadline() -> Option<i64> {
    STEP_DEADLINE.with(Cell::get)
}

/// A step callback's future, marked as running inside an attempt that times out at
/// `deadline`: a `ctx.run` it makes (through the workflow's own context) stops waiting out
/// declines 2 s before then, as a `#[step]` body's does. The mark is set for the length of each
/// poll, on the polling thread, so concurrent steps each see their own.
pub(crate) struct InStepCallback<F> {
    deadline: Option<i64>,
    inner: Pin<Box<F>>,
}

impl<F> InStepCallback<F> {
    pub(crate) fn new(deadline: Option<i64>, inner: F) -> Self {
        Self { deadline, inner: Box::pin(inner) }
    }
}

impl<F: Future> Future for InStepCallback<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        /// Puts the previous mark back, also when the callback panics.
        struct Restore(Option<i64>);
        impl Drop for Restore {
            fn drop(&mut self) {
                STEP_DEADLINE.with(|d| d.set(self.0));
            }
        }
        let this = self.get_mut();
        let _restore = Restore(STEP_DEADLINE.with(|d| d.replace(this.deadline)));
        this.inner.as_mut().poll(cx)
    }
}

/// Inside a step, a deterministic dispatch failure (400/403/404/422, except an
/// authentication problem that a new token can fix) cannot succeed on retry.
pub(crate) fn make_deterministic_failures_final(error: Error) -> Error {
    let deterministic = matches!(error.status(), Some(400 | 403 | 404 | 422))
        && error.name() == DISPATCH_ERROR
        && error.code() != Some("DISPATCH_UNAUTHENTICATED");
    if deterministic {
        let (code, status) = (error.code().map(str::to_owned), error.status());
        return Error::non_retryable(error.message().to_owned()).with_code(code, status);
    }
    error
}
