//! What codegen knows about one workflow after scanning: the input to the registry, the JS
//! entry and the wrangler reconciliation.

/// One `#[workflow]` found in the crate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkflowSpec {
    /// The fn's export name, e.g. `orderPipeline`.
    pub export_name: String,
    /// The Rust path of the generated descriptor from the crate root, e.g. `orders::OrderPipelineWorkflow`.
    pub descriptor_path: String,
    /// `[[workflows]].name`: `name = "…"` or the default name.
    pub deployed_name: String,
    /// `[[workflows]].binding`, e.g. `WORKFLOW_ORDER_PIPELINE`.
    pub binding: String,
    /// `[[workflows]].class_name`, e.g. `OrderPipelineWorkflow`.
    pub class_name: String,
    /// Declared `schedules` (empty when none were declared).
    pub schedules: Vec<String>,
    /// Declared `limits(steps = N)`.
    pub step_limit: Option<u32>,
    /// The `#[cfg]` predicate it is compiled under (its own and its enclosing modules',
    /// combined with `all(…)`), if any: the registry carries it onto the workflow's items.
    pub cfg: Option<String>,
    /// Where the `#[workflow]` attribute is, for error messages.
    pub location: Location,
}

impl WorkflowSpec {
    /// Whether a Worker build (wasm32, not a test) may compile it: unless its cfg is false there
    /// (`test`, `not(target_arch = "wasm32")`…). Only those are in the JS entry and wrangler config.
    pub fn deployed(&self) -> bool {
        self.cfg.as_deref().and_then(crate::cfg::on_worker) != Some(false)
    }
}

/// A place in a source file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub file: std::path::PathBuf,
    pub line: usize,
    pub column: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}
