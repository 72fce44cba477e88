#[workflow(name = "orders", schedules = ["0 3 * * *"], limits(steps = 500))]
pub(crate) async fn order_pipeline(ctx: WorkflowContext<OrderParams>) -> lunora_runtime::Result<Shipped> {
    todo!()
}
