//! The payment functions the Worker serves to its own workflows: `charge` and `refund` run
//! where the Worker's other functions run (behind `POST /_lunora/scheduler/dispatch`), and the
//! workflow's steps call them with `ctx.run`, exactly once per dedup id. The same constants
//! name them on both sides.

use lunora_runtime::{FunctionContext, FunctionError, FunctionRef, Functions};
use serde::{Deserialize, Serialize};

use crate::{record, Receipt};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Charge {
    pub order_id: String,
    pub amount_cents: u64,
    /// The calling step's attempt: the simulated gateway fails the first `gateway_failures`.
    pub attempt: u32,
    pub gateway_failures: u32,
    pub decline: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Refund {
    pub order_id: String,
    /// What the charge returned, if it finished.
    pub receipt_id: Option<String>,
}

pub const CHARGE: FunctionRef<Charge, Receipt> = FunctionRef::new("payments:charge");
pub const REFUND: FunctionRef<Refund, ()> = FunctionRef::new("payments:refund");
/// The code of a declined card (422, final: the step fails without retries).
pub const CARD_DECLINED: &str = "CARD_DECLINED";
/// The code of a gateway timeout (503, retried: the step's next attempt calls again).
pub const GATEWAY_TIMEOUT: &str = "GATEWAY_TIMEOUT";

async fn charge(ctx: FunctionContext, args: Charge) -> Result<Receipt, FunctionError> {
    if args.decline {
        return Err(FunctionError::unprocessable(CARD_DECLINED, format!("card declined for order {}", args.order_id)));
    }
    if args.attempt <= args.gateway_failures {
        return Err(FunctionError::unavailable(
            GATEWAY_TIMEOUT,
            format!("payment gateway timed out (attempt {})", args.attempt),
        ));
    }
    let receipt = Receipt { receipt_id: format!("rcpt-{}-{}", args.order_id, args.attempt) };
    record(&ctx.env, &args.order_id, format!("charged {} cents as {}", args.amount_cents, receipt.receipt_id)).await?;
    Ok(receipt)
}

async fn refund(ctx: FunctionContext, args: Refund) -> Result<(), FunctionError> {
    let receipt = args.receipt_id.unwrap_or_else(|| "nothing".into());
    record(&ctx.env, &args.order_id, format!("refunded {receipt}")).await?;
    Ok(())
}

/// The dev token of the example's dispatch endpoint (its wrangler.toml's, too); a deployment
/// sets a secret `LUNORA_ADMIN_TOKEN` instead.
pub const DEV_ADMIN_TOKEN: &str = "order-pipeline-dev-admin-token";

/// Every function this Worker serves.
pub fn functions() -> Functions {
    Functions::new().register(&CHARGE, charge).register(&REFUND, refund)
}
