//! What a replay concludes, worded for the person about to deploy: compatible (and where the
//! instance would go on), or the first place the code and the history part ways.

use std::fmt;
use std::time::{Duration, UNIX_EPOCH};

use crate::erased::Json;
use crate::error::Error;
use crate::history::{step_label, RecordKind, RecordState};

/// A step as the code asks for it or a history records it: kind, name and occurrence count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepCall {
    pub kind: RecordKind,
    pub name: String,
    pub count: u32,
}

impl fmt::Display for StepCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&step_label(&self.kind, &self.name, self.count))
    }
}

/// A step the instance would run or wait on next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NextStep {
    /// 1-based position in the history's `steps` (past the end for a step it never reached).
    pub index: usize,
    pub step: StepCall,
    /// The recorded state of an unfinished step it resumes (`waiting`, `running`), `None` for a
    /// step the history never reached.
    pub recorded: Option<RecordState>,
    /// When the recorded wait ends (sleep, event timeout, next attempt), epoch ms.
    pub wake_at: Option<i64>,
    /// Attempts already made (a `do` step between retries).
    pub attempts: usize,
}

impl fmt::Display for NextStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} {}", self.index, self.step)?;
        match self.recorded {
            None => f.write_str(" (not reached yet)"),
            Some(state) => {
                write!(f, " (recorded {}", state.as_str())?;
                if self.step.kind == RecordKind::Do && self.attempts > 0 {
                    write!(f, " after {} attempt{}", self.attempts, if self.attempts == 1 { "" } else { "s" })?;
                }
                if let Some(at) = self.wake_at {
                    write!(f, ", wakes at {}", time(at))?;
                }
                f.write_str(")")
            }
        }
    }
}

/// Where a compatible instance goes on.
#[derive(Clone, Debug, PartialEq)]
pub enum Continuation {
    /// It runs or waits on these steps next (one per live branch, in the order the code asked).
    Steps(Vec<NextStep>),
    /// The body returns: the instance completes with this output.
    Completes(Json),
    /// The body fails with `error`; the instance runs the rollback of `next_rollback` next, or,
    /// when `None`, ends errored (no rollback left, or the chain failed as recorded).
    Fails { error: Error, next_rollback: Option<StepCall> },
    /// The body waits on `ctx.run(path)` outside any step, which replay does not dispatch: the
    /// history cannot say what comes after it.
    Dispatches(String),
    /// The output of this step is redacted (a sensitive step), so the history cannot say what
    /// the body got from it; the steps before it replayed as recorded.
    Redacted(NextStep),
    /// This step returned a byte stream (`do_stream`), whose bytes a history does not hold, so
    /// the history cannot say what the body got from it; the steps before it replayed as recorded.
    Streamed(NextStep),
}

impl fmt::Display for Continuation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Continuation::Steps(steps) if steps.is_empty() => {
                f.write_str("the body waits on something that is not a step (replay cannot tell what comes next)")
            }
            Continuation::Steps(steps) => {
                let shown: Vec<String> = steps.iter().map(ToString::to_string).collect();
                write!(f, "next step {}", shown.join(", and "))
            }
            Continuation::Completes(_) => f.write_str("the code completes"),
            Continuation::Fails { error, next_rollback: Some(next) } => {
                write!(f, "the code fails ({error}); the rollback of {next} runs next")
            }
            Continuation::Fails { error, next_rollback: None } => write!(f, "the code fails ({error})"),
            Continuation::Dispatches(path) => {
                write!(f, "the body waits on ctx.run({path}) outside a step, which replay does not dispatch")
            }
            Continuation::Redacted(step) => write!(
                f,
                "replayed up to step #{} {}, whose output is redacted (sensitive), so replay cannot go past it",
                step.index, step.step
            ),
            Continuation::Streamed(step) => write!(
                f,
                "replayed up to step #{} {}, which returned a byte stream whose bytes the history does not hold, \
                 so replay cannot go past it",
                step.index, step.step
            ),
        }
    }
}

/// How the code ended while the history had more to say.
#[derive(Clone, Debug, PartialEq)]
pub enum Ended {
    Completed,
    Failed(Error),
    /// The body waits on these steps and asks for nothing more.
    Waits(Vec<StepCall>),
}

