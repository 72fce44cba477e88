//! The `WorkflowError`s of instance operations (create, get, terminate, restart…), worded once:
//! the embedded engine raises them, and the Cloudflare backend rebuilds them from what workerd
//! reports (a bare `instance.not_found` across RPC, Cloudflare's own wording elsewhere), so the
//! same failure has the same code, name and message on both engines.

use crate::error::Error;
use crate::status::{InstanceStatusKind, RestartFrom};

pub(crate) const NOT_FOUND: &str = "instance.not_found";
pub(crate) const ALREADY_EXISTS: &str = "instance.already_exists";
pub(crate) const CANNOT_TERMINATE: &str = "instance.cannot_terminate";
pub(crate) const CANNOT_RESTART: &str = "instance.cannot_restart";

pub(crate) fn not_found(workflow: &str, id: &str) -> Error {
    Error::workflow(NOT_FOUND, format!("no instance {id:?} in workflow {workflow:?}"))
}

pub(crate) fn already_exists(workflow: &str, id: &str) -> Error {
    Error::workflow(ALREADY_EXISTS, format!("an instance with id {id:?} already exists in workflow {workflow:?}"))
}

pub(crate) fn cannot_terminate(id: &str, status: InstanceStatusKind) -> Error {
    Error::workflow(CANNOT_TERMINATE, format!("instance {id:?} is already {status} and cannot be terminated"))
}

pub(crate) fn cannot_restart(id: &str, target: &RestartFrom) -> Error {
    Error::workflow(
        CANNOT_RESTART,
        format!(
            "instance {id:?} has no {} step {:?} with count {} to restart from",
            target.kind.as_str(),
            target.name,
            target.count
        ),
    )
}

pub(crate) const INVALID_BATCH: &str = "instance.invalid_batch";

/// The array form of `createBatch` refused whole, in workerd's words: empty, or over 100.
pub(crate) fn invalid_batch(len: usize) -> Error {
    let why = if len == 0 {
        "batchCreate should have at least 1 instance"
    } else {
        "batchCreate only supports 100 instances at a time"
    };
    Error::workflow(INVALID_BATCH, why)
}

/// workerd's refusal of an array batch (`Error: WorkflowError: batchCreate …`, its name lost
/// across RPC) as the embedded engine reports it; anything else passes through.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // the Cloudflare backend's
pub(crate) fn from_batch_engine(error: Error, len: usize) -> Error {
    let message = error.message();
    let message = message.strip_prefix("WorkflowError: ").unwrap_or(message);
    if message.starts_with("batchCreate ") && error.code().is_none() {
        return invalid_batch(len);
    }
    error
}

/// The code of an error from the engine: a `WorkflowError`'s `(code)`, or a message that is
/// nothing but a code (workerd's `get` rejects an unknown id with `Error: instance.not_found`).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // the Cloudflare backend's
fn engine_code(error: &Error) -> Option<&str> {
    error.code().or_else(|| {
        let message = error.message();
        let is_code = message.starts_with("instance.")
            && message.len() > "instance.".len()
            && message.chars().all(|c| c.is_ascii_lowercase() || c == '.' || c == '_');
        (error.name() == "Error" && is_code).then_some(message)
    })
}

/// The engine's error for an operation on instance `id`, as the embedded engine words it when it
/// knows the code (the functions above), so both engines report the same code, name and message.
/// Errors that need more context (`cannot_terminate`, `cannot_restart`) are rebuilt by their
/// operation.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))] // the Cloudflare backend's
pub(crate) fn from_engine(error: Error, workflow: &str, id: &str) -> Error {
    match engine_code(&error) {
        Some(NOT_FOUND) => not_found(workflow, id),
        Some(ALREADY_EXISTS) => already_exists(workflow, id),
        // A bare code lunora does not know: still a `WorkflowError` with its code.
        Some(code) if error.code().is_none() => Error::workflow(
            code,
            format!("the engine refused the operation on instance {id:?} of workflow {workflow:?}"),
        ),
        _ => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workerds_array_batch_refusals_keep_lunoras_code() {
        for (len, text) in [
            (0, "batchCreate should have at least 1 instance"),
            (101, "batchCreate only supports 100 instances at a time"),
        ] {
            // Across RPC the name is lost and the message keeps it; both spellings are read.
            for raw in [Error::new(format!("WorkflowError: {text}")), Error::named("WorkflowError", text)] {
                let restored = from_batch_engine(raw, len);
                assert_eq!(restored.code(), Some(INVALID_BATCH));
                assert_eq!(restored.to_string(), format!("WorkflowError: (instance.invalid_batch) {text}"));
            }
        }
        let other = Error::new("network down");
        assert_eq!(from_batch_engine(other.clone(), 3), other);
    }

    #[test]
    fn workerd_bare_not_found_becomes_the_embedded_engines_error() {
        let restored = from_engine(Error::new("instance.not_found"), "orders", "o-1");
        assert_eq!(restored, not_found("orders", "o-1"));
        assert_eq!(restored.code(), Some(NOT_FOUND));
        assert_eq!(
            restored.to_string(),
            r#"WorkflowError: (instance.not_found) no instance "o-1" in workflow "orders""#
        );
    }

    #[test]
    fn cloudflares_wording_of_a_known_code_is_replaced() {
        let cloudflare = Error::named(
            "WorkflowError",
            r#"(instance.already_exists) Workflow instance with id "o-1" already exists"#,
        );
        assert_eq!(from_engine(cloudflare, "orders", "o-1"), already_exists("orders", "o-1"));
    }

    #[test]
    fn an_unknown_bare_code_keeps_its_code_and_other_errors_pass_through() {
        let restored = from_engine(Error::new("instance.gone_fishing"), "orders", "o-1");
        assert_eq!((restored.name(), restored.code()), ("WorkflowError", Some("instance.gone_fishing")));
        for untouched in [
            Error::new("instance.not_found but more words"),
            Error::new("instance."),
            Error::new("Instance.Not_Found"),
            Error::named("TypeError", "instance.not_found"),
            Error::named(
                "WorkflowError",
                "(instance.cannot_terminate) Cannot terminate instance since its on a finite state",
            ),
            Error::new("network down"),
        ] {
            assert_eq!(from_engine(untouched.clone(), "orders", "o-1"), untouched);
        }
    }
}
