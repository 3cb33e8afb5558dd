//! Reading the generated Terraform back with hcl-rs: rendering small specs, finding blocks by
//! their labels and reading attributes as literals. Both test targets use it, each only part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hcl::{Block, Body, Expression};

use runnergen::topology::Topology;

use crate::common;

/// The generated `.tf` files of a rendered folder, sorted.
pub fn tf_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("terraform"))
        .expect("a terraform folder")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "tf"))
        .collect();
    files.sort();
    files
}

/// A fleet up to its `pools:` key, for specs that differ only in their pools.
pub const SPEC_HEAD: &str = r"
version: 1
name: sched
aws:
  region: eu-west-1
  vpc_id: vpc-0123456789abcdef0
  subnet_ids: [subnet-0123456789abcdef0]
gitlab:
  url: https://gitlab.example.com
image:
  os: ubuntu-24.04
  arch: x86_64
  runner_version: 19.3.0
pools:
";

/// Renders a spec whose `pools:` list is `pools` and parses every generated `.tf` file.
pub fn render_pools(pools: &str) -> BTreeMap<String, Body> {
    render_spec(&format!("{SPEC_HEAD}{pools}"))
}

/// Renders a whole spec, checks that everything its `.tf` files reference is declared, and
/// parses them.
pub fn render_spec(text: &str) -> BTreeMap<String, Body> {
    let spec_dir = tempfile::tempdir().expect("a temp dir");
    let spec = spec_dir.path().join("fleet.yaml");
    std::fs::write(&spec, text).expect("write the spec");
    let dir = common::render_to_temp(&spec);
    let files = tf_files(dir.path());
    assert_references_resolve(&files);
    files.iter().map(|f| (f.file_name().expect("a name").to_string_lossy().into_owned(), parse(f))).collect()
}

/// Every `aws_TYPE.NAME`, `data.aws_TYPE.NAME` and `local.NAME` the module mentions outside
/// comments is declared in it: `terraform validate` needs the provider, this does not.
pub fn assert_references_resolve(files: &[PathBuf]) {
    let mut declared = std::collections::BTreeSet::new();
    let mut texts = Vec::new();
    for file in files {
        let body = parse(file);
        for block in body.blocks() {
            let labels: Vec<&str> = block.labels().iter().map(hcl::BlockLabel::as_str).collect();
            match (block.identifier(), labels.as_slice()) {
                ("resource", [ty, name]) => {
                    declared.insert(format!("{ty}.{name}"));
                }
                ("data", [ty, name]) => {
                    declared.insert(format!("data.{ty}.{name}"));
                }
                ("locals", []) => {
                    for a in block.body().attributes() {
                        declared.insert(format!("local.{}", a.key()));
                    }
                }
                _ => {}
            }
        }
        texts.push(std::fs::read_to_string(file).expect("readable"));
    }
    let mut checked = 0;
    for text in &texts {
        for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
            for word in line.split(|c: char| !(c.is_ascii_alphanumeric() || "_.-".contains(c))) {
                let parts: Vec<&str> = word.split('.').collect();
                let address = match parts.as_slice() {
                    ["data", ty, name, ..] if ty.starts_with("aws_") => format!("data.{ty}.{name}"),
                    [ty, name, ..] if ty.starts_with("aws_") || *ty == "local" => format!("{ty}.{name}"),
                    _ => continue,
                };
                assert!(declared.contains(&address), "`{address}` is referenced but not declared");
                checked += 1;
            }
        }
    }
    assert!(checked > 10, "only {checked} references found");
}

pub fn parse(path: &Path) -> Body {
    let text = std::fs::read_to_string(path).expect("readable");
    hcl::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn labeled<'a>(body: &'a Body, kind: &str, ty: &str, name: &str) -> &'a Block {
    body.blocks()
        .find(|b| {
            b.identifier() == kind
                && b.labels().len() == 2
                && b.labels()[0].as_str() == ty
                && b.labels()[1].as_str() == name
        })
        .unwrap_or_else(|| panic!("no {kind} {ty}.{name}"))
}

pub fn resource<'a>(body: &'a Body, ty: &str, name: &str) -> &'a Block {
    labeled(body, "resource", ty, name)
}

