//! Child workflows: a parent body starts a typed child instance from a step and waits, durably,
//! for the child's output. The child learns who its parent is from its create params (a
//! wrapper, see [`ParentRef`]) and, when its body ends, sends the parent one event with its
//! output or its error, from a step of its own so the event is sent once.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::context::WorkflowContext;
use crate::duration::DurationInput;
use crate::erased::Json;
use crate::error::{Error, Result};
use crate::handle_errors;
use crate::status::InstanceStatusKind;
use crate::workflow::{CreateRequest, Workflow, WorkflowsBackend};

/// The key of the create params that names the parent: `{"params": …, "lunoraParent": …}`.
const PARENT_KEY: &str = "lunoraParent";
/// The child's last step: sending its outcome to the parent.
const NOTIFY_STEP: &str = "lunora-notify-parent";
/// The name an error from a failed child carries in the parent.
pub const CHILD_FAILED: &str = "ChildWorkflowError";
/// How long a parent waits for its child by default: Cloudflare's longest event wait.
const DEFAULT_TIMEOUT: &str = "365 days";

/// How workflow bodies reach the engine's workflows (the same backend the typed handles use).
/// The engine puts one in each body's [`Env`](crate::Env); it holds the engine weakly, so a
/// body that outlives the engine gets an error rather than keeping the engine alive.
/// It is given the `(name, binding)` of the workflows the caller addresses: the Cloudflare
/// backend reaches them through those Worker bindings.
#[derive(Clone)]
pub(crate) struct Siblings(pub(crate) Arc<SiblingsFn>);

pub(crate) type SiblingsFn = dyn Fn(&[(&str, &str)]) -> Result<Arc<dyn WorkflowsBackend>> + Send + Sync;

/// Where a child reports to: the parent's workflow, instance and the event type it waits for.
/// Strict (exactly these four strings) so that a workflow's own params are taken for the
/// wrapper only when they are one, key for key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ParentRef {
    pub workflow: String,
    pub binding: String,
    pub id: String,
    pub event: String,
}

/// The create params split into the child's own params and its parent, when the params are
/// the wrapper a parent writes (exactly the keys `params` and `lunoraParent`).
pub(crate) fn split_params(payload: &Json) -> (Json, Option<ParentRef>) {
    let Some(object) = payload.as_object().filter(|o| o.len() == 2 && o.contains_key("params")) else {
        return (payload.clone(), None);
    };
    match object.get(PARENT_KEY).map(|p| serde_json::from_value::<ParentRef>(p.clone())) {
        Some(Ok(parent)) => (object["params"].clone(), Some(parent)),
        _ => (payload.clone(), None),
    }
}

/// FNV-1a: a stable short digest for ids and event types (not a security measure).
fn digest(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("{hash:016x}")
}

/// `<parent id>-<step name>-<count>` when that is a valid instance id, else a digest of it.
fn child_id(parent_id: &str, name: &str, count: u32) -> String {
    let readable = format!("{parent_id}-{name}-{count}");
    match lunora_shared::rules::identifier_problem(&readable, lunora_shared::rules::MAX_INSTANCE_ID_CHARS) {
        None => readable,
        Some(_) => format!("child-{}-{count}", digest(&readable)),
    }
}

/// What the child sends: `{"output": …}` or `{"error": {"name", "message"}}`.
#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Outcome {
    Output(Json),
    Error { name: String, message: String },
}

fn siblings(env: &crate::env::Env, workflow: &str, binding: &str) -> Result<Arc<dyn WorkflowsBackend>> {
    let siblings = env.get::<Siblings>().ok_or_else(|| {
        Error::workflow(
            "workflow.unsupported",
            "child workflows need a handle on the engine's workflows, which this body was not given (it runs \
             outside the embedded engine and a Worker, e.g. in replay)",
        )
    })?;
    (siblings.0)(&[(workflow, binding)])
}

impl<P> WorkflowContext<P> {
    /// Starts child workflow `C` from step `name` and waits (up to 365 days) for its output.
    /// See [`Self::child_with_timeout`].
    pub async fn child<C: Workflow>(&self, name: &str, params: C::Params) -> Result<C::Output> {
        self.child_with_timeout::<C>(name, params, DEFAULT_TIMEOUT).await
    }

