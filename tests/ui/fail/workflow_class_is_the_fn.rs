#![allow(unused_imports)]

use lunora_runtime::{step, workflow, Result, StepContext, StepRollbackContext, WorkflowContext};

#[workflow(class = "OrderFlow")]
#[allow(non_snake_case)]
pub async fn OrderFlow(ctx: WorkflowContext<()>) -> Result<()> {
    let _ = ctx;
    Ok(())
}

#[workflow(class = "Raw")]
#[allow(non_snake_case)]
pub async fn r#Raw(ctx: WorkflowContext<()>) -> Result<()> {
    let _ = ctx;
    Ok(())
}

fn main() {}
