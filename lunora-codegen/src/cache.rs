//! The analysis cache: what the macros' parser read from each annotated fn, so that a
//! `sync --check` after a `sync` does not tokenize and parse every attribute and signature
//! again (most of a check's time on a large crate).
//!
//! It can never change an answer:
//! - an entry is keyed on the fn's exact text (its attributes and signature, as the scanner
//!   hands them to the parser) and the attribute kinds resolution gave it, compared in full
//!   (a hash only sorts the index); the analysis is a function of these alone (the fn's file,
//!   place, module and cfgs are applied afterwards, to cached and fresh results alike), and no
//!   source file's size or modification time is ever trusted in place of its text;
//! - the file is only used by the very tool binary that wrote it (its version, path, size
//!   and modification time), so a rebuilt or upgraded tool starts from nothing;
//! - only successful analyses are kept: a fn with errors is parsed on every run;
//! - beside the analyses, the wrangler config's last reconciliation, when it changed nothing:
//!   the config's whole text, everything else the reconciliation read (see
//!   [`crate::wrangler::reconciliation_inputs`]), and its report. A run whose config text and
//!   inputs are both equal to these, in full, takes the report without parsing the config;
//!   any other run (a config edited by hand, by one byte) reconciles it afresh;
//! - a file that is missing, unreadable or not understood is an empty cache: it is read through
//!   (every entry's framing checked, their count matched) before any entry is used, so one cut
//!   short or damaged anywhere is not used at all.
//!
//! `sync` (and nothing else) rewrites it, with exactly the fns of that scan and its config's
//! reconciliation, into `lunora-codegen/` in the crate's target directory
//! (`$CARGO_TARGET_DIR`, else the `target` directory next to the nearest `Cargo.lock` above the
//! crate), only if that directory exists: a crate that was never built gets no directory
//! created for it. It is written to a temporary file and renamed into place, so a concurrent
//! reader sees the old file or the new one.

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

/// The analyses a previous `sync` kept, as read from its file: the file's text, indexed, and an
/// entry decoded only when a fn asks for it (a check reads a few of a large crate's entries
/// afresh, and most of them back; decoding them all up front would be most of the reading).
#[derive(Debug, Default)]
pub struct Cache {
    text: String,
    /// Every entry, sorted by [`entry_hash`].
    index: Vec<Indexed>,
    /// Where the kept reconciliation is in `text`.
    reconciliation: Option<KeptRanges>,
}

#[derive(Debug, Clone)]
struct KeptRanges {
    inputs: (usize, usize),
    config: (usize, usize),
    report: Vec<(usize, usize)>,
}

/// A reconciliation of the wrangler config that changed nothing: the config's text, what else
/// it read ([`crate::wrangler::reconciliation_inputs`]), and its report, one line a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciliation {
    pub inputs: String,
    pub config: String,
    pub report: Vec<String>,
}

/// A [`Reconciliation`] as read back from the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptReconciliation<'a> {
    pub inputs: &'a str,
    pub report: Vec<&'a str>,
}

#[derive(Debug, Clone, Copy)]
struct Indexed {
    hash: u64,
    kinds: (usize, usize),
    text: (usize, usize),
    /// Where its analysis starts in the file.
    found: usize,
}

/// What a scan analysed, which `sync` keeps as the next run's [`Cache`].
#[derive(Debug, Default)]
pub struct Analyses {
    /// The attribute kinds (see [`kinds_key`]), the fn's text, and what it holds.
    entries: Vec<(String, String, Vec<Found>)>,
}

/// The part of an entry's key that is not the fn's text: the attribute kinds resolution gave
/// it, one `workflow=path` / `step=path` line each.
pub fn kinds_key(kinds: &[(SimplePath, AttributeKind)]) -> String {
    let mut key = String::new();
    for (path, kind) in kinds {
        key.push_str(match kind {
            AttributeKind::Workflow => "workflow=",
            AttributeKind::Step => "step=",
        });
        key.push_str(&path.to_string());
        key.push('\n');
    }
    key
}

