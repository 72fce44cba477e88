//! How `sync` writes: all of its files or none, never over an edit made since it read them,
//! keeping modes, owners and symlinks, refusing read-only files and directories. On a copy of
//! the fixtures/scan/shop crate; failures are real file system ones that root hits too (the
//! suite may run as root, which ignores permission bits).

#![cfg(unix)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

mod common;
use common::{codegen, shop_copy, text};

use lunora_codegen::output::{write_all, Expected, FileWrite};
use lunora_codegen::sync::{self, SyncOptions};

/// The shop crate with a hand-written wrangler.toml.
fn shop() -> (tempfile::TempDir, PathBuf) {
    let (dir, manifest) = shop_copy();
    std::fs::write(dir.path().join("wrangler.toml"), CONFIG).unwrap();
    (dir, manifest)
}

const CONFIG: &str = "# the shop\nname = \"shop\"\nmain = \"lunora-entry.mjs\"\ncompatibility_date = \"2026-05-14\"\n";
const FILES: [&str; 3] = ["src/lunora_workflows.rs", "lunora-entry.mjs", "wrangler.toml"];

fn options(manifest: &Path) -> SyncOptions {
    SyncOptions { manifest_path: manifest.to_path_buf(), wrangler_config: None, registry_out: None, entry_out: None }
}

/// Each of the sync's files as it is on disk (`None`: absent).
fn snapshot(dir: &Path) -> Vec<Option<Vec<u8>>> {
    FILES.iter().map(|f| std::fs::read(dir.join(f)).ok()).collect()
}

/// Every file under `dir` whose name says lunora-codegen left it (temporary files, backups).
fn leftovers(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains(".lunora-"))
        .collect()
}

/// A sync after which all three files drift: one more workflow in the crate.
fn add_workflow(dir: &Path) {
    let lib = dir.join("src/lib.rs");
    let mut source = std::fs::read_to_string(&lib).unwrap();
    source.push_str("\n#[workflow]\npub async fn nightly(ctx: WorkflowContext<()>) -> Result<()> {\n    let _ = ctx;\n    Ok(())\n}\n");
    std::fs::write(&lib, source).unwrap();
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn running_as_root() -> bool {
    let probe = tempfile::tempfile().unwrap();
    probe.metadata().unwrap().uid() == 0
}

#[test]
fn a_file_edited_between_plan_and_apply_is_not_overwritten_and_the_files_already_replaced_are_restored() {
    let (dir, manifest) = shop();
    assert!(codegen(&["sync"], &manifest).status.success());
    add_workflow(dir.path());
    let plan = sync::plan(&options(&manifest)).unwrap();
    assert_eq!(plan.files.iter().filter(|f| f.drifts()).count(), 3, "all three files drift");
    // Someone edits the config after the sync read it: the registry and the entry module are
    // replaced first, then the config's check fails, and both must come back.
    let edited = format!("{CONFIG}# an edit made while the sync ran\n");
    std::fs::write(dir.path().join("wrangler.toml"), &edited).unwrap();
    let before = snapshot(dir.path());

    let err = sync::apply(&plan).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{} changed since lunora-codegen read it (edited during the sync?); run the sync again; \
             nothing was written",
            dir.path().join("wrangler.toml").display()
        )
    );
    assert_eq!(snapshot(dir.path()), before, "every file is byte for byte what it was");
    assert_eq!(std::fs::read_to_string(dir.path().join("wrangler.toml")).unwrap(), edited);
    assert_eq!(leftovers(dir.path()), Vec::<PathBuf>::new(), "no temporary file or backup remains");
}

#[test]
fn files_created_by_a_failed_sync_are_removed_again() {
    let (dir, manifest) = shop();
    let plan = sync::plan(&options(&manifest)).unwrap();
    std::fs::write(dir.path().join("wrangler.toml"), "name = \"someone else's\"\n").unwrap();
    let err = sync::apply(&plan).unwrap_err().to_string();
    assert!(err.contains("changed since lunora-codegen read it") && err.ends_with("nothing was written"), "{err}");
    assert!(!dir.path().join("src/lunora_workflows.rs").exists());
    assert!(!dir.path().join("lunora-entry.mjs").exists());
    assert_eq!(std::fs::read_to_string(dir.path().join("wrangler.toml")).unwrap(), "name = \"someone else's\"\n");
    assert_eq!(leftovers(dir.path()), Vec::<PathBuf>::new());
}

