#![allow(unused_imports)]

use lunora_runtime::{step, workflow, Result, StepContext, StepRollbackContext, WorkflowContext};

#[workflow(class = "OrderWorkflow", binding = "MY-WORKFLOW")]
pub async fn dashed(ctx: WorkflowContext<()>) -> Result<()> {
    let _ = ctx;
    Ok(())
}

#[workflow(binding = r"2FA")]
pub async fn digit_first(ctx: WorkflowContext<()>) -> Result<()> {
    let _ = ctx;
    Ok(())
}

#[workflow(binding = "__")]
pub async fn underscores(ctx: WorkflowContext<()>) -> Result<()> {
    let _ = ctx;
    Ok(())
}

// The descriptor still takes the declared class: no second error here.
fn main() {
    let _ = OrderWorkflow;
}
