//! The files `lunora-codegen` generates and the module that holds the registry: `sync` writes
//! `src/lunora_workflows.rs` and `lunora-entry.mjs` (wrangler's `main`), build.rs writes both
//! under `OUT_DIR`, and the scanner skips the registry module (it holds no attributes and may
//! not exist yet).

/// Spelled once, so the file names below are built from it at compile time.
macro_rules! registry_module {
    () => {
        "lunora_workflows"
    };
}

/// The registry's module name.
pub const REGISTRY_MODULE: &str = registry_module!();
/// The registry's file name (under `src/` for `sync`, under `OUT_DIR` for build.rs).
pub const REGISTRY_FILE: &str = concat!(registry_module!(), ".rs");
/// Where `sync` writes the registry, relative to the crate directory.
pub const REGISTRY_PATH: &str = concat!("src/", registry_module!(), ".rs");
/// How a crate declares the registry: `cargo fmt` must not reformat it, or the next
/// `sync --check` sees bytes it did not write and reports drift.
pub const REGISTRY_DECLARATION: &str = concat!("#[rustfmt::skip] pub mod ", registry_module!(), ";");
/// The JS entry module's file name (next to the wrangler config for `sync`, under `OUT_DIR`
/// for build.rs).
pub const ENTRY_FILE: &str = "lunora-entry.mjs";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_names_follow_the_module_name() {
        assert_eq!(REGISTRY_FILE, format!("{REGISTRY_MODULE}.rs"));
        assert_eq!(REGISTRY_PATH, format!("src/{REGISTRY_FILE}"));
        assert!(REGISTRY_DECLARATION.ends_with(&format!("mod {REGISTRY_MODULE};")));
    }
}
