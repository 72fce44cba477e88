//! Property tests of the reconciliation. On random `wrangler.toml` documents (root keys, tables,
//! arrays of tables, comments everywhere, `[env.staging]` with its own workflows, top-level
//! `[[workflows]]` entries in every shape, CRLF or LF, with or without a final newline) and on
//! random `wrangler.jsonc` documents (line and block comments, trailing commas or not, tabs or
//! spaces), with random workflows, reconciliation
//! - never drops or changes a key it does not own: every key path of the input other than the
//!   declared `schedules` / `limits.steps` of a matched entry keeps its value;
//! - never drops a comment: every comment of the input is still there, once;
//! - leaves every workflow with an entry holding its declared settings;
//! - is idempotent: a second run gives the same text and `changed == false`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use lunora_codegen::spec::{Location, WorkflowSpec};
use lunora_codegen::wrangler::{reconcile_toml, ReconcileOptions};
use proptest::prelude::*;
use toml_edit::{DocumentMut, Item, Table, Value};

const CLASSES: [&str; 4] = ["C0Workflow", "C1Workflow", "C2Workflow", "C3Workflow"];
const CRONS: [&str; 3] = ["0 * * * *", "*/5 * * * *", "30 2 * * 1"];

// ---------------------------------------------------------------------------------------------
// The generated document, before rendering.

#[derive(Clone, Debug)]
enum Schedules {
    None,
    One(usize),
    Many(Vec<usize>),
}

#[derive(Clone, Debug)]
enum LimitsForm {
    Inline,
    Dotted,
    Subtable,
}

#[derive(Clone, Debug)]
struct Limits {
    form: LimitsForm,
    steps: Option<i64>,
    other: bool,
}

#[derive(Clone, Debug)]
struct Entry {
    class: usize,
    name: Option<usize>,
    binding: Option<usize>,
    script_name: bool,
    schedules: Schedules,
    limits: Option<Limits>,
    extras: Vec<String>,
    comments: Vec<bool>,
    indent: bool,
}

#[derive(Clone, Debug)]
enum Part {
    Table(Vec<String>),
    SubTable(Vec<String>),
    KvArray(Vec<String>),
    Workflow(Entry),
    Env(Vec<Entry>),
}

#[derive(Clone, Debug)]
struct Doc {
    header_comment: bool,
    main: Option<bool>,
    root: Vec<String>,
    parts: Vec<Part>,
    blank_lines: Vec<usize>,
    crlf: bool,
    final_newline: bool,
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i32>().prop_map(|n| n.to_string()),
        "[a-z #=\\[\\]{}\"é]{0,8}".prop_map(|s| format!("{s:?}")),
        any::<bool>().prop_map(|b| b.to_string()),
        proptest::collection::vec(0u8..100, 0..4)
            .prop_map(|v| format!("[{}]", v.iter().map(u8::to_string).collect::<Vec<_>>().join(", "))),
        (0u8..100, "[a-z]{1,5}").prop_map(|(n, s)| format!("{{ n = {n}, s = \"{s}\" }}")),
        Just("'literal # not a comment'".to_owned()),
        Just("\"\"\"\nmulti\n# not a comment\n\"\"\"".to_owned()),
    ]
}

fn values(max: usize) -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(value(), 0..max)
}

fn schedules() -> impl Strategy<Value = Schedules> {
    prop_oneof![
        Just(Schedules::None),
        (0..CRONS.len()).prop_map(Schedules::One),
        proptest::collection::vec(0..CRONS.len(), 0..3).prop_map(Schedules::Many),
    ]
}

fn limits() -> impl Strategy<Value = Option<Limits>> {
    proptest::option::of(
        (
            prop_oneof![Just(LimitsForm::Inline), Just(LimitsForm::Dotted), Just(LimitsForm::Subtable)],
            proptest::option::of(1i64..2000),
            any::<bool>(),
        )
            .prop_map(|(form, steps, other)| Limits { form, steps, other }),
    )
}

fn entry() -> impl Strategy<Value = Entry> {
    (
        0..CLASSES.len(),
        proptest::option::of(0usize..3),
        proptest::option::of(0usize..3),
        proptest::bool::weighted(0.2),
        schedules(),
        limits(),
        values(3),
        proptest::collection::vec(any::<bool>(), 12),
        any::<bool>(),
    )
        .prop_map(|(class, name, binding, script_name, schedules, limits, extras, comments, indent)| Entry {
            class,
            name,
            binding,
            script_name,
            schedules,
            limits,
            extras,
            comments,
            indent,
        })
}

