//! Stage 7: write a change set into the output folder.
//!
//! May touch only the output folder, and in it only the paths of the change set computed by
//! [`crate::diff::compare`] (which has already refused unsafe paths, symlinks and hand edits)
//! plus the manifest. Every file is replaced atomically (a temporary file in the same folder,
//! then a rename), so a reader or a crash of runnergen sees each file either old or new. This module also owns the
//! default output folder.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::Error;
use crate::diff::{Change, ChangeSet};
use crate::manifest::MANIFEST;

/// The output folder's name when `--out` is not given: it sits beside the spec file.
pub const DEFAULT_OUT: &str = "runnergen-out";

/// The output folder used when `--out` is not given: `runnergen-out` beside the spec.
pub fn default_out(spec: &Path) -> PathBuf {
    spec.parent().unwrap_or(Path::new("")).join(DEFAULT_OUT)
}

/// Writes a change set: creates and replaces files atomically, removes stale generated files and
/// the folders they leave empty, then writes the manifest if it changed. Call only after
/// everything else succeeded; the change set must come from [`crate::diff::compare`].
pub fn apply(set: &ChangeSet) -> Result<(), Error> {
    let out = &set.out;
    std::fs::create_dir_all(out).map_err(|e| write_error(out, e))?;
    // Removals first: a removed file may stand where a new file's folder goes.
    let (removals, writes): (Vec<&Change>, Vec<&Change>) =
        set.changes.iter().partition(|c| matches!(c, Change::Removed { .. }));
    let mut made = std::collections::HashSet::new();
    for change in removals.into_iter().chain(writes) {
        let target = out.join(change.path());
        match change {
            Change::Added { new, .. } | Change::Modified { new, .. } => {
                if let Some(parent) = target.parent()
                    && made.insert(parent.to_path_buf())
                {
                    std::fs::create_dir_all(parent).map_err(|e| write_error(parent, e))?;
                }
                write_atomically(&target, new.contents.as_bytes(), new.executable)?;
            }
            Change::Removed { .. } => {
                std::fs::remove_file(&target).map_err(|e| write_error(&target, e))?;
                remove_empty_parents(out, &target)?;
            }
        }
    }
    if !set.manifest_current {
        write_atomically(&out.join(MANIFEST), set.manifest.to_text()?.as_bytes(), false)?;
    }
    Ok(())
}

/// What render did, for people: one line per file (`created`, `updated`, `removed`, with
/// `(overwrote hand edits)` where `--force` did that), then the summary line
/// `runnergen-out: 2 changed (1 created, 1 updated, 0 removed), 3 unchanged`.
pub fn report(set: &ChangeSet) -> String {
    let mut out = String::new();
    for change in &set.changes {
        let verb = match change {
            Change::Added { .. } => "created",
            Change::Modified { .. } => "updated",
            Change::Removed { .. } => "removed",
        };
        out.push_str(&format!("{verb} {}", change.path()));
        if change.conflict().is_some() {
            out.push_str(" (overwrote changes made by hand)");
        }
        out.push('\n');
    }
    let count = |verb: fn(&Change) -> bool| set.changes.iter().filter(|c| verb(c)).count();
    out.push_str(&format!(
        "{}: {} changed ({} created, {} updated, {} removed), {} unchanged\n",
        set.out.display(),
        set.changes.len(),
        count(|c| matches!(c, Change::Added { .. })),
        count(|c| matches!(c, Change::Modified { .. })),
        count(|c| matches!(c, Change::Removed { .. })),
        set.unchanged
    ));
    out
}

/// Replaces `target` with `contents`: a temporary file in the same folder, given its mode (0755
/// for scripts, 0644 otherwise), then renamed over the target, so that a reader never sees half
/// a file. Not synced to disk, as a compiler's output is not: after a power loss, render again.
fn write_atomically(target: &Path, contents: &[u8], executable: bool) -> Result<(), Error> {
    let dir = target.parent().unwrap_or(Path::new("."));
    let mode = if executable { 0o755 } else { 0o644 };
    let mut temp = tempfile::Builder::new()
        .prefix(".runnergen-")
        .suffix(".tmp")
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
        .map_err(|e| write_error(target, e))?;
    temp.write_all(contents).map_err(|e| write_error(target, e))?;
    // The mode given at creation is filtered by the umask: set it as asked.
    temp.as_file().set_permissions(std::fs::Permissions::from_mode(mode)).map_err(|e| write_error(target, e))?;
    temp.persist(target).map_err(|e| write_error(target, e.error))?;
    Ok(())
}

/// Removes the folders between `removed` and `out` that are now empty, deepest first. Never
/// removes `out` itself, and stops at the first folder that still holds something.
fn remove_empty_parents(out: &Path, removed: &Path) -> Result<(), Error> {
    let mut dir = removed.parent();
    while let Some(d) = dir {
        if d == out || !d.starts_with(out) {
            break;
        }
        let empty = std::fs::read_dir(d).map_err(|e| write_error(d, e))?.next().is_none();
        if !empty {
            break;
        }
        std::fs::remove_dir(d).map_err(|e| write_error(d, e))?;
        dir = d.parent();
    }
    Ok(())
}

