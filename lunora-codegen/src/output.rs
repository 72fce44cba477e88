//! Writing generated files, all or nothing.
//!
//! A sync writes up to three files (the registry, the JS entry module, the wrangler config). A
//! reader, or a deploy, must never see some of them new and the others old, nor half a file, and
//! a failure must not leave the tree half-updated. So [`write_all`] is a small transaction:
//!
//! 1. **stage**: each file is written whole to a temporary file next to its target (the same
//!    directory, so the rename below is atomic), with the target's mode and, where permitted,
//!    owner, and fsynced;
//! 2. **commit**: each target is checked to still hold what the caller read (an edit made in
//!    the meantime is refused, not overwritten), kept as a backup (a hard link, else a copy) and
//!    replaced by renaming the temporary file over it;
//! 3. any failure **rolls back**: targets already replaced get their backups renamed back, new
//!    ones are removed, and every temporary file and backup is deleted.
//!
//! A target is resolved through symlinks: the link stays and the file it points at is edited. A
//! read-only target (no write permission bit, or not writable by this user) or a target in a
//! read-only directory is an error: a rename would otherwise replace it anyway, since renaming
//! needs only the directory to be writable.
//!
//! Writing only when the bytes change is the callers' choice ([`write_if_changed`], or a sync
//! that passes only drifting files), so an unchanged file keeps its modification time.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// What a target must hold when its new contents are committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected<'a> {
    /// Anything: the caller did not read it.
    Anything,
    /// No file: the caller found none.
    Absent,
    /// Exactly these bytes: what the caller read and computed the new contents from.
    Bytes(&'a [u8]),
}

/// One file of a [`write_all`] transaction.
#[derive(Clone, Copy, Debug)]
pub struct FileWrite<'a> {
    pub path: &'a Path,
    pub expected: Expected<'a>,
    pub contents: &'a [u8],
}

/// Why a transaction wrote nothing: the file concerned, and a sentence saying what happened
/// (naming the file, or the file its symlink points at), which is what it displays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteError {
    pub path: PathBuf,
    pub message: String,
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for WriteError {}

/// Writes every file of `files`, or none: see the [module docs](self). Returns the paths written
/// (as given). On error every file is as it was before the call, except when rolling back
/// itself fails, which the message then says, naming the backup left behind.
pub fn write_all(files: &[FileWrite<'_>]) -> Result<Vec<PathBuf>, WriteError> {
    let mut staged: Vec<Staged> = Vec::with_capacity(files.len());
    for file in files {
        match Staged::new(file) {
            Ok(s) => staged.push(s),
            Err(message) => {
                staged.iter().for_each(Staged::discard);
                return Err(WriteError { path: file.path.to_path_buf(), message: nothing_written(message) });
            }
        }
    }
    let mut committed: Vec<(&Staged, Option<PathBuf>)> = Vec::with_capacity(staged.len());
    for (i, s) in staged.iter().enumerate() {
        match s.commit() {
            Ok(backup) => committed.push((s, backup)),
            Err(message) => {
                staged[i..].iter().for_each(Staged::discard);
                let failures = rollback(&committed);
                let message = if failures.is_empty() {
                    nothing_written(message)
                } else {
                    format!("{message}; rolling back the files already replaced failed: {}", failures.join("; "))
                };
                return Err(WriteError { path: s.path.clone(), message });
            }
        }
    }
    for dir in committed.iter().map(|(s, _)| s.dir()) {
        // The renames themselves survive a crash only once their directory is synced.
        sync_dir(dir);
    }
    for (_, backup) in &committed {
        if let Some(backup) = backup {
            let _ = fs::remove_file(backup);
        }
    }
    Ok(staged.into_iter().map(|s| s.path).collect())
}

/// Writes `contents` to `path` unless it already holds exactly these bytes. Returns whether it
/// wrote. Same guarantees as [`write_all`] for one file.
pub fn write_if_changed(path: &Path, contents: &str) -> Result<bool, WriteError> {
    let current = match fs::read(path) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(WriteError {
                path: path.to_path_buf(),
                message: format!("cannot read {}: {e}", path.display()),
            })
        }
    };
    if current.as_deref() == Some(contents.as_bytes()) {
        return Ok(false);
    }
    let expected = current.as_deref().map_or(Expected::Absent, Expected::Bytes);
    write_all(&[FileWrite { path, expected, contents: contents.as_bytes() }])?;
    Ok(true)
}

/// Replaces `path` whole, whatever it holds: the old file or the new one, never a mix.
pub fn write_atomically(path: &Path, contents: &str) -> io::Result<()> {
    write_all(&[FileWrite { path, expected: Expected::Anything, contents: contents.as_bytes() }])
        .map(drop)
        .map_err(|e| io::Error::other(e.message))
}

