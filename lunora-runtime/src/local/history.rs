//! Histories from the embedded engine's journal: of an instance of a running engine
//! ([`Engine::history`]), or read from a journal file no engine holds ([`read_histories`]).

use std::path::Path;

use crate::error::{Error, Result};
use crate::history::{AttemptRecord, History, RecordKind, RecordState, StepRecord, Trigger};
use crate::local::engine::Engine;
use crate::local::journal::{storage, Durability, InstanceRow, Journal, RowKind, StepRow, StepState};
use crate::local::mutex::lock;
use crate::status::InstanceStatusKind;

/// Which instances [`read_histories`] takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// These ids (each must exist).
    Ids(Vec<String>),
    /// Every instance in one of these statuses.
    Statuses(Vec<InstanceStatusKind>),
}

impl Default for Selection {
    /// The instances that can still run code: [`crate::history::RESUMABLE_STATUSES`].
    fn default() -> Self {
        Selection::Statuses(crate::history::RESUMABLE_STATUSES.to_vec())
    }
}

impl Engine {
    /// The history of an instance of `workflow` (its deployed name), as the journal holds it now.
    pub fn history(&self, workflow: &str, id: &str) -> Result<History> {
        let journal = lock(&self.inner.journal);
        history_of(&journal, workflow, id)
    }
}

/// Opens the journal at `path` (refused while an engine holds it, like any second engine),
/// reads the histories of the selected instances of `workflow`, and closes it. The file must
/// exist: reading never creates a journal.
pub fn read_histories(path: &Path, workflow: &str, selection: &Selection) -> Result<Vec<History>> {
    if !path.is_file() {
        return Err(Error::new(format!("there is no lunora journal at {}", path.display())));
    }
    let mut journal = Journal::open(Some(path), Durability::Normal, None)?;
    let histories = (|| {
        let ids: Vec<String> = match selection {
            Selection::Ids(ids) => ids.clone(),
            Selection::Statuses(statuses) => journal
                .instances_of(workflow)
                .map_err(storage("read of instances"))?
                .into_iter()
                .filter(|(_, status)| statuses.contains(status))
                .map(|(id, _)| id)
                .collect(),
        };
        ids.iter().map(|id| history_of(&journal, workflow, id)).collect()
    })();
    journal.close();
    histories
}

fn history_of(journal: &Journal, workflow: &str, id: &str) -> Result<History> {
    let row = journal
        .instance(workflow, id)
        .map_err(storage("read of an instance"))?
        .ok_or_else(|| crate::handle_errors::not_found(workflow, id))?;
    let steps = journal.steps(workflow, id).map_err(storage("read of steps"))?;
    Ok(from_rows(workflow, id, &row, &steps))
}

fn from_rows(workflow: &str, id: &str, row: &InstanceRow, steps: &[StepRow]) -> History {
    History {
        source: "embedded".into(),
        workflow: workflow.to_owned(),
        instance_id: id.to_owned(),
        version_id: None,
        status: row.status.as_str().to_owned(),
        params: row.params.clone(),
        trigger: Trigger { timestamp: Some(row.created_at), source: None },
        steps: steps.iter().map(record).collect(),
    }
}

fn record(step: &StepRow) -> StepRecord {
    StepRecord {
        kind: match step.kind {
            RowKind::Do => RecordKind::Do,
            RowKind::Sleep => RecordKind::Sleep,
            RowKind::WaitForEvent => RecordKind::WaitForEvent,
            RowKind::Rollback => RecordKind::Rollback,
        },
        name: step.name.clone(),
        count: step.count,
        state: match step.state {
            StepState::Done => RecordState::Done,
            StepState::Failed => RecordState::Failed,
            StepState::Waiting => RecordState::Waiting,
            StepState::Running => RecordState::Running,
        },
        output: match step.state {
            // Kept in the journal (replay and rollback handlers need it), never shown.
            StepState::Done if step.config.as_ref().is_some_and(|c| c.sensitive.is_some()) => {
                Some(crate::erased::Json::String(crate::history::REDACTED_OUTPUT.to_owned()))
            }
            StepState::Done => step.output.clone(),
            _ => None,
        },
        error: step.error.clone().filter(|_| step.state != StepState::Done),
        attempts: step
            .attempt_log
            .iter()
            .map(|a| AttemptRecord { start: Some(a.start), end: a.end, success: a.success, error: a.error.clone() })
            .collect(),
        started_at: Some(step.started_at),
        ended_at: step.ended_at,
        wake_at: step.wake_at,
        raw: None,
    }
}
