//! The `Workflow` trait (what `#[workflow]` implements) and the typed workflows handle
//! (create / create_batch / get; status / pause / resume / terminate / restart / send_event)
//! over an object-safe backend that both engines implement.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::batch::{BatchItemError, BatchReport};
use crate::context::WorkflowContext;
use crate::erased::{BoxFuture, Json};
use crate::error::{Error, Result};
use crate::listing::{InstanceList, ListQuery};
use crate::maybe_send::{MaybeSend, MaybeSync};
use crate::status::{CreateOptions, InstanceStatus, InstanceStatusKind, RestartFrom, Retention};
use crate::subscription::{SubscribeOptions, Subscription};

/// A durable workflow: typed params and output plus its deployed identity.
pub trait Workflow: Send + Sync + 'static {
    type Params: Serialize + DeserializeOwned + Send + Sync + 'static;
    type Output: Serialize + DeserializeOwned + Send + 'static;

    /// The deployed workflow name (`[[workflows]].name`), ≤ 64 chars of `[a-zA-Z0-9_-]`.
    const NAME: &'static str;
    /// The export name used in log prefixes, e.g. `orderPipeline`.
    const EXPORT_NAME: &'static str;
    /// `limits.steps`; `None` keeps the engine's default (10,000).
    const STEP_LIMIT: Option<u32> = None;
    /// Cron triggers (`schedules` in wrangler.toml).
    const SCHEDULES: &'static [&'static str] = &[];

    /// The JS entrypoint class name, also the descriptor's: `#[workflow(class = "…")]`, else
    /// derived from the export name, e.g. `OrderPipelineWorkflow` (see `lunora_shared::naming`).
    fn class_name() -> String {
        lunora_shared::naming::workflow_class_name(Self::EXPORT_NAME)
    }

    /// The binding name: `#[workflow(binding = "…")]`, else derived, e.g. `WORKFLOW_ORDER_PIPELINE`.
    fn binding() -> String {
        lunora_shared::naming::workflow_binding_name(Self::EXPORT_NAME)
    }

    /// The workflow body. `Send` natively; on wasm32 any future (see [`MaybeSend`]).
    fn run(ctx: WorkflowContext<Self::Params>) -> impl Future<Output = Result<Self::Output>> + MaybeSend; // Send natively (wasm32: any): hold no Rc/RefCell/JsValue across .await
}

/// `create` as it crosses the backend boundary.
#[derive(Clone, Debug, PartialEq)]
pub struct CreateRequest {
    pub id: Option<String>,
    pub params: Option<Json>,
    pub retention: Option<Retention>,
}

/// A batch as it crosses the backend boundary.
#[derive(Clone, Debug, PartialEq)]
pub enum BatchRequest {
    /// `{count, params, retention?}`: `count` instances with generated ids.
    Count { count: u64, params: Option<Json>, retention: Option<Retention> },
    /// `{instances: [...]}`.
    Instances(Vec<CreateRequest>),
}

/// What [`InstanceHandle::wait`] waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitFor {
    /// `complete`, `errored` or `terminated`.
    End,
    /// This status (or an end, after which it can no longer come).
    Status(InstanceStatusKind),
}

/// What a backend answers for an operation it does not offer.
fn unsupported(what: &str) -> Error {
    Error::workflow(
        "workflow.unsupported",
        format!(
            "{what} is offered by the embedded engine (and, for listing and deleting, the REST API), not by this backend"
        ),
    )
}

/// `status()` as it crosses the backend boundary.
pub type RawStatus = InstanceStatus<Json>;

