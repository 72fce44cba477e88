//! Golden tests of the wrangler config reconciliation.
//!
//! Each case is a folder under `fixtures/wrangler/<case>/` with
//! - `input.toml`, `input.jsonc` or `input.json`: the config as the user has it;
//! - `workflows.json`: the scanned workflows, an array of
//!   `{"export": "orderPipeline", "schedules": [..], "steps": 500}` (class name, binding and
//!   deployed name follow from the export name; `"name"`, `"binding"`, `"class_name"` override);
//! - optionally `options.json`: `{"entry_module": "…" | null}` (default
//!   `"build/lunora-entry.mjs"`);
//! - `expected.<same extension>` and `expected.report.txt` (one finding per line).
//!
//! `BLESS=1 cargo test -p lunora-codegen --test wrangler` rewrites the expected files. Every case
//! also checks that reconciling the expected output changes nothing.

use std::fs;
use std::path::{Path, PathBuf};

use lunora_codegen::naming::WorkflowNames;
use lunora_codegen::spec::{Location, WorkflowSpec};
use lunora_codegen::wrangler::{
    reconcile_jsonc, reconcile_toml, ConfigError, ConfigFormat, Finding, ReconcileOptions, Reconciled,
};
use lunora_shared::golden::assert_golden;
use serde_json::Value;

const DEFAULT_ENTRY: &str = "build/lunora-entry.mjs";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/wrangler")
}

fn spec_from_json(v: &Value, index: usize) -> WorkflowSpec {
    let export = v["export"].as_str().expect("every workflow has an \"export\" name");
    let names = WorkflowNames::from_export_name(export);
    let text = |key: &str, default: String| v.get(key).and_then(Value::as_str).map_or(default, str::to_owned);
    WorkflowSpec {
        export_name: export.to_owned(),
        descriptor_path: format!("workflows::{}", names.class_name),
        deployed_name: text("name", names.default_name.clone()),
        binding: text("binding", names.binding.clone()),
        class_name: text("class_name", names.class_name.clone()),
        schedules: v
            .get("schedules")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|s| s.as_str().expect("schedules are strings").to_owned()).collect())
            .unwrap_or_default(),
        step_limit: v.get("steps").and_then(Value::as_u64).map(|n| u32::try_from(n).expect("steps fit u32")),
        cfg: None,
        location: Location { file: PathBuf::from("src/workflows.rs"), line: 10 * (index + 1), column: 1 },
    }
}

fn specs(dir: &Path) -> Vec<WorkflowSpec> {
    let text = fs::read_to_string(dir.join("workflows.json")).expect("workflows.json");
    let v: Value = serde_json::from_str(&text).expect("workflows.json is JSON");
    v.as_array().expect("workflows.json is an array").iter().enumerate().map(|(i, w)| spec_from_json(w, i)).collect()
}

fn entry_module(dir: &Path) -> Option<String> {
    match fs::read_to_string(dir.join("options.json")) {
        Err(_) => Some(DEFAULT_ENTRY.to_owned()),
        Ok(text) => {
            let v: Value = serde_json::from_str(&text).expect("options.json is JSON");
            v["entry_module"].as_str().map(str::to_owned)
        }
    }
}

fn report_text(report: &[Finding]) -> String {
    report.iter().map(|f| format!("{f}\n")).collect()
}

fn run_case(case: &str) {
    let dir = fixtures().join(case);
    let input = ["input.toml", "input.jsonc", "input.json"]
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{} has no input.toml/.jsonc/.json", dir.display()));
    let ext = input.extension().unwrap().to_str().unwrap().to_owned();
    let format = ConfigFormat::from_path(&input).unwrap();
    let source = fs::read_to_string(&input).unwrap();
    let specs = specs(&dir);
    let entry = entry_module(&dir);
    let opts = ReconcileOptions { entry_module: entry.as_deref() };

    let out = format.reconcile(&source, &specs, &opts).unwrap_or_else(|e| panic!("{case}: {e}"));
    assert_eq!(out.changed, out.text != source, "{case}: `changed` must say whether the text changed");
    assert_golden(&dir.join(format!("expected.{ext}")), &out.text);
    assert_golden(&dir.join("expected.report.txt"), &report_text(&out.report));

    // A second run on the output changes nothing.
    let again = format.reconcile(&out.text, &specs, &opts).unwrap_or_else(|e| panic!("{case} (second run): {e}"));
    assert!(!again.changed, "{case}: the second run changed the text:\n{}", again.text);
    assert_eq!(again.text, out.text, "{case}: the second run changed the text");
    assert!(
        !again.report.iter().any(|f| matches!(
            f,
            Finding::Added { .. } | Finding::Updated { .. } | Finding::Filled { .. } | Finding::MainRepointed { .. }
        )),
        "{case}: the second run still reports changes: {:?}",
        again.report
    );
}