fn write_error(path: &Path, e: std::io::Error) -> Error {
    Error::Write { path: path.display().to_string(), source: e }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Manifest;
    use crate::render::{File, Files};

    fn plan(files: &[(&str, &str, bool)]) -> Files {
        files.iter().map(|(p, c, x)| (p.to_string(), File { contents: c.to_string(), executable: *x })).collect()
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
    }

    #[test]
    fn scripts_get_0755_and_other_files_0644() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("out");
        let plan =
            plan(&[("packer/files/provision.sh", "#!/bin/sh\necho hi\n", true), ("packer/a.pkr.hcl", "a\n", false)]);
        let set = crate::diff::compare(&plan, &out).expect("compare");
        apply(&set).expect("apply");
        assert_eq!(mode(&out.join("packer/files/provision.sh")), 0o755);
        assert_eq!(mode(&out.join("packer/a.pkr.hcl")), 0o644);
        assert_eq!(mode(&out.join(MANIFEST)), 0o644);
        assert_eq!(
            std::fs::read_to_string(out.join("packer/files/provision.sh")).expect("read"),
            "#!/bin/sh\necho hi\n"
        );
        let manifest = Manifest::parse(&std::fs::read(out.join(MANIFEST)).expect("read"), &out).expect("parse");
        assert_eq!(manifest, Manifest::of(&plan));
        assert!(manifest.files["packer/files/provision.sh"].executable);

        // Dropping the execute bit is a change, and so is gaining it back.
        let mut plain = plan.clone();
        plain.get_mut("packer/files/provision.sh").expect("present").executable = false;
        let set = crate::diff::compare(&plain, &out).expect("compare");
        assert_eq!(set.changes.len(), 1);
        apply(&set).expect("apply");
        assert_eq!(mode(&out.join("packer/files/provision.sh")), 0o644);
        let set = crate::diff::compare(&plan, &out).expect("compare");
        assert_eq!(set.changes.len(), 1);
        apply(&set).expect("apply");
        assert_eq!(mode(&out.join("packer/files/provision.sh")), 0o755);
        assert!(crate::diff::compare(&plan, &out).expect("compare").changes.is_empty());
    }

    #[test]
    fn a_chmod_by_hand_is_restored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("out");
        let plan = plan(&[("run.sh", "#!/bin/sh\n", true)]);
        apply(&crate::diff::compare(&plan, &out).expect("compare")).expect("apply");
        std::fs::set_permissions(out.join("run.sh"), std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let set = crate::diff::compare(&plan, &out).expect("compare");
        assert_eq!(set.changes.len(), 1);
        apply(&set).expect("apply");
        assert_eq!(mode(&out.join("run.sh")), 0o755);
    }

    #[test]
    fn removed_files_take_their_empty_folders_with_them_but_not_others() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("out");
        let before = plan(&[("a/b/c.tf", "c\n", false), ("a/d.tf", "d\n", false), ("e/f.tf", "f\n", false)]);
        apply(&crate::diff::compare(&before, &out).expect("compare")).expect("apply");
        std::fs::write(out.join("e/user.txt"), "mine").expect("write");
        let after = plan(&[("a/d.tf", "d\n", false)]);
        apply(&crate::diff::compare(&after, &out).expect("compare")).expect("apply");
        assert!(!out.join("a/b").exists());
        assert!(out.join("a/d.tf").is_file());
        assert!(!out.join("e/f.tf").exists());
        assert_eq!(std::fs::read_to_string(out.join("e/user.txt")).expect("read"), "mine");
    }

    #[test]
    fn a_generated_file_can_become_a_folder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("out");
        apply(&crate::diff::compare(&plan(&[("a/b", "file\n", false)]), &out).expect("compare")).expect("apply");
        let next = plan(&[("a/b/c.tf", "c\n", false)]);
        let set = crate::diff::compare(&next, &out).expect("compare");
        assert_eq!(set.changes.len(), 2);
        apply(&set).expect("apply");
        assert_eq!(std::fs::read_to_string(out.join("a/b/c.tf")).expect("read"), "c\n");
        assert!(crate::diff::compare(&next, &out).expect("compare").changes.is_empty());
        // A file of the user's in the way is not removed.
        std::fs::write(out.join("a/mine"), "mine\n").expect("write");
        let err = crate::diff::compare(&plan(&[("a/mine/x.tf", "x\n", false)]), &out).expect_err("in the way");
        assert!(matches!(err, Error::InTheWay { .. }), "{err}");
    }

    #[test]
    fn no_temporary_files_are_left_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("out");
        let plan = plan(&[("x.tf", "x\n", false)]);
        apply(&crate::diff::compare(&plan, &out).expect("compare")).expect("apply");
        let mut names: Vec<String> = std::fs::read_dir(&out)
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [MANIFEST, "x.tf"]);
    }

    #[test]
    fn default_out_sits_beside_the_spec() {
        assert_eq!(default_out(Path::new("fleet.yaml")), PathBuf::from("runnergen-out"));
        assert_eq!(default_out(Path::new("ci/fleet.yaml")), PathBuf::from("ci/runnergen-out"));
        assert_eq!(default_out(Path::new("/r/ci/fleet.yaml")), PathBuf::from("/r/ci/runnergen-out"));
    }
}
