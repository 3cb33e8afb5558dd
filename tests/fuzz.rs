//! Fuzzing the whole pipeline: specs made by mutating the bundled examples (their YAML trees,
//! then their bytes) go through load, validate, resolve and render in-process, and every result
//! must hold the invariants below. `RUNNERGEN_FUZZ_CASES` sets how many (CI runs the default);
//! `scripts/fuzz` runs many more. A failing input is written to `tests/fuzz_regressions/`, and
//! every file there is checked again on each run.
//!
//! Invariants:
//! - nothing panics, and an invalid spec's diagnostics draw;
//! - validity is the same in validate and render: a spec that validates renders;
//! - every diagnostic points inside the file, on character boundaries;
//! - every rendered HCL file parses with HashiCorp's parser and is canonical, and evaluates only
//!   what the templates wrote (variable roots and functions from a fixed list): no value became
//!   an expression;
//! - every rendered script, and the shell commands of the next steps, pass `bash -n`; every
//!   settings file, sourced by bash, gives back exactly the model's values, one line a key;
//! - every unit has only its own sections and one `Description=`.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use runnergen::topology::Topology;
use serde_json::Value;

use crate::common;

/// What rendered HCL may refer to and call: anything else came from a spec value. (The sizes and
/// the mixed policy are the attributes in the groups' `ignore_changes`; `tag` is the iterator of a
/// group's `dynamic "tag"` over its pool's tag map; `subnet`, `zone` and `zone_subnet_ids` those of
/// the VPC endpoints' `for` over the subnets' zones.)
const HCL_ROOTS: &[&str] = &[
    "data",
    "desired_capacity",
    "local",
    "max_size",
    "min_size",
    "mixed_instances_policy",
    "path",
    "self",
    "source",
    "subnet",
    "tag",
    "zone",
    "zone_subnet_ids",
];
const HCL_ROOT_PREFIXES: &[&str] = &["aws_", "gitlab_"];
const HCL_FUNCTIONS: &[&str] = &[
    "distinct",
    "file",
    "filebase64",
    "format",
    "formatdate",
    "join",
    "jsonencode",
    "length",
    "merge",
    "parseint",
    "sort",
    "timestamp",
];

fn seeds() -> Vec<Value> {
    common::examples()
        .into_iter()
        .map(|(_, path)| {
            let text = std::fs::read_to_string(path).expect("read");
            runnergen::yaml::parse(&text).expect("YAML").expect("a document").to_json()
        })
        .collect()
}

/// One change to a spec tree, at the node the index picks.
#[derive(Debug, Clone)]
enum Op {
    Set(Value),
    Remove,
    AddKey(String, Value),
    DuplicateItem,
}

fn nasty_string() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "\"",
            "${var.x}",
            "%{if x}",
            "\n",
            "a\nb",
            "a\r\nb",
            "$(touch pwned)",
            "`id`",
            "'",
            "\\",
            "}",
            "{",
            "#",
            "//",
            "\u{212A}",
            "A\u{30A}",
            "टीम",
            "",
            " ",
            "\t",
            "\u{feff}",
            "\u{7f}",
            "\u{85}",
            "%n",
            "Europe/Berlin",
            "Etc/UTC",
            "00:00",
            "23:59",
            "MON-FRI",
            "FRI-MON",
            "SUN",
            "t3.large",
            "m7g.large",
            "c7g.xlarge",
            "/x/y",
            "/var/run/docker.sock",
            "https://gitlab.example.com",
            "https://\"}",
            "https://h:0",
            "alpine:3.20",
            "19.3.0",
            "16.0.0",
            "2.36.7",
            "docker",
            "shell",
            "arm64",
            "x86_64",
            "ubuntu-22.04",
            "amazon-linux-2023",
            "gp2",
            "us-gov-west-1",
            "cn-north-1",
            "runnergen:fleet",
            "Name",
            "aws:x",
            "always",
            "a b = c",
        ])
        .prop_map(str::to_owned),
        "[ -~]{0,24}",
        "\\PC{0,12}",
        (1usize..4000).prop_map(|n| "x".repeat(n)),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => nasty_string().prop_map(Value::String),
        2 => prop::sample::select(vec![-1i64, 0, 1, 2, 4, 8, 30, 60, 95, 96, 100, 115, 1000, 1440, 1441, 16384, i64::MAX])
            .prop_map(Value::from),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => Just(Value::Null),
        1 => nasty_string().prop_map(|s| Value::Array(vec![Value::String(s)])),
        1 => (nasty_string(), nasty_string()).prop_map(|(k, v)| Value::Object([(k, Value::String(v))].into_iter().collect())),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let key = prop_oneof![
        prop::sample::select(vec![
            "tags",
            "desired",
            "spot",
            "volume_gb",
            "schedule",
            "docker",
            "scaling",
            "busy_percent",
            "time_zone",
            "ebs_kms_key_arn",
            "aws_cli_version",
            "job_timeout_minutes",
            "privileged",
            "volumes",
            "bogus",
        ])
        .prop_map(str::to_owned),
        nasty_string(),
    ];
    prop_oneof![
        5 => value().prop_map(Op::Set),
        2 => Just(Op::Remove),
        2 => (key, value()).prop_map(|(k, v)| Op::AddKey(k, v)),
        1 => Just(Op::DuplicateItem),
    ]
}

