//! Workflow names that are keywords, collide with the registry's own items or with one another:
//! `sync` either generates a registry that compiles or stops with an error naming the place,
//! what collides and the fix, and writes nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::text;

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap() // lunora-codegen/cli → the workspace
}

/// A crate depending on lunora-runtime whose `src/lib.rs` is `lib`.
fn krate(lib: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        format!(
            "[package]\nname = \"names\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[workspace]\n\n[dependencies]\n\
             lunora-runtime = {{ path = {:?} }}\n",
            workspace().join("lunora-runtime").display().to_string()
        ),
    )
    .unwrap();
    std::fs::copy(workspace().join("Cargo.lock"), dir.path().join("Cargo.lock")).unwrap();
    std::fs::write(dir.path().join("src/lib.rs"), lib).unwrap();
    let manifest = dir.path().join("Cargo.toml");
    (dir, manifest)
}

fn sync(manifest: &Path) -> Output {
    common::codegen(&["sync"], manifest)
}

/// `#[workflow] pub async fn <ident>` with a `()` body, preceded by `attrs`.
fn workflow(attrs: &str, ident: &str) -> String {
    format!("{attrs}#[workflow]\npub async fn {ident}(_ctx: WorkflowContext<()>) -> Result<()> {{\n    Ok(())\n}}\n\n")
}

const TRICKY: &[(&str, &str)] = &[
    ("type_", "type_"),
    ("self_", "self_"),
    ("super_", "super_"),
    ("r#match", "match_"),
    ("r#async", "async_"),
    ("r#try", "try_"),
    ("fn_", "fn_"),
    ("get", "get_"),
    ("new", "new_"),
    ("from_env", "from_env_"),
    ("clone", "clone_"),
    ("register_all", "register_all"),
    ("workflows", "workflows"),
];

/// Keywords and the registry's own names get accessors that compile (`get` → `get_()`), and
/// the registry's own `new`, `get`, `clone` and `register_all` still work beside them.
#[test]
fn keywords_and_the_registrys_own_names_give_a_registry_that_compiles() {
    let mut lib = String::from(
        "#![deny(warnings)]\nuse lunora_runtime::{workflow, Result, WorkflowContext};\n\n\
         #[rustfmt::skip] pub mod lunora_workflows;\n\n",
    );
    for (ident, _) in TRICKY {
        lib.push_str(&workflow("", ident));
    }
    // Every accessor is callable, and `clone()` still clones the registry.
    let calls: Vec<String> = TRICKY.iter().map(|(_, accessor)| format!("let _ = w.{accessor}();")).collect();
    lib.push_str(&format!(
        "pub fn every_accessor(w: &lunora_workflows::Workflows) -> lunora_workflows::Workflows {{\n    {}\n    \
         let _ = w.get(\"match\");\n    w.clone()\n}}\n\n\
         pub fn registered() -> lunora_runtime::local::EngineBuilder {{\n    \
         lunora_workflows::register_all(lunora_runtime::local::Engine::builder())\n}}\n",
        calls.join("\n    ")
    ));
    // A module named by a raw ident lives in `type.rs` and is a path segment `r#type`.
    lib.push_str("pub mod r#type;\n");
    let (dir, manifest) = krate(&lib);
    let nested = "use lunora_runtime::{workflow, Result, WorkflowContext};\n\n".to_owned() + &workflow("", "nested");
    std::fs::write(dir.path().join("src/type.rs"), nested).unwrap();
    let out = sync(&manifest);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let registry = std::fs::read_to_string(dir.path().join("src/lunora_workflows.rs")).unwrap();
    let compact: String = registry.split_whitespace().collect();
    for (_, accessor) in TRICKY {
        assert!(compact.contains(&format!("pubfn{accessor}(&self")), "{accessor}: {registry}");
    }
    assert!(registry.contains("crate::r#type::NestedWorkflow"), "{registry}");
    for export in ["type", "self", "super", "match", "async", "try", "fn", "fromEnv", "registerAll"] {
        assert!(registry.contains(&format!("export_name: \"{export}\",")), "{export}: {registry}");
    }
    let check = Command::new(env!("CARGO"))
        .args(["check", "--offline", "--quiet"])
        .current_dir(dir.path())
        .env("CARGO_TARGET_DIR", workspace().join("target/scaffold-check"))
        .output()
        .unwrap();
    assert!(check.status.success(), "cargo check failed:\n{}", text(&check.stderr));
}

