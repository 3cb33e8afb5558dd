//! Shared by both test targets: the landing-zone example, copied and changed, rendered, and the
//! readers of what it renders.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common;

/// The landing-zone example as it is on disk.
pub const EXAMPLE: &str = "landing-zone";
/// The values `examples/landing-zone/fleet.yaml` writes.
pub const PROXY_URL: &str = "http://proxy.corp.example:3128";
pub const SPEC_NO_PROXY: [&str; 2] = [".corp.example", "gitlab.corp.example"];
pub const IMDS: &str = "169.254.169.254";

/// A copy of the landing-zone example (spec, CA, bake step) in a folder of its own, its spec
/// changed by `edit`.
pub fn landing_zone_copy(edit: impl Fn(&str) -> String) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let from = common::root().join("examples").join(EXAMPLE);
    for sub in ["certs", "scripts"] {
        std::fs::create_dir_all(dir.path().join(sub)).expect("mkdir");
        for entry in std::fs::read_dir(from.join(sub)).expect("read_dir") {
            let entry = entry.expect("an entry");
            std::fs::copy(entry.path(), dir.path().join(sub).join(entry.file_name())).expect("copy");
        }
    }
    let spec = dir.path().join("fleet.yaml");
    let text = std::fs::read_to_string(from.join("fleet.yaml")).expect("the example's spec");
    std::fs::write(&spec, edit(&text)).expect("write the spec");
    (dir, spec)
}

/// Every file a spec renders.
pub fn render(spec: &Path) -> runnergen::render::Files {
    let fleet = runnergen::load_spec(spec).map(|l| l.fleet).unwrap_or_else(|e| panic!("{}", e.render(false)));
    runnergen::render::render(&fleet).expect("renders")
}

/// The `Environment=` assignments of a drop-in's `[Service]` section, each value unquoted as
/// systemd.syntax(7) says: C-style escapes in double quotes, `%%` for `%`.
pub fn dropin_environment(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut in_service = false;
    for line in text.lines() {
        if line.starts_with('[') {
            in_service = line == "[Service]";
            continue;
        }
        let Some(value) = line.strip_prefix("Environment=").filter(|_| in_service) else { continue };
        let quoted = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).expect("one quoted assignment");
        let mut text = String::new();
        let mut chars = quoted.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next().expect("an escape") {
                    'x' => {
                        let hex: String = chars.by_ref().take(2).collect();
                        text.push(char::from(u8::from_str_radix(&hex, 16).expect("hex")));
                    }
                    other => text.push(other),
                },
                '%' => {
                    assert_eq!(chars.next(), Some('%'), "a lone % is a specifier: {line}");
                    text.push('%');
                }
                '"' => panic!("an unescaped quote ends the value early: {line}"),
                c => text.push(c),
            }
        }
        let (name, value) = text.split_once('=').expect("NAME=VALUE");
        assert!(out.insert(name.to_owned(), value.to_owned()).is_none(), "{name} twice");
    }
    out
}

/// The image-definition hash the runner AMI is tagged with.
pub fn image_hash(files: &runnergen::render::Files) -> String {
    let hcl = &files["packer/gitlab-runner.pkr.hcl"].contents;
    let line = hcl.lines().find(|l| l.trim_start().starts_with("\"runnergen:image\"")).expect("the image tag");
    line.split('"').nth(3).expect("its value").to_owned()
}