fn nothing_written(message: String) -> String {
    format!("{message}; nothing was written")
}

/// A file written to its temporary name, ready to be renamed over its target.
struct Staged {
    /// The path as the caller gave it.
    path: PathBuf,
    /// Where the bytes go: `path` with symlinks resolved.
    target: PathBuf,
    tmp: PathBuf,
    expected: Guard,
}

/// [`Expected`], owned.
enum Guard {
    Anything,
    Absent,
    Bytes(Vec<u8>),
}

impl Staged {
    fn new(file: &FileWrite<'_>) -> Result<Self, String> {
        let (target, via_link) = resolve(file.path)?;
        let shown = |p: &Path| p.display().to_string();
        let existing = match fs::metadata(&target) {
            Ok(meta) => Some(meta),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("cannot inspect {}: {e}", shown(&target))),
        };
        let dir = parent(&target).to_path_buf();
        if let Some(meta) = &existing {
            if !meta.is_file() {
                return Err(format!("{} is not a regular file (a directory?); move it out of the way", shown(&target)));
            }
            if meta.permissions().readonly() {
                return Err(format!(
                    "{} is read-only{}; make it writable (chmod u+w) for lunora-codegen to update it",
                    shown(&target),
                    mode_note(meta)
                ));
            }
            // The permission bits say writable, but perhaps not for this user: ask the system
            // (opening for writing without truncating changes nothing).
            if let Err(e) = OpenOptions::new().write(true).open(&target) {
                return Err(format!("{} is not writable: {e}", shown(&target)));
            }
        } else if via_link {
            if !dir.is_dir() {
                return Err(format!(
                    "{} is a symlink to {}, whose directory does not exist",
                    file.path.display(),
                    shown(&target)
                ));
            }
        } else {
            fs::create_dir_all(&dir).map_err(|e| {
                format!("cannot write {}: cannot create the directory {}: {e}", file.path.display(), shown(&dir))
            })?;
        }
        let dir_meta = fs::metadata(&dir).map_err(|e| format!("cannot inspect {}: {e}", shown(&dir)))?;
        if dir_meta.permissions().readonly() {
            return Err(format!(
                "cannot write {}: its directory {} is read-only{}; make it writable for lunora-codegen to replace \
                 the file",
                file.path.display(),
                shown(&dir),
                mode_note(&dir_meta)
            ));
        }
        let (tmp, mut out) = create_unique(&dir, &target, "tmp").map_err(|e| {
            format!("cannot write {}: cannot create a temporary file in {}: {e}", file.path.display(), shown(&dir))
        })?;
        let written = (|| {
            out.write_all(file.contents)?;
            if let Some(meta) = &existing {
                out.set_permissions(meta.permissions())?;
                keep_owner(&out, meta)?;
            }
            out.sync_all()
        })();
        drop(out);
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(format!("cannot write {} (as {}): {e}", file.path.display(), shown(&tmp)));
        }
        let expected = match file.expected {
            Expected::Anything => Guard::Anything,
            Expected::Absent => Guard::Absent,
            Expected::Bytes(b) => Guard::Bytes(b.to_vec()),
        };
        Ok(Staged { path: file.path.to_path_buf(), target, tmp, expected })
    }

    fn dir(&self) -> &Path {
        parent(&self.target)
    }

    /// Checks the target, keeps a backup of it, renames the temporary file over it. Returns the
    /// backup (none when there was no file).
    fn commit(&self) -> Result<Option<PathBuf>, String> {
        let target = self.target.display();
        let changed = "changed since lunora-codegen read it (edited during the sync?); run the sync again";
        match &self.expected {
            Guard::Anything => {}
            Guard::Absent => {
                if fs::symlink_metadata(&self.target).is_ok() {
                    return Err(format!("{target} was created while the sync ran; run the sync again"));
                }
            }
            Guard::Bytes(read) => match fs::read(&self.target) {
                Ok(now) if now == *read => {}
                Ok(_) => return Err(format!("{target} {changed}")),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(format!("{target} was deleted while the sync ran; run the sync again"))
                }
                Err(e) => return Err(format!("cannot read {target}: {e}")),
            },
        }
        let backup = match fs::symlink_metadata(&self.target) {
            Ok(_) => Some(self.backup().map_err(|e| format!("cannot keep a backup of {target}: {e}"))?),
            Err(_) => None,
        };
        if let Err(e) = fs::rename(&self.tmp, &self.target) {
            if let Some(backup) = &backup {
                let _ = fs::remove_file(backup);
            }
            return Err(format!("cannot replace {target}: {e}"));
        }
        Ok(backup)
    }

    /// A second name for the current target (a hard link: no copy, and renaming it back restores
    /// the very same file), or a copy where links are not possible.
    fn backup(&self) -> io::Result<PathBuf> {
        let (path, file) = create_unique(self.dir(), &self.target, "orig")?;
        drop(file);
        fs::remove_file(&path)?;
        if fs::hard_link(&self.target, &path).is_ok() {
            return Ok(path);
        }
        fs::copy(&self.target, &path)?;
        File::open(&path)?.sync_all()?;
        Ok(path)
    }

    /// Removes the temporary file of a file not committed.
    fn discard(&self) {
        let _ = fs::remove_file(&self.tmp);
    }
}