/// Tree changes: where, and what.
type TreeEdits = Vec<(prop::sample::Index, Op)>;
/// Byte changes: where, which byte, and whether it is deleted, inserted or replaced.
type ByteEdits = Vec<(prop::sample::Index, u8, u8)>;

/// A generated case: a seed, tree changes, then byte changes.
fn case() -> impl Strategy<Value = (usize, TreeEdits, ByteEdits)> {
    (
        0usize..8,
        prop::collection::vec((any::<prop::sample::Index>(), op()), 0..4),
        prop_oneof![3 => Just(Vec::new()), 1 => prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4)],
    )
}

/// Every path in a tree, parents before children.
fn paths(value: &Value, at: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    out.push(at.clone());
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                at.push(Value::String(k.clone()));
                paths(v, at, out);
                at.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                at.push(Value::from(i));
                paths(v, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn node<'a>(value: &'a mut Value, path: &[Value]) -> &'a mut Value {
    path.iter().fold(value, |v, seg| match seg {
        Value::String(k) => &mut v[k.as_str()],
        other => &mut v[other.as_u64().unwrap_or(0) as usize],
    })
}

fn apply(seed: &Value, ops: &[(prop::sample::Index, Op)], bytes: &[(prop::sample::Index, u8, u8)]) -> String {
    let mut tree = seed.clone();
    for (pick, op) in ops {
        let mut all = Vec::new();
        paths(&tree, &mut Vec::new(), &mut all);
        let path = pick.get(&all).clone();
        match op {
            Op::Set(v) => *node(&mut tree, &path) = v.clone(),
            Op::Remove => {
                if let Some((last, parent)) = path.split_last() {
                    match (node(&mut tree, parent), last) {
                        (Value::Object(map), Value::String(k)) => drop(map.remove(k)),
                        (Value::Array(items), i) => drop(items.remove(i.as_u64().unwrap_or(0) as usize)),
                        _ => {}
                    }
                }
            }
            Op::AddKey(k, v) => {
                if let Value::Object(map) = node(&mut tree, &path) {
                    map.insert(k.clone(), v.clone());
                }
            }
            Op::DuplicateItem => {
                if let Value::Array(items) = node(&mut tree, &path)
                    && let Some(first) = items.first().cloned()
                {
                    items.push(first);
                }
            }
        }
    }
    // JSON is YAML; pretty, so that lines and columns vary.
    let mut text = serde_json::to_string_pretty(&tree).expect("JSON").into_bytes();
    for (at, byte, kind) in bytes {
        let i = at.index(text.len().max(1)).min(text.len());
        match kind {
            0 if i < text.len() => drop(text.remove(i)),
            1 => text.insert(i, *byte),
            _ if i < text.len() => text[i] = *byte,
            _ => {}
        }
    }
    String::from_utf8_lossy(&text).into_owned()
}

