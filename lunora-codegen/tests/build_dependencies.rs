//! What a build script using `lunora_codegen::Builder` compiles: parsing and code generation,
//! never the runtime's engine (bundled SQLite), an async runtime or an HTTP/TLS stack, which
//! only the `lunora-codegen` command needs (the lunora-codegen-cli crate). Read from the
//! lockfile with `cargo tree`, for this library and for the workspace's own build.rs user.

use std::path::Path;
use std::process::Command;

/// Crates a build script must not compile: lunora-runtime and what it brings (the proc-macro,
/// garde, SQLite, tokio, the HTTP client and TLS).
const HEAVY: &[&str] = &[
    "lunora-runtime",
    "lunora-macros",
    "garde",
    "rusqlite",
    "libsqlite3-sys",
    "tokio",
    "ureq",
    "rustls",
    "hyper",
    "reqwest",
];

/// `cargo tree --locked --offline <args>` on this workspace (the lockfile and the registry
/// cache are enough; nothing is built or downloaded).
fn cargo_tree(args: &[&str]) -> String {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = Command::new(env!("CARGO"))
        .args(["tree", "--locked", "--offline", "--manifest-path"])
        .arg(workspace.join("Cargo.toml"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo tree {args:?} failed (offline, it needs every crate of the lockfile fetched: `cargo fetch --locked`):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The crate name on each line of `cargo tree`'s output (`│   ├── tokio v1.0.0 (*)` → `tokio`).
fn crate_names(tree: &str) -> Vec<&str> {
    tree.lines()
        .filter_map(|line| line.trim_start_matches(['│', '├', '└', '─', ' ']).split_whitespace().next())
        .filter(|name| !name.starts_with('['))
        .collect()
}

fn heavy_among(names: &[&str]) -> Vec<String> {
    let mut found: Vec<String> = names.iter().filter(|n| HEAVY.contains(n)).map(|n| n.to_string()).collect();
    found.sort();
    found.dedup();
    found
}

#[test]
fn the_library_depends_on_no_runtime_async_runtime_or_http_stack() {
    let tree = cargo_tree(&["-p", "lunora-codegen", "-e", "normal,build", "--prefix", "none", "--format", "{p}"]);
    let names = crate_names(&tree);
    assert!(
        names.contains(&"syn") && names.contains(&"lunora-macros-support"),
        "unexpected cargo tree output:\n{tree}"
    );
    assert_eq!(heavy_among(&names), Vec::<String>::new(), "lunora-codegen's library depends on them:\n{tree}");
}

/// lunora-tests generates its registry in build.rs with `Builder`, as users do: its
/// `[build-dependencies]` (expanded in full, `--no-dedupe`, so nothing hides behind a `(*)`
/// already printed among its normal dependencies) hold none of the heavy crates.
#[test]
fn a_build_script_using_builder_compiles_no_runtime_async_runtime_or_http_stack() {
    let tree = cargo_tree(&["-p", "lunora-tests", "-e", "normal,build", "--no-dedupe"]);
    let build_section: String = tree
        .lines()
        .skip_while(|line| *line != "[build-dependencies]")
        .skip(1)
        .take_while(|line| !line.starts_with('['))
        .map(|line| format!("{line}\n"))
        .collect();
    let names = crate_names(&build_section);
    assert!(names.contains(&"lunora-codegen"), "lunora-tests has no lunora-codegen build dependency:\n{tree}");
    assert_eq!(heavy_among(&names), Vec::<String>::new(), "lunora-tests' build.rs compiles them:\n{build_section}");
}
