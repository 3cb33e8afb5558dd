//! Invalid specs: each file under `tests/spec_errors/` is rejected with exit code 2, its full
//! diagnostic pinned as a snapshot, and nothing written. Specs that are valid but probably not
//! what was meant: each file under `tests/spec_warnings/` validates with located warnings (or,
//! for a window that runs overnight, says so in words), pinned with `validate`'s summary.

use crate::common::{root, run, runnergen};

#[test]
fn every_invalid_spec_is_rejected_with_a_located_diagnostic() {
    let mut count = 0;
    insta::glob!("spec_errors/*.yaml", |path| {
        count += 1;
        let relative = path.strip_prefix(root()).expect("under the project");
        let out = run(runnergen().arg("validate").arg(relative).current_dir(root()));
        assert_eq!(out.status.code(), Some(2), "{}", relative.display());
        assert!(out.stdout.is_empty(), "nothing on stdout for an invalid spec");
        let stderr = String::from_utf8(out.stderr).expect("UTF-8 diagnostics");
        assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "{stderr}");
        insta::assert_snapshot!(stderr);
    });
    assert!(count >= 25, "the corpus holds {count} invalid specs; expected at least 25");
}

#[test]
fn every_warned_spec_is_valid_with_a_located_warning() {
    let mut count = 0;
    insta::glob!("spec_warnings/*.yaml", |path| {
        count += 1;
        let relative = path.strip_prefix(root()).expect("under the project");
        let out = run(runnergen().arg("validate").arg(relative).current_dir(root()));
        assert_eq!(out.status.code(), Some(0), "{}", relative.display());
        let stdout = String::from_utf8(out.stdout).expect("UTF-8");
        let stderr = String::from_utf8(out.stderr).expect("UTF-8 diagnostics");
        // A swapped window is no mistake to warn about, but the summary says it runs overnight.
        let shown = (stderr.contains('⚠') && stderr.contains("help:")) || stdout.contains("(overnight)");
        assert!(shown, "{}: no warning:\n{stdout}{stderr}", relative.display());
        assert!(!stderr.contains("panicked") && !stderr.contains("error"), "{stderr}");
        insta::assert_snapshot!(format!("{stdout}---\n{stderr}"));
    });
    assert!(count >= 4, "the corpus holds {count} warned specs; expected at least 4");
}

#[test]
fn an_invalid_spec_writes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    for command in ["render", "diff"] {
        let out_dir = dir.path().join("out");
        let spec = root().join("tests/spec_errors/many-problems-at-once.yaml");
        let out = run(runnergen().arg(command).arg(&spec).arg("--out").arg(&out_dir));
        assert_eq!(out.status.code(), Some(2), "{command}");
        assert!(!out_dir.exists(), "{command} created the output folder for an invalid spec");
    }
    assert_eq!(std::fs::read_dir(dir.path()).expect("readable").count(), 0);
}

/// Files that are not a spec at all get one clear line, exit 2, and no drawing.
#[test]
fn unreadable_files_get_one_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = |name: &str| dir.path().join(name);
    std::fs::write(p("empty.yaml"), "").expect("write");
    std::fs::write(p("comments.yaml"), "# nothing but a comment\n\n").expect("write");
    std::fs::write(p("latin1.yaml"), b"version: 1\nname: caf\xe9\n").expect("write");
    // One byte over the cap.
    let mut big = b"version: 1\n".to_vec();
    big.resize(2 * 1024 * 1024 + 1, b'#');
    std::fs::write(p("big.yaml"), &big).expect("write");
    std::fs::create_dir(p("folder.yaml")).expect("mkdir");
    let cases = [
        ("missing.yaml", "cannot read {}: no such file"),
        ("folder.yaml", "cannot read {}: it is a directory; expected a fleet spec file such as fleet.yaml"),
        ("empty.yaml", "cannot read {}: it is empty; expected a fleet spec that starts with `version: 1`"),
        ("comments.yaml", "cannot read {}: it is empty; expected a fleet spec that starts with `version: 1`"),
        ("latin1.yaml", "cannot read {}: it is not UTF-8 text (invalid byte at line 2, column 10)"),
        ("big.yaml", "cannot read {}: it is larger than 2 MiB; a fleet spec is far smaller"),
    ];
    for (name, expected) in cases {
        let path = p(name);
        let out = run(runnergen().arg("validate").arg(&path));
        assert_eq!(out.status.code(), Some(2), "{name}");
        let stderr = String::from_utf8(out.stderr).expect("UTF-8");
        assert_eq!(stderr, format!("error: {}\n", expected.replace("{}", &path.display().to_string())), "{name}");
    }
}

