//! `runnergen render` and `runnergen diff` through the real binary: exit codes, what is written
//! and what is not, the manifest, hand edits, symlinks, and the new user's walk.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::{assert_success, root, run, runnergen};

const MANIFEST: &str = ".runnergen-manifest.json";

/// A fresh folder holding `fleet.yaml`, a copy of the minimal example.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::copy(root().join("examples/minimal/fleet.yaml"), dir.path().join("fleet.yaml")).expect("copy");
    dir
}

/// The plan for a spec, through the library: what the binary should write.
fn plan(spec: &Path) -> runnergen::render::Files {
    let fleet = runnergen::load_spec(spec).map(|l| l.fleet).unwrap_or_else(|e| panic!("{}", e.render(false)));
    runnergen::render::render(&fleet).unwrap_or_else(|e| panic!("{}", e.render(false)))
}

/// Runs runnergen with `args` in `dir`.
fn cli(dir: &Path, args: &[&str]) -> Output {
    run(runnergen().current_dir(dir).args(args))
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("an exit code, not a signal")
}

/// Asserts the exit code, showing the output when it differs.
fn assert_code(output: &Output, expected: i32, what: &str) {
    assert_eq!(code(output), expected, "{what}:\n--- stdout\n{}\n--- stderr\n{}", stdout(output), stderr(output));
}

/// Every entry under `dir`, symlinks not followed: files with mode and contents, folders with
/// mode, symlinks with target. Two equal snapshots mean nothing changed.
fn tree(dir: &Path) -> BTreeMap<PathBuf, String> {
    walkdir::WalkDir::new(dir)
        .follow_links(false)
        .into_iter()
        .map(|e| e.expect("walk"))
        .map(|e| {
            let meta = e.path().symlink_metadata().expect("metadata");
            let mode = meta.permissions().mode() & 0o7777;
            let what = if meta.file_type().is_symlink() {
                format!("link -> {}", std::fs::read_link(e.path()).expect("readlink").display())
            } else if meta.is_dir() {
                format!("dir {mode:o}")
            } else {
                format!("file {mode:o} {}", String::from_utf8_lossy(&std::fs::read(e.path()).expect("read")))
            };
            (e.path().strip_prefix(dir).expect("under dir").to_path_buf(), what)
        })
        .collect()
}

/// Asserts that the output folder holds exactly the plan (plus the manifest and `extra` files).
fn assert_holds_plan(out: &Path, plan: &runnergen::render::Files) {
    for (path, file) in plan {
        let on_disk = std::fs::read_to_string(out.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(on_disk, file.contents, "{path}");
        let mode = std::fs::metadata(out.join(path)).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode, if file.executable { 0o755 } else { 0o644 }, "{path} has mode {mode:o}");
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join(MANIFEST)).expect("a manifest")).expect("JSON");
    let listed: Vec<&String> = manifest["files"].as_object().expect("files").keys().collect();
    assert_eq!(listed, plan.keys().collect::<Vec<_>>());
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Adds a file to the output folder as if an earlier render had generated it.
fn pretend_generated(out: &Path, path: &str, contents: &str) {
    let target = out.join(path);
    std::fs::create_dir_all(target.parent().expect("a parent")).expect("mkdir");
    std::fs::write(&target, contents).expect("write");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join(MANIFEST)).expect("a manifest")).expect("JSON");
    manifest["files"][path] = serde_json::json!({ "sha256": sha256_hex(contents.as_bytes()), "executable": false });
    std::fs::write(out.join(MANIFEST), serde_json::to_string_pretty(&manifest).expect("JSON")).expect("write");
}

/// What render reports it wrote; the next steps it prints after that are tested in
/// `next_steps.rs`.
fn render_ok(dir: &Path, args: &[&str]) -> String {
    let output = cli(dir, &[&["render"], args].concat());
    assert_success(&output, "render");
    let text = stdout(&output);
    let at = text.find("\nNext steps, also in ").unwrap_or_else(|| panic!("no next steps after the report:\n{text}"));
    text[..at].to_owned()
}

#[test]
fn render_writes_the_plan_and_a_second_render_changes_nothing() {
    let project = project();
    let dir = project.path();
    let plan = plan(&dir.join("fleet.yaml"));
    let first = render_ok(dir, &["fleet.yaml"]);
    for path in plan.keys() {
        assert!(first.contains(&format!("created {path}\n")), "{first}");
    }
    assert!(
        first.ends_with(&format!(
            "runnergen-out: {n} changed ({n} created, 0 updated, 0 removed), 0 unchanged\n",
            n = plan.len()
        )),
        "{first}"
    );
    assert_holds_plan(&dir.join("runnergen-out"), &plan);

    let before = tree(dir);
    let second = render_ok(dir, &["fleet.yaml"]);
    assert_eq!(
        second,
        format!("runnergen-out: 0 changed (0 created, 0 updated, 0 removed), {} unchanged\n", plan.len())
    );
    assert_eq!(tree(dir), before, "a second render rewrote something");

    let diff = cli(dir, &["diff", "fleet.yaml"]);
    assert_code(&diff, 0, "diff after render");
    assert_eq!(stdout(&diff), format!("0 files would change: runnergen-out is up to date ({} files)\n", plan.len()));
}

