//! What the CLI test suites share: a fixture crate copied to a temporary directory, and the
//! `lunora-codegen` binary run on it.

#![allow(dead_code)] // each suite uses its own part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Copies a fixture directory, leaving out its `expected.*` golden files.
pub fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else if !entry.file_name().to_string_lossy().starts_with("expected.") {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A copy of the fixtures/scan/shop crate (five workflows) and its Cargo.toml.
pub fn shop_copy() -> (tempfile::TempDir, PathBuf) {
    fixture_copy("shop")
}

/// A copy of the fixtures/scan/`name` crate and its Cargo.toml.
pub fn fixture_copy(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/scan").join(name), dir.path());
    let manifest = dir.path().join("Cargo.toml");
    (dir, manifest)
}

/// `lunora-codegen <args> --manifest-path <manifest>`.
pub fn codegen(args: &[&str], manifest: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lunora-codegen")).args(args).arg("--manifest-path").arg(manifest).output().unwrap()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
