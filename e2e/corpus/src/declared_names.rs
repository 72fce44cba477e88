//! A workflow that declares its class and binding, as one ported from a JavaScript Worker does:
//! workerd must run the entry module's class exported under the declared name, and the registry
//! must reach it through the declared binding.

use lunora_runtime::*;

use crate::Input;

/// One step echoing its input, under class `PortedOrderWorkflow` and binding `PORTED_ORDERS`.
#[workflow(class = "PortedOrderWorkflow", binding = "PORTED_ORDERS")]
pub async fn declared_names(ctx: WorkflowContext<Input>) -> Result<String> {
    let n = ctx.params.n;
    ctx.step.do_("echo", move |_| async move { Ok(format!("declared names ran with {n}")) }).await
}