#[test]
fn every_exit_code() {
    let project = project();
    let dir = project.path();
    // 1: diff finds changes (nothing rendered yet).
    assert_code(&cli(dir, &["diff", "fleet.yaml"]), 1, "diff before render");
    // 0: render, then diff finds nothing.
    assert_code(&cli(dir, &["render", "fleet.yaml"]), 0, "render");
    assert_code(&cli(dir, &["diff", "fleet.yaml"]), 0, "diff after render");
    assert_code(&cli(dir, &["diff", "fleet.yaml", "--stat"]), 0, "diff --stat after render");
    // 2: errors, for both commands.
    for cmd in ["render", "diff"] {
        let missing = cli(dir, &[cmd, "nope.yaml"]);
        assert_code(&missing, 2, "a missing spec");
        assert!(stderr(&missing).contains("error: cannot read nope.yaml"), "{}", stderr(&missing));
        assert_code(&cli(dir, &[cmd]), 2, "no spec");
        assert_code(&cli(dir, &[cmd, "fleet.yaml", "--bogus"]), 2, "an unknown flag");
    }
    assert_code(&cli(dir, &["diff", "fleet.yaml", "--color", "sometimes"]), 2, "a bad --color");
    assert_code(&cli(dir, &["render", "fleet.yaml", "--stat"]), 2, "--stat is diff's");
}

#[test]
fn help_documents_the_default_output_folder() {
    for cmd in ["render", "diff"] {
        let output = run(runnergen().args([cmd, "--help"]));
        assert_code(&output, 0, "help");
        assert!(stdout(&output).contains("Default: `runnergen-out` beside the spec"), "{}", stdout(&output));
    }
    let diff_help = stdout(&run(runnergen().args(["diff", "--help"])));
    assert!(diff_help.contains("0 when nothing would change, 1 when something would, 2 on any error"), "{diff_help}");
    assert!(diff_help.contains("--color <WHEN>") && diff_help.contains("--stat"), "{diff_help}");
    assert!(stdout(&run(runnergen().args(["render", "--help"]))).contains("--force"));
}

/// A spec renamed (and so every header changed) shows the exact line changes, and exit 1.
#[test]
fn a_changed_spec_shows_the_expected_diff() {
    let project = project();
    let dir = project.path();
    render_ok(dir, &["fleet.yaml", "--out", "out"]);
    std::fs::copy(dir.join("fleet.yaml"), dir.join("renamed.yaml")).expect("copy");
    let old = plan(&dir.join("fleet.yaml"));
    let new = plan(&dir.join("renamed.yaml"));
    let changed: Vec<&String> = new.keys().filter(|p| old.get(*p) != new.get(*p)).collect();
    assert!(!changed.is_empty(), "every generated file names its spec, so a rename changes output");

    let output = cli(dir, &["diff", "renamed.yaml", "--out", "out"]);
    assert_code(&output, 1, "diff after a spec change");
    let text = stdout(&output);
    for (path, file) in &new {
        let header = format!("--- a/{path}\n+++ b/{path}\n@@ ");
        assert_eq!(text.contains(&header), changed.contains(&path), "{path} in:\n{text}");
        let _ = file;
    }
    // Two files' hunks, pinned: a header on the first line, and one after a shebang.
    let tail = "Do not edit: change the spec and run `runnergen render`.";
    let versions = format!(
        "--- a/terraform/versions.tf\n+++ b/terraform/versions.tf\n@@ -1,4 +1,4 @@\n\
         -# Generated by runnergen from fleet.yaml. {tail}\n\
         +# Generated by runnergen from renamed.yaml. {tail}\n\
         \x20#\n\
         \x20# Terraform and the AWS provider. Every resource in this folder has literal values: runnergen\n\
         \x20# did the looping, so `terraform plan` shows exactly what will exist.\n"
    );
    assert!(text.contains(&versions), "{text}");
    let register = format!(
        "--- a/packer/files/runnergen-register\n+++ b/packer/files/runnergen-register\n@@ -1,5 +1,5 @@\n\
         \x20#!/usr/bin/env bash\n\
         -# Generated by runnergen from fleet.yaml. {tail}\n\
         +# Generated by runnergen from renamed.yaml. {tail}\n\
         \x20#\n\
         \x20# ExecStartPre of runnergen-runner.service: registers this machine with GitLab once. Idempotent: when\n\
         \x20# config.toml already holds a [[runners]] entry (a restart, a crash loop, a reboot) it does nothing,\n\
         --- a/"
    );
    assert!(text.contains(&register), "{text}");
    assert!(text.contains("\n-# Generated by runnergen") && text.contains("from fleet.yaml."), "{text}");
    assert!(text.contains("\n+# Generated by runnergen") && text.contains("from renamed.yaml."), "{text}");
    // The spec's name is in the user data's header: a new launch template, so the pool's instances
    // would be refreshed, and diff says so after its summary.
    let impact = "\nWhat applying this does to running jobs:\n  - pool docker: its launch template changes: an instance refresh \
                  replaces its instances one by one, each replacement in service before an old instance drains; running jobs \
                  finish (up to 70 minutes each)\n";
    assert!(
        text.ends_with(&format!(
            "{n} would change: 0 added, {} modified, 0 removed\n{impact}",
            changed.len(),
            n = files(changed.len())
        )),
        "{text}"
    );
    assert!(!text.contains('\x1b'), "piped output has no colour:\n{text}");

    let stat = cli(dir, &["diff", "renamed.yaml", "--out", "out", "--stat"]);
    assert_code(&stat, 1, "diff --stat after a spec change");
    let expected: String = changed.iter().map(|p| format!("M {p}\n")).collect();
    assert_eq!(
        stdout(&stat),
        format!(
            "{expected}{} would change: 0 added, {} modified, 0 removed\n{impact}",
            files(changed.len()),
            changed.len()
        )
    );
}

