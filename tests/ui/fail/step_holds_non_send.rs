// Natively steps run on a multi-threaded runtime, so a step that holds a non-Send value (here
// an Rc, standing for a Worker's JS handle) across an .await is refused, with what to do. The
// same code compiles for wasm32, where a Worker has one thread.
use std::rc::Rc;

use lunora_runtime::{step, workflow, Result, StepContext, WorkflowContext};

async fn tick() {}

#[step(args = u32, returns = u32)]
pub async fn count(_ctx: StepContext, args: u32) -> Result<u32> {
    let shared = Rc::new(args);
    tick().await;
    Ok(*shared)
}

#[workflow]
pub async fn counter(ctx: WorkflowContext<()>) -> Result<u32> {
    ctx.step
        .do_("count", |_| async {
            let shared = Rc::new(1u32);
            tick().await;
            Ok(*shared)
        })
        .await
}

fn main() {}
