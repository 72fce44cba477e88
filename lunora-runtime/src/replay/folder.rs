//! The test helper: every history file of a folder replayed against the registered workflows,
//! all failures listed at once, so one `#[test]` guards every deploy.

use std::fmt;
use std::path::{Path, PathBuf};

use super::replayer::Replayer;
use super::report::ReplayReport;
use crate::history::History;

/// Why a folder of histories does not replay: one line per file that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayFailures {
    pub dir: PathBuf,
    /// How many history files were found.
    pub checked: usize,
    /// One message per failure: a divergence, an unreadable or malformed file, a history of a
    /// workflow that is not registered.
    pub failures: Vec<String>,
}

impl fmt::Display for ReplayFailures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of the {} histories in {} do not replay against the current code:",
            self.failures.len(),
            self.checked,
            self.dir.display()
        )?;
        for failure in &self.failures {
            write!(f, "\n  - {failure}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ReplayFailures {}

impl Replayer {
    /// Replays every `*.json` file of `dir` (not its subfolders; names starting with `.` are
    /// skipped), in name order, each against the workflow it names. Fails listing every
    /// failure; a missing or unreadable folder is a failure too.
    pub fn check_dir(&self, dir: impl AsRef<Path>) -> Result<Vec<ReplayReport>, ReplayFailures> {
        let dir = dir.as_ref();
        let fail = |failures: Vec<String>, checked| ReplayFailures { dir: dir.to_owned(), checked, failures };
        let files = history_files(dir).map_err(|e| fail(vec![e], 0))?;
        let (mut reports, mut failures) = (Vec::new(), Vec::new());
        for path in &files {
            let history = match History::read(path) {
                Ok(history) => history,
                Err(e) => {
                    failures.push(e.to_string());
                    continue;
                }
            };
            match self.replay(&history) {
                Ok(mut report) => {
                    report.file = Some(path.display().to_string());
                    if !report.is_compatible() {
                        failures.push(report.to_string());
                    }
                    reports.push(report);
                }
                Err(e) => failures.push(format!("{}: {}", path.display(), e.message())),
            }
        }
        if failures.is_empty() {
            Ok(reports)
        } else {
            Err(fail(failures, files.len()))
        }
    }

    /// [`Replayer::check_dir`] for a `#[test]`: panics with every failure listed.
    #[track_caller]
    pub fn assert_dir(&self, dir: impl AsRef<Path>) -> Vec<ReplayReport> {
        self.check_dir(dir).unwrap_or_else(|failures| panic!("{failures}"))
    }
}

fn history_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: cannot read the folder: {e}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| format!("{}: cannot read the folder: {e}", dir.display()))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_file() && name.ends_with(".json") && !name.starts_with('.') {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}
