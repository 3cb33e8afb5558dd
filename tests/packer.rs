//! The Packer target, checked by the real tools (shellcheck, bash, systemd-analyze, HashiCorp's
//! HCL parser, packer 1.6.6) for every example and for variants that take the other branches.
//! The helpers' behaviour is in `lifecycle.rs`, the jobs' firewall in `firewall.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{self, assert_success};

const SCRIPTS: &[&str] = &[
    "packer/gitlab-runner-provision.sh",
    "packer/files/runnergen-register",
    "packer/files/runnergen-lifecycle",
    "packer/files/runnergen-metrics",
];
const UNITS: &[&str] = &[
    "packer/files/runnergen-runner.service",
    "packer/files/runnergen-lifecycle.service",
    "packer/files/runnergen-metrics.service",
    "packer/files/runnergen-metrics.timer",
    "packer/files/runnergen-firewall.service",
];
/// What a fleet with autoscaler pools adds: the worker AMI's provision script, the manager gate.
const WORKER_SCRIPTS: &[&str] =
    &["packer/worker-provision.sh", "packer/files/runnergen-manager-gate", "packer/files/runnergen-manager-settings"];
const WORKER_UNITS: &[&str] = &[
    "packer/files/runnergen-manager-gate.service",
    "packer/files/runnergen-manager-settings.service",
    "packer/files/runnergen-manager-settings.timer",
];

/// The scripts and units a fleet's Packer target has.
fn scripts_and_units(spec: &Path) -> (Vec<&'static str>, Vec<&'static str>) {
    let fleet = runnergen::load_spec(spec).map(|l| l.fleet).unwrap_or_else(|e| panic!("{}", e.render(false)));
    let (mut scripts, mut units) = (SCRIPTS.to_vec(), UNITS.to_vec());
    if fleet.has_workers() {
        scripts.extend(WORKER_SCRIPTS);
        units.extend(WORKER_UNITS);
    }
    // The user's own bake step, copied as written: checked like runnergen's (the example's is).
    if fleet.image.provision_script.is_some() {
        scripts.push("packer/provision-script.sh");
    }
    (scripts, units)
}
/// Installed as they are: the jobs' firewall rules, and AWS's key for the AWS CLI.
const DATA: &[&str] = &["packer/files/jobs-firewall.nft", "packer/files/aws-cli.asc"];

fn plan(spec: &Path) -> runnergen::render::Files {
    let fleet = runnergen::load_spec(spec).map(|l| l.fleet).unwrap_or_else(|e| panic!("{}", e.render(false)));
    runnergen::render::render(&fleet).unwrap_or_else(|e| panic!("{}", e.render(false)))
}

/// Specs that take the branches the examples do not: Ubuntu 22.04 with shell pools only (no
/// Docker), gp2, a runner before the helper-images package, tags with spaces and non-ASCII
/// letters, GovCloud with a customer-managed key; Amazon Linux on arm64 in China with a
/// privileged docker pool, another AWS CLI and a private bake with an instance profile of its
/// own; Amazon Linux with only an autoscaler pool of shell jobs (the instance executor:
/// gitlab-runner on the workers, more SSH sessions).
const VARIANTS: &[(&str, &str)] = &[
    (
        "jammy-shell",
        "version: 1\nname: jammy-shell\naws:\n  region: us-gov-west-1\n  vpc_id: vpc-0123456789abcdef0\n  \
         subnet_ids: [subnet-0123456789abcdef0]\n  tags: {\"Kostenstelle Zürich\": \"Bau/Ost = 1+2\", a: b@c:d}\n  \
         ebs_kms_key_arn: arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab\n\
         gitlab:\n  url: https://gitlab.example.net/\nimage:\n  os: ubuntu-22.04\n  arch: x86_64\n  \
         runner_version: 17.6.1\n  volume_type: gp2\npools:\n  - name: deploy\n    executor: shell\n    \
         instance_types: [t3.small]\n    capacity: {min: 1, max: 2}\n    concurrent: 1\n    \
         token_parameter: /jammy/deploy/token\n    job_timeout_minutes: 100\n",
    ),
    (
        "al2023-arm",
        "version: 1\nname: al2023-arm\naws:\n  region: cn-north-1\n  vpc_id: vpc-0123456789abcdef0\n  \
         subnet_ids: [subnet-0123456789abcdef0]\ngitlab:\n  url: https://gitlab.example.org\nimage:\n  \
         os: amazon-linux-2023\n  arch: arm64\n  runner_version: 17.7.0\n  aws_cli_version: 2.30.1\n  \
         build_subnet_id: subnet-0fedcba9876543210\n  build_instance_profile: packer-ssm\npools:\n  - name: dind\n    \
         executor: docker\n    instance_types: [c7g.large]\n    capacity: {min: 1, max: 5}\n    concurrent: 3\n    \
         token_parameter: /al2023/dind/token\n    docker: {image: \"docker:27\", privileged: true, volumes: [/cache, \"/certs/client\"]}\n",
    ),
    (
        "al2023-autoscaler",
        "version: 1\nname: al2023-as\naws:\n  region: us-east-1\n  vpc_id: vpc-0123456789abcdef0\n  \
         subnet_ids: [subnet-0123456789abcdef0]\ngitlab:\n  url: https://gitlab.example.org:8443\nimage:\n  \
         os: amazon-linux-2023\n  arch: x86_64\n  runner_version: 18.4.0\n  fleeting_plugin_version: 1.0.2\npools:\n  \
         - name: vm\n    topology: autoscaler\n    executor: shell\n    token_parameter: /al2023-as/vm/token\n    \
         workers: {instance_types: [c7i.large, m7i.large], max_instances: 50, capacity_per_instance: 8, max_use_count: 0, shared: true}\n",
    ),
];