/// Names that differ but collide where it matters are reported at the later workflow's place,
/// naming the earlier one, and nothing is written.
#[test]
fn colliding_names_are_errors_with_both_places_and_nothing_is_written() {
    let lib = [
        "use lunora_runtime::{workflow, Result, WorkflowContext};\n\n".to_owned(),
        // Line 3 and 8: `xHTTPServer` and `xHttpServer`, both `x_http_server()`.
        workflow("", "x_h_t_t_p_server"),
        workflow("", "x_http_server"),
        // Line 13 and 18: both `aB`.
        workflow("", "a_b"),
        workflow("", "a__b"),
        // Line 23 and 29: both `orderPipeline`, deployed under different names.
        workflow("", "order_pipeline").replace("#[workflow]", "#[workflow(name = \"orders-a\")]"),
        workflow("#[allow(non_snake_case)]\n", "orderPipeline")
            .replace("#[workflow]", "#[workflow(name = \"orders-b\")]"),
    ]
    .concat();
    let (dir, manifest) = krate(&lib);
    let out = sync(&manifest);
    assert_eq!(out.status.code(), Some(2), "a source error exits 2: {}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let how = |what: &str, key: &str| {
        format!("; change one: `#[workflow({key} = \"…\")]` sets the {what}, else it derives from the fn's name")
    };
    for expected in [
        "src/lib.rs:8:1: workflow `xHttpServer` has the same registry accessor \"x_http_server\" as workflow \
         `xHTTPServer` at src/lib.rs:3:1; change one: rename a fn, the registry accessor derives from its name"
            .to_owned(),
        format!(
            "src/lib.rs:18:1: workflow `aB` has the same binding \"WORKFLOW_A_B\" as workflow `aB` at src/lib.rs:13:1{}",
            how("binding", "binding")
        ),
        format!(
            "src/lib.rs:29:1: workflow `orderPipeline` has the same class name \"OrderPipelineWorkflow\" as workflow \
             `orderPipeline` at src/lib.rs:23:1{}",
            how("class name", "class")
        ),
    ] {
        assert!(stderr.contains(&expected), "missing {expected:?} in:\n{stderr}");
    }
    assert!(stderr.contains("nothing was written"), "{stderr}");
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files.len(), 3, "only Cargo.toml, Cargo.lock and src: {files:?}");
    assert!(!dir.path().join("src/lunora_workflows.rs").exists());
}

/// Fn names whose export name would give an invalid class, accessor or binding are refused at
/// the fn's name, whatever `name = "…"` says: the deployed name does not fix the class.
#[test]
fn fn_names_without_a_valid_export_name_are_errors_at_the_fn() {
    let lib = [
        "use lunora_runtime::{workflow, Result, WorkflowContext};\n\n".to_owned(),
        workflow("", "_1a").replace("#[workflow]", "#[workflow(name = \"one-a\")]"),
        workflow("", "über").replace("#[workflow]", "#[workflow(name = \"uber\")]"),
        workflow("", "__").replace("#[workflow]", "#[workflow(name = \"blank\")]"),
        workflow("", "ǆemo"),
    ]
    .concat();
    let (dir, manifest) = krate(&lib);
    let out = sync(&manifest);
    assert_eq!(out.status.code(), Some(2), "a source error exits 2: {}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let rule = "; export names are ASCII letters and digits, starting with a letter ([A-Za-z][A-Za-z0-9]*), because \
                the default name, the registry accessor and (unless declared) the class name and binding derive from \
                it; rename the fn";
    for expected in [
        format!("src/lib.rs:4:14: the workflow export name \"1a\" derived from fn `_1a` is invalid: it starts with '1', not an ASCII letter{rule}"),
        format!("src/lib.rs:9:14: the workflow export name \"über\" derived from fn `über` is invalid: it starts with 'ü', not an ASCII letter{rule}"),
        format!("src/lib.rs:14:14: the workflow export name \"\" derived from fn `__` is invalid: it is empty{rule}"),
        format!("src/lib.rs:19:14: the workflow export name \"ǆemo\" derived from fn `ǆemo` is invalid: it starts with 'ǆ', not an ASCII letter{rule}"),
    ] {
        assert!(stderr.contains(&expected), "missing {expected:?} in:\n{stderr}");
    }
    // One error per fn: the invalid default name of `ǆemo` is not reported a second time.
    assert_eq!(stderr.matches("src/lib.rs:").count(), 4, "{stderr}");
    assert!(!dir.path().join("src/lunora_workflows.rs").exists());
}

/// Declared classes and bindings (a lower-case class included) give a registry and descriptors
/// that compile without a warning, and the trait reports the declared names.
#[test]
fn declared_classes_and_bindings_give_a_registry_that_compiles() {
    let lib = "#![deny(warnings)]\nuse lunora_runtime::{workflow, Result, Workflow, WorkflowContext};\n\n\
               #[rustfmt::skip] pub mod lunora_workflows;\n\n\
               #[workflow(class = \"OrderWorkflow\", binding = \"MY_WORKFLOW\")]\n\
               pub async fn order_pipeline(_ctx: WorkflowContext<()>) -> Result<()> {\n    Ok(())\n}\n\n\
               #[workflow(class = \"legacyFlow\", binding = \"_legacy\")]\n\
               pub async fn legacy(_ctx: WorkflowContext<()>) -> Result<()> {\n    Ok(())\n}\n\n\
               pub fn names() -> [String; 4] {\n    \
               [OrderWorkflow::class_name(), OrderWorkflow::binding(), legacyFlow::class_name(), legacyFlow::binding()]\n}\n\n\
               pub fn typed(w: &lunora_workflows::Workflows) -> lunora_runtime::WorkflowHandle<legacyFlow> {\n    \
               let _: lunora_runtime::WorkflowHandle<OrderWorkflow> = w.order_pipeline();\n    w.legacy()\n}\n";
    let (dir, manifest) = krate(lib);
    let out = sync(&manifest);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let check = Command::new(env!("CARGO"))
        .args(["check", "--offline", "--quiet"])
        .current_dir(dir.path())
        .env("CARGO_TARGET_DIR", workspace().join("target/scaffold-check"))
        .output()
        .unwrap();
    assert!(check.status.success(), "cargo check failed:\n{}", text(&check.stderr));
}
