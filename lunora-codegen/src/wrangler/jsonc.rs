//! `wrangler.jsonc` / `wrangler.json`: read the AST (positions for errors), edit through
//! `jsonc-parser`'s concrete syntax tree, which keeps every comment and whitespace token and
//! indents what it inserts like the surrounding file.

use jsonc_parser::ast::{Object, Value};
use jsonc_parser::common::Ranged;
use jsonc_parser::cst::{CstInputValue, CstObject, CstRootNode};
use jsonc_parser::{parse_to_ast, CollectOptions, ParseOptions};

use super::driver::{self, internal, RawEntry, RawField, RawValue, Syntax};
use super::{line_col, split_bom, ConfigError, EntryPlan, Plan, ReconcileOptions, Reconciled};
use crate::spec::WorkflowSpec;

/// Reconciles the top-level `"workflows"` array of a `wrangler.jsonc` (or plain
/// `wrangler.json`) with the scanned workflows. See the [module docs](super) for the rules; a
/// missing `"workflows"` key is added at the end of the top-level object.
pub fn reconcile_jsonc(
    source: &str,
    workflows: &[WorkflowSpec],
    opts: &ReconcileOptions<'_>,
) -> Result<Reconciled, ConfigError> {
    let (_, src) = split_bom(source);
    let ast = parse_to_ast(src, &CollectOptions::default(), &parse_options()).map_err(parse_error)?;
    let root = match &ast.value {
        None => None,
        Some(Value::Object(o)) => Some(o),
        Some(other) => return Err(ConfigError::at(src, other.start(), "the top level must be an object")),
    };
    if let Some(root) = root {
        reject_duplicate_keys(src, root, Some(&["main", "workflows"]))?;
    }
    let entries: Vec<&Object<'_>> = match root.and_then(|o| o.get("workflows")) {
        None => Vec::new(),
        Some(prop) => match &prop.value {
            Value::Array(array) => array
                .elements
                .iter()
                .map(|element| match element {
                    Value::Object(o) => Ok(o),
                    other => Err(ConfigError::at(src, other.start(), "each `workflows` entry must be an object")),
                })
                .collect::<Result<_, _>>()?,
            other => {
                return Err(ConfigError::at(src, other.start(), "`workflows` must be an array of objects"));
            }
        },
    };
    driver::reconcile(source, &JsoncConfig { src, root, entries }, workflows, opts)
}

/// A parsed `wrangler.jsonc`: its top-level object and `workflows` entries. The edits go
/// through a concrete syntax tree parsed only when there is something to write.
struct JsoncConfig<'a> {
    src: &'a str,
    root: Option<&'a Object<'a>>,
    entries: Vec<&'a Object<'a>>,
}

impl Syntax for JsoncConfig<'_> {
    const FILE: &'static str = "config";
    const LIMITS_SHAPE: &'static str = "`limits` must be an object, e.g. `\"limits\": { \"steps\": 1000 }`";

    fn main(&self) -> Option<&str> {
        self.root.and_then(|o| o.get_string("main")).map(|main| main.value.as_ref())
    }

    fn entry_count(&self) -> usize {
        self.entries.len()
    }

    fn entry(&self, index: usize) -> Result<RawEntry, ConfigError> {
        let o = self.entries[index];
        reject_duplicate_keys(self.src, o, None)?;
        Ok(RawEntry { start: o.start(), fields: fields(self.src, o, true) })
    }

    fn rewrite(&self, main_to: Option<&str>, plan: &Plan<'_>) -> Result<String, ConfigError> {
        let cst = CstRootNode::parse(self.src, &parse_options()).map_err(parse_error)?;
        let object = cst.object_value_or_set();
        if let Some(to) = main_to {
            let prop = object.get("main").ok_or_else(|| internal("`main` vanished"))?;
            prop.set_value(CstInputValue::String(to.to_owned()));
        }
        if plan.entries.iter().any(|p| p.as_ref().is_some_and(|p| !p.is_empty())) {
            let array = object.array_value("workflows").ok_or_else(|| internal("`workflows` vanished"))?;
            let elements = array.elements();
            for (i, p) in plan.entries.iter().enumerate() {
                if let Some(p) = p.as_ref().filter(|p| !p.is_empty()) {
                    let entry =
                        elements.get(i).and_then(|e| e.as_object()).ok_or_else(|| internal("an entry vanished"))?;
                    apply(&entry, p)?;
                }
            }
        }
        if !plan.append.is_empty() {
            let array = object.array_value_or_create("workflows").ok_or_else(|| internal("`workflows` is no array"))?;
            // Appended objects span lines; so must the array then (a no-op when it already does).
            array.ensure_multiline();
            for spec in &plan.append {
                array.append(new_entry(spec));
            }
        }
        Ok(cst.to_string())
    }

    fn parse_problem(body: &str) -> Option<String> {
        parse_to_ast(body, &CollectOptions::default(), &parse_options()).err().map(|e| e.to_string())
    }
}

