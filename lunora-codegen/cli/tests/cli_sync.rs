//! `lunora-codegen sync` / `sync --check` / `new` as users run them, on a copy of the
//! fixtures/scan/shop crate in a temporary directory.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{codegen, shop_copy, text};

#[test]
fn sync_creates_everything_then_changes_nothing_and_check_agrees() {
    let (dir, manifest) = shop_copy();
    let out = codegen(&["sync"], &manifest);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("created") && stdout.contains("wrangler.toml"), "{stdout}");
    assert!(stdout.ends_with("5 workflow(s), 3 file(s) changed\n"), "{stdout}");
    let config = std::fs::read_to_string(dir.path().join("wrangler.toml")).unwrap();
    assert!(config.starts_with("name = \"shop\"\nmain = \"lunora-entry.mjs\"\n"), "{config}");
    assert!(config.contains("class_name = \"OrderPipelineWorkflow\""), "{config}");
    assert!(dir.path().join("src/lunora_workflows.rs").is_file());
    assert!(dir.path().join("lunora-entry.mjs").is_file());

    let again = codegen(&["sync"], &manifest);
    assert!(again.status.success());
    assert!(text(&again.stdout).ends_with("5 workflow(s), 0 file(s) changed\n"), "{}", text(&again.stdout));
    let check = codegen(&["sync", "--check"], &manifest);
    assert!(check.status.success(), "{}", text(&check.stderr));
    assert_eq!(text(&check.stdout), "up to date: 5 workflow(s)\n");
}

#[test]
fn check_lists_every_drift_and_writes_nothing() {
    let (dir, manifest) = shop_copy();
    assert!(codegen(&["sync"], &manifest).status.success());
    let orders = dir.path().join("src/orders.rs");
    let source = std::fs::read_to_string(&orders).unwrap().replace(
        "#[workflow(schedules = [\"0 3 * * *\", \"*/15 * * * MON-FRI\"])]",
        "#[workflow(schedules = [\"0 4 * * *\"])]",
    );
    std::fs::write(&orders, source).unwrap();
    let before: Vec<Vec<u8>> = ["src/lunora_workflows.rs", "lunora-entry.mjs", "wrangler.toml"]
        .iter()
        .map(|f| std::fs::read(dir.path().join(f)).unwrap())
        .collect();
    let check = codegen(&["sync", "--check"], &manifest);
    assert_eq!(check.status.code(), Some(1));
    let stderr = text(&check.stderr);
    assert!(stderr.contains("drift: ") && stderr.contains("lunora_workflows.rs is out of date"), "{stderr}");
    assert!(stderr.contains("wrangler.toml is out of date"), "{stderr}");
    assert!(!stderr.contains("lunora-entry.mjs"), "the entry does not depend on schedules: {stderr}");
    assert!(stderr.contains("run `lunora-codegen sync`"), "{stderr}");
    let after: Vec<Vec<u8>> = ["src/lunora_workflows.rs", "lunora-entry.mjs", "wrangler.toml"]
        .iter()
        .map(|f| std::fs::read(dir.path().join(f)).unwrap())
        .collect();
    assert_eq!(before, after, "--check writes nothing");
}

#[test]
fn a_malformed_config_is_reported_with_its_position_and_left_untouched() {
    let (dir, manifest) = shop_copy();
    let config = dir.path().join("wrangler.toml");
    let broken = "name = \"shop\"\n[[workflows]\nname = 1\n";
    std::fs::write(&config, broken).unwrap();
    let out = codegen(&["sync"], &manifest);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("wrangler.toml:2:13: unclosed array table, expected `]`"), "{stderr}");
    assert!(stderr.contains("the file was left untouched"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), broken);
    assert!(!dir.path().join("src/lunora_workflows.rs").exists(), "nothing is written when one part fails");
}