#[test]
fn a_file_created_meanwhile_where_there_was_none_is_not_overwritten() {
    let (dir, manifest) = shop();
    let plan = sync::plan(&options(&manifest)).unwrap();
    std::fs::write(dir.path().join("lunora-entry.mjs"), "// mine\n").unwrap();
    let err = sync::apply(&plan).unwrap_err().to_string();
    assert!(err.contains("lunora-entry.mjs was created while the sync ran"), "{err}");
    assert!(!dir.path().join("src/lunora_workflows.rs").exists(), "the registry was renamed in, then removed");
    assert_eq!(std::fs::read_to_string(dir.path().join("lunora-entry.mjs")).unwrap(), "// mine\n");
    assert_eq!(std::fs::read_to_string(dir.path().join("wrangler.toml")).unwrap(), CONFIG);
    assert_eq!(leftovers(dir.path()), Vec::<PathBuf>::new());
}

#[test]
fn a_read_only_config_is_an_error_naming_it_and_nothing_is_written() {
    let (dir, manifest) = shop();
    let config = dir.path().join("wrangler.toml");
    chmod(&config, 0o444);
    let out = codegen(&["sync"], &manifest);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.ends_with(&format!(
            "\nlunora-codegen: {} is read-only (mode 0444); make it writable (chmod u+w) for lunora-codegen \
             to update it; nothing was written\n",
            config.display()
        )),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), CONFIG);
    assert_eq!(mode(&config), 0o444);
    assert!(!dir.path().join("src/lunora_workflows.rs").exists());
    assert!(!dir.path().join("lunora-entry.mjs").exists());
    assert_eq!(leftovers(dir.path()), Vec::<PathBuf>::new());
}

#[test]
fn a_read_only_directory_is_an_error_even_for_root_and_nothing_is_written() {
    let (dir, manifest) = shop();
    assert!(codegen(&["sync"], &manifest).status.success());
    add_workflow(dir.path());
    let before = snapshot(dir.path());
    let src = dir.path().join("src");
    chmod(&src, 0o555);
    let out = codegen(&["sync"], &manifest);
    chmod(&src, 0o755);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "lunora-codegen: cannot write {}: its directory {} is read-only (mode 0555); make it writable for lunora-codegen \
             to replace the file; nothing was written",
            src.join("lunora_workflows.rs").display(),
            src.display()
        )),
        "{stderr}"
    );
    assert_eq!(snapshot(dir.path()), before);
    assert_eq!(leftovers(dir.path()), Vec::<PathBuf>::new());
}

#[test]
fn modes_are_kept() {
    let (dir, manifest) = shop();
    assert!(codegen(&["sync"], &manifest).status.success());
    add_workflow(dir.path());
    let modes = [0o600, 0o640, 0o664];
    for (file, m) in FILES.iter().zip(modes) {
        chmod(&dir.path().join(file), m);
    }
    let out = codegen(&["sync"], &manifest);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).ends_with("3 file(s) changed\n"), "{}", text(&out.stdout));
    for (file, m) in FILES.iter().zip(modes) {
        assert_eq!(mode(&dir.path().join(file)), m, "{file}");
    }
}

#[test]
fn owners_are_kept_when_running_as_root() {
    if !running_as_root() {
        eprintln!("skipped: only root can give a file to another user");
        return;
    }
    let (dir, manifest) = shop();
    let config = dir.path().join("wrangler.toml");
    std::os::unix::fs::chown(&config, Some(4321), Some(4322)).unwrap();
    let out = codegen(&["sync"], &manifest);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let meta = std::fs::metadata(&config).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (4321, 4322));
    assert!(std::fs::read_to_string(&config).unwrap().contains("[[workflows]]"));
}

