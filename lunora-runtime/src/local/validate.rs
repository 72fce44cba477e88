//! Cloudflare's rules for ids, names, event types and sizes (spec §2, §4, §8, §10).

use crate::error::Error;

/// Outputs, params and event payloads: 1 MiB.
pub const MAX_VALUE_BYTES: usize = 1 << 20;
pub const MAX_STEP_NAME_CHARS: usize = 256;
pub const MAX_INSTANCE_ID_CHARS: usize = 100;
pub const MAX_EVENT_TYPE_CHARS: usize = 100;
pub const MAX_WORKFLOW_NAME_CHARS: usize = 64;
pub const MAX_BATCH: usize = 100;
pub const DEFAULT_STEP_LIMIT: u32 = 10_000;
pub const MAX_STEP_LIMIT: u32 = 25_000;

/// `^[a-zA-Z0-9_][a-zA-Z0-9-_]*$`
fn is_identifier(s: &str) -> bool {
    let mut bytes = s.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphanumeric() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn identifier_problem(s: &str, max: usize) -> Option<String> {
    let len = s.chars().count();
    if len == 0 {
        return Some("it is empty".into());
    }
    if len > max {
        return Some(format!("it is {len} characters long, the maximum is {max}"));
    }
    if !is_identifier(s) {
        return Some(
            "it must match ^[a-zA-Z0-9_][a-zA-Z0-9-_]*$ (letters, digits, '_' and '-', not starting with '-')".into(),
        );
    }
    None
}

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
    if name.chars().count() > MAX_STEP_NAME_CHARS || name.chars().any(|c| (c as u32) < 0x20) {
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
