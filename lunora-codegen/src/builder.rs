//! For build.rs: generate the registry and the JS entry under `OUT_DIR`, and tell cargo which
//! sources to watch. It never edits wrangler.toml (a build must not change sources); run
//! `lunora-codegen sync` for that.
//!
//! ```no_run
//! // build.rs, in `fn main()`:
//! lunora_codegen::Builder::from_env().generate().unwrap_or_else(|e| panic!("{e}"));
//! // src/lib.rs:
//! // mod registry { include!(concat!(env!("OUT_DIR"), "/lunora_workflows.rs")); }
//! ```

use std::path::PathBuf;

use lunora_shared::layout::{ENTRY_FILE, REGISTRY_FILE};

use crate::output::write_if_changed;
use crate::project::Project;
use crate::render;
use crate::scan::scan_crate;

#[derive(Clone, Debug)]
pub struct Builder {
    manifest_dir: PathBuf,
    out_dir: PathBuf,
    emit_cargo_directives: bool,
}

impl Builder {
    /// Reads `CARGO_MANIFEST_DIR` and `OUT_DIR`, as cargo sets them for build scripts.
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var_os(name).map(PathBuf::from).unwrap_or_default();
        Self { manifest_dir: var("CARGO_MANIFEST_DIR"), out_dir: var("OUT_DIR"), emit_cargo_directives: true }
    }

    pub fn new(manifest_dir: impl Into<PathBuf>, out_dir: impl Into<PathBuf>) -> Self {
        Self { manifest_dir: manifest_dir.into(), out_dir: out_dir.into(), emit_cargo_directives: true }
    }

    /// Whether to print `cargo:rerun-if-changed` lines (on by default).
    pub fn emit_cargo_directives(mut self, on: bool) -> Self {
        self.emit_cargo_directives = on;
        self
    }

    /// Scans the crate and writes `OUT_DIR/lunora_workflows.rs` and `OUT_DIR/lunora-entry.mjs`
    /// (only when their bytes change). Returns the files it read.
    pub fn generate(&self) -> Result<Vec<PathBuf>, String> {
        if self.out_dir.as_os_str().is_empty() {
            return Err("lunora_codegen::Builder: OUT_DIR is not set; call it from build.rs".into());
        }
        let project = Project::load(&self.manifest_dir.join("Cargo.toml"))?;
        let scan = scan_crate(&project.root, &project.dir).map_err(|diagnostics| {
            let lines: Vec<String> = diagnostics.iter().map(|d| format!("error: {d}")).collect();
            format!("{}\nlunora workflow attributes have errors (see above)", lines.join("\n"))
        })?;
        if self.emit_cargo_directives {
            for warning in &scan.warnings {
                println!("cargo:warning={warning}");
            }
            println!("cargo:rerun-if-changed={}", project.dir.join("Cargo.toml").display());
            for file in &scan.files {
                println!("cargo:rerun-if-changed={}", file.display());
            }
        }
        let write = |name: &str, text: String| {
            let path = self.out_dir.join(name);
            write_if_changed(&path, &text).map_err(|e| e.to_string())
        };
        write(REGISTRY_FILE, render::registry(&scan.workflows))?;
        write(ENTRY_FILE, render::entry_module(&scan.deployed_workflows()))?;
        Ok(scan.files)
    }
}
