#![allow(unused_imports)]

use lunora_runtime::{step, workflow, Result, StepContext, StepRollbackContext, WorkflowContext};

#[workflow(class = "", binding = "")]
pub async fn flow(ctx: WorkflowContext<()>) -> Result<()> {
    let _ = ctx;
    Ok(())
}

fn main() {}
