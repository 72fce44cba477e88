//! Workflows shared by the engine's integration tests. Each exercises one behaviour and
//! records side effects in an [`Effects`] log passed through `ctx.env`.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use lunora_runtime::testing::TestEngine;
use lunora_runtime::*;
use serde::{Deserialize, Serialize};

/// Side effects observed by step callbacks, in order.
#[derive(Clone, Default)]
pub struct Effects(Arc<Mutex<Vec<String>>>);

impl Effects {
    pub fn push(&self, what: impl Into<String>) {
        self.0.lock().unwrap().push(what.into());
    }

    pub fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    pub fn count(&self, what: &str) -> usize {
        self.0.lock().unwrap().iter().filter(|e| *e == what).count()
    }
}

pub fn effects(ctx: &Env) -> Effects {
    ctx.get::<Effects>().cloned().expect("tests put Effects in the env")
}

pub async fn engine_with<F: FnOnce(testing::TestEngineBuilder) -> testing::TestEngineBuilder>(
    f: F,
) -> (TestEngine, Effects) {
    let fx = Effects::default();
    let builder = TestEngine::builder().env(Env::new().with(fx.clone())).start_time(1_767_225_600_000);
    (f(builder).open().await.expect("engine opens"), fx)
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Order {
    pub order_id: String,
}

/// load → sleep 30 days → charge → wait for shipment → done.
pub struct Pipeline;

impl Workflow for Pipeline {
    type Params = Order;
    type Output = String;
    const NAME: &'static str = "pipeline";
    const EXPORT_NAME: &'static str = "pipeline";

    async fn run(ctx: WorkflowContext<Order>) -> Result<String> {
        let fx = effects(&ctx.env);
        let id = ctx.params.order_id.clone();
        let loaded: String = ctx
            .step
            .do_("load", |_| {
                let fx = fx.clone();
                let id = id.clone();
                async move {
                    fx.push("load");
                    Ok(format!("order {id}"))
                }
            })
            .await?;
        ctx.step.sleep("cool-off", "30 days").await?;
        let receipt: String = ctx
            .step
            .do_("charge", |_| {
                let fx = fx.clone();
                async move {
                    fx.push("charge");
                    Ok("r-1".to_owned())
                }
            })
            .await?;
        let shipped: Event<serde_json::Value> = ctx.step.wait_for_event("await-shipment", "shipment-created").await?;
        Ok(format!("{loaded} {receipt} {}", shipped.payload["tracking"].as_str().unwrap_or("?")))
    }
}

/// A step that fails `fail_times` times before succeeding, with the given retries config.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Flaky {
    pub fail_times: u32,
    pub limit: u32,
    pub non_retryable: bool,
    pub catch: bool,
}

pub struct FlakyFlow;

impl Workflow for FlakyFlow {
    type Params = Flaky;
    type Output = String;
    const NAME: &'static str = "flaky";
    const EXPORT_NAME: &'static str = "flaky";

    async fn run(ctx: WorkflowContext<Flaky>) -> Result<String> {
        let fx = effects(&ctx.env);
        let p = ctx.params.clone();
        let cfg = StepConfig::new().retries(p.limit, "10 seconds").backoff(Backoff::Exponential);
        let result: Result<String> = ctx
            .step
            .do_with("call", cfg, |s| {
                let fx = fx.clone();
                let p = p.clone();
                async move {
                    fx.push(format!("attempt {}", s.attempt));
                    if s.attempt <= p.fail_times {
                        if p.non_retryable {
                            return Err(NonRetryableError::new("card declined").into());
                        }
                        return Err(Error::new(format!("boom {}", s.attempt)));
                    }
                    Ok(format!("ok on {}", s.attempt))
                }
            })
            .await;
        match result {
            Err(e) if p.catch => Ok(format!("caught {}: {}", e.name(), e.message())),
            other => other,
        }
    }
}

/// Three steps with rollbacks; the fourth fails. `fail_rollback_of` makes one rollback fail.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Saga {
    pub fail_rollback_of: Option<String>,
    pub wait_before_failing: bool,
}

pub struct SagaFlow;

impl Workflow for SagaFlow {
    type Params = Saga;
    type Output = ();
    const NAME: &'static str = "saga";
    const EXPORT_NAME: &'static str = "saga";

