#![allow(unused_imports)]

use lunora_runtime::{step, workflow, Result, StepContext, StepRollbackContext, WorkflowContext};

#[workflow(class = "Order-Workflow")]
pub async fn dashed(ctx: WorkflowContext<()>) -> Result<()> {
    let _ = ctx;
    Ok(())
}

#[workflow(class = "type")]
pub async fn rust_keyword(ctx: WorkflowContext<()>) -> Result<()> {
    let _ = ctx;
    Ok(())
}

#[workflow(class = "default")]
pub async fn js_reserved(ctx: WorkflowContext<()>) -> Result<()> {
    let _ = ctx;
    Ok(())
}

#[workflow(class = "WorkflowEntrypoint")]
pub async fn entry_import(ctx: WorkflowContext<()>) -> Result<()> {
    let _ = ctx;
    Ok(())
}

#[workflow(class = "Caf\u{e9}")]
pub async fn escaped(ctx: WorkflowContext<()>) -> Result<()> {
    let _ = ctx;
    Ok(())
}

fn main() {}
