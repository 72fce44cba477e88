#![allow(unused_imports)]

use lunora_runtime::{step, workflow, Result, StepContext, StepRollbackContext, WorkflowContext};

#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Args {
    pub id: String,
}

#[workflow]
pub async fn flow(ctx: WorkflowContext<()>) {
    let _ = ctx;
}

fn main() {}