    async fn run(ctx: WorkflowContext<Saga>) -> Result<()> {
        let fx = effects(&ctx.env);
        for name in ["reserve", "charge", "ship"] {
            let fx_fwd = fx.clone();
            let fx_rb = fx.clone();
            let failing = ctx.params.fail_rollback_of.clone();
            let rollback = Rollback::new(move |rc: RollbackContext<String>| {
                let fx = fx_rb.clone();
                let failing = failing.clone();
                async move {
                    fx.push(format!("undo {} output={:?} error={}", rc.ctx.step, rc.output, rc.error.message()));
                    if failing.as_deref() == Some(rc.ctx.step.name.as_str()) {
                        return Err(NonRetryableError::new("cannot undo").into());
                    }
                    Ok(())
                }
            });
            let _: String = ctx
                .step
                .do_with_rollback(
                    name,
                    None,
                    move |_| {
                        let fx = fx_fwd.clone();
                        async move {
                            fx.push(format!("do {name}"));
                            Ok(format!("{name}-done"))
                        }
                    },
                    rollback,
                )
                .await?;
        }
        if ctx.params.wait_before_failing {
            ctx.step.wait_for_event::<()>("hold", "go").await?;
        }
        let _: () =
            ctx.step.do_("explode", |_| async { Err(NonRetryableError::new("warehouse on fire").into()) }).await?;
        Ok(())
    }
}

/// Sleeps, then records the virtual time it woke at.
pub struct Sleeper;

impl Workflow for Sleeper {
    type Params = String;
    type Output = i64;
    const NAME: &'static str = "sleeper";
    const EXPORT_NAME: &'static str = "sleeper";

    async fn run(ctx: WorkflowContext<String>) -> Result<i64> {
        let fx = effects(&ctx.env);
        let _: () = ctx
            .step
            .do_("before", |_| {
                let fx = fx.clone();
                async move {
                    fx.push("before");
                    Ok(())
                }
            })
            .await?;
        ctx.step.sleep("nap", ctx.params.clone()).await?;
        ctx.step
            .do_("after", |s| async move {
                let _ = s;
                Ok(0i64)
            })
            .await?;
        Ok(0)
    }
}

/// Waits for events of the types in params, in order, with a 1-hour timeout; a timeout is
/// caught and reported as "timeout".
pub struct Waiter;

impl Workflow for Waiter {
    type Params = Vec<String>;
    type Output = Vec<String>;
    const NAME: &'static str = "waiter";
    const EXPORT_NAME: &'static str = "waiter";

    async fn run(ctx: WorkflowContext<Vec<String>>) -> Result<Vec<String>> {
        let mut got = Vec::new();
        for (i, event_type) in ctx.params.iter().enumerate() {
            let r = ctx
                .step
                .wait_for_event_with_timeout::<serde_json::Value>(format!("wait-{i}"), event_type.clone(), "1 hour")
                .await;
            got.push(match r {
                Ok(ev) => format!("{}={}", ev.event_type, ev.payload),
                Err(e) if e.kind() == ErrorKind::Timeout => "timeout".to_owned(),
                Err(e) => return Err(e),
            });
        }
        Ok(got)
    }
}

/// Whatever the params say about steps: names, duplicates, big outputs, a step limit.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Shape {
    pub names: Vec<String>,
    pub output_bytes: usize,
    pub config: Option<(u32, String)>,
}

pub struct Shaped;

impl Workflow for Shaped {
    type Params = Shape;
    type Output = Vec<String>;
    const NAME: &'static str = "shaped";
    const EXPORT_NAME: &'static str = "shaped";
    const STEP_LIMIT: Option<u32> = Some(5);

    async fn run(ctx: WorkflowContext<Shape>) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for name in &ctx.params.names {
            let bytes = ctx.params.output_bytes;
            let cfg = match &ctx.params.config {
                Some((limit, delay)) => StepConfig::new().retries(*limit, delay.as_str()),
                None => StepConfig::new(),
            };
            let v: String = ctx
                .step
                .do_with(name.clone(), cfg, |s| async move {
                    Ok(if bytes > 0 { "x".repeat(bytes) } else { s.step.to_string() })
                })
                .await?;
            out.push(v);
        }
        Ok(out)
    }
}

/// A gate a step waits on, opened by the test.
#[derive(Clone)]
pub struct Gate(pub Arc<tokio::sync::Semaphore>);

impl Default for Gate {
    fn default() -> Self {
        Gate(Arc::new(tokio::sync::Semaphore::new(0)))
    }
}

/// `first` waits for the gate; `second` runs after it.
pub struct Gated;

impl Workflow for Gated {
    type Params = ();
    type Output = ();
    const NAME: &'static str = "gated";
    const EXPORT_NAME: &'static str = "gated";

    async fn run(ctx: WorkflowContext<()>) -> Result<()> {
        let fx = effects(&ctx.env);
        let gate = ctx.env.get::<Gate>().cloned().expect("Gate in env");
        let _: () = ctx
            .step
            .do_("first", |_| {
                let gate = gate.clone();
                let fx = fx.clone();
                async move {
                    fx.push("first started");
                    gate.0.acquire().await.map_err(|e| Error::new(e.to_string()))?.forget();
                    fx.push("first done");
                    Ok(())
                }
            })
            .await?;
        let _: () = ctx
            .step
            .do_("second", |_| {
                let fx = fx.clone();
                async move {
                    fx.push("second");
                    Ok(())
                }
            })
            .await?;
        Ok(())
    }
}
