//! `lunora-codegen new step|workflow NAME` with names that would not compile, or would not
//! get their own registry accessor: a usage error (exit 2) saying why, and no file touched.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A crate that already has steps and workflows, so "untouched" means something.
fn krate() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("Cargo.toml"), "[package]\nname = \"k\"\nversion = \"0.0.0\"\nedition = \"2021\"\n")
        .unwrap();
    std::fs::write(dir.path().join("src/lib.rs"), "mod steps;\nmod workflows;\n").unwrap();
    std::fs::write(dir.path().join("src/steps.rs"), "//! Steps.\npub fn existing_step() {}").unwrap();
    std::fs::write(dir.path().join("src/workflows.rs"), "//! Workflows.\r\npub fn existing_flow() {}\r\n").unwrap();
    let manifest = dir.path().join("Cargo.toml");
    (dir, manifest)
}

/// Every file under `dir`, with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().to_path_buf(), std::fs::read(e.path()).unwrap()))
        .collect()
}

fn new(kind: &str, name: &str, manifest: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lunora-codegen"))
        .args(["new", kind, "--manifest-path"])
        .arg(manifest)
        .arg("--")
        .arg(name)
        .output()
        .unwrap()
}

fn refused(kind: &str, name: &str) -> String {
    let (dir, manifest) = krate();
    let before = snapshot(dir.path());
    let out = new(kind, name, &manifest);
    assert_eq!(out.status.code(), Some(2), "{kind} {name:?}: {}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{kind} {name:?}");
    assert_eq!(snapshot(dir.path()), before, "{kind} {name:?} touched a file");
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn keywords_are_refused_for_steps_and_workflows() {
    for kind in ["step", "workflow"] {
        for keyword in
            ["type", "match", "self", "Self", "crate", "super", "async", "await", "dyn", "abstract", "try", "gen", "fn"]
        {
            assert_eq!(
                refused(kind, keyword),
                format!(
                    "lunora-codegen: new: \"{keyword}\" is a Rust keyword, which cannot name a fn; pick another name\n"
                )
            );
        }
    }
}

#[test]
fn names_that_are_not_snake_case_rust_idents_are_refused() {
    let rule = "is not a snake_case Rust name; use lower-case ASCII letters, digits and '_', starting with a letter, \
                e.g. charge_order\n";
    for kind in ["step", "workflow"] {
        for (name, shown) in [
            ("charge-order", "charge-order"),
            ("charge order", "charge order"),
            ("9lives", "9lives"),
            ("_", "_"),
            ("ChargeOrder", "ChargeOrder"),
            ("über", "über"),
            ("ǆemo", "ǆemo"),
            ("a\tb", "a\\tb"),
            ("a\nb", "a\\nb"),
            ("r#type", "r#type"),
            ("x;", "x;"),
        ] {
            assert_eq!(refused(kind, name), format!("lunora-codegen: new: \"{shown}\" {rule}"), "{kind} {name:?}");
        }
        assert_eq!(
            refused(kind, ""),
            "lunora-codegen: new: the name is empty; pass a snake_case Rust name, e.g. charge_order\n"
        );
    }
}

#[test]
fn workflows_whose_accessor_would_not_be_their_name_are_refused() {
    for name in ["get", "new", "from_env", "clone"] {
        assert_eq!(
            refused("workflow", name),
            format!(
                "lunora-codegen: new: \"{name}\" is taken by the generated registry (`Workflows::{name}`), so this \
                 workflow's accessor would be `{name}_()`; pick another name\n"
            )
        );
    }
    assert_eq!(
        refused("workflow", "order__pipeline"),
        "lunora-codegen: new: \"order__pipeline\" would be exported as \"orderPipeline\", whose registry accessor is \
         `order_pipeline()`, not `order__pipeline()`; pick another name, e.g. order_pipeline\n"
    );
    assert!(refused("workflow", "_1a").contains("would be exported as \"1a\", which is invalid: it starts with '1'"));
}

/// Names `sync` handles are accepted: `type_` is exported as `type`, whose accessor is `type_()`.
#[test]
fn a_trailing_underscore_keyword_is_a_fine_workflow() {
    let (dir, manifest) = krate();
    let out = new("workflow", "type_", &manifest);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(dir.path().join("src/workflows.rs")).unwrap();
    assert!(text.starts_with("//! Workflows.\r\npub fn existing_flow() {}\r\n\n#[derive("), "{text}");
    assert!(text.contains("pub async fn type_(ctx: lunora_runtime::WorkflowContext<TypeParams>)"), "{text}");
    // A second step whose argument struct would be the same is refused; the file stays as it was.
    assert!(new("step", "charge_order", &manifest).status.success());
    let steps = std::fs::read(dir.path().join("src/steps.rs")).unwrap();
    let out = new("step", "charge__order", &manifest);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("a struct named `ChargeOrderArgs` already exists; pick another name"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(dir.path().join("src/steps.rs")).unwrap(), steps);
}