/// Every example and every variant, by name; the variants in a folder of the caller's own, so
/// that tests running at once never read each other's half-written files.
fn specs() -> (tempfile::TempDir, Vec<(String, PathBuf)>) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut out = common::examples();
    for (name, text) in VARIANTS {
        let path = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&path, text).expect("write spec");
        out.push(((*name).to_owned(), path));
    }
    // The specs `runnergen import` makes from tests/import/, filled in.
    let (imports, imported) = common::imported();
    for (name, spec) in imported {
        let path = dir.path().join(format!("{name}.yaml"));
        std::fs::copy(&spec, &path).expect("copy spec");
        out.push((name, path));
    }
    drop(imports);
    (dir, out)
}

#[test]
fn renders_the_contracted_files_the_same_every_time() {
    let (_dir, specs) = specs();
    for (name, spec) in specs {
        let first = plan(&spec);
        assert_eq!(first, plan(&spec), "{name}: two renders differ");
        let (scripts, units) = scripts_and_units(&spec);
        for path in ["packer/gitlab-runner.pkr.hcl"].iter().chain(&scripts).chain(&units).chain(DATA) {
            let file = first.get(*path).unwrap_or_else(|| panic!("{name}: {path} is not rendered"));
            assert_eq!(file.executable, scripts.contains(path), "{name}: {path} executable bit");
            // AWS's key, and the user's own bake step, copied as written.
            if path.ends_with(".asc") || *path == "packer/provision-script.sh" {
                continue;
            }
            let has_shebang = file.contents.starts_with("#!");
            let header = if has_shebang { file.contents.lines().nth(1) } else { file.contents.lines().next() };
            assert!(header.is_some_and(|l| l.starts_with("# Generated by runnergen")), "{name}: {path} header");
        }
        // One image for every pool: no pool's settings are baked in (they come with user data).
        let fleet = runnergen::load_spec(&spec).map(|l| l.fleet).expect("loads");
        for (path, file) in first.iter().filter(|(p, _)| p.starts_with("packer/")) {
            for pool in &fleet.pools {
                assert!(!file.contents.contains(&pool.token_parameter), "{name}: {path} names a token parameter");
                assert!(!file.contents.contains(&fleet.gitlab_url), "{name}: {path} names the GitLab URL");
            }
        }
        // A landing zone's: the proxy's drop-in and the CloudWatch agent's proxy (with a header),
        // and GitLab's CA (the spec's file as it is).
        let mut landing_zone = Vec::new();
        if fleet.proxy.is_some() {
            landing_zone.push("packer/files/runnergen-proxy.conf");
            if fleet.logs.is_some() {
                landing_zone.push("packer/files/cloudwatch-agent-common-config");
            }
        }
        for path in &landing_zone {
            let file = first.get(*path).unwrap_or_else(|| panic!("{name}: {path} is not rendered"));
            assert!(!file.executable && file.contents.starts_with("# Generated by runnergen"), "{name}: {path}");
        }
        if let Some(ca) = &fleet.gitlab_ca {
            assert_eq!(first["packer/files/gitlab-ca.crt"].contents, ca.text, "{name}");
            landing_zone.push("packer/files/gitlab-ca.crt");
        }
        let packer_files = first.keys().filter(|p| p.starts_with("packer/")).count();
        let expected = 1 + scripts.len() + units.len() + DATA.len() + landing_zone.len();
        assert_eq!(packer_files, expected, "{name}: unexpected packer files");
    }
}

#[test]
fn shellcheck_finds_nothing() {
    let (_dir, specs) = specs();
    for (name, spec) in specs {
        let dir = common::render_to_temp(&spec);
        let out = common::tool("shellcheck")
            .args(["--severity=style", "--shell=bash", "--format=gcc"])
            .args(scripts_and_units(&spec).0.iter().map(|s| dir.path().join(s)))
            .output()
            .expect("shellcheck runs");
        assert_success(&out, &format!("{name}: shellcheck"));
        assert!(out.stdout.is_empty(), "{name}: {}", String::from_utf8_lossy(&out.stdout));
    }
    let standins = common::root().join("tests/standins");
    let out = common::tool("shellcheck")
        .args(["--severity=style", "--format=gcc"])
        .args(["gitlab-runner", "aws", "systemctl"].map(|s| standins.join(s)))
        .output()
        .expect("shellcheck runs");
    assert_success(&out, "shellcheck of the stand-ins");
}

