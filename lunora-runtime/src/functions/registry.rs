//! The function registry: handlers by the path of the `FunctionRef` they answer, what they
//! receive, and how they fail.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::dispatch::FunctionRef;
use crate::env::Env;
use crate::erased::{BoxFuture, Json};
use crate::error::Error;
use crate::maybe_send::{MaybeSend, MaybeSync};

/// What a function handler receives besides its args.
#[derive(Clone, Debug)]
pub struct FunctionContext {
    /// The Worker's environment, as a step sees it: vars and secrets, and on wasm32 the
    /// Worker's own env as `cloudflare::WorkerEnv`.
    pub env: Env,
    /// The dedup id of this call (`orderPipeline/<instance>#step1.1`): a handler calling an
    /// outside service can pass it on as that service's idempotency key.
    pub id: String,
    /// The path called, `module:function`.
    pub path: &'static str,
}

/// A handler's failure, as the caller receives it: `{"error": {code, message, data}}` with an
/// HTTP status. 400, 403, 404 and 422 are final (the calling step fails at once, and the
/// endpoint stores the answer for the dedup id); 429 and 5xx are retried (nothing is stored,
/// so the retry runs the handler again).
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub data: Option<Json>,
}

impl FunctionError {
    /// Any status from 400 to 599.
    ///
    /// # Panics
    /// When `status` is not an error status: a success is a handler's `Ok`.
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        assert!((400..600).contains(&status), "FunctionError status {status} is not in 400..=599");
        Self { status, code: code.into(), message: message.into(), data: None }
    }

    /// 400: the request cannot succeed as it is (final).
    pub fn bad_request(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    /// 403: the caller may not do this (final).
    pub fn forbidden(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(403, code, message)
    }

    /// 404: what the args name does not exist (final).
    pub fn not_found(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(404, code, message)
    }

    /// 422: well-formed but refused, e.g. a card declined (final).
    pub fn unprocessable(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(422, code, message)
    }

    /// 429: try again later (retried).
    pub fn too_many_requests(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(429, code, message)
    }

    /// 503: a dependency is down (retried).
    pub fn unavailable(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(503, code, message)
    }

    /// 500: an unexpected failure (retried).
    pub fn internal(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(500, code, message)
    }

    /// Attaches `data` (any JSON) to the error's body.
    pub fn with_data(mut self, data: Json) -> Self {
        self.data = Some(data);
        self
    }

    /// Whether the endpoint keeps this answer for the dedup id: every 4xx except 408 and 429,
    /// which, like 5xx, the caller retries.
    pub fn is_final(&self) -> bool {
        (400..500).contains(&self.status) && !matches!(self.status, 408 | 429)
    }
}

impl fmt::Display for FunctionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, HTTP {})", self.message, self.code, self.status)
    }
}

impl std::error::Error for FunctionError {}

/// A lunora [`Error`] from a handler (`ctx.run` of another function, a `?` on
/// `Error::non_retryable`): a non-retryable one is final (422 `FUNCTION_FAILED`), any other
/// is retried (500 `FUNCTION_ERROR`). An error that carries a dispatch status keeps it.
impl From<Error> for FunctionError {
    fn from(error: Error) -> Self {
        let code = error.code().map(str::to_owned);
        match error.status().filter(|s| (400..600).contains(s)) {
            Some(status) => Self::new(status, code.unwrap_or_else(|| "FUNCTION_ERROR".into()), error.message()),
            None if error.is_non_retryable() => {
                Self::new(422, code.unwrap_or_else(|| "FUNCTION_FAILED".into()), error.message())
            }
            None => Self::new(500, code.unwrap_or_else(|| "FUNCTION_ERROR".into()), error.message()),
        }
    }
}

/// A handler's outcome, type-erased: the result as JSON.
type Outcome = Result<Json, FunctionError>;

/// One registered handler, type-erased (`Send + Sync` natively; see [`MaybeSend`]).
#[cfg(not(target_arch = "wasm32"))]
type ErasedHandler = Arc<dyn Fn(FunctionContext, Json) -> Result<BoxFuture<'static, Outcome>, String> + Send + Sync>;
/// One registered handler, type-erased.
#[cfg(target_arch = "wasm32")]
type ErasedHandler = Arc<dyn Fn(FunctionContext, Json) -> Result<BoxFuture<'static, Outcome>, String>>;

/// The functions a Worker (or a native app) serves, by path.
#[derive(Clone, Default)]
pub struct Functions {
    handlers: BTreeMap<&'static str, (&'static str, ErasedHandler)>,
}

impl Functions {
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `function` with `handler`, an async fn of ([`FunctionContext`], args) →
    /// `Result<R, FunctionError>`.
    ///
    /// # Panics
    /// When `function`'s path is already registered: two handlers for one path would make
    /// which one runs depend on registration order.
    pub fn register<A, R, F, Fut>(mut self, function: &FunctionRef<A, R>, handler: F) -> Self
    where
        A: DeserializeOwned + MaybeSend + 'static,
        R: Serialize + 'static,
        F: Fn(FunctionContext, A) -> Fut + MaybeSend + MaybeSync + 'static, // Send natively (wasm32: any)
        Fut: Future<Output = Result<R, FunctionError>> + MaybeSend + 'static, // Send natively (wasm32: any)
    {
        let path = function.path();
        let handler = Arc::new(handler);
        let erased: ErasedHandler = Arc::new(move |ctx: FunctionContext, args: Json| {
            let args: A = serde_json::from_value(args).map_err(|e| e.to_string())?;
            let handler = handler.clone();
            // The handler is called when the future is first polled, after the dedup claim.
            Ok(Box::pin(async move {
                let result = handler(ctx, args).await?;
                serde_json::to_value(&result).map_err(|e| {
                    FunctionError::internal(
                        "FUNCTION_RESULT_UNSERIALIZABLE",
                        format!("the result cannot be serialised: {e}"),
                    )
                })
            }) as BoxFuture<'static, Outcome>)
        });
        let type_names = std::any::type_name::<A>();
        assert!(
            self.handlers.insert(path, (type_names, erased)).is_none(),
            "Functions::register: {path} is registered twice; each path has one handler"
        );
        self
    }

    /// The registered paths, sorted.
    pub fn paths(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.handlers.keys().copied()
    }

    /// `Err` when `path` is unknown; `Ok(Err(why))` when `args` do not decode.
    pub(super) fn start(&self, path: &str, ctx_env: Env, id: String, args: Json) -> Lookup {
        let Some((&path, (args_type, handler))) = self.handlers.get_key_value(path) else {
            return Lookup::Unknown;
        };
        match handler(FunctionContext { env: ctx_env, id, path }, args) {
            Ok(pending) => Lookup::Started(pending),
            Err(why) => Lookup::BadArgs { path, args_type, why },
        }
    }
}

pub(super) enum Lookup {
    Unknown,
    BadArgs { path: &'static str, args_type: &'static str, why: String },
    Started(BoxFuture<'static, Outcome>),
}

impl fmt::Debug for Functions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Functions").field("paths", &self.handlers.keys().collect::<Vec<_>>()).finish()
    }
}

/// Milliseconds since the epoch, from the platform's clock (leases and retention).
pub(crate) fn now_ms() -> i64 {
    #[cfg(target_arch = "wasm32")]
    {
        js_sys::Date::now() as i64
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
    }
}
