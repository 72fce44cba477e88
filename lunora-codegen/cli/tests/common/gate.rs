//! The `gate` workflow the local-server and journal suites drive: prepare (params `"fail"`: a
//! non-retryable failure) → wait for the event `go` → finish with `"ready <who>, went <payload>"`.

use lunora_runtime::*;

pub struct Gate;

impl Workflow for Gate {
    type Params = String;
    type Output = String;
    const NAME: &'static str = "gate";
    const EXPORT_NAME: &'static str = "gate";

    async fn run(ctx: WorkflowContext<String>) -> Result<String> {
        let who = ctx.params.clone();
        let ready: String = ctx
            .step
            .do_("prepare", move |_| {
                let who = who.clone();
                async move {
                    if who == "fail" {
                        return Err(NonRetryableError::new("the gate is broken").into());
                    }
                    Ok(format!("ready {who}"))
                }
            })
            .await?;
        let go: Event<serde_json::Value> = ctx.step.wait_for_event("await-go", "go").await?;
        let went = format!("{ready}, went {}", go.payload);
        ctx.step
            .do_("finish", move |_| {
                let went = went.clone();
                async move { Ok(went) }
            })
            .await
    }
}