#[test]
fn source_errors_are_listed_with_positions_and_nothing_is_written() {
    let (dir, manifest) = shop_copy();
    let lib = dir.path().join("src/lib.rs");
    let source = std::fs::read_to_string(&lib)
        .unwrap()
        .replace("#[workflow]\npub async fn send_email2", "#[workflow(name = \"ship-it\")]\npub async fn send_email2");
    std::fs::write(&lib, source).unwrap();
    let out = codegen(&["sync"], &manifest);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("src/lib.rs:19:1: workflow `sendEmail2` has the same deployed name \"ship-it\" as workflow `ship` at src/orders/shipping.rs:3:1"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was written"), "{stderr}");
    assert!(!dir.path().join("wrangler.toml").exists());
}

#[test]
fn new_scaffolds_a_step_and_a_workflow_that_sync_then_finds() {
    let (dir, manifest) = shop_copy();
    let out = codegen(&["new", "step", "charge_order"], &manifest);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("add `mod steps;` to the crate root"), "{}", text(&out.stdout));
    let again = codegen(&["new", "step", "charge_order"], &manifest);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("a fn named `charge_order` already exists"));
    let bad = codegen(&["new", "workflow", "NightlyReport"], &manifest);
    assert!(text(&bad.stderr).contains("not a snake_case Rust name"));
    assert!(codegen(&["new", "workflow", "nightly_report"], &manifest).status.success());
    let lib = dir.path().join("src/lib.rs");
    let mut source = std::fs::read_to_string(&lib).unwrap();
    source.push_str("\nmod steps;\nmod workflows;\n");
    std::fs::write(&lib, source).unwrap();
    let out = codegen(&["sync"], &manifest);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let registry = std::fs::read_to_string(dir.path().join("src/lunora_workflows.rs")).unwrap();
    assert!(registry.contains("pub fn nightly_report("), "{registry}");
    assert!(registry.contains("crate::workflows::NightlyReportWorkflow"), "{registry}");
}

/// The scaffolds and the registry compile: a fresh crate gets a step and a workflow from
/// `new`, a registry from `sync`, and `cargo check` passes with warnings denied.
#[test]
fn scaffolded_code_and_the_registry_compile() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap(); // lunora-codegen/cli → the workspace
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        format!(
            "[package]\nname = \"scaffolded\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[workspace]\n\n[dependencies]\n\
             lunora-runtime = {{ path = {:?} }}\nserde = {{ version = \"1\", features = [\"derive\"] }}\n",
            workspace.join("lunora-runtime").display().to_string()
        ),
    )
    .unwrap();
    std::fs::copy(workspace.join("Cargo.lock"), dir.path().join("Cargo.lock")).unwrap();
    std::fs::write(
        dir.path().join("src/lib.rs"),
        "#![deny(warnings)]\npub mod lunora_workflows;\npub mod steps;\npub mod workflows;\n",
    )
    .unwrap();
    let manifest = dir.path().join("Cargo.toml");
    assert!(codegen(&["new", "step", "charge_order"], &manifest).status.success());
    assert!(codegen(&["new", "workflow", "nightly_report"], &manifest).status.success());
    let out = codegen(&["sync"], &manifest);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let check = Command::new(env!("CARGO"))
        .args(["check", "--offline", "--quiet"])
        .current_dir(dir.path())
        .env("CARGO_TARGET_DIR", workspace.join("target/scaffold-check"))
        .output()
        .unwrap();
    assert!(check.status.success(), "cargo check failed:\n{}", text(&check.stderr));
}

/// The shop with `declaration` inserted as line 5 of src/lib.rs, after `pub mod orders;`.
fn shop_declaring(declaration: &str) -> (tempfile::TempDir, PathBuf) {
    let (dir, manifest) = shop_copy();
    let lib = dir.path().join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap().replacen(
        "pub mod orders;\n",
        &format!("pub mod orders;\n{declaration}\n"),
        1,
    );
    std::fs::write(&lib, source).unwrap();
    (dir, manifest)
}

const NOT_SKIPPED: &str =
    "warning: src/lib.rs:5:9: `pub mod lunora_workflows;` lacks #[rustfmt::skip]; cargo fmt would \
    reformat the generated registry and `sync --check` would then report drift. Declare it as \
    `#[rustfmt::skip] pub mod lunora_workflows;`\n";

#[test]
fn a_registry_declared_without_rustfmt_skip_is_warned_about_with_its_place_and_the_fix() {
    let (_dir, manifest) = shop_declaring("pub mod lunora_workflows;");
    let out = codegen(&["sync"], &manifest);
    assert!(out.status.success(), "a warning is not an error: {}", text(&out.stderr));
    assert_eq!(text(&out.stderr), NOT_SKIPPED);
    let check = codegen(&["sync", "--check"], &manifest);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));
    assert_eq!(text(&check.stderr), NOT_SKIPPED);
    assert_eq!(text(&check.stdout), "up to date: 5 workflow(s)\n");
}

#[test]
fn the_warning_also_comes_with_a_failing_check_whose_exit_code_is_unchanged() {
    let (dir, manifest) = shop_declaring("pub mod lunora_workflows;");
    let check = codegen(&["sync", "--check"], &manifest);
    assert_eq!(check.status.code(), Some(1));
    let stderr = text(&check.stderr);
    assert!(stderr.starts_with(NOT_SKIPPED), "{stderr}");
    assert!(
        stderr.contains("drift: ") && stderr.ends_with("run `lunora-codegen sync` and commit the result\n"),
        "{stderr}"
    );
    assert!(!dir.path().join("src/lunora_workflows.rs").exists());
}

