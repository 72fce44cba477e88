//! Reconciliation of the `[[workflows]]` section of a wrangler config (the user-facing rules
//! are in the README, "Generated code and the wrangler config").
//!
//! Pure functions from the config text and the scanned [`WorkflowSpec`]s to the new text and a
//! report; no file IO here, the CLI reads and writes the file.
//!
//! The rules:
//! - entries are matched by `class_name`; a workflow without an entry gets one appended
//!   (`name`, `binding`, `class_name`, plus `schedules` / `limits.steps` when declared), in the
//!   order of the `workflows` slice;
//! - in an existing entry the declared settings (`schedules`, `limits.steps`) are rewritten in
//!   place; a missing `name` or `binding` is written; settings in the file that the workflow
//!   does not declare are kept and reported;
//! - an existing entry whose `name` or `binding` differs from the workflow's is an error, not
//!   a rewrite: the registry addresses the workflow by its name and binding (declared or
//!   derived: `Workflow::NAME`, `WorkflowInfo::binding`), so a config that deploys or binds it
//!   otherwise would make every call fail at runtime, and rewriting it would silently rename a
//!   deployed workflow or a binding other code of the Worker may use;
//! - entries with `script_name` (a class in another Worker) are left alone entirely;
//! - entries that no workflow declares are reported, never deleted;
//! - a config whose entry for a workflow is ambiguous is an error, not a guess: two entries
//!   (without `script_name`) of one `class_name` or one `name`, two entries of one `binding`
//!   (wrangler rejects that too), and in JSONC a key written twice in the top-level object or in
//!   an entry (wrangler reads the last one, which is easy to miss when editing the first);
//! - `[env.*]` sections are never touched (wrangler does not inherit `workflows` into them);
//! - a top-level `main` that points at worker-build's shim is repointed to the generated entry
//!   module when one is given;
//! - everything else survives byte for byte, and a second run changes nothing.
//!
//! Both formats edit the source text in place rather than re-serialising a document: TOML by
//! splicing at the byte spans `toml_edit` reports, JSONC through `jsonc-parser`'s concrete
//! syntax tree, which keeps every comment and whitespace token.

mod driver;
mod jsonc;
mod toml;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;

use crate::spec::WorkflowSpec;

pub use self::jsonc::reconcile_jsonc;
pub use self::toml::{reconcile_toml, ParsedToml};

/// Values of `main` that mean "worker-build's default output" (`build/index.js` since
/// worker-build 0.6; `build/worker/shim.mjs` before, still written for compatibility), which
/// lunora repoints to its generated entry module.
pub const WORKER_BUILD_SHIMS: [&str; 4] =
    ["build/index.js", "./build/index.js", "build/worker/shim.mjs", "./build/worker/shim.mjs"];

/// What the caller knows beyond the workflows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReconcileOptions<'a> {
    /// Path of the generated JS entry module relative to the config file, e.g.
    /// `build/lunora-entry.mjs`. When given, a top-level `main` pointing at worker-build's shim
    /// ([`WORKER_BUILD_SHIMS`]) is repointed to it.
    pub entry_module: Option<&'a str>,
}

/// The outcome of a reconciliation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reconciled {
    /// The new config text (equal to the input when nothing changed).
    pub text: String,
    /// Whether `text` differs from the input.
    pub changed: bool,
    /// What was done and what was left alone but deserves attention: `main` first, then the
    /// existing entries in file order, then the appended entries in the order of the workflows.
    pub report: Vec<Finding>,
}

/// One line of the reconciliation report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// A workflow had no entry: one was appended.
    Added { class_name: String, name: String, binding: String },
    /// A declared setting (`schedules` or `limits.steps`) of an existing entry was written;
    /// `value` is the new value as written (JSON-like).
    Updated { class_name: String, key: String, value: String },
    /// An existing entry had no `name` / `binding` at all: the declared one was written.
    Filled { class_name: String, key: String, value: String },
    /// A setting of a matched entry that the workflow does not declare was kept as it is.
    UndeclaredSettingKept { class_name: String, key: String },
    /// An entry (without `script_name`) that no workflow declares; left in place.
    Orphan { class_name: String, name: Option<String> },
    /// The top-level `main` pointed at worker-build's shim and now points at the entry module.
    MainRepointed { from: String, to: String },
}

