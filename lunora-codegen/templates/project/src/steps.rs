//! The crate's reusable steps: `lunora-codegen new step NAME` appends another here.

use lunora_runtime::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WelcomeArgs {
    pub account_id: String,
}

/// Sends the welcome message and returns its id; retried with exponential backoff on error.
#[step(args = WelcomeArgs, returns = String, retries(limit = 3, delay = "5 seconds", backoff = "exponential"))]
pub async fn send_welcome(ctx: StepContext, args: WelcomeArgs) -> Result<String> {
    ctx.log.info(format!(
        "welcoming {} (attempt {})",
        args.account_id, ctx.attempt
    ));
    Ok(format!("msg-{}-{}", args.account_id, ctx.attempt))
}
