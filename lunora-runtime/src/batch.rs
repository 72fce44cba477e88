//! What `createBatch` answers in Cloudflare's current forms (`{count, params}`, `{instances}`):
//! `{created, errors: [{index, id, code, message}]}`, per-item errors numbered and worded as
//! workerd does, on both engines. The request itself is `workflow::BatchRequest`; the embedded
//! engine checks it as workerd does in `local::validate::batch`.

use serde::{Deserialize, Serialize};

/// The most instances one `createBatch` takes.
pub use lunora_shared::rules::MAX_BATCH;
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

/// What a backend created: ids in batch order, and the items it did not create.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchReport {
    pub created: Vec<String>,
    pub errors: Vec<BatchItemError>,
}