/// The instance operations a backend provides, keyed by deployed workflow name.
pub trait WorkflowsBackend: MaybeSend + MaybeSync {
    fn create<'a>(&'a self, workflow: &'a str, request: CreateRequest) -> BoxFuture<'a, Result<String>>;
    fn create_batch<'a>(
        &'a self,
        workflow: &'a str,
        requests: Vec<CreateRequest>,
    ) -> BoxFuture<'a, Result<Vec<String>>>;
    /// `createBatch({count, params})` / `createBatch({instances})`, answered per item.
    fn create_batch_report<'a>(&'a self, workflow: &'a str, batch: BatchRequest) -> BoxFuture<'a, Result<BatchReport>>;
    /// Succeeds when the instance exists (`instance.not_found` otherwise).
    fn exists<'a>(&'a self, workflow: &'a str, id: &'a str) -> BoxFuture<'a, Result<()>>;
    fn status<'a>(&'a self, workflow: &'a str, id: &'a str) -> BoxFuture<'a, Result<RawStatus>>;
    fn pause<'a>(&'a self, workflow: &'a str, id: &'a str) -> BoxFuture<'a, Result<()>>;
    fn resume<'a>(&'a self, workflow: &'a str, id: &'a str) -> BoxFuture<'a, Result<()>>;
    fn terminate<'a>(&'a self, workflow: &'a str, id: &'a str, rollback: bool) -> BoxFuture<'a, Result<()>>;
    fn restart<'a>(&'a self, workflow: &'a str, id: &'a str, from: Option<RestartFrom>) -> BoxFuture<'a, Result<()>>;
    fn send_event<'a>(
        &'a self,
        workflow: &'a str,
        id: &'a str,
        event_type: &'a str,
        payload: Json,
    ) -> BoxFuture<'a, Result<()>>;
    /// One page of the workflow's instances.
    fn list<'a>(&'a self, workflow: &'a str, query: &'a ListQuery) -> BoxFuture<'a, Result<InstanceList>> {
        let _ = (workflow, query);
        Box::pin(async { Err(unsupported("listing instances")) })
    }
    /// Waits until the instance reaches `until`, failing with `instance.wait_timeout` after `timeout`.
    fn wait<'a>(
        &'a self,
        workflow: &'a str,
        id: &'a str,
        until: WaitFor,
        timeout: Option<Duration>,
    ) -> BoxFuture<'a, Result<RawStatus>> {
        let _ = (workflow, id, until, timeout);
        Box::pin(async { Err(unsupported("waiting for an instance")) })
    }
    /// The instance's events: its history, then the new ones until its terminal event.
    /// `options` were validated by the caller.
    fn subscribe<'a>(
        &'a self,
        workflow: &'a str,
        id: &'a str,
        options: SubscribeOptions,
    ) -> BoxFuture<'a, Result<Subscription>> {
        let _ = (workflow, id, options);
        Box::pin(async { Err(unsupported("subscribing to an instance's events")) })
    }
    /// Deletes instances with their state (1 to 100; unknown ids fail before any is deleted).
    fn delete<'a>(&'a self, workflow: &'a str, ids: Vec<String>) -> BoxFuture<'a, Result<()>> {
        let _ = (workflow, ids);
        Box::pin(async { Err(unsupported("deleting instances")) })
    }
}

/// Absent params are `{}` on Cloudflare; a unit params type reads them as `null`.
pub(crate) fn decode_params<P: serde::de::DeserializeOwned>(
    params: &Json,
) -> std::result::Result<P, serde_json::Error> {
    match serde_json::from_value(params.clone()) {
        Err(e) if params.as_object().is_some_and(|o| o.is_empty()) => serde_json::from_value(Json::Null).map_err(|_| e),
        other => other,
    }
}

/// A handle on one workflow, typed by its descriptor `W`.
pub struct WorkflowHandle<W> {
    backend: Arc<dyn WorkflowsBackend>,
    name: String,
    _workflow: PhantomData<fn() -> W>,
}

impl<W> Clone for WorkflowHandle<W> {
    fn clone(&self) -> Self {
        Self { backend: self.backend.clone(), name: self.name.clone(), _workflow: PhantomData }
    }
}

fn encode<P: Serialize>(params: Option<P>) -> Result<Option<Json>> {
    params
        .map(|p| serde_json::to_value(p))
        .transpose()
        .map_err(|e| Error::workflow("instance.invalid_params", format!("params cannot be serialised: {e}")))
}

