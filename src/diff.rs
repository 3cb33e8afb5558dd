//! Stage 6: compare the rendered files with the output folder, and show the difference.
//!
//! Reads the output folder and its manifest; writes nothing, ever. [`compare`] is the one place
//! that decides what `render` would create, change and remove (both `render` and `diff` use it),
//! and where every path is checked before anything can be written: rendered paths must stay
//! inside the folder, no symlink inside the folder is followed, and hand edits are found.

use std::fs::Metadata;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use similar::TextDiff;

use crate::Error;
use crate::diagnostic::plural;
use crate::manifest::{MANIFEST, Manifest, sha256_hex};
use crate::render::{File, Files};

/// Why overwriting or removing a file would lose work done by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// runnergen wrote it, and it was edited since (its hash is not the manifest's).
    EditedByHand,
    /// runnergen would write it, but a file it never generated is there.
    NotGenerated,
}

impl Conflict {
    pub fn describe(self) -> &'static str {
        match self {
            Conflict::EditedByHand => "edited by hand since the last render",
            Conflict::NotGenerated => "not written by runnergen",
        }
    }
}

/// A file as it is on disk now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnDisk {
    pub bytes: Vec<u8>,
    pub executable: bool,
}

/// One file that `render` would create, change or remove. Paths are `/`-separated, relative to
/// the output folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Nothing is there yet.
    Added { path: String, new: File },
    /// Something else is there: runnergen's older output, or a file edited or made by hand.
    Modified { path: String, old: OnDisk, new: File, conflict: Option<Conflict> },
    /// runnergen generated it and no longer does; it may have been edited by hand since.
    Removed { path: String, old: OnDisk, edited_by_hand: bool },
}

impl Change {
    pub fn path(&self) -> &str {
        match self {
            Change::Added { path, .. } | Change::Modified { path, .. } | Change::Removed { path, .. } => path,
        }
    }
    /// Why writing this change would lose work done by hand, if it would.
    pub fn conflict(&self) -> Option<Conflict> {
        match self {
            Change::Added { .. } => None,
            Change::Modified { conflict, .. } => *conflict,
            Change::Removed { edited_by_hand, .. } => edited_by_hand.then_some(Conflict::EditedByHand),
        }
    }
}

/// Everything `render` would do to an output folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSet {
    pub out: PathBuf,
    /// Sorted by path.
    pub changes: Vec<Change>,
    /// Rendered files already on disk as they should be.
    pub unchanged: usize,
    /// The manifest render writes.
    pub manifest: Manifest,
    /// Whether the manifest on disk already says that.
    pub manifest_current: bool,
}

impl ChangeSet {
    /// How many changes are added, modified and removed.
    pub fn counts(&self) -> (usize, usize, usize) {
        self.changes.iter().fold((0, 0, 0), |(a, m, r), c| match c {
            Change::Added { .. } => (a + 1, m, r),
            Change::Modified { .. } => (a, m + 1, r),
            Change::Removed { .. } => (a, m, r + 1),
        })
    }
    pub fn conflicts(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.conflict().is_some())
    }
}