/// A price list that is empty or not a mapping is told what a price list is, not what a spec is.
#[test]
fn unreadable_price_lists_get_their_own_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = root().join("examples/minimal/fleet.yaml");
    let empty = dir.path().join("empty.yaml");
    std::fs::write(&empty, "").expect("write");
    let out = run(runnergen().args(["plan", "--prices"]).arg(&empty).arg(&spec));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(out.stderr).expect("UTF-8"),
        format!(
            "error: cannot read {}: it is empty; expected a price list with `currency:` and `instance_types:`\n",
            empty.display()
        )
    );

    let list = dir.path().join("list.yaml");
    std::fs::write(&list, "- m7g.large\n").expect("write");
    let out = run(runnergen().args(["plan", "--prices"]).arg(&list).arg(&spec));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).expect("UTF-8");
    assert!(stderr.contains("the price list must be a mapping of keys"), "{stderr}");
    assert!(stderr.contains("list.yaml:1:1"), "{stderr}");
    assert!(stderr.contains("expected `currency: USD` and `instance_types:`"), "{stderr}");
    assert!(!stderr.contains("version: 1"), "{stderr}");
    assert!(stderr.ends_with(&format!("error: 1 problem in {}\n", list.display())), "{stderr}");
}

/// `schemas/fleet.schema.json` is the schema `spec`'s types derive, as runnergen embeds and
/// `runnergen schema` prints it. After a change to the types,
/// `RUNNERGEN_UPDATE_DOCS=1 cargo test --locked schema_file` rewrites it and the diff shows in
/// review.
#[test]
fn the_schema_file_is_what_the_types_derive() {
    let derived = runnergen::spec::json_schema();
    let path = root().join("schemas/fleet.schema.json");
    if std::env::var_os("RUNNERGEN_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &derived).expect("write the schema");
        return;
    }
    let committed = std::fs::read_to_string(&path).expect("schemas/fleet.schema.json");
    assert!(
        derived == committed,
        "schemas/fleet.schema.json is not what the types in src/spec.rs derive; run \
         `RUNNERGEN_UPDATE_DOCS=1 cargo test --locked schema_file` (and rebuild: runnergen embeds it)"
    );
    let schema: serde_json::Value = serde_json::from_str(&derived).expect("schema is JSON");
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#", "the draft shape.rs validates with");
}