#[test]
fn bash_parses_every_script() {
    let (_dir, specs) = specs();
    for (name, spec) in specs {
        let dir = common::render_to_temp(&spec);
        for script in scripts_and_units(&spec).0 {
            let out = common::tool("bash").arg("-n").arg(dir.path().join(script)).output().expect("bash runs");
            assert_success(&out, &format!("{name}: bash -n {script}"));
        }
    }
}

/// `systemd-analyze verify` checks each unit's syntax, its directives and that every Exec*= binary
/// exists. The units name the paths they have on the AMI, so they are verified inside a root that
/// has those paths (`--root`): the helpers as rendered, and gitlab-runner as an executable.
#[test]
fn systemd_analyze_verifies_every_unit() {
    let (_dir, specs) = specs();
    for (name, spec) in specs {
        let dir = common::render_to_temp(&spec);
        let root = tempfile::tempdir().expect("a temp dir");
        let units_dir = root.path().join("etc/systemd/system");
        let helpers_dir = root.path().join("usr/local/lib/runnergen");
        std::fs::create_dir_all(&units_dir).expect("mkdir");
        std::fs::create_dir_all(&helpers_dir).expect("mkdir");
        std::fs::create_dir_all(root.path().join("usr/bin")).expect("mkdir");
        // The system's own units (sysinit.target, network-online.target, ...) that ours refer to.
        copy_tree(Path::new("/usr/lib/systemd/system"), &root.path().join("usr/lib/systemd/system"));
        let (scripts, units) = scripts_and_units(&spec);
        for script in scripts.iter().filter(|s| s.starts_with("packer/files/")) {
            let file = Path::new(script).file_name().expect("a name");
            std::fs::copy(dir.path().join(script), helpers_dir.join(file)).expect("copy helper");
        }
        std::fs::copy(common::root().join("tests/standins/gitlab-runner"), root.path().join("usr/bin/gitlab-runner"))
            .expect("copy gitlab-runner");
        std::fs::create_dir_all(root.path().join("usr/sbin")).expect("mkdir");
        std::fs::copy(common::tool_path("nft"), root.path().join("usr/sbin/nft")).expect("copy nft");
        for unit in &units {
            let file = Path::new(unit).file_name().expect("a name");
            std::fs::copy(dir.path().join(unit), units_dir.join(file)).expect("copy unit");
        }
        // With aws.proxy, the proxy's drop-in where the bake installs it, verified with each unit.
        let dropin = dir.path().join("packer/files/runnergen-proxy.conf");
        if dropin.exists() {
            let services = units.iter().filter(|u| u.ends_with(".service") && !u.ends_with("-firewall.service"));
            for unit in services {
                let d = units_dir.join(format!("{}.d", Path::new(unit).file_name().expect("a name").to_string_lossy()));
                std::fs::create_dir_all(&d).expect("mkdir");
                std::fs::copy(&dropin, d.join("runnergen-proxy.conf")).expect("copy the drop-in");
            }
        }
        let out = common::tool("systemd-analyze")
            .arg("verify")
            .arg(format!("--root={}", root.path().display()))
            .arg("--man=no")
            .args(units.iter().map(|u| units_dir.join(Path::new(u).file_name().expect("a name"))))
            .env("SYSTEMD_LOG_LEVEL", "notice")
            .output()
            .expect("systemd-analyze runs");
        assert_success(&out, &format!("{name}: systemd-analyze verify"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let findings: Vec<&str> = stderr.lines().filter(|l| l.contains("runnergen")).collect();
        assert!(findings.is_empty(), "{name}: systemd-analyze verify:\n{stderr}");
    }
}

/// Copies a folder of files and symlinks (symlinks as symlinks).
fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from).into_iter().filter_map(Result::ok) {
        let target = to.join(entry.path().strip_prefix(from).expect("under from"));
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
        } else if entry.file_type().is_symlink() {
            let link = std::fs::read_link(entry.path()).expect("readlink");
            std::os::unix::fs::symlink(link, &target).expect("symlink");
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[test]
fn the_template_is_canonical_hcl() {
    let (_dir, specs) = specs();
    for (name, spec) in specs {
        let dir = common::render_to_temp(&spec);
        let out = common::hclcheck().arg(dir.path().join("packer/gitlab-runner.pkr.hcl")).output().expect("runs");
        assert_success(&out, &format!("{name}: hclcheck"));
    }
}

/// Debian's packer is 1.6.6. It predates `required_plugins` (the `packer` block), `data` blocks
/// and the amazon-ebs arguments `imds_support`, `metadata_options` and
/// `temporary_security_group_source_public_ip`, so it validates a copy with exactly those
/// removed; everything else is validated as generated.
#[test]
fn packer_1_6_6_validates_the_template_without_newer_syntax() {
    let (_dir, specs) = specs();
    for (name, spec) in specs {
        let dir = common::render_to_temp(&spec);
        let template = dir.path().join("packer/gitlab-runner.pkr.hcl");
        let text = std::fs::read_to_string(&template).expect("read");
        let older = without_newer_syntax(&text);
        assert!(!older.contains("required_plugins {") && !older.contains("imds_support ="), "{name}");
        // The packer block (8 lines), and in each source imds_support, metadata_options (6) and
        // the temporary security group's setting (1), which a private bake has not.
        let sources = text.matches("\nsource \"amazon-ebs\"").count();
        let fleet = runnergen::load_spec(&spec).map(|l| l.fleet).expect("loads");
        assert_eq!(sources, if fleet.has_workers() { 2 } else { 1 }, "{name}");
        let per_source = if fleet.image.build_subnet_id.is_some() { 6 } else { 7 };
        assert_eq!(
            text.lines().count() - older.lines().count(),
            8 + per_source * sources,
            "{name}: removed more or less than expected"
        );
        std::fs::write(&template, older).expect("write");
        let out = common::tool("packer")
            .arg("validate")
            .arg("gitlab-runner.pkr.hcl")
            .current_dir(dir.path().join("packer"))
            .env("CHECKPOINT_DISABLE", "1")
            .output()
            .expect("packer runs");
        assert_success(&out, &format!("{name}: packer validate"));
    }
}

/// Removes the top-level `packer` block, `data` blocks, the `imds_support` line and the
/// `metadata_options` block.
fn without_newer_syntax(text: &str) -> String {
    let mut out = Vec::new();
    let mut skipping: Option<usize> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim_start();
        if let Some(level) = skipping {
            if indent == level && trimmed == "}" {
                skipping = None;
            }
            continue;
        }
        if (indent == 0 && (trimmed.starts_with("packer {") || trimmed.starts_with("data \"")))
            || trimmed.starts_with("metadata_options {")
        {
            skipping = Some(indent);
            continue;
        }
        if trimmed.starts_with("imds_support ") || trimmed.starts_with("temporary_security_group_source_public_ip ") {
            continue;
        }
        out.push(line);
    }
    out.join("\n") + "\n"
}

#[test]
fn the_ami_is_found_by_fleet_and_arch_tags_and_is_locked_down() {
    let (_dir, specs) = specs();
    for (name, spec) in specs {
        let fleet = runnergen::load_spec(&spec).map(|l| l.fleet).expect("loads");
        let text = plan(&spec)["packer/gitlab-runner.pkr.hcl"].contents.clone();
        let body: hcl::Body = hcl::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let source =
            body.blocks().find(|b| b.identifier() == "source").unwrap_or_else(|| panic!("{name}: no source block"));
        let attr = |key: &str| -> String {
            source
                .body()
                .attributes()
                .find(|a| a.key() == key)
                .map(|a| a.expr().to_string())
                .unwrap_or_else(|| panic!("{name}: no {key}"))
        };
        assert_eq!(attr("imds_support"), "\"v2.0\"");
        assert_eq!(attr("region"), format!("\"{}\"", fleet.region));
        let tags = attr("tags");
        assert!(tags.contains(&format!("\"{}\" = \"{}\"", runnergen::model::TAG_FLEET, fleet.name)), "{tags}");
        let arch = serde_json::to_value(fleet.image.arch).expect("json");
        assert!(tags.contains(&format!("\"{}\" = {arch}", runnergen::model::AMI_TAG_ARCH)), "{tags}");
        for (k, v) in &fleet.tags {
            assert!(tags.contains(&format!("\"{k}\" = \"{v}\"")), "{name}: tag {k} missing in {tags}");
        }
        assert!(text.contains("http_tokens                 = \"required\""), "{name}");
        // The base image's publisher in the region's partition (Canonical's and Amazon's
        // accounts differ in GovCloud and China).
        let owner = match (fleet.image.os, fleet.region.split('-').next()) {
            (runnergen::model::Os::AmazonLinux2023, Some("us")) if fleet.region.starts_with("us-gov-") => {
                "045324592363"
            }
            (runnergen::model::Os::AmazonLinux2023, Some("cn")) => "141808717104",
            (runnergen::model::Os::AmazonLinux2023, _) => "137112412989",
            (_, Some("us")) if fleet.region.starts_with("us-gov-") => "513442679011",
            (_, Some("cn")) => "837727238323",
            _ => "099720109477",
        };
        assert!(text.contains(&format!("owners      = [\"{owner}\"]")), "{name}: expected owner {owner}");
        assert_eq!(text.contains("kms_key_id"), fleet.ebs_kms_key_arn.is_some(), "{name}");
        if let Some(key) = &fleet.ebs_kms_key_arn {
            assert!(text.contains(&format!("kms_key_id            = \"{key}\"")), "{name}");
        }
        // The bake opens SSH only to where packer runs (or, in a private subnet, nothing at
        // all: `private_bakes_open_nothing`), and leaves no key behind.
        if fleet.image.build_subnet_id.is_none() {
            assert!(text.contains("temporary_security_group_source_public_ip = true"), "{name}");
            assert!(text.contains("ssh_clear_authorized_keys                 = true"), "{name}");
        }
        assert!(text.contains("encrypted             = true"), "{name}");
        assert!(text.contains("formatdate(\"YYYYMMDDhhmmss\", timestamp())"), "{name}");
        let provision = plan(&spec)["packer/gitlab-runner-provision.sh"].contents.clone();
        assert!(provision.contains(&format!("runner_version={}", fleet.image.runner_version)), "{name}");
        assert!(!provision.contains("latest"), "{name}: the provision script mentions `latest`");
        assert_eq!(
            provision.contains("\n  configure_docker\n"),
            fleet.uses_docker(),
            "{name}: docker only when an instance pool uses it"
        );
        let unit = plan(&spec)["packer/files/runnergen-runner.service"].contents.clone();
        // The image's own stop timeout fits the default job; user data sets each pool's.
        assert!(unit.contains("TimeoutStopSec=4200\n"), "{name}");
        assert!(!unit.contains("ExecStopPost"), "{name}: a stop must not unregister (a reboot is not leaving)");
        assert!(
            unit.contains("Requires=runnergen-firewall.service\n"),
            "{name}: jobs must not run before the firewall"
        );
        assert!(unit.contains("KillSignal=SIGQUIT\n"), "{name}");
        assert!(unit.contains(&format!("ConditionPathExists={}\n", runnergen::settings::PATH)), "{name}");
    }
}

/// With autoscaler pools one `packer build` bakes two AMIs of one image definition, the runner's
/// and the workers', told apart by their role tag, which Terraform filters on; without, one AMI
/// and no role.
#[test]
fn an_autoscaler_fleet_bakes_a_worker_image_told_apart_by_its_role() {
    let (_dir, specs) = specs();
    for (name, spec) in specs {
        let fleet = runnergen::load_spec(&spec).map(|l| l.fleet).expect("loads");
        let plan = plan(&spec);
        let body: hcl::Body = hcl::from_str(&plan["packer/gitlab-runner.pkr.hcl"].contents).expect("HCL");
        let sources: Vec<&hcl::Block> = body.blocks().filter(|b| b.identifier() == "source").collect();
        let builds: Vec<&hcl::Block> = body.blocks().filter(|b| b.identifier() == "build").collect();
        let tags = |b: &hcl::Block| {
            b.body().attributes().find(|a| a.key() == "tags").map(|a| a.expr().to_string()).expect("tags")
        };
        let role = |role: &str| format!("\"{}\" = \"{role}\"", runnergen::model::AMI_TAG_ROLE);
        if !fleet.has_workers() {
            assert_eq!((sources.len(), builds.len()), (1, 1), "{name}");
            assert!(!tags(sources[0]).contains(runnergen::model::AMI_TAG_ROLE), "{name}");
            assert!(!plan.contains_key("packer/worker-provision.sh"), "{name}");
            continue;
        }
        assert_eq!((sources.len(), builds.len()), (2, 2), "{name}");
        assert_eq!(sources[1].labels()[1].as_str(), "worker");
        assert!(tags(sources[0]).contains(&role("runner")), "{name}");
        assert!(tags(sources[1]).contains(&role("worker")), "{name}");
        let image = format!("\"{}\" = \"", runnergen::model::AMI_TAG_IMAGE);
        let hash = |t: String| t.split(&image).nth(1).and_then(|r| r.split('"').next()).map(str::to_owned);
        assert_eq!(hash(tags(sources[0])), hash(tags(sources[1])), "{name}: one image definition");
        let ami_name =
            sources[1].body().attributes().find(|a| a.key() == "ami_name").expect("ami_name").expr().to_string();
        assert!(ami_name.contains(&fleet.worker_ami_name_prefix()), "{name}: {ami_name}");
        // The worker build runs its own script only: none of the runner's units reach it. A
        // landing zone's uploads the proxy's drop-in, GitLab's CA and the user's bake step first,
        // one file each.
        let worker_build = builds[1].body();
        let provisioners: Vec<&hcl::Block> =
            worker_build.blocks().filter(|b| b.identifier() == "provisioner").collect();
        let (shell, uploads) = provisioners.split_last().expect("a provisioner");
        let mut uploaded = Vec::new();
        for upload in uploads {
            assert_eq!(upload.labels()[0].as_str(), "file", "{name}");
            let source = upload.body().attributes().find(|a| a.key() == "source").expect("source").expr().to_string();
            uploaded.push(source.rsplit('/').next().expect("a name").trim_end_matches('"').to_owned());
        }
        let mut allowed = Vec::new();
        if fleet.proxy.is_some() {
            allowed.push("runnergen-proxy.conf");
        }
        if fleet.gitlab_ca.is_some() {
            allowed.push("gitlab-ca.crt");
        }
        if fleet.image.provision_script.is_some() {
            allowed.push("provision-script.sh");
        }
        assert_eq!(uploaded, allowed, "{name}");
        assert_eq!(shell.labels()[0].as_str(), "shell");
        let script = shell.body().attributes().find(|a| a.key() == "script").expect("script").expr().to_string();
        assert!(script.ends_with("/worker-provision.sh\""), "{script}");
        let worker = &plan["packer/worker-provision.sh"].contents;
        for unit in ["runnergen-runner", "runnergen-lifecycle", "gitlab-runner register", "config.toml\n"] {
            assert!(!worker.contains(unit), "{name}: the worker image mentions {unit}");
        }
        assert!(worker.contains("truncate -s 0 /etc/machine-id"), "{name}");
        // Terraform picks each by its role.
        let dir = common::render_to_temp(&spec);
        let main = std::fs::read_to_string(dir.path().join("terraform/main.tf")).expect("main.tf");
        for (label, role) in [("runner", "runner"), ("worker", "worker")] {
            let block = main.split(&format!("data \"aws_ami_ids\" \"{label}\" {{")).nth(1).expect("the data source");
            let block = block.split("\n}\n").next().expect("its body");
            assert!(block.contains(&format!("values = [\"{role}\"]")), "{name}: {label}\n{block}");
        }
    }
}

/// Every gitlab-runner command line and every TOML key the output hands gitlab-runner is one the
/// pinned runner (v19.3.0) knows: runnercheck reads them from the scripts, units and user data
/// and checks each against a schema built from gitlab-runner's own source, Go field and line.
/// It is the shared tool beside the project (`shared/tools/runnercheck`), or `$RUNNERCHECK`.
#[test]
fn gitlab_runner_knows_every_flag_and_key_of_every_example() {
    let tool = std::env::var_os("RUNNERCHECK").map(PathBuf::from).unwrap_or_else(|| {
        common::root().parent().expect("a parent folder").join("shared/tools/runnercheck/runnercheck")
    });
    assert!(tool.is_file(), "runnercheck is not at {}; set RUNNERCHECK", tool.display());
    let (_imports, imported) = common::imported();
    for (name, spec) in common::examples().into_iter().chain(imported) {
        let dir = common::render_to_temp(&spec);
        let out = common::run(Command::new(common::tool_path("python3")).arg(&tool).arg(dir.path()));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name}: runnercheck found unknown flags or keys:\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains(" passed, 0 failed"), "{name}: {text}");
    }
}

