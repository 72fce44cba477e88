//! The reconciliation both syntaxes share: repoint `main`, read each entry's facts, reject
//! ambiguous entries, plan, let the syntax apply the plan, and refuse to hand back a config
//! that does not parse. A syntax ([`Syntax`]) only reads its tree into [`RawEntry`]s and writes
//! a plan into its text; what the keys mean, and the messages about them, live here once.

use std::ops::Range;

use super::{
    plan, reject_duplicate_entries, repoint_main, split_bom, ConfigError, EntryFacts, Finding, Plan, ReconcileOptions,
    Reconciled,
};
use crate::spec::WorkflowSpec;

/// A wrangler config in one syntax, parsed, with its top-level `workflows` entries found.
pub(crate) trait Syntax {
    /// How the re-parse guard names the file: `wrangler.toml`, `config`.
    const FILE: &'static str;
    /// How the error about a `limits` of the wrong kind shows the right one.
    const LIMITS_SHAPE: &'static str;

    /// The top-level `main`, when it is a string.
    fn main(&self) -> Option<&str>;
    /// How many entries the top-level `workflows` has.
    fn entry_count(&self) -> usize;
    /// Entry `index`, read (an error when the syntax rejects its keys, e.g. a key written twice).
    fn entry(&self, index: usize) -> Result<RawEntry, ConfigError>;
    /// The text after repointing `main` to `main_to` and applying `plan`.
    fn rewrite(&self, main_to: Option<&str>, plan: &Plan<'_>) -> Result<String, ConfigError>;
    /// Why `body` does not parse, if it does not.
    fn parse_problem(body: &str) -> Option<String>;
}

/// One `workflows` entry as the reconciliation reads it: its keys in file order.
pub(crate) struct RawEntry {
    /// Byte offset of the entry (errors about a key it lacks point here).
    pub start: usize,
    pub fields: Vec<RawField>,
}

/// One key of an entry, or of a table inside one.
pub(crate) struct RawField {
    pub key: String,
    /// Byte offset of its value.
    pub at: usize,
    /// The value's text span, when the syntax knows it (a value that is not a string is
    /// reported as written).
    pub written: Option<Range<usize>>,
    pub value: RawValue,
}

/// What a value is, as far as the reconciliation cares.
pub(crate) enum RawValue {
    String(String),
    Integer(i64),
    /// An array (its elements' own arrays and tables are [`RawValue::Other`]).
    Array(Vec<RawValue>),
    /// A table's fields (their arrays and tables are [`RawValue::Other`]), or why the syntax
    /// rejects it (a key written twice), reported when the reconciliation reads it.
    Table(Result<Vec<RawField>, ConfigError>),
    Other,
}

impl RawEntry {
    fn get(&self, key: &str) -> Option<&RawField> {
        self.fields.iter().find(|f| f.key == key)
    }
}

/// Reconciles `source` (whose byte order mark `syntax` was parsed without) with `workflows`.
pub(crate) fn reconcile<S: Syntax>(
    source: &str,
    syntax: &S,
    workflows: &[WorkflowSpec],
    opts: &ReconcileOptions<'_>,
) -> Result<Reconciled, ConfigError> {
    let (bom, src) = split_bom(source);
    let mut report = Vec::new();
    let main_to = syntax.main().and_then(|main| {
        let to = repoint_main(main, opts)?;
        report.push(Finding::MainRepointed { from: main.to_owned(), to: to.to_owned() });
        Some(to)
    });
    let facts = (0..syntax.entry_count())
        .map(|i| facts(src, &syntax.entry(i)?, S::LIMITS_SHAPE))
        .collect::<Result<Vec<_>, _>>()?;
    reject_duplicate_entries(src, &facts)?;
    let plan = plan(src, &facts, workflows, &mut report)?;

    let edits_entries = plan.entries.iter().any(|p| p.as_ref().is_some_and(|p| !p.is_empty()));
    if main_to.is_none() && plan.append.is_empty() && !edits_entries {
        return Ok(Reconciled { text: source.to_owned(), changed: false, report });
    }
    let body = syntax.rewrite(main_to, &plan)?;
    // A last guard: never hand back a config that wrangler could not read.
    if body != src {
        if let Some(problem) = S::parse_problem(&body) {
            return Err(internal(&format!("the reconciled {} does not parse ({problem})", S::FILE)));
        }
    }
    let text = format!("{bom}{body}");
    Ok(Reconciled { changed: text != source, text, report })
}

/// An error that is lunora's fault, not the config's.
pub(crate) fn internal(what: &str) -> ConfigError {
    ConfigError { line: 1, column: 1, message: format!("internal error: {what}; please report this") }
}

/// What the reconciliation needs to know about one entry.
fn facts(src: &str, entry: &RawEntry, limits_shape: &str) -> Result<EntryFacts, ConfigError> {
    // A string's value; anything else as written (it is kept, never overwritten).
    let text = |key: &str| {
        entry.get(key).map(|f| match &f.value {
            RawValue::String(s) => s.clone(),
            _ => f.written.clone().map_or_else(|| "(a table)".to_owned(), |span| src[span].to_owned()),
        })
    };
    let at = |key: &str| entry.get(key).map_or(entry.start, |f| f.at);
    let mut facts = EntryFacts {
        foreign: entry.get("script_name").is_some(),
        name: text("name"),
        binding: text("binding"),
        name_is_string: matches!(entry.get("name"), Some(RawField { value: RawValue::String(_), .. })),
        binding_is_string: matches!(entry.get("binding"), Some(RawField { value: RawValue::String(_), .. })),
        class_name_at: at("class_name"),
        name_at: at("name"),
        binding_at: at("binding"),
        ..EntryFacts::default()
    };
    match entry.get("class_name") {
        Some(RawField { value: RawValue::String(class_name), .. }) => facts.class_name = Some(class_name.clone()),
        Some(other) if !facts.foreign => {
            return Err(ConfigError::at(src, other.at, "`class_name` must be a string"));
        }
        None if !facts.foreign => {
            return Err(ConfigError::at(
                src,
                entry.start,
                "this workflows entry has no `class_name` (wrangler requires one)",
            ));
        }
        _ => {}
    }
    if facts.foreign {
        return Ok(facts);
    }
    for field in &entry.fields {
        match field.key.as_str() {
            "name" | "binding" | "class_name" => {}
            "schedules" => facts.schedules = Some(schedules_of(&field.value)),
            "limits" => {
                let RawValue::Table(limits) = &field.value else {
                    return Err(ConfigError::at(src, field.at, limits_shape));
                };
                let limits = limits.as_ref().map_err(Clone::clone)?;
                for limit in limits {
                    if limit.key == "steps" {
                        facts.steps = Some(match limit.value {
                            RawValue::Integer(steps) => Some(steps),
                            _ => None,
                        });
                    } else {
                        facts.other_keys.push(format!("limits.{}", limit.key));
                    }
                }
                if limits.is_empty() {
                    facts.other_keys.push("limits".into());
                }
            }
            other => facts.other_keys.push(other.to_owned()),
        }
    }
    Ok(facts)
}

/// `schedules` as a list of strings (a single string counts as a list of one), `None` when it
/// is neither.
fn schedules_of(value: &RawValue) -> Option<Vec<String>> {
    match value {
        RawValue::String(s) => Some(vec![s.clone()]),
        RawValue::Array(items) => items
            .iter()
            .map(|item| match item {
                RawValue::String(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}