#[test]
fn a_symlinked_config_and_entry_are_edited_through_the_link_which_stays() {
    let (dir, manifest) = shop();
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::rename(dir.path().join("wrangler.toml"), shared.join("wrangler.toml")).unwrap();
    std::os::unix::fs::symlink("shared/wrangler.toml", dir.path().join("wrangler.toml")).unwrap();
    std::fs::write(shared.join("entry.mjs"), "// old\n").unwrap();
    std::os::unix::fs::symlink(shared.join("entry.mjs"), dir.path().join("lunora-entry.mjs")).unwrap();

    let out = codegen(&["sync"], &manifest);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for (link, target) in [("wrangler.toml", "shared/wrangler.toml"), ("lunora-entry.mjs", "shared/entry.mjs")] {
        let link = dir.path().join(link);
        assert!(
            std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(),
            "{} is still a link",
            link.display()
        );
        assert_eq!(std::fs::read(&link).unwrap(), std::fs::read(dir.path().join(target)).unwrap());
    }
    assert!(std::fs::read_to_string(shared.join("wrangler.toml"))
        .unwrap()
        .contains("class_name = \"OrderPipelineWorkflow\""));
    assert!(std::fs::read_to_string(shared.join("entry.mjs")).unwrap().contains("WorkflowEntrypoint"));
    let check = codegen(&["sync", "--check"], &manifest);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));
    assert_eq!(leftovers(dir.path()), Vec::<PathBuf>::new());
}

#[test]
fn a_symlink_into_a_missing_directory_fails_the_whole_sync() {
    let (dir, manifest) = shop();
    assert!(codegen(&["sync"], &manifest).status.success());
    add_workflow(dir.path());
    let before = snapshot(dir.path());
    // The last file the sync writes: a dangling link to a directory that does not exist.
    std::fs::remove_file(dir.path().join("wrangler.toml")).unwrap();
    std::os::unix::fs::symlink("gone/wrangler.toml", dir.path().join("wrangler.toml")).unwrap();
    let out = codegen(&["sync"], &manifest);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("wrangler.toml is a symlink to ")
            && stderr.contains("gone/wrangler.toml, whose directory does not exist; nothing was written"),
        "{stderr}"
    );
    assert_eq!(snapshot(dir.path())[..2], before[..2], "registry and entry untouched");
    assert_eq!(std::fs::read_link(dir.path().join("wrangler.toml")).unwrap(), Path::new("gone/wrangler.toml"));
    assert_eq!(leftovers(dir.path()), Vec::<PathBuf>::new());
}

/// The writer on its own: the third file's check fails after the first two were renamed in.
#[test]
fn write_all_rolls_back_renames_already_done() {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = ["a", "b", "c"].iter().map(|n| dir.path().join(n)).collect();
    for p in &paths {
        std::fs::write(p, format!("old {}", p.display())).unwrap();
    }
    chmod(&paths[0], 0o640);
    let inode_before = std::fs::metadata(&paths[0]).unwrap().ino();
    let olds: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let writes: Vec<FileWrite<'_>> = paths
        .iter()
        .zip(&olds)
        .enumerate()
        .map(|(i, (p, old))| FileWrite {
            path: p,
            expected: if i == 2 { Expected::Bytes(b"not what is there") } else { Expected::Bytes(old) },
            contents: b"new",
        })
        .collect();
    let err = write_all(&writes).unwrap_err();
    assert_eq!(err.path, paths[2]);
    for (p, old) in paths.iter().zip(&olds) {
        assert_eq!(&std::fs::read(p).unwrap(), old);
    }
    assert_eq!(std::fs::metadata(&paths[0]).unwrap().ino(), inode_before, "the very same file is back");
    assert_eq!(mode(&paths[0]), 0o640);
    assert_eq!(leftovers(dir.path()), Vec::<PathBuf>::new());

    // And when all is well, all three are written.
    let writes: Vec<FileWrite<'_>> = paths
        .iter()
        .zip(&olds)
        .map(|(p, old)| FileWrite { path: p, expected: Expected::Bytes(old), contents: b"new" })
        .collect();
    assert_eq!(write_all(&writes).unwrap(), paths);
    for p in &paths {
        assert_eq!(std::fs::read(p).unwrap(), b"new");
    }
    assert_eq!(mode(&paths[0]), 0o640);
    assert_eq!(leftovers(dir.path()), Vec::<PathBuf>::new());
}

#[test]
fn a_directory_where_a_file_should_be_fails_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir(&b).unwrap();
    let err = write_all(&[
        FileWrite { path: &a, expected: Expected::Absent, contents: b"x" },
        FileWrite { path: &b, expected: Expected::Anything, contents: b"y" },
    ])
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{} is not a regular file (a directory?); move it out of the way; nothing was written", b.display())
    );
    assert!(!a.exists());
    assert_eq!(leftovers(dir.path()), Vec::<PathBuf>::new());
}
