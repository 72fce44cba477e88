//! The analysis cache: what the macros' parser read from each annotated fn, so that a
//! `sync --check` after a `sync` does not tokenize and parse every attribute and signature
//! again (most of a check's time on a large crate).
//!
//! It can never change an answer:
//! - an entry is keyed on the fn's exact text (its attributes and signature, as the scanner
//!   hands them to the parser) and the attribute kinds resolution gave it, compared in full,
//!   not by hash; the analysis is a function of these alone (the fn's file, place, module and
//!   cfgs are applied afterwards, to cached and fresh results alike);
//! - the file is only used by the very tool binary that wrote it (its version, path, size
//!   and modification time), so a rebuilt or upgraded tool starts from nothing;
//! - only successful analyses are kept: a fn with errors is parsed on every run;
//! - a file that is missing, unreadable or not understood is an empty cache.
//!
//! `sync` (and nothing else) rewrites it, with exactly the fns of that scan, into
//! `lunora-codegen/` in the crate's target directory (`$CARGO_TARGET_DIR`, else the `target`
//! directory next to the nearest `Cargo.lock` above the crate), only if that directory exists:
//! a crate that was never built gets no directory created for it. It is written to a temporary
//! file and renamed into place, so a concurrent reader sees the old file or the new one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::outline::SimplePath;
use lunora_shared::attributes::AttributeKind;

/// What one annotated fn holds, placed relative to its text: a position is a span start as
/// proc-macro2 gives it (1-based line, 0-based column, within the fn's text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found {
    Workflow {
        export_name: String,
        deployed_name: String,
        binding: String,
        class_name: String,
        schedules: Vec<String>,
        step_limit: Option<u32>,
        /// The fn's visibility, which its descriptor has.
        visibility: String,
        at: (usize, usize),
    },
    Step {
        name: String,
        at: (usize, usize),
    },
}

/// The analyses of one scan, by fn.
#[derive(Debug, Default)]
pub struct Cache {
    entries: HashMap<String, Vec<Found>>,
}

/// An entry's key: the attribute kinds, then the fn's text.
pub fn key(kinds: &[(SimplePath, AttributeKind)], text: &str) -> String {
    let mut key = String::with_capacity(text.len() + 32);
    for (path, kind) in kinds {
        key.push_str(match kind {
            AttributeKind::Workflow => "workflow=",
            AttributeKind::Step => "step=",
        });
        key.push_str(&path.to_string());
        key.push('\n');
    }
    key.push('\n');
    key.push_str(text);
    key
}

impl Cache {
    pub fn get(&self, key: &str) -> Option<&Vec<Found>> {
        self.entries.get(key)
    }

    pub fn insert(&mut self, key: String, found: Vec<Found>) {
        self.entries.insert(key, found);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The cache of the crate whose directory is `crate_dir`, empty when there is none this
    /// tool wrote.
    pub fn load(crate_dir: &Path) -> Self {
        let (Some(path), Some(tool)) = (file(crate_dir), tool()) else { return Cache::default() };
        let Ok(text) = std::fs::read_to_string(path) else { return Cache::default() };
        parse(&text, &tool).unwrap_or_default()
    }

    /// Replaces the crate's cache file with these entries (see the module docs for where, and
    /// when not). Failing to write is not an error: the cache only saves time.
    pub fn store(&self, crate_dir: &Path) {
        let (Some(path), Some(tool)) = (file(crate_dir), tool()) else { return };
        let Some(dir) = path.parent().filter(|d| d.parent().is_some_and(Path::is_dir)) else { return };
        let _ = std::fs::create_dir_all(dir);
        let temporary = dir.join(format!(".{}.{}.tmp", file_name(&path), std::process::id()));
        if std::fs::write(&temporary, self.encode(&tool)).is_err() || std::fs::rename(&temporary, &path).is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
    }

    /// The file's text: a header line with the tool, then each entry as length-prefixed
    /// strings (`<bytes>:<text>`) and numbers (`<n>;`), so reading it is mostly slicing.
    fn encode(&self, tool: &str) -> String {
        let mut out = format!("{HEADER}\n");
        let string = |out: &mut String, s: &str| {
            out.push_str(&s.len().to_string());
            out.push(':');
            out.push_str(s);
        };
        let number = |out: &mut String, n: usize| {
            out.push_str(&n.to_string());
            out.push(';');
        };
        string(&mut out, tool);
        let mut keys: Vec<&String> = self.entries.keys().collect();
        keys.sort();
        for key in keys {
            let found = &self.entries[key];
            string(&mut out, key);
            number(&mut out, found.len());
            for f in found {
                match f {
                    Found::Workflow {
                        export_name,
                        deployed_name,
                        binding,
                        class_name,
                        schedules,
                        step_limit,
                        visibility,
                        at,
                    } => {
                        out.push('W');
                        for s in [export_name, deployed_name, binding, class_name, visibility] {
                            string(&mut out, s);
                        }
                        number(&mut out, schedules.len());
                        for s in schedules {
                            string(&mut out, s);
                        }
                        // 0 for none, else the limit plus one.
                        number(&mut out, step_limit.map_or(0, |n| n as usize + 1));
                        number(&mut out, at.0);
                        number(&mut out, at.1);
                    }
                    Found::Step { name, at } => {
                        out.push('S');
                        string(&mut out, name);
                        number(&mut out, at.0);
                        number(&mut out, at.1);
                    }
                }
            }
        }
        out
    }
}

const HEADER: &str = "lunora-codegen analyses 1";

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Reads what [`Cache::encode`] wrote for `tool`; `None` if it is not that.
fn parse(text: &str, tool: &str) -> Option<Cache> {
    let rest = text.strip_prefix(HEADER)?.strip_prefix('\n')?;
    let mut reader = Reader { rest };
    if reader.string()? != tool {
        return None;
    }
    let mut cache = Cache::default();
    while !reader.rest.is_empty() {
        let key = reader.string()?.to_owned();
        let count = reader.number()?;
        let mut found = Vec::with_capacity(count.min(16));
        for _ in 0..count {
            let (tag, after) = reader.rest.split_at_checked(1)?;
            reader.rest = after;
            found.push(match tag {
                "W" => {
                    let [export_name, deployed_name, binding, class_name, visibility] =
                        [(); 5].map(|()| reader.string().map(str::to_owned));
                    let schedules =
                        (0..reader.number()?).map(|_| reader.string().map(str::to_owned)).collect::<Option<_>>()?;
                    let step_limit = match reader.number()? {
                        0 => None,
                        n => Some(u32::try_from(n - 1).ok()?),
                    };
                    Found::Workflow {
                        export_name: export_name?,
                        deployed_name: deployed_name?,
                        binding: binding?,
                        class_name: class_name?,
                        schedules,
                        step_limit,
                        visibility: visibility?,
                        at: (reader.number()?, reader.number()?),
                    }
                }
                "S" => Found::Step { name: reader.string()?.to_owned(), at: (reader.number()?, reader.number()?) },
                _ => return None,
            });
        }
        cache.insert(key, found);
    }
    Some(cache)
}

struct Reader<'a> {
    rest: &'a str,
}

