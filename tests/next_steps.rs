//! The next steps `render` writes to `NEXT-STEPS.md` and prints: pinned per example, every
//! command a shell would run parsed by bash, no token anywhere, and each runner's maximum job
//! timeout the pool's job timeout.

use crate::common::{examples, root, run, runnergen};

fn steps(spec: &std::path::Path) -> (runnergen::Fleet, String) {
    let fleet = runnergen::load_spec(spec).map(|l| l.fleet).unwrap_or_else(|e| panic!("{}", e.render(false)));
    let plan = runnergen::render::render(&fleet).unwrap_or_else(|e| panic!("{}", e.render(false)));
    let text = plan.get("NEXT-STEPS.md").expect("NEXT-STEPS.md is rendered").contents.clone();
    (fleet, text)
}

#[test]
fn next_steps_per_example() {
    for (name, spec) in examples() {
        let (fleet, text) = steps(&spec);
        insta::assert_snapshot!(format!("next-steps-{name}"), text);
        assert!(!text.contains("glrt-") || text.contains("`glrt-` token at the prompt"), "{name}");
        let external = fleet.runners == runnergen::model::RunnerMode::External;
        for pool in &fleet.pools {
            let put = format!("--name {} --type SecureString", pool.token_parameter);
            assert_eq!(text.contains(&put), external, "{name}: {put}");
            if external {
                let timeout = format!("maximum job timeout **{} minutes**", pool.job_timeout_minutes);
                assert!(text.contains(&timeout), "{name}/{}: {timeout}", pool.name);
            }
        }
        for block in text.split("```sh\n").skip(1) {
            let script = block.split("```").next().expect("a closed block");
            let out = run(std::process::Command::new("bash").args(["-n", "-c", script]));
            assert!(
                out.status.success(),
                "{name}: bash -n fails on\n{script}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn render_prints_the_next_steps() {
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = root().join("examples/multi-pool/fleet.yaml");
    let out = run(runnergen().arg("render").arg(&spec).arg("--out").arg(dir.path().join("out")));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).expect("UTF-8");
    let written = std::fs::read_to_string(dir.path().join("out/NEXT-STEPS.md")).expect("NEXT-STEPS.md written");
    let body = written.split_once('\n').expect("a header line").1;
    assert!(stdout.contains("\nNext steps, also in ") && stdout.ends_with(body), "{stdout}");
}

/// In external mode a pool's `runner` is what the operator sets: listed in the next steps, each
/// tag as Markdown code whatever it holds, and never created by the Terraform.
#[test]
fn external_routing_is_listed_not_created() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = std::fs::read_to_string(root().join("examples/minimal/fleet.yaml")).expect("read").replace(
        "    docker: {image: \"alpine:3.20\"}",
        "    docker: {image: \"alpine:3.20\"}\n    runner: {tags: [\"a`b\", \"<x>\"], protected: true}",
    );
    std::fs::write(dir.path().join("fleet.yaml"), text).expect("write");
    let (_, steps) = steps(&dir.path().join("fleet.yaml"));
    assert!(steps.contains("tags: ``a`b``, `<x>`; run untagged jobs: no; protected: yes."), "{steps}");
    let fleet = runnergen::load_spec(&dir.path().join("fleet.yaml")).map(|l| l.fleet).expect("valid");
    let plan = runnergen::render::render(&fleet).expect("renders");
    assert!(!plan.contains_key("terraform/gitlab.tf"));
    assert!(plan.values().all(|f| !f.contents.contains("gitlab_user_runner")));
}
