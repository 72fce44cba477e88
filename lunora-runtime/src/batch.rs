//! `createBatch` in Cloudflare's current forms: `{count, params}` (that many instances with one
//! params value and generated ids) and `{instances: [...]}`, answered per item with
//! `{created, errors: [{index, id, code, message}]}`. Whole-call refusals and per-item errors
//! are worded and numbered as workerd words them, on both engines.

use serde::{Deserialize, Serialize};

use crate::status::Retention;
use crate::workflow::CreateRequest;

/// The most instances one `createBatch` takes.
pub const MAX_BATCH: usize = 100;
/// workerd's code for an id given twice in one batch (the later ones are not created).
pub const DUPLICATE_IN_BATCH: u32 = 10415;
/// workerd's code for an id an instance already has.
pub const ALREADY_EXISTS: u32 = 10405;

/// One instance a batch did not create.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchItemError {
    /// Its position in the batch, from 0.
    pub index: usize,
    pub id: String,
    /// [`DUPLICATE_IN_BATCH`] or [`ALREADY_EXISTS`].
    pub code: u32,
    /// workerd's message key, e.g. `workflows.api.error.instance.already_exists`.
    pub message: String,
}

impl BatchItemError {
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn duplicate(index: usize, id: &str) -> Self {
        let message = "workflows.api.error.instance.duplicate_in_batch".to_owned();
        Self { index, id: id.to_owned(), code: DUPLICATE_IN_BATCH, message }
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn already_exists(index: usize, id: &str) -> Self {
        let message = "workflows.api.error.instance.already_exists".to_owned();
        Self { index, id: id.to_owned(), code: ALREADY_EXISTS, message }
    }
}

/// A batch as it crosses the backend boundary.
#[derive(Clone, Debug, PartialEq)]
pub enum BatchRequest {
    /// `{count, params, retention?}`: `count` instances with generated ids.
    Count { count: u64, params: Option<crate::erased::Json>, retention: Option<Retention> },
    /// `{instances: [...]}`.
    Instances(Vec<CreateRequest>),
}

/// What a backend created: ids in batch order, and the items it did not create.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchReport {
    pub created: Vec<String>,
    pub errors: Vec<BatchItemError>,
}

/// workerd's `(body) …` refusal of a whole batch.
#[cfg(not(target_arch = "wasm32"))]
fn body_error(message: &str) -> crate::error::Error {
    use crate::error::Error;
    Error::workflow("body", message)
}

impl BatchRequest {
    /// The instances to create, after the checks workerd makes before creating any: a count
    /// from 1 to 100, 1 to 100 instances, ids that are valid and not reserved.
    #[cfg(not(target_arch = "wasm32"))] // the embedded engine's; workerd checks its own
    pub(crate) fn expand(self) -> Result<Vec<CreateRequest>, crate::error::Error> {
        use crate::error::Error;
        // Ids the REST API routes elsewhere, refused in a batch as workerd refuses them.
        const RESERVED_IDS: [&str; 3] = ["batch", "terminate", "terminateAll"];
        let requests = match self {
            BatchRequest::Count { count, params, retention } => {
                if count == 0 {
                    return Err(body_error("count must be a positive integer"));
                }
                if count > MAX_BATCH as u64 {
                    return Err(body_error("batchCreate only supports 100 instances at a time"));
                }
                let one = CreateRequest { id: None, params, retention };
                vec![one; count as usize]
            }
            BatchRequest::Instances(requests) => {
                if requests.is_empty() || requests.len() > MAX_BATCH {
                    return Err(body_error("Batch size exceeds maximum allowed"));
                }
                requests
            }
        };
        for id in requests.iter().filter_map(|r| r.id.as_deref()) {
            let reserved = RESERVED_IDS.contains(&id)
                || id.strip_prefix("cf_").is_some_and(|hex| {
                    hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                });
            if reserved || crate::local::validate::instance_id(id).is_err() {
                return Err(Error::workflow("instance.invalid_id", "Instance ID is invalid"));
            }
        }
        Ok(requests)
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    fn ids(ids: &[&str]) -> BatchRequest {
        BatchRequest::Instances(
            ids.iter().map(|id| CreateRequest { id: Some((*id).to_owned()), params: None, retention: None }).collect(),
        )
    }

    #[test]
    fn whole_batch_refusals_are_workerds() {
        let refused = |r: BatchRequest| r.expand().unwrap_err().to_string();
        let count = |count| BatchRequest::Count { count, params: None, retention: None };
        assert_eq!(refused(count(0)), "WorkflowError: (body) count must be a positive integer");
        assert_eq!(refused(count(101)), "WorkflowError: (body) batchCreate only supports 100 instances at a time");
        assert_eq!(refused(ids(&[])), "WorkflowError: (body) Batch size exceeds maximum allowed");
        assert_eq!(refused(ids(&["a"; 101])), "WorkflowError: (body) Batch size exceeds maximum allowed");
        let hex = format!("cf_{}", "0123456789abcdef".repeat(4));
        for bad in ["batch", "terminate", "terminateAll", hex.as_str(), "no spaces", "-lead", &"x".repeat(101)] {
            assert_eq!(
                refused(ids(&["ok", bad])),
                "WorkflowError: (instance.invalid_id) Instance ID is invalid",
                "{bad}"
            );
        }
        assert_eq!(count(100).expand().unwrap().len(), 100);
        let upper = format!("cf_{}", "0123456789ABCDEF".repeat(4));
        assert_eq!(
            ids(&[&upper, "Batch"]).expand().unwrap().len(),
            2,
            "only lower-case hex and exact names are reserved"
        );
    }
}
