//! The registered workflows, their types erased so the engine can hold them in one map.

use std::marker::PhantomData;

use crate::context::{WorkflowContext, WorkflowEvent};
use crate::dispatch::Dispatcher;
use crate::env::Env;
use crate::erased::{BoxFuture, Json};
use crate::error::{Error, Result};
use crate::log::Logger;
use crate::step::{WorkflowStep, UNSERIALIZABLE};
use crate::workflow::{decode_params, Workflow};

/// A registered workflow with its types erased.
pub(crate) trait ErasedWorkflow: Send + Sync {
    fn export_name(&self) -> &'static str;
    #[cfg_attr(not(feature = "server"), allow(dead_code))] // the REST API's
    fn class_name(&self) -> String;
    fn step_limit(&self) -> Option<u32>;
    fn schedules(&self) -> &'static [&'static str];
    fn check_params(&self, params: &Json) -> std::result::Result<(), String>;
    fn start(
        &self,
        params: Json,
        step: WorkflowStep,
        event: WorkflowEvent,
        env: Env,
        log: Logger,
        dispatch: Dispatcher,
    ) -> Result<BoxFuture<'static, Result<Json>>>;
}

pub(super) struct Registered<W>(pub(super) PhantomData<fn() -> W>);

impl<W: Workflow> ErasedWorkflow for Registered<W> {
    fn export_name(&self) -> &'static str {
        W::EXPORT_NAME
    }

    fn class_name(&self) -> String {
        W::class_name()
    }

    fn schedules(&self) -> &'static [&'static str] {
        W::SCHEDULES
    }

    fn step_limit(&self) -> Option<u32> {
        W::STEP_LIMIT
    }

    fn check_params(&self, params: &Json) -> std::result::Result<(), String> {
        decode_params::<W::Params>(&crate::child::split_params(params).0).map(drop).map_err(|e| e.to_string())
    }

    fn start(
        &self,
        params: Json,
        step: WorkflowStep,
        event: WorkflowEvent,
        env: Env,
        log: Logger,
        dispatch: Dispatcher,
    ) -> Result<BoxFuture<'static, Result<Json>>> {
        let (params, parent) = crate::child::split_params(&params);
        let params: W::Params = decode_params(&params)
            .map_err(|e| Error::fatal(format!("instance params do not decode as the workflow's params type: {e}")))?;
        let ctx = WorkflowContext::new(step, params, event, env, log, dispatch);
        Ok(Box::pin(async move {
            let output = crate::child::run_body::<W>(ctx, parent).await?;
            serde_json::to_value(output)
                .map_err(|e| Error::named(UNSERIALIZABLE, format!("the workflow's output cannot be serialised: {e}")))
        }))
    }
}
