//! `wrangler.jsonc` / `wrangler.json`: read the AST (positions for errors), edit through
//! `jsonc-parser`'s concrete syntax tree, which keeps every comment and whitespace token and
//! indents what it inserts like the surrounding file.

use jsonc_parser::ast::{Object, Value};
use jsonc_parser::common::Ranged;
use jsonc_parser::cst::{CstInputValue, CstObject, CstRootNode};
use jsonc_parser::{parse_to_ast, CollectOptions, ParseOptions};

use super::{
    line_col, plan, reject_duplicate_entries, repoint_main, split_bom, ConfigError, EntryFacts, EntryPlan, Finding,
    ReconcileOptions, Reconciled,
};
use crate::spec::WorkflowSpec;

/// Reconciles the top-level `"workflows"` array of a `wrangler.jsonc` (or plain
/// `wrangler.json`) with the scanned workflows. See the [module docs](super) for the rules; a
/// missing `"workflows"` key is added at the end of the top-level object.
pub fn reconcile_jsonc(
    source: &str,
    workflows: &[WorkflowSpec],
    opts: &ReconcileOptions<'_>,
) -> Result<Reconciled, ConfigError> {
    let (bom, src) = split_bom(source);
    let options = parse_options();
    let ast = parse_to_ast(src, &CollectOptions::default(), &options).map_err(parse_error)?;
    let root = match &ast.value {
        None => None,
        Some(Value::Object(o)) => Some(o),
        Some(other) => return Err(ConfigError::at(src, other.start(), "the top level must be an object")),
    };
    if let Some(root) = root {
        reject_duplicate_keys(src, root, Some(&["main", "workflows"]))?;
    }
    let mut report = Vec::new();

    let main = root.and_then(|o| o.get_string("main"));
    let main_to = main.and_then(|m| repoint_main(&m.value, opts));
    if let (Some(main), Some(to)) = (main, main_to) {
        report.push(Finding::MainRepointed { from: main.value.to_string(), to: to.to_owned() });
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
    let facts = entries.iter().map(|o| facts(src, o)).collect::<Result<Vec<_>, _>>()?;
    reject_duplicate_entries(src, &facts)?;
    let plan = plan(&facts, workflows, &mut report);

    let edits_entries = plan.entries.iter().any(|p| p.as_ref().is_some_and(|p| !p.is_empty()));
    if main_to.is_none() && plan.append.is_empty() && !edits_entries {
        return Ok(Reconciled { text: source.to_owned(), changed: false, report });
    }

    let cst = CstRootNode::parse(src, &options).map_err(parse_error)?;
    let object = cst.object_value_or_set();
    if let Some(to) = main_to {
        let prop = object.get("main").ok_or_else(|| internal("`main` vanished"))?;
        prop.set_value(CstInputValue::String(to.to_owned()));
    }
    if edits_entries {
        let array = object.array_value("workflows").ok_or_else(|| internal("`workflows` vanished"))?;
        let elements = array.elements();
        for (i, p) in plan.entries.iter().enumerate() {
            if let Some(p) = p.as_ref().filter(|p| !p.is_empty()) {
                let entry = elements.get(i).and_then(|e| e.as_object()).ok_or_else(|| internal("an entry vanished"))?;
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

    let body = cst.to_string();
    if let Err(e) = parse_to_ast(&body, &CollectOptions::default(), &options) {
        return Err(internal(&format!("the reconciled config does not parse ({e})")));
    }
    let text = format!("{bom}{body}");
    Ok(Reconciled { changed: text != source, text, report })
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

fn internal(what: &str) -> ConfigError {
    ConfigError { line: 1, column: 1, message: format!("internal error: {what}; please report this") }
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

fn facts(src: &str, o: &Object<'_>) -> Result<EntryFacts, ConfigError> {
    reject_duplicate_keys(src, o, None)?;
    // A string's value; anything else as written (it is kept, never overwritten).
    let string = |key: &str| {
        o.get(key).map(|p| match &p.value {
            Value::StringLit(s) => s.value.to_string(),
            other => other.text(src).to_owned(),
        })
    };
    let at = |key: &str| o.get(key).map_or(o.start(), |p| p.value.start());
    let mut facts = EntryFacts {
        foreign: o.get("script_name").is_some(),
        name: string("name"),
        binding: string("binding"),
        class_name_at: at("class_name"),
        name_at: at("name"),
        binding_at: at("binding"),
        ..EntryFacts::default()
    };
    match o.get("class_name").map(|p| &p.value) {
        Some(Value::StringLit(s)) => facts.class_name = Some(s.value.to_string()),
        Some(other) if !facts.foreign => {
            return Err(ConfigError::at(src, other.start(), "`class_name` must be a string"));
        }
        None if !facts.foreign => {
            return Err(ConfigError::at(
                src,
                o.start(),
                "this workflows entry has no `class_name` (wrangler requires one)",
            ));
        }
        _ => {}
    }
    if facts.foreign {
        return Ok(facts);
    }
    for prop in &o.properties {
        match prop.name.as_str() {
            "name" | "binding" | "class_name" => {}
            "schedules" => facts.schedules = Some(schedules_of(&prop.value)),
            "limits" => {
                let Value::Object(limits) = &prop.value else {
                    return Err(ConfigError::at(
                        src,
                        prop.value.start(),
                        "`limits` must be an object, e.g. `\"limits\": { \"steps\": 1000 }`",
                    ));
                };
                reject_duplicate_keys(src, limits, None)?;
                for p in &limits.properties {
                    if p.name.as_str() == "steps" {
                        facts.steps = Some(match &p.value {
                            Value::NumberLit(n) => n.value.parse::<i64>().ok(),
                            _ => None,
                        });
                    } else {
                        facts.other_keys.push(format!("limits.{}", p.name.as_str()));
                    }
                }
                if limits.properties.is_empty() {
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
fn schedules_of(value: &Value<'_>) -> Option<Vec<String>> {
    match value {
        Value::StringLit(s) => Some(vec![s.value.to_string()]),
        Value::Array(a) => a
            .elements
            .iter()
            .map(|e| match e {
                Value::StringLit(s) => Some(s.value.to_string()),
                _ => None,
            })
            .collect(),
        _ => None,
    }
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