/// The worker image's user for shell jobs, made by the rendered worker provision script in a
/// Debian 12 root filesystem (the boot test's, under an overlay, through chroot): a user of its
/// own with no way to root. A base image that already put it in a privileged group stops the bake.
#[test]
fn shell_jobs_on_workers_run_as_a_user_without_root() {
    let spec = "version: 1\nname: acme-ci\naws: {region: eu-central-1, vpc_id: vpc-0a1b2c3d4e5f60718, subnet_ids: [subnet-0a1b2c3d4e5f60718]}\n\
                gitlab: {url: https://gitlab.example.com}\n\
                image: {os: ubuntu-24.04, arch: arm64, runner_version: 19.3.0, fleeting_plugin_version: 1.0.0}\n\
                pools:\n  - {name: vm, topology: autoscaler, executor: shell, token_parameter: /a/vm, workers: {instance_types: [c7g.large], max_instances: 2}}\n";
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("fleet.yaml"), spec).expect("write");
    let plan = plan(&dir.path().join("fleet.yaml"));
    let script = plan["packer/worker-provision.sh"].contents.clone();
    assert!(script.contains("job_user=runner-job\n"), "{script}");
    // Everything but the call of main, then the one step.
    let body = script.strip_suffix("main \"$@\"\n").expect("the script ends by calling main");
    let rootfs = common::root().join("target/tools/boot-rootfs");
    assert!(
        rootfs.join("usr/sbin/useradd").is_file(),
        "no Debian root filesystem at {}; scripts/test builds it",
        rootfs.display()
    );
    for (setup, expect_ok) in [("", true), ("useradd --create-home --groups sudo runner-job\n", false)] {
        let overlay = Overlay::new(&rootfs);
        std::fs::write(overlay.merged.join("root/step.sh"), format!("{body}{setup}configure_job_user\n"))
            .expect("write");
        let out = common::run(Command::new("chroot").arg(&overlay.merged).args(["/bin/bash", "/root/step.sh"]));
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.success(), expect_ok, "{setup:?}: {text}");
        if !expect_ok {
            assert!(text.contains("runner-job is in the group sudo, which reaches root"), "{text}");
            continue;
        }
        let groups = common::run(Command::new("chroot").arg(&overlay.merged).args(["id", "-nG", "runner-job"]));
        assert_eq!(String::from_utf8_lossy(&groups.stdout), "runner-job\n", "{text}");
        let home = overlay.merged.join("home/runner-job");
        assert!(home.is_dir(), "no home for the builds");
        let passwd = std::fs::read_to_string(overlay.merged.join("etc/shadow")).expect("shadow");
        let entry = passwd.lines().find(|l| l.starts_with("runner-job:")).expect("a shadow entry");
        assert!(entry.split(':').nth(1).is_some_and(|p| p.starts_with('!') || p == "*"), "a password: {entry}");
    }
}

