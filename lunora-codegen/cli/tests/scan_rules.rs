//! The scanner finds what rustc compiles, and nothing else: items after braced items in inline
//! modules, attributes resolved as rustc resolves them, cfgs carried onto the registry,
//! rustc's module file rules, and bounded work on self-including module trees. Each test
//! builds a small crate in a temporary directory.

use std::path::Path;
use std::process::Command;

use lunora_codegen::naming;
use lunora_codegen::scan::{scan_crate, Scan};
use lunora_shared::attributes::{AttributeKind, LUNORA_CRATES};

/// Writes `files` (path, text) under a new temporary crate directory with a manifest.
fn temp_crate(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Cargo.toml"), "[package]\nname = \"t\"\nversion = \"0.0.0\"\nedition = \"2021\"\n")
        .unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn scan(dir: &Path) -> Scan {
    scan_crate(&dir.join("src/lib.rs"), dir).unwrap_or_else(|e| panic!("{}", errors_text(&e)))
}

fn errors(dir: &Path) -> Vec<String> {
    match scan_crate(&dir.join("src/lib.rs"), dir) {
        Ok(scan) => panic!("expected errors, found workflows {:?}", found(&scan)),
        Err(diagnostics) => diagnostics.iter().map(|d| d.to_string()).collect(),
    }
}

fn errors_text(diagnostics: &[lunora_codegen::scan::Diagnostic]) -> String {
    diagnostics.iter().map(|d| format!("{d}\n")).collect()
}

/// Workflows as `descriptor path @ place`, then steps as `name @ place`.
fn found(scan: &Scan) -> Vec<String> {
    let workflows = scan.workflows.iter().map(|w| format!("{} @ {}", w.descriptor_path, w.location));
    workflows.chain(scan.steps.iter().map(|(name, at)| format!("step {name} @ {at}"))).collect()
}

fn workflow(name: &str) -> String {
    format!("pub async fn {name}(ctx: WorkflowContext<()>) -> Result<()> {{ let _ = ctx; Ok(()) }}\n")
}

fn step(name: &str) -> String {
    format!("pub async fn {name}(ctx: StepContext, args: String) -> Result<String> {{ let _ = ctx; Ok(args) }}\n")
}

