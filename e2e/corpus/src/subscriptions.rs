//! `instance.subscribe` on both engines: [`subscribe_events`] runs a step, a retried attempt, a
//! sleep, an event wait and a completion; [`observe`] drains a subscription into the events'
//! JSON. The driver (`e2e/src/subscriptions.rs`) subscribes while the instance runs and after it
//! finished, with a filter and with a cursor, natively and (through the corpus Worker's
//! `POST /subscribe/:export/:id`) in workerd, and compares what came.

use lunora_runtime::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{constant, Input};

/// The workflow the subscriptions watch.
pub const SUBSCRIBED: &str = "subscribeEvents";
/// The event type its wait takes.
pub const GO: &str = "go-subscribe";

/// A step, a step that fails its first attempt, a sleep, an event wait, a last step.
#[workflow]
pub async fn subscribe_events(ctx: WorkflowContext<Input>) -> Result<String> {
    let first: u64 = ctx.step.do_("prepare", |_| async { Ok(1) }).await?;
    let attempts: u32 = ctx
        .step
        .do_with("flaky", constant(2, "1 second"), |s| async move {
            if s.attempt < 2 {
                return Err(Error::new(format!("not yet (attempt {})", s.attempt)));
            }
            Ok(s.attempt)
        })
        .await?;
    ctx.step.sleep("nap", "1 second").await?;
    let go: Event<Value> = ctx.step.wait_for_event_with_timeout("await-go", GO, "1 minute").await?;
    let summary = format!("{first} {attempts} {}", go.payload["value"]);
    ctx.step
        .do_("finish", move |_| {
            let summary = summary.clone();
            async move { Ok(summary) }
        })
        .await
}

/// What a subscription is asked for.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Observe {
    #[serde(default)]
    pub cursor: Option<u64>,
    #[serde(default)]
    pub filter: Option<Vec<String>>,
}

/// Every event of a subscription until it ends, as JSON; a failure mid-stream is the last item,
/// `{"subscriptionError": {name, message}}`.
pub async fn observe(handle: &WorkflowHandle<Untyped>, id: &str, ask: &Observe) -> Result<Vec<Value>> {
    let options = SubscribeOptions { cursor: ask.cursor, filter: ask.filter.clone() };
    let mut subscription = handle.get(id).await?.subscribe(options).await?;
    let mut events = Vec::new();
    while let Some(item) = subscription.next().await {
        match item {
            Ok(event) => events.push(serde_json::to_value(&event).map_err(|e| Error::new(e.to_string()))?),
            Err(e) => {
                events.push(serde_json::json!({ "subscriptionError": { "name": e.name(), "message": e.message() } }));
                break;
            }
        }
    }
    Ok(events)
}
