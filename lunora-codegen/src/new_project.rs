//! `lunora-codegen new project DIR`: a crate that builds natively (its tests run on the embedded
//! engine) and as a Cloudflare Worker (wasm32, worker-build, `wrangler dev`), with lunora's
//! generated files already written, so `sync --check` passes at once.
//!
//! The templates are files under `templates/project`, compiled in and rendered by replacing
//! `{{placeholder}}`s. DIR is written whole or not at all: the project is first written and
//! synced in a staging directory (beside DIR, or inside it when DIR exists and is empty), then
//! moved into place; on any failure the staging directory and whatever was moved are removed.

use std::path::{Path, PathBuf};

use crate::sync::{self, SyncOptions};

/// The `worker` crate the project's Worker is written against: the version lunora-runtime's
/// Cloudflare backend is built with (a test holds it to the workspace's Cargo.lock).
pub const WORKER_VERSION: &str = "0.8.7";

/// The compatibility date of the project's wrangler.toml: one the pinned wrangler's workerd
/// supports, and late enough for Workflows.
pub const COMPATIBILITY_DATE: &str = "2026-11-01";

/// The lunora crates' version a project depends on by default: this crate's (the workspace's).
pub const LUNORA_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The longest name Cloudflare accepts for a Worker.
const MAX_NAME_LEN: usize = 63;

/// Where the project's lunora crates come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LunoraSource {
    /// crates.io, at this version.
    Version(String),
    /// A checkout of the lunora repository (its root directory, absolute).
    Checkout(PathBuf),
}

/// What `new project` wrote.
#[derive(Debug)]
pub struct Created {
    pub dir: PathBuf,
    pub name: String,
    /// Every file written, relative to `dir`, sorted.
    pub files: Vec<PathBuf>,
}

/// The project's files: where each goes and its template.
const TEMPLATES: &[(&str, &str)] = &[
    // Not `Cargo.toml`: cargo would take the directory for another package and leave it out
    // of this one's.
    ("Cargo.toml", include_str!("../templates/project/Cargo.toml.in")),
    ("wrangler.toml", include_str!("../templates/project/wrangler.toml")),
    ("README.md", include_str!("../templates/project/README.md")),
    (".gitignore", include_str!("../templates/project/gitignore")),
    ("src/lib.rs", include_str!("../templates/project/src/lib.rs")),
    ("src/steps.rs", include_str!("../templates/project/src/steps.rs")),
    ("src/workflows.rs", include_str!("../templates/project/src/workflows.rs")),
    ("src/worker.rs", include_str!("../templates/project/src/worker.rs")),
    ("tests/signup.rs", include_str!("../templates/project/tests/signup.rs")),
];

/// Package names cargo refuses or reserves, and directory names its build uses.
const CARGO_RESERVED: &[&str] = &[
    "test",
    "core",
    "std",
    "alloc",
    "proc_macro",
    "deps",
    "examples",
    "build",
    "incremental",
    "con",
    "prn",
    "aux",
    "nul",
    "com1",
    "com2",
    "com3",
    "com4",
    "com5",
    "com6",
    "com7",
    "com8",
    "com9",
    "lpt1",
    "lpt2",
    "lpt3",
    "lpt4",
    "lpt5",
    "lpt6",
    "lpt7",
    "lpt8",
    "lpt9",
];

/// The libraries the project uses by name: a package named like one would shadow it.
const DEPENDENCY_LIBS: &[&str] =
    &["lunora_runtime", "lunora_macros", "lunora_shared", "serde", "serde_json", "worker", "tokio", "wasm_bindgen"];

