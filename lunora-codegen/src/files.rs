//! The scan's file system access, with fewer system calls than the obvious way: on a crate of
//! thousands of modules they are most of the time spent outside parsing.
//!
//! - [`read_source`] reads into a reused buffer, so no `stat` for a size hint and no new
//!   allocation per file;
//! - [`Listings::is_file`] answers from one listing per directory instead of one `stat` per
//!   candidate module file, and asks the file system itself whenever the listing does not show
//!   a regular file, so (barring files changing during the scan) its answers are those of
//!   [`Path::is_file`].

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

/// Which file a path leads to, whatever the path (symlinks, `..`, `#[path]`s): the device
/// and inode on Unix, the canonical path elsewhere.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FileId(#[cfg(unix)] (u64, u64), #[cfg(not(unix))] std::path::PathBuf);

/// Reads `path` into `buffer`, replacing its contents; returns which file it was. The errors
/// are those of [`std::fs::read_to_string`] (the same open, read and UTF-8 checks).
pub fn read_source(path: &Path, buffer: &mut String) -> std::io::Result<FileId> {
    buffer.clear();
    let file = File::open(path)?;
    // One `fstat` on the open file (not a path walk, as canonicalising would be).
    #[cfg(unix)]
    let id = {
        use std::os::unix::fs::MetadataExt;
        let meta = file.metadata()?;
        FileId((meta.dev(), meta.ino()))
    };
    #[cfg(not(unix))]
    let id = FileId(path.canonicalize()?);
    // `File::read_to_string` would `stat` the file for a size hint; `Take` has no such override
    // and still reads straight into the buffer's spare capacity.
    file.take(u64::MAX).read_to_string(buffer)?;
    Ok(id)
}

/// The regular files of each directory asked about, listed once and shared by the threads.
#[derive(Default)]
pub struct Listings {
    /// By directory as spelled (hashing an `OsStr` is cheaper than a `Path`'s components).
    dirs: Mutex<HashMap<OsString, Arc<Listing>>>,
}

/// One directory's entries.
#[derive(Default)]
struct Listing {
    /// Whether the directory could be read.
    read: bool,
    files: Names,
    others: Names,
}

/// A set of names in one buffer, sorted for binary search: a crate's source directory may hold
/// thousands of files, and a hash set of them was thousands of allocations to make and free.
#[derive(Default)]
struct Names {
    bytes: Vec<u8>,
    /// Each name's place in `bytes`, in the names' order.
    spans: Vec<(usize, usize)>,
}

impl Names {
    fn push(&mut self, name: &OsStr) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(name.as_encoded_bytes());
        self.spans.push((start, self.bytes.len()));
    }

    /// Sorts what was pushed; [`Names::contains`] answers from then on.
    fn sort(&mut self) {
        let bytes = &self.bytes;
        self.spans.sort_unstable_by(|a, b| bytes[a.0..a.1].cmp(&bytes[b.0..b.1]));
    }

    fn contains(&self, name: &OsStr) -> bool {
        let name = name.as_encoded_bytes();
        self.spans.binary_search_by(|&(start, end)| self.bytes[start..end].cmp(name)).is_ok()
    }
}

impl Listings {
    /// Whether `path` is a regular file (following symlinks), as [`Path::is_file`] says.
    pub fn is_file(&self, path: &Path) -> bool {
        let listed = match (path.parent(), path.file_name()) {
            (Some(dir), Some(name)) => self.regular_files(dir).files.contains(name),
            _ => false,
        };
        // Not listed as a regular file: absent, a directory, a symlink, a name differing in case
        // on a case-insensitive file system, or created since. `stat` decides.
        listed || path.is_file()
    }

    /// Whether `path` may be a directory, from its parent's listing: false only when that
    /// listing was read and shows `path` as a regular file or not at all (on a file system
    /// that is case-insensitive, a name differing in case is then missed: only used to look
    /// for a second, ambiguous module file).
    pub fn may_be_dir(&self, path: &Path) -> bool {
        match (path.parent(), path.file_name()) {
            (Some(dir), Some(name)) => {
                let listing = self.listing(dir);
                !listing.read || listing.others.contains(name)
            }
            _ => true,
        }
    }