/// Compares rendered files with an output folder: what render would create, change and remove. Reads
/// only. Fails on an output path that is not a folder, an unsafe path among the files, a symlink on the way
/// to any file, something other than a file where a file goes, or a damaged manifest.
pub fn compare(files: &Files, out: &Path) -> Result<ChangeSet, Error> {
    for path in files.keys() {
        check_path(path).map_err(|reason| Error::UnsafePath { path: path.clone(), reason })?;
        if path == MANIFEST {
            return Err(Error::UnsafePath { path: path.clone(), reason: "it is the manifest's name".into() });
        }
        if let Some(ancestor) = ancestors(path).find(|a| files.contains_key(*a)) {
            return Err(Error::UnsafePath { path: path.clone(), reason: format!("`{ancestor}` is also a file") });
        }
    }
    let exists = match std::fs::metadata(out) {
        Ok(m) if m.is_dir() => true,
        Ok(_) => return Err(Error::OutputNotFolder { path: out.display().to_string() }),
        Err(e) if e.kind() == ErrorKind::NotFound => false,
        Err(e) => return Err(read_error(out, e)),
    };
    let manifest_path = out.join(MANIFEST);
    let old_manifest = match exists.then(|| inspect(out, MANIFEST)).transpose()? {
        Some(Found::File(_)) => {
            let text = std::fs::read(&manifest_path).map_err(|e| read_error(&manifest_path, e))?;
            let manifest = Manifest::parse(&text, &manifest_path)?;
            for path in manifest.files.keys() {
                check_path(path).map_err(|reason| Error::Manifest {
                    path: manifest_path.display().to_string(),
                    reason: format!("the path `{path}` {reason}"),
                })?;
            }
            Some(manifest)
        }
        Some(Found::Folder) => {
            return Err(Error::InTheWay {
                path: manifest_path.display().to_string(),
                reason: "runnergen keeps its manifest there, but it is a folder".into(),
            });
        }
        Some(Found::Missing | Found::FileOnTheWay(_)) | None => None,
    };
    let generated = |path: &str| old_manifest.as_ref().and_then(|m| m.files.get(path));

    let mut changes = Vec::new();
    let mut unchanged = 0;
    for (path, file) in files {
        let found = if exists { inspect(out, path)? } else { Found::Missing };
        let meta = match found {
            Found::File(meta) => Some(meta),
            Found::Missing => None,
            // A file that an earlier render generated and this one drops may stand where a
            // folder now goes: it is removed first (below), so this file is simply added.
            Found::FileOnTheWay(blocker) if generated(&blocker).is_some() && !files.contains_key(&blocker) => None,
            Found::FileOnTheWay(blocker) => {
                return Err(Error::InTheWay {
                    path: out.join(&blocker).display().to_string(),
                    reason: format!("runnergen needs a folder there for {path}"),
                });
            }
            Found::Folder => {
                return Err(Error::InTheWay {
                    path: out.join(path).display().to_string(),
                    reason: "runnergen generates a file there, but it is a folder".into(),
                });
            }
        };
        let Some(meta) = meta else {
            changes.push(Change::Added { path: path.clone(), new: file.clone() });
            continue;
        };
        let old = read(out, path)?;
        // Only the owner's execute bit counts: a checkout's umask may make 0644 into 0664.
        let old_executable = executable(&meta);
        if old == file.contents.as_bytes() && old_executable == file.executable {
            unchanged += 1;
            continue;
        }
        let conflict = match generated(path) {
            Some(entry) if entry.sha256 == sha256_hex(&old) => None,
            Some(_) => Some(Conflict::EditedByHand),
            None if old == file.contents.as_bytes() => None,
            None => Some(Conflict::NotGenerated),
        };
        changes.push(Change::Modified {
            path: path.clone(),
            old: OnDisk { bytes: old, executable: old_executable },
            new: file.clone(),
            conflict,
        });
    }
    if let Some(manifest) = &old_manifest {
        for (path, entry) in &manifest.files {
            if files.contains_key(path) {
                continue;
            }
            // A generated file that is gone, or that someone replaced by a folder, is no longer
            // runnergen's to remove.
            let Found::File(meta) = inspect(out, path)? else { continue };
            let old = read(out, path)?;
            let edited_by_hand = entry.sha256 != sha256_hex(&old);
            changes.push(Change::Removed {
                path: path.clone(),
                old: OnDisk { bytes: old, executable: executable(&meta) },
                edited_by_hand,
            });
        }
    }
    changes.sort_by(|a, b| a.path().cmp(b.path()));
    let manifest = Manifest::of(files);
    let manifest_current = old_manifest.as_ref() == Some(&manifest);
    Ok(ChangeSet { out: out.to_path_buf(), changes, unchanged, manifest, manifest_current })
}

/// Why a `/`-separated path could lead outside the output folder, if it could.
fn check_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("it is empty".into());
    }
    if path.starts_with('/') {
        return Err("it is absolute".into());
    }
    if path.contains('\\') || path.contains('\0') {
        return Err("it contains a backslash or NUL".into());
    }
    for segment in path.split('/') {
        match segment {
            "" => return Err("it has an empty segment".into()),
            "." | ".." => return Err(format!("it has a `{segment}` segment")),
            _ => {}
        }
    }
    Ok(())
}

/// `a/b/c` -> `a/b`, `a`.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.char_indices().filter(|(_, c)| *c == '/').map(move |(i, _)| &path[..i])
}

enum Found {
    Missing,
    File(Metadata),
    Folder,
    /// A file where the path needs a folder: the `/`-separated path of that file.
    FileOnTheWay(String),
}