/// What one case rendered, kept for the checks that run the external tools once for all cases.
struct Rendered {
    text: String,
    dir: PathBuf,
    /// Each settings file written, with the values bash must read back from it.
    settings: Vec<(PathBuf, Vec<(String, String)>)>,
}

/// The in-process invariants; a valid spec's files are written under `out` for the batch checks.
fn check(text: &str, out: &Path) -> Result<Option<Rendered>, String> {
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| -> Result<Option<Rendered>, String> {
        let source = match runnergen::load::parse("fuzz.yaml".into(), text.to_owned()) {
            Ok(source) => source,
            Err(e) => return diagnostics(text, &e).map(|()| None),
        };
        let fleet = match runnergen::check(&source, "fuzz.yaml") {
            Ok(loaded) => loaded.fleet,
            Err(e) => return diagnostics(text, &e).map(|()| None),
        };
        let plan =
            runnergen::render::render(&fleet).map_err(|e| format!("valid, but render failed: {}", e.render(false)))?;
        std::fs::create_dir_all(out).map_err(|e| e.to_string())?;
        for (path, file) in &plan {
            let target = out.join(path);
            std::fs::create_dir_all(target.parent().expect("a parent")).map_err(|e| e.to_string())?;
            std::fs::write(&target, &file.contents).map_err(|e| e.to_string())?;
            if path.ends_with(".service") || path.ends_with(".timer") {
                unit_sections(path, &file.contents)?;
            }
            if path == "NEXT-STEPS.md" {
                std::fs::write(out.join("next-steps.sh"), steps_script(&file.contents)).map_err(|e| e.to_string())?;
            }
        }
        let mut settings = Vec::new();
        for (i, pool) in fleet.pools.iter().enumerate() {
            let values = runnergen::settings::for_pool(&fleet, pool);
            let text = runnergen::settings::render(&values);
            if text.lines().count() != values.len() + 1 {
                return Err(format!("the settings of pool {} are not one line a key:\n{text}", pool.name));
            }
            let path = out.join(format!("settings-{i}.env"));
            std::fs::write(&path, &text).map_err(|e| e.to_string())?;
            let expected = values
                .into_iter()
                .map(|(k, v)| {
                    let shown = match v {
                        runnergen::settings::Value::Word(w) => w,
                        runnergen::settings::Value::List(items) => items.join("\u{1f}"),
                    };
                    (k.to_owned(), shown)
                })
                .collect();
            settings.push((path, expected));
        }
        Ok(Some(Rendered { text: text.to_owned(), dir: out.to_owned(), settings }))
    }));
    result.unwrap_or_else(|panic| {
        let message =
            panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()));
        Err(format!("panicked: {}", message.unwrap_or_default()))
    })
}

/// Every span inside the text and on character boundaries; the drawing made.
fn diagnostics(text: &str, error: &runnergen::Error) -> Result<(), String> {
    if let runnergen::Error::Spec { problems, .. } = error {
        for p in problems {
            for span in std::iter::once(&p.span).chain(p.related.iter().map(|(s, _)| s)) {
                if span.start > span.end
                    || span.end > text.len()
                    || !text.is_char_boundary(span.start)
                    || !text.is_char_boundary(span.end)
                {
                    return Err(format!(
                        "the problem `{}` points at {span:?} in a text of {} bytes",
                        p.message,
                        text.len()
                    ));
                }
            }
        }
    }
    let shown = error.render(false);
    if !shown.contains("error: ") {
        return Err(format!("no error line in:\n{shown}"));
    }
    Ok(())
}

/// A unit holds only the sections its kind has, and one `Description=`.
fn unit_sections(path: &str, text: &str) -> Result<(), String> {
    let allowed: &[&str] = if path.ends_with(".timer") {
        &["[Unit]", "[Timer]", "[Install]"]
    } else {
        &["[Unit]", "[Service]", "[Install]"]
    };
    for line in text.lines() {
        if line.starts_with('[') && !allowed.contains(&line) {
            return Err(format!("{path}: unexpected section {line}"));
        }
        if !(line.is_empty() || line.starts_with('#') || line.starts_with('[') || line.contains('=')) {
            return Err(format!("{path}: a line that is not a setting: {line:?}"));
        }
    }
    match text.lines().filter(|l| l.starts_with("Description=")).count() {
        1 => Ok(()),
        n => Err(format!("{path}: {n} Description= lines")),
    }
}