/// An overlay on a root filesystem, unmounted and removed when dropped.
struct Overlay {
    _dir: tempfile::TempDir,
    merged: PathBuf,
}

impl Overlay {
    fn new(lower: &Path) -> Overlay {
        let dir = tempfile::tempdir().expect("temp dir");
        for sub in ["upper", "work", "merged"] {
            std::fs::create_dir(dir.path().join(sub)).expect("mkdir");
        }
        let merged = dir.path().join("merged");
        let options = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.display(),
            dir.path().join("upper").display(),
            dir.path().join("work").display()
        );
        let out = common::run(Command::new("mount").args(["-t", "overlay", "overlay", "-o", &options]).arg(&merged));
        assert_success(&out, "mount the overlay (needs root)");
        Overlay { _dir: dir, merged }
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.merged).status();
    }
}

/// The worker image holds the helper image under the exact name the pinned runner's docker
/// executor looks for on the worker's daemon (`<arch>-v<version>`, arm64 for aarch64), so that no
/// job streams it from the manager; a fleet without docker autoscaler pools pulls none.
#[test]
fn the_worker_image_holds_the_runners_helper_image() {
    let script =
        plan(&common::root().join("examples/autoscaler/fleet.yaml"))["packer/worker-provision.sh"].contents.clone();
    assert!(
        script.contains(
            "  local image=registry.gitlab.com/gitlab-org/gitlab-runner/gitlab-runner-helper:arm64-v19.3.0\n"
        ),
        "{script}"
    );
    assert!(script.contains("\n  bake_helper_image\n"), "{script}");
    let x86 = std::fs::read_to_string(common::root().join("examples/autoscaler/fleet.yaml"))
        .expect("example")
        .replace("arch: arm64", "arch: x86_64")
        .replace("t4g.", "t3.")
        .replace("c7g.", "c7i.")
        .replace("c6g.", "c6i.");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("fleet.yaml"), x86).expect("write");
    let fleet = runnergen::load_spec(&dir.path().join("fleet.yaml"))
        .map(|l| l.fleet)
        .unwrap_or_else(|e| panic!("{}", e.render(false)));
    let script = runnergen::render::render(&fleet).expect("renders")["packer/worker-provision.sh"].contents.clone();
    assert!(script.contains("gitlab-runner-helper:x86_64-v19.3.0\n"), "{script}");
}