/// Why `name` cannot name a project, if it cannot. It is the package name (cargo), the Worker
/// name (wrangler, Cloudflare) and the deployed workflow name, so it follows the strictest of
/// their rules: lower-case ASCII letters, digits and `-`, starting with a letter, not ending with
/// `-`, at most 63 characters; and its library name (`-` → `_`) is no Rust keyword, no name
/// cargo reserves and no library the project depends on.
pub fn check_project_name(name: &str) -> Result<(), String> {
    let shown = name.escape_debug();
    let suggestion = {
        let s: String = name
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect::<String>()
            .trim_matches(|c: char| c == '-' || c.is_ascii_digit())
            .to_owned();
        if s.is_empty() || s == name {
            "my-workflows".to_owned()
        } else {
            s
        }
    };
    let refuse = |why: &str| {
        Err(format!(
            "\"{shown}\" cannot name the project (it is the package, Worker and workflow name, taken from the \
             directory's name): {why}; pick another directory name, e.g. {suggestion}"
        ))
    };
    if name.is_empty() {
        return refuse("it is empty");
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')) {
        return refuse(&format!(
            "it contains {bad:?}; use lower-case ASCII letters, digits and '-' (Cloudflare's rule for Worker names)"
        ));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return refuse("it must start with a letter");
    }
    if name.ends_with('-') {
        return refuse("it must not end with '-'");
    }
    if name.len() > MAX_NAME_LEN {
        return refuse(&format!("it has {} characters, more than Cloudflare's {MAX_NAME_LEN}", name.len()));
    }
    let lib = name.replace('-', "_");
    if lunora_shared::keywords::is_keyword(&lib) {
        return refuse("it is a Rust keyword, which cargo refuses as a package name");
    }
    if CARGO_RESERVED.contains(&lib.as_str()) {
        return refuse("cargo reserves it");
    }
    if DEPENDENCY_LIBS.contains(&lib.as_str()) {
        return refuse("the project depends on a crate of that name");
    }
    Ok(())
}

/// Checks that `repo` is a checkout of the lunora repository and returns its absolute path.
pub fn check_checkout(repo: &Path) -> Result<PathBuf, String> {
    let not_a_checkout = |why: String| {
        Err(format!(
            "--lunora-path {}: not a lunora checkout ({why}); pass the root of a clone of the lunora repository, the \
             directory holding lunora-runtime/",
            repo.display()
        ))
    };
    let root = match repo.canonicalize() {
        Ok(root) if root.is_dir() => root,
        Ok(_) => return not_a_checkout("not a directory".into()),
        Err(e) => return not_a_checkout(e.to_string()),
    };
    for (krate, manifest) in
        [("lunora-runtime", "lunora-runtime/Cargo.toml"), ("lunora-macros", "lunora-macros/Cargo.toml")]
    {
        let path = root.join(manifest);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => return not_a_checkout(format!("cannot read {manifest}: {e}")),
        };
        let name = text
            .parse::<toml_edit::DocumentMut>()
            .ok()
            .and_then(|doc| doc.get("package")?.get("name")?.as_str().map(str::to_owned));
        if name.as_deref() != Some(krate) {
            return not_a_checkout(format!("{manifest} is not the {krate} package"));
        }
    }
    Ok(root)
}

/// The project's files, rendered.
pub fn render(name: &str, lunora: &LunoraSource) -> Vec<(&'static str, String)> {
    let runtime = match lunora {
        LunoraSource::Version(version) => format!("lunora-runtime = {}", toml_string(version)),
        LunoraSource::Checkout(root) => {
            let path = root.join("lunora-runtime");
            format!("lunora-runtime = {{ path = {} }}", toml_string(&path.to_string_lossy()))
        }
    };
    let crate_name = name.replace('-', "_");
    let values = [
        ("name", name),
        ("crate_name", crate_name.as_str()),
        ("lunora_runtime", runtime.as_str()),
        ("worker_version", WORKER_VERSION),
        ("compatibility_date", COMPATIBILITY_DATE),
    ];
    TEMPLATES.iter().map(|(path, template)| (*path, fill(template, &values))).collect()
}

/// The placeholders of `text`: each `{{key}}` whose key is lower-case ASCII letters and `_`,
/// with where it starts and its length.
fn placeholders(text: &str) -> Vec<(usize, usize, &str)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find("{{").map(|i| from + i) {
        let key_len = text[at + 2..].find(|c: char| !(c.is_ascii_lowercase() || c == '_')).unwrap_or(0);
        let key = &text[at + 2..at + 2 + key_len];
        if key_len > 0 && text[at + 2 + key_len..].starts_with("}}") {
            found.push((at, key_len + 4, key));
            from = at + key_len + 4;
        } else {
            from = at + 1;
        }
    }
    found
}

