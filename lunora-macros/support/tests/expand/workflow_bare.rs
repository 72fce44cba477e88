#[workflow]
async fn send_email2(ctx: WorkflowContext<()>) -> Result<()> {
    Ok(())
}