impl<W: Workflow> WorkflowHandle<W> {
    pub fn new(backend: Arc<dyn WorkflowsBackend>) -> Self {
        Self::named(backend, W::NAME)
    }
}

impl<W> WorkflowHandle<W> {
    /// A handle on the workflow deployed under `name`.
    pub fn named(backend: Arc<dyn WorkflowsBackend>, name: impl Into<String>) -> Self {
        Self { backend, name: name.into(), _workflow: PhantomData }
    }

    /// The deployed workflow name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// One page of the workflow's instances, filtered and ordered as `query` says (embedded
    /// engine; on Cloudflare, list through the REST API).
    pub async fn list(&self, query: &ListQuery) -> Result<InstanceList> {
        self.backend.list(&self.name, query).await
    }

    /// Deletes these instances with their state (`deleteBatch`: 1 to 100 ids).
    pub async fn delete_batch(&self, ids: &[&str]) -> Result<()> {
        self.backend.delete(&self.name, ids.iter().map(|id| (*id).to_owned()).collect()).await
    }

    /// An instance handle by id; fails with `instance.not_found` when there is none.
    pub async fn get(&self, id: &str) -> Result<InstanceHandle<W>> {
        self.backend.exists(&self.name, id).await?;
        Ok(self.instance(id.to_owned()))
    }

    fn instance(&self, id: String) -> InstanceHandle<W> {
        InstanceHandle { workflow: self.clone(), id }
    }
}

impl<W: Workflow> WorkflowHandle<W> {
    /// Starts an instance.
    pub async fn create(&self, options: CreateOptions<W::Params>) -> Result<InstanceHandle<W>> {
        let request = CreateRequest { id: options.id, params: encode(options.params)?, retention: options.retention };
        let id = self.backend.create(&self.name, request).await?;
        Ok(self.instance(id))
    }

    /// Starts 1–100 instances at once; ids that already exist are skipped (idempotent). The
    /// array form Cloudflare keeps for compatibility: [`Self::create_batch_instances`] reports
    /// what it skipped.
    pub async fn create_batch(&self, batch: Vec<CreateOptions<W::Params>>) -> Result<Vec<InstanceHandle<W>>> {
        let requests = batch
            .into_iter()
            .map(|o| Ok(CreateRequest { id: o.id, params: encode(o.params)?, retention: o.retention }))
            .collect::<Result<Vec<_>>>()?;
        let ids = self.backend.create_batch(&self.name, requests).await?;
        Ok(ids.into_iter().map(|id| self.instance(id)).collect())
    }
}

/// What `create_batch_count` and `create_batch_instances` return: the instances created, in
/// batch order, and one error per instance that was not (its id given twice, or taken).
pub struct BatchCreated<W> {
    pub created: Vec<InstanceHandle<W>>,
    pub errors: Vec<BatchItemError>,
}

impl<W> std::fmt::Debug for BatchCreated<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchCreated").field("created", &self.created).field("errors", &self.errors).finish()
    }
}

impl<W: Workflow> WorkflowHandle<W> {
    /// `createBatch({count, params})`: `count` (1–100) instances with generated ids and the
    /// same params.
    pub async fn create_batch_count(&self, count: u64, params: W::Params) -> Result<BatchCreated<W>> {
        let batch = BatchRequest::Count { count, params: encode(Some(params))?, retention: None };
        self.batch(batch).await
    }

    /// `createBatch({instances})`: 1–100 instances; an id given twice or already taken is
    /// reported in `errors` (with its index) and the others are still created. Invalid or
    /// reserved ids refuse the whole batch.
    pub async fn create_batch_instances(&self, instances: Vec<CreateOptions<W::Params>>) -> Result<BatchCreated<W>> {
        let requests = instances
            .into_iter()
            .map(|o| Ok(CreateRequest { id: o.id, params: encode(o.params)?, retention: o.retention }))
            .collect::<Result<Vec<_>>>()?;
        self.batch(BatchRequest::Instances(requests)).await
    }
}

