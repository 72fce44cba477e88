//! The REST API's source when it serves a journal file without an engine: the journal's
//! instances and timelines, read under the journal's lock, and nothing else. No workflow code
//! is registered, so nothing can run; every action is refused.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::listing::{InstanceList, ListQuery};
use crate::local::journal::{storage, InstanceRow, Journal, StepRow};
use crate::local::mutex::lock;

/// What a refused action says.
pub const READ_ONLY: &str = "read-only: opened from a journal file";

/// An open journal file, read only through this view.
pub struct JournalView {
    journal: Mutex<Journal>,
    path: PathBuf,
}

impl JournalView {
    /// Opens the journal at `path` to read it: a missing, empty, foreign, damaged, older (which
    /// opening would migrate) or newer file is refused, and so is one an engine holds (naming
    /// its lock file); it keeps the lock so that no engine changes the file while it is shown.
    pub fn open(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::new(format!(
                "there is no lunora journal at {}: give the path of a file an engine wrote (its --db)",
                path.display()
            )));
        }
        let journal = Journal::open_to_read(path).map_err(|e| {
            if !e.message().contains("is in use by") {
                return e;
            }
            // Reading under another engine would show a journal changing underneath; the
            // engine's own REST API shows it live instead.
            Error::new(format!(
                "{} It is locked through {}. Read it through that engine's REST API instead (for the \
                 example: `lunora-codegen studio --api-base http://127.0.0.1:<port>/client/v4` against \
                 `scripts/example serve`), or stop the engine and open the file again.",
                e.message(),
                crate::local::journal_lock::lock_path(path).display()
            ))
        })?;
        Ok(Self { journal: Mutex::new(journal), path: path.to_owned() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The workflows with instances in the journal, sorted.
    pub fn workflow_names(&self) -> Result<Vec<String>> {
        lock(&self.journal).workflows().map_err(storage("read of workflows"))
    }

    /// Fails with `workflow.not_found` unless the journal holds instances of `workflow`.
    pub fn require_workflow(&self, workflow: &str) -> Result<()> {
        let names = self.workflow_names()?;
        if names.iter().any(|n| n == workflow) {
            return Ok(());
        }
        Err(Error::workflow(
            "workflow.not_found",
            format!(
                "the journal {} has no instances of a workflow named {workflow:?}; its workflows: {}",
                self.path.display(),
                names.join(", ")
            ),
        ))
    }

    pub fn list(&self, workflow: &str, query: &ListQuery) -> Result<InstanceList> {
        self.require_workflow(workflow)?;
        crate::local::list_page(&lock(&self.journal), workflow, query)
    }

    pub fn instance_row(&self, workflow: &str, id: &str) -> Result<InstanceRow> {
        lock(&self.journal)
            .instance(workflow, id)
            .map_err(storage("read of an instance"))?
            .ok_or_else(|| crate::handle_errors::not_found(workflow, id))
    }

    pub fn steps(&self, workflow: &str, id: &str) -> Result<Vec<StepRow>> {
        lock(&self.journal).steps(workflow, id).map_err(storage("read of steps"))
    }
}
