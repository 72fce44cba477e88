//! Test-time modifiers of an instance (or of every instance of a workflow), the counterpart of
//! vitest-pool-workers' `introspectWorkflowInstance`: mocked step results and errors, forced
//! timeouts, mocked events, disabled sleeps and retry delays. In memory only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::erased::Json;
use crate::error::Error;
use crate::local::mutex::lock;

/// Modifiers per workflow and, optionally, per instance id.
pub(crate) type ModifierMap = HashMap<(Arc<str>, Option<Arc<str>>), Arc<Modifiers>>;

/// Selects a step by name and 1-based occurrence (`{name, index}` in vitest).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StepSelector {
    pub name: String,
    pub index: u32,
}

impl StepSelector {
    /// The first step with this name.
    pub fn name(name: impl Into<String>) -> Self {
        Self { name: name.into(), index: 1 }
    }

    /// The `index`-th (1-based) step with this name.
    pub fn nth(name: impl Into<String>, index: u32) -> Self {
        Self { name: name.into(), index }
    }
}

/// Which steps a switch applies to: all, or a list.
#[derive(Clone, Debug, Default)]
enum Scope {
    #[default]
    Off,
    All,
    Only(Vec<String>),
}

impl Scope {
    fn covers(&self, name: &str) -> bool {
        match self {
            Scope::Off => false,
            Scope::All => true,
            Scope::Only(names) => names.iter().any(|n| n == name),
        }
    }
}

/// `times` left for a mock; `None` means every attempt.
type Remaining = Option<u32>;

#[derive(Default)]
struct State {
    disable_sleeps: Scope,
    disable_retry_delays: Scope,
    results: HashMap<StepSelector, Json>,
    errors: HashMap<StepSelector, (Error, Remaining)>,
    timeouts: HashMap<StepSelector, Remaining>,
    event_timeouts: Vec<StepSelector>,
    events: Vec<(String, Json)>,
}

/// The modifiers of one instance or workflow. Build with the chained methods.
#[derive(Default)]
pub struct Modifiers {
    state: Mutex<State>,
}

fn take(remaining: &mut Remaining) -> bool {
    match remaining {
        None => true,
        Some(0) => false,
        Some(n) => {
            *n -= 1;
            true
        }
    }
}

impl Modifiers {
    pub fn new() -> Self {
        Self::default()
    }

    fn edit(self, f: impl FnOnce(&mut State)) -> Self {
        f(&mut lock(&self.state));
        self
    }

    /// Sleeps complete at once (all of them, or only those named).
    pub fn disable_sleeps(self, steps: Option<&[&str]>) -> Self {
        let scope = steps.map_or(Scope::All, |s| Scope::Only(s.iter().map(|n| n.to_string()).collect()));
        self.edit(|s| s.disable_sleeps = scope)
    }

    /// Retries follow each other without delay (all steps, or only those named).
    pub fn disable_retry_delays(self, steps: Option<&[&str]>) -> Self {
        let scope = steps.map_or(Scope::All, |s| Scope::Only(s.iter().map(|n| n.to_string()).collect()));
        self.edit(|s| s.disable_retry_delays = scope)
    }

    /// The step returns `value` without running its callback.
    pub fn mock_step_result(self, step: StepSelector, value: impl serde::Serialize) -> Self {
        let value = serde_json::to_value(value).expect("mocked step results must serialise");
        self.edit(|s| {
            s.results.insert(step, value);
        })
    }

    /// The step's attempts fail with `error` (`times` attempts, or all of them).
    pub fn mock_step_error(self, step: StepSelector, error: Error, times: Option<u32>) -> Self {
        self.edit(|s| {
            s.errors.insert(step, (error, times));
        })
    }

    /// The step's attempts time out (`times` attempts, or all of them).
    pub fn force_step_timeout(self, step: StepSelector, times: Option<u32>) -> Self {
        self.edit(|s| {
            s.timeouts.insert(step, times);
        })
    }

    /// Delivers an event as if it was sent right after the instance was created.
    pub fn mock_event(self, event_type: impl Into<String>, payload: impl serde::Serialize) -> Self {
        let payload = serde_json::to_value(payload).expect("mocked event payloads must serialise");
        self.edit(|s| s.events.push((event_type.into(), payload)))
    }

    /// The `waitForEvent` step times out at once.
    pub fn force_event_timeout(self, step: StepSelector) -> Self {
        self.edit(|s| s.event_timeouts.push(step))
    }

    pub(crate) fn sleeps_disabled(&self, name: &str) -> bool {
        lock(&self.state).disable_sleeps.covers(name)
    }

    pub(crate) fn retry_delays_disabled(&self, name: &str) -> bool {
        lock(&self.state).disable_retry_delays.covers(name)
    }

    pub(crate) fn events(&self) -> Vec<(String, Json)> {
        lock(&self.state).events.clone()
    }

    pub(crate) fn event_timeout(&self, name: &str, count: u32) -> bool {
        let sel = StepSelector::nth(name, count);
        lock(&self.state).event_timeouts.contains(&sel)
    }

    /// What a mocked attempt does instead of running the callback, if anything.
    pub(crate) fn attempt(&self, name: &str, count: u32) -> Option<MockedAttempt> {
        let sel = StepSelector::nth(name, count);
        let mut st = lock(&self.state);
        if let Some(remaining) = st.timeouts.get_mut(&sel) {
            if take(remaining) {
                return Some(MockedAttempt::Timeout);
            }
        }
        if let Some((error, remaining)) = st.errors.get_mut(&sel) {
            if take(remaining) {
                return Some(MockedAttempt::Error(error.clone()));
            }
        }
        st.results.get(&sel).cloned().map(MockedAttempt::Result)
    }
}

pub(crate) enum MockedAttempt {
    Result(Json),
    Error(Error),
    Timeout,
}