/// Every unit whose helper asks `gitlab-runner fleeting` to find the plugin names the folder the
/// image put it in, as the runner's own unit does: without it gitlab-runner looks in the home
/// folder's default (docs/fleet_scaling/fleeting.md) and `fleeting list` fails.
#[test]
fn every_unit_that_runs_fleeting_list_knows_where_the_plugin_is() {
    let plan = plan(&common::root().join("examples/autoscaler/fleet.yaml"));
    let line = "Environment=\"FLEETING_PLUGIN_PATH=/usr/local/lib/gitlab-runner/fleeting\"\n";
    let mut checked = 0;
    for (path, file) in plan.iter().filter(|(p, _)| p.ends_with(".service")) {
        let helper = file.contents.lines().find_map(|l| l.strip_prefix("ExecStart")).and_then(|l| l.rsplit('/').next());
        let runs_fleeting = match helper {
            Some(name) => plan.get(&format!("packer/files/{}", name.split_whitespace().next().unwrap_or(name))),
            None => None,
        }
        .is_some_and(|h| h.contents.contains("gitlab-runner fleeting"));
        let pre = file.contents.lines().filter_map(|l| l.strip_prefix("ExecStartPre=")).any(|cmd| {
            cmd.rsplit('/')
                .next()
                .and_then(|n| plan.get(&format!("packer/files/{n}")))
                .is_some_and(|h| h.contents.contains("gitlab-runner fleeting"))
        });
        if runs_fleeting || pre {
            assert!(file.contents.contains(line), "{path} runs `gitlab-runner fleeting` without FLEETING_PLUGIN_PATH");
            checked += 1;
        }
    }
    assert_eq!(checked, 2, "the runner (its start hook) and the live settings' service");
}