impl Finding {
    /// Whether this finding asks the user to look at something (as opposed to reporting a
    /// change that was made).
    pub fn is_warning(&self) -> bool {
        matches!(self, Finding::UndeclaredSettingKept { .. } | Finding::Orphan { .. })
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Added { class_name, name, binding } => {
                write!(f, "added workflows entry {class_name} (name {}, binding {binding})", quoted(name))
            }
            Finding::Updated { class_name, key, value } => {
                write!(f, "set {key} of workflows entry {class_name} to {value}")
            }
            Finding::Filled { class_name, key, value } => {
                write!(f, "added the missing {key} {} to workflows entry {class_name}", quoted(value))
            }
            Finding::UndeclaredSettingKept { class_name, key } => {
                write!(f, "kept {key} of workflows entry {class_name}, which the workflow does not declare")
            }
            Finding::Orphan { class_name, name: Some(name) } => write!(
                f,
                "workflows entry {class_name} (name {}) matches no workflow in the crate; left in place",
                quoted(name)
            ),
            Finding::Orphan { class_name, name: None } => {
                write!(f, "workflows entry {class_name} matches no workflow in the crate; left in place")
            }
            Finding::MainRepointed { from, to } => {
                write!(f, "repointed main from {} to {}", quoted(from), quoted(to))
            }
        }
    }
}

/// The two syntaxes of a wrangler config.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConfigFormat {
    /// `wrangler.toml`.
    Toml,
    /// `wrangler.jsonc` and `wrangler.json` (plain JSON goes through the same code).
    Jsonc,
}

impl ConfigFormat {
    /// The format of a config file, by its extension: `.toml` → TOML, `.jsonc` / `.json` →
    /// JSONC (so `wrangler.toml`, `wrangler.jsonc`, `wrangler.json`); `None` for anything else.
    pub fn from_path(path: impl AsRef<Path>) -> Option<Self> {
        let ext = path.as_ref().extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "toml" => Some(ConfigFormat::Toml),
            "jsonc" | "json" => Some(ConfigFormat::Jsonc),
            _ => None,
        }
    }

    /// `source` made ready for [`Prepared::reconcile`] before the workflows are known.
    pub fn prepare(self, source: &str) -> Result<Prepared<'_>, ConfigError> {
        match self {
            ConfigFormat::Toml => ParsedToml::parse(source).map(|parsed| Prepared::Toml(Box::new(parsed))),
            ConfigFormat::Jsonc => Ok(Prepared::Jsonc(source)),
        }
    }

    /// [`reconcile_toml`] or [`reconcile_jsonc`].
    pub fn reconcile(
        self,
        source: &str,
        workflows: &[WorkflowSpec],
        opts: &ReconcileOptions<'_>,
    ) -> Result<Reconciled, ConfigError> {
        match self {
            ConfigFormat::Toml => reconcile_toml(source, workflows, opts),
            ConfigFormat::Jsonc => reconcile_jsonc(source, workflows, opts),
        }
    }
}

/// Everything a reconciliation reads besides the config's text, in one string: the format, the
/// entry module, and each workflow's class, name, binding, schedules and step limit, in order.
/// A reconciliation's outcome, when it succeeds, is a function of the text and these alone
/// (its errors also name a workflow's fn and place), which is what lets `sync --check` reuse
/// the last sync's reconciliation of an unchanged config (see the `cache` module): keep this
/// in step with what `plan` and the syntaxes read of a [`WorkflowSpec`].
pub fn reconciliation_inputs(format: ConfigFormat, workflows: &[WorkflowSpec], opts: &ReconcileOptions<'_>) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(64 + workflows.len() * 96);
    // Every string is length-prefixed, so no two different inputs read the same.
    let string = |out: &mut String, s: &str| {
        let _ = write!(out, "{}:{s}", s.len());
    };
    out.push_str(match format {
        ConfigFormat::Toml => "toml\n",
        ConfigFormat::Jsonc => "jsonc\n",
    });
    match opts.entry_module {
        Some(entry) => {
            out.push('+');
            string(&mut out, entry);
        }
        None => out.push('-'),
    }
    for spec in workflows {
        out.push('\n');
        for s in [&spec.class_name, &spec.deployed_name, &spec.binding] {
            string(&mut out, s);
        }
        let _ = write!(out, "{};", spec.schedules.len());
        for s in &spec.schedules {
            string(&mut out, s);
        }
        match spec.step_limit {
            Some(steps) => {
                let _ = write!(out, "{steps};");
            }
            None => out.push('-'),
        }
    }
    out
}

