//! [`WorkflowsBackend`] over the Worker's `Workflow` bindings: `env.<BINDING>.create(…)`,
//! `get(id)` and the instance methods. Instances are addressed by deployed name, as in the
//! embedded engine; the registry's [`WorkflowInfo`]s map names to bindings.

use js_sys::{Array, Object};
use wasm_bindgen::prelude::*;

use super::js;
use super::js::boxed;
use crate::batch::BatchReport;
use crate::erased::{BoxFuture, Json};
use crate::error::{Error, Result};
use crate::handle_errors;
use crate::status::{InstanceStatus, InstanceStatusKind, RestartFrom, RollbackState};
use crate::subscription::{SubscribeOptions, Subscription};
use crate::workflow::{BatchRequest, CreateRequest, RawStatus, WorkflowInfo, WorkflowsBackend};

/// The Workflow bindings of one Worker environment.
pub struct BindingBackend {
    env: JsValue,
    workflows: Bindings,
}

/// Which binding serves which workflow name.
enum Bindings {
    /// The generated registry's.
    Registry(&'static [WorkflowInfo]),
    /// `(name, binding)` pairs a workflow body names itself (a parent and its child).
    Pairs(Vec<(String, String)>),
}

impl BindingBackend {
    /// `workflows` is the generated registry's `WORKFLOWS`.
    pub fn new(env: &worker::Env, workflows: &'static [WorkflowInfo]) -> Self {
        Self { env: JsValue::from(env.clone()), workflows: Bindings::Registry(workflows) }
    }

    /// Over the given `(workflow name, binding name)` pairs only.
    pub(crate) fn for_pairs(env: &worker::Env, pairs: &[(&str, &str)]) -> Self {
        let pairs = pairs.iter().map(|(n, b)| ((*n).to_owned(), (*b).to_owned())).collect();
        Self { env: JsValue::from(env.clone()), workflows: Bindings::Pairs(pairs) }
    }

    fn binding(&self, workflow: &str) -> Result<JsValue> {
        let binding_name = match &self.workflows {
            Bindings::Registry(infos) => infos.iter().find(|w| w.name == workflow).map(|w| w.binding),
            Bindings::Pairs(pairs) => pairs.iter().find(|(n, _)| n == workflow).map(|(_, b)| b.as_str()),
        };
        let binding_name = binding_name.ok_or_else(|| {
            Error::workflow("workflow.not_found", format!("no workflow named {workflow:?} is registered"))
        })?;
        let binding = js::get(&self.env, binding_name);
        if binding.is_undefined() {
            return Err(Error::workflow(
                "workflow.not_found",
                format!(
                    "the Worker has no binding {} for workflow {workflow:?}; run `lunora-codegen sync` to add its \
                     [[workflows]] entry to the wrangler config",
                    binding_name
                ),
            ));
        }
        Ok(binding)
    }

    async fn instance(&self, workflow: &str, id: &str) -> Result<JsValue> {
        let binding = self.binding(workflow)?;
        call(&binding, "get", &Array::of1(&JsValue::from_str(id)))
            .await
            .map_err(|e| handle_errors::from_engine(e, workflow, id))
    }

