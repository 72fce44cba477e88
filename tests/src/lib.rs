//! Workflows and steps written with the macros, shared by the behaviour suites.
//!
//! `charge` has retries and a rollback; its args opt into field validation with garde.

use std::sync::{Arc, Mutex};

use lunora_runtime::{
    step, workflow, Error, NonRetryableError, Result, StepContext, StepRollbackContext, WorkflowContext,
};
use serde::{Deserialize, Serialize};

/// What steps did, in order (put in `ctx.env`).
#[derive(Clone, Default)]
pub struct Journal(pub Arc<Mutex<Vec<String>>>);

impl Journal {
    pub fn push(&self, s: impl Into<String>) {
        self.0.lock().unwrap().push(s.into());
    }
    pub fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

fn journal(env: &lunora_runtime::Env) -> Journal {
    env.get::<Journal>().cloned().expect("Journal in env")
}

#[derive(Clone, Debug, Serialize, Deserialize, garde::Validate)]
pub struct ChargeArgs {
    #[garde(length(min = 1))]
    pub order_id: String,
    #[garde(range(min = 1, max = 1_000_000))]
    pub amount: u64,
    /// The gateway rejects this many attempts first.
    #[garde(skip)]
    pub failures: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, garde::Validate)]
pub struct Receipt {
    #[garde(length(min = 3))]
    pub receipt_id: String,
}

/// Charges the order; the gateway flakes `failures` times.
#[step(args = ChargeArgs, returns = Receipt, retries(limit = 3, delay = "10 seconds", backoff = "exponential"),
       timeout = "30 seconds", rollback = refund, rollback_config(retries(limit = 1, delay = "1 second")))]
pub async fn charge(ctx: StepContext, args: ChargeArgs) -> Result<Receipt> {
    journal(&ctx.env).push(format!("charge attempt {}", ctx.attempt));
    if ctx.attempt <= args.failures {
        return Err(Error::new("gateway timeout"));
    }
    if args.order_id == "short" {
        return Ok(Receipt { receipt_id: "r".into() }); // fails the returns validation
    }
    Ok(Receipt { receipt_id: format!("rcpt-{}", args.order_id) })
}

pub async fn refund(ctx: StepRollbackContext<ChargeArgs, Receipt>) -> Result<()> {
    let receipt = ctx.output.map(|r| r.receipt_id).unwrap_or_else(|| "none".into());
    journal(&ctx.env).push(format!("refund {} {receipt} ({})", ctx.args.order_id, ctx.error.message()));
    Ok(())
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Ship {
    pub order_id: String,
}

/// A step with no config, named explicitly.
#[step(args = Ship, returns = String, name = "ship-it")]
pub async fn ship(_ctx: StepContext, args: Ship) -> Result<String> {
    if args.order_id == "unshippable" {
        return Err(NonRetryableError::new("no carrier serves this address").into());
    }
    Ok(format!("shipped {}", args.order_id))
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CheckoutParams {
    pub order_id: String,
    pub amount: u64,
    pub failures: u32,
    /// Run `charge` under this name instead (per-call override).
    pub charge_name: Option<String>,
    /// Override the charge config per call: no retries.
    pub no_retries: bool,
}

/// charge → sleep → ship.
#[workflow(schedules = ["0 3 * * *", "*/15 * * * MON-FRI"], limits(steps = 50))]
pub async fn checkout(ctx: WorkflowContext<CheckoutParams>) -> Result<String> {
    let p = &ctx.params;
    let args = ChargeArgs { order_id: p.order_id.clone(), amount: p.amount, failures: p.failures };
    let mut options = lunora_runtime::RunStepOptions::default();
    if let Some(name) = &p.charge_name {
        options = options.name(name.clone());
    }
    if p.no_retries {
        options = options.config(lunora_runtime::StepConfig::new().retries(0, "1 second"));
    }
    let receipt = ctx.run_step_with(&charge, args, options).await?;
    ctx.step.sleep("settle", "1 hour").await?;
    let shipped = ctx.run_step(&ship, Ship { order_id: p.order_id.clone() }).await?;
    Ok(format!("{} / {shipped}", receipt.receipt_id))
}

/// A workflow with an explicit deployed name.
#[workflow(name = "nightly-report")]
pub async fn report(ctx: WorkflowContext<()>) -> Result<u32> {
    ctx.step.do_("count", |_| async { Ok(7u32) }).await
}