/// A config ready for reconciliation, prepared while the crate is scanned: a TOML one parsed
/// (most of the work), a JSONC one kept as text (`jsonc-parser`'s tree cannot cross threads,
/// so it is parsed when reconciled).
pub enum Prepared<'s> {
    Toml(Box<ParsedToml<'s>>),
    Jsonc(&'s str),
}

impl Prepared<'_> {
    /// [`reconcile_toml`] or [`reconcile_jsonc`] on the prepared config.
    pub fn reconcile(
        &self,
        workflows: &[WorkflowSpec],
        opts: &ReconcileOptions<'_>,
    ) -> Result<Reconciled, ConfigError> {
        match self {
            Prepared::Toml(parsed) => parsed.reconcile(workflows, opts),
            Prepared::Jsonc(source) => reconcile_jsonc(source, workflows, opts),
        }
    }
}

/// A config the reconciliation cannot work on: malformed syntax, or a `workflows` section of
/// the wrong shape. Displays as `line:col: what` (1-based; the column counts characters); the
/// caller prefixes the path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl ConfigError {
    /// An error at byte `offset` of `source`.
    pub(crate) fn at(source: &str, offset: usize, message: impl Into<String>) -> Self {
        let (line, column) = line_col(source, offset);
        ConfigError { line, column, message: message.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// 1-based line and column (in characters) of byte `offset`.
fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

// ---------------------------------------------------------------------------------------------
// The format-independent part: what an entry holds, and what to do about it.

/// What reconciliation needs to know about one entry of the top-level `workflows` array.
#[derive(Debug, Default)]
pub(crate) struct EntryFacts {
    /// The entry has `script_name`: it belongs to another Worker and is left alone.
    pub foreign: bool,
    /// `class_name` (checked to be a string by the format code for non-foreign entries).
    pub class_name: Option<String>,
    pub name: Option<String>,
    pub binding: Option<String>,
    /// Whether `name` / `binding` are strings (a value of another type is held as written).
    pub name_is_string: bool,
    pub binding_is_string: bool,
    /// `schedules`: `None` when absent, `Some(None)` when present but neither a string nor an
    /// array of strings.
    pub schedules: Option<Option<Vec<String>>>,
    /// `limits.steps`: `None` when absent, `Some(None)` when present but not an integer.
    pub steps: Option<Option<i64>>,
    /// Every other setting key (dotted for keys inside `limits`), in file order.
    pub other_keys: Vec<String>,
    /// Byte offsets of its `class_name`, `name` and `binding` values (the entry's own offset
    /// when absent), for errors.
    pub class_name_at: usize,
    pub name_at: usize,
    pub binding_at: usize,
}

/// Rejects entries that make the reconciliation ambiguous or that wrangler rejects: two
/// entries (without `script_name`) of one `class_name` (which one is the workflow's?) or of one
/// `name` (one deployed workflow for two entries), two entries of one `binding`. The error is
/// at the second entry's value and names the first one's place.
pub(crate) fn reject_duplicate_entries(src: &str, entries: &[EntryFacts]) -> Result<(), ConfigError> {
    type Key = fn(&EntryFacts) -> Option<(&str, usize)>;
    let checks: [(&str, bool, Key, &str); 3] = [
        (
            "class_name",
            true,
            |e| e.class_name.as_deref().map(|v| (v, e.class_name_at)),
            "lunora-codegen cannot tell which one is the workflow's: merge them into one",
        ),
        (
            "name",
            true,
            |e| e.name.as_deref().map(|v| (v, e.name_at)),
            "one deployed workflow cannot have two entries: rename or remove one",
        ),
        (
            "binding",
            false,
            |e| e.binding.as_deref().map(|v| (v, e.binding_at)),
            "wrangler rejects two bindings of one name: rename one",
        ),
    ];
    for (key, local_only, value_of, advice) in checks {
        let mut first: HashMap<&str, usize> = HashMap::new();
        for entry in entries.iter().filter(|e| !(local_only && e.foreign)) {
            let Some((value, at)) = value_of(entry) else { continue };
            if let Some(&earlier) = first.get(value) {
                let (line, column) = line_col(src, earlier);
                return Err(ConfigError::at(
                    src,
                    at,
                    format!(
                        "another workflows entry, at {line}:{column}, has the same {key} {}; {advice}",
                        quoted(value)
                    ),
                ));
            }
            first.insert(value, at);
        }
    }
    Ok(())
}

/// What to write into one existing entry.
#[derive(Debug)]
pub(crate) struct EntryPlan<'s> {
    pub spec: &'s WorkflowSpec,
    pub fill_name: bool,
    pub fill_binding: bool,
    pub set_schedules: bool,
    pub set_steps: bool,
}

impl EntryPlan<'_> {
    pub fn is_empty(&self) -> bool {
        !(self.fill_name || self.fill_binding || self.set_schedules || self.set_steps)
    }
}

