//! The crate as `cargo package` makes it must hold every file its code compiles in: a file
//! `include_str!`'d from outside the crate directory (the JS entry template once was) is left
//! out of the package, and the published crate then fails to build.

use std::path::{Path, PathBuf};
use std::process::Command;

fn crate_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).canonicalize().unwrap()
}

/// `cargo package --list`: the files the package holds, relative to the crate directory.
fn packaged_files() -> Vec<String> {
    let out = Command::new(env!("CARGO"))
        .args(["package", "--list", "--allow-dirty", "--offline", "--manifest-path"])
        .arg(crate_dir().join("Cargo.toml"))
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo package --list failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(String::from).collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `include_str!("…")` / `include_bytes!("…")` in `src/`: the including file and the
/// path written in it.
fn includes() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    rust_files(&crate_dir().join("src"), &mut files);
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for mac in ["include_str!(\"", "include_bytes!(\""] {
            for (at, _) in text.match_indices(mac) {
                let rest = &text[at + mac.len()..];
                found.push((file.clone(), rest[..rest.find('"').unwrap()].to_string()));
            }
        }
    }
    found
}

#[test]
fn every_file_compiled_in_is_inside_the_crate_and_packaged() {
    let root = crate_dir();
    let packaged = packaged_files();
    let includes = includes();
    assert!(
        includes.iter().any(|(_, path)| path.ends_with("templates/entry.mjs")),
        "the entry template is no longer compiled in? {includes:?}"
    );
    for (file, written) in includes {
        let target = file.parent().unwrap().join(&written).canonicalize().unwrap();
        let inside = target.strip_prefix(&root).unwrap_or_else(|_| {
            panic!(
                "{} includes {written}, outside the crate {}: the package would lack it",
                file.display(),
                root.display()
            )
        });
        let inside = inside.to_str().unwrap().replace('\\', "/");
        assert!(packaged.contains(&inside), "{} includes {inside}, which `cargo package` leaves out", file.display());
    }
}