fn files(n: usize) -> String {
    if n == 1 { "1 file".to_owned() } else { format!("{n} files") }
}

#[test]
fn colour_is_off_when_piped_and_follows_the_flag() {
    let project = project();
    let dir = project.path();
    let always = stdout(&cli(dir, &["diff", "fleet.yaml", "--color", "always"]));
    assert!(always.contains("\x1b[32m+"), "{always:?}");
    // An explicit flag wins over NO_COLOR; `auto` on a pipe is plain either way.
    let forced =
        stdout(&run(runnergen().current_dir(dir).env("NO_COLOR", "1").args(["diff", "fleet.yaml", "--color=always"])));
    assert!(forced.contains("\x1b["), "{forced:?}");
    for args in [
        &["diff", "fleet.yaml"][..],
        &["diff", "fleet.yaml", "--color", "never"],
        &["diff", "fleet.yaml", "--color", "auto"],
    ] {
        let text = stdout(&cli(dir, args));
        assert!(!text.contains('\x1b') && text.contains("+++ b/"), "{args:?}: {text:?}");
    }
}

#[test]
fn a_stale_generated_file_is_removed_and_the_users_files_survive() {
    let project = project();
    let dir = project.path();
    let out = dir.join("runnergen-out");
    let plan = plan(&dir.join("fleet.yaml"));
    render_ok(dir, &["fleet.yaml"]);
    pretend_generated(&out, "terraform/old.tf", "resource \"old\" \"x\" {}\n");
    pretend_generated(&out, "gone/deeper/stale.sh", "#!/bin/sh\n");
    let user_files = [
        ("terraform/backend.tf", "terraform {\n  backend \"s3\" {}\n}\n"),
        ("terraform/terraform.tfvars", "x = 1\n"),
        ("terraform/.terraform/providers/lock", "providers\n"),
        ("README.md", "# our runners\n"),
        ("gone/notes.txt", "keep me\n"),
    ];
    for (path, contents) in user_files {
        std::fs::create_dir_all(out.join(path).parent().expect("parent")).expect("mkdir");
        std::fs::write(out.join(path), contents).expect("write");
    }

    let before = tree(dir);
    let diff = cli(dir, &["diff", "fleet.yaml"]);
    assert_code(&diff, 1, "diff with a stale file");
    assert_eq!(tree(dir), before, "diff wrote something");
    let text = stdout(&diff);
    assert!(
        text.contains("deleted file mode 100644\n--- a/terraform/old.tf\n+++ /dev/null\n@@ -1 +0,0 @@\n-resource \"old\" \"x\" {}\n"),
        "{text}"
    );
    assert!(text.ends_with("2 files would change: 0 added, 0 modified, 2 removed\n"), "{text}");
    for (path, _) in user_files {
        assert!(!text.contains(path), "diff mentions the user's {path}:\n{text}");
    }

    let rendered = render_ok(dir, &["fleet.yaml"]);
    assert_eq!(
        rendered,
        format!(
            "removed gone/deeper/stale.sh\nremoved terraform/old.tf\nrunnergen-out: 2 changed (0 created, 0 updated, 2 removed), {} unchanged\n",
            plan.len()
        )
    );
    assert!(!out.join("terraform/old.tf").exists());
    assert!(!out.join("gone/deeper").exists(), "the emptied folder stays");
    for (path, contents) in user_files {
        assert_eq!(std::fs::read_to_string(out.join(path)).expect("the user's file survives"), contents, "{path}");
    }
    assert_holds_plan(&out, &plan);
    assert_code(&cli(dir, &["diff", "fleet.yaml"]), 0, "diff after render");
}