    /// Starts child workflow `C` in step `name` (its id `<parent id>-<name>-<count>`, so a
    /// replay or a crash after the create finds the same child), then waits in step
    /// `<name>-result` for the event the child sends when its body ends. A child that fails
    /// fails this call with a [`CHILD_FAILED`] error carrying the child's error; one that is
    /// terminated or deleted sends nothing, and the wait times out after `timeout` (a restart of
    /// the parent finds the child again and reads how it ended from its status).
    pub async fn child_with_timeout<C: Workflow>(
        &self,
        name: &str,
        params: C::Params,
        timeout: impl Into<DurationInput>,
    ) -> Result<C::Output> {
        let count = self.children.next(name);
        let id = child_id(&self.event.instance_id, name, count);
        let parent = ParentRef {
            workflow: self.event.workflow_name.clone(),
            binding: self.binding.clone(),
            id: self.event.instance_id.clone(),
            event: format!("lunora-child-{}", digest(&id)),
        };
        let params = serde_json::to_value(params)
            .map_err(|e| Error::fatal(format!("the child's params cannot be serialised: {e}")))?;
        let wrapper = json!({ "params": params, PARENT_KEY: parent });
        let env = &self.env;
        let created = self
            .step
            .do_(name, |_| {
                let (env, id, wrapper, parent) = (env.clone(), id.clone(), wrapper.clone(), parent.clone());
                async move {
                    let backend = siblings(&env, C::NAME, &C::binding())?;
                    let request = CreateRequest { id: Some(id.clone()), params: Some(wrapper), retention: None };
                    match backend.create(C::NAME, request).await {
                        // Created before a crash that kept this step from completing, or by the
                        // run before a restart of the parent: the same child, not a second one.
                        Err(e) if e.code() == Some(handle_errors::ALREADY_EXISTS) => {
                            resend_if_ended(&*backend, C::NAME, &id, &parent).await?;
                            Ok(id)
                        }
                        other => other,
                    }
                }
            })
            .await?;
        let event = self
            .step
            .wait_for_event_with_timeout::<Json>(format!("{name}-result"), parent.event.clone(), timeout)
            .await?;
        let outcome: Outcome = serde_json::from_value(event.payload)
            .map_err(|e| Error::fatal(format!("child {created:?} sent an outcome lunora cannot read: {e}")))?;
        match outcome {
            Outcome::Output(output) => serde_json::from_value(output).map_err(|e| {
                Error::fatal(format!("the output of child {created:?} does not decode as {}'s output: {e}", C::NAME))
            }),
            Outcome::Error { name: error, message } => Err(Error::named(
                CHILD_FAILED,
                format!("child workflow {:?} instance {created:?} failed: {error}: {message}", C::NAME),
            )),
        }
    }
}

/// A child found already existing may have ended and reported to a run of the parent that a
/// restart discarded: its outcome is sent again from its status. A running child reports by
/// itself; an extra event is harmless (a wait takes one, the rest stay queued).
async fn resend_if_ended(backend: &dyn WorkflowsBackend, workflow: &str, id: &str, parent: &ParentRef) -> Result<()> {
    let status = backend.status(workflow, id).await?;
    let outcome = match status.status {
        InstanceStatusKind::Complete => json!({ "output": status.output.unwrap_or(Json::Null) }),
        InstanceStatusKind::Errored | InstanceStatusKind::Terminated => {
            let (name, message) = match &status.error {
                Some(e) => (e.name().to_owned(), e.message().to_owned()),
                None => ("Terminated".to_owned(), format!("the child instance is {}", status.status)),
            };
            json!({ "error": { "name": name, "message": message } })
        }
        _ => return Ok(()),
    };
    backend.send_event(&parent.workflow, &parent.id, &parent.event, outcome).await
}

/// Runs `W`'s body; for a child, then reports its output or error to the parent in a step.
pub(crate) async fn run_body<W: Workflow>(
    mut ctx: WorkflowContext<W::Params>,
    parent: Option<ParentRef>,
) -> Result<W::Output> {
    ctx.binding = W::binding();
    let Some(parent) = parent else { return W::run(ctx).await };
    let (step, env) = (ctx.step.clone(), ctx.env.clone());
    let result = W::run(ctx).await;
    let outcome = match &result {
        Ok(output) => match serde_json::to_value(output) {
            Ok(output) => json!({ "output": output }),
            // The child ends with this error too (the engine serialises its output again).
            Err(e) => json!({ "error": {
                "name": crate::step::UNSERIALIZABLE,
                "message": format!("the workflow's output cannot be serialised: {e}"),
            } }),
        },
        Err(e) => json!({ "error": { "name": e.name(), "message": e.message() } }),
    };
    step.do_(NOTIFY_STEP, |_| {
        let (env, parent, outcome) = (env.clone(), parent.clone(), outcome.clone());
        async move {
            let backend = siblings(&env, &parent.workflow, &parent.binding)?;
            match backend.send_event(&parent.workflow, &parent.id, &parent.event, outcome).await {
                // A parent deleted meanwhile waits for nothing.
                Err(e) if e.code() == Some(handle_errors::NOT_FOUND) => Ok(()),
                other => other,
            }
        }
    })
    .await?;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wrapper_splits_and_other_params_pass_whole() {
        let parent = ParentRef {
            workflow: "p".into(),
            binding: "WORKFLOW_P".into(),
            id: "p-1".into(),
            event: "lunora-child-0".into(),
        };
        let wrapped = json!({ "params": { "n": 1 }, "lunoraParent": parent });
        assert_eq!(split_params(&wrapped), (json!({ "n": 1 }), Some(parent)));
        for plain in [
            json!({ "params": 1 }),
            json!({ "params": 1, "lunoraParent": "not a parent" }),
            json!({ "params": 1, "lunoraParent": {}, "more": 2 }),
            json!({ "params": 1, "lunoraParent": { "workflow": "p", "binding": "B", "id": "p-1", "event": "e", "extra": 1 } }),
            json!([1]),
        ] {
            assert_eq!(split_params(&plain), (plain.clone(), None), "{plain}");
        }
    }

    #[test]
    fn child_ids_are_stable_and_always_valid() {
        assert_eq!(child_id("order-1", "ship", 2), "order-1-ship-2");
        let long = "p".repeat(100);
        let id = child_id(&long, "ship", 1);
        assert_eq!(id, child_id(&long, "ship", 1));
        assert_ne!(id, child_id(&long, "ship", 2));
        assert!(lunora_shared::rules::identifier_problem(&id, lunora_shared::rules::MAX_INSTANCE_ID_CHARS).is_none());
        let spaced = child_id("p", "with spaces", 1);
        assert!(spaced.starts_with("child-"), "{spaced}");
    }
}
