//! Child workflows (`ctx.child`): a parent starts a typed child from a step and gets its output,
//! or its failure as the parent's own, on both engines.

use lunora_runtime::*;

use crate::Input;

/// The child: `n` doubled in a step; 13 fails it (non-retryable).
#[workflow]
pub async fn child_double(ctx: WorkflowContext<Input>) -> Result<u64> {
    let n = ctx.params.n;
    ctx.step
        .do_("double", move |_| async move {
            match n {
                13 => Err(Error::non_retryable("13 is not doubled")),
                n => Ok(n * 2),
            }
        })
        .await
}

/// Two children in turn, the second from the first's output: `(21·2)·2 + 1`.
#[workflow]
pub async fn child_parent(ctx: WorkflowContext<Input>) -> Result<u64> {
    let once = ctx.child::<ChildDoubleWorkflow>("double", ctx.params.clone()).await?;
    let twice = ctx.child::<ChildDoubleWorkflow>("double", Input { run: ctx.params.run.clone(), n: once }).await?;
    Ok(twice + 1)
}

/// A failing child: its error ends the parent (`ChildWorkflowError` naming the child's).
#[workflow]
pub async fn child_fails(ctx: WorkflowContext<Input>) -> Result<u64> {
    let input = Input { run: ctx.params.run.clone(), n: 13 };
    ctx.child::<ChildDoubleWorkflow>("unlucky", input).await
}