#[test]
fn a_hand_edited_generated_file_stops_render_until_force() {
    let project = project();
    let dir = project.path();
    let out = dir.join("runnergen-out");
    let plan = plan(&dir.join("fleet.yaml"));
    render_ok(dir, &["fleet.yaml"]);
    let (path, _) = plan.iter().find(|(path, _)| path.contains('/')).expect("a generated file in a folder");
    let edited = format!("{}# a quick fix\n", plan[path].contents);
    std::fs::write(out.join(path), &edited).expect("write");
    // A second, stale generated file, so that nothing at all may be written or removed either.
    pretend_generated(&out, "terraform/old.tf", "old\n");

    let before = tree(dir);
    let output = cli(dir, &["render", "fleet.yaml"]);
    assert_code(&output, 2, "render over a hand edit");
    assert_eq!(tree(dir), before, "render wrote or removed something");
    let err = stderr(&output);
    assert!(err.contains(&format!("# {path}: edited by hand since the last render")), "{err}");
    assert!(err.contains(&format!("--- a/{path}\n+++ b/{path}\n")) && err.contains("\n-# a quick fix\n"), "{err}");
    assert!(
        err.contains(&format!(
            "error: render would overwrite changes made by hand to 1 file: {path}; nothing was written"
        )),
        "{err}"
    );
    assert!(err.contains("runnergen render --force"), "{err}");
    assert!(stdout(&output).is_empty(), "{}", stdout(&output));

    let diff = cli(dir, &["diff", "fleet.yaml"]);
    assert_code(&diff, 1, "diff over a hand edit");
    assert!(stdout(&diff).contains(&format!("# {path}: edited by hand since the last render")), "{}", stdout(&diff));
    assert!(stdout(&diff).contains("1 file changed by hand: `runnergen render` stops unless run with --force"));
    assert_eq!(tree(dir), before, "diff wrote something");

    let forced = render_ok(dir, &["fleet.yaml", "--force"]);
    assert!(forced.contains(&format!("updated {path} (overwrote changes made by hand)\n")), "{forced}");
    assert!(forced.contains("removed terraform/old.tf\n"), "{forced}");
    assert_holds_plan(&out, &plan);
    assert!(!out.join("terraform/old.tf").exists());
    assert_code(&cli(dir, &["diff", "fleet.yaml"]), 0, "diff after --force");
}

#[test]
fn a_hand_edited_file_that_render_would_remove_also_stops_it() {
    let project = project();
    let dir = project.path();
    let out = dir.join("runnergen-out");
    render_ok(dir, &["fleet.yaml"]);
    pretend_generated(&out, "terraform/old.tf", "old\n");
    std::fs::write(out.join("terraform/old.tf"), "old, and improved by hand\n").expect("write");
    let before = tree(dir);
    let output = cli(dir, &["render", "fleet.yaml"]);
    assert_code(&output, 2, "render removing a hand-edited file");
    assert_eq!(tree(dir), before);
    assert!(stderr(&output).contains("terraform/old.tf"), "{}", stderr(&output));
    render_ok(dir, &["fleet.yaml", "--force"]);
    assert!(!out.join("terraform/old.tf").exists());
}

#[test]
fn a_file_runnergen_did_not_write_is_not_overwritten_without_force() {
    let project = project();
    let dir = project.path();
    let out = dir.join("runnergen-out");
    let plan = plan(&dir.join("fleet.yaml"));
    let (path, _) = plan.iter().find(|(path, _)| path.contains('/')).expect("a generated file in a folder");
    std::fs::create_dir_all(out.join(path).parent().expect("parent")).expect("mkdir");
    std::fs::write(out.join(path), "written by someone else\n").expect("write");
    let before = tree(dir);
    let output = cli(dir, &["render", "fleet.yaml"]);
    assert_code(&output, 2, "render over a foreign file");
    assert!(stderr(&output).contains(&format!("# {path}: not written by runnergen")), "{}", stderr(&output));
    assert_eq!(tree(dir), before);
    render_ok(dir, &["fleet.yaml", "--force"]);
    assert_holds_plan(&out, &plan);
}

