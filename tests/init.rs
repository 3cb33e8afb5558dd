//! `runnergen init`: the starting spec it writes passes `validate` without a warning and renders;
//! it never overwrites a file; answers that `validate` would refuse are shown located in the
//! would-be file, and nothing is written.

use crate::common::{run, runnergen};

const ANSWERS: &[&str] = &[
    "--region",
    "eu-central-1",
    "--vpc-id",
    "vpc-0a1b2c3d4e5f60718",
    "--subnet-ids",
    "subnet-0a1b2c3d4e5f60718,subnet-0f1e2d3c4b5a69788",
    "--gitlab-url",
    "https://gitlab.example.com",
];

#[test]
fn init_writes_a_spec_that_validates_and_renders() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (file, zone) in [("utc.yaml", None), ("berlin.yaml", Some("Europe/Berlin"))] {
        let mut cmd = runnergen();
        cmd.current_dir(dir.path()).args(["init", file]).args(ANSWERS);
        if let Some(zone) = zone {
            cmd.args(["--time-zone", zone]);
        }
        let out = run(&mut cmd);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let text = std::fs::read_to_string(dir.path().join(file)).expect("written");
        assert!(text.contains(&format!("time_zone: \"{}\"", zone.unwrap_or("UTC"))), "{text}");
        assert!(text.contains("subnet_ids: [\"subnet-0a1b2c3d4e5f60718\", \"subnet-0f1e2d3c4b5a69788\"]"), "{text}");
        let out = run(runnergen().current_dir(dir.path()).args(["validate", file]));
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(out.stderr.is_empty(), "warnings for the starting spec:\n{}", String::from_utf8_lossy(&out.stderr));
        let out = run(runnergen().current_dir(dir.path()).args(["render", file, "--out", &format!("{file}-out")]));
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn init_never_overwrites_a_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("fleet.yaml"), "mine\n").expect("write");
    let out = run(runnergen().current_dir(dir.path()).args(["init", "fleet.yaml"]).args(ANSWERS));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: fleet.yaml exists; `runnergen init` never overwrites a file: give another name, or remove it first\n"
    );
    assert_eq!(std::fs::read_to_string(dir.path().join("fleet.yaml")).expect("read"), "mine\n");
}

#[test]
fn init_refuses_answers_validate_would_refuse() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run(runnergen().current_dir(dir.path()).args([
        "init",
        "fleet.yaml",
        "--region",
        "eu-central-1\nname: evil",
        "--vpc-id",
        "vpc-0a1b2c3d4e5f60718",
        "--subnet-ids",
        "subnet-0a1b2c3d4e5f60718",
        "--gitlab-url",
        "https://gitlab.example.com",
        "--time-zone",
        "America/NewYork",
    ]));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).expect("UTF-8");
    assert!(stderr.contains("[fleet.yaml:8:"), "{stderr}");
    assert!(stderr.contains("`America/New_York`?"), "{stderr}");
    assert!(!stderr.contains("duplicate") && !stderr.contains("evil`"), "{stderr}");
    assert!(!dir.path().join("fleet.yaml").exists());
}
