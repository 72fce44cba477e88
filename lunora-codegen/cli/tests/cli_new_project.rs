//! `lunora-codegen new project DIR`: the project it writes builds natively and passes its own
//! test, compiles for wasm32 and is in sync; and every refusal (a name cargo or wrangler would
//! refuse, a non-empty DIR, DIR a file, a bad `--lunora-path`) leaves nothing behind.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::text;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// The workspace's target directory (this test binary lives in `<target>/debug/deps`).
fn workspace_target() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).expect("<target>/debug/deps/<test>").to_path_buf()
}

fn new_project(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lunora-codegen"))
        .args(["new", "project"])
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

/// Every file and directory under `dir`, with the bytes of the files.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .map(|e| {
            let bytes = e.file_type().is_file().then(|| std::fs::read(e.path()).unwrap());
            (e.path().to_path_buf(), bytes)
        })
        .collect()
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    // Its own target directory inside the workspace's: incremental across runs, never in the tree.
    cmd.env("CARGO_TARGET_DIR", workspace_target().join("scaffold-project"));
    cmd
}

fn succeeded(what: &str, out: &Output) {
    assert!(out.status.success(), "{what} failed ({}):\n{}\n{}", out.status, text(&out.stdout), text(&out.stderr));
}

/// A warning in the new project (or in the lunora crates it builds from the checkout) is a
/// failure. Not through RUSTFLAGS, which would rebuild every dependency apart from `cargo test`'s.
fn no_warnings(what: &str, out: &Output) {
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("warning"), "{what} of the new project warns:\n{stderr}");
}

#[test]
fn a_new_project_is_in_sync_passes_its_test_and_compiles_for_wasm32() {
    let parent = tempfile::tempdir().unwrap();
    let repo = repo_root();
    let out = new_project(parent.path(), &["my-flows", "--lunora-path", repo.to_str().unwrap()]);
    succeeded("new project", &out);
    let dir = parent.path().join("my-flows");
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with(&format!("created my-flows (lunora-runtime from {}):\n", repo.display())), "{stdout}");
    for file in ["Cargo.toml", "wrangler.toml", "src/lunora_workflows.rs", "lunora-entry.mjs", "tests/signup.rs"] {
        assert!(dir.join(file).is_file(), "{file} missing; {stdout}");
        assert!(stdout.contains(&format!("my-flows/{file}\n")), "{file} not listed: {stdout}");
    }
    // Nothing beside it: the staging directory was renamed into place.
    let beside: Vec<_> = std::fs::read_dir(parent.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(beside, ["my-flows"]);

    let manifest = dir.join("Cargo.toml");
    let check = common::codegen(&["sync", "--check"], &manifest);
    succeeded("sync --check", &check);
    assert_eq!(text(&check.stdout), "up to date: 1 workflow(s)\n");
    assert_eq!(text(&check.stderr), "", "no warning either");
    let wrangler = std::fs::read_to_string(dir.join("wrangler.toml")).unwrap();
    assert!(
        wrangler.contains(
            "[[workflows]]\nname = \"my-flows\"\nbinding = \"WORKFLOW_SIGNUP\"\nclass_name = \"SignupWorkflow\"\n"
        ),
        "{wrangler}"
    );
    assert!(wrangler.contains("command = \"lunora-codegen sync && worker-build --release\""), "{wrangler}");

    // A user's `cargo fmt` (default settings) leaves every file as written: the registry, which
    // sync would otherwise report as drift, and the rest.
    let fmt = cargo().args(["fmt", "--check", "--manifest-path"]).arg(&manifest).output().unwrap();
    succeeded("cargo fmt --check of the new project", &fmt);

    let test = cargo().arg("test").arg("--manifest-path").arg(&manifest).output().unwrap();
    succeeded("cargo test of the new project", &test);
    no_warnings("cargo test", &test);
    let test_out = text(&test.stdout);
    assert!(test_out.contains("test a_confirmed_signup_is_welcomed_after_a_retry ... ok"), "{test_out}");
    assert!(test_out.contains("test a_signup_never_confirmed_fails_after_a_day ... ok"), "{test_out}");

    // The Worker half (src/worker.rs, the runner exports); worker-build itself runs in the e2e suite.
    let wasm = cargo()
        .args(["check", "--lib", "--target", "wasm32-unknown-unknown", "--manifest-path"])
        .arg(&manifest)
        .output()
        .unwrap();
    succeeded("cargo check --target wasm32-unknown-unknown of the new project", &wasm);
    no_warnings("cargo check --target wasm32-unknown-unknown", &wasm);
    // The build changed no generated file.
    succeeded("sync --check after the builds", &common::codegen(&["sync", "--check"], &manifest));
}

#[test]
fn a_project_goes_into_an_empty_current_directory() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("flows");
    std::fs::create_dir(&dir).unwrap();
    let out = new_project(&dir, &[".", "--lunora-path", repo_root().to_str().unwrap()]);
    succeeded("new project .", &out);
    assert!(text(&out.stdout).starts_with("created flows ("), "{}", text(&out.stdout));
    let mut entries: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    entries.sort();
    assert_eq!(
        entries,
        [".gitignore", "Cargo.lock", "Cargo.toml", "README.md", "lunora-entry.mjs", "src", "tests", "wrangler.toml"]
    );
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("name = \"flows\"\n"), "{manifest}");
    succeeded("sync --check", &common::codegen(&["sync", "--check"], &dir.join("Cargo.toml")));
}

