#![allow(unused_imports)]

use lunora_runtime::{step, Result, StepContext};

#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Args {
    pub id: String,
}

/// A delay fn must take `&RetryDelayContext` and return `Result<DurationInput>`.
fn wait(attempt: u32) -> u64 {
    u64::from(attempt) * 1000
}

#[step(args = Args, returns = u32, retries(limit = 3, delay = wait))]
pub async fn charge(ctx: StepContext, args: Args) -> Result<u32> {
    let _ = (ctx, args);
    Ok(1)
}

fn main() {}
