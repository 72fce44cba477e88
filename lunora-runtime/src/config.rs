//! Step configuration: what users write ([`StepConfig`]), what the engine resolves it to
//! ([`ResolvedStepConfig`]) and the retry delay formula (see [`Backoff`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::{millis, DurationInput};
use crate::error::Error;
use crate::status::StepId;
pub use lunora_shared::rules::MAX_RETRY_LIMIT;

/// Cloudflare's production default delay between retries. The local JS engine uses 1 s; the
/// embedded engine follows production (override with `EngineBuilder::default_retry_delay`).
pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(10);
/// Default retry limit: at most `limit + 1` attempts.
pub const DEFAULT_RETRY_LIMIT: u32 = 5;
/// Default per-attempt timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// How the delay grows between attempts; the names (`"exponential"`, also in JSON) and the
/// codes `#[step]` passes are the ones the macros check against.
pub use lunora_shared::backoff::Backoff;

/// What to hide of a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sensitive {
    /// The output is shown as `"[REDACTED]"` in logs, status and timelines.
    Output,
}

/// The `retries` part of a step config. Fields left `None` keep the default (shallow merge).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RetryConfig {
    pub limit: Option<u32>,
    pub delay: Option<DurationInput>,
    pub backoff: Option<Backoff>,
    /// A delay computed from each failed attempt (dynamic backoff); wins over `delay`.
    pub delay_fn: Option<DelayFn>,
}

/// What a retry delay function is given: the step, the attempt that failed and its error.
#[derive(Clone, Copy, Debug)]
pub struct RetryDelayContext<'a> {
    pub step: &'a StepId,
    /// The attempt that just failed (1-based).
    pub attempt: u32,
    /// The config the step runs with.
    pub config: &'a ResolvedStepConfig,
    pub error: &'a Error,
}

type DelayFnInner = dyn Fn(&RetryDelayContext<'_>) -> Result<DurationInput, Error> + Send + Sync;

/// `retries.delay` as a function of the failed attempt (Cloudflare's `delay: ({ctx, error}) =>
/// …`). The value it returns is the base the backoff then grows, exactly as workerd does: with
/// the default `exponential` backoff, returning 5 s after attempt 3 waits 20 s; declare
/// `backoff = "constant"` to wait what the function says. An error it returns, or a duration
/// that does not parse, fails the step at once with a `NonRetryableDelayError`.
#[derive(Clone)]
pub struct DelayFn(Arc<DelayFnInner>);

impl DelayFn {
    pub fn new(f: impl Fn(&RetryDelayContext<'_>) -> Result<DurationInput, Error> + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// What the function returns for this failure, before the backoff.
    pub fn base(&self, cx: &RetryDelayContext<'_>) -> Result<DurationInput, Error> {
        (self.0)(cx)
    }

    /// The delay after a failed attempt, backoff applied; `Err` is the step's final error.
    pub fn delay_after(&self, cx: &RetryDelayContext<'_>) -> Result<Duration, Error> {
        let failed = |what: String| {
            Error::named(
                crate::error::NON_RETRYABLE_DELAY,
                format!("The delay function for step \"{}\" {what}", cx.step),
            )
        };
        // User code called by the engine: a panic is the function failing, not the engine's.
        let called = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.0)(cx)));
        let base = called
            .unwrap_or_else(|payload| {
                let what = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a non-string payload".to_owned());
                Err(Error::new(format!("panicked: {what}")))
            })
            .map_err(|e| failed(format!("threw an error: {}", e.message())))?;
        let base = base.resolve().map_err(|_| {
            failed(
                "returned an invalid delay value (expected a number of ms or a duration string like \"30 seconds\")"
                    .to_owned(),
            )
        })?;
        Ok(cx.config.grown(millis(base), cx.attempt))
    }
}

impl fmt::Debug for DelayFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DelayFn(..)")
    }
}

impl PartialEq for DelayFn {
    /// The same function value (clones of one `DelayFn`).
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// A step's durability config, merged over the defaults like Cloudflare does:
/// `{...default, ...user, retries: {...default.retries, ...user.retries}}`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepConfig {
    pub retries: Option<RetryConfig>,
    pub timeout: Option<DurationInput>,
    pub sensitive: Option<Sensitive>,
}

impl StepConfig {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `retries.limit` and `retries.delay` (Cloudflare requires both together).
    pub fn retries(mut self, limit: u32, delay: impl Into<DurationInput>) -> Self {
        let retries = self.retries.get_or_insert_with(RetryConfig::default);
        retries.limit = Some(limit);
        retries.delay = Some(delay.into());
        self
    }

    /// Sets `retries.limit` and a delay computed from each failed attempt (see [`DelayFn`]).
    pub fn retries_with(
        mut self,
        limit: u32,
        delay: impl Fn(&RetryDelayContext<'_>) -> Result<DurationInput, Error> + Send + Sync + 'static,
    ) -> Self {
        let retries = self.retries.get_or_insert_with(RetryConfig::default);
        retries.limit = Some(limit);
        retries.delay = None;
        retries.delay_fn = Some(DelayFn::new(delay));
        self
    }

    /// Sets `retries.backoff`.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.retries.get_or_insert_with(RetryConfig::default).backoff = Some(backoff);
        self
    }

    /// Sets the per-attempt timeout.
    pub fn timeout(mut self, timeout: impl Into<DurationInput>) -> Self {
        self.timeout = Some(timeout.into());
        self
    }

    /// Redacts the output (`"[REDACTED]"`) in histories, timelines and logs; the next step
    /// still gets the real value.
    pub fn sensitive_output(mut self) -> Self {
        self.sensitive = Some(Sensitive::Output);
        self
    }