/// The plan for the `workflows` array: one optional plan per existing entry (same order), and
/// the workflows to append.
pub(crate) struct Plan<'s> {
    pub entries: Vec<Option<EntryPlan<'s>>>,
    pub append: Vec<&'s WorkflowSpec>,
}

/// Decides, from the entries in the file (`src` is the config text, for error positions), what
/// to write, and reports it; an entry that names or binds its workflow otherwise than the
/// registry does is an error (see [`name_mismatch`], [`binding_mismatch`]). With two specs of
/// one `class_name` (codegen rejects that before we get here) the first one wins.
pub(crate) fn plan<'s>(
    src: &str,
    entries: &[EntryFacts],
    workflows: &'s [WorkflowSpec],
    report: &mut Vec<Finding>,
) -> Result<Plan<'s>, ConfigError> {
    let mut by_class: HashMap<&str, &'s WorkflowSpec> = HashMap::new();
    for spec in workflows {
        by_class.entry(spec.class_name.as_str()).or_insert(spec);
    }
    let mut matched: HashSet<&str> = HashSet::new();
    let mut plans = Vec::with_capacity(entries.len());
    for entry in entries {
        if entry.foreign {
            plans.push(None);
            continue;
        }
        let class_name = entry.class_name.clone().unwrap_or_default();
        let Some(&spec) = by_class.get(class_name.as_str()) else {
            report.push(Finding::Orphan { class_name, name: entry.name.clone() });
            plans.push(None);
            continue;
        };
        matched.insert(spec.class_name.as_str());
        let mut p = EntryPlan { spec, fill_name: false, fill_binding: false, set_schedules: false, set_steps: false };
        match &entry.name {
            None => {
                p.fill_name = true;
                report.push(Finding::Filled {
                    class_name: class_name.clone(),
                    key: "name".into(),
                    value: spec.deployed_name.clone(),
                });
            }
            Some(name) if !entry.name_is_string || *name != spec.deployed_name => {
                return Err(ConfigError::at(src, entry.name_at, name_mismatch(spec, name, entry.name_is_string)));
            }
            Some(_) => {}
        }
        match &entry.binding {
            None => {
                p.fill_binding = true;
                report.push(Finding::Filled {
                    class_name: class_name.clone(),
                    key: "binding".into(),
                    value: spec.binding.clone(),
                });
            }
            Some(binding) if !entry.binding_is_string || *binding != spec.binding => {
                return Err(ConfigError::at(
                    src,
                    entry.binding_at,
                    binding_mismatch(spec, binding, entry.binding_is_string),
                ));
            }
            Some(_) => {}
        }
        if spec.schedules.is_empty() {
            if entry.schedules.is_some() {
                report.push(Finding::UndeclaredSettingKept { class_name: class_name.clone(), key: "schedules".into() });
            }
        } else if entry.schedules.as_ref().and_then(Option::as_ref) != Some(&spec.schedules) {
            p.set_schedules = true;
            report.push(Finding::Updated {
                class_name: class_name.clone(),
                key: "schedules".into(),
                value: string_array(&spec.schedules),
            });
        }
        match spec.step_limit {
            None => {
                if entry.steps.is_some() {
                    report.push(Finding::UndeclaredSettingKept {
                        class_name: class_name.clone(),
                        key: "limits.steps".into(),
                    });
                }
            }
            Some(steps) => {
                if entry.steps != Some(Some(i64::from(steps))) {
                    p.set_steps = true;
                    report.push(Finding::Updated {
                        class_name: class_name.clone(),
                        key: "limits.steps".into(),
                        value: steps.to_string(),
                    });
                }
            }
        }
        for key in &entry.other_keys {
            if key == "limits" && spec.step_limit.is_some() {
                // An empty `limits` table that now holds the declared `steps`.
                continue;
            }
            report.push(Finding::UndeclaredSettingKept { class_name: class_name.clone(), key: key.clone() });
        }
        plans.push(Some(p));
    }

    let mut append = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for spec in workflows {
        if matched.contains(spec.class_name.as_str()) || !seen.insert(spec.class_name.as_str()) {
            continue;
        }
        report.push(Finding::Added {
            class_name: spec.class_name.clone(),
            name: spec.deployed_name.clone(),
            binding: spec.binding.clone(),
        });
        // Appending would give wrangler two entries with one name or binding: it rejects that
        // config, and so would the next sync. Refuse now, pointing at the entry in the way.
        if let Some(e) = entries.iter().find(|e| e.name.as_deref() == Some(spec.deployed_name.as_str())) {
            return Err(ConfigError::at(src, e.name_at, collision(spec, "name", &spec.deployed_name, e)));
        }
        if let Some(e) = entries.iter().find(|e| e.binding.as_deref() == Some(spec.binding.as_str())) {
            return Err(ConfigError::at(src, e.binding_at, collision(spec, "binding", &spec.binding, e)));
        }
        append.push(spec);
    }
    Ok(Plan { entries: plans, append })
}

