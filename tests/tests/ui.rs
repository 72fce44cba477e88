//! Compile errors of the macros, pinned as trybuild `.stderr` files (bless with
//! `TRYBUILD=overwrite cargo test -p lunora-tests --test ui`, never by hand), plus a crate that
//! must compile warning-free while shadowing the prelude.
//!
//! Diagnostics change between compiler releases, so the `.stderr` files are pinned to the rustc
//! in `ui/TOOLCHAIN`; on another rustc this test fails and says so rather than reporting noise.

use std::process::Command;

#[test]
fn ui() {
    let pinned = include_str!("../ui/TOOLCHAIN").trim();
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(rustc).arg("--version").output().expect("rustc runs");
    let version = String::from_utf8_lossy(&version.stdout);
    assert!(
        version.split_whitespace().nth(1) == Some(pinned),
        "the ui .stderr files are blessed on rustc {pinned}, this is {version}; run on rustc {pinned}, \
         or re-bless with TRYBUILD=overwrite and update tests/ui/TOOLCHAIN"
    );
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/fail/*.rs");
    t.pass("ui/pass/*.rs");
}
