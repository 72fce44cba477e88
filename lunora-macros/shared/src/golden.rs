//! Golden files for the workspace's tests (feature `golden`, a dev-dependency only): a test's
//! output must equal the expected file byte for byte; `BLESS=1` rewrites the file instead. Only
//! the value `1` blesses, so `BLESS=0` or an empty `BLESS` checks as usual.

use std::ffi::OsStr;
use std::path::Path;

/// Whether this run rewrites the golden files: `BLESS=1` in the environment.
pub fn blessing() -> bool {
    blesses(std::env::var_os("BLESS").as_deref())
}

fn blesses(value: Option<&OsStr>) -> bool {
    value == Some(OsStr::new("1"))
}

/// Compares `actual` with the golden file at `path`, or writes it there when [`blessing`].
/// The error names the file, the first differing line and how to accept the new output.
pub fn check(path: &Path, actual: &str) -> Result<(), String> {
    check_or_bless(path, actual, blessing())
}

/// [`check`], panicking with its message.
#[track_caller]
pub fn assert_golden(path: &Path, actual: &str) {
    if let Err(message) = check(path, actual) {
        panic!("{message}");
    }
}

fn check_or_bless(path: &Path, actual: &str, bless: bool) -> Result<(), String> {
    if bless {
        return std::fs::write(path, actual).map_err(|e| format!("cannot bless {}: {e}", path.display()));
    }
    let expected = std::fs::read_to_string(path)
        .map_err(|e| format!("{} cannot be read ({e}); run with BLESS=1 to create it", path.display()))?;
    if expected == actual {
        return Ok(());
    }
    Err(format!(
        "{} differs ({}); run with BLESS=1 to accept\n--- actual ---\n{actual}",
        path.display(),
        first_difference(&expected, actual)
    ))
}

/// Where two texts first differ, by line.
fn first_difference(expected: &str, actual: &str) -> String {
    for (i, (e, a)) in expected.lines().zip(actual.lines()).enumerate() {
        if e != a {
            return format!("line {}:\n  expected: {e:?}\n  actual:   {a:?}", i + 1);
        }
    }
    if expected.lines().count() != actual.lines().count() {
        return format!("line counts differ: expected {}, actual {}", expected.lines().count(), actual.lines().count());
    }
    "the line ends or the final newline differ".into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A fresh file path under the system's temporary directory, removed on drop.
    struct TempPath(PathBuf);

    impl TempPath {
        fn new(name: &str) -> Self {
            let path = std::env::temp_dir().join(format!("lunora-golden-{}-{name}", std::process::id()));
            let _ = std::fs::remove_file(&path);
            TempPath(path)
        }
    }

    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn only_bless_1_blesses() {
        assert!(blesses(Some(OsStr::new("1"))));
        for value in ["0", "", "true", "yes", " 1", "1 "] {
            assert!(!blesses(Some(OsStr::new(value))), "BLESS={value:?}");
        }
        assert!(!blesses(None));
    }

    #[test]
    fn a_difference_names_the_file_and_the_first_differing_line_and_leaves_the_file_alone() {
        let file = TempPath::new("differs");
        std::fs::write(&file.0, "a\nb\nc\n").unwrap();
        let err = check_or_bless(&file.0, "a\nB\nc\n", false).unwrap_err();
        assert_eq!(
            err,
            format!(
                "{} differs (line 2:\n  expected: \"b\"\n  actual:   \"B\"); run with BLESS=1 to accept\n--- actual ---\na\nB\nc\n",
                file.0.display()
            )
        );
        assert_eq!(std::fs::read_to_string(&file.0).unwrap(), "a\nb\nc\n");
        assert!(check_or_bless(&file.0, "a\nb\nc", false)
            .unwrap_err()
            .contains("the line ends or the final newline differ"));
        assert!(check_or_bless(&file.0, "a\nb\n", false)
            .unwrap_err()
            .contains("line counts differ: expected 3, actual 2"));
        assert_eq!(check_or_bless(&file.0, "a\nb\nc\n", false), Ok(()));
    }

    #[test]
    fn a_missing_file_is_an_error_unless_blessing_which_writes_it() {
        let file = TempPath::new("missing");
        let err = check_or_bless(&file.0, "x", false).unwrap_err();
        assert!(err.starts_with(&format!("{} cannot be read (", file.0.display())), "{err}");
        assert!(err.ends_with("); run with BLESS=1 to create it"), "{err}");
        assert!(!file.0.exists());
        check_or_bless(&file.0, "x\n", true).unwrap();
        assert_eq!(std::fs::read_to_string(&file.0).unwrap(), "x\n");
        assert_eq!(check_or_bless(&file.0, "x\n", false), Ok(()));
    }
}
