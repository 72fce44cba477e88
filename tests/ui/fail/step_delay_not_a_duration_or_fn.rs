#![allow(unused_imports)]

use lunora_runtime::{step, Result, StepContext};

#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Args {
    pub id: String,
}

#[step(args = Args, returns = u32, retries(limit = 3, delay = 5000))]
pub async fn charge(ctx: StepContext, args: Args) -> Result<u32> {
    let _ = (ctx, args);
    Ok(1)
}

fn main() {}
