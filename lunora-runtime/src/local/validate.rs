//! Cloudflare's rules for ids, names, event types and sizes (stated in `lunora_shared::rules`).

use crate::error::Error;

pub use lunora_shared::rules::{
    identifier_problem, DEFAULT_STEP_LIMIT, MAX_BATCH, MAX_EVENT_TYPE_CHARS, MAX_INSTANCE_ID_CHARS, MAX_STEP_LIMIT,
    MAX_VALUE_BYTES, MAX_WORKFLOW_NAME_CHARS,
};

pub fn instance_id(id: &str) -> Result<(), Error> {
    match identifier_problem(id, MAX_INSTANCE_ID_CHARS) {
        None => Ok(()),
        Some(why) => Err(Error::workflow("instance.invalid_id", format!("invalid instance id {id:?}: {why}"))),
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

#[cfg(test)]
mod tests {
    use super::*;

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
