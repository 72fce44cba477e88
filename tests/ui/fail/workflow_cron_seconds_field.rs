#![allow(unused_imports)]

use lunora_runtime::{step, workflow, Result, StepContext, StepRollbackContext, WorkflowContext};

#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Args {
    pub id: String,
}

#[workflow(schedules = ["0 0 3 * * *"])]
pub async fn flow(ctx: WorkflowContext<()>) -> Result<()> {
    let _ = ctx;
    Ok(())
}

fn main() {}
