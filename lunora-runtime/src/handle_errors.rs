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

// Each message starts with Cloudflare's own wording of the failure (workerd's), so code that
// matches on it behaves the same on both engines, and goes on with what lunora knows.

pub(crate) fn not_found(workflow: &str, id: &str) -> Error {
    Error::workflow(NOT_FOUND, format!("Instance does not exist: no instance {id:?} in workflow {workflow:?}"))
}

pub(crate) fn already_exists(workflow: &str, id: &str) -> Error {
    Error::workflow(ALREADY_EXISTS, format!("Workflow instance with id {id:?} already exists in workflow {workflow:?}"))
}

pub(crate) fn cannot_terminate(id: &str, status: InstanceStatusKind) -> Error {
    Error::workflow(
        CANNOT_TERMINATE,
        format!("Cannot terminate instance since its on a finite state: instance {id:?} is already {status}"),
    )
}

pub(crate) fn cannot_restart(id: &str, target: &RestartFrom) -> Error {
    Error::workflow(
        CANNOT_RESTART,
        format!(
            "Step {:?} not found in execution history: instance {id:?} has no {} step {:?} with count {}",
            target.name,
            target.kind.as_str(),
            target.name,
            target.count
        ),
    )
}

pub(crate) const INVALID_ID: &str = "instance.invalid_id";

/// An id Cloudflare refuses; `why` says which rule it breaks.
pub(crate) fn invalid_id(id: &str, why: &str) -> Error {
    Error::workflow(INVALID_ID, format!("Workflow instance has invalid id {id:?}: {why}"))
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

/// `deleteBatch` with no ids or more than 100, refused before any instance is touched (lunora
/// checks it on both engines, so both word it the same).
pub(crate) fn check_delete_batch(len: usize) -> Result<(), Error> {
    use lunora_shared::rules::MAX_BATCH;
    if len == 0 || len > MAX_BATCH {
        return Err(Error::workflow(INVALID_BATCH, format!("deleteBatch takes 1 to {MAX_BATCH} instances, got {len}")));
    }
    Ok(())
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
    // workerd's `create` refuses a bad id with a bare `WorkflowError` (no code).
    if error.code().is_none()
        && error.message().trim_start_matches("WorkflowError: ") == "Workflow instance has invalid id"
    {
        let why = lunora_shared::rules::identifier_problem(id, lunora_shared::rules::MAX_INSTANCE_ID_CHARS);
        return invalid_id(id, why.as_deref().unwrap_or("Cloudflare refused it"));
    }
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
            r#"WorkflowError: (instance.not_found) Instance does not exist: no instance "o-1" in workflow "orders""#
        );
    }

    #[test]
    fn each_message_starts_with_cloudflares_wording() {
        let restart = RestartFrom::step("charge");
        for (error, cloudflare) in [
            (not_found("orders", "o-1"), "(instance.not_found) Instance does not exist"),
            (
                already_exists("orders", "o-1"),
                "(instance.already_exists) Workflow instance with id \"o-1\" already exists",
            ),
            (
                cannot_terminate("o-1", InstanceStatusKind::Complete),
                "(instance.cannot_terminate) Cannot terminate instance since its on a finite state",
            ),
            (
                cannot_restart("o-1", &restart),
                "(instance.cannot_restart) Step \"charge\" not found in execution history",
            ),
            (invalid_id("a b", "spaces"), "(instance.invalid_id) Workflow instance has invalid id"),
        ] {
            assert!(error.message().starts_with(cloudflare), "{error}");
        }
    }

    #[test]
    fn workerds_bare_invalid_id_refusal_gets_lunoras_code_and_the_rule() {
        for raw in [
            Error::named("WorkflowError", "Workflow instance has invalid id"),
            Error::new("WorkflowError: Workflow instance has invalid id"),
        ] {
            let restored = from_engine(raw, "orders", "a b");
            assert_eq!(restored.code(), Some(INVALID_ID));
            assert!(
                restored
                    .message()
                    .starts_with("(instance.invalid_id) Workflow instance has invalid id \"a b\": it must match"),
                "{restored}"
            );
        }
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