fn part() -> impl Strategy<Value = Part> {
    prop_oneof![
        1 => values(4).prop_map(Part::Table),
        1 => values(3).prop_map(Part::SubTable),
        1 => values(3).prop_map(Part::KvArray),
        3 => entry().prop_map(Part::Workflow),
        1 => proptest::collection::vec(entry(), 0..3).prop_map(Part::Env),
    ]
}

fn doc() -> impl Strategy<Value = Doc> {
    (
        any::<bool>(),
        proptest::option::of(any::<bool>()),
        values(5),
        proptest::collection::vec(part(), 0..8),
        proptest::collection::vec(0usize..3, 10),
        proptest::bool::weighted(0.2),
        proptest::bool::weighted(0.8),
    )
        .prop_map(|(header_comment, main, root, parts, blank_lines, crlf, final_newline)| {
            // At most one `[env.staging]`; top-level entries that are not ambiguous.
            let mut seen_env = false;
            let mut kept: Vec<Entry> = Vec::new();
            let parts = parts
                .into_iter()
                .filter(|p| !matches!(p, Part::Env(_)) || !std::mem::replace(&mut seen_env, true))
                .filter(|p| match p {
                    Part::Workflow(e) if conflicts(&kept, e) => false,
                    Part::Workflow(e) => {
                        kept.push(e.clone());
                        true
                    }
                    _ => true,
                })
                .collect();
            Doc { header_comment, main, root, parts, blank_lines, crlf, final_newline }
        })
}

/// Whether `e` would make the top-level entries ambiguous next to `earlier`: the same
/// `class_name` or `name` as another entry without `script_name`, or the same `binding` as any.
fn conflicts(earlier: &[Entry], e: &Entry) -> bool {
    earlier.iter().any(|o| {
        let local = !o.script_name && !e.script_name;
        (local && o.class == e.class)
            || (local && o.name.is_some() && o.name == e.name)
            || (o.binding.is_some() && o.binding == e.binding)
    })
}

/// `entries` without the ones that conflict with an earlier one.
fn distinct(entries: Vec<Entry>) -> Vec<Entry> {
    let mut kept: Vec<Entry> = Vec::new();
    for e in entries {
        if !conflicts(&kept, &e) {
            kept.push(e);
        }
    }
    kept
}

/// Whether `e` is a top-level entry of a declared workflow that names or binds it otherwise
/// than the workflow (the generator's names `n…` and bindings `B…` are never a workflow's).
fn disagrees(e: &Entry, declared: &[usize]) -> bool {
    !e.script_name && declared.contains(&e.class) && (e.name.is_some() || e.binding.is_some())
}

/// `e` without the `name` and `binding` that would disagree with its declared workflow (see
/// [`disagrees`], which the reconciliation refuses): sync fills them in instead.
fn agreeing(mut e: Entry, declared: &[usize]) -> Entry {
    if disagrees(&e, declared) {
        e.name = None;
        e.binding = None;
    }
    e
}

#[derive(Clone, Debug)]
struct SpecGen {
    schedules: Vec<usize>,
    steps: Option<u32>,
}

fn specs() -> impl Strategy<Value = Vec<(usize, SpecGen)>> {
    proptest::collection::vec(
        (proptest::collection::vec(0..CRONS.len(), 0..3), proptest::option::of(1u32..2000))
            .prop_map(|(schedules, steps)| SpecGen { schedules, steps }),
        CLASSES.len(),
    )
    .prop_flat_map(|gens| {
        proptest::sample::subsequence((0..CLASSES.len()).collect::<Vec<_>>(), 0..=CLASSES.len())
            .prop_map(move |idx| idx.into_iter().map(|i| (i, gens[i].clone())).collect())
    })
}