pub fn data<'a>(body: &'a Body, ty: &str, name: &str) -> &'a Block {
    labeled(body, "data", ty, name)
}

pub fn attr<'a>(body: &'a Body, key: &str) -> &'a Expression {
    body.attributes().find(|a| a.key() == key).map(hcl::Attribute::expr).unwrap_or_else(|| panic!("no attribute {key}"))
}

/// The items of a list attribute: string literals as their text, other expressions as HCL.
pub fn strings(body: &Body, key: &str) -> Vec<String> {
    match attr(body, key) {
        Expression::Array(items) => items
            .iter()
            .map(|e| match e {
                Expression::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        other => panic!("{key} is not a list: {other}"),
    }
}

pub fn string(body: &Body, key: &str) -> String {
    match attr(body, key) {
        Expression::String(s) => s.clone(),
        other => panic!("{key} is not a string literal: {other}"),
    }
}

pub fn number(body: &Body, key: &str) -> i64 {
    match attr(body, key) {
        Expression::Number(n) => n.as_i64().expect("a whole number"),
        other => panic!("{key} is not a number: {other}"),
    }
}

/// Terraform label of the resources of a pool's runner instances: an instance pool's own, an
/// autoscaler pool's manager's.
pub fn runner_label(pool: &runnergen::model::Pool) -> String {
    match pool.topology {
        Topology::Instance(_) => pool.name.clone(),
        Topology::Autoscaler(_) => format!("{}_manager", pool.name),
    }
}

pub fn block<'a>(body: &'a Body, identifier: &str) -> &'a Block {
    body.blocks().find(|b| b.identifier() == identifier).unwrap_or_else(|| panic!("no {identifier} block"))
}

pub fn all_blocks(files: &BTreeMap<String, Body>) -> Vec<&Block> {
    files.values().flat_map(|b| b.blocks()).collect()
}

pub fn labeled_one<'a>(body: &'a Body, kind: &str, name: &str) -> &'a Block {
    body.blocks()
        .find(|b| b.identifier() == kind && b.labels().first().is_some_and(|l| l.as_str() == name))
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// A fleet whose runners Terraform creates (`gitlab.runners: terraform`), one of each scope, its
/// tokens encrypted with the account's SSM key.
pub const RUNNERS_SPEC: &str = r#"
version: 1
name: rt
aws:
  region: eu-west-1
  vpc_id: vpc-0123456789abcdef0
  subnet_ids: [subnet-0123456789abcdef0]
gitlab:
  url: https://gitlab.example.com/gitlab
  runners: terraform
image:
  os: ubuntu-24.04
  arch: x86_64
  runner_version: 19.3.0
pools:
  - name: shared
    executor: docker
    instance_types: [t3.large]
    capacity: {min: 1, max: 2}
    token_parameter: /rt/shared/token
    runner: {scope: instance}
  - name: team
    executor: docker
    instance_types: [t3.large]
    capacity: {min: 1, max: 2}
    token_parameter: /rt/team/token
    job_timeout_minutes: 20
    runner: {scope: group, group_id: 42, description: "team \"builds\" ${x}", tags: [docker, linux], paused: true}
  - name: release
    executor: shell
    instance_types: [t3.small]
    capacity: {min: 1, max: 1}
    token_parameter: /rt/release/token
    runner: {scope: project, project_id: 7, tags: [release], run_untagged: true, locked: false, protected: true, maximum_timeout: 1800}
"#;

/// The multi-pool example tagged with keys whose width hclwrite measures in grapheme clusters:
/// combining vowel signs, conjuncts, decomposed letters, characters of recent Unicode versions.
/// IAM refuses combining marks in tags, so validation stops most of these; the model is set here.
pub fn fleet_tagged_in_many_scripts() -> runnergen::Fleet {
    let spec = common::root().join("examples/multi-pool/fleet.yaml");
    let mut fleet = runnergen::load_spec(&spec).map(|l| l.fleet).expect("loads");
    for (k, v) in [
        ("टीम", "मंच"),
        ("परीक्षण", "हाँ"),
        ("Zu\u{308}rich", "x"),
        ("团队", "平台"),
        ("\u{d81}\u{10f49}", "y"),
        ("a", "b"),
    ] {
        fleet.tags.insert(k.to_owned(), v.to_owned());
    }
    fleet
}
