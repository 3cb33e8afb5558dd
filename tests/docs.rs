//! The man pages in `docs/` are what clap_mangen makes of the command line now, and every shell's
//! completion script is generated. After a change to the command line,
//! `RUNNERGEN_UPDATE_DOCS=1 cargo test --locked man_pages` rewrites the pages and the diff shows
//! in review.

use clap::ValueEnum as _;

use crate::common::{root, run, runnergen};

#[test]
fn man_pages_match_the_command_line() {
    let generated = tempfile::tempdir().expect("temp dir");
    clap_mangen::generate_to(runnergen::cli::command(), generated.path()).expect("man pages render");
    let pages = |dir: &std::path::Path| -> std::collections::BTreeMap<String, String> {
        std::fs::read_dir(dir)
            .expect("readable")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".1"))
            .map(|name| {
                let text = std::fs::read_to_string(dir.join(&name)).expect("UTF-8 page");
                (name, text)
            })
            .collect()
    };
    let docs = root().join("docs");
    let (want, have) = (pages(generated.path()), pages(&docs));
    assert!(want.contains_key("runnergen.1") && want.contains_key("runnergen-render.1"), "{:?}", want.keys());
    if std::env::var_os("RUNNERGEN_UPDATE_DOCS").is_some() {
        for name in have.keys().filter(|name| !want.contains_key(*name)) {
            std::fs::remove_file(docs.join(name)).expect("remove a stale page");
        }
        for (name, text) in &want {
            std::fs::write(docs.join(name), text).expect("write a page");
        }
        return;
    }
    assert!(
        want == have,
        "docs/*.1 no longer match the command line; run `RUNNERGEN_UPDATE_DOCS=1 cargo test --locked man_pages`"
    );
}

#[test]
fn completions_for_every_shell() {
    for shell in clap_complete::Shell::value_variants() {
        let name = shell.to_possible_value().expect("a name").get_name().to_owned();
        let out = run(runnergen().args(["completions", &name]));
        assert_eq!(out.status.code(), Some(0), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let script = String::from_utf8(out.stdout).expect("UTF-8");
        for word in ["runnergen", "validate", "render", "diff", "plan", "completions", "force", "baseline"] {
            assert!(script.contains(word), "{name} completions lack `{word}`");
        }
    }
    let out = run(runnergen().args(["completions", "tcsh"]));
    assert_eq!(out.status.code(), Some(2));
}