    async fn on_instance(&self, workflow: &str, id: &str, method: &str, args: &Array) -> Result<JsValue> {
        let instance = self.instance(workflow, id).await?;
        call(&instance, method, args).await.map_err(|e| handle_errors::from_engine(e, workflow, id))
    }
}

/// `status()` as the binding returns it, as JSON (only the error's name restored): under `wrangler dev` it carries the
/// local engine's `__LOCAL_DEV_STEP_OUTPUTS` (every step output, in order), which the
/// conformance suite compares with the embedded engine's journal.
pub async fn raw_status(env: &worker::Env, binding: &str, id: &str) -> Result<Json> {
    let binding = js::get(&JsValue::from(env.clone()), binding);
    let instance = call(&binding, "get", &Array::of1(&JsValue::from_str(id))).await?;
    let mut status = js::from_js(&call(&instance, "status", &Array::new()).await?)?;
    // The error's name as the typed status reports it (see `js::unwrap_rpc_name`).
    if let Some(error) = status.get("error").filter(|e| e.is_object()).map(error_of) {
        status["error"] = serde_json::json!({ "name": error.name(), "message": error.message() });
    }
    Ok(status)
}

/// One item `deleteBatch` could not delete.
#[derive(serde::Deserialize)]
struct DeleteError {
    id: String,
    code: u32,
    message: String,
}

/// workerd's per-item code for an id with no instance.
const DELETE_NOT_FOUND: u32 = 10400;

/// Calls `target.<method>(...args)` and awaits the result.
async fn call(target: &JsValue, method: &str, args: &Array) -> Result<JsValue> {
    js::settle(js::call(target, method, args)?).await
}

fn create_options(request: &CreateRequest) -> Result<JsValue> {
    let options = Object::new();
    if let Some(id) = &request.id {
        js::set(&options, "id", &JsValue::from_str(id));
    }
    if let Some(params) = &request.params {
        js::set(&options, "params", &js::to_js(params)?);
    }
    if let Some(retention) = &request.retention {
        let retention = serde_json::to_value(retention).map_err(|e| Error::internal(e.to_string()))?;
        js::set(&options, "retention", &js::to_js(&retention)?);
    }
    Ok(options.into())
}

fn instance_id(instance: &JsValue) -> Result<String> {
    js::get(instance, "id").as_string().ok_or_else(|| Error::internal("the binding returned an instance without an id"))
}

/// `{status, error?, output?, rollback?}` as the binding reports it.
fn parse_status(value: Json) -> Result<RawStatus> {
    let text = value.get("status").and_then(Json::as_str).unwrap_or("unknown");
    let error = match value.get("error") {
        Some(e) if e.is_object() => Some(error_of(e)),
        _ => None,
    };
    let output = value.get("output").filter(|o| !o.is_null()).cloned();
    let rollback = value.get("rollback").filter(|r| r.is_object()).map(|r| -> Result<RollbackState> {
        serde_json::from_value(r.clone())
            .map_err(|e| Error::internal(format!("the binding reported a rollback state lunora cannot read: {e}")))
    });
    Ok(InstanceStatus { status: InstanceStatusKind::parse(text), error, output, rollback: rollback.transpose()? })
}

fn error_of(value: &Json) -> Error {
    let field = |k: &str| value.get(k).and_then(Json::as_str).unwrap_or_default().to_owned();
    js::unwrap_rpc_name(field("name"), field("message"))
}

impl WorkflowsBackend for BindingBackend {
    fn create<'a>(&'a self, workflow: &'a str, request: CreateRequest) -> BoxFuture<'a, Result<String>> {
        boxed(async move {
            let binding = self.binding(workflow)?;
            let created = call(&binding, "create", &Array::of1(&create_options(&request)?)).await;
            let instance = created
                .map_err(|e| handle_errors::from_engine(e, workflow, request.id.as_deref().unwrap_or_default()))?;
            instance_id(&instance)
        })
    }