#[test]
fn a_private_registry_in_main_rs_is_shown_with_its_own_visibility() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[package]\nname = \"bin\"\nversion = \"0.0.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("src/main.rs"),
        "//! A binary.\n\n#[cfg(all())]\nmod lunora_workflows;\n\nfn main() {}\n",
    )
    .unwrap();
    let out = codegen(&["sync"], &dir.path().join("Cargo.toml"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        "warning: src/main.rs:4:5: `mod lunora_workflows;` lacks #[rustfmt::skip]; cargo fmt would reformat the \
         generated registry and `sync --check` would then report drift. Declare it as \
         `#[rustfmt::skip] mod lunora_workflows;`\n"
    );
}

#[test]
fn a_registry_declared_with_rustfmt_skip_gets_no_warning() {
    for declaration in [
        "#[rustfmt::skip]\npub mod lunora_workflows;",
        "#[rustfmt::skip] // generated by lunora-codegen\n#[allow(dead_code)]\npub(crate) mod lunora_workflows;",
        "#[cfg_attr(rustfmt, rustfmt::skip)] mod lunora_workflows;",
    ] {
        let (_dir, manifest) = shop_declaring(declaration);
        let out = codegen(&["sync"], &manifest);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(text(&out.stderr), "", "{declaration}");
        let check = codegen(&["sync", "--check"], &manifest);
        assert!(check.status.success(), "{}", text(&check.stderr));
        assert_eq!(text(&check.stderr), "", "{declaration}");
    }
}

#[test]
fn an_undeclared_registry_is_pointed_out_without_failing() {
    // `mod lunora_workflows;` inside `orders` names src/orders/lunora_workflows.rs, not the registry.
    let (_dir, manifest) = shop_copy();
    let orders = manifest.parent().unwrap().join("src/orders.rs");
    let source = std::fs::read_to_string(&orders).unwrap();
    std::fs::write(&orders, format!("#[rustfmt::skip]\nmod lunora_workflows;\n{source}")).unwrap();
    let undeclared = "warning: src/lunora_workflows.rs is written but no `mod lunora_workflows;` declares it, so the \
                      crate does not compile it. Declare it in src/lib.rs as `#[rustfmt::skip] pub mod lunora_workflows;`\n";
    let out = codegen(&["sync"], &manifest);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), undeclared);
    let check = codegen(&["sync", "--check"], &manifest);
    assert!(check.status.success(), "{}", text(&check.stderr));
    assert_eq!(text(&check.stderr), undeclared);
}

/// Why the warning exists: `cargo fmt` reformats a registry declared without the attribute,
/// and leaves it alone with it. Skipped when rustfmt is not installed.
#[test]
fn cargo_fmt_makes_drift_only_without_rustfmt_skip() {
    let fmt_available =
        Command::new(env!("CARGO")).args(["fmt", "--version"]).output().is_ok_and(|o| o.status.success());
    if !fmt_available {
        eprintln!("skipped: cargo fmt is not installed");
        return;
    }
    for (declaration, drifts) in
        [("pub mod lunora_workflows;", true), ("#[rustfmt::skip]\npub mod lunora_workflows;", false)]
    {
        let (dir, manifest) = shop_declaring(declaration);
        // Its own workspace, wherever the temporary directory is.
        let cargo_toml = std::fs::read_to_string(&manifest).unwrap();
        std::fs::write(&manifest, format!("{cargo_toml}\n[workspace]\n")).unwrap();
        assert!(codegen(&["sync"], &manifest).status.success());
        let fmt = Command::new(env!("CARGO")).arg("fmt").current_dir(dir.path()).output().unwrap();
        assert!(fmt.status.success(), "cargo fmt: {}", text(&fmt.stderr));
        let check = codegen(&["sync", "--check"], &manifest);
        assert_eq!(check.status.code(), Some(i32::from(drifts)), "{declaration}: {}", text(&check.stderr));
        assert_eq!(
            text(&check.stderr).contains("lunora_workflows.rs is out of date"),
            drifts,
            "{}",
            text(&check.stderr)
        );
    }
}