/// `in_file` as the message shows it: a string quoted, another value as written.
fn shown(in_file: &str, is_string: bool) -> String {
    if is_string {
        quoted(in_file)
    } else {
        in_file.to_owned()
    }
}

/// Why an entry may not deploy `spec` under another name, and the two ways out. The name is
/// `Workflow::NAME`, compiled in by `#[workflow]`: the registry looks the binding up by it, the
/// embedded engine and the REST API address instances by it, so the config has to follow it.
fn name_mismatch(spec: &WorkflowSpec, in_file: &str, is_string: bool) -> String {
    let declared = quoted(&spec.deployed_name);
    let mut message = format!(
        "workflows entry {} deploys workflow `{}` ({}) as name {}, but the workflow declares the name {declared}, \
         which the generated registry, the embedded engine and the REST API use; sync does not rename an existing \
         entry (that would deploy a new workflow). Set this entry's name to {declared} (instances started under \
         the old name stay there)",
        spec.class_name,
        spec.export_name,
        spec.location,
        shown(in_file, is_string),
    );
    if is_string {
        message.push_str(&format!(", or declare `#[workflow(name = {})]` on the fn", quoted(in_file)));
    }
    message
}

/// Why an entry may not bind `spec` under another name, and the ways out. The registry's
/// `Workflows::from_env` looks the workflow up in the Worker's env by its binding (declared with
/// `#[workflow(binding = "…")]`, else derived from the export name): the config and the
/// attribute have to agree.
fn binding_mismatch(spec: &WorkflowSpec, in_file: &str, is_string: bool) -> String {
    let (registry, shown_in_file) = (quoted(&spec.binding), shown(in_file, is_string));
    let mut message = format!(
        "workflows entry {} binds workflow `{}` ({}) as {shown_in_file}, but the generated registry reaches it \
         through the binding {registry}, so every call would fail with workflow.not_found; sync does not rebind an \
         existing entry (other code of the Worker may use its binding). Declare the config's binding on the fn",
        spec.class_name, spec.export_name, spec.location,
    );
    match is_string.then(|| lunora_shared::naming::binding_problem(in_file)) {
        Some(None) => message.push_str(&format!(" (`#[workflow(binding = {shown_in_file})]`)")),
        Some(Some(why)) => message.push_str(&format!(
            " once it is a valid binding (it is not: {why}; {})",
            lunora_shared::naming::BINDING_RULE
        )),
        None => message.push_str(" once the entry's binding is a string"),
    }
    message.push_str(&format!(
        ", or set this entry's binding to {registry} (or delete the key: sync then writes it) and rename \
         {shown_in_file} wherever else the Worker uses it"
    ));
    message
}

