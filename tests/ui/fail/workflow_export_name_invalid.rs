//! Fn names whose export name is not `[A-Za-z][A-Za-z0-9]*`: refused at the fn, even with a
//! deployed name, because the class name and binding derive from the fn. A leading digit used
//! to crash the macro (`1aWorkflow` is no ident); a non-ASCII name used to compile with a
//! binding and class that disagree on the case mapping.
#![allow(non_snake_case)]

use lunora_runtime::{workflow, Result, WorkflowContext};

#[workflow(name = "one-a")]
pub async fn _1a(ctx: WorkflowContext<()>) -> Result<()> {
    let _ = ctx;
    Ok(())
}

#[workflow(name = "uber")]
pub async fn über(ctx: WorkflowContext<()>) -> Result<()> {
    let _ = ctx;
    Ok(())
}

#[workflow]
pub async fn ǆemo(ctx: WorkflowContext<()>) -> Result<()> {
    let _ = ctx;
    Ok(())
}

fn main() {}
