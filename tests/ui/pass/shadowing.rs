//! The generated code must not depend on the prelude: this crate shadows `Result`, `Ok`,
//! `Err`, `Option`, `Some`, `None`, `Box`, `String` and `Send`, and denies every warning.
#![deny(warnings)]
#![allow(non_camel_case_types, dead_code)]

struct Result;
struct Ok;
struct Err;
struct Option;
struct Some;
struct None;
struct Box;
struct String;
struct Send;
mod core {}
mod std {}

#[derive(Clone, ::serde::Serialize, ::serde::Deserialize)]
pub struct Args {
    pub id: ::std::string::String,
}

#[lunora_runtime::step(args = Args, returns = u32, name = "charge-card", retries(limit = 2, delay = "1 second", backoff = "linear"),
                        timeout = "1 minute", rollback = undo, rollback_config(retries(limit = 1, delay = "1 second"), timeout = "10 seconds"))]
pub async fn charge(ctx: lunora_runtime::StepContext, args: Args) -> lunora_runtime::Result<u32> {
    let _ = (ctx, args);
    ::core::result::Result::Ok(1)
}

pub async fn undo(ctx: lunora_runtime::StepRollbackContext<Args, u32>) -> lunora_runtime::Result<()> {
    let _ = ctx;
    ::core::result::Result::Ok(())
}

#[lunora_runtime::workflow(name = "shadowed", schedules = ["0 3 * * *"], limits(steps = 10))]
pub async fn shadowed_flow(ctx: lunora_runtime::WorkflowContext<Args>) -> lunora_runtime::Result<u32> {
    let id = ctx.params.id.clone();
    ctx.run_step(&charge, Args { id }).await
}

fn main() {
    let _ = <ShadowedFlowWorkflow as lunora_runtime::Workflow>::NAME;
}