/// The shell blocks of the next steps as one bash script, for `bash -n` with the rendered
/// scripts.
fn steps_script(markdown: &str) -> String {
    let blocks = markdown.split("```sh\n").skip(1).map(|block| block.split("```").next().unwrap_or(""));
    std::iter::once("#!/usr/bin/env bash\n").chain(blocks).collect()
}

/// The checks that run external tools, once for all rendered cases. Returns the cases that fail
/// them, with why.
fn batch_checks(rendered: &[Rendered]) -> Vec<(String, String)> {
    let mut failures = Vec::new();
    let mut hcl = Vec::new();
    let mut scripts = Vec::new();
    let mut owner: BTreeMap<PathBuf, usize> = BTreeMap::new();
    for (i, r) in rendered.iter().enumerate() {
        for entry in
            walkdir::WalkDir::new(&r.dir).into_iter().filter_map(Result::ok).filter(|e| e.file_type().is_file())
        {
            let path = entry.path().to_path_buf();
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if path.extension().is_some_and(|e| e == "tf" || e == "hcl") {
                hcl.push(path.clone());
            } else if text.starts_with("#!") && text.lines().next().is_some_and(|l| l.contains("bash")) {
                scripts.push(path.clone());
            }
            owner.insert(path, i);
        }
    }
    let case_of = |line: &str| owner.iter().find(|(p, _)| line.contains(&*p.to_string_lossy())).map(|(_, i)| *i);
    for chunk in hcl.chunks(2000) {
        let out = common::run(common::hclcheck().arg("-refs").args(chunk));
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let mut words = line.splitn(3, ' ');
            let bad = match (words.next(), words.next()) {
                (Some("ref"), Some(root)) => {
                    !HCL_ROOTS.contains(&root) && !HCL_ROOT_PREFIXES.iter().any(|p| root.starts_with(p))
                }
                (Some("func"), Some(name)) => !HCL_FUNCTIONS.contains(&name),
                _ => true,
            };
            if bad {
                let i = case_of(line).unwrap_or(0);
                failures.push((rendered[i].text.clone(), format!("hclcheck: {line}")));
            }
        }
    }
    let mut loop_script =
        String::from("for f in \"$@\"; do bash -n \"$f\" 2>&1 || echo \"bash -n failed: $f\"; done\n");
    loop_script.push_str("exit 0\n");
    for chunk in scripts.chunks(2000) {
        let out = common::run(common::tool("bash").arg("-c").arg(&loop_script).arg("bash").args(chunk));
        for line in String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with("bash -n failed")) {
            let i = case_of(line).unwrap_or(0);
            failures.push((rendered[i].text.clone(), line.to_owned()));
        }
    }
    // Sourcing each settings file gives back exactly the model's values.
    for r in rendered {
        for (path, expected) in &r.settings {
            let keys: Vec<&str> = expected.iter().map(|(k, _)| k.as_str()).collect();
            let script = format!(
                ". \"$1\"; for k in {}; do if declare -p \"$k\" 2>/dev/null | grep -q '^declare -a'; then eval 'printf \"%s\\x1f\" \"${{'\"$k\"'[@]}}\"'; else printf '%s' \"${{!k}}\"; fi; printf '\\x1e'; done",
                keys.join(" ")
            );
            let out = common::run(common::tool("bash").arg("-c").arg(&script).arg("bash").arg(path));
            let got: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .split('\u{1e}')
                .map(|v| v.strip_suffix('\u{1f}').unwrap_or(v).to_owned())
                .collect();
            for ((key, want), have) in expected.iter().zip(&got) {
                if want != have {
                    failures.push((r.text.clone(), format!("{key}: bash read {have:?}, the model holds {want:?}")));
                }
            }
        }
    }
    failures
}

fn regressions_dir() -> PathBuf {
    common::root().join("tests/fuzz_regressions")
}