/// The first place the current code and a history part ways.
#[derive(Clone, Debug, PartialEq)]
pub enum Divergence {
    /// At `index`, the history recorded one step and the code asked for another (renamed,
    /// reordered, removed or added steps, a changed kind, a shifted count).
    StepMismatch { index: usize, recorded: StepCall, asked: StepCall },
    /// A recorded output (or event payload) no longer decodes into the code's type.
    OutputDoesNotDecode { index: usize, step: StepCall, error: String },
    /// The recorded params no longer decode into the workflow's params type.
    ParamsDoNotDecode { error: String },
    /// The code completed, failed or stopped asking for steps before the recorded steps ran
    /// out; `index` is the first recorded step it did not reach.
    CodeEndedEarly { index: usize, recorded: StepCall, remaining: usize, ended: Ended },
    /// The history's instance ended one way (`complete`, `errored`), the code ends another.
    OutcomeDiffers { recorded_status: String, ended: Ended },
    /// Rollbacks: at `index` the history recorded the rollback of one step, the code would roll
    /// back another (`expected`), or none (`None`: no handler left, or the code completes).
    RollbackMismatch { index: usize, recorded: StepCall, expected: Option<StepCall> },
}

fn ended(e: &Ended) -> String {
    match e {
        Ended::Completed => "completed".into(),
        Ended::Failed(error) => format!("failed ({error})"),
        Ended::Waits(steps) if steps.is_empty() => "stopped asking for steps".into(),
        Ended::Waits(steps) => {
            let shown: Vec<String> = steps.iter().map(ToString::to_string).collect();
            format!("waits on {} and asks for no other step", shown.join(" and "))
        }
    }
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Divergence::StepMismatch { index, recorded, asked } => {
                write!(f, "step #{index}: the history recorded {recorded}, the code asked for {asked}")
            }
            Divergence::OutputDoesNotDecode { index, step, error } => {
                let what = if step.kind == RecordKind::WaitForEvent { "event payload" } else { "output" };
                write!(
                    f,
                    "step #{index}: the recorded {what} of {step} no longer decodes into the code's type: {error}"
                )
            }
            Divergence::ParamsDoNotDecode { error } => {
                write!(f, "the recorded params no longer decode into the workflow's params type: {error}")
            }
            Divergence::CodeEndedEarly { index, recorded, remaining, ended: how } => {
                let more = if *remaining == 1 { "1 more step".to_owned() } else { format!("{remaining} more steps") };
                write!(
                    f,
                    "the code {} before the history ended: it recorded {more}, from #{index} {recorded}",
                    ended(how)
                )
            }
            Divergence::OutcomeDiffers { recorded_status, ended: how } => {
                write!(f, "the history's instance ended {recorded_status}, the code {}", ended(how))
            }
            Divergence::RollbackMismatch { index, recorded, expected: Some(expected) } => write!(
                f,
                "step #{index}: the history recorded the rollback of {}, the code would roll back {} there",
                step_label(&RecordKind::Do, &recorded.name, recorded.count),
                step_label(&RecordKind::Do, &expected.name, expected.count)
            ),
            Divergence::RollbackMismatch { index, recorded, expected: None } => write!(
                f,
                "step #{index}: the history recorded the rollback of {}, the code registers no rollback for it",
                step_label(&RecordKind::Do, &recorded.name, recorded.count)
            ),
        }
    }
}

/// The replay of one history.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayReport {
    pub workflow: String,
    pub instance_id: String,
    /// The history's instance status (`waiting`, `paused`…).
    pub status: String,
    /// The file it came from, when it came from one.
    pub file: Option<String>,
    pub outcome: Result<Continuation, Divergence>,
    /// How many recorded steps the code went through as recorded.
    pub steps_replayed: usize,
    /// The replay's virtual clock at the end: the latest time the history recorded (the
    /// trigger's, or a step's end); replay never waits in real time.
    pub virtual_time: Option<i64>,
}

impl ReplayReport {
    pub fn is_compatible(&self) -> bool {
        self.outcome.is_ok()
    }
}

impl fmt::Display for ReplayReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}: ")?;
        }
        write!(f, "instance {:?} of {}: ", self.instance_id, self.workflow)?;
        match &self.outcome {
            Ok(next) => {
                write!(f, "compatible; {next}")?;
                if matches!(self.status.as_str(), "paused" | "waitingForPause") {
                    f.write_str(" once the instance is resumed")?;
                }
                Ok(())
            }
            Err(divergence) => write!(f, "diverges at {divergence}"),
        }
    }
}

/// An epoch-ms time as RFC 3339 (UTC, milliseconds).
pub(crate) fn time(ms: i64) -> String {
    match u64::try_from(ms) {
        Ok(ms) => humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string(),
        Err(_) => format!("{ms} ms"),
    }
}