/// With `image.build_subnet_id` every source builds in that subnet without a public IP and
/// connects over Session Manager, through an instance profile Packer makes with the SSM agent's
/// session permissions only; nothing then asks for Packer's public address or an SSH rule. Without
/// it, none of that is written.
#[test]
fn private_bakes_open_nothing() {
    let (_dir, specs) = specs();
    let mut private = 0;
    for (name, spec) in specs {
        let fleet = runnergen::load_spec(&spec).map(|l| l.fleet).expect("loads");
        let text = plan(&spec)["packer/gitlab-runner.pkr.hcl"].contents.clone();
        let body: hcl::Body = hcl::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        for source in body.blocks().filter(|b| b.identifier() == "source") {
            let attr = |key: &str| source.body().attributes().find(|a| a.key() == key).map(|a| a.expr().to_string());
            let document =
                source.body().blocks().find(|b| b.identifier() == "temporary_iam_instance_profile_policy_document");
            let Some(subnet) = &fleet.image.build_subnet_id else {
                for key in ["subnet_id", "associate_public_ip_address", "ssh_interface"] {
                    assert_eq!(attr(key), None, "{name}: {key}");
                }
                assert!(document.is_none(), "{name}");
                continue;
            };
            private += 1;
            assert_eq!(attr("subnet_id"), Some(format!("\"{subnet}\"")), "{name}");
            assert_eq!(attr("associate_public_ip_address").as_deref(), Some("false"), "{name}");
            assert_eq!(attr("ssh_interface").as_deref(), Some("\"session_manager\""), "{name}");
            assert_eq!(attr("ssh_clear_authorized_keys").as_deref(), Some("true"), "{name}");
            // No address of Packer's own to look up and open SSH to.
            for key in [
                "temporary_security_group_source_public_ip",
                "temporary_security_group_source_cidrs",
                "security_group_id",
                "security_group_ids",
            ] {
                assert_eq!(attr(key), None, "{name}: {key}");
            }
            // The user's instance profile, or Packer's temporary one: never both.
            if let Some(profile) = &fleet.image.build_instance_profile {
                assert_eq!(attr("iam_instance_profile"), Some(format!("\"{profile}\"")), "{name}");
                assert!(document.is_none(), "{name}");
                continue;
            }
            assert_eq!(attr("iam_instance_profile"), None, "{name}");
            let document = document.unwrap_or_else(|| panic!("{name}: no temporary instance profile"));
            let statements: Vec<_> = document.body().blocks().filter(|b| b.identifier() == "Statement").collect();
            assert_eq!(statements.len(), 1, "{name}");
            let statement = |key: &str| {
                statements[0]
                    .body()
                    .attributes()
                    .find(|a| a.key() == key)
                    .map(|a| a.expr().to_string())
                    .unwrap_or_default()
            };
            assert_eq!(statement("Effect"), "\"Allow\"");
            let actions: Vec<String> =
                match statements[0].body().attributes().find(|a| a.key() == "Action").map(|a| a.expr().clone()) {
                    Some(hcl::Expression::Array(items)) => {
                        items.iter().map(|i| i.to_string().trim_matches('"').to_owned()).collect()
                    }
                    other => panic!("{name}: Action is {other:?}"),
                };
            // The session channel of the SSM agent, and nothing else: no parameter, no S3, no KMS.
            assert_eq!(
                actions,
                [
                    "ssm:UpdateInstanceInformation",
                    "ssmmessages:CreateControlChannel",
                    "ssmmessages:CreateDataChannel",
                    "ssmmessages:OpenControlChannel",
                    "ssmmessages:OpenDataChannel",
                ],
                "{name}"
            );
        }
    }
    assert!(private >= 3, "the landing-zone example bakes two AMIs privately, the al2023-arm variant one");
}