#[test]
fn identical_files_without_a_manifest_are_adopted() {
    let project = project();
    let dir = project.path();
    let out = dir.join("runnergen-out");
    let plan = plan(&dir.join("fleet.yaml"));
    render_ok(dir, &["fleet.yaml"]);
    std::fs::remove_file(out.join(MANIFEST)).expect("rm");
    assert_code(&cli(dir, &["diff", "fleet.yaml"]), 0, "diff without a manifest");
    let output = render_ok(dir, &["fleet.yaml"]);
    assert!(output.contains("0 changed"), "{output}");
    assert_holds_plan(&out, &plan);
}

#[test]
fn output_is_the_same_from_any_working_directory_and_spec_path() {
    let project = project();
    let dir = project.path();
    std::fs::create_dir(dir.join("sub")).expect("mkdir");
    let spec = dir.join("fleet.yaml");
    let spec_abs = spec.to_str().expect("UTF-8 temp path");
    render_ok(dir, &["fleet.yaml"]);
    render_ok(&dir.join("sub"), &["../fleet.yaml", "--out", "../from-sub"]);
    render_ok(Path::new("/"), &[spec_abs, "--out", dir.join("from-root").to_str().expect("UTF-8")]);
    // The default folder is beside the spec, whatever the working directory.
    let other = tempfile::tempdir().expect("a temp dir");
    std::fs::copy(&spec, other.path().join("fleet.yaml")).expect("copy");
    let other_spec = other.path().join("fleet.yaml");
    render_ok(Path::new("/"), &[other_spec.to_str().expect("UTF-8")]);

    let reference = tree(&dir.join("runnergen-out"));
    assert!(reference.len() > 2, "{reference:?}");
    assert_eq!(tree(&dir.join("from-sub")), reference);
    assert_eq!(tree(&dir.join("from-root")), reference);
    assert_eq!(tree(&other.path().join("runnergen-out")), reference);
    assert!(!dir.join("sub/runnergen-out").exists() && !Path::new("/runnergen-out").exists());

    // And diff agrees from anywhere.
    assert_code(&cli(&dir.join("sub"), &["diff", "../fleet.yaml"]), 0, "diff from sub/");
    assert_code(&cli(Path::new("/"), &["diff", spec_abs]), 0, "diff from /");
}

/// Every bundled example: rendered twice, from two working directories, into two folders, the
/// trees are byte-identical, and a second render changes nothing.
#[test]
fn every_example_renders_the_same_twice() {
    for (name, spec) in crate::common::examples() {
        let work = tempfile::tempdir().expect("a temp dir");
        let spec = spec.to_str().expect("UTF-8 path");
        let a = work.path().join("a");
        let b = work.path().join("b");
        render_ok(work.path(), &[spec, "--out", "a"]);
        render_ok(Path::new("/"), &[spec, "--out", b.to_str().expect("UTF-8 path")]);
        assert_eq!(tree(&a), tree(&b), "{name}");
        let again = render_ok(work.path(), &[spec, "--out", "a"]);
        assert!(again.starts_with("a: 0 changed (0 created, 0 updated, 0 removed), "), "{name}: {again}");
        assert_holds_plan(&a, &plan(Path::new(spec)));
        assert_code(&cli(work.path(), &["diff", spec, "--out", "b"]), 0, &name);
    }
}

#[test]
fn an_invalid_spec_leaves_everything_untouched() {
    let project = project();
    let dir = project.path();
    render_ok(dir, &["fleet.yaml"]);
    std::fs::write(dir.join("runnergen-out/terraform/backend.tf"), "terraform {}\n").expect("write");
    let spec = std::fs::read_to_string(dir.join("fleet.yaml")).expect("read");
    std::fs::write(dir.join("fleet.yaml"), spec.replace("version: 1", "version: 7")).expect("write");
    std::fs::write(dir.join("empty.yaml"), "").expect("write");
    let before = tree(dir);
    for args in [&["render", "fleet.yaml"][..], &["render", "fleet.yaml", "--force"], &["diff", "fleet.yaml"]] {
        let output = cli(dir, args);
        assert_code(&output, 2, &format!("{args:?} with an invalid spec"));
        assert!(stderr(&output).contains("error: "), "{}", stderr(&output));
        assert_eq!(tree(dir), before, "{args:?} changed the folder");
    }
    let output = cli(dir, &["render", "empty.yaml", "--out", "new-out"]);
    assert_code(&output, 2, "render an empty spec");
    assert!(!dir.join("new-out").exists());
    assert_eq!(tree(dir), before);
}