/// CI must tell "out of date" (1) from "could not check" (2); 0 means up to date.
#[test]
fn check_exits_1_for_drift_and_2_for_errors() {
    let (dir, manifest) = shop_copy();
    assert_eq!(codegen(&["sync", "--check"], &manifest).status.code(), Some(1), "nothing generated yet: drift");
    assert!(codegen(&["sync"], &manifest).status.success());
    assert_eq!(codegen(&["sync", "--check"], &manifest).status.code(), Some(0));

    let config = dir.path().join("wrangler.toml");
    let good = std::fs::read(&config).unwrap();
    std::fs::write(&config, "name = \"shop\"\n[[workflows]\n").unwrap();
    let bad_config = codegen(&["sync", "--check"], &manifest);
    assert_eq!(bad_config.status.code(), Some(2), "{}", text(&bad_config.stderr));
    assert!(
        text(&bad_config.stderr).contains("wrangler.toml:2:13: unclosed array table"),
        "{}",
        text(&bad_config.stderr)
    );
    std::fs::write(&config, [b"name = \"shop\"\n\xff\n".as_slice()].concat()).unwrap();
    assert_eq!(codegen(&["sync", "--check"], &manifest).status.code(), Some(2), "a config that is not UTF-8");
    std::fs::write(&config, &good).unwrap();

    let lib = dir.path().join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(
        &lib,
        source.replace("#[workflow]\npub async fn send_email2", "#[workflow(name = \"\")]\npub async fn send_email2"),
    )
    .unwrap();
    let bad_source = codegen(&["sync", "--check"], &manifest);
    assert_eq!(bad_source.status.code(), Some(2), "{}", text(&bad_source.stderr));
    assert!(text(&bad_source.stderr).contains("src/lib.rs:"), "{}", text(&bad_source.stderr));

    let missing = codegen(&["sync", "--check"], &dir.path().join("nope/Cargo.toml"));
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing.stderr));
}

#[test]
fn sync_help_documents_the_exit_statuses() {
    let out = Command::new(env!("CARGO_BIN_EXE_lunora-codegen")).args(["sync", "--help"]).output().unwrap();
    let help = text(&out.stdout).split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        help.contains(
            "Exit status: 0 when done (or, with --check, up to date); 1 with --check when a file is out of date; 2 on \
             an error"
        ),
        "{help}"
    );
    assert!(help.contains("wrangler.json, else wrangler.jsonc, else wrangler.toml"), "{help}");
}

/// A module file that is not UTF-8 (rustc refuses it too) stops the sync with the file named,
/// exit 2, and nothing written: it is never skipped, which would drop its workflows.
#[test]
fn a_module_file_that_is_not_utf8_is_an_error_and_nothing_is_written() {
    let (dir, manifest) = shop_copy();
    let orders = dir.path().join("src/orders.rs");
    let mut bytes = std::fs::read(&orders).unwrap();
    bytes.extend_from_slice(b"\n// caf\xe9\n");
    std::fs::write(&orders, &bytes).unwrap();
    for args in [&["sync", "--check"][..], &["sync"][..]] {
        let out = codegen(args, &manifest);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr)
                .contains("src/lib.rs:4:9: cannot read module file src/orders.rs: stream did not contain valid UTF-8"),
            "{}",
            text(&out.stderr)
        );
    }
    assert!(!dir.path().join("src/lunora_workflows.rs").exists(), "nothing written");
    assert!(!dir.path().join("lunora-entry.mjs").exists(), "nothing written");
}

/// A wrangler.toml edited by hand after a sync (one byte of a binding) fails `sync --check`
/// exactly as it does without the analysis cache, which holds the config as synced; the file
/// is left as it is.
#[test]
fn check_refuses_a_binding_edited_after_a_sync_whatever_the_cache_holds() {
    let (dir, manifest) = shop_copy();
    std::fs::create_dir(dir.path().join("target")).unwrap();
    assert!(codegen(&["sync"], &manifest).status.success());
    let cache = dir.path().join("target/lunora-codegen");
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1, "the sync keeps its cache");
    assert!(codegen(&["sync", "--check"], &manifest).status.success());

    let config = dir.path().join("wrangler.toml");
    let synced = std::fs::read_to_string(&config).unwrap();
    let edited = synced.replacen("\"WORKFLOW_ORDER_PIPELINE\"", "\"WORKFLOW_ORDER_PIPELINF\"", 1);
    assert_ne!(edited, synced);
    std::fs::write(&config, &edited).unwrap();
    let cached = codegen(&["sync", "--check"], &manifest);
    std::fs::remove_dir_all(&cache).unwrap();
    let fresh = codegen(&["sync", "--check"], &manifest);
    let stderr = text(&cached.stderr);
    assert_eq!((cached.status.code(), stderr.clone()), (fresh.status.code(), text(&fresh.stderr)));
    assert_eq!(cached.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("binds workflow `orderPipeline`") && stderr.contains("\"WORKFLOW_ORDER_PIPELINF\""),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), edited);
}
