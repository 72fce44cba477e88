#[workflow(class = "OrderWorkflow", binding = "MY_WORKFLOW")]
pub async fn order_pipeline(ctx: WorkflowContext<()>) -> Result<()> {
    Ok(())
}

#[workflow(class = "legacyFlow")]
async fn legacy(ctx: WorkflowContext<()>) -> Result<()> {
    Ok(())
}
