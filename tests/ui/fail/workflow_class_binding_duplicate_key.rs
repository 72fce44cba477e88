#![allow(unused_imports)]

use lunora_runtime::{step, workflow, Result, StepContext, StepRollbackContext, WorkflowContext};

#[workflow(class = "OrderWorkflow", binding = "MY_WORKFLOW", class = "Other", binding = "OTHER")]
pub async fn flow(ctx: WorkflowContext<()>) -> Result<()> {
    let _ = ctx;
    Ok(())
}

fn main() {}