/// Why a workflow's entry cannot be appended: `entry` already uses its `key` (`name` or
/// `binding`).
fn collision(spec: &WorkflowSpec, key: &str, value: &str, entry: &EntryFacts) -> String {
    let owner = match (&entry.class_name, entry.foreign) {
        (Some(class), false) => format!("the workflows entry of class {}", quoted(class)),
        (Some(class), true) => format!("the workflows entry of another Worker's class {}", quoted(class)),
        (None, _) => "another workflows entry".to_owned(),
    };
    format!(
        "workflow `{}` ({}) needs a workflows entry with {key} {}, which {owner} already uses: wrangler rejects \
         two entries with one {key}, so sync adds nothing. If that entry is this workflow's under another class \
         name, set its class_name to {} (or declare that class with `#[workflow(class = \"…\")]`); otherwise change \
         its {key}, or the workflow's (`#[workflow(name = \"…\")]` sets the deployed name, `binding = \"…\"` the \
         binding)",
        spec.export_name,
        spec.location,
        quoted(value),
        quoted(&spec.class_name),
    )
}

/// Whether `main` should be repointed, and to what.
pub(crate) fn repoint_main<'a>(main: &str, opts: &ReconcileOptions<'a>) -> Option<&'a str> {
    let to = opts.entry_module?;
    (WORKER_BUILD_SHIMS.contains(&main) && main != to).then_some(to)
}

// ---------------------------------------------------------------------------------------------
// Small text helpers shared by both formats.

/// A double-quoted string, escaped the same way in TOML basic strings and JSON.
pub(crate) fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `["a", "b"]`: valid in TOML and JSON alike.
pub(crate) fn string_array(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| quoted(s)).collect();
    format!("[{}]", inner.join(", "))
}

/// Splits off a UTF-8 byte order mark, which the parsers do not expect and which is given back
/// in front of the output.
pub(crate) fn split_bom(source: &str) -> (&str, &str) {
    match source.strip_prefix('\u{feff}') {
        Some(rest) => ("\u{feff}", rest),
        None => ("", source),
    }
}

/// The line terminator the file uses (that of its first line), `\n` for a file without one.
pub(crate) fn newline_of(source: &str) -> &'static str {
    match source.find('\n') {
        Some(i) if i > 0 && source.as_bytes()[i - 1] == b'\r' => "\r\n",
        _ => "\n",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_by_file_name() {
        assert_eq!(ConfigFormat::from_path("wrangler.toml"), Some(ConfigFormat::Toml));
        assert_eq!(ConfigFormat::from_path("a/b/wrangler.jsonc"), Some(ConfigFormat::Jsonc));
        assert_eq!(ConfigFormat::from_path("wrangler.json"), Some(ConfigFormat::Jsonc));
        assert_eq!(ConfigFormat::from_path("WRANGLER.TOML"), Some(ConfigFormat::Toml));
        assert_eq!(ConfigFormat::from_path("wrangler.yaml"), None);
        assert_eq!(ConfigFormat::from_path("wrangler"), None);
    }

    #[test]
    fn line_col_counts_characters_from_one() {
        let s = "ab\nçd\r\nxyz";
        assert_eq!(line_col(s, 0), (1, 1));
        assert_eq!(line_col(s, 3), (2, 1));
        assert_eq!(line_col(s, 5), (2, 2)); // after the two-byte ç
        assert_eq!(line_col(s, s.len()), (3, 4));
    }

    #[test]
    fn quoting_escapes_what_toml_and_json_need() {
        assert_eq!(quoted("a\"b\\c\td\u{1}"), "\"a\\\"b\\\\c\\td\\u0001\"");
        assert_eq!(string_array(&["0 * * * *".into(), "x".into()]), "[\"0 * * * *\", \"x\"]");
        assert_eq!(string_array(&[]), "[]");
    }

    #[test]
    fn newline_style_follows_the_first_line() {
        assert_eq!(newline_of("a\r\nb\n"), "\r\n");
        assert_eq!(newline_of("a\nb\r\n"), "\n");
        assert_eq!(newline_of(""), "\n");
    }
}
