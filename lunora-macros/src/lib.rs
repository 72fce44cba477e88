//! `#[workflow]` and `#[step]`. This crate only forwards to `lunora-macros-support`, where
//! parsing, validation and expansion live (unit-testable, and shared with `lunora-codegen`'s
//! scanner so the macro and the CLI can never disagree about what an attribute means).
//! Use them through `lunora_runtime::{workflow, step}`.

use proc_macro::TokenStream;

/// Turns `async fn name(ctx: WorkflowContext<P>) -> Result<O>` into a workflow: the fn stays,
/// and a descriptor struct named like the workflow's class (`order_pipeline` →
/// `OrderPipelineWorkflow`) implements `lunora_runtime::Workflow`.
///
/// Options: `name = "deployed-name"`, `class = "ClassName"` (the JS class and the descriptor,
/// instead of the derived one), `binding = "BINDING"` (instead of `WORKFLOW_<NAME>`),
/// `schedules = ["cron", …]`, `limits(steps = N)`.
#[proc_macro_attribute]
pub fn workflow(attr: TokenStream, item: TokenStream) -> TokenStream {
    lunora_macros_support::workflow(attr.into(), item.into()).into()
}

/// Turns `async fn name(ctx: StepContext, args: T) -> Result<R>` into a reusable step value
/// `name` (a unit struct implementing `lunora_runtime::Step`), run with
/// `ctx.run_step(&name, args)`. The body stays callable as `name::call(ctx, args)`.
///
/// Options: `args = T` and `returns = R` (required, must match the signature), `name = "…"`,
/// `retries(limit = N, delay = "…", backoff = "…")`, `timeout = "…"`, `rollback = path`,
/// `rollback_config(retries(…), timeout = "…")`.
#[proc_macro_attribute]
pub fn step(attr: TokenStream, item: TokenStream) -> TokenStream {
    lunora_macros_support::step(attr.into(), item.into()).into()
}