/// A spec that sets every property the schema declares.
const EVERY_KEY: &str = r#"
version: 1
name: every-key
aws: {region: eu-west-1, vpc_id: vpc-01234567, subnet_ids: [subnet-01234567], tags: {a: b}, ebs_kms_key_arn: "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", iam: {permissions_boundary: "arn:aws:iam::123456789012:policy/B", path: /ci/, oidc_provider_arn: "arn:aws:iam::123456789012:oidc-provider/gitlab.example.com"}, proxy: {url: "http://proxy:3128", no_proxy: [.corp]}, egress: [{cidr: 10.0.0.0/8, prefix_list: pl-01234567, ports: "22", description: d}], vpc_endpoints: create}
gitlab: {url: "https://gitlab.example.com", runners: terraform, ca_file: ca.pem}
registries: {mirror: "https://mirror.example.com", ecr: ["arn:aws:ecr:eu-west-1:123456789012:repository/*"]}
image: {os: ubuntu-22.04, arch: x86_64, runner_version: 17.11.0, aws_cli_version: 2.36.7, fleeting_plugin_version: 1.0.0, fleeting_plugin_sha256: 0f343b0931126a20f133d67c2b018a3b1fbcd7d5a1ba1cbd3a2f1a7c3e5d9b41, build_instance_type: t3.large, volume_gb: 30, volume_type: gp2, build_subnet_id: subnet-01234567, build_instance_profile: packer-ssm, provision_script: x.sh}
pools:
  - name: p
    executor: docker
    instance_types: [t3.large]
    spot: true
    on_demand_fallback: {after_minutes: 5}
    capacity: {min: 1, max: 2, desired: 1}
    concurrent: 2
    token_parameter: /p/token
    job_timeout_minutes: 30
    volume_gb: 40
    docker: {image: alpine, privileged: true, allowed_privileged_images: ["docker:*-dind"], allowed_privileged_services: ["docker:*-dind"], pull_policy: never, volumes: [/cache]}
    scaling: {cpu_percent: 50}
    egress: [{cidr: 10.0.0.0/8, prefix_list: pl-01234567, ports: "22", description: d}]
    job_role: {policy_arns: ["arn:aws:iam::123456789012:policy/P"], projects: [a/b], refs: [main], ref_protected: true}
    runner: {scope: group, group_id: 7, project_id: 8, description: d, tags: [a], run_untagged: false, locked: false, protected: true, maximum_timeout: 3600, paused: true}
    schedule:
      time_zone: Asia/Tokyo
      windows: [{days: [MON], from: "01:00", to: "02:00", capacity: {min: 1, max: 2, desired: 1}}]
  - {name: q, executor: shell, instance_types: [t3.small], capacity: {min: 1, max: 1}, token_parameter: /q, scaling: {busy_percent: 50}}
  - name: r
    topology: autoscaler
    executor: docker
    token_parameter: /r/token
    manager: {instance_type: t3.small}
    workers: {instance_types: [c7i.large], spot: true, on_demand_fallback: {after_minutes: 2}, max_instances: 4, capacity_per_instance: 2, max_use_count: 0, shared: false, volume_gb: 30}
    idle: {count: 1, time: 5m}
    schedule:
      time_zone: Europe/Berlin
      windows: [{days: [MON], from: "08:30", to: "17:00", idle: {count: 2, time: 1h30m}}]
cache: {bucket: create, expiration_days: 7, shared: true}
logs: {retention_days: 14}
monitoring: {dashboard: true, runner_metrics: true, alarms: {sns_topic_arn: "arn:aws:sns:eu-west-1:123456789012:ci-alerts", email: ops@example.com, at_ceiling_minutes: 30, queue_seconds_p90: 300}}
"#;

fn yaml_json(text: &str) -> serde_json::Value {
    runnergen::yaml::parse(text).expect("valid YAML").expect("a document").to_json()
}

/// Every property in the schema is set somewhere in EVERY_KEY, and the types take it all.
#[test]
fn every_schema_property_is_exercised() {
    let schema: serde_json::Value = serde_json::from_str(runnergen::shape::SCHEMA).expect("schema is JSON");
    serde_json::from_value::<runnergen::spec::Spec>(yaml_json(EVERY_KEY)).expect("types accept every key");
    let mut declared = std::collections::BTreeSet::new();
    schema_paths(&schema, &schema, "", &mut declared);
    let mut set = std::collections::BTreeSet::new();
    value_paths(&yaml_json(EVERY_KEY), "", &mut set);
    let missing: Vec<_> = declared.difference(&set).collect();
    assert!(declared.len() > 40, "{declared:?}");
    assert!(missing.is_empty(), "EVERY_KEY lacks {missing:?}");
}