/// What is at `out/path`, without following any symlink on the way: a symlink anywhere below
/// `out`, or a non-folder where a folder is needed, is an error.
fn inspect(out: &Path, path: &str) -> Result<Found, Error> {
    let segments: Vec<&str> = path.split('/').collect();
    let mut at = out.to_path_buf();
    for (i, segment) in segments.iter().enumerate() {
        at.push(segment);
        let meta = match std::fs::symlink_metadata(&at) {
            Ok(meta) => meta,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Found::Missing),
            Err(e) => return Err(read_error(&at, e)),
        };
        let kind = meta.file_type();
        if kind.is_symlink() {
            return Err(Error::Symlink { path: at.display().to_string() });
        }
        let last = i + 1 == segments.len();
        if last {
            return if kind.is_dir() {
                Ok(Found::Folder)
            } else if kind.is_file() {
                Ok(Found::File(meta))
            } else {
                Err(Error::InTheWay { path: at.display().to_string(), reason: "it is not a regular file".into() })
            };
        }
        if !kind.is_dir() {
            return if kind.is_file() {
                Ok(Found::FileOnTheWay(segments[..=i].join("/")))
            } else {
                Err(Error::InTheWay { path: at.display().to_string(), reason: "it is not a regular file".into() })
            };
        }
    }
    Ok(Found::Missing)
}

fn executable(meta: &Metadata) -> bool {
    meta.permissions().mode() & 0o100 != 0
}

fn read(out: &Path, path: &str) -> Result<Vec<u8>, Error> {
    let at = out.join(path);
    std::fs::read(&at).map_err(|e| read_error(&at, e))
}

fn read_error(path: &Path, e: std::io::Error) -> Error {
    Error::Read { path: path.display().to_string(), reason: e.to_string(), source: Some(e) }
}

/// How to print: with ANSI colours or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(self, code: &str, line: &str) -> String {
        if self.color && !code.is_empty() && !line.is_empty() {
            format!("\x1b[{code}m{line}\x1b[0m")
        } else {
            line.to_owned()
        }
    }
}

/// One file's unified diff, `git diff` style: `--- a/path` / `+++ b/path`, `/dev/null` for a
/// side that does not exist, mode lines when the execute bit changes, and a `#` line before a
/// file edited by hand.
pub fn file_diff(change: &Change, style: Style) -> String {
    let mut out = String::new();
    let mut line = |code: &str, text: &str| {
        out.push_str(&style.paint(code, text));
        out.push('\n');
    };
    let path = change.path();
    if let Some(conflict) = change.conflict() {
        line("1;33", &format!("# {path}: {} (render stops unless --force)", conflict.describe()));
    }
    let mode = |x: bool| if x { "100755" } else { "100644" };
    let (old_text, new_text) = match change {
        Change::Added { new, .. } => {
            line("1", &format!("new file mode {}", mode(new.executable)));
            line("1", "--- /dev/null");
            line("1", &format!("+++ b/{path}"));
            (String::new(), new.contents.as_str())
        }
        Change::Removed { old, .. } => {
            line("1", &format!("deleted file mode {}", mode(old.executable)));
            line("1", &format!("--- a/{path}"));
            line("1", "+++ /dev/null");
            (String::from_utf8_lossy(&old.bytes).into_owned(), "")
        }
        Change::Modified { old, new, .. } => {
            if new.executable != old.executable {
                line("1", &format!("old mode {}", mode(old.executable)));
                line("1", &format!("new mode {}", mode(new.executable)));
            }
            line("1", &format!("--- a/{path}"));
            line("1", &format!("+++ b/{path}"));
            (String::from_utf8_lossy(&old.bytes).into_owned(), new.contents.as_str())
        }
    };
    let diff = TextDiff::from_lines(old_text.as_str(), new_text);
    for hunk in diff.unified_diff().context_radius(3).iter_hunks() {
        for text in hunk.to_string().lines() {
            let code = match text.as_bytes().first() {
                Some(b'+') => "32",
                Some(b'-') => "31",
                Some(b'@') => "36",
                _ => "",
            };
            line(code, text);
        }
    }
    out
}

/// The whole diff: every file's unified diff, then the summary line.
pub fn full_diff(set: &ChangeSet, style: Style) -> String {
    let mut out: String = set.changes.iter().map(|c| file_diff(c, style)).collect();
    out.push_str(&summary(set));
    out
}