/// Undoes the commits, last first. Returns what could not be undone.
fn rollback(committed: &[(&Staged, Option<PathBuf>)]) -> Vec<String> {
    let mut failures = Vec::new();
    for (s, backup) in committed.iter().rev() {
        let undone = match backup {
            Some(backup) => fs::rename(backup, &s.target).map_err(|e| {
                format!(
                    "{} could not be restored ({e}); its previous contents are in {}",
                    s.target.display(),
                    backup.display()
                )
            }),
            None => fs::remove_file(&s.target)
                .map_err(|e| format!("{} was created and could not be removed ({e})", s.target.display())),
        };
        if let Err(failure) = undone {
            failures.push(failure);
        }
    }
    failures
}

/// `path` with every symlink along the final component followed (the link's own directory
/// resolves a relative target), and whether there was one.
fn resolve(path: &Path) -> Result<(PathBuf, bool), String> {
    let mut current = path.to_path_buf();
    // Like the kernel's limit on nested links (40 on Linux).
    for hops in 0..40 {
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = fs::read_link(&current)
                    .map_err(|e| format!("cannot read the symlink {}: {e}", current.display()))?;
                current = parent(&current).join(link);
            }
            Ok(_) => return Ok((current, hops > 0)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((current, hops > 0)),
            Err(e) => return Err(format!("cannot inspect {}: {e}", current.display())),
        }
    }
    Err(format!("{}: too many levels of symbolic links", path.display()))
}

fn parent(path: &Path) -> &Path {
    path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// A new file `.<name>.lunora-<pid>-<n>.<suffix>` in `dir`, never an existing one.
fn create_unique(dir: &Path, target: &Path, suffix: &str) -> io::Result<(PathBuf, File)> {
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut last = None;
    for n in 0..100 {
        let path = dir.join(format!(".{name}.lunora-{}-{n}.{suffix}", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return Ok((path, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free temporary name")))
}

#[cfg(unix)]
fn mode_note(meta: &fs::Metadata) -> String {
    use std::os::unix::fs::PermissionsExt;
    format!(" (mode {:04o})", meta.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn mode_note(_: &fs::Metadata) -> String {
    String::new()
}

/// Gives the new file the owner and group of the one it replaces. Only root may give a file
/// away (and a user only to a group of theirs), so a refusal is not an error: the file is then
/// owned by whoever runs the sync, as any edit of theirs would be.
#[cfg(unix)]
fn keep_owner(file: &File, original: &fs::Metadata) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let ours = file.metadata()?;
    if (ours.uid(), ours.gid()) == (original.uid(), original.gid()) {
        return Ok(());
    }
    match std::os::unix::fs::fchown(file, Some(original.uid()), Some(original.gid())) {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            // Perhaps the group alone is allowed.
            let _ = std::os::unix::fs::fchown(file, None, Some(original.gid()));
            Ok(())
        }
        other => other,
    }
}

#[cfg(not(unix))]
fn keep_owner(_: &File, _: &fs::Metadata) -> io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(not(unix))]
fn sync_dir(_: &Path) {}

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

    #[test]
    fn symlink_chains_resolve_relative_to_each_link() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("real")).unwrap();
        std::fs::write(root.join("real/file"), "x").unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("real/file", root.join("one")).unwrap();
            std::os::unix::fs::symlink("one", root.join("two")).unwrap();
            assert_eq!(resolve(&root.join("two")).unwrap(), (root.join("real/file"), true));
            std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
            let err = resolve(&root.join("loop")).unwrap_err();
            assert_eq!(err, format!("{}: too many levels of symbolic links", root.join("loop").display()));
        }
        assert_eq!(resolve(&root.join("real/file")).unwrap(), (root.join("real/file"), false));
        assert_eq!(resolve(&root.join("missing")).unwrap(), (root.join("missing"), false));
    }
}