/// Where entries sort in the index. Any collision only costs a comparison: an entry is used
/// when its kinds and text are equal in full.
fn entry_hash(kinds: &str, text: &str) -> u64 {
    // Eight bytes a step (FxHash's multiply): the texts are a few hundred bytes each.
    const MULTIPLIER: u64 = 0x517c_c1b7_2722_0a95;
    fn hash(bytes: &[u8]) -> u64 {
        let mut h = bytes.len() as u64;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
            h = (h.rotate_left(5) ^ word).wrapping_mul(MULTIPLIER);
        }
        let mut last = [0u8; 8];
        last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        (h.rotate_left(5) ^ u64::from_le_bytes(last)).wrapping_mul(MULTIPLIER)
    }
    (hash(kinds.as_bytes()).rotate_left(32) ^ hash(text.as_bytes())).wrapping_mul(MULTIPLIER)
}

impl Cache {
    /// What the fn with this text held when its attributes had these kinds ([`kinds_key`]).
    pub fn get(&self, kinds: &str, text: &str) -> Option<Vec<Found>> {
        let hash = entry_hash(kinds, text);
        let first = self.index.partition_point(|e| e.hash < hash);
        let slice = |(start, end): (usize, usize)| &self.text[start..end];
        let entry = self.index[first..]
            .iter()
            .take_while(|e| e.hash == hash)
            .find(|e| slice(e.kinds) == kinds && slice(e.text) == text)?;
        // The whole file was read through once when it was indexed, so this cannot fail.
        found_list(&mut Reader { rest: &self.text[entry.found..] }, true)
    }

    /// The kept reconciliation of a config holding exactly `config` (compared in full); its
    /// inputs are the caller's to compare with the run's.
    pub fn reconciliation(&self, config: &str) -> Option<KeptReconciliation<'_>> {
        let kept = self.reconciliation.as_ref()?;
        let slice = |(start, end): (usize, usize)| &self.text[start..end];
        (slice(kept.config) == config).then(|| KeptReconciliation {
            inputs: slice(kept.inputs),
            report: kept.report.iter().map(|&r| slice(r)).collect(),
        })
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// The cache of the crate whose directory is `crate_dir`, empty when there is none this
    /// tool wrote.
    pub fn load(crate_dir: &Path) -> Self {
        let (Some(path), Some(tool)) = (file(crate_dir), tool()) else { return Cache::default() };
        let Ok(text) = std::fs::read_to_string(path) else { return Cache::default() };
        parse(text, &tool).unwrap_or_default()
    }
}

impl Analyses {
    /// Keeps what the fn with this text held under these kinds ([`kinds_key`]).
    pub fn insert(&mut self, kinds: String, text: String, found: Vec<Found>) {
        self.entries.push((kinds, text, found));
    }

    /// Replaces the crate's cache file with these entries and `reconciliation` (see the module
    /// docs for where, and when not). Failing to write is not an error: the cache only saves time.
    pub fn store(&self, crate_dir: &Path, reconciliation: Option<&Reconciliation>) {
        let (Some(path), Some(tool)) = (file(crate_dir), tool()) else { return };
        let Some(dir) = path.parent().filter(|d| d.parent().is_some_and(Path::is_dir)) else { return };
        let _ = std::fs::create_dir_all(dir);
        let temporary = dir.join(format!(".{}.{}.tmp", file_name(&path), std::process::id()));
        if std::fs::write(&temporary, self.encode(&tool, reconciliation)).is_err()
            || std::fs::rename(&temporary, &path).is_err()
        {
            let _ = std::fs::remove_file(&temporary);
        }
    }