/// `lunora-codegen sync --check` on the crate: its stderr.
fn check_stderr(dir: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_lunora-codegen"))
        .args(["sync", "--check", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const USE: &str = "use lunora_runtime::*;\n";

#[test]
fn items_after_braced_items_in_inline_modules_are_found() {
    let outer = format!(
        "{USE}#[rustfmt::skip] pub mod lunora_workflows;\npub mod outer {{\n    {USE}    pub struct S {{ pub a: u8 }}\n    \
         impl S {{ pub fn f(&self) -> u8 {{ if self.a > 0 {{ 1 }} else {{ 0 }} }} }}\n    \
         pub trait T {{ fn g(&self) {{}} }}\n    const C: u8 = {{ let x = {{ 1 }}; x }};\n    \
         extern \"C\" {{ fn ext(); }}\n    macro_rules! m {{ () => {{ 1 }} }}\n    \
         pub mod nested {{\n        {USE}        pub enum E {{ A {{ x: u8 }} }}\n        #[workflow]\n        {}    }}\n    \
         #[workflow]\n    {}    pub mod file_child;\n}}\n#[step(args = String, returns = String)]\n{}",
        workflow("deep"),
        workflow("after"),
        step("top")
    );
    let child = format!("{USE}#[step(args = String, returns = String)]\n{}", step("child"));
    let dir = temp_crate(&[("src/lib.rs", &outer), ("src/outer/file_child.rs", &child)]);
    assert_eq!(
        found(&scan(dir.path())),
        [
            "outer::nested::DeepWorkflow @ src/lib.rs:14:9",
            "outer::AfterWorkflow @ src/lib.rs:17:5",
            "step child @ src/outer/file_child.rs:2:1",
            "step top @ src/lib.rs:21:1",
        ]
    );
}

#[test]
fn attributes_are_lunoras_exactly_when_rustc_resolves_them_to_lunora() {
    let lib = format!(
        "//! Every spelling of lunora's attributes, and other crates' look-alikes.\n\
         use lunora_runtime::{{Result, StepContext, WorkflowContext}};\n\
         use lunora_runtime::workflow as wf;\n\
         use cucumber::step;\n\
         #[::lunora_runtime::workflow]\n{}\
         #[wf]\n{}\
         #[step(expr = \"a cucumber step\")]\nfn given(world: &mut World) {{}}\n\
         #[cucumber::step]\nfn when(world: &mut World) {{}}\n\
         #[lunora_macros::step(args = String, returns = String)]\n{}\
         pub mod tests {{\n    use super::*;\n    #[wf]\n    {}}}\n\
         pub mod renamed {{\n    use lunora_runtime::{{self as lr, StepContext, Result}};\n    #[lr::step(args = String, returns = String)]\n    {}}}\n",
        workflow("rooted"),
        workflow("aliased"),
        step("qualified"),
        workflow("inherited_through_super_glob"),
        step("through_a_crate_alias"),
    );
    let dir = temp_crate(&[("src/lib.rs", &lib)]);
    assert_eq!(
        found(&scan(dir.path())),
        [
            "RootedWorkflow @ src/lib.rs:5:1",
            "AliasedWorkflow @ src/lib.rs:7:1",
            "tests::InheritedThroughSuperGlobWorkflow @ src/lib.rs:17:5",
            "step qualified @ src/lib.rs:13:1",
            "step through_a_crate_alias @ src/lib.rs:22:5",
        ]
    );
}

/// The scanner counts exactly the attributes of the shared contract
/// (`lunora_shared::attributes`), which the macros are registered under: each lunora crate's
/// `workflow` and `step`, written by path, through a glob import or through an alias, and the
/// same names from any other crate not at all.
#[test]
fn the_scanner_counts_exactly_the_attributes_of_the_shared_contract() {
    /// Appends `pub mod name { imports  #[attribute…] fn }`; returns the fn's name and the
    /// attribute's line.
    fn module(lib: &mut String, name: &str, imports: &str, attribute: &str, kind: AttributeKind) -> (String, usize) {
        let fn_name = format!("{name}_fn");
        let (args, item) = match kind {
            AttributeKind::Workflow => ("", workflow(&fn_name)),
            AttributeKind::Step => ("(args = String, returns = String)", step(&fn_name)),
        };
        let line = lib.lines().count() + 3;
        lib.push_str(&format!("pub mod {name} {{\n{imports}\n#[{attribute}{args}]\n{item}}}\n"));
        (fn_name, line)
    }
    let mut lib = String::new();
    let mut expected = Vec::new();
    for krate in LUNORA_CRATES {
        for kind in AttributeKind::ALL {
            let name = kind.name();
            let context = format!("use {krate}::{{Result, StepContext, WorkflowContext}};");
            let spellings = [
                ("path", context.clone(), format!("{krate}::{name}")),
                ("glob", format!("{context} use {krate}::*;"), name.to_owned()),
                ("alias", format!("{context} use ::{krate}::{name} as lunora_attribute;"), "lunora_attribute".into()),
            ];
            for (spelling, imports, attribute) in spellings {
                let module_name = format!("{krate}_{name}_{spelling}");
                let (fn_name, at) = module(&mut lib, &module_name, &imports, &attribute, kind);
                expected.push(match kind {
                    AttributeKind::Workflow => {
                        let class = naming::workflow_class_name(&naming::export_name_of_fn(&fn_name));
                        format!("{module_name}::{class} @ src/lib.rs:{at}:1")
                    }
                    AttributeKind::Step => format!("step {fn_name} @ src/lib.rs:{at}:1"),
                });
            }
        }
    }
    // Look-alikes: the same names from a crate that is not lunora's.
    for kind in AttributeKind::ALL {
        let name = kind.name();
        module(&mut lib, &format!("other_{name}"), "use lunora_shared::*;", &format!("lunora_shared::{name}"), kind);
    }
    let dir = temp_crate(&[("src/lib.rs", &lib)]);
    let scan = scan(dir.path());
    let mut found = found(&scan);
    found.sort();
    expected.sort();
    assert_eq!(found, expected, "{lib}");
    assert_eq!(expected.len(), LUNORA_CRATES.len() * AttributeKind::ALL.len() * 3);
    assert!(scan.warnings.is_empty(), "{:?}", scan.warnings);
}

#[test]
fn an_attribute_that_cannot_be_told_lunoras_is_left_out_with_a_warning() {
    let lib = format!(
        "#[rustfmt::skip] pub mod lunora_workflows;\npub mod ambiguous {{\n    use cucumber::*;\n    use lunora_runtime::{{Result, StepContext}};\n    \
         #[step(expr = \"x\")]\n    pub fn given(world: &mut World) {{}}\n}}\n\
         pub mod unimported {{\n    use lunora_runtime::{{Result, WorkflowContext}};\n    #[workflow]\n    {}}}\n",
        workflow("bare")
    );
    let dir = temp_crate(&[("src/lib.rs", &lib)]);
    let scan = scan(dir.path());
    assert_eq!(found(&scan), ["unimported::BareWorkflow @ src/lib.rs:10:5"]);
    assert_eq!(
        check_stderr(dir.path()).lines().filter(|l| l.starts_with("warning")).collect::<Vec<_>>(),
        [
            "warning: src/lib.rs:5:5: `#[step]` is left out: it cannot be told to be lunora's (it may come from \
             `use cucumber::*;`). If it is, import it explicitly (`use lunora_runtime::step;`) or write \
             `#[lunora_runtime::step]`",
            "warning: src/lib.rs:10:5: no import in module `crate::unimported` provides `#[workflow]`; it is taken for \
             lunora's. Add `use lunora_runtime::workflow;` to that module (rustc needs it too)",
        ]
    );
}

#[test]
fn cfgs_of_the_item_and_its_modules_are_carried_onto_the_registry_and_test_only_workflows_are_not_deployed() {
    let lib = format!(
        "{USE}#[rustfmt::skip] pub mod lunora_workflows;\n#[workflow]\n{}\
         #[cfg(feature = \"extra\")]\n#[workflow]\n{}\
         #[cfg(test)]\nmod tests {{\n    {USE}    #[cfg(unix)]\n    pub mod inner {{\n        #![cfg(not(miri))]\n        {USE}        \
         #[workflow]\n        {}    }}\n}}\n",
        workflow("always"),
        workflow("featured"),
        workflow("tested")
    );
    let dir = temp_crate(&[("src/lib.rs", &lib)]);
    let scan = scan(dir.path());
    let registry = lunora_codegen::render::registry(&scan.workflows);
    for expected in [
        "    #[cfg(feature = \"extra\")]\n    pub fn featured(",
        "    #[cfg(all(test, unix, not(miri)))]\n    pub fn tested(",
        "    #[cfg(feature = \"extra\")]\n    ::lunora_runtime::WorkflowInfo {\n        export_name: \"featured\"",
        "            #[cfg(all(test, unix, not(miri)))]\n            \"tested\" =>",
        "    #[cfg(feature = \"extra\")]\n    let builder = builder.register::<crate::FeaturedWorkflow>();\n",
        "    builder.register::<crate::AlwaysWorkflow>()\n",
    ] {
        assert!(registry.contains(expected), "{expected}\n---\n{registry}");
    }
    assert!(!registry.contains("#[cfg(feature = \"extra\")]\n    pub fn always"), "{registry}");
    let entry = lunora_codegen::render::entry_module(&scan.deployed_workflows());
    assert!(entry.contains("AlwaysWorkflow") && entry.contains("FeaturedWorkflow"), "{entry}");
    assert!(!entry.contains("Tested"), "a test-only workflow is never deployed: {entry}");
    assert!(
        check_stderr(dir.path()).contains(
            "warning: src/lib.rs:6:1: workflow `featured` is compiled only when `cfg(feature = \"extra\")` holds"
        ),
        "the JS entry declares it unconditionally, which is said"
    );
}

#[test]
fn module_files_are_found_by_rustcs_rules() {
    let flow = |name: &str| format!("{USE}#[workflow]\n{}", workflow(name));
    let dir = temp_crate(&[
        ("src/lib.rs", &format!("{USE}pub mod a;\npub mod r#async;\n")),
        // In a non-mod-rs file, a `#[path]` is relative to the file's own directory, and an
        // inline module's `#[path]` names a directory from there; a module inside an inline
        // module is below `a/`.
        (
            "src/a.rs",
            "#[path = \"other.rs\"] pub mod b;\n#[path = \"inl\"] pub mod i { pub mod x; }\npub mod j { pub mod y; }\n\
             pub mod k { #[path = \"z.rs\"] pub mod z; }\n",
        ),
        ("src/other.rs", &format!("{}pub mod c;\n", flow("in_other"))),
        ("src/c.rs", &flow("beside_a_path_file")),
        ("src/inl/x.rs", &flow("in_inline_path_dir")),
        ("src/a/j/y.rs", &flow("below_inline")),
        ("src/a/k/z.rs", &flow("path_in_inline")),
        ("src/async.rs", &flow("raw_named")),
    ]);
    assert_eq!(
        found(&scan(dir.path())),
        [
            "a::b::InOtherWorkflow @ src/other.rs:2:1",
            "a::b::c::BesideAPathFileWorkflow @ src/c.rs:2:1",
            "a::i::x::InInlinePathDirWorkflow @ src/inl/x.rs:2:1",
            "a::j::y::BelowInlineWorkflow @ src/a/j/y.rs:2:1",
            "a::k::z::PathInInlineWorkflow @ src/a/k/z.rs:2:1",
            "r#async::RawNamedWorkflow @ src/async.rs:2:1",
        ]
    );
}

#[test]
fn a_module_with_two_files_is_an_error_as_in_rustc() {
    let dir = temp_crate(&[("src/lib.rs", "pub mod a;\n"), ("src/a.rs", ""), ("src/a/mod.rs", "")]);
    assert_eq!(
        errors(dir.path()),
        ["src/lib.rs:1:9: module `a` has two files, src/a.rs and src/a/mod.rs; rustc refuses this: delete or rename one"]
    );
}

#[test]
fn a_workflow_the_registry_cannot_reach_is_an_error_naming_the_module_and_the_fix() {
    let dir = temp_crate(&[
        ("src/lib.rs", "pub mod orders;\nmod open;\n"),
        ("src/orders.rs", "mod hidden;\n"),
        ("src/orders/hidden.rs", &format!("{USE}#[workflow]\n{}", workflow("ship"))),
        ("src/open.rs", &format!("{USE}pub(crate) mod inner {{\n    {USE}    #[workflow]\n    async fn private_fn(ctx: WorkflowContext<()>) -> Result<()> {{ let _ = ctx; Ok(()) }}\n}}\n")),
    ]);
    assert_eq!(
        errors(dir.path()),
        [
            "src/open.rs:4:5: workflow `privateFn`: its fn is private to `crate::open::inner`, so the generated \
             registry (`crate::lunora_workflows`) cannot name its descriptor `PrivateFnWorkflow` (which has the \
             fn's visibility). Declare the fn `pub(crate)` (or `pub`)",
            "src/orders/hidden.rs:2:1: workflow `ship` is in `crate::orders::hidden`, which the generated registry \
             (`crate::lunora_workflows`) cannot reach: `mod hidden` (src/orders.rs:1:5) is private to \
             `crate::orders`. Declare it `pub(crate) mod hidden` (or `pub`)",
        ]
    );
}

#[test]
fn macros_that_may_declare_modules_or_workflows_are_warned_about() {
    let lib = format!(
        "{USE}#[rustfmt::skip] pub mod lunora_workflows;\ncfg_if::cfg_if! {{\n    if #[cfg(unix)] {{ pub mod hidden; }}\n}}\n\
         make_flow!(#[workflow] pub async fn made() {{}});\nlazy_static::lazy_static! {{ static ref X: u8 = 1; }}\n#[workflow]\n{}",
        workflow("visible")
    );
    let dir = temp_crate(&[("src/lib.rs", &lib)]);
    assert_eq!(found(&scan(dir.path())), ["VisibleWorkflow @ src/lib.rs:8:1"]);
    let warnings: Vec<String> =
        check_stderr(dir.path()).lines().filter(|l| l.starts_with("warning")).map(String::from).collect();
    assert_eq!(
        warnings,
        [
            "warning: src/lib.rs:3:1: `cfg_if::cfg_if` may declare modules or workflows, and lunora-codegen does not \
             expand macros: anything it declares is left out of the registry. Declare such modules and workflows \
             outside macros (a `#[cfg]` on each item does what cfg_if! does)",
            "warning: src/lib.rs:6:1: `make_flow` may declare modules or workflows, and lunora-codegen does not \
             expand macros: anything it declares is left out of the registry. Declare such modules and workflows \
             outside macros (a `#[cfg]` on each item does what cfg_if! does)",
        ]
    );
}

/// A lunora attribute applied through `cfg_attr` would be silently missing from the registry:
/// the scanner does not evaluate cfg_attr, so it says so, at the attribute.
#[test]
fn a_workflow_or_step_behind_cfg_attr_is_warned_about() {
    let lib = format!(
        "{USE}#[rustfmt::skip] pub mod lunora_workflows;\n\
         #[cfg_attr(feature = \"flows\", workflow)]\n{}\
         #[cfg_attr(all(unix, not(test)), allow(dead_code), lunora_runtime::step(args = String, returns = String))]\n{}\
         #[cfg_attr(test, derive(Debug))]\npub struct Plain;\n\
         #[workflow]\n{}",
        workflow("hidden"),
        step("hidden_step"),
        workflow("visible")
    );
    let dir = temp_crate(&[("src/lib.rs", &lib)]);
    assert_eq!(found(&scan(dir.path())), ["VisibleWorkflow @ src/lib.rs:9:1"]);
    let warnings: Vec<String> =
        check_stderr(dir.path()).lines().filter(|l| l.starts_with("warning")).map(String::from).collect();
    let warning = |at: &str, name: &str| {
        format!(
            "warning: src/lib.rs:{at}: `#[cfg_attr(…, {name})]`: lunora-codegen does not evaluate cfg_attr, so if \
             this is lunora's #[{name}] it is left out of the registry, the JS entry and the wrangler config. Write \
             the attribute unconditionally and put the condition in a `#[cfg(…)]` on the fn or its module (sync \
             carries cfgs onto the registry)"
        )
    };
    assert_eq!(warnings, [warning("3:1", "workflow"), warning("5:1", "lunora_runtime::step")]);
}

#[test]
fn a_file_including_itself_twice_ends_at_once_with_one_error_per_inclusion() {
    let dir = temp_crate(&[("src/lib.rs", "#[path = \"lib.rs\"] mod a;\n#[path = \"lib.rs\"] mod b;\n")]);
    let cycle = |line: usize, name: &str| {
        format!(
            "src/lib.rs:{line}:24: `mod {name}` includes src/lib.rs, which is already included by an enclosing \
             module: a `#[path]` (or a symlink) leads back to it, which rustc rejects too; point it at another file"
        )
    };
    assert_eq!(errors(dir.path()), [cycle(1, "a"), cycle(2, "b")]);
}

#[cfg(unix)]
#[test]
fn symlink_loops_end_with_a_clear_error() {
    let dir = temp_crate(&[("src/lib.rs", "pub mod a;\npub mod b;\n"), ("src/a/mod.rs", "pub mod again;\n")]);
    // `src/a/again` is `src/a` itself: `again/mod.rs` is `a/mod.rs`.
    std::os::unix::fs::symlink(dir.path().join("src/a"), dir.path().join("src/a/again")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("src/b.rs"), dir.path().join("src/b.rs.tmp")).unwrap();
    std::fs::rename(dir.path().join("src/b.rs.tmp"), dir.path().join("src/b.rs")).unwrap();
    let errors = errors(dir.path());
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].starts_with("src/a/mod.rs:1:9: `mod again` includes src/a/again/mod.rs, which is already included"),
        "{errors:?}"
    );
    assert_eq!(
        errors[1],
        "src/lib.rs:2:9: module `b`: src/b.rs is a symbolic link that leads to no file (a loop, or a dangling \
         link); point it at the module's file"
    );
}

#[test]
fn a_module_tree_growing_exponentially_stops_at_the_file_limit() {
    // Each level includes the next twice: 2^17 modules, far past the limit.
    let mut files =
        vec![("src/lib.rs".to_string(), "#[path = \"l1.rs\"] mod a;\n#[path = \"l1.rs\"] mod b;\n".to_string())];
    for level in 1..17 {
        let next = level + 1;
        files.push((
            format!("src/l{level}.rs"),
            format!("#[path = \"l{next}.rs\"] mod a;\n#[path = \"l{next}.rs\"] mod b;\n"),
        ));
    }
    files.push(("src/l17.rs".into(), String::new()));
    let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    let dir = temp_crate(&files);
    assert_eq!(
        errors(dir.path()),
        [format!(
            "src/lib.rs:1:1: the module tree has more than {} files; is a `#[path]` including the same file from \
             several modules at each level? Include each file once",
            lunora_codegen::scan::MAX_FILES
        )]
    );
}

/// The registry of a crate with a feature-gated and a test-only workflow compiles with the
/// feature off and on, and in the crate's tests (`cargo check`, warnings denied).
#[test]
fn a_registry_with_conditional_workflows_compiles_whichever_cfgs_hold() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap(); // lunora-codegen/cli → the workspace
    let manifest = format!(
        "[package]\nname = \"conditional\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[workspace]\n\n\
         [features]\nextra = []\n\n[dependencies]\nlunora-runtime = {{ path = {:?} }}\n",
        workspace.join("lunora-runtime").display().to_string()
    );
    let lib = format!(
        "#![deny(warnings)]\n{USE}#[rustfmt::skip] pub mod lunora_workflows;\n#[workflow]\n{}\
         #[cfg(feature = \"extra\")]\n#[workflow]\n{}\
         #[cfg(test)]\nmod tests {{\n    {USE}    #[workflow]\n    {}\n    \
         #[test]\n    fn all_are_registered() {{\n        assert!(crate::lunora_workflows::WORKFLOWS.len() >= 2);\n    }}\n}}\n",
        workflow("always"),
        workflow("featured"),
        workflow("tested")
    );
    let dir = temp_crate(&[("src/lib.rs", &lib)]);
    std::fs::write(dir.path().join("Cargo.toml"), manifest).unwrap();
    std::fs::copy(workspace.join("Cargo.lock"), dir.path().join("Cargo.lock")).unwrap();
    let sync = Command::new(env!("CARGO_BIN_EXE_lunora-codegen"))
        .args(["sync", "--manifest-path"])
        .arg(dir.path().join("Cargo.toml"))
        .output()
        .unwrap();
    assert!(sync.status.success(), "{}", String::from_utf8_lossy(&sync.stderr));
    for args in [&["check"][..], &["check", "--features", "extra"], &["check", "--tests"]] {
        let check = Command::new(env!("CARGO"))
            .args(args)
            .args(["--offline", "--quiet"])
            .current_dir(dir.path())
            .env("CARGO_TARGET_DIR", workspace.join("target/scaffold-check"))
            .output()
            .unwrap();
        assert!(check.status.success(), "cargo {args:?} failed:\n{}", String::from_utf8_lossy(&check.stderr));
    }
}
