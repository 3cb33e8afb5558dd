//! Colour on a real terminal: `runnergen diff` under a pseudo-terminal (util-linux `script`).

use crate::common::{root, run};

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::copy(root().join("examples/minimal/fleet.yaml"), dir.path().join("fleet.yaml")).expect("copy");
    dir
}

/// On a terminal (a pseudo-terminal from util-linux `script`), `auto` colours unless NO_COLOR.
#[test]
fn colour_on_a_terminal_unless_no_color() {
    let project = project();
    let dir = project.path();
    let on_terminal = |no_color: Option<&str>, flags: &str| {
        let mut cmd = crate::common::tool("script");
        cmd.current_dir(dir).env_remove("NO_COLOR");
        if let Some(value) = no_color {
            cmd.env("NO_COLOR", value);
        }
        let line = format!("'{}' diff fleet.yaml {flags}", env!("CARGO_BIN_EXE_runnergen"));
        let output = run(cmd.args(["-qec", &line, "/dev/null"]));
        assert_eq!(output.status.code(), Some(1), "{line}");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(text.contains("+++ b/"), "{text:?}");
        text.contains('\x1b')
    };
    assert!(on_terminal(None, ""), "auto on a terminal colours");
    assert!(on_terminal(Some(""), ""), "an empty NO_COLOR does not count");
    assert!(!on_terminal(Some("1"), ""), "NO_COLOR turns auto off");
    assert!(!on_terminal(None, "--color never"));
    assert!(on_terminal(Some("1"), "--color always"));
}