fn schema_paths(
    root: &serde_json::Value,
    schema: &serde_json::Value,
    at: &str,
    out: &mut std::collections::BTreeSet<String>,
) {
    let schema = match schema.get("$ref").and_then(|r| r.as_str()).and_then(|r| r.strip_prefix("#/$defs/")) {
        Some(name) => &root["$defs"][name],
        None => schema,
    };
    for (name, sub) in schema.get("properties").and_then(|p| p.as_object()).into_iter().flatten() {
        let path = format!("{at}.{name}");
        out.insert(path.clone());
        schema_paths(root, sub, &path, out);
    }
    if let Some(items) = schema.get("items") {
        schema_paths(root, items, &format!("{at}[]"), out);
    }
}

fn value_paths(value: &serde_json::Value, at: &str, out: &mut std::collections::BTreeSet<String>) {
    match value {
        serde_json::Value::Object(map) if !at.ends_with(".tags") => {
            for (k, v) in map {
                let path = format!("{at}.{k}");
                out.insert(path.clone());
                value_paths(v, &path, out);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| value_paths(v, &format!("{at}[]"), out)),
        _ => {}
    }
}

/// docs/spec.md documents every key the schema declares, each with the schema's default (which
/// is `resolve`'s) in its default column.
#[test]
fn the_spec_reference_documents_every_key() {
    let schema: serde_json::Value = serde_json::from_str(runnergen::shape::SCHEMA).expect("schema is JSON");
    let mut declared = std::collections::BTreeSet::new();
    schema_paths(&schema, &schema, "", &mut declared);
    let doc = std::fs::read_to_string(crate::common::root().join("docs/spec.md")).expect("docs/spec.md");
    let undocumented: Vec<_> =
        declared.iter().map(|p| p.trim_start_matches('.')).filter(|p| !doc.contains(&format!("| `{p}` |"))).collect();
    assert!(undocumented.is_empty(), "docs/spec.md lacks rows for {undocumented:?}");
    let mut defaults = Vec::new();
    schema_defaults(&schema, &schema, "", &mut defaults);
    assert!(defaults.len() > 20, "{defaults:?}");
    for (path, default) in defaults {
        let shown = match default {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        let row = doc.lines().find(|l| l.starts_with(&format!("| `{}` |", path.trim_start_matches('.'))));
        let column = row.and_then(|r| r.split(" | ").nth(2));
        assert_eq!(column, Some(format!("`{shown}`").as_str()), "docs/spec.md's default of {path}");
    }
}

/// The keys whose schema gives a `default`, with it.
fn schema_defaults(
    root: &serde_json::Value,
    schema: &serde_json::Value,
    at: &str,
    out: &mut Vec<(String, serde_json::Value)>,
) {
    let schema = match schema.get("$ref").and_then(|r| r.as_str()).and_then(|r| r.strip_prefix("#/$defs/")) {
        Some(name) => &root["$defs"][name],
        None => schema,
    };
    for (name, sub) in schema.get("properties").and_then(|p| p.as_object()).into_iter().flatten() {
        let path = format!("{at}.{name}");
        if let Some(default) = sub.get("default") {
            out.push((path.clone(), default.clone()));
        }
        schema_defaults(root, sub, &path, out);
    }
    if let Some(items) = schema.get("items") {
        schema_defaults(root, items, &format!("{at}[]"), out);
    }
}

/// Every prefix of every example (a file cut off anywhere) is either valid or rejected with
/// problems; nothing panics.
#[test]
fn truncated_specs_never_panic() {
    for (_, path) in crate::common::examples() {
        let text = std::fs::read_to_string(&path).expect("read");
        for end in (0..=text.len()).filter(|i| text.is_char_boundary(*i)) {
            let result = runnergen::load::parse("cut.yaml".into(), text[..end].to_owned())
                .and_then(|source| runnergen::check(&source, "cut.yaml"));
            match result {
                Ok(_) => {}
                Err(runnergen::Error::Spec { problems, .. }) => {
                    assert!(!problems.is_empty());
                    for p in &problems {
                        assert!(p.span.start <= p.span.end && p.span.end <= end, "{p:?} outside a text of {end} bytes");
                    }
                }
                Err(runnergen::Error::Read { reason, .. }) => assert!(reason.contains("it is empty"), "{reason}"),
                Err(other) => panic!("a cut spec failed as {other}"),
            }
        }
    }
}

#[test]
fn cli_help_version_and_usage_errors() {
    for command in ["validate", "render", "diff", "schema", "completions", "init"] {
        let out = run(runnergen().args([command, "--help"]));
        assert_eq!(out.status.code(), Some(0), "{command} --help");
        let help = String::from_utf8(out.stdout).expect("UTF-8");
        assert!(help.contains(&format!("Example:\n  runnergen {command}")), "{command} --help has no example:\n{help}");
    }
    let out = run(runnergen().arg("--version"));
    assert_eq!(String::from_utf8(out.stdout).expect("UTF-8"), format!("runnergen {}\n", env!("CARGO_PKG_VERSION")));
    for args in [&["frobnicate"][..], &["validate"], &["render", "a.yaml", "--bogus"], &[]] {
        let out = run(runnergen().args(args));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn valid_examples_validate_and_the_schema_prints() {
    for (name, path) in crate::common::examples() {
        let out = run(runnergen().arg("validate").arg(&path));
        assert_eq!(out.status.code(), Some(0), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8(out.stdout).expect("UTF-8").contains(": valid fleet `"));
    }
    let out = run(runnergen().arg("schema"));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8(out.stdout).expect("UTF-8"), runnergen::shape::SCHEMA);
}

/// A valid spec that mounts the Docker socket into jobs validates and renders, with a located
/// warning on standard error.
#[test]
fn a_docker_socket_volume_is_valid_but_warned_about() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = std::fs::read_to_string(root().join("examples/minimal/fleet.yaml")).expect("read").replace(
        "docker: {image: \"alpine:3.20\"}",
        "docker: {image: \"alpine:3.20\", volumes: [\"/var/run/docker.sock:/var/run/docker.sock\"]}",
    );
    assert!(text.contains("docker.sock"));
    std::fs::write(dir.path().join("fleet.yaml"), text).expect("write");
    for command in ["validate", "render"] {
        let out = run(runnergen().arg(command).arg("fleet.yaml").current_dir(dir.path()));
        assert_eq!(out.status.code(), Some(0), "{command}");
        let stderr = String::from_utf8(out.stderr).expect("UTF-8");
        assert!(stderr.contains("⚠ this volume gives every job root on the instance"), "{stderr}");
        assert!(stderr.contains("fleet.yaml:22:"), "{stderr}");
        assert!(!stderr.contains("error"), "{stderr}");
    }
}

/// A cache on a fleet whose pools cannot use it (shell jobs on instances) is valid, with a located
/// warning; with a docker pool it is not warned about.
#[test]
fn a_cache_no_pool_uses_is_valid_but_warned_about() {
    let dir = tempfile::tempdir().expect("temp dir");
    let shell = "version: 1\nname: sh\naws: {region: eu-west-1, vpc_id: vpc-0123456789abcdef0, subnet_ids: [subnet-0123456789abcdef0]}\n\
                 gitlab: {url: https://gitlab.example.com}\nimage: {os: ubuntu-24.04, arch: x86_64, runner_version: 19.3.0}\n\
                 pools:\n  - {name: s, executor: shell, instance_types: [t3.small], capacity: {min: 1, max: 1}, token_parameter: /sh/s}\n\
                 cache: {bucket: create}\n";
    std::fs::write(dir.path().join("fleet.yaml"), shell).expect("write");
    let out = run(runnergen().arg("validate").arg("fleet.yaml").current_dir(dir.path()));
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8(out.stderr).expect("UTF-8");
    assert!(stderr.contains("⚠ no pool of this fleet uses the cache"), "{stderr}");
    assert!(stderr.contains("fleet.yaml:8:1"), "{stderr}");
    let out = run(runnergen().arg("validate").arg(root().join("examples/multi-pool/fleet.yaml")));
    assert_eq!(out.status.code(), Some(0));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("cache"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A pool that sleeps is not warned about when an always-on pool of the same executor takes every
/// job it takes (its runner has all its tags, takes untagged jobs too, and is not protected).
#[test]
fn a_sleeping_pool_with_an_always_on_catch_all_is_not_warned_about() {
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = std::fs::read_to_string(root().join("tests/spec_warnings/pool-sleeps-at-night.yaml")).expect("read")
        + "  - name: night\n    executor: docker\n    instance_types: [t4g.large]\n    capacity: {min: 1, max: 1}\n    token_parameter: /acme-ci/night/runner-token\n";
    let with = |sleeper: &str, catch_all: &str| {
        spec.replace(
            "    token_parameter: /acme-ci/docker/runner-token\n",
            &format!("    token_parameter: /acme-ci/docker/runner-token\n    runner: {sleeper}\n"),
        )
        .replace(
            "    token_parameter: /acme-ci/night/runner-token\n",
            &format!("    token_parameter: /acme-ci/night/runner-token\n    runner: {catch_all}\n"),
        )
    };
    let cases = [
        ("{tags: [docker], run_untagged: true}", "{tags: [docker, arm64], run_untagged: true}", false),
        ("{tags: [docker]}", "{tags: [docker]}", false),
        ("{tags: [docker], run_untagged: true}", "{tags: [docker]}", true),
        ("{tags: [docker, big]}", "{tags: [docker]}", true),
        ("{tags: [docker]}", "{tags: [docker], protected: true}", true),
    ];
    for (sleeper, catch_all, warned) in cases {
        std::fs::write(dir.path().join("fleet.yaml"), with(sleeper, catch_all)).expect("write");
        let out = run(runnergen().arg("validate").arg("fleet.yaml").current_dir(dir.path()));
        assert_eq!(out.status.code(), Some(0));
        let stderr = String::from_utf8(out.stderr).expect("UTF-8");
        assert_eq!(
            stderr.contains("GitLab drops the jobs that wait for it"),
            warned,
            "{sleeper} / {catch_all}:\n{stderr}"
        );
    }
}

/// Diagnostics never panic and always locate the problem, whatever the lines around it hold:
/// a line of 1 MiB before the bad value, on its line, a byte-order mark or control characters in
/// the middle of a long line, CRLF line ends.
#[test]
fn diagnostics_survive_any_line_length_and_content() {
    let base = std::fs::read_to_string(root().join("examples/minimal/fleet.yaml")).expect("read");
    let mib = " ".repeat(1 << 20);
    let cases = [
        // A long run of spaces at the end of the line before an unknown key.
        (
            "long-line-before",
            base.replace("name: tiny-ci", &format!("name: tiny-ci{mib}\nfoo: 1")),
            5,
            "unknown key `foo`",
        ),
        // The bad value itself after a megabyte of spaces in a flow mapping.
        (
            "long-line-at",
            base.replace("capacity: {min: 1, max: 3}", &format!("capacity: {{min: 1,{mib} max: 3, desired: 9}}")),
            19,
            "`capacity` is min 1, desired 9, max 3",
        ),
        // A byte-order mark and control characters in the middle of a long value.
        (
            "bom",
            base.replace(
                "  region: us-east-1",
                &format!("  region: \"{}\u{feff}\u{7}{}\"", "x".repeat(100_000), "y".repeat(10)),
            ),
            6,
            "is not a valid `aws.region`",
        ),
        ("crlf", base.replace('\n', "\r\n").replace("gitlab.com", "gitlab.com?x"), 10, "is not a usable GitLab URL"),
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text, line, message) in cases {
        let path = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&path, &text).expect("write");
        for command in ["validate", "render"] {
            let out = run(runnergen().arg(command).arg(format!("{name}.yaml")).current_dir(dir.path()));
            let stderr = String::from_utf8(out.stderr).expect("UTF-8");
            assert_eq!(out.status.code(), Some(2), "{name}/{command}: {stderr:.2000}");
            assert!(!stderr.contains("panicked"), "{name}/{command}: {stderr:.2000}");
            assert!(stderr.contains(message), "{name}/{command}: {stderr:.2000}");
            assert!(stderr.contains(&format!("[{name}.yaml:{line}:")), "{name}/{command}: {stderr:.2000}");
            // Clipped: nothing near the megabyte is printed.
            assert!(stderr.len() < 8000, "{name}/{command}: {} bytes of diagnostics", stderr.len());
            assert!(!stderr.contains('\u{feff}') && !stderr.contains('\u{7}'), "{name}/{command}: {stderr:.2000}");
        }
    }
}

/// The column shown for a problem on a clipped line is its column in the file.
#[test]
fn a_clipped_line_keeps_its_column() {
    let padding = " ".repeat(5000);
    let text = format!(
        "version: 1\nname: x\naws: {{region: eu-west-1,{padding} vpc_id: nope, subnet_ids: [subnet-01234567]}}\n"
    );
    let source = runnergen::load::parse("clip.yaml".into(), text.clone()).expect("parses");
    let err = runnergen::check(&source, "clip.yaml").err().expect("invalid");
    let shown = err.render(false);
    let column = text.lines().nth(2).expect("line 3").find("nope").expect("nope") + 1;
    assert!(shown.contains(&format!("[clip.yaml:3:{column}]")), "{shown}");
    assert!(shown.contains("…") && shown.contains("vpc_id: nope"), "{shown}");
}

/// A privileged pool and `if-not-present` on a runner that may serve several projects are valid,
/// each with a located warning that says what a job can do; `if-not-present` on a runner of one
/// project created here is not warned about.
#[test]
fn privilege_and_shared_image_caches_are_warned_about() {
    let dir = tempfile::tempdir().expect("temp dir");
    let minimal = std::fs::read_to_string(root().join("examples/minimal/fleet.yaml")).expect("read");
    let validate = |text: &str| {
        std::fs::write(dir.path().join("fleet.yaml"), text).expect("write");
        let out = run(runnergen().arg("validate").arg("fleet.yaml").current_dir(dir.path()));
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stderr).expect("UTF-8")
    };
    let privileged =
        minimal.replace("docker: {image: \"alpine:3.20\"}", "docker: {image: \"alpine:3.20\", privileged: true}");
    assert_ne!(privileged, minimal);
    let stderr = validate(&privileged);
    assert!(stderr.contains("⚠ a privileged pool hands its runner token to its jobs"), "{stderr}");
    assert!(stderr.contains("every job of this pool is root on its instance"), "{stderr}");
    assert!(stderr.contains("fleet.yaml:22:"), "{stderr}");
    assert!(stderr.contains("allowed_privileged_images"), "{stderr}");

    let listed = minimal.replace(
        "docker: {image: \"alpine:3.20\"}",
        "docker: {image: \"alpine:3.20\", privileged: true, allowed_privileged_images: [\"docker:*-dind\"], allowed_privileged_services: [\"docker:*-dind\"]}",
    );
    let stderr = validate(&listed);
    assert!(stderr.contains("jobs that reach a privileged image are root on its instance"), "{stderr}");

    let shared = minimal
        .replace("docker: {image: \"alpine:3.20\"}", "docker: {image: \"alpine:3.20\", pull_policy: if-not-present}");
    let stderr = validate(&shared);
    assert!(stderr.contains("⚠ `if-not-present` serves cached private images to any job"), "{stderr}");
    assert!(!stderr.contains("privileged pool"), "{stderr}");

    let one_project = shared
        .replace("  url: https://gitlab.com\n", "  url: https://gitlab.com\n  runners: terraform\n")
        + "    runner: {scope: project, project_id: 7}\n";
    let stderr = validate(&one_project);
    assert!(!stderr.contains("if-not-present"), "{stderr}");
}

/// With runners made by hand, render says what must be set in GitLab: each pool's runner's
/// maximum job timeout, at most the pool's job timeout (which the drain waits for). With runners
/// made by runnergen's Terraform, it has no such step.
#[test]
fn render_says_what_to_set_in_gitlab_for_runners_made_by_hand() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (example, expected) in [
        (
            "multi-pool",
            &["- `docker`: maximum job timeout **90 minutes**", "- `shell`: maximum job timeout **60 minutes**"][..],
        ),
        ("gitlab-runners", &[]),
    ] {
        let out = run(runnergen()
            .args(["render", "--out"])
            .arg(dir.path().join(example))
            .arg(root().join("examples").join(example).join("fleet.yaml")));
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout).expect("UTF-8");
        for line in expected {
            assert!(stdout.contains(line), "{example}: {line}\n{stdout}");
        }
        assert_eq!(stdout.matches("maximum job timeout **").count(), expected.len(), "{example}:\n{stdout}");
    }
}