    fn create_batch<'a>(
        &'a self,
        workflow: &'a str,
        requests: Vec<CreateRequest>,
    ) -> BoxFuture<'a, Result<Vec<String>>> {
        boxed(async move {
            let binding = self.binding(workflow)?;
            let batch = Array::new();
            for request in &requests {
                batch.push(&create_options(request)?);
            }
            let instances = call(&binding, "createBatch", &Array::of1(&batch))
                .await
                .map_err(|e| handle_errors::from_batch_engine(e, requests.len()))?;
            Array::from(&instances).iter().map(|i| instance_id(&i)).collect()
        })
    }

    fn create_batch_report<'a>(&'a self, workflow: &'a str, batch: BatchRequest) -> BoxFuture<'a, Result<BatchReport>> {
        boxed(async move {
            let binding = self.binding(workflow)?;
            // workerd checks the batch itself; its refusals are the embedded engine's wording.
            let options = Object::new();
            match &batch {
                BatchRequest::Count { count, params, retention } => {
                    let one = create_options(&CreateRequest {
                        id: None,
                        params: params.clone(),
                        retention: retention.clone(),
                    })?;
                    js::set(&options, "count", &JsValue::from_f64(*count as f64));
                    for key in ["params", "retention"] {
                        let value = js::get(&one, key);
                        if !value.is_undefined() {
                            js::set(&options, key, &value);
                        }
                    }
                }
                BatchRequest::Instances(requests) => {
                    let instances = Array::new();
                    for request in requests {
                        instances.push(&create_options(request)?);
                    }
                    js::set(&options, "instances", &instances);
                }
            }
            let result = call(&binding, "createBatch", &Array::of1(&options)).await?;
            let created =
                Array::from(&js::get(&result, "created")).iter().map(|i| instance_id(&i)).collect::<Result<_>>()?;
            let errors = js::from_js(&js::get(&result, "errors"))?;
            let errors = serde_json::from_value(errors)
                .map_err(|e| Error::internal(format!("createBatch reported errors lunora cannot read: {e}")))?;
            Ok(BatchReport { created, errors })
        })
    }

    fn exists<'a>(&'a self, workflow: &'a str, id: &'a str) -> BoxFuture<'a, Result<()>> {
        boxed(async move { self.instance(workflow, id).await.map(drop) })
    }

    fn status<'a>(&'a self, workflow: &'a str, id: &'a str) -> BoxFuture<'a, Result<RawStatus>> {
        boxed(async move {
            let status = self.on_instance(workflow, id, "status", &Array::new()).await?;
            parse_status(js::from_js(&status)?)
        })
    }

    fn pause<'a>(&'a self, workflow: &'a str, id: &'a str) -> BoxFuture<'a, Result<()>> {
        boxed(async move { self.on_instance(workflow, id, "pause", &Array::new()).await.map(drop) })
    }

    fn resume<'a>(&'a self, workflow: &'a str, id: &'a str) -> BoxFuture<'a, Result<()>> {
        boxed(async move { self.on_instance(workflow, id, "resume", &Array::new()).await.map(drop) })
    }

    fn terminate<'a>(&'a self, workflow: &'a str, id: &'a str, rollback: bool) -> BoxFuture<'a, Result<()>> {
        boxed(async move {
            let args = Array::new();
            if rollback {
                let options = Object::new();
                js::set(&options, "rollback", &JsValue::TRUE);
                args.push(&options);
            }
            match self.on_instance(workflow, id, "terminate", &args).await {
                Err(e) if e.code() == Some(handle_errors::CANNOT_TERMINATE) => {
                    // Cloudflare's message does not say the status; the embedded engine's does.
                    let status = self.status(workflow, id).await?.status;
                    Err(handle_errors::cannot_terminate(id, status))
                }
                other => other.map(drop),
            }
        })
    }

    fn restart<'a>(&'a self, workflow: &'a str, id: &'a str, from: Option<RestartFrom>) -> BoxFuture<'a, Result<()>> {
        boxed(async move {
            let args = Array::new();
            if let Some(from) = &from {
                let target = Object::new();
                js::set(&target, "name", &JsValue::from_str(&from.name));
                js::set(&target, "count", &JsValue::from_f64(f64::from(from.count)));
                js::set(&target, "type", &JsValue::from_str(from.kind.as_str()));
                let options = Object::new();
                js::set(&options, "from", &target);
                args.push(&options);
            }
            match (self.on_instance(workflow, id, "restart", &args).await, &from) {
                (Err(e), Some(from)) if e.code() == Some(handle_errors::CANNOT_RESTART) => {
                    Err(handle_errors::cannot_restart(id, from))
                }
                (other, _) => other.map(drop),
            }
        })
    }

    fn delete<'a>(&'a self, workflow: &'a str, ids: Vec<String>) -> BoxFuture<'a, Result<()>> {
        boxed(async move {
            handle_errors::check_delete_batch(ids.len())?;
            // workerd deletes the ids it knows and reports the others per item; the embedded
            // engine refuses the batch whole when one is unknown. Checking first keeps the
            // embedded contract (each `get` rejects an unknown id with lunora's wording).
            for id in &ids {
                self.instance(workflow, id).await?;
            }
            if let [id] = ids.as_slice() {
                return self.on_instance(workflow, id, "delete", &Array::new()).await.map(drop);
            }
            let binding = self.binding(workflow)?;
            let list: Array = ids.iter().map(|id| JsValue::from_str(id)).collect();
            let result = call(&binding, "deleteBatch", &Array::of1(&list)).await?;
            // `{deleted: [{id}], errors: [{id, code, message}]}`: an error here is an instance
            // deleted concurrently since the check, or workerd's internal failure.
            let errors = js::from_js(&js::get(&result, "errors"))?;
            let errors: Vec<DeleteError> = serde_json::from_value(errors)
                .map_err(|e| Error::internal(format!("deleteBatch reported errors lunora cannot read: {e}")))?;
            match errors.first() {
                None => Ok(()),
                Some(first) if first.code == DELETE_NOT_FOUND => Err(handle_errors::not_found(workflow, &first.id)),
                Some(first) => Err(Error::internal(format!(
                    "deleteBatch failed for {} of {} instances, first {:?}: {} ({})",
                    errors.len(),
                    ids.len(),
                    first.id,
                    first.message,
                    first.code
                ))),
            }
        })
    }

    fn subscribe<'a>(
        &'a self,
        workflow: &'a str,
        id: &'a str,
        options: SubscribeOptions,
    ) -> BoxFuture<'a, Result<Subscription>> {
        boxed(async move {
            let args = Array::of1(&super::subscription::options(&options));
            let target = self.on_instance(workflow, id, "subscribe", &args).await?;
            Ok(Subscription::from_json(super::subscription::JsEvents::new(target)))
        })
    }

    fn send_event<'a>(
        &'a self,
        workflow: &'a str,
        id: &'a str,
        event_type: &'a str,
        payload: Json,
    ) -> BoxFuture<'a, Result<()>> {
        boxed(async move {
            let event = Object::new();
            js::set(&event, "type", &JsValue::from_str(event_type));
            js::set(&event, "payload", &js::to_js(&payload)?);
            self.on_instance(workflow, id, "sendEvent", &Array::of1(&event)).await.map(drop)
        })
    }
}