#[test]
fn symlinks_inside_the_output_folder_are_refused() {
    let project = project();
    let dir = project.path();
    let plan = plan(&dir.join("fleet.yaml"));
    let outside = tempfile::tempdir().expect("a temp dir");
    std::fs::write(outside.path().join("precious.txt"), "do not touch\n").expect("write");
    let (path, _) = plan.iter().find(|(path, _)| path.contains('/')).expect("a generated file in a folder");
    let (first_dir, _) = path.split_once('/').expect("generated files live in folders");

    // A symlinked folder on the way to a generated file.
    let out = dir.join("out-dir-link");
    std::fs::create_dir(&out).expect("mkdir");
    std::os::unix::fs::symlink(outside.path(), out.join(first_dir)).expect("symlink");
    // A symlinked file where a generated file goes.
    let out2 = dir.join("out-file-link");
    std::fs::create_dir_all(out2.join(path).parent().expect("parent")).expect("mkdir");
    std::os::unix::fs::symlink(outside.path().join("precious.txt"), out2.join(path)).expect("symlink");

    let before_outside = tree(outside.path());
    let before = tree(dir);
    for out in ["out-dir-link", "out-file-link"] {
        for args in [
            &["render", "fleet.yaml", "--out", out][..],
            &["render", "fleet.yaml", "--out", out, "--force"],
            &["diff", "fleet.yaml", "--out", out],
        ] {
            let output = cli(dir, args);
            assert_code(&output, 2, &format!("{args:?}"));
            assert!(stderr(&output).contains("error: refusing to follow the symlink"), "{}", stderr(&output));
            assert_eq!(tree(outside.path()), before_outside, "{args:?} changed a folder outside");
            assert_eq!(tree(dir), before, "{args:?} changed the project");
        }
    }

    // A stale generated file reached through a symlinked folder is not removed either.
    let out3 = dir.join("out-stale-link");
    render_ok(dir, &["fleet.yaml", "--out", "out-stale-link"]);
    pretend_generated(&out3, "extra/precious.txt", "do not touch\n");
    std::fs::remove_dir_all(out3.join("extra")).expect("rm");
    std::os::unix::fs::symlink(outside.path(), out3.join("extra")).expect("symlink");
    let output = cli(dir, &["render", "fleet.yaml", "--out", "out-stale-link", "--force"]);
    assert_code(&output, 2, "render removing through a symlink");
    assert!(stderr(&output).contains("refusing to follow the symlink"), "{}", stderr(&output));
    assert_eq!(tree(outside.path()), before_outside);
}

#[test]
fn an_output_path_that_is_a_file_is_refused() {
    let project = project();
    let dir = project.path();
    std::fs::write(dir.join("out.txt"), "mine\n").expect("write");
    std::fs::write(dir.join("runnergen-out"), "also mine\n").expect("write");
    let before = tree(dir);
    for args in [
        &["render", "fleet.yaml", "--out", "out.txt"][..],
        &["render", "fleet.yaml"],
        &["diff", "fleet.yaml", "--out", "out.txt"],
        &["diff", "fleet.yaml"],
    ] {
        let output = cli(dir, args);
        assert_code(&output, 2, &format!("{args:?}"));
        assert!(stderr(&output).contains("is not a folder"), "{}", stderr(&output));
        assert_eq!(tree(dir), before);
    }
}

#[test]
fn diff_writes_nothing() {
    let project = project();
    let dir = project.path();
    let before = tree(dir);
    assert_code(&cli(dir, &["diff", "fleet.yaml"]), 1, "diff into nothing");
    assert_code(&cli(dir, &["diff", "fleet.yaml", "--stat"]), 1, "diff --stat into nothing");
    assert_eq!(tree(dir), before, "diff created the output folder");
    assert!(!dir.join("runnergen-out").exists());

    render_ok(dir, &["fleet.yaml"]);
    std::fs::remove_file(dir.join("runnergen-out").join(MANIFEST)).expect("rm");
    let plan = plan(&dir.join("fleet.yaml"));
    let (path, _) = plan.iter().find(|(path, _)| path.contains('/')).expect("a generated file in a folder");
    std::fs::write(dir.join("runnergen-out").join(path), "edited\n").expect("write");
    let before = tree(dir);
    assert_code(&cli(dir, &["diff", "fleet.yaml"]), 1, "diff over an edit");
    assert_eq!(tree(dir), before, "diff wrote (perhaps the manifest)");
}