/// `image.provision_script` is copied as written into `packer/`, uploaded by each build before its
/// provision script, and part of the image definition: another script is another image.
#[test]
fn the_users_bake_step_is_copied_uploaded_and_part_of_the_image() {
    use crate::landing_zone::{image_hash as image, landing_zone_copy};
    let (dir, spec) = landing_zone_copy(str::to_owned);
    let script_path = dir.path().join("scripts/extra.sh");
    let first = plan(&spec);
    let written = std::fs::read_to_string(&script_path).expect("the example's script");
    let copied = &first["packer/provision-script.sh"];
    assert_eq!(copied.contents, written, "copied byte for byte");
    assert!(copied.executable);
    let template = &first["packer/gitlab-runner.pkr.hcl"].contents;
    let body: hcl::Body = hcl::from_str(template).expect("HCL");
    let builds: Vec<_> = body.blocks().filter(|b| b.identifier() == "build").collect();
    assert_eq!(builds.len(), 2, "the runner's and the worker's");
    for build in builds {
        // The upload, then the provision script that runs it: in that order.
        let provisioners: Vec<(String, String)> = build
            .body()
            .blocks()
            .filter(|b| b.identifier() == "provisioner")
            .map(|b| {
                let kind = b.labels()[0].as_str().to_owned();
                let source = b
                    .body()
                    .attributes()
                    .find(|a| a.key() == "source" || a.key() == "script")
                    .map(|a| a.expr().to_string())
                    .unwrap_or_default();
                (kind, source)
            })
            .collect();
        let upload = provisioners.iter().position(|(k, s)| k == "file" && s.contains("/provision-script.sh"));
        let shell = provisioners.iter().position(|(k, _)| k == "shell");
        assert!(upload.is_some() && upload < shell, "{provisioners:?}");
    }

    std::fs::write(&script_path, format!("{written}echo one more line\n")).expect("write");
    let second = plan(&spec);
    assert_ne!(image(&first), image(&second), "a changed bake step is a new image");
    std::fs::write(&script_path, &written).expect("write");
    assert_eq!(image(&first), image(&plan(&spec)), "and the same one the same image");
}
