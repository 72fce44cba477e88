//! Generates this crate's workflow registry with lunora-codegen's build.rs `Builder`, which is
//! what users do; `src/lib.rs` includes it. Also records which rustc compiles the crate, for the
//! ui suite (`tests/ui.rs`), whose expected diagnostics belong to one compiler release.
fn main() {
    lunora_codegen::Builder::from_env().generate().unwrap_or_else(|e| panic!("{e}"));
    record_rustc_version();
}

/// `LUNORA_TESTS_RUSTC_VERSION`: the semver of the rustc cargo compiles this crate with (the one
/// trybuild's cargo runs too), e.g. `1.95.0` or `1.97.0-nightly`. Cargo rebuilds build scripts
/// when the compiler changes, so this never goes stale.
fn record_rustc_version() {
    let version = rustc_version::version_meta().unwrap_or_else(|e| panic!("cannot ask rustc its version: {e}"));
    println!("cargo:rustc-env=LUNORA_TESTS_RUSTC_VERSION={}", version.semver);
}