/// The new user's walk, from the issue: render, edit the spec, diff (exit 1, the change shown),
/// render, diff (exit 0).
#[test]
fn a_new_users_walk() {
    let project = project();
    let dir = project.path();
    let out = render_ok(dir, &["fleet.yaml"]);
    assert!(out.contains("created "), "{out}");
    assert_code(&cli(dir, &["diff", "fleet.yaml"]), 0, "diff right after render");

    // Edit the spec in place: a larger maximum changes one line of one file.
    let spec = std::fs::read_to_string(dir.join("fleet.yaml")).expect("read");
    let edited = spec.replace("capacity: {min: 1, max: 3}", "capacity: {min: 1, max: 5}");
    assert_ne!(edited, spec, "the example changed: update this test's edit");
    std::fs::write(dir.join("fleet.yaml"), edited).expect("write");
    let diff = cli(dir, &["diff", "fleet.yaml"]);
    assert_code(&diff, 1, "diff after editing the spec");
    let text = stdout(&diff);
    assert!(text.contains("--- a/terraform/pool-docker.tf\n+++ b/terraform/pool-docker.tf\n"), "{text}");
    assert!(text.contains("\n-  max_size                  = 3\n+  max_size                  = 5\n"), "{text}");
    assert!(text.ends_with("1 file would change: 0 added, 1 modified, 0 removed\n"), "{text}");
    render_ok(dir, &["fleet.yaml"]);
    assert_code(&cli(dir, &["diff", "fleet.yaml"]), 0, "diff after rendering the edit");

    // Rename the spec, keeping the output folder: every header changes, so this always shows.
    std::fs::rename(dir.join("fleet.yaml"), dir.join("ci-fleet.yaml")).expect("rename");
    let diff = cli(dir, &["diff", "ci-fleet.yaml", "--out", "runnergen-out"]);
    assert_code(&diff, 1, "diff after renaming the spec");
    assert!(stdout(&diff).contains("+# Generated by runnergen"), "{}", stdout(&diff));
    assert!(stdout(&diff).contains("from ci-fleet.yaml."), "{}", stdout(&diff));
    let out = render_ok(dir, &["ci-fleet.yaml"]);
    assert!(out.contains("updated "), "{out}");
    assert_code(&cli(dir, &["diff", "ci-fleet.yaml"]), 0, "diff after the last render");
    assert_holds_plan(&dir.join("runnergen-out"), &plan(&dir.join("ci-fleet.yaml")));
}

/// The spec's file name reaches every generated header, in four languages: whatever it holds (a
/// line break, `%`, `$(`, quotes, bytes that are not UTF-8), only a safe rendering of it gets
/// there, and nothing else in the output changes. Diagnostics show it with its control
/// characters escaped.
#[test]
fn any_spec_file_name_stays_inside_the_header_comment() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let project = project();
    let dir = project.path();
    render_ok(dir, &["fleet.yaml", "--out", "plain"]);
    let plain = tree(&dir.join("plain"));
    let names: [&[u8]; 7] = [
        b"fle\net.yaml",
        b"a\rb.yaml",
        b"50%n.yaml",
        b"$(touch pwned).yaml",
        b"it's \"q\" `x`.yaml",
        b"caf\xe9.yaml",
        b"[Service]\nExecStart=x.yaml",
    ];
    let safe = |line: &str| {
        let name = line
            .split(" from ")
            .nth(1)
            .map(|r| r.strip_suffix(" -->").unwrap_or(r))
            .and_then(|r| r.strip_suffix(". Do not edit: change the spec and run `runnergen render`."));
        name.is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c)))
    };
    for name in names {
        let spec = dir.join(OsStr::from_bytes(name));
        std::fs::copy(dir.join("fleet.yaml"), &spec).expect("copy");
        let out = run(runnergen().current_dir(dir).arg("render").arg(&spec).arg("--out").arg("odd"));
        assert_success(&out, &format!("render {}", String::from_utf8_lossy(name)));
        let odd = tree(&dir.join("odd"));
        assert_eq!(odd.keys().collect::<Vec<_>>(), plain.keys().collect::<Vec<_>>());
        for (path, contents) in &odd {
            if path.ends_with(MANIFEST) {
                continue;
            }
            let (a, b): (Vec<&str>, Vec<&str>) = (plain[path].lines().collect(), contents.lines().collect());
            assert_eq!(a.len(), b.len(), "{}: {}", String::from_utf8_lossy(name), path.display());
            for (x, y) in a.iter().zip(&b) {
                if x != y {
                    assert!(y.contains("Generated by runnergen") && safe(y), "{}: {y}", path.display());
                }
            }
        }
        assert!(!dir.join("pwned").exists());
        std::fs::remove_file(&spec).expect("rm");
        std::fs::remove_dir_all(dir.join("odd")).expect("rm");
    }
    // An invalid spec with a line break in its name: the name is shown escaped.
    let bad = dir.join(OsStr::from_bytes(b"bad\nname.yaml"));
    std::fs::write(&bad, "version: 1\nname: x\nfoo: 1\n").expect("write");
    let out = run(runnergen().current_dir(dir).arg("validate").arg(&bad));
    assert_code(&out, 2, "an invalid spec");
    let err = stderr(&out);
    assert!(err.contains("bad\\nname.yaml:3:1]"), "{err}");
    assert!(!err.contains("bad\nname"), "{err}");
}

