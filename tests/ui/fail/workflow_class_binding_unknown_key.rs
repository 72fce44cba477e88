#![allow(unused_imports)]

use lunora_runtime::{step, workflow, Result, StepContext, StepRollbackContext, WorkflowContext};

#[workflow(clas = "OrderWorkflow")]
pub async fn flow(ctx: WorkflowContext<()>) -> Result<()> {
    let _ = ctx;
    Ok(())
}

#[workflow(bindings = "MY_WORKFLOW")]
pub async fn other(ctx: WorkflowContext<()>) -> Result<()> {
    let _ = ctx;
    Ok(())
}

fn main() {}