fn to_specs(gens: &[(usize, SpecGen)]) -> Vec<WorkflowSpec> {
    gens.iter()
        .map(|(i, g)| WorkflowSpec {
            export_name: format!("c{i}"),
            descriptor_path: format!("C{i}Workflow"),
            deployed_name: format!("c{i}"),
            binding: format!("WORKFLOW_C{i}"),
            class_name: CLASSES[*i].to_owned(),
            schedules: g.schedules.iter().map(|&c| CRONS[c].to_owned()).collect(),
            step_limit: g.steps,
            cfg: None,
            location: Location { file: PathBuf::from("src/lib.rs"), line: 1, column: 1 },
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Rendering, with every comment numbered so its survival can be checked.

struct Out {
    text: String,
    comments: Vec<String>,
}

impl Out {
    fn comment(&mut self) -> String {
        let token = format!("note{};", self.comments.len());
        self.comments.push(token.clone());
        format!("# {token}")
    }

    fn line(&mut self, indent: bool, text: &str, trailing_comment: bool) {
        if indent {
            self.text.push_str("  ");
        }
        self.text.push_str(text);
        if trailing_comment {
            let c = self.comment();
            self.text.push(' ');
            self.text.push_str(&c);
        }
        self.text.push('\n');
    }

    fn comment_line(&mut self, when: bool) {
        if when {
            let c = self.comment();
            self.text.push_str(&c);
            self.text.push('\n');
        }
    }
}

fn kvs(out: &mut Out, prefix: &str, values: &[String], comment_every: usize) {
    for (i, v) in values.iter().enumerate() {
        let eq = if i % 3 == 1 { "=" } else { " = " };
        out.line(false, &format!("{prefix}{i}{eq}{v}"), i % comment_every == 0);
    }
}

fn render_entry(out: &mut Out, header: &str, e: &Entry) {
    let c = |i: usize| e.comments[i % e.comments.len()];
    out.comment_line(c(0));
    out.line(false, &format!("[[{header}]]"), c(1));
    out.comment_line(c(2));
    let ind = e.indent;
    if let Some(n) = e.name {
        out.line(ind, &format!("name = \"n{n}\""), c(3));
    }
    if let Some(b) = e.binding {
        out.line(ind, &format!("binding = \"B{b}\""), false);
    }
    out.line(ind, &format!("class_name = \"{}\"", CLASSES[e.class]), c(4));
    if e.script_name {
        out.line(ind, "script_name = \"elsewhere\"", false);
    }
    out.comment_line(c(5));
    match &e.schedules {
        Schedules::None => {}
        Schedules::One(i) => out.line(ind, &format!("schedules = \"{}\"", CRONS[*i]), c(6)),
        Schedules::Many(v) => {
            let items: Vec<String> = v.iter().map(|&i| format!("\"{}\"", CRONS[i])).collect();
            if c(7) && !items.is_empty() {
                out.line(ind, &format!("schedules = [\n  {},\n]", items.join(",\n  ")), c(6));
            } else {
                out.line(ind, &format!("schedules = [{}]", items.join(", ")), c(6));
            }
        }
    }
    for (i, v) in e.extras.iter().enumerate() {
        out.line(ind, &format!("x{i} = {v}"), c(8 + i));
    }
    if let Some(l) = &e.limits {
        match l.form {
            LimitsForm::Inline => {
                let mut pairs = Vec::new();
                if let Some(s) = l.steps {
                    pairs.push(format!("steps = {s}"));
                }
                if l.other {
                    pairs.push("cpu_ms = 5".to_owned());
                }
                let inner = if pairs.is_empty() { String::new() } else { format!(" {} ", pairs.join(", ")) };
                out.line(ind, &format!("limits = {{{inner}}}"), c(9));
            }
            LimitsForm::Dotted => {
                if let Some(s) = l.steps {
                    out.line(ind, &format!("limits.steps = {s}"), c(9));
                }
                if l.other {
                    out.line(ind, "limits.cpu_ms = 5", false);
                }
            }
            LimitsForm::Subtable => {
                out.comment_line(c(10));
                out.line(false, &format!("[{header}.limits]"), c(11));
                if let Some(s) = l.steps {
                    out.line(ind, &format!("steps = {s}"), c(9));
                }
                if l.other {
                    out.line(ind, "cpu_ms = 5", false);
                }
            }
        }
    }
    out.comment_line(c(3) && c(11));
}

fn render(doc: &Doc) -> (String, Vec<String>) {
    let mut out = Out { text: String::new(), comments: Vec::new() };
    out.comment_line(doc.header_comment);
    out.line(false, "name = \"shop\"", doc.header_comment);
    match doc.main {
        Some(true) => out.line(false, "main = \"build/worker/shim.mjs\"", true),
        Some(false) => out.line(false, "main = \"src/index.js\"", false),
        None => {}
    }
    kvs(&mut out, "k", &doc.root, 2);
    for (i, part) in doc.parts.iter().enumerate() {
        for _ in 0..doc.blank_lines[i % doc.blank_lines.len()] {
            out.text.push('\n');
        }
        match part {
            Part::Table(values) => {
                out.comment_line(i % 2 == 0);
                out.line(false, &format!("[t{i}]"), i % 3 == 0);
                kvs(&mut out, "v", values, 2);
            }
            Part::SubTable(values) => {
                out.line(false, &format!("[s{i}.inner]"), false);
                kvs(&mut out, "v", values, 3);
            }
            Part::KvArray(values) => {
                out.line(false, &format!("[[a{i}]]"), true);
                kvs(&mut out, "v", values, 1);
            }
            Part::Workflow(e) => render_entry(&mut out, "workflows", e),
            Part::Env(entries) => {
                out.comment_line(true);
                out.line(false, "[env.staging]", false);
                out.line(false, "name = \"shop-staging\"", true);
                for e in entries {
                    out.text.push('\n');
                    render_entry(&mut out, "env.staging.workflows", e);
                }
            }
        }
    }
    let mut text = out.text;
    if !doc.final_newline {
        while text.ends_with('\n') {
            text.pop();
        }
    }
    if doc.crlf {
        text = text.replace('\n', "\r\n");
    }
    (text, out.comments)
}

// ---------------------------------------------------------------------------------------------
// Checking.

/// Every key path of a document (array elements and `[[…]]` tables by index) with a canonical
/// rendering of its value (containers as markers, their contents under their own paths).
fn flatten(text: &str) -> BTreeMap<String, String> {
    fn item(path: String, it: &Item, out: &mut BTreeMap<String, String>) {
        match it {
            Item::None => {}
            Item::Value(v) => value(path, v, out),
            Item::Table(t) => table(path, t, out),
            Item::ArrayOfTables(a) => {
                out.insert(path.clone(), "[array]".into());
                for (i, t) in a.iter().enumerate() {
                    table(format!("{path}[{i}]"), t, out);
                }
            }
        }
    }
    fn table(path: String, t: &Table, out: &mut BTreeMap<String, String>) {
        out.insert(path.clone(), "{table}".into());
        for (k, it) in t.iter() {
            item(format!("{path}.{k}"), it, out);
        }
    }
    fn value(path: String, v: &Value, out: &mut BTreeMap<String, String>) {
        match v {
            Value::Array(a) => {
                out.insert(path.clone(), "[array]".into());
                for (i, e) in a.iter().enumerate() {
                    value(format!("{path}[{i}]"), e, out);
                }
            }
            Value::InlineTable(t) => {
                out.insert(path.clone(), "{table}".into());
                for (k, e) in t.iter() {
                    value(format!("{path}.{k}"), e, out);
                }
            }
            Value::String(s) => {
                out.insert(path, format!("string {:?}", s.value()));
            }
            other => {
                out.insert(path, other.clone().decorated("", "").to_string());
            }
        }
    }
    let doc: DocumentMut = text.parse().expect("parses");
    let mut out = BTreeMap::new();
    table(String::new(), doc.as_table(), &mut out);
    out
}

fn top_level_entries(text: &str) -> Vec<Table> {
    let doc: DocumentMut = text.parse().expect("parses");
    match doc.get("workflows") {
        Some(Item::ArrayOfTables(a)) => a.iter().cloned().collect(),
        _ => Vec::new(),
    }
}

fn schedules_of(t: &Table) -> Option<Vec<String>> {
    match t.get("schedules")?.as_value()? {
        Value::String(s) => Some(vec![s.value().clone()]),
        Value::Array(a) => a.iter().map(|v| v.as_str().map(str::to_owned)).collect(),
        _ => None,
    }
}

fn steps_of(t: &Table) -> Option<i64> {
    t.get("limits")?.as_table_like()?.get("steps")?.as_integer()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn reconciliation_keeps_what_it_does_not_own_and_is_idempotent(mut doc in doc(), gens in specs()) {
        let declared: Vec<usize> = gens.iter().map(|(i, _)| *i).collect();
        for part in &mut doc.parts {
            if let Part::Workflow(e) = part {
                *e = agreeing(e.clone(), &declared);
            }
        }
        let (input, comments) = render(&doc);
        let specs = to_specs(&gens);
        prop_assert!(input.parse::<DocumentMut>().is_ok(), "the generator made invalid TOML:\n{}", input);
        let opts = ReconcileOptions { entry_module: Some("build/lunora-entry.mjs") };
        let out = reconcile_toml(&input, &specs, &opts)
            .unwrap_or_else(|e| panic!("{e}\n--- input ---\n{input}"));
        let ctx = format!("--- input ---\n{input}\n--- output ---\n{}", out.text);
        prop_assert_eq!(out.changed, out.text != input);

        // Comments: every one still there, once.
        for c in &comments {
            prop_assert_eq!(out.text.matches(c.as_str()).count(), 1, "comment {} lost or doubled\n{}", c, ctx);
        }

        // Keys: every path keeps its value, except what the reconciliation owns.
        let before = flatten(&input);
        let after = flatten(&out.text);
        let entries = top_level_entries(&input);
        let mut owned: Vec<String> = Vec::new();
        for (i, t) in entries.iter().enumerate() {
            if t.contains_key("script_name") {
                continue;
            }
            let class = t.get("class_name").and_then(Item::as_str).unwrap_or_default();
            if let Some(spec) = specs.iter().find(|s| s.class_name == class) {
                if !spec.schedules.is_empty() {
                    owned.push(format!(".workflows[{i}].schedules"));
                }
                if spec.step_limit.is_some() {
                    owned.push(format!(".workflows[{i}].limits.steps"));
                }
            }
        }
        for (path, v) in &before {
            if path == ".main" {
                continue;
            }
            if owned.iter().any(|o| path == o || path.starts_with(&format!("{o}["))) {
                continue;
            }
            prop_assert_eq!(after.get(path), Some(v), "{} changed\n{}", path, ctx);
        }
        let main = before.get(".main").map(String::as_str);
        let expected_main = match main {
            Some("string \"build/worker/shim.mjs\"") => Some("string \"build/lunora-entry.mjs\""),
            other => other,
        };
        prop_assert_eq!(after.get(".main").map(String::as_str), expected_main, "main\n{}", ctx);

        // Every workflow has an entry with its declared settings.
        let entries_after = top_level_entries(&out.text);
        for spec in &specs {
            let mine: Vec<&Table> = entries_after
                .iter()
                .filter(|t| !t.contains_key("script_name"))
                .filter(|t| t.get("class_name").and_then(Item::as_str) == Some(spec.class_name.as_str()))
                .collect();
            prop_assert!(!mine.is_empty(), "no entry for {}\n{}", spec.class_name, ctx);
            for t in mine {
                if !spec.schedules.is_empty() {
                    prop_assert_eq!(schedules_of(t), Some(spec.schedules.clone()), "schedules\n{}", ctx);
                }
                if let Some(steps) = spec.step_limit {
                    prop_assert_eq!(steps_of(t), Some(i64::from(steps)), "steps\n{}", ctx);
                }
            }
        }
        // The env section is untouched.
        for (path, v) in &before {
            if path.starts_with(".env") {
                prop_assert_eq!(after.get(path), Some(v));
            }
        }

        // Idempotent.
        let again = reconcile_toml(&out.text, &specs, &opts).unwrap_or_else(|e| panic!("{e}\n{ctx}"));
        prop_assert!(!again.changed, "second run changed the text\n{}\n--- again ---\n{}", ctx, again.text);
        prop_assert_eq!(&again.text, &out.text);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Top-level entries are refused exactly when two of them are ambiguous (see `conflicts`),
    /// with the error at the later one, or when the workflow's entry names or binds it
    /// otherwise (see `disagrees`); `[env.*]` entries are never looked at.
    #[test]
    fn ambiguous_entries_are_refused_and_only_they(
        entries in proptest::collection::vec(entry(), 0..5),
        env in proptest::collection::vec(entry(), 0..3),
    ) {
        let mut out = Out { text: String::from("name = \"shop\"\n"), comments: Vec::new() };
        for e in &entries {
            render_entry(&mut out, "workflows", e);
        }
        out.line(false, "[env.staging]", false);
        for e in &env {
            render_entry(&mut out, "env.staging.workflows", e);
        }
        let input = out.text;
        let ambiguous = entries.iter().enumerate().any(|(i, e)| conflicts(&entries[..i], e));
        // Checked after ambiguity: the entry of class 0 with another name or binding.
        let disagreeing = entries.iter().any(|e| disagrees(e, &[0]));
        let specs = to_specs(&[(0, SpecGen { schedules: vec![0], steps: Some(5) })]);
        let result = reconcile_toml(&input, &specs, &ReconcileOptions::default());
        match result {
            Ok(_) => prop_assert!(!ambiguous && !disagreeing, "accepted:\n{}", input),
            Err(e) if ambiguous => {
                prop_assert!(e.message.starts_with("another workflows entry, at "), "{}", e);
            }
            Err(e) => {
                prop_assert!(disagreeing, "refused: {}\n{}", e, input);
                let prefix = format!("workflows entry {} ", CLASSES[0]);
                prop_assert!(e.message.starts_with(&prefix), "{}", e);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The same properties for wrangler.jsonc: random objects with line and block comments, trailing
// commas or not, tabs or spaces, a top-level "workflows" array somewhere (or none) and an
// "env" with its own.

mod jsonc {
    use std::collections::BTreeMap;

    use jsonc_parser::ast::{Object, Value};
    use jsonc_parser::{parse_to_ast, CollectOptions, ParseOptions};
    use lunora_codegen::wrangler::{reconcile_jsonc, ReconcileOptions};
    use proptest::prelude::*;

    use super::{agreeing, specs, to_specs, Entry, LimitsForm, Schedules, CLASSES, CRONS};

    /// A JSON value to render: a leaf as written, or a container.
    enum J {
        Raw(String),
        /// A multi-line array without comments (a value the reconciliation may own).
        Lines(Vec<String>),
        Obj(Vec<(String, J)>),
        Arr(Vec<J>),
    }

    fn leaf() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<i32>().prop_map(|n| n.to_string()),
            "[a-z /*#,{}\\[\\]é]{0,8}".prop_map(|s| format!("{s:?}")),
            any::<bool>().prop_map(|b| b.to_string()),
            Just("null".to_owned()),
            Just("[1, 2]".to_owned()),
            Just("{ \"n\": 1 }".to_owned()),
            Just("\"// not a comment\"".to_owned()),
        ]
    }

    #[derive(Clone, Debug)]
    pub(super) struct JDoc {
        root: Vec<String>,
        main: Option<bool>,
        workflows: Option<(usize, Vec<Entry>)>,
        env: Option<Vec<Entry>>,
        indent: usize,
        trailing_commas: bool,
        comments: Vec<bool>,
    }

    pub(super) fn jdoc() -> impl Strategy<Value = JDoc> {
        (
            proptest::collection::vec(leaf(), 0..5),
            proptest::option::of(any::<bool>()),
            proptest::option::of((0usize..6, proptest::collection::vec(super::entry(), 0..4))),
            proptest::option::of(proptest::collection::vec(super::entry(), 0..2)),
            0usize..3,
            any::<bool>(),
            proptest::collection::vec(any::<bool>(), 1..16),
        )
            .prop_map(|(root, main, workflows, env, indent, trailing_commas, comments)| JDoc {
                root,
                main,
                workflows: workflows.map(|(at, entries)| (at, super::distinct(entries))),
                env,
                indent,
                trailing_commas,
                comments,
            })
    }

    fn entry_json(e: &Entry) -> J {
        let mut props = Vec::new();
        if let Some(n) = e.name {
            props.push(("name".to_owned(), J::Raw(format!("\"n{n}\""))));
        }
        if let Some(b) = e.binding {
            props.push(("binding".to_owned(), J::Raw(format!("\"B{b}\""))));
        }
        props.push(("class_name".to_owned(), J::Raw(format!("\"{}\"", CLASSES[e.class]))));
        if e.script_name {
            props.push(("script_name".to_owned(), J::Raw("\"elsewhere\"".to_owned())));
        }
        match &e.schedules {
            Schedules::None => {}
            Schedules::One(i) => props.push(("schedules".to_owned(), J::Raw(format!("\"{}\"", CRONS[*i])))),
            Schedules::Many(v) => {
                props.push(("schedules".to_owned(), J::Lines(v.iter().map(|&i| format!("\"{}\"", CRONS[i])).collect())))
            }
        }
        for (i, v) in e.extras.iter().enumerate() {
            // TOML-flavoured extras are not JSON; keep their shape as a string.
            props.push((format!("x{i}"), J::Raw(format!("{v:?}"))));
        }
        if let Some(l) = &e.limits {
            let mut inner = Vec::new();
            if let Some(s) = l.steps {
                inner.push(("steps".to_owned(), J::Raw(s.to_string())));
            }
            if l.other {
                inner.push(("cpu_ms".to_owned(), J::Raw("5".to_owned())));
            }
            let limits = match l.form {
                // One-line and multi-line objects.
                LimitsForm::Inline => J::Raw(format!(
                    "{{{}}}",
                    inner
                        .iter()
                        .map(|(k, v)| format!(" \"{k}\": {}", if let J::Raw(r) = v { r } else { unreachable!() }))
                        .collect::<Vec<_>>()
                        .join(",")
                )),
                LimitsForm::Dotted | LimitsForm::Subtable => J::Obj(inner),
            };
            props.push(("limits".to_owned(), limits));
        }
        J::Obj(props)
    }

    struct Out {
        text: String,
        comments: Vec<String>,
        flags: Vec<bool>,
        next: usize,
        unit: &'static str,
        trailing_commas: bool,
    }

    impl Out {
        fn flag(&mut self) -> bool {
            self.next += 1;
            self.flags[self.next % self.flags.len()]
        }

        fn comment(&mut self, block: bool) -> String {
            let token = format!("note{};", self.comments.len());
            self.comments.push(token.clone());
            if block {
                format!("/* {token} */")
            } else {
                format!("// {token}")
            }
        }

        fn indent(&mut self, depth: usize) {
            for _ in 0..depth {
                self.text.push_str(self.unit);
            }
        }

        fn value(&mut self, j: &J, depth: usize) {
            match j {
                J::Raw(r) => self.text.push_str(r),
                J::Lines(items) => {
                    self.text.push('[');
                    for (i, item) in items.iter().enumerate() {
                        self.text.push('\n');
                        self.indent(depth + 1);
                        self.text.push_str(item);
                        if i + 1 < items.len() || self.trailing_commas {
                            self.text.push(',');
                        }
                    }
                    self.text.push('\n');
                    self.indent(depth);
                    self.text.push(']');
                }
                J::Arr(items) if items.is_empty() => self.text.push_str("[]"),
                J::Obj(props) if props.is_empty() => self.text.push_str("{}"),
                J::Arr(items) => {
                    self.text.push_str("[\n");
                    for (i, item) in items.iter().enumerate() {
                        self.member(depth + 1, None, item, i + 1 == items.len());
                    }
                    self.indent(depth);
                    self.text.push(']');
                }
                J::Obj(props) => {
                    self.text.push_str("{\n");
                    for (i, (k, v)) in props.iter().enumerate() {
                        self.member(depth + 1, Some(k), v, i + 1 == props.len());
                    }
                    self.indent(depth);
                    self.text.push('}');
                }
            }
        }

        fn member(&mut self, depth: usize, key: Option<&str>, v: &J, last: bool) {
            if self.flag() {
                self.indent(depth);
                let c = self.comment(false);
                self.text.push_str(&c);
                self.text.push('\n');
            }
            self.indent(depth);
            if let Some(k) = key {
                self.text.push_str(&format!("\"{k}\": "));
            }
            self.value(v, depth);
            if !last || self.trailing_commas {
                self.text.push(',');
            }
            if self.flag() {
                let block = self.flag();
                let c = self.comment(block);
                self.text.push(' ');
                self.text.push_str(&c);
            }
            self.text.push('\n');
        }
    }

    pub(super) fn render(doc: &JDoc) -> (String, Vec<String>) {
        let mut props: Vec<(String, J)> =
            doc.root.iter().enumerate().map(|(i, v)| (format!("k{i}"), J::Raw(v.clone()))).collect();
        match doc.main {
            Some(true) => props.insert(0, ("main".into(), J::Raw("\"build/worker/shim.mjs\"".into()))),
            Some(false) => props.insert(0, ("main".into(), J::Raw("\"src/index.js\"".into()))),
            None => {}
        }
        if let Some((at, entries)) = &doc.workflows {
            let at = (*at).min(props.len());
            props.insert(at, ("workflows".into(), J::Arr(entries.iter().map(entry_json).collect())));
        }
        if let Some(entries) = &doc.env {
            let staging = J::Obj(vec![
                ("name".into(), J::Raw("\"shop-staging\"".into())),
                ("workflows".into(), J::Arr(entries.iter().map(entry_json).collect())),
            ]);
            props.push(("env".into(), J::Obj(vec![("staging".into(), staging)])));
        }
        let mut out = Out {
            text: String::new(),
            comments: Vec::new(),
            flags: doc.comments.clone(),
            next: 0,
            unit: ["  ", "    ", "\t"][doc.indent],
            trailing_commas: doc.trailing_commas,
        };
        if out.flag() {
            let c = out.comment(true);
            out.text.push_str(&c);
            out.text.push('\n');
        }
        out.value(&J::Obj(props), 0);
        out.text.push('\n');
        if out.flag() {
            let c = out.comment(false);
            out.text.push_str(&c);
            out.text.push('\n');
        }
        (out.text, out.comments)
    }

    fn parse(text: &str) -> Option<Value<'_>> {
        parse_to_ast(text, &CollectOptions::default(), &ParseOptions::default()).expect("parses").value
    }

    fn flatten(text: &str) -> BTreeMap<String, String> {
        fn walk(path: String, v: &Value<'_>, out: &mut BTreeMap<String, String>) {
            match v {
                Value::Object(o) => {
                    out.insert(path.clone(), "{object}".into());
                    for p in &o.properties {
                        walk(format!("{path}.{}", p.name.as_str()), &p.value, out);
                    }
                }
                Value::Array(a) => {
                    out.insert(path.clone(), "[array]".into());
                    for (i, e) in a.elements.iter().enumerate() {
                        walk(format!("{path}[{i}]"), e, out);
                    }
                }
                Value::StringLit(s) => {
                    out.insert(path, format!("string {:?}", s.value));
                }
                Value::NumberLit(n) => {
                    out.insert(path, format!("number {}", n.value));
                }
                Value::BooleanLit(b) => {
                    out.insert(path, format!("bool {}", b.value));
                }
                Value::NullKeyword(_) => {
                    out.insert(path, "null".into());
                }
            }
        }
        let mut out = BTreeMap::new();
        if let Some(v) = parse(text) {
            walk(String::new(), &v, &mut out);
        }
        out
    }

    fn entries<'a>(root: &'a Option<Value<'a>>) -> Vec<&'a Object<'a>> {
        match root {
            Some(Value::Object(o)) => o
                .get_array("workflows")
                .map(|a| {
                    a.elements.iter().filter_map(|e| if let Value::Object(o) = e { Some(o) } else { None }).collect()
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    fn schedules_of(o: &Object<'_>) -> Option<Vec<String>> {
        match &o.get("schedules")?.value {
            Value::StringLit(s) => Some(vec![s.value.to_string()]),
            Value::Array(a) => a
                .elements
                .iter()
                .map(|e| if let Value::StringLit(s) = e { Some(s.value.to_string()) } else { None })
                .collect(),
            _ => None,
        }
    }

    fn steps_of(o: &Object<'_>) -> Option<i64> {
        o.get_object("limits")?.get_number("steps")?.value.parse().ok()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn jsonc_reconciliation_keeps_what_it_does_not_own_and_is_idempotent(mut doc in jdoc(), gens in specs()) {
            let declared: Vec<usize> = gens.iter().map(|(i, _)| *i).collect();
            if let Some((_, entries)) = &mut doc.workflows {
                *entries = entries.drain(..).map(|e| agreeing(e, &declared)).collect();
            }
            let (input, comments) = render(&doc);
            prop_assert!(
                parse_to_ast(&input, &CollectOptions::default(), &ParseOptions::default()).is_ok(),
                "the generator made invalid JSONC:\n{}", input
            );
            let specs = to_specs(&gens);
            let opts = ReconcileOptions { entry_module: Some("build/lunora-entry.mjs") };
            let out = reconcile_jsonc(&input, &specs, &opts)
                .unwrap_or_else(|e| panic!("{e}\n--- input ---\n{input}"));
            let ctx = format!("--- input ---\n{input}\n--- output ---\n{}", out.text);
            prop_assert_eq!(out.changed, out.text != input);

            for c in &comments {
                prop_assert_eq!(out.text.matches(c.as_str()).count(), 1, "comment {} lost or doubled\n{}", c, ctx);
            }

            let before = flatten(&input);
            let after = flatten(&out.text);
            let root = parse(&input);
            let mut owned: Vec<String> = vec![".main".into()];
            for (i, o) in entries(&root).iter().enumerate() {
                if o.get("script_name").is_some() {
                    continue;
                }
                let class = o.get_string("class_name").map(|s| s.value.to_string()).unwrap_or_default();
                if let Some(spec) = specs.iter().find(|s| s.class_name == class) {
                    if !spec.schedules.is_empty() {
                        owned.push(format!(".workflows[{i}].schedules"));
                    }
                    if spec.step_limit.is_some() {
                        owned.push(format!(".workflows[{i}].limits.steps"));
                    }
                }
            }
            for (path, v) in &before {
                if owned.iter().any(|o| path == o || path.starts_with(&format!("{o}["))) {
                    continue;
                }
                prop_assert_eq!(after.get(path), Some(v), "{} changed\n{}", path, ctx);
            }
            let expected_main = match before.get(".main").map(String::as_str) {
                Some("string \"build/worker/shim.mjs\"") => Some("string \"build/lunora-entry.mjs\""),
                other => other,
            };
            prop_assert_eq!(after.get(".main").map(String::as_str), expected_main, "main\n{}", ctx);

            let out_root = parse(&out.text);
            let entries_after = entries(&out_root);
            for spec in &specs {
                let mine: Vec<&&Object<'_>> = entries_after
                    .iter()
                    .filter(|o| o.get("script_name").is_none())
                    .filter(|o| o.get_string("class_name").map(|s| s.value.as_ref()) == Some(spec.class_name.as_str()))
                    .collect();
                prop_assert!(!mine.is_empty(), "no entry for {}\n{}", spec.class_name, ctx);
                for o in mine {
                    if !spec.schedules.is_empty() {
                        prop_assert_eq!(schedules_of(o), Some(spec.schedules.clone()), "schedules\n{}", ctx);
                    }
                    if let Some(steps) = spec.step_limit {
                        prop_assert_eq!(steps_of(o), Some(i64::from(steps)), "steps\n{}", ctx);
                    }
                }
            }

            let again = reconcile_jsonc(&out.text, &specs, &opts).unwrap_or_else(|e| panic!("{e}\n{ctx}"));
            prop_assert!(!again.changed, "second run changed the text\n{}\n--- again ---\n{}", ctx, again.text);
            prop_assert_eq!(&again.text, &out.text);
        }
    }
}
