//! Cloudflare's limits and name rules (sizes of values, names, ids and event types, batch and
//! step limits), checked by the engine at run time and by the macros at compile time.

/// Outputs, params and event payloads: 1 MiB.
pub const MAX_VALUE_BYTES: usize = 1 << 20;
/// The largest chunk a stream step's stream may yield (workerd's): 16 MiB.
pub const MAX_STREAM_CHUNK_BYTES: usize = 16 << 20;
/// The chunks streamed step outputs are stored and replayed in (workerd's): 256 KiB.
pub const STREAM_STORED_CHUNK_BYTES: usize = 256 << 10;
/// What one instance may store, streamed step outputs included: 1 GiB.
pub const MAX_INSTANCE_STORAGE_BYTES: u64 = 1 << 30;
pub const MAX_STEP_NAME_CHARS: usize = 256;
pub const MAX_INSTANCE_ID_CHARS: usize = 100;
pub const MAX_EVENT_TYPE_CHARS: usize = 100;
pub const MAX_WORKFLOW_NAME_CHARS: usize = 64;
pub const MAX_BATCH: usize = 100;
pub const DEFAULT_STEP_LIMIT: u32 = 10_000;
pub const MAX_STEP_LIMIT: u32 = 25_000;
pub const MAX_RETRY_LIMIT: u32 = 10_000;
/// Step names starting with this are reserved for lunora's own steps.
pub const RESERVED_STEP_PREFIX: &str = "lunora:";

/// `^[a-zA-Z0-9_][a-zA-Z0-9-_]*$` (a `const fn`, so typed event declarations are checked at
/// compile time).
pub const fn is_identifier(s: &str) -> bool {
    let bytes = s.as_bytes();
    if bytes.is_empty() || bytes[0] == b'-' {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !(b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return false;
        }
        i += 1;
    }
    true
}

/// An event type Cloudflare accepts: an identifier of at most [`MAX_EVENT_TYPE_CHARS`]
/// characters (ASCII, so bytes and characters agree).
pub const fn is_event_type(s: &str) -> bool {
    is_identifier(s) && s.len() <= MAX_EVENT_TYPE_CHARS
}

/// Why `s` is not a valid identifier of at most `max` characters, if it is not.
pub fn identifier_problem(s: &str, max: usize) -> Option<String> {
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

/// Step names: at most 256 characters, no control characters U+0000–U+001F.
pub fn is_valid_step_name(name: &str) -> bool {
    name.chars().count() <= MAX_STEP_NAME_CHARS && !name.chars().any(|c| (c as u32) < 0x20)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        for ok in ["a", "order_1", "_x", "0-9"] {
            assert!(is_identifier(ok), "{ok}");
        }
        for bad in ["", "-x", "a.b", "a b", "é"] {
            assert!(!is_identifier(bad), "{bad}");
        }
        assert_eq!(identifier_problem(&"x".repeat(65), 64).unwrap(), "it is 65 characters long, the maximum is 64");
    }

    #[test]
    fn step_names() {
        assert!(is_valid_step_name("charge card ✓"));
        assert!(!is_valid_step_name("tab\there"));
        assert!(!is_valid_step_name(&"x".repeat(257)));
    }
}