#[test]
fn by_default_the_lunora_crates_come_by_version() {
    let parent = tempfile::tempdir().unwrap();
    succeeded("new project", &new_project(parent.path(), &["flows"]));
    let manifest = std::fs::read_to_string(parent.path().join("flows/Cargo.toml")).unwrap();
    assert!(manifest.contains(&format!("\nlunora-runtime = \"{}\"\n", env!("CARGO_PKG_VERSION"))), "{manifest}");
    // No checkout, so no lockfile to start from.
    assert!(!parent.path().join("flows/Cargo.lock").exists());
}

/// Runs `new project` with `args` in a fresh parent directory set up by `prepare`; asserts it is
/// refused with `code`, that nothing under the parent changed, and returns stderr.
fn refused(code: i32, prepare: impl FnOnce(&Path), args: &[&str]) -> String {
    let parent = tempfile::tempdir().unwrap();
    prepare(parent.path());
    let before = snapshot(parent.path());
    let out = new_project(parent.path(), args);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(text(&out.stdout), "", "{args:?}");
    assert_eq!(snapshot(parent.path()), before, "{args:?} left something behind");
    text(&out.stderr)
}

#[test]
fn names_cargo_or_wrangler_would_refuse_are_refused_before_anything_is_written() {
    for (dir, why) in [
        ("My_App", "it contains 'M'; use lower-case ASCII letters, digits and '-'"),
        ("my_app", "it contains '_'"),
        ("2fast", "it must start with a letter"),
        ("type", "it is a Rust keyword"),
        ("test", "cargo reserves it"),
        ("worker", "the project depends on a crate of that name"),
    ] {
        let err = refused(2, |_| {}, &[dir]);
        assert!(err.starts_with(&format!("lunora-codegen: new project: \"{dir}\" cannot name the project")), "{err}");
        assert!(err.contains(why), "{dir}: {err}");
    }
    let long = "a".repeat(64);
    assert!(refused(2, |_| {}, &[&long]).contains("more than Cloudflare's 63"));
    assert!(refused(2, |_| {}, &["My_App"]).trim_end().ends_with("e.g. my-app"));
}

#[test]
fn a_non_empty_directory_is_refused_and_left_as_it_was() {
    let err = refused(
        1,
        |p| {
            std::fs::create_dir(p.join("flows")).unwrap();
            std::fs::write(p.join("flows/notes.txt"), "mine").unwrap();
        },
        &["flows"],
    );
    assert!(
        err.contains("flows: the directory is not empty (it holds notes.txt); pick a new or empty directory"),
        "{err}"
    );
    // A hidden file counts too.
    let err = refused(
        1,
        |p| {
            std::fs::create_dir(p.join("flows")).unwrap();
            std::fs::create_dir(p.join("flows/.git")).unwrap();
        },
        &["flows"],
    );
    assert!(err.contains("(it holds .git)"), "{err}");
}

#[test]
fn a_file_in_the_way_or_a_missing_parent_is_refused() {
    let err = refused(1, |p| std::fs::write(p.join("flows"), "a file").unwrap(), &["flows"]);
    assert!(err.contains("flows: exists and is not a directory"), "{err}");
    let err = refused(1, |_| {}, &["missing/flows"]);
    assert!(err.contains("missing/flows: its parent directory missing does not exist; create it first"), "{err}");
}

#[test]
fn a_lunora_path_that_is_no_checkout_is_refused() {
    let err = refused(2, |p| std::fs::create_dir(p.join("empty")).unwrap(), &["flows", "--lunora-path", "empty"]);
    assert!(
        err.starts_with("lunora-codegen: new project: --lunora-path empty: not a lunora checkout (cannot read lunora-runtime/Cargo.toml"),
        "{err}"
    );
    assert!(err.contains("pass the root of a clone of the lunora repository, the directory holding lunora-runtime/"));
    let err = refused(2, |_| {}, &["flows", "--lunora-path", "nowhere"]);
    assert!(err.contains("--lunora-path nowhere: not a lunora checkout (No such file or directory"), "{err}");
    let err = refused(2, |p| std::fs::write(p.join("file"), "").unwrap(), &["flows", "--lunora-path", "file"]);
    assert!(err.contains("not a lunora checkout (not a directory)"), "{err}");
    // A crate of another name where lunora-runtime should be.
    let err = refused(
        2,
        |p| {
            for krate in ["lunora-runtime", "lunora-macros"] {
                std::fs::create_dir_all(p.join("fake").join(krate)).unwrap();
                std::fs::write(p.join("fake").join(krate).join("Cargo.toml"), "[package]\nname = \"other\"\n").unwrap();
            }
        },
        &["flows", "--lunora-path", "fake"],
    );
    assert!(err.contains("(lunora-runtime/Cargo.toml is not the lunora-runtime package)"), "{err}");
}

#[test]
fn lunora_path_is_refused_for_a_step_or_workflow() {
    let (dir, manifest) = common::shop_copy();
    let before = snapshot(dir.path());
    for kind in ["step", "workflow"] {
        let out = Command::new(env!("CARGO_BIN_EXE_lunora-codegen"))
            .args(["new", kind, "fresh_one", "--lunora-path", "."])
            .arg("--manifest-path")
            .arg(&manifest)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{kind}");
        assert_eq!(
            text(&out.stderr),
            "lunora-codegen: new: --lunora-path is for `new project`; a step or workflow goes into an existing crate\n"
        );
    }
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn manifest_path_is_refused_for_a_project() {
    let err = refused(2, |_| {}, &["flows", "--manifest-path", "Cargo.toml"]);
    assert_eq!(
        err,
        "lunora-codegen: new project: --manifest-path names an existing crate; a project is created in DIR (drop --manifest-path)\n"
    );
}
