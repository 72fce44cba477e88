//! The crate being generated for: its manifest, root module and wrangler config.

use std::path::{Path, PathBuf};

/// A crate located from its `Cargo.toml`.
#[derive(Clone, Debug)]
pub struct Project {
    /// The directory holding `Cargo.toml`.
    pub dir: PathBuf,
    pub name: String,
    /// The root module: `[lib] path`, else `src/lib.rs`, else `src/main.rs`.
    pub root: PathBuf,
}

impl Project {
    pub fn load(manifest: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(manifest)
            .map_err(|e| format!("{}: cannot read the manifest: {e}", manifest.display()))?;
        let doc: toml_edit::DocumentMut =
            text.parse().map_err(|e| format!("{}: not valid TOML: {e}", manifest.display()))?;
        let dir = manifest.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
        let name = doc
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(|n| n.as_str())
            .ok_or_else(|| {
                format!("{}: no [package] name; point --manifest-path at a crate's Cargo.toml", manifest.display())
            })?
            .to_owned();
        let lib_path = doc.get("lib").and_then(|l| l.get("path")).and_then(|p| p.as_str()).map(|p| dir.join(p));
        let root = lib_path
            .into_iter()
            .chain([dir.join("src/lib.rs"), dir.join("src/main.rs")])
            .find(|p| p.is_file())
            .ok_or_else(|| format!("{}: the crate has no src/lib.rs or src/main.rs", dir.display()))?;
        Ok(Project { dir, name, root })
    }

    /// The wrangler config next to the manifest that wrangler uses, if there is one.
    pub fn find_wrangler_config(&self) -> Option<PathBuf> {
        self.wrangler_configs().into_iter().next()
    }

    /// Every wrangler config next to the manifest, the one wrangler uses first: wrangler looks
    /// for `wrangler.json`, then `wrangler.jsonc`, then `wrangler.toml`.
    pub fn wrangler_configs(&self) -> Vec<PathBuf> {
        WRANGLER_CONFIG_NAMES.iter().map(|n| self.dir.join(n)).filter(|p| p.is_file()).collect()
    }
}

/// The names of a wrangler config, in wrangler's order of precedence.
pub const WRANGLER_CONFIG_NAMES: [&str; 3] = ["wrangler.json", "wrangler.jsonc", "wrangler.toml"];

impl Project {}