/// What editors get from the schema alone: a pool's topology's keys. An autoscaler pool refuses
/// `capacity` and needs `workers`; an instance pool (the default) needs `instance_types` and
/// refuses `workers`; each window sets its topology's key. Every example passes.
#[test]
fn the_schema_alone_knows_each_topologys_keys() {
    let schema: serde_json::Value = serde_json::from_str(runnergen::shape::SCHEMA).expect("JSON");
    let validator = jsonschema::draft7::new(&schema).expect("the schema compiles");
    let spec = |name: &str| {
        let text = std::fs::read_to_string(root().join(format!("examples/{name}/fleet.yaml"))).expect("read");
        runnergen::yaml::parse(&text).expect("YAML").expect("a document").to_json()
    };
    for (name, _) in crate::common::examples() {
        let example = spec(&name);
        assert!(validator.is_valid(&example), "{name}: {:?}", validator.iter_errors(&example).next());
    }
    let autoscaler = spec("autoscaler");
    let index = autoscaler["pools"]
        .as_array()
        .and_then(|pools| pools.iter().position(|p| p["topology"] == "autoscaler"))
        .expect("an autoscaler pool");
    let mut with_capacity = autoscaler.clone();
    with_capacity["pools"][index]["capacity"] = serde_json::json!({"min": 1, "max": 2});
    assert!(!validator.is_valid(&with_capacity), "an autoscaler pool with `capacity`");
    let mut without_workers = autoscaler.clone();
    without_workers["pools"][index].as_object_mut().expect("a pool").remove("workers");
    assert!(!validator.is_valid(&without_workers), "an autoscaler pool without `workers`");

    let minimal = spec("minimal");
    let mut without_types = minimal.clone();
    without_types["pools"][0].as_object_mut().expect("a pool").remove("instance_types");
    assert!(!validator.is_valid(&without_types), "an instance pool without `instance_types`");
    let mut with_workers = minimal.clone();
    with_workers["pools"][0]["workers"] = autoscaler["pools"][index]["workers"].clone();
    assert!(!validator.is_valid(&with_workers), "an instance pool with `workers`");
    let mut window_idle = minimal.clone();
    window_idle["pools"][0]["schedule"] = serde_json::json!({"windows": [
        {"days": "MON-FRI", "from": "07:00", "to": "19:00", "idle": {"count": 1}}
    ]});
    assert!(!validator.is_valid(&window_idle), "an instance pool's window with `idle`");
}
