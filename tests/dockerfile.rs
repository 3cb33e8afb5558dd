//! The container image's Dockerfile, checked by hadolint; its Rust builder is the one the
//! project's own pipeline uses, and new enough for the crate.

use crate::common::{root, run, tool};

#[test]
fn the_dockerfile_passes_hadolint() {
    let out = run(tool("hadolint").args(["--no-color", "--failure-threshold", "style"]).arg(root().join("Dockerfile")));
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "hadolint found problems in the Dockerfile:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_image_and_the_pipeline_build_with_one_rust_version() {
    let read = |path: &str| std::fs::read_to_string(root().join(path)).expect("readable");
    let dockerfile = read("Dockerfile");
    let pipeline = read(".gitlab-ci.yml");
    let version = |text: &str, prefix: &str| -> String {
        let at = text.find(prefix).unwrap_or_else(|| panic!("no `{prefix}`")) + prefix.len();
        text[at..].chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect()
    };
    let image = version(&dockerfile, "FROM rust:");
    assert_eq!(image, version(&pipeline, "RUST_IMAGE: \"rust:"), "Dockerfile and .gitlab-ci.yml disagree");
    let parse = |v: &str| v.split('.').map(|n| n.parse::<u32>().expect("a number")).collect::<Vec<_>>();
    let manifest = read("Cargo.toml");
    let minimum = version(&manifest, "rust-version = \"");
    assert!(parse(&image) >= parse(&minimum), "rust {image} is older than rust-version {minimum}");
}