/// The properties of `o`; with `tables`, objects become [`RawValue::Table`] (one level deep:
/// an entry's `limits`), checked for keys written twice when they are read.
fn fields(src: &str, o: &Object<'_>, tables: bool) -> Vec<RawField> {
    o.properties
        .iter()
        .map(|p| RawField {
            key: p.name.as_str().to_owned(),
            at: p.value.start(),
            written: Some(p.value.start()..p.value.end()),
            value: raw_value(src, &p.value, tables),
        })
        .collect()
}

fn raw_value(src: &str, value: &Value<'_>, tables: bool) -> RawValue {
    match value {
        Value::StringLit(s) => RawValue::String(s.value.to_string()),
        Value::NumberLit(n) => n.value.parse::<i64>().map_or(RawValue::Other, RawValue::Integer),
        Value::Array(a) if tables => RawValue::Array(a.elements.iter().map(|e| raw_value(src, e, false)).collect()),
        Value::Object(o) if tables => {
            RawValue::Table(reject_duplicate_keys(src, o, None).map(|()| fields(src, o, false)))
        }
        _ => RawValue::Other,
    }
}

/// What wrangler's own JSONC reader accepts: JSON plus comments and trailing commas.
fn parse_options() -> ParseOptions {
    ParseOptions {
        allow_comments: true,
        allow_trailing_commas: true,
        allow_loose_object_property_names: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    }
}

fn parse_error(e: jsonc_parser::errors::ParseError) -> ConfigError {
    let kind = e.kind().to_string();
    let mut chars = kind.chars();
    let message = match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => kind,
    };
    ConfigError { line: e.line_display(), column: e.column_display(), message }
}

/// Rejects a key written twice in `object` (only the keys in `only`, when given). JSON leaves
/// duplicates undefined and wrangler's reader keeps the last one, while an editor (or lunora)
/// looking for the key finds the first: editing it would change nothing that is deployed.
fn reject_duplicate_keys(src: &str, object: &Object<'_>, only: Option<&[&str]>) -> Result<(), ConfigError> {
    let mut seen: Vec<(&str, usize)> = Vec::new();
    for prop in &object.properties {
        let name = prop.name.as_str();
        if only.is_some_and(|only| !only.contains(&name)) {
            continue;
        }
        if let Some(&(_, first)) = seen.iter().find(|(n, _)| *n == name) {
            let (line, column) = line_col(src, first);
            return Err(ConfigError::at(
                src,
                prop.start(),
                format!(
                    "duplicate key \"{name}\" (first at {line}:{column}); wrangler would use this last one and \
                     ignore the first: remove one"
                ),
            ));
        }
        seen.push((name, prop.start()));
    }
    Ok(())
}

fn strings(items: &[String]) -> CstInputValue {
    CstInputValue::Array(items.iter().map(|s| CstInputValue::String(s.clone())).collect())
}

fn steps_value(steps: u32) -> CstInputValue {
    CstInputValue::Number(steps.to_string())
}

fn apply(entry: &CstObject, p: &EntryPlan<'_>) -> Result<(), ConfigError> {
    let spec = p.spec;
    if p.fill_name {
        entry.append("name", CstInputValue::String(spec.deployed_name.clone()));
    }
    if p.fill_binding {
        entry.append("binding", CstInputValue::String(spec.binding.clone()));
    }
    if p.set_schedules {
        match entry.get("schedules") {
            Some(prop) => prop.set_value(strings(&spec.schedules)),
            None => {
                entry.append("schedules", strings(&spec.schedules));
            }
        }
    }
    if let (true, Some(steps)) = (p.set_steps, spec.step_limit) {
        match entry.get("limits") {
            None => {
                entry.append("limits", CstInputValue::Object(vec![("steps".into(), steps_value(steps))]));
            }
            Some(prop) => {
                let limits = prop.object_value().ok_or_else(|| internal("`limits` is no object"))?;
                match limits.get("steps") {
                    Some(prop) => prop.set_value(steps_value(steps)),
                    None => {
                        limits.append("steps", steps_value(steps));
                    }
                }
            }
        }
    }
    Ok(())
}

fn new_entry(spec: &WorkflowSpec) -> CstInputValue {
    let mut pairs = vec![
        ("name".to_owned(), CstInputValue::String(spec.deployed_name.clone())),
        ("binding".to_owned(), CstInputValue::String(spec.binding.clone())),
        ("class_name".to_owned(), CstInputValue::String(spec.class_name.clone())),
    ];
    if !spec.schedules.is_empty() {
        pairs.push(("schedules".to_owned(), strings(&spec.schedules)));
    }
    if let Some(steps) = spec.step_limit {
        pairs.push(("limits".to_owned(), CstInputValue::Object(vec![("steps".into(), steps_value(steps))])));
    }
    CstInputValue::Object(pairs)
}