/// After the files' diff, `diff` says what applying the change does to running jobs, pool by pool:
/// each kind of change, pinned, on copies of the examples rendered first as they are.
#[test]
fn diff_says_what_an_apply_does_to_running_jobs() {
    let cases: &[(&str, &str, &str, &[&str])] = &[
        (
            "autoscaler",
            "from: \"07:00\", to: \"19:00\"",
            "from: \"06:00\", to: \"19:00\"",
            &[
                "pool build: its live settings change (windows, idle workers or default image): the running manager applies them within a minute, without a replacement; no job stops",
            ],
        ),
        (
            "autoscaler",
            "max_instances: 20",
            "max_instances: 30",
            &[
                "pool build: its launch template changes: its manager is replaced, and the pool starts no job until the old manager's running jobs have finished (up to 80 minutes); jobs wait in GitLab meanwhile",
            ],
        ),
        (
            "autoscaler",
            "    token_parameter: /acme-ci/deploy/runner-token\n",
            "    token_parameter: /acme-ci/deploy/runner-token\n    job_timeout_minutes: 30\n",
            &[
                "pool deploy: its launch template changes: an instance refresh replaces its instances one by one, each replacement in service before an old instance drains; running jobs finish (up to 40 minutes each)",
            ],
        ),
        (
            "autoscaler",
            "runner_version: 19.3.0",
            "runner_version: 19.2.0",
            &[
                "pool build: the image changes (after `packer build`): its manager is replaced, and the pool starts no job until the old manager's running jobs have finished (up to 80 minutes); jobs wait in GitLab meanwhile",
                "pool build: new workers start from the new worker image; workers running jobs keep theirs until they retire",
                "pool deploy: the image changes (after `packer build`): an instance refresh replaces its instances one by one, each replacement in service before an old instance drains; running jobs finish (up to 70 minutes each)",
            ],
        ),
        (
            "gitlab-runners",
            "      project_id: 5678\n",
            "      project_id: 5679\n",
            &[
                "pool deploy: its runner is made anew: an instance refresh replaces its instances one by one, each replacement in service before an old instance drains; running jobs finish (up to 40 minutes each)",
                "pool deploy: its runner is made anew in GitLab (its scope, group or project changes) and the old one deleted as soon as the new one exists: the old instances stop taking jobs; jobs already running there finish and report with their own job tokens, but those instances cannot remove their runner managers (GitLab drops them after 7 days)",
            ],
        ),
    ];
    for (example, from, to, expected) in cases {
        let dir = tempfile::tempdir().expect("a temp dir");
        let spec = std::fs::read_to_string(root().join("examples").join(example).join("fleet.yaml")).expect("example");
        std::fs::write(dir.path().join("fleet.yaml"), &spec).expect("write");
        render_ok(dir.path(), &["fleet.yaml"]);
        let unchanged = cli(dir.path(), &["diff", "fleet.yaml"]);
        assert!(!stdout(&unchanged).contains("What applying"), "{}", stdout(&unchanged));
        assert!(spec.contains(from), "{example}: {from:?}");
        std::fs::write(dir.path().join("fleet.yaml"), spec.replacen(from, to, 1)).expect("write");
        for args in [&["diff", "fleet.yaml"][..], &["diff", "--stat", "fleet.yaml"]] {
            let out = cli(dir.path(), args);
            assert_code(&out, 1, "diff");
            let text = stdout(&out);
            let summary = text.split_once("\nWhat applying this does to running jobs:\n").map(|(_, s)| s).unwrap_or("");
            let lines: Vec<&str> = summary.lines().map(|l| l.trim_start_matches("  - ")).collect();
            assert_eq!(lines, *expected, "{example}: {from} -> {to}:\n{text}");
        }
    }

    // A pool taken out of the spec drains away.
    let dir = tempfile::tempdir().expect("a temp dir");
    let spec = std::fs::read_to_string(root().join("examples/multi-pool/fleet.yaml")).expect("example");
    std::fs::write(dir.path().join("fleet.yaml"), &spec).expect("write");
    render_ok(dir.path(), &["fleet.yaml"]);
    let start = spec.find("  - name: shell").expect("the shell pool");
    let end = spec[start..].find("cache:").map(|e| start + e).expect("what follows");
    std::fs::write(dir.path().join("fleet.yaml"), format!("{}{}", &spec[..start], &spec[end..])).expect("write");
    let text = stdout(&cli(dir.path(), &["diff", "--stat", "fleet.yaml"]));
    assert!(
        text.ends_with("\nWhat applying this does to running jobs:\n  - pool shell: removed: `terraform apply` deletes its group, draining every instance first, and waits for their running jobs\n"),
        "{text}"
    );
}