    /// The file's text: a header line with the tool, then each entry (its kinds, its fn's text,
    /// what it holds) as length-prefixed strings (`<bytes>:<text>`) and numbers (`<n>;`), so
    /// reading it is mostly slicing. The entries are counted first, sorted, and a fn text met
    /// twice is kept once. Then the reconciliation: `0;` for none, else `1;`, its inputs, the
    /// config's text, and its report lines, counted.
    fn encode(&self, tool: &str, reconciliation: Option<&Reconciliation>) -> String {
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
        let mut entries: Vec<&(String, String, Vec<Found>)> = self.entries.iter().collect();
        entries.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        entries.dedup_by(|a, b| (&a.0, &a.1) == (&b.0, &b.1));
        // The count, so that a file cut at an entry's end is not taken for a shorter cache.
        number(&mut out, entries.len());
        for (kinds, text, found) in entries {
            string(&mut out, kinds);
            string(&mut out, text);
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
        match reconciliation {
            None => number(&mut out, 0),
            Some(Reconciliation { inputs, config, report }) => {
                number(&mut out, 1);
                string(&mut out, inputs);
                string(&mut out, config);
                number(&mut out, report.len());
                for line in report {
                    string(&mut out, line);
                }
            }
        }
        out
    }
}

/// Version 3: the entries, then the config's reconciliation (version 2 had no reconciliation;
/// version 1 joined an entry's kinds and text in one key).
const HEADER: &str = "lunora-codegen analyses 3";

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Indexes what [`Analyses::encode`] wrote for `tool`; `None` if it is not that, or if any
/// part of it does not read (a truncated or damaged file is not used at all).
fn parse(text: String, tool: &str) -> Option<Cache> {
    let body = text.strip_prefix(HEADER)?.strip_prefix('\n')?;
    let mut reader = Reader { rest: body };
    if reader.string()? != tool {
        return None;
    }
    let offset = |s: &str| s.as_ptr() as usize - text.as_ptr() as usize;
    let range = |s: &str| (offset(s), offset(s) + s.len());
    let count = reader.number()?;
    let mut index = Vec::with_capacity(count.min(text.len() / 8));
    for _ in 0..count {
        let (kinds, fn_text) = (reader.string()?, reader.string()?);
        let found = offset(reader.rest);
        found_list(&mut reader, false)?;
        index.push(Indexed { hash: entry_hash(kinds, fn_text), kinds: range(kinds), text: range(fn_text), found });
    }
    let reconciliation = match reader.number()? {
        0 => None,
        1 => {
            let (inputs, config) = (range(reader.string()?), range(reader.string()?));
            let lines = reader.number()?;
            let mut report = Vec::with_capacity(lines.min(text.len() / 2));
            for _ in 0..lines {
                report.push(range(reader.string()?));
            }
            Some(KeptRanges { inputs, config, report })
        }
        _ => return None,
    };
    if !reader.rest.is_empty() {
        return None;
    }
    index.sort_unstable_by_key(|e| e.hash);
    Some(Cache { text, index, reconciliation })
}

/// One entry's analysis: read through (and checked) only, or also `decode`d.
fn found_list(reader: &mut Reader<'_>, decode: bool) -> Option<Vec<Found>> {
    let count = reader.number()?;
    let mut found = Vec::with_capacity(if decode { count.min(16) } else { 0 });
    for _ in 0..count {
        let (tag, after) = reader.rest.split_at_checked(1)?;
        reader.rest = after;
        let item = match tag {
            "W" => {
                let [export_name, deployed_name, binding, class_name, visibility] = [(); 5].map(|()| reader.string());
                let (export_name, deployed_name, binding, class_name, visibility) =
                    (export_name?, deployed_name?, binding?, class_name?, visibility?);
                let mut schedules = Vec::new();
                for _ in 0..reader.number()? {
                    let schedule = reader.string()?;
                    if decode {
                        schedules.push(schedule.to_owned());
                    }
                }
                let step_limit = match reader.number()? {
                    0 => None,
                    n => Some(u32::try_from(n - 1).ok()?),
                };
                let at = (reader.number()?, reader.number()?);
                decode.then(|| Found::Workflow {
                    export_name: export_name.to_owned(),
                    deployed_name: deployed_name.to_owned(),
                    binding: binding.to_owned(),
                    class_name: class_name.to_owned(),
                    schedules,
                    step_limit,
                    visibility: visibility.to_owned(),
                    at,
                })
            }
            "S" => {
                let name = reader.string()?;
                let at = (reader.number()?, reader.number()?);
                decode.then(|| Found::Step { name: name.to_owned(), at })
            }
            _ => return None,
        };
        found.extend(item);
    }
    Some(found)
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

    /// Two fns (one met twice); `schedule` is the workflow's second schedule.
    fn sample(schedule: &str) -> Analyses {
        let mut analyses = Analyses::default();
        let workflow = Found::Workflow {
            export_name: "flow".into(),
            deployed_name: "flow".into(),
            binding: "WORKFLOW_FLOW".into(),
            class_name: "FlowWorkflow".into(),
            schedules: vec!["0 3 * * *".into(), schedule.into()],
            step_limit: Some(7),
            visibility: "pub (crate)".into(),
            at: (1, 0),
        };
        analyses.insert("workflow=workflow\n".into(), "#[workflow] fn f() {}".into(), vec![workflow]);
        analyses.insert("step=s\n".into(), "x".into(), vec![Found::Step { name: "s\"\n".into(), at: (2, 4) }]);
        analyses.insert("step=s\n".into(), "x".into(), vec![Found::Step { name: "s\"\n".into(), at: (2, 4) }]);
        analyses
    }

    #[test]
    fn a_cache_reads_back_what_it_wrote_for_the_same_tool_only() {
        // Separators in a string are read as its bytes.
        let analyses = sample("1:2; 3:");
        let text = analyses.encode("tool 1", None);
        let back = parse(text.clone(), "tool 1").expect("reads back");
        let (workflow, step) = (&analyses.entries[0], &analyses.entries[1]);
        assert_eq!(back.get(&workflow.0, &workflow.1).as_ref(), Some(&workflow.2));
        assert_eq!(back.get(&step.0, &step.1).as_ref(), Some(&step.2));
        assert_eq!(back.len(), 2, "a fn text met twice is kept once");
        // The kinds and the text are both the key, in full.
        assert_eq!(back.get("step=s\n", "#[workflow] fn f() {}"), None);
        assert_eq!(back.get("workflow=workflow\n", "#[workflow] fn f() {} "), None);
        assert_eq!(back.get("", "x"), None);
        assert!(parse(text, "tool 2").is_none(), "another tool's cache is not read");
        assert_eq!(back.reconciliation(""), None, "no reconciliation was kept");
    }

    fn kept_reconciliation() -> Reconciliation {
        Reconciliation {
            inputs: "toml\nA a A_B\n".into(),
            config: "[[workflows]]\nname = \"a\"\n".into(),
            report: vec!["kept x of workflows entry A".into(), "1:2;".into()],
        }
    }

    #[test]
    fn a_kept_reconciliation_is_given_for_its_exact_config_text_only() {
        let kept = kept_reconciliation();
        let back = parse(sample("x").encode("tool 1", Some(&kept)), "tool 1").expect("reads back");
        assert_eq!(back.len(), 2);
        assert_eq!(
            back.reconciliation(&kept.config),
            Some(KeptReconciliation { inputs: &kept.inputs, report: vec![&kept.report[0], &kept.report[1]] })
        );
        // One byte more, less or changed: not this config.
        assert_eq!(back.reconciliation(&format!("{} ", kept.config)), None);
        assert_eq!(back.reconciliation(&kept.config[1..]), None);
        assert_eq!(back.reconciliation(&kept.config.replace("\"a\"", "\"b\"")), None);
        let empty = Reconciliation { inputs: String::new(), config: String::new(), report: Vec::new() };
        let back = parse(Analyses::default().encode("tool 1", Some(&empty)), "tool 1").expect("reads back");
        assert_eq!(back.reconciliation(""), Some(KeptReconciliation { inputs: "", report: Vec::new() }));
    }

    /// Cut anywhere (at an entry's end too) or with a byte changed in its framing, the file is
    /// not used at all: never a shorter cache, never a misread entry.
    #[test]
    fn a_truncated_or_damaged_file_is_not_read() {
        let text = sample("* * * * *").encode("tool 1", Some(&kept_reconciliation()));
        assert!(parse(text.clone(), "tool 1").is_some());
        for end in 0..text.len() {
            assert!(parse(text[..end].to_owned(), "tool 1").is_none(), "cut at {end}: {:?}", &text[..end]);
        }
        assert!(parse(format!("{text}1:x"), "tool 1").is_none(), "trailing bytes");
        for (i, b) in text.bytes().enumerate() {
            // Every `:` and `;` is framing here, but those of the last report line, `1:2;`.
            if (b == b':' || b == b';') && i < text.len() - 4 {
                let mut damaged = text.clone().into_bytes();
                damaged[i] = b'?';
                let damaged = String::from_utf8(damaged).unwrap();
                assert!(parse(damaged, "tool 1").is_none(), "framing byte {i} changed");
            }
        }
        assert!(parse(text.replacen("analyses 3", "analyses 2", 1), "tool 1").is_none(), "another version");
        assert!(text.contains("\n2;27:kept"), "{text:?}");
        assert!(parse(text.replacen("\n2;27:", "\n3;27:", 1), "tool 1").is_none(), "more report lines than written");
        // Version 2 (no reconciliation after the entries) is another version, not a cut file.
        let version2 = sample("x").encode("tool 1", None).replacen("analyses 3", "analyses 2", 1);
        assert!(parse(version2[..version2.len() - 2].to_owned(), "tool 1").is_none());
    }
}