    /// Merges `self` over `defaults` and validates the result.
    /// `step_name` only feeds the error message.
    pub fn resolve(&self, defaults: &ResolvedStepConfig, step_name: &str) -> Result<ResolvedStepConfig, Error> {
        let invalid =
            |detail: String| Error::fatal(format!("Step config for \"{step_name}\" is in a invalid format: {detail}"));
        let mut out = defaults.clone();
        if let Some(retries) = &self.retries {
            if let Some(limit) = retries.limit {
                if limit > MAX_RETRY_LIMIT {
                    return Err(invalid(format!("retries.limit is {limit}, the maximum is {MAX_RETRY_LIMIT}")));
                }
                out.retries.limit = limit;
            }
            if let Some(delay) = &retries.delay {
                let delay = delay.resolve().map_err(|e| invalid(format!("retries.delay: {e}")))?;
                out.retries.delay_ms = millis(delay);
            }
            if let Some(backoff) = retries.backoff {
                out.retries.backoff = backoff;
            }
            out.retries.dynamic_delay = retries.delay_fn.is_some();
        }
        if let Some(timeout) = &self.timeout {
            let timeout = timeout.resolve().map_err(|e| invalid(format!("timeout: {e}")))?;
            if timeout.is_zero() {
                return Err(invalid("timeout must be greater than 0".to_owned()));
            }
            out.timeout_ms = millis(timeout);
        }
        if self.sensitive.is_some() {
            out.sensitive = self.sensitive;
        }
        Ok(out)
    }
}

/// The resolved retry policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedRetries {
    pub limit: u32,
    pub delay_ms: i64,
    pub backoff: Backoff,
    /// The delay comes from the code's [`DelayFn`] (`delay_ms` is then the fallback for an
    /// instance whose code no longer declares one).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dynamic_delay: bool,
}

/// The config a step actually runs with; persisted at its first execution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedStepConfig {
    pub retries: ResolvedRetries,
    pub timeout_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitive: Option<Sensitive>,
    /// The step was run with a rollback handler: a later execution of the instance owes its
    /// rollback, and reports a failure (as workerd does) if the code no longer provides it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rollback: bool,
}

impl ResolvedStepConfig {
    /// Cloudflare's defaults with the given retry delay.
    pub fn defaults(retry_delay: Duration) -> Self {
        Self {
            retries: ResolvedRetries {
                limit: DEFAULT_RETRY_LIMIT,
                delay_ms: millis(retry_delay),
                backoff: Backoff::Exponential,
                dynamic_delay: false,
            },
            timeout_ms: millis(DEFAULT_TIMEOUT),
            sensitive: None,
            rollback: false,
        }
    }

    /// Attempts allowed in total: `limit + 1`.
    pub fn max_attempts(&self) -> u32 {
        self.retries.limit.saturating_add(1)
    }

    /// Delay before attempt `failed_attempt + 1`.
    pub fn delay_after(&self, failed_attempt: u32) -> Duration {
        self.grown(self.retries.delay_ms, failed_attempt)
    }

    /// `base_ms` grown by the backoff for the attempt that failed.
    pub fn grown(&self, base_ms: i64, failed_attempt: u32) -> Duration {
        let base = base_ms.max(0) as u64;
        let n = u64::from(failed_attempt.max(1));
        let ms = match self.retries.backoff {
            Backoff::Constant => base,
            Backoff::Linear => base.saturating_mul(n),
            Backoff::Exponential => {
                let shift = (n - 1).min(62) as u32;
                base.saturating_mul(1u64 << shift)
            }
        };
        Duration::from_millis(ms)
    }
}

impl Default for ResolvedStepConfig {
    fn default() -> Self {
        Self::defaults(DEFAULT_RETRY_DELAY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_exponential_delays_are_10_20_40_80_160_seconds() {
        let cfg = ResolvedStepConfig::default();
        let delays: Vec<u64> = (1..=5).map(|n| cfg.delay_after(n).as_secs()).collect();
        assert_eq!(delays, [10, 20, 40, 80, 160]);
        assert_eq!(cfg.max_attempts(), 6);
    }

    #[test]
    fn linear_and_constant_backoff() {
        let mut cfg = ResolvedStepConfig::defaults(Duration::from_secs(2));
        cfg.retries.backoff = Backoff::Linear;
        assert_eq!(cfg.delay_after(3), Duration::from_secs(6));
        cfg.retries.backoff = Backoff::Constant;
        assert_eq!(cfg.delay_after(3), Duration::from_secs(2));
    }

    #[test]
    fn merge_is_shallow_over_retries() {
        let user = StepConfig::new().backoff(Backoff::Linear);
        let cfg = user.resolve(&ResolvedStepConfig::default(), "charge").unwrap();
        assert_eq!(cfg.retries.limit, 5, "limit kept from the defaults");
        assert_eq!(cfg.retries.delay_ms, 10_000);
        assert_eq!(cfg.retries.backoff, Backoff::Linear);
    }

    #[test]
    fn invalid_configs_name_the_step_and_the_field() {
        let defaults = ResolvedStepConfig::default();
        let err = StepConfig::new().retries(10_001, "1 second").resolve(&defaults, "charge").unwrap_err();
        assert_eq!(err.name(), "WorkflowFatalError");
        assert_eq!(
            err.message(),
            "Step config for \"charge\" is in a invalid format: retries.limit is 10001, the maximum is 10000"
        );
        let err = StepConfig::new().timeout("5 mins").resolve(&defaults, "charge").unwrap_err();
        assert!(err.message().contains("timeout: invalid duration \"5 mins\": unknown unit"), "{err}");
        let err = StepConfig::new().timeout(0u64).resolve(&defaults, "charge").unwrap_err();
        assert!(err.message().ends_with("timeout must be greater than 0"), "{err}");
    }
}
