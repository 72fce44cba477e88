//! The engine as a [`WorkflowsBackend`], behind the typed handles.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::state::Inner;
use crate::batch::{BatchItemError, BatchReport};
use crate::erased::{BoxFuture, Json};
use crate::error::Result;
use crate::listing::{InstanceList, ListQuery};
use crate::local::journal::{storage, NewInstance};
use crate::local::mutex::lock;
use crate::local::validate;
use crate::status::RestartFrom;
use crate::subscription::{SubscribeOptions, Subscription};
use crate::workflow::{BatchRequest, CreateRequest, RawStatus, WaitFor, WorkflowsBackend};

/// The engine behind the typed handles.
pub(super) struct EngineBackend(pub(super) Arc<Inner>);

impl WorkflowsBackend for EngineBackend {
    fn create<'a>(&'a self, workflow: &'a str, request: CreateRequest) -> BoxFuture<'a, Result<String>> {
        Box::pin(async move {
            let (id, params, retention) = self.0.create_one(workflow, &request)?;
            let new = NewInstance {
                workflow,
                id: &id,
                params: &params,
                retention: retention.as_deref(),
                created_at: self.0.clock.now(),
            };
            let inserted = lock(&self.0.journal).insert_instance(&new).map_err(storage("create"))?;
            if !inserted {
                return Err(crate::handle_errors::already_exists(workflow, &id));
            }
            self.0.after_create(workflow, &id)?;
            Ok(id)
        })
    }

    fn create_batch<'a>(
        &'a self,
        workflow: &'a str,
        requests: Vec<CreateRequest>,
    ) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(async move {
            if requests.is_empty() || requests.len() > validate::MAX_BATCH {
                return Err(crate::handle_errors::invalid_batch(requests.len()));
            }
            let prepared = requests.iter().map(|r| self.0.create_one(workflow, r)).collect::<Result<Vec<_>>>()?;
            let now = self.0.clock.now();
            let news: Vec<NewInstance<'_>> = prepared
                .iter()
                .map(|(id, params, retention)| NewInstance {
                    workflow,
                    id,
                    params,
                    retention: retention.as_deref(),
                    created_at: now,
                })
                .collect();
            let inserted = lock(&self.0.journal).insert_instances(&news).map_err(storage("createBatch"))?;
            for ((id, _, _), new) in prepared.iter().zip(inserted) {
                if new {
                    self.0.after_create(workflow, id)?;
                }
            }
            Ok(prepared.into_iter().map(|(id, _, _)| id).collect())
        })
    }

    fn create_batch_report<'a>(&'a self, workflow: &'a str, batch: BatchRequest) -> BoxFuture<'a, Result<BatchReport>> {
        Box::pin(async move {
            let requests = validate::batch(batch)?;
            let prepared = requests.iter().map(|r| self.0.create_one(workflow, r)).collect::<Result<Vec<_>>>()?;
            let mut report = BatchReport::default();
            // The first occurrence of an id is the one created, as in workerd.
            let mut seen = HashSet::new();
            let mut kept = Vec::new();
            for (index, (request, item)) in requests.iter().zip(&prepared).enumerate() {
                match &request.id {
                    Some(id) if !seen.insert(id.as_str()) => report.errors.push(BatchItemError::duplicate(index, id)),
                    _ => kept.push((index, item)),
                }
            }
            let now = self.0.clock.now();
            let news: Vec<NewInstance<'_>> = kept
                .iter()
                .map(|(_, (id, params, retention))| NewInstance {
                    workflow,
                    id,
                    params,
                    retention: retention.as_deref(),
                    created_at: now,
                })
                .collect();
            let inserted = lock(&self.0.journal).insert_instances(&news).map_err(storage("createBatch"))?;
            for ((index, (id, _, _)), new) in kept.iter().zip(inserted) {
                if new {
                    self.0.after_create(workflow, id)?;
                    report.created.push(id.clone());
                } else {
                    report.errors.push(BatchItemError::already_exists(*index, id));
                }
            }
            report.errors.sort_by_key(|e| e.index);
            Ok(report)
        })
    }

    fn exists<'a>(&'a self, workflow: &'a str, id: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.0.registered(workflow)?;
            self.0.require_instance(workflow, id).map(drop)
        })
    }

    fn status<'a>(&'a self, workflow: &'a str, id: &'a str) -> BoxFuture<'a, Result<RawStatus>> {
        Box::pin(async move { self.0.status(workflow, id) })
    }

    fn pause<'a>(&'a self, workflow: &'a str, id: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.0.pause(workflow, id).await })
    }

    fn resume<'a>(&'a self, workflow: &'a str, id: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.0.resume(workflow, id).await })
    }

    fn terminate<'a>(&'a self, workflow: &'a str, id: &'a str, rollback: bool) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.0.terminate(workflow, id, rollback).await })
    }

    fn restart<'a>(&'a self, workflow: &'a str, id: &'a str, from: Option<RestartFrom>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.0.restart(workflow, id, from).await })
    }

    fn list<'a>(&'a self, workflow: &'a str, query: &'a ListQuery) -> BoxFuture<'a, Result<InstanceList>> {
        Box::pin(async move { self.0.list(workflow, query) })
    }

    fn wait<'a>(
        &'a self,
        workflow: &'a str,
        id: &'a str,
        until: WaitFor,
        timeout: Option<Duration>,
    ) -> BoxFuture<'a, Result<RawStatus>> {
        Box::pin(async move { self.0.wait(workflow, id, until, timeout).await })
    }

    fn subscribe<'a>(
        &'a self,
        workflow: &'a str,
        id: &'a str,
        options: SubscribeOptions,
    ) -> BoxFuture<'a, Result<Subscription>> {
        Box::pin(async move { self.0.subscribe(workflow, id, options) })
    }

    fn delete<'a>(&'a self, workflow: &'a str, ids: Vec<String>) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            self.0.delete(workflow, &ids).await
        })
    }

    fn send_event<'a>(
        &'a self,
        workflow: &'a str,
        id: &'a str,
        event_type: &'a str,
        payload: Json,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { self.0.send_event(workflow, id, event_type, payload).await })
    }
}
