//! The order pipeline of Lunora's README, written once with `#[workflow]` and `#[step]` and run
//! two ways: natively on the embedded durable engine (`src/main.rs`) and as a Cloudflare Worker
//! (`src/worker.rs`, built with worker-build and served by `wrangler dev`).
//!
//! load → reserve stock (released on rollback) → cool-off sleep → charge (retried, refunded on
//! rollback, a declined card is a `NonRetryableError`) → wait for the shipment event → done.
//! Every side effect is written to an audit trail so the order of rollbacks can be checked.

use lunora_runtime::*;
use serde::{Deserialize, Serialize};

mod audit;
pub mod lunora_workflows;
#[cfg(target_arch = "wasm32")]
mod worker;

#[cfg(not(target_arch = "wasm32"))]
pub use audit::AuditLog;
pub use audit::{audit_trail, record};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OrderParams {
    pub order_id: String,
    /// How many charge attempts the (simulated) payment gateway rejects.
    #[serde(default)]
    pub gateway_failures: u32,
    /// The card is declined: the charge fails with a `NonRetryableError`, without retries.
    #[serde(default)]
    pub decline: bool,
    /// How long the order rests before it is charged.
    #[serde(default = "default_cool_off")]
    pub cool_off: String,
    /// How long to wait for the warehouse's `shipment-created` event.
    #[serde(default = "default_ship_within")]
    pub ship_within: String,
}

fn default_cool_off() -> String {
    "1 minute".into()
}

fn default_ship_within() -> String {
    "7 days".into()
}

impl OrderParams {
    pub fn new(order_id: impl Into<String>) -> Self {
        Self {
            order_id: order_id.into(),
            gateway_failures: 0,
            decline: false,
            cool_off: default_cool_off(),
            ship_within: default_ship_within(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: String,
    pub amount_cents: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reservation {
    pub reservation_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    pub receipt_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shipment {
    pub tracking_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shipped {
    pub order: Order,
    pub reservation: Reservation,
    pub receipt: Receipt,
    pub tracking_id: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReserveArgs {
    pub order_id: String,
}

/// Reserves the order's stock; released if the order later fails.
#[step(args = ReserveArgs, returns = Reservation, rollback = release)]
async fn reserve(ctx: StepContext, args: ReserveArgs) -> Result<Reservation> {
    let reservation = Reservation { reservation_id: format!("rsv-{}", args.order_id) };
    record(&ctx.env, &args.order_id, format!("reserved {}", reservation.reservation_id)).await?;
    Ok(reservation)
}

async fn release(ctx: StepRollbackContext<ReserveArgs, Reservation>) -> Result<()> {
    let reservation = ctx.output.map(|r| r.reservation_id).unwrap_or_else(|| "nothing".into());
    ctx.log.warn(format!("releasing {reservation} of order {} because: {}", ctx.args.order_id, ctx.error));
    record(&ctx.env, &ctx.args.order_id, format!("released {reservation}")).await
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChargeArgs {
    pub order_id: String,
    pub amount_cents: u64,
    pub gateway_failures: u32,
    pub decline: bool,
}

/// Charges the order: retried with exponential backoff, refunded if the order later fails.
#[step(args = ChargeArgs, returns = Receipt, retries(limit = 3, delay = "2 seconds", backoff = "exponential"),
       timeout = "30 seconds", rollback = refund)]
async fn charge(ctx: StepContext, args: ChargeArgs) -> Result<Receipt> {
    if args.decline {
        return Err(NonRetryableError::new(format!("card declined for order {}", args.order_id)).into());
    }
    if ctx.attempt <= args.gateway_failures {
        ctx.log.warn(format!("payment gateway timed out (attempt {})", ctx.attempt));
        return Err(Error::new(format!("payment gateway timed out (attempt {})", ctx.attempt)));
    }
    let receipt = Receipt { receipt_id: format!("rcpt-{}-{}", args.order_id, ctx.attempt) };
    record(&ctx.env, &args.order_id, format!("charged {} cents as {}", args.amount_cents, receipt.receipt_id)).await?;
    Ok(receipt)
}

async fn refund(ctx: StepRollbackContext<ChargeArgs, Receipt>) -> Result<()> {
    let receipt = ctx.output.map(|r| r.receipt_id).unwrap_or_else(|| "nothing".into());
    ctx.log.warn(format!("refunding {receipt} of order {} because: {}", ctx.args.order_id, ctx.error));
    record(&ctx.env, &ctx.args.order_id, format!("refunded {receipt}")).await
}

/// load → reserve → sleep → charge → wait for the shipment → done (deployed as `order-pipeline`).
#[workflow]
pub async fn order_pipeline(ctx: WorkflowContext<OrderParams>) -> Result<Shipped> {
    let params = ctx.params.clone();
    let order: Order =
        ctx.step.do_("load", |_| async { Ok(Order { id: params.order_id.clone(), amount_cents: 4200 }) }).await?;

    let reservation = ctx.run_step(&reserve, ReserveArgs { order_id: order.id.clone() }).await?;

    ctx.step.sleep("cool-off", params.cool_off.as_str()).await?;

    let charge_args = ChargeArgs {
        order_id: order.id.clone(),
        amount_cents: order.amount_cents,
        gateway_failures: params.gateway_failures,
        decline: params.decline,
    };
    let receipt = ctx.run_step(&charge, charge_args).await?;

    // Cloudflare allows only [a-zA-Z0-9_-] in event types, so `shipment.created` is spelled
    // with a dash.
    let shipment: Event<Shipment> =
        ctx.step.wait_for_event_with_timeout("await-shipment", "shipment-created", params.ship_within.as_str()).await?;
    Ok(Shipped { order, reservation, receipt, tracking_id: shipment.payload.tracking_id })
}