/// `template` with each placeholder replaced by its value (an unknown one is left as it is; a
/// unit test holds every template to known ones). Values are never rescanned.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut copied = 0;
    for (at, len, key) in placeholders(template) {
        if let Some((_, value)) = values.iter().find(|(k, _)| *k == key) {
            out.push_str(&template[copied..at]);
            out.push_str(value);
            copied = at + len;
        }
    }
    out.push_str(&template[copied..]);
    out
}

/// A TOML basic string holding `s`, escaped.
fn toml_string(s: &str) -> String {
    toml_edit::Value::from(s).to_string().trim().to_owned()
}

/// The project's name: the file name of `dir` (of its absolute form for `.` and the like).
pub fn project_name(dir: &Path) -> Result<String, String> {
    let named = match dir.file_name() {
        Some(name) if !dir.ends_with("..") => name.to_os_string(),
        _ => dir.canonicalize().ok().and_then(|d| d.file_name().map(|n| n.to_os_string())).ok_or_else(|| {
            format!("{}: cannot tell the project's name from this path; name a directory", dir.display())
        })?,
    };
    named
        .into_string()
        .map_err(|n| format!("{}: the directory's name {n:?} is not UTF-8; pick another directory name", dir.display()))
}

/// Writes the project into `dir` (absent or an empty directory): see the module docs.
pub fn create(dir: &Path, lunora: &LunoraSource) -> Result<Created, String> {
    let name = project_name(dir)?;
    check_project_name(&name)?;
    let exists = match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => true,
        Ok(_) => return Err(format!("{}: exists and is not a directory; pick a new directory", dir.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(format!("{}: cannot read: {e}", dir.display())),
    };
    if exists {
        let mut entries: Vec<String> = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: cannot list: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect();
        if !entries.is_empty() {
            entries.sort();
            let more = if entries.len() > 3 { format!(" and {} more", entries.len() - 3) } else { String::new() };
            entries.truncate(3);
            return Err(format!(
                "{}: the directory is not empty (it holds {}{more}); pick a new or empty directory, nothing was written",
                dir.display(),
                entries.join(", ")
            ));
        }
    } else {
        let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !parent.is_dir() {
            return Err(format!(
                "{}: its parent directory {} does not exist; create it first",
                dir.display(),
                parent.display()
            ));
        }
    }

    let files = render(&name, lunora);
    let staging = Staging::create(dir, exists)?;
    let written = staging.fill(&files, lunora).and_then(|()| staging.sync()).and_then(|()| staging.publish(dir));
    match written {
        Ok(()) => {
            let mut files: Vec<PathBuf> = files.iter().map(|(path, _)| PathBuf::from(path)).collect();
            files.extend(sync_outputs());
            if matches!(lunora, LunoraSource::Checkout(root) if root.join("Cargo.lock").is_file()) {
                files.push(PathBuf::from("Cargo.lock"));
            }
            files.sort();
            files.dedup();
            Ok(Created { dir: dir.to_path_buf(), name, files })
        }
        Err(e) => {
            staging.remove();
            Err(format!("{e}; nothing was written"))
        }
    }
}

/// The files `sync` adds to the project (besides reconciling wrangler.toml).
fn sync_outputs() -> [PathBuf; 2] {
    [PathBuf::from(lunora_shared::layout::REGISTRY_PATH), PathBuf::from(lunora_shared::layout::ENTRY_FILE)]
}

/// The directory the project is assembled in before it is moved into place.
struct Staging {
    path: PathBuf,
    /// Whether the target directory exists (then `path` is inside it and its entries move up).
    into_existing: bool,
}

impl Staging {
    fn create(dir: &Path, into_existing: bool) -> Result<Self, String> {
        let (parent, stem) = if into_existing {
            (dir.to_path_buf(), ".lunora-new".to_owned())
        } else {
            let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            (parent.to_path_buf(), format!(".{name}.lunora-new"))
        };
        // create_dir fails on an existing path, so a leftover of an interrupted run is never reused.
        for attempt in 0..100 {
            let path = parent.join(format!("{stem}-{}-{attempt}", std::process::id()));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(Self { path, into_existing }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(format!("{}: cannot create a directory: {e}; nothing was written", parent.display()));
                }
            }
        }
        Err(format!("{}: cannot create a staging directory (100 taken); nothing was written", parent.display()))
    }

    fn fill(&self, files: &[(&str, String)], lunora: &LunoraSource) -> Result<(), String> {
        for (relative, text) in files {
            let path = self.path.join(relative);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| format!("{}: cannot create: {e}", parent.display()))?;
            }
            std::fs::write(&path, text).map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
        }
        // A checkout's lockfile pins the versions lunora is tested with; cargo drops the
        // entries the project does not need on its first build.
        if let LunoraSource::Checkout(root) = lunora {
            let lock = root.join("Cargo.lock");
            if lock.is_file() {
                std::fs::copy(&lock, self.path.join("Cargo.lock"))
                    .map_err(|e| format!("{}: cannot copy: {e}", lock.display()))?;
            }
        }
        Ok(())
    }

    /// Writes the registry and the JS entry module and reconciles `[[workflows]]`, exactly as
    /// `lunora-codegen sync` would in the finished project.
    fn sync(&self) -> Result<(), String> {
        let options = SyncOptions {
            manifest_path: self.path.join("Cargo.toml"),
            wrangler_config: None,
            registry_out: None,
            entry_out: None,
        };
        let plan = sync::plan(&options).map_err(|e| format!("the new project does not sync: {e}"))?;
        sync::apply(&plan).map_err(|e| format!("the new project does not sync: {e}"))?;
        Ok(())
    }

    fn publish(&self, dir: &Path) -> Result<(), String> {
        if !self.into_existing {
            // One rename: DIR appears whole. Renaming over an empty directory created meanwhile
            // succeeds (nothing in it is lost); over a non-empty one it fails.
            return std::fs::rename(&self.path, dir).map_err(|e| format!("{}: cannot create: {e}", dir.display()));
        }
        let mut moved: Vec<PathBuf> = Vec::new();
        let listed = std::fs::read_dir(&self.path).and_then(|d| d.collect::<Result<Vec<_>, _>>());
        let mut entries = listed.map_err(|e| format!("{}: cannot list: {e}", self.path.display()))?;
        // In name order, so a failure part way is reproducible.
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let target = dir.join(entry.file_name());
            // Never over something that appeared in DIR meanwhile.
            let result = if target.symlink_metadata().is_ok() {
                Err(format!("{}: appeared while the project was written", target.display()))
            } else {
                std::fs::rename(entry.path(), &target).map_err(|e| format!("{}: cannot create: {e}", target.display()))
            };
            if let Err(e) = result {
                for path in moved.iter().rev() {
                    let back = self.path.join(path.file_name().expect("an entry's name"));
                    let _ = std::fs::rename(path, back);
                }
                return Err(e);
            }
            moved.push(target);
        }
        std::fs::remove_dir(&self.path).map_err(|e| format!("{}: cannot remove: {e}", self.path.display()))
    }

    fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_of_every_template_is_filled() {
        for lunora in [LunoraSource::Version("0.1.0".into()), LunoraSource::Checkout(PathBuf::from("/src/lunora"))] {
            for (path, text) in render("my-flows", &lunora) {
                assert_eq!(placeholders(&text), [], "{path} keeps a placeholder:\n{text}");
            }
        }
        let files = render("my-flows", &LunoraSource::Version("0.1.0".into()));
        let manifest = &files.iter().find(|(p, _)| *p == "Cargo.toml").unwrap().1;
        assert!(manifest.contains("name = \"my-flows\"\n"), "{manifest}");
        assert!(manifest.contains("\nlunora-runtime = \"0.1.0\"\n"), "{manifest}");
        assert!(manifest.contains(&format!("worker = \"{WORKER_VERSION}\"")), "{manifest}");
        let test = &files.iter().find(|(p, _)| *p == "tests/signup.rs").unwrap().1;
        assert!(test.contains("use my_flows::workflows::"), "{test}");
    }

    #[test]
    fn the_worker_version_is_the_one_lunora_runtime_is_locked_to() {
        let lock = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock")).unwrap();
        let doc: toml_edit::DocumentMut = lock.parse().unwrap();
        let locked: Vec<&str> = doc["package"]
            .as_array_of_tables()
            .unwrap()
            .iter()
            .filter(|p| p["name"].as_str() == Some("worker"))
            .filter_map(|p| p["version"].as_str())
            .collect();
        assert_eq!(locked, [WORKER_VERSION], "update WORKER_VERSION (the new project's `worker`) with Cargo.lock");
    }

    #[test]
    fn a_checkout_path_is_an_escaped_toml_string() {
        let files = render("x", &LunoraSource::Checkout(PathBuf::from("/a \"b\"\\c")));
        let manifest = &files.iter().find(|(p, _)| *p == "Cargo.toml").unwrap().1;
        let doc: toml_edit::DocumentMut = manifest.parse().unwrap();
        assert_eq!(doc["dependencies"]["lunora-runtime"]["path"].as_str(), Some("/a \"b\"\\c/lunora-runtime"));
    }

    #[test]
    fn fill_leaves_unknown_placeholders_and_never_rescans_values() {
        assert_eq!(fill("a {{x}} b {{y}} {{x", &[("x", "{{y}}")]), "a {{y}} b {{y}} {{x");
        // Rust's own braces are no placeholders.
        assert_eq!(fill("format!(\"{{}}\") {{{x}}}", &[("x", "1")]), "format!(\"{{}}\") {1}");
        assert_eq!(placeholders("{{a}} {{B}} {{}} {{a_b}}"), [(0, 5, "a"), (17, 7, "a_b")]);
    }

    #[test]
    fn project_names_follow_cargo_wrangler_and_cloudflare() {
        for good in ["a", "my-flows", "flows2", "a-b-c", &"a".repeat(63)] {
            assert_eq!(check_project_name(good), Ok(()), "{good}");
        }
        let cases = [
            ("", "it is empty"),
            ("My-App", "it contains 'M'"),
            ("my_app", "it contains '_'"),
            ("my app", "it contains ' '"),
            ("über", "it contains 'ü'"),
            ("2fast", "it must start with a letter"),
            ("-x", "it must start with a letter"),
            ("x-", "it must not end with '-'"),
            ("type", "Rust keyword"),
            ("self", "Rust keyword"),
            ("test", "cargo reserves it"),
            ("proc-macro", "cargo reserves it"),
            ("con", "cargo reserves it"),
            ("worker", "depends on a crate of that name"),
            ("lunora-runtime", "depends on a crate of that name"),
            ("serde-json", "depends on a crate of that name"),
        ];
        for (bad, why) in cases {
            let err = check_project_name(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
            assert!(err.contains("pick another directory name, e.g. "), "{err}");
        }
        assert!(check_project_name(&"a".repeat(64)).unwrap_err().contains("64 characters, more than Cloudflare's 63"));
        assert!(check_project_name("My_App").unwrap_err().ends_with("e.g. my-app"));
    }

    /// Every path under `dir`, relative, sorted.
    fn tree(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                out.push(path.strip_prefix(dir).unwrap().to_path_buf());
                if path.is_dir() {
                    stack.push(path);
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn a_file_that_appears_while_publishing_into_a_directory_undoes_the_moves() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("flows");
        std::fs::create_dir(&dir).unwrap();
        let staging = Staging::create(&dir, true).unwrap();
        staging
            .fill(&render("flows", &LunoraSource::Version("0.1.0".into())), &LunoraSource::Version("0.1.0".into()))
            .unwrap();
        // Someone else writes into DIR meanwhile a name the project also has, and which comes
        // last: every other entry has been moved when it is found, and must be moved back.
        std::fs::write(dir.join("wrangler.toml"), "theirs").unwrap();
        let err = staging.publish(&dir).unwrap_err();
        assert!(err.ends_with("appeared while the project was written"), "{err}");
        staging.remove();
        // Theirs untouched, nothing of the project left, no staging directory.
        assert_eq!(tree(&dir), [PathBuf::from("wrangler.toml")]);
        assert_eq!(std::fs::read_to_string(dir.join("wrangler.toml")).unwrap(), "theirs");
    }

    #[test]
    fn the_name_comes_from_the_directory() {
        assert_eq!(project_name(Path::new("/tmp/x/my-flows")).unwrap(), "my-flows");
        assert_eq!(project_name(Path::new("my-flows/")).unwrap(), "my-flows");
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(project_name(Path::new(".")).unwrap(), cwd.file_name().unwrap().to_str().unwrap());
    }
}
