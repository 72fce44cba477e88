//! Compile errors of the macros, pinned as trybuild `.stderr` files (bless with
//! `TRYBUILD=overwrite cargo test -p lunora-tests --test ui`, never by hand), plus a crate that
//! must compile warning-free while shadowing the prelude.
//!
//! Diagnostics change between compiler releases, so the `.stderr` files belong to one rustc:
//! the workspace's `rust-version`, the compiler CI runs. On another rustc the suite is skipped
//! with a note, so `cargo test` stays meaningful for contributors on a newer compiler; under CI
//! (`CI` set, as CI services do) it fails instead, so CI cannot skip it unnoticed.

use std::io::Write;

/// What the ui suite does on the compiler at hand.
#[derive(Debug, PartialEq)]
enum Plan {
    Run,
    Skip(String),
    Fail(String),
}

/// `rustc` is the compiling rustc's semver (`1.95.0`, `1.97.0-nightly`), `pin` the workspace's
/// `rust-version` (`1.95.0`, or `1.95` for any patch release), `ci` the `CI` variable.
fn plan(rustc: &str, pin: &str, ci: Option<&str>) -> Plan {
    let (release, pre) = rustc.split_once('-').unwrap_or((rustc, ""));
    let on_pin =
        pre.is_empty() && (release == pin || release.strip_prefix(pin).is_some_and(|rest| rest.starts_with('.')));
    if on_pin {
        return Plan::Run;
    }
    let why = format!(
        "the ui .stderr files hold rustc {pin}'s diagnostics (the workspace's rust-version) and this is rustc {rustc}"
    );
    if ci.is_some_and(|v| !matches!(v, "" | "0" | "false")) {
        Plan::Fail(format!(
            "{why}; CI must run the pinned compiler (or raise rust-version and re-bless with \
             TRYBUILD=overwrite cargo test -p lunora-tests --test ui)"
        ))
    } else {
        Plan::Skip(format!("note: skipping the ui suite: {why}; CI runs it on rustc {pin}"))
    }
}

#[test]
fn ui() {
    let rustc = env!("LUNORA_TESTS_RUSTC_VERSION");
    match plan(rustc, env!("CARGO_PKG_RUST_VERSION"), std::env::var("CI").ok().as_deref()) {
        Plan::Run => {}
        Plan::Skip(note) => {
            // Written to stderr itself: libtest captures eprintln! of passing tests, and this
            // note must show in a plain `cargo test`.
            writeln!(std::io::stderr(), "{note}").expect("stderr is writable");
            return;
        }
        Plan::Fail(message) => panic!("{message}"),
    }
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/fail/*.rs");
    t.pass("ui/pass/*.rs");
}

#[test]
fn runs_on_the_pinned_stable_release_only() {
    assert_eq!(plan("1.95.0", "1.95.0", None), Plan::Run);
    assert_eq!(plan("1.95.0", "1.95.0", Some("true")), Plan::Run);
    assert_eq!(plan("1.95.2", "1.95", None), Plan::Run);
    assert!(matches!(plan("1.95.1", "1.95.0", None), Plan::Skip(_)));
    assert!(matches!(plan("1.95.0-beta.3", "1.95.0", None), Plan::Skip(_)));
    assert!(matches!(plan("1.950.0", "1.95", None), Plan::Skip(_)));
}

#[test]
fn off_the_pin_skips_with_a_note_and_fails_under_ci() {
    assert_eq!(
        plan("1.97.0-nightly", "1.95.0", None),
        Plan::Skip(
            "note: skipping the ui suite: the ui .stderr files hold rustc 1.95.0's diagnostics (the workspace's \
             rust-version) and this is rustc 1.97.0-nightly; CI runs it on rustc 1.95.0"
                .into()
        )
    );
    assert!(matches!(plan("1.96.0", "1.95.0", Some("")), Plan::Skip(_)));
    assert!(matches!(plan("1.96.0", "1.95.0", Some("false")), Plan::Skip(_)));
    for ci in ["true", "1"] {
        let Plan::Fail(message) = plan("1.96.0", "1.95.0", Some(ci)) else { panic!("CI={ci} must fail off the pin") };
        assert!(message.contains("this is rustc 1.96.0; CI must run the pinned compiler"), "{message}");
    }
}
