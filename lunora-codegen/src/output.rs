//! Writing generated files: only when their bytes change, and atomically (a temporary file in
//! the same directory, then a rename), so a reader never sees half a file and an unchanged
//! file keeps its modification time (no needless rebuilds).

use std::io::Write;
use std::path::Path;

/// Writes `contents` to `path` unless it already holds exactly these bytes. Returns whether it wrote.
pub fn write_if_changed(path: &Path, contents: &str) -> std::io::Result<bool> {
    if std::fs::read(path).is_ok_and(|old| old == contents.as_bytes()) {
        return Ok(false);
    }
    write_atomically(path, contents)?;
    Ok(true)
}

/// Replaces `path` whole: the old file or the new one, never a mix.
pub fn write_atomically(path: &Path, contents: &str) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.lunora-{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(contents.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unchanged_files_are_not_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b.rs");
        assert!(write_if_changed(&path, "x").unwrap());
        let before = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(!write_if_changed(&path, "x").unwrap());
        assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), before);
        assert!(write_if_changed(&path, "y").unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "y");
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");
    }
}
