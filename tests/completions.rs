//! Each shell's completion script parses in that shell.

use crate::common::{assert_success, run, runnergen, tool};

#[test]
fn completion_scripts_parse_in_their_shells() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (shell, check) in [("bash", &["-n"][..]), ("zsh", &["-n"]), ("fish", &["--no-execute"])] {
        let out = run(runnergen().args(["completions", shell]));
        assert_success(&out, &format!("runnergen completions {shell}"));
        let script = dir.path().join(format!("runnergen.{shell}"));
        std::fs::write(&script, &out.stdout).expect("write");
        assert_success(&run(tool(shell).args(check).arg(&script)), &format!("{shell} {}", check.join(" ")));
    }
}