impl WorkflowHandle<Untyped> {
    /// [`WorkflowHandle::create_batch_count`] with JSON params.
    pub async fn create_batch_count(&self, count: u64, params: Json) -> Result<BatchCreated<Untyped>> {
        self.batch(BatchRequest::Count { count, params: Some(params), retention: None }).await
    }

    /// [`WorkflowHandle::create_batch_instances`] with JSON params.
    pub async fn create_batch_instances(&self, instances: Vec<CreateOptions<Json>>) -> Result<BatchCreated<Untyped>> {
        let requests = instances
            .into_iter()
            .map(|o| CreateRequest { id: o.id, params: o.params, retention: o.retention })
            .collect();
        self.batch(BatchRequest::Instances(requests)).await
    }

    /// [`WorkflowHandle::create_batch`] (the array form) with JSON params.
    pub async fn create_batch(&self, batch: Vec<CreateOptions<Json>>) -> Result<Vec<InstanceHandle<Untyped>>> {
        let requests =
            batch.into_iter().map(|o| CreateRequest { id: o.id, params: o.params, retention: o.retention }).collect();
        let ids = self.backend.create_batch(&self.name, requests).await?;
        Ok(ids.into_iter().map(|id| self.instance(id)).collect())
    }
}

impl<W> WorkflowHandle<W> {
    async fn batch(&self, batch: BatchRequest) -> Result<BatchCreated<W>> {
        let report = self.backend.create_batch_report(&self.name, batch).await?;
        Ok(BatchCreated {
            created: report.created.into_iter().map(|id| self.instance(id)).collect(),
            errors: report.errors,
        })
    }
}

/// A handle on one instance.
pub struct InstanceHandle<W> {
    workflow: WorkflowHandle<W>,
    id: String,
}

impl<W> Clone for InstanceHandle<W> {
    fn clone(&self) -> Self {
        Self { workflow: self.workflow.clone(), id: self.id.clone() }
    }
}

impl<W> std::fmt::Debug for InstanceHandle<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceHandle").field("workflow", &self.workflow.name).field("id", &self.id).finish()
    }
}

impl<W> InstanceHandle<W> {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The deployed name of the instance's workflow.
    pub fn workflow_name(&self) -> &str {
        &self.workflow.name
    }

    fn parts(&self) -> (&dyn WorkflowsBackend, &str, &str) {
        (&*self.workflow.backend, &self.workflow.name, &self.id)
    }

    /// `instance.subscribe({filter, cursor})`: the instance's events as a
    /// [`Stream`](futures_core::Stream), its history first, then new events as they happen,
    /// ending after its terminal event (also when `filter` leaves that event out). An unknown
    /// event type in `filter` fails with "Invalid Workflow subscription options"; an unknown
    /// instance with `instance.not_found`. Dropping the subscription ends it.
    pub async fn subscribe(&self, options: SubscribeOptions) -> Result<Subscription> {
        options.validate()?;
        let (b, w, id) = self.parts();
        b.subscribe(w, id, options).await
    }

    /// The status with the output left as JSON.
    pub async fn status_json(&self) -> Result<RawStatus> {
        let (b, w, id) = self.parts();
        b.status(w, id).await
    }

    /// running/waiting → waitingForPause → paused; terminal instances cannot be paused.
    pub async fn pause(&self) -> Result<()> {
        let (b, w, id) = self.parts();
        b.pause(w, id).await
    }

    /// paused → queued (timers shift by the pause length); other states: no effect.
    pub async fn resume(&self) -> Result<()> {
        let (b, w, id) = self.parts();
        b.resume(w, id).await
    }

    /// Terminates without rollback; a terminal instance gives `instance.cannot_terminate`.
    pub async fn terminate(&self) -> Result<()> {
        let (b, w, id) = self.parts();
        b.terminate(w, id, false).await
    }

