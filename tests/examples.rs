//! Golden output: each example's whole rendered tree is committed beside its spec, in
//! `examples/NAME/runnergen-out/`, and must be exactly what render produces now. After an
//! intended change, `scripts/bless` re-renders every example (and the other pinned files) and the
//! diff shows in review.

use crate::common::{examples, root, run, runnergen};

#[test]
fn committed_example_output_is_what_render_writes() {
    for (name, spec) in examples() {
        let out = run(runnergen().args(["diff", "--color", "never"]).arg(&spec).current_dir(root()));
        assert!(
            out.status.code() == Some(0),
            "examples/{name}/runnergen-out is stale; run `scripts/bless` and review its diff:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let committed = spec.parent().expect("a folder").join("runnergen-out");
        for expected in ["packer/gitlab-runner.pkr.hcl", "packer/gitlab-runner-provision.sh", "terraform/versions.tf"] {
            assert!(committed.join(expected).is_file(), "{name}: {expected} is not committed");
        }
    }
}