/// Keeps a failing input as a regression case.
fn persist(text: &str, why: &str) -> PathBuf {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    let path = regressions_dir().join(format!("case-{:016x}.yaml", hasher.finish()));
    let _ = std::fs::create_dir_all(regressions_dir());
    let _ = std::fs::write(&path, text);
    eprintln!("fuzz: {why}\n  kept as {}", path.display());
    path
}

fn run_checked(texts: &[String]) -> Vec<(String, String)> {
    let work = tempfile::tempdir().expect("a temp dir");
    let mut rendered = Vec::new();
    let mut failures = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        match check(text, &work.path().join(i.to_string())) {
            Ok(Some(r)) => rendered.push(r),
            Ok(None) => {}
            Err(why) => failures.push((text.clone(), why)),
        }
    }
    failures.extend(batch_checks(&rendered));
    failures
}

#[test]
fn mutated_specs_hold_every_invariant() {
    let cases: u32 = std::env::var("RUNNERGEN_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(300);
    let seeds = seeds();
    let work = tempfile::tempdir().expect("a temp dir");
    let collected = std::cell::RefCell::new(Vec::new());
    let counter = std::cell::Cell::new(0usize);
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let result = runner.run(&case(), |(seed, ops, bytes)| {
        let text = apply(&seeds[seed % seeds.len()], &ops, &bytes);
        let n = counter.get();
        counter.set(n + 1);
        match check(&text, &work.path().join(n.to_string())) {
            Ok(Some(rendered)) => collected.borrow_mut().push(rendered),
            Ok(None) => {}
            Err(why) => return Err(TestCaseError::fail(why)),
        }
        Ok(())
    });
    if let Err(TestError::Fail(why, (seed, ops, bytes))) = &result {
        let text = apply(&seeds[seed % seeds.len()], ops, bytes);
        let kept = persist(&text, why.message());
        panic!("{why}\n(kept as {})", kept.display());
    }
    result.expect("the fuzz run");
    let rendered = collected.into_inner();
    eprintln!(
        "fuzz: {} cases, {} of them valid specs rendered and checked with the real tools",
        counter.get(),
        rendered.len()
    );
    assert!(rendered.len() * 20 >= cases as usize, "only {} of {cases} cases were valid specs", rendered.len());
    let failures = batch_checks(&rendered);
    for (text, why) in &failures {
        persist(text, why);
    }
    assert!(failures.is_empty(), "{} failures, first: {}", failures.len(), failures[0].1);
}

#[test]
fn every_kept_failure_holds_the_invariants_now() {
    let mut texts = Vec::new();
    for entry in std::fs::read_dir(regressions_dir()).expect("tests/fuzz_regressions") {
        let path = entry.expect("an entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            texts.push(String::from_utf8_lossy(&std::fs::read(&path).expect("read")).into_owned());
        }
    }
    assert!(!texts.is_empty(), "tests/fuzz_regressions is empty");
    let failures = run_checked(&texts);
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Every free-text field of a resolved fleet, for the model-level fuzz.
fn text_fields(fleet: &mut runnergen::Fleet) -> Vec<&mut String> {
    let mut fields: Vec<&mut String> = vec![
        &mut fleet.name,
        &mut fleet.spec_file,
        &mut fleet.region,
        &mut fleet.vpc_id,
        &mut fleet.gitlab_url,
        &mut fleet.image.aws_cli_version,
        &mut fleet.image.build_instance_type,
    ];
    fields.extend(fleet.subnet_ids.iter_mut());
    fields.extend(fleet.ebs_kms_key_arn.iter_mut());
    fields.extend(fleet.cache.iter_mut().map(|c| &mut c.bucket));
    if let Some(proxy) = &mut fleet.proxy {
        fields.push(&mut proxy.url);
        fields.extend(proxy.no_proxy.iter_mut());
    }
    fields.extend(fleet.registries.mirror.iter_mut());
    fields.extend(fleet.registries.ecr.iter_mut());
    for pool in &mut fleet.pools {
        fields.push(&mut pool.token_parameter);
        if let Some(docker) = &mut pool.docker {
            fields.push(&mut docker.image);
            fields.extend(docker.volumes.iter_mut());
        }
        if let Some(runner) = &mut pool.runner {
            fields.push(&mut runner.description);
            fields.extend(runner.tags.iter_mut());
        }
        match &mut pool.topology {
            Topology::Instance(i) => {
                fields.extend(i.instance_types.iter_mut());
                fields.extend(i.schedule.iter_mut().map(|s| &mut s.time_zone));
            }
            Topology::Autoscaler(a) => {
                fields.push(&mut a.manager_instance_type);
                fields.extend(a.workers.instance_types.iter_mut());
                fields.extend(a.schedule.iter_mut().map(|s| &mut s.time_zone));
            }
        }
    }
    fields
}

/// Validation keeps most hostile text out of the model; the templates must not rely on it. A
/// resolved fleet with hostile text in its fields (bypassing validation) renders into files that
/// still hold every invariant: each value stays a literal in HCL, a word in shell, a line in
/// systemd.
#[test]
fn hostile_model_values_stay_literals() {
    let cases: u32 = std::env::var("RUNNERGEN_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(300) / 3;
    let fleets: Vec<runnergen::Fleet> = common::examples()
        .iter()
        .map(|(_, p)| runnergen::load_spec(p).map(|l| l.fleet).expect("an example loads"))
        .collect();
    let work = tempfile::tempdir().expect("a temp dir");
    let rendered = std::cell::RefCell::new(Vec::new());
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let strategy = (
        0usize..8,
        prop::collection::vec((any::<prop::sample::Index>(), nasty_string()), 1..6),
        prop::collection::vec(nasty_string(), 0..3),
    );
    let n = std::cell::Cell::new(0usize);
    let result = runner.run(&strategy, |(which, edits, tags)| {
        let mut fleet = fleets[which % fleets.len()].clone();
        for (pick, text) in &edits {
            let mut fields = text_fields(&mut fleet);
            let i = pick.index(fields.len());
            *fields[i] = text.clone();
        }
        for tag in &tags {
            fleet.tags.insert(tag.clone(), tag.clone());
        }
        let out = work.path().join(n.get().to_string());
        n.set(n.get() + 1);
        let plan = std::panic::catch_unwind(AssertUnwindSafe(|| runnergen::render::render(&fleet)))
            .map_err(|_| TestCaseError::fail("render panicked"))?;
        let Ok(plan) = plan else { return Ok(()) };
        for (path, file) in &plan {
            // A path is checked before anything is written (diff::compare); only safe ones here.
            if path.split('/').any(|s| s.is_empty() || s == "." || s == "..") || path.contains(['\0', '\\']) {
                continue;
            }
            let target = out.join(path);
            std::fs::create_dir_all(target.parent().expect("a parent"))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            std::fs::write(&target, &file.contents).map_err(|e| TestCaseError::fail(e.to_string()))?;
            if path.ends_with(".service") || path.ends_with(".timer") {
                unit_sections(path, &file.contents).map_err(TestCaseError::fail)?;
            }
            // The proxy's drop-in: only its [Service], one Environment= line for each variable;
            // the CloudWatch agent's proxy: TOML.
            if path.ends_with("/runnergen-proxy.conf") {
                let lines: Vec<&str> = file.contents.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).collect();
                if lines.len() != 7
                    || lines[0] != "[Service]"
                    || !lines[1..].iter().all(|l| l.starts_with("Environment=\""))
                {
                    return Err(TestCaseError::fail(format!("{path}: {lines:?}")));
                }
            }
            if path.ends_with("/cloudwatch-agent-common-config") {
                file.contents.parse::<toml::Table>().map_err(|e| TestCaseError::fail(format!("{path}: {e}")))?;
            }
            if path == "NEXT-STEPS.md" {
                std::fs::write(out.join("next-steps.sh"), steps_script(&file.contents))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
        }
        rendered.borrow_mut().push(Rendered { text: format!("{edits:?} {tags:?}"), dir: out, settings: Vec::new() });
        Ok(())
    });
    result.expect("the model fuzz run");
    let rendered = rendered.into_inner();
    eprintln!("fuzz: {} hostile fleets rendered and checked with the real tools", rendered.len());
    let failures = batch_checks(&rendered);
    assert!(failures.is_empty(), "{} failures, first: {} ({})", failures.len(), failures[0].1, failures[0].0);
}
