//! Cloudflare's rules for ids, names, event types and sizes (stated in `lunora_shared::rules`).

use crate::error::Error;
use crate::workflow::{BatchRequest, CreateRequest};

pub use lunora_shared::rules::{
    identifier_problem, DEFAULT_STEP_LIMIT, MAX_BATCH, MAX_EVENT_TYPE_CHARS, MAX_INSTANCE_ID_CHARS, MAX_STEP_LIMIT,
    MAX_VALUE_BYTES, MAX_WORKFLOW_NAME_CHARS,
};

pub fn instance_id(id: &str) -> Result<(), Error> {
    match identifier_problem(id, MAX_INSTANCE_ID_CHARS) {
        None => Ok(()),
        Some(why) => Err(crate::handle_errors::invalid_id(id, &why)),
    }
}

pub fn workflow_name(name: &str) -> Result<(), Error> {
    match identifier_problem(name, MAX_WORKFLOW_NAME_CHARS) {
        None => Ok(()),
        Some(why) => Err(Error::workflow("workflow.invalid_name", format!("invalid workflow name {name:?}: {why}"))),
    }
}

pub fn event_type(event_type: &str) -> Result<(), Error> {
    match identifier_problem(event_type, MAX_EVENT_TYPE_CHARS) {
        None => Ok(()),
        Some(why) => {
            Err(Error::workflow("instance.invalid_event_type", format!("invalid event type {event_type:?}: {why}")))
        }
    }
}

/// Step names: ≤ 256 characters, no control characters U+0000–U+001F.
pub fn step_name(name: &str) -> Result<(), Error> {
    if !lunora_shared::rules::is_valid_step_name(name) {
        return Err(Error::fatal(format!(
            "Step name \"{name}\" exceeds max length (256 chars) or invalid characters found"
        )));
    }
    Ok(())
}

/// Serialised size check for params, outputs and events.
pub fn size(what: &str, bytes: usize) -> Result<(), String> {
    if bytes > MAX_VALUE_BYTES {
        return Err(format!("{what} is {bytes} bytes, the limit is 1 MiB ({MAX_VALUE_BYTES} bytes)"));
    }
    Ok(())
}

/// workerd's `(body) …` refusal of a whole batch.
fn body_error(message: &str) -> Error {
    Error::workflow("body", message)
}

/// The instances of a `createBatch` to create, after the checks workerd makes before creating
/// any: a count from 1 to 100, 1 to 100 instances, ids that are valid and not reserved.
pub fn batch(request: BatchRequest) -> Result<Vec<CreateRequest>, Error> {
    // Ids the REST API routes elsewhere, refused in a batch as workerd refuses them.
    const RESERVED_IDS: [&str; 3] = ["batch", "terminate", "terminateAll"];
    let requests = match request {
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
        if reserved || instance_id(id).is_err() {
            return Err(Error::workflow("instance.invalid_id", "Instance ID is invalid"));
        }
    }
    Ok(requests)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(ids: &[&str]) -> BatchRequest {
        BatchRequest::Instances(
            ids.iter().map(|id| CreateRequest { id: Some((*id).to_owned()), params: None, retention: None }).collect(),
        )
    }

    #[test]
    fn whole_batch_refusals_are_workerds() {
        let refused = |r: BatchRequest| batch(r).unwrap_err().to_string();
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
        assert_eq!(batch(count(100)).unwrap().len(), 100);
        let upper = format!("cf_{}", "0123456789ABCDEF".repeat(4));
        assert_eq!(
            batch(ids(&[&upper, "Batch"])).unwrap().len(),
            2,
            "only lower-case hex and exact names are reserved"
        );
    }

    #[test]
    fn instance_ids_follow_cloudflare_rules() {
        for ok in ["a", "order_1", "_x", "0-9", &"x".repeat(100)] {
            assert!(instance_id(ok).is_ok(), "{ok}");
        }
        let err = instance_id("-leading").unwrap_err();
        assert_eq!(err.code(), Some("instance.invalid_id"));
        assert!(instance_id("").is_err());
        assert!(instance_id("has space").is_err());
        assert!(instance_id("é").is_err());
        let err = instance_id(&"x".repeat(101)).unwrap_err();
        assert!(err.message().contains("101 characters long, the maximum is 100"), "{err}");
    }

    #[test]
    fn step_names_allow_unicode_but_not_control_chars() {
        assert!(step_name("charge card ✓").is_ok());
        assert!(step_name(&"é".repeat(256)).is_ok());
        let err = step_name("tab\there").unwrap_err();
        assert_eq!(
            err.to_string(),
            "WorkflowFatalError: Step name \"tab\there\" exceeds max length (256 chars) or invalid characters found"
        );
        assert!(step_name(&"x".repeat(257)).is_err());
    }
}