    /// Terminates after running the rollback handlers in reverse step-start order.
    pub async fn terminate_with_rollback(&self) -> Result<()> {
        let (b, w, id) = self.parts();
        b.terminate(w, id, true).await
    }

    /// Erases the instance's state and runs it again from the top.
    pub async fn restart(&self) -> Result<()> {
        let (b, w, id) = self.parts();
        b.restart(w, id, None).await
    }

    /// Re-runs from a step, keeping every step started before it.
    pub async fn restart_from(&self, from: RestartFrom) -> Result<()> {
        let (b, w, id) = self.parts();
        b.restart(w, id, Some(from)).await
    }

    /// [`Self::send_event`] for a typed event: the payload must be the type the event declares.
    pub async fn send<P: Serialize>(&self, event: &crate::event_type::EventType<P>, payload: P) -> Result<()> {
        self.send_event(event.name(), payload).await
    }

    /// Waits until the instance ends (`complete`, `errored` or `terminated`) and returns its
    /// status; woken by the engine, not polled. After `timeout` (real time), fails with
    /// `instance.wait_timeout`.
    pub async fn wait(&self, timeout: Option<Duration>) -> Result<RawStatus> {
        let (b, w, id) = self.parts();
        b.wait(w, id, WaitFor::End, timeout).await
    }

    /// Waits until the instance is in `status` (or has ended, when it no longer can be).
    pub async fn wait_for_status(&self, status: InstanceStatusKind, timeout: Option<Duration>) -> Result<RawStatus> {
        let (b, w, id) = self.parts();
        b.wait(w, id, WaitFor::Status(status), timeout).await
    }

    /// Deletes the instance and its state (a running one is stopped first); its id can then be
    /// created again.
    pub async fn delete(&self) -> Result<()> {
        let (b, w, id) = self.parts();
        b.delete(w, vec![id.to_owned()]).await
    }

    /// Sends an event; it satisfies the next `wait_for_event` of its type (FIFO per type).
    pub async fn send_event<T: Serialize>(&self, event_type: &str, payload: T) -> Result<()> {
        let payload = serde_json::to_value(payload).map_err(|e| {
            Error::workflow("instance.invalid_event", format!("event payload cannot be serialised: {e}"))
        })?;
        let (b, w, id) = self.parts();
        b.send_event(w, id, event_type, payload).await
    }
}

impl<W: Workflow> InstanceHandle<W> {
    /// `{status, error?, output?, rollback}` with the output decoded as `W::Output`.
    pub async fn status(&self) -> Result<InstanceStatus<W::Output>> {
        let raw = self.status_json().await?;
        let output = raw.output.map(serde_json::from_value).transpose().map_err(|e| {
            Error::internal(format!("instance output does not decode as the workflow's output type: {e}"))
        })?;
        Ok(InstanceStatus { status: raw.status, error: raw.error, output, rollback: raw.rollback })
    }
}

/// A workflow's declared identity and settings, as the generated registry lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkflowInfo {
    pub export_name: &'static str,
    pub name: &'static str,
    pub binding: &'static str,
    pub class_name: &'static str,
    pub schedules: &'static [&'static str],
    pub step_limit: Option<u32>,
}

/// The type parameter of handles obtained by name: params and output stay JSON.
#[derive(Clone, Copy, Debug)]
pub struct Untyped;

/// The error of a lookup by an export name nobody declared.
pub fn unknown_workflow(export_name: &str, known: &[WorkflowInfo]) -> Error {
    let names: Vec<&str> = known.iter().map(|w| w.export_name).collect();
    Error::workflow(
        "workflow.not_found",
        format!("no workflow is exported as {export_name:?}; known workflows: {}", names.join(", ")),
    )
}

impl WorkflowHandle<Untyped> {
    /// Starts an instance with JSON params.
    pub async fn create(&self, options: CreateOptions<Json>) -> Result<InstanceHandle<Untyped>> {
        let request = CreateRequest { id: options.id, params: options.params, retention: options.retention };
        let id = self.backend.create(&self.name, request).await?;
        Ok(self.instance(id))
    }
}