    fn regular_files(&self, dir: &Path) -> Arc<Listing> {
        self.listing(dir)
    }

    fn listing(&self, dir: &Path) -> Arc<Listing> {
        let mut dirs = self.dirs.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(files) = dirs.get(dir.as_os_str()) {
            return Arc::clone(files);
        }
        let files = dirs.entry(dir.as_os_str().to_owned()).or_insert_with(|| {
            let mut listing = Listing::default();
            // An unreadable directory lists nothing: every answer then comes from `stat`.
            if let Ok(entries) = std::fs::read_dir(if dir.as_os_str().is_empty() { Path::new(".") } else { dir }) {
                listing.read = true;
                for entry in entries.flatten() {
                    match entry.file_type() {
                        Ok(t) if t.is_file() => listing.files.push(&entry.file_name()),
                        // Directories, symlinks, and entries of unknown type.
                        _ => listing.others.push(&entry.file_name()),
                    };
                }
                listing.files.sort();
                listing.others.sort();
            }
            Arc::new(listing)
        });
        Arc::clone(files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_agree_with_stat() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("a.rs"), "").unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/mod.rs"), "").unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(root.join("a.rs"), root.join("link.rs")).unwrap();
            std::os::unix::fs::symlink(root.join("sub"), root.join("dirlink.rs")).unwrap();
        }
        let listings = Listings::default();
        for name in ["a.rs", "sub", "sub/mod.rs", "missing.rs", "missing/mod.rs", "link.rs", "dirlink.rs", "a.rs/x"] {
            let path = root.join(name);
            assert_eq!(listings.is_file(&path), path.is_file(), "{name}");
        }
        // A file created after its directory was listed.
        std::fs::write(root.join("late.rs"), "").unwrap();
        assert!(listings.is_file(&root.join("late.rs")));
    }

    #[test]
    fn names_hold_exactly_what_was_pushed() {
        let mut names = Names::default();
        let pushed = ["m10.rs", "m1.rs", "", "é.rs", "m1.r", "a", "mod.rs", "m1.rs.bak"];
        for name in pushed {
            names.push(OsStr::new(name));
        }
        names.sort();
        for name in pushed {
            assert!(names.contains(OsStr::new(name)), "{name:?}");
        }
        for name in ["m1.rs ", "M1.rs", "m", "m2.rs", "é", "b", "mod.r"] {
            assert!(!names.contains(OsStr::new(name)), "{name:?}");
        }
        assert!(!Names::default().contains(OsStr::new("")));
    }

    #[test]
    fn reads_like_read_to_string() {
        let dir = tempfile::tempdir().unwrap();
        let mut buffer = String::from("left over from a larger file");
        let big = "x".repeat(100_000);
        for (name, bytes) in [("a.rs", b"fn a() {}".as_slice()), ("big.rs", big.as_bytes()), ("bad.rs", b"\xff\xfe")] {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            match (read_source(&path, &mut buffer), std::fs::read_to_string(&path)) {
                (Ok(_), Ok(text)) => assert_eq!(buffer, text),
                (Err(ours), Err(std)) => assert_eq!(ours.to_string(), std.to_string()),
                (ours, std) => panic!("{name}: {ours:?} vs {std:?}"),
            }
        }
        #[cfg(unix)]
        {
            let link = dir.path().join("link.rs");
            std::os::unix::fs::symlink(dir.path().join("a.rs"), &link).unwrap();
            let a = read_source(&dir.path().join("a.rs"), &mut buffer).unwrap();
            assert_eq!(read_source(&link, &mut buffer).unwrap(), a, "a symlink leads to the same file");
            assert_ne!(read_source(&dir.path().join("big.rs"), &mut buffer).unwrap(), a);
        }
        let missing = dir.path().join("missing.rs");
        let (ours, std) =
            (read_source(&missing, &mut buffer).unwrap_err(), std::fs::read_to_string(&missing).unwrap_err());
        assert_eq!(ours.to_string(), std.to_string());
    }
}