impl<'a> Reader<'a> {
    fn number(&mut self) -> Option<usize> {
        let (n, after) = self.rest.split_once(';')?;
        self.rest = after;
        n.parse().ok()
    }

    fn string(&mut self) -> Option<&'a str> {
        let (len, after) = self.rest.split_once(':')?;
        let (s, after) = after.split_at_checked(len.parse().ok()?)?;
        self.rest = after;
        Some(s)
    }
}

/// This tool binary: its version, path, size and modification time.
fn tool() -> Option<String> {
    let exe = std::env::current_exe().ok()?;
    let meta = std::fs::metadata(&exe).ok()?;
    let modified = meta.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(format!("{} {} {} {}", env!("CARGO_PKG_VERSION"), exe.display(), meta.len(), modified.as_nanos()))
}

/// Where the crate's cache lives (see the module docs).
fn file(crate_dir: &Path) -> Option<PathBuf> {
    let crate_dir = std::path::absolute(crate_dir).ok()?;
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => std::path::absolute(PathBuf::from(dir)).ok()?,
        None => crate_dir.ancestors().find(|d| d.join("Cargo.lock").is_file()).unwrap_or(&crate_dir).join("target"),
    };
    // One file per crate: several crates may share a target directory.
    let hash = crate_dir
        .to_string_lossy()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    Some(target.join("lunora-codegen").join(format!("analyses-{hash:016x}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_reads_back_what_it_wrote_for_the_same_tool_only() {
        let mut cache = Cache::default();
        let workflow = Found::Workflow {
            export_name: "flow".into(),
            deployed_name: "flow".into(),
            binding: "WORKFLOW_FLOW".into(),
            class_name: "FlowWorkflow".into(),
            schedules: vec!["0 3 * * *".into()],
            step_limit: Some(7),
            visibility: "pub (crate)".into(),
            at: (1, 0),
        };
        cache.insert("workflow=workflow\n\n#[workflow] fn f() {}".into(), vec![workflow.clone()]);
        cache.insert("step=s\n\nx".into(), vec![Found::Step { name: "s\"\n".into(), at: (2, 4) }]);
        let json = cache.encode("tool 1");
        let back = parse(&json, "tool 1").expect("reads back");
        assert_eq!(back.get("workflow=workflow\n\n#[workflow] fn f() {}"), Some(&vec![workflow]));
        assert_eq!(back.get("step=s\n\nx"), Some(&vec![Found::Step { name: "s\"\n".into(), at: (2, 4) }]));
        assert_eq!(back.len(), 2);
        assert!(parse(&json, "tool 2").is_none(), "another tool's cache is not read");
        assert!(parse(&json[..json.len() - 1], "tool 1").is_none(), "a truncated file is not read");
    }
}