macro_rules! golden {
    ($($case:ident),* $(,)?) => {
        $( #[test] fn $case() { run_case(stringify!($case)); } )*
        const CASES: &[&str] = &[$(stringify!($case)),*];
    };
}

golden! {
    toml_none,
    toml_minimal,
    toml_comments,
    toml_existing,
    toml_foreign,
    toml_orphans,
    toml_env,
    toml_main_shim,
    toml_undeclared,
    toml_reconciled,
    toml_inline_array,
    toml_limits_forms,
    toml_crlf_no_final_newline,
    toml_declared_names,
    jsonc_none,
    jsonc_comments,
    jsonc_existing,
    jsonc_reconciled,
    json_plain,
    jsonc_declared_names,
}

#[test]
fn every_fixture_folder_is_a_case() {
    let mut folders: Vec<String> = fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    folders.sort();
    let mut cases: Vec<String> = CASES.iter().map(|c| c.to_string()).collect();
    cases.sort();
    assert_eq!(folders, cases, "fixtures/wrangler folders and the cases in tests/wrangler.rs differ");
}

// ---------------------------------------------------------------------------------------------
// Errors.

fn spec(export: &str) -> WorkflowSpec {
    spec_from_json(&serde_json::json!({ "export": export, "schedules": ["0 * * * *"], "steps": 10 }), 0)
}

fn toml_err(src: &str) -> String {
    reconcile_toml(src, &[spec("orderPipeline")], &ReconcileOptions::default()).unwrap_err().to_string()
}

fn jsonc_err(src: &str) -> String {
    reconcile_jsonc(src, &[spec("orderPipeline")], &ReconcileOptions::default()).unwrap_err().to_string()
}

#[test]
fn malformed_toml_is_an_error_with_line_and_column() {
    assert_eq!(toml_err("name = \"x\"\nmain \"y\"\n"), "2:6: key with no value, expected `=`");
    assert_eq!(toml_err("name = \"x\"\n\n[[workflows]\nname = \"a\"\n"), "3:13: unclosed array table, expected `]`");
    assert_eq!(toml_err("a = 1\na = 2\n"), "2:1: duplicate key");
    assert_eq!(toml_err("s = \"unterminated\n"), "1:18: invalid basic string, expected `\"`");
    // Columns count characters, not bytes.
    assert_eq!(toml_err("név = \"é\" x\n"), "1:11: unexpected key or value, expected newline, `#`");
}

#[test]
fn misshapen_toml_workflows_are_errors_with_line_and_column() {
    assert_eq!(
        toml_err("name = \"x\"\nworkflows = \"nope\"\n"),
        "2:13: `workflows` must be an array of tables (`[[workflows]]`)"
    );
    assert_eq!(
        toml_err("[workflows]\nname = \"a\"\n"),
        "1:1: `workflows` must be an array of tables (`[[workflows]]`)"
    );
    assert_eq!(toml_err("workflows = [1]\n"), "1:14: each `workflows` entry must be a table");
    assert_eq!(
        toml_err("[[workflows]]\nname = \"a\"\nbinding = \"A\"\n"),
        "1:1: this workflows entry has no `class_name` (wrangler requires one)"
    );
    assert_eq!(toml_err("[[workflows]]\nclass_name = 5\n"), "2:14: `class_name` must be a string");
    assert_eq!(
        toml_err("[[workflows]]\nclass_name = \"OrderPipelineWorkflow\"\nlimits = 5\n"),
        "3:10: `limits` must be a table, e.g. `limits = { steps = 1000 }`"
    );
}

#[test]
fn malformed_jsonc_is_an_error_with_line_and_column() {
    assert_eq!(jsonc_err("{\n  \"name\": \"x\"\n  \"main\": \"y\"\n}\n"), "2:14: expected comma");
    assert_eq!(jsonc_err("{\n  \"name\": \"x\",\n  // c\n  \"main\": \n}\n"), "5:1: unexpected close brace");
    assert_eq!(jsonc_err("{\n  \"a\": [1, 2\n"), "2:8: unterminated array");
    assert_eq!(jsonc_err("{ name: 1 }"), "1:3: expected string for object property");
    assert_eq!(jsonc_err("{ \"a\": 'x' }"), "1:8: single-quoted strings are not allowed");
}

#[test]
fn misshapen_jsonc_workflows_are_errors_with_line_and_column() {
    assert_eq!(jsonc_err("[1, 2]\n"), "1:1: the top level must be an object");
    assert_eq!(jsonc_err("{\n  \"workflows\": {}\n}\n"), "2:16: `workflows` must be an array of objects");
    assert_eq!(
        jsonc_err("{\n  \"workflows\": [\n    \"x\"\n  ]\n}\n"),
        "3:5: each `workflows` entry must be an object"
    );
    assert_eq!(
        jsonc_err("{\n  \"workflows\": [\n    { \"name\": \"a\" }\n  ]\n}\n"),
        "3:5: this workflows entry has no `class_name` (wrangler requires one)"
    );
    assert_eq!(
        jsonc_err("{ \"workflows\": [{ \"class_name\": \"OrderPipelineWorkflow\", \"limits\": 3 }] }"),
        "1:68: `limits` must be an object, e.g. `\"limits\": { \"steps\": 1000 }`"
    );
}

/// With several mistakes, both syntaxes report the same first one: every entry's shape, then
/// entry by entry its keys (a key written twice, `class_name`, then `limits`), then entries
/// that clash with each other.
#[test]
fn the_first_mistake_is_reported_in_one_order_in_both_syntaxes() {
    // A later entry that is no table beats an earlier entry's missing `class_name`.
    assert_eq!(toml_err("workflows = [{ name = \"a\" }, 1]\n"), "1:30: each `workflows` entry must be a table");
    assert_eq!(
        jsonc_err("{ \"workflows\": [{ \"name\": \"a\" }, 1] }"),
        "1:34: each `workflows` entry must be an object"
    );
    // An earlier entry's missing `class_name` beats a later entry's key written twice.
    assert_eq!(
        jsonc_err(
            "{ \"workflows\": [{ \"name\": \"a\" }, { \"class_name\": \"B\", \"name\": \"b\", \"name\": \"c\" }] }"
        ),
        "1:17: this workflows entry has no `class_name` (wrangler requires one)"
    );
    // In one entry: a key written twice, then `class_name`, then a key written twice in `limits`.
    assert_eq!(
        jsonc_err("{ \"workflows\": [{ \"limits\": { \"steps\": 1, \"steps\": 2 }, \"name\": \"a\", \"name\": \"b\" }] }"),
        "1:70: duplicate key \"name\" (first at 1:57); wrangler would use this last one and ignore the first: remove one"
    );
    assert_eq!(
        jsonc_err("{ \"workflows\": [{ \"limits\": { \"steps\": 1, \"steps\": 2 } }] }"),
        "1:17: this workflows entry has no `class_name` (wrangler requires one)"
    );
    assert_eq!(
        jsonc_err("{ \"workflows\": [{ \"class_name\": \"A\", \"limits\": { \"steps\": 1, \"steps\": 2 } }] }"),
        "1:62: duplicate key \"steps\" (first at 1:50); wrangler would use this last one and ignore the first: remove one"
    );
    // Entries' own mistakes beat clashes between entries.
    assert_eq!(
        toml_err(
            "[[workflows]]\nclass_name = \"A\"\n\n[[workflows]]\nclass_name = \"A\"\n\n[[workflows]]\nname = \"x\"\n"
        ),
        "7:1: this workflows entry has no `class_name` (wrangler requires one)"
    );
}

#[test]
fn config_error_fields_match_its_display() {
    let e: ConfigError = reconcile_toml("x = \n", &[], &ReconcileOptions::default()).expect_err("a value is missing");
    assert_eq!(format!("{}:{}: {}", e.line, e.column, e.message), e.to_string());
}

// ---------------------------------------------------------------------------------------------
// Behaviour pinned outside the fixtures.

#[test]
fn script_name_entries_are_not_errors_even_without_class_name() {
    let src = "[[workflows]]\nname = \"other\"\nbinding = \"OTHER\"\nscript_name = \"billing\"\n";
    let out = reconcile_toml(src, &[], &ReconcileOptions::default()).unwrap();
    assert!(!out.changed);
    assert!(out.report.is_empty());
}

// ---------------------------------------------------------------------------------------------
// An entry that deploys or binds a workflow otherwise than the registry: refused, never kept.

/// The error about an entry of `OrderPipelineWorkflow` bound as `in_file`; `declare` is how the
/// message offers the `#[workflow(binding = …)]` way out (it depends on the value in the file).
fn binding_error(at: &str, in_file: &str, declare: &str) -> String {
    format!(
        "{at}: workflows entry OrderPipelineWorkflow binds workflow `orderPipeline` (src/workflows.rs:10:1) as \
         {in_file}, but the generated registry reaches it through the binding \"WORKFLOW_ORDER_PIPELINE\", so every \
         call would fail with workflow.not_found; sync does not rebind an existing entry (other code of the Worker \
         may use its binding). Declare the config's binding on the fn{declare}, or set this entry's binding to \
         \"WORKFLOW_ORDER_PIPELINE\" (or delete the key: sync then writes it) and rename {in_file} wherever else \
         the Worker uses it"
    )
}

/// [`binding_error`]'s way out for a valid binding in the file.
fn declare(binding: &str) -> String {
    format!(" (`#[workflow(binding = \"{binding}\")]`)")
}

/// [`binding_error`]'s way out for a value that is not a string.
const NOT_A_STRING: &str = " once the entry's binding is a string";

/// The error about an entry of `OrderPipelineWorkflow` deployed as `in_file`; `attribute` is
/// the suffix offering the `#[workflow(name = …)]` way out.
fn name_error(at: &str, in_file: &str, attribute: bool) -> String {
    let mut message = format!(
        "{at}: workflows entry OrderPipelineWorkflow deploys workflow `orderPipeline` (src/workflows.rs:10:1) as \
         name {in_file}, but the workflow declares the name \"order-pipeline\", which the generated registry, the \
         embedded engine and the REST API use; sync does not rename an existing entry (that would deploy a new \
         workflow). Set this entry's name to \"order-pipeline\" (instances started under the old name stay there)"
    );
    if attribute {
        message.push_str(&format!(", or declare `#[workflow(name = {in_file})]` on the fn"));
    }
    message
}

#[test]
fn an_entry_bound_under_another_binding_is_refused_at_its_binding() {
    let toml = "name = \"shop\"\n\n[[workflows]]\nname = \"order-pipeline\"\nbinding = \"MY_WORKFLOW\"\n\
                class_name = \"OrderPipelineWorkflow\"\n";
    assert_eq!(toml_err(toml), binding_error("5:11", "\"MY_WORKFLOW\"", &declare("MY_WORKFLOW")));
    let jsonc = "{\n  // ported from a JS Worker\n  \"workflows\": [\n    {\n      \"class_name\": \"OrderPipelineWorkflow\",\n      \
                 \"binding\": \"MY_WORKFLOW\",\n      \"name\": \"order-pipeline\"\n    }\n  ]\n}\n";
    assert_eq!(jsonc_err(jsonc), binding_error("6:18", "\"MY_WORKFLOW\"", &declare("MY_WORKFLOW")));
    // Plain JSON goes through the JSONC code; the entry's other settings do not change the verdict.
    let json = "{\"workflows\":[{\"class_name\":\"OrderPipelineWorkflow\",\"binding\":\"WORKFLOW_ORDERS\",\"schedules\":[\"0 * * * *\"]}]}";
    assert_eq!(jsonc_err(json), binding_error("1:63", "\"WORKFLOW_ORDERS\"", &declare("WORKFLOW_ORDERS")));
}

#[test]
fn an_entry_deployed_under_another_name_is_refused_at_its_name() {
    let toml = "[[workflows]]\nbinding = \"WORKFLOW_ORDER_PIPELINE\"\nclass_name = \"OrderPipelineWorkflow\"\n\
                name = \"legacy-orders\"   # deployed before the fn was renamed\n";
    assert_eq!(toml_err(toml), name_error("4:8", "\"legacy-orders\"", true));
    let jsonc = "{ \"workflows\": [ { \"name\": \"legacy-orders\", \"binding\": \"WORKFLOW_ORDER_PIPELINE\", \
                 \"class_name\": \"OrderPipelineWorkflow\" } ] }";
    assert_eq!(jsonc_err(jsonc), name_error("1:28", "\"legacy-orders\"", true));
    // Both differ: the name is reported (one error at a time, always the same one).
    let both =
        "[[workflows]]\nbinding = \"MY_WORKFLOW\"\nname = \"legacy-orders\"\nclass_name = \"OrderPipelineWorkflow\"\n";
    assert_eq!(toml_err(both), name_error("3:8", "\"legacy-orders\"", true));
}

/// The error when appending `orderPipeline`'s entry would reuse the `key` of the entry at `at`.
fn collision_error(at: &str, key: &str, value: &str, owner: &str) -> String {
    format!(
        "{at}: workflow `orderPipeline` (src/workflows.rs:10:1) needs a workflows entry with {key} \"{value}\", \
         which {owner} already uses: wrangler rejects two entries with one {key}, so sync adds nothing. If that \
         entry is this workflow's under another class name, set its class_name to \"OrderPipelineWorkflow\" (or \
         declare that class with `#[workflow(class = \"…\")]`); otherwise change its {key}, or the workflow's \
         (`#[workflow(name = \"…\")]` sets the deployed name, `binding = \"…\"` the binding)"
    )
}

/// Appending next to an entry that already uses the workflow's binding or name would write a
/// config wrangler rejects (and the next sync refuses): refused, the file untouched.
#[test]
fn an_entry_to_append_whose_binding_or_name_is_taken_is_refused_at_the_taken_one() {
    // A leftover of the workflow under its old class name keeps the derived binding.
    let toml =
        "[[workflows]]\nname = \"orders-v1\"\nbinding = \"WORKFLOW_ORDER_PIPELINE\"\nclass_name = \"OrdersWorkflow\"\n";
    let owner = "the workflows entry of class \"OrdersWorkflow\"";
    assert_eq!(toml_err(toml), collision_error("3:11", "binding", "WORKFLOW_ORDER_PIPELINE", owner));
    // Another Worker's workflow deployed under the same name.
    let jsonc = "{\n  \"workflows\": [\n    { \"name\": \"order-pipeline\", \"binding\": \"REMOTE\", \
                 \"class_name\": \"Remote\", \"script_name\": \"other\" }\n  ]\n}\n";
    let owner = "the workflows entry of another Worker's class \"Remote\"";
    assert_eq!(jsonc_err(jsonc), collision_error("3:15", "name", "order-pipeline", owner));
}

#[test]
fn a_name_or_binding_of_another_type_is_refused_as_written() {
    let name =
        "[[workflows]]\nname = 5\nbinding = \"WORKFLOW_ORDER_PIPELINE\"\nclass_name = \"OrderPipelineWorkflow\"\n";
    assert_eq!(toml_err(name), name_error("2:8", "5", false));
    let binding =
        "[[workflows]]\nname = \"order-pipeline\"\nbinding = [\"B\"]\nclass_name = \"OrderPipelineWorkflow\"\n";
    assert_eq!(toml_err(binding), binding_error("3:11", "[\"B\"]", NOT_A_STRING));
    let jsonc = "{ \"workflows\": [{ \"name\": \"order-pipeline\", \"class_name\": \"OrderPipelineWorkflow\", \"binding\": null }] }";
    assert_eq!(jsonc_err(jsonc), binding_error("1:95", "null", NOT_A_STRING));
    // A string that only looks like the binding is still a string: `"5"` is not `5`.
    let quoted_name = name.replace("name = 5", "name = \"5\"");
    assert_eq!(toml_err(&quoted_name), name_error("2:8", "\"5\"", true));
}

/// A binding in the file that `#[workflow(binding = …)]` would refuse is not offered as the way
/// out as is: the message says why it is not a binding (the character escaped).
#[test]
fn a_config_binding_the_attribute_would_refuse_is_explained_not_offered() {
    let cases = [
        ("MY-WORKFLOW", "\"MY-WORKFLOW\"", "it contains '-'"),
        ("9LIVES", "\"9LIVES\"", "it starts with '9', a digit"),
        ("MY\\u202EWF", "\"MY\u{202e}WF\"", "it contains '\\u{202e}'"),
        ("A\\\"B", "\"A\\\"B\"", "it contains '\"'"),
    ];
    for (toml_value, shown, why) in cases {
        let toml = format!(
            "[[workflows]]\nname = \"order-pipeline\"\nbinding = \"{toml_value}\"\nclass_name = \"OrderPipelineWorkflow\"\n"
        );
        let declare =
            format!(" once it is a valid binding (it is not: {why}; {})", lunora_shared::naming::BINDING_RULE);
        assert_eq!(toml_err(&toml), binding_error("3:11", shown, &declare), "{toml_value}");
    }
}

/// `#[workflow(class = …, binding = …)]` as a ported Worker's config has them: the entry is the
/// workflow's, nothing to write; without the binding, the error offers the attribute.
#[test]
fn declared_class_and_binding_match_the_ported_entry() {
    let ported =
        serde_json::json!({ "export": "orderPipeline", "class_name": "OrderWorkflow", "binding": "MY_WORKFLOW" });
    let src = "[[workflows]]\nname = \"order-pipeline\"\nbinding = \"MY_WORKFLOW\"\nclass_name = \"OrderWorkflow\"\n";
    let out = reconcile_toml(src, &[spec_from_json(&ported, 0)], &ReconcileOptions::default()).unwrap();
    assert!(!out.changed && out.report.is_empty(), "{:?}", out.report);

    let class_only = serde_json::json!({ "export": "orderPipeline", "class_name": "OrderWorkflow" });
    let err = reconcile_toml(src, &[spec_from_json(&class_only, 0)], &ReconcileOptions::default()).unwrap_err();
    let err = err.to_string();
    assert!(err.starts_with("3:11: workflows entry OrderWorkflow binds workflow `orderPipeline`"), "{err}");
    assert!(err.contains("Declare the config's binding on the fn (`#[workflow(binding = \"MY_WORKFLOW\")]`)"), "{err}");

    // Without the class: the entry is an orphan and the new one would take its binding.
    let neither = spec("orderPipeline");
    let mut taken = neither.clone();
    taken.binding = "MY_WORKFLOW".into();
    let err = reconcile_toml(src, &[taken], &ReconcileOptions::default()).unwrap_err().to_string();
    assert!(err.contains("(or declare that class with `#[workflow(class = \"…\")]`)"), "{err}");
}

#[test]
fn an_entry_of_another_worker_may_bind_and_name_the_class_as_it_likes() {
    // `script_name`: the class of another Worker, which this crate's registry does not reach.
    let foreign = "[[workflows]]\nname = \"remote\"\nbinding = \"REMOTE\"\nclass_name = \"OrderPipelineWorkflow\"\n\
                   script_name = \"orders\"\n";
    let out = reconcile_toml(foreign, &[spec("orderPipeline")], &ReconcileOptions::default()).unwrap();
    assert!(out.text.starts_with(foreign), "{}", out.text);
    assert!(out.text.contains("binding = \"WORKFLOW_ORDER_PIPELINE\""), "{}", out.text);
}

#[test]
fn the_declared_name_and_binding_are_accepted_and_missing_ones_written() {
    let both = "[[workflows]]\nname = \"order-pipeline\"\nbinding = \"WORKFLOW_ORDER_PIPELINE\"\n\
                class_name = \"OrderPipelineWorkflow\"\nschedules = [\"0 * * * *\"]\nlimits = { steps = 10 }\n";
    let out = reconcile_toml(both, &[spec("orderPipeline")], &ReconcileOptions::default()).unwrap();
    assert!(!out.changed && out.report.is_empty(), "{:?}", out.report);
    let neither = "{ \"workflows\": [{ \"class_name\": \"OrderPipelineWorkflow\" }] }";
    let out = reconcile_jsonc(neither, &[spec("orderPipeline")], &ReconcileOptions::default()).unwrap();
    assert!(out.text.contains("\"name\": \"order-pipeline\""), "{}", out.text);
    assert!(out.text.contains("\"binding\": \"WORKFLOW_ORDER_PIPELINE\""), "{}", out.text);
}

#[test]
fn main_is_repointed_only_from_the_shim_and_only_with_an_entry_module() {
    let src = "main = \"build/worker/shim.mjs\"\n";
    let none = reconcile_toml(src, &[], &ReconcileOptions::default()).unwrap();
    assert!(!none.changed);
    let opts = ReconcileOptions { entry_module: Some("build/lunora-entry.mjs") };
    let out = reconcile_toml(src, &[], &opts).unwrap();
    assert_eq!(out.text, "main = \"build/lunora-entry.mjs\"\n");
    let other = reconcile_toml("main = \"src/index.js\"\n", &[], &opts).unwrap();
    assert!(!other.changed);
    let json = reconcile_jsonc("{ \"main\": \"./build/worker/shim.mjs\" }", &[], &opts).unwrap();
    assert_eq!(json.text, "{ \"main\": \"build/lunora-entry.mjs\" }");
    assert_eq!(
        json.report,
        vec![Finding::MainRepointed { from: "./build/worker/shim.mjs".into(), to: "build/lunora-entry.mjs".into() }]
    );
}

#[test]
fn nothing_to_do_leaves_every_byte() {
    for src in ["", "\n", "# only a comment", "{}", "// c\n"] {
        let toml_like = !src.starts_with('{') && !src.starts_with("//");
        let out = if toml_like {
            reconcile_toml(src, &[], &ReconcileOptions::default())
        } else {
            reconcile_jsonc(src, &[], &ReconcileOptions::default())
        }
        .unwrap();
        assert_eq!(out, Reconciled { text: src.to_owned(), changed: false, report: vec![] });
    }
}

#[test]
fn a_byte_order_mark_is_kept() {
    let src = "\u{feff}name = \"x\"\n";
    let out = reconcile_toml(src, &[spec("orderPipeline")], &ReconcileOptions::default()).unwrap();
    assert!(out.text.starts_with("\u{feff}name = \"x\"\n\n[[workflows]]\n"), "{}", out.text);
    let src = "\u{feff}{\n  \"name\": \"x\"\n}\n";
    let out = reconcile_jsonc(src, &[spec("orderPipeline")], &ReconcileOptions::default()).unwrap();
    assert!(out.text.starts_with("\u{feff}{\n  \"name\": \"x\",\n  \"workflows\": ["), "{}", out.text);
}

#[test]
fn findings_display_one_line_each() {
    let findings = [
        Finding::Added { class_name: "AWorkflow".into(), name: "a".into(), binding: "WORKFLOW_A".into() },
        Finding::Updated { class_name: "AWorkflow".into(), key: "limits.steps".into(), value: "5".into() },
        Finding::Filled { class_name: "AWorkflow".into(), key: "binding".into(), value: "WORKFLOW_A".into() },
        Finding::UndeclaredSettingKept { class_name: "AWorkflow".into(), key: "schedules".into() },
        Finding::Orphan { class_name: "BWorkflow".into(), name: Some("b".into()) },
        Finding::Orphan { class_name: "BWorkflow".into(), name: None },
        Finding::MainRepointed { from: "build/worker/shim.mjs".into(), to: "build/lunora-entry.mjs".into() },
    ];
    for f in &findings {
        let line = f.to_string();
        assert!(!line.contains('\n') && !line.is_empty(), "{line:?}");
    }
    assert_eq!(findings.iter().filter(|f| f.is_warning()).count(), 3);
}

// ---------------------------------------------------------------------------------------------
// Ambiguous configs: refused, never guessed at.

#[test]
fn two_entries_of_one_class_name_or_name_or_binding_are_refused() {
    let entry = |name: &str, binding: &str, class: &str| {
        format!("[[workflows]]\nname = \"{name}\"\nbinding = \"{binding}\"\nclass_name = \"{class}\"\n")
    };
    let same_class = entry("order-pipeline", "A", "OrderPipelineWorkflow")
        + &entry("order-pipeline-2", "B", "OrderPipelineWorkflow");
    assert_eq!(
        toml_err(&same_class),
        "8:14: another workflows entry, at 4:14, has the same class_name \"OrderPipelineWorkflow\"; lunora-codegen \
         cannot tell which one is the workflow's: merge them into one"
    );
    let same_name =
        entry("order-pipeline", "A", "OrderPipelineWorkflow") + &entry("order-pipeline", "B", "OtherWorkflow");
    assert_eq!(
        toml_err(&same_name),
        "6:8: another workflows entry, at 2:8, has the same name \"order-pipeline\"; one deployed workflow cannot \
         have two entries: rename or remove one"
    );
    // A binding is unique among all entries, those of other Workers included (wrangler's rule).
    let same_binding = entry("a", "SHARED", "OrderPipelineWorkflow")
        + &entry("b", "SHARED", "BillingWorkflow").replace("class_name", "script_name = \"billing\"\nclass_name");
    assert_eq!(
        toml_err(&same_binding),
        "7:11: another workflows entry, at 3:11, has the same binding \"SHARED\"; wrangler rejects two bindings of \
         one name: rename one"
    );
    // The same class (or name) in another Worker is no ambiguity: it is not this Worker's.
    let foreign = entry("order-pipeline", "WORKFLOW_ORDER_PIPELINE", "OrderPipelineWorkflow")
        + &entry("order-pipeline", "B", "OrderPipelineWorkflow")
            .replace("class_name", "script_name = \"other\"\nclass_name");
    assert!(reconcile_toml(&foreign, &[spec("orderPipeline")], &ReconcileOptions::default()).is_ok());
    // Inline arrays too.
    let inline = "workflows = [\n  { class_name = \"OrderPipelineWorkflow\" },\n  { class_name = \"OrderPipelineWorkflow\" },\n]\n";
    assert!(
        toml_err(inline).starts_with("3:18: another workflows entry, at 2:18, has the same class_name"),
        "{}",
        toml_err(inline)
    );
    // `[[workflows]]` next to `workflows = [...]` is a TOML duplicate key.
    assert_eq!(
        toml_err("workflows = []\n[[workflows]]\nclass_name = \"OrderPipelineWorkflow\"\n"),
        "2:3: duplicate key"
    );
}

#[test]
fn jsonc_keys_written_twice_where_lunora_reads_them_are_refused() {
    let twice = "{\n  \"workflows\": [],\n  \"name\": \"shop\",\n  \"workflows\": [\n    { \"class_name\": \"OrderPipelineWorkflow\" }\n  ]\n}\n";
    assert_eq!(
        jsonc_err(twice),
        "4:3: duplicate key \"workflows\" (first at 2:3); wrangler would use this last one and ignore the first: \
         remove one"
    );
    let main_twice = "{ \"main\": \"build/index.js\", \"main\": \"src/index.js\" }";
    assert!(
        jsonc_err(main_twice).starts_with("1:29: duplicate key \"main\" (first at 1:3)"),
        "{}",
        jsonc_err(main_twice)
    );
    let in_entry = "{ \"workflows\": [{ \"class_name\": \"OrderPipelineWorkflow\",\n  \"schedules\": [], \"schedules\": [\"0 * * * *\"] }] }";
    assert!(
        jsonc_err(in_entry).starts_with("2:20: duplicate key \"schedules\" (first at 2:3)"),
        "{}",
        jsonc_err(in_entry)
    );
    let in_limits = "{ \"workflows\": [{ \"class_name\": \"OrderPipelineWorkflow\", \"limits\": { \"steps\": 1, \"steps\": 2 } }] }";
    assert!(jsonc_err(in_limits).contains("duplicate key \"steps\""), "{}", jsonc_err(in_limits));
    let same_binding = "{ \"workflows\": [\n  { \"binding\": \"X\", \"class_name\": \"AWorkflow\" },\n  { \"binding\": \"X\", \"class_name\": \"BWorkflow\" }\n] }";
    assert!(
        jsonc_err(same_binding).starts_with("3:16: another workflows entry, at 2:16, has the same binding \"X\""),
        "{}",
        jsonc_err(same_binding)
    );
    // Keys lunora does not read are wrangler's business.
    let vars_twice = "{ \"vars\": { \"A\": \"1\" }, \"vars\": { \"A\": \"2\" } }";
    assert!(reconcile_jsonc(vars_twice, &[spec("orderPipeline")], &ReconcileOptions::default()).is_ok());
}
