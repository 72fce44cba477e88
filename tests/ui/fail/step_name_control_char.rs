#![allow(unused_imports)]

use lunora_runtime::{step, workflow, Result, StepContext, StepRollbackContext, WorkflowContext};

#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Args {
    pub id: String,
}

#[step(args = Args, returns = u32, name = "bad\tname")]
pub async fn charge(ctx: StepContext, args: Args) -> Result<u32> {
    let _ = (ctx, args);
    Ok(1)
}

fn main() {}
