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