/// The `--stat` view: one line per file (`A`, `M`, `D`), then the summary line.
pub fn stat(set: &ChangeSet, style: Style) -> String {
    let mut out = String::new();
    for change in &set.changes {
        let (letter, code) = match change {
            Change::Added { .. } => ("A", "32"),
            Change::Modified { .. } => ("M", "33"),
            Change::Removed { .. } => ("D", "31"),
        };
        out.push_str(&style.paint(code, letter));
        out.push(' ');
        out.push_str(change.path());
        if let Some(conflict) = change.conflict() {
            out.push_str(&format!(" ({})", conflict.describe()));
        }
        out.push('\n');
    }
    out.push_str(&summary(set));
    out
}

/// The summary: `3 files would change: 1 added, 2 modified, 0 removed`, or a line saying that
/// nothing would; then a line about hand edits, if any.
pub fn summary(set: &ChangeSet) -> String {
    let out = set.out.display();
    if set.changes.is_empty() {
        return format!("0 files would change: {out} is up to date ({})\n", plural(set.unchanged, "file"));
    }
    let (added, modified, removed) = set.counts();
    let mut text = format!(
        "{} would change: {added} added, {modified} modified, {removed} removed\n",
        plural(set.changes.len(), "file"),
    );
    let conflicts = set.conflicts().count();
    if conflicts > 0 {
        text.push_str(&format!(
            "{} changed by hand: `runnergen render` stops unless run with --force\n",
            plural(conflicts, "file")
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(files: &[(&str, &str)]) -> Files {
        files.iter().map(|(p, c)| (p.to_string(), File { contents: c.to_string(), executable: false })).collect()
    }

    #[test]
    fn unsafe_plan_paths_are_refused_before_anything_is_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "a//b", "a/./b", "a/", "a\\b", MANIFEST] {
            let err = compare(&plan(&[(bad, "x")]), dir.path()).expect_err(bad);
            assert!(matches!(err, Error::UnsafePath { .. }), "{bad}: {err}");
        }
        let err = compare(&plan(&[("a", "x"), ("a/b", "y")]), dir.path()).expect_err("a file and a folder");
        assert!(matches!(err, Error::UnsafePath { .. }), "{err}");
    }

    #[test]
    fn a_damaged_manifest_cannot_lead_outside() {
        let dir = tempfile::tempdir().expect("tempdir");
        let manifest = r#"{"note":"","runnergen":"0","files":{"../outside":{"sha256":"00","executable":false}}}"#;
        std::fs::write(dir.path().join(MANIFEST), manifest).expect("write");
        let err = compare(&plan(&[("a", "x")]), dir.path()).expect_err("damaged");
        assert!(matches!(err, Error::Manifest { .. }), "{err}");
        std::fs::write(dir.path().join(MANIFEST), "not json").expect("write");
        let err = compare(&plan(&[("a", "x")]), dir.path()).expect_err("damaged");
        assert!(matches!(err, Error::Manifest { .. }), "{err}");
    }

    #[test]
    fn a_missing_folder_means_every_file_is_added() {
        let dir = tempfile::tempdir().expect("tempdir");
        let set = compare(&plan(&[("b", "2\n"), ("a", "1\n")]), &dir.path().join("nope")).expect("compare");
        assert_eq!(set.changes.iter().map(Change::path).collect::<Vec<_>>(), ["a", "b"]);
        assert!(set.changes.iter().all(|c| matches!(c, Change::Added { .. })));
        assert_eq!(summary(&set), "2 files would change: 2 added, 0 modified, 0 removed\n");
    }

    #[test]
    fn file_diffs_have_git_headers_and_colour_only_when_asked() {
        let change = Change::Modified {
            path: "terraform/main.tf".into(),
            old: OnDisk { bytes: b"a\nb\n".to_vec(), executable: false },
            new: File { contents: "a\nc\n".into(), executable: false },
            conflict: None,
        };
        assert_eq!(
            file_diff(&change, Style { color: false }),
            "--- a/terraform/main.tf\n+++ b/terraform/main.tf\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n"
        );
        let coloured = file_diff(&change, Style { color: true });
        assert!(coloured.contains("\x1b[31m-b\x1b[0m"), "{coloured}");
        assert!(coloured.contains("\x1b[32m+c\x1b[0m"), "{coloured}");
    }
}
