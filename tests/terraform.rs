//! The Terraform target checked by the real tools: HashiCorp's HCL parser and formatter,
//! checkov, the providers' argument schemas, and shellcheck on the user data. What hcl-rs alone
//! can read back is checked in the plain target (`terraform_*.rs`).

use std::collections::BTreeMap;

use hcl::Body;

use crate::common;
use crate::tf::{RUNNERS_SPEC, fleet_tagged_in_many_scripts, parse, tf_files};

/// Every example's and every imported spec's Terraform (and the autoscaler example's with
/// monitoring), and both targets of a fleet tagged in many
/// scripts, parse with HashiCorp's parser and are already in `terraform fmt` form. The fuzz tests
/// check the same of mutated specs and hostile model values (fuzz.rs).
#[test]
fn hashicorps_parser_reads_every_example_and_fmt_leaves_it_unchanged() {
    let (_imports, imported) = common::imported();
    let (_monitored_dir, monitored) = monitored_autoscaler();
    for (name, spec) in common::examples().into_iter().chain(imported).chain([monitored]) {
        let dir = common::render_to_temp(&spec);
        let files = tf_files(dir.path());
        assert!(files.len() >= 4, "{name}: only {files:?}");
        let out = common::run(common::hclcheck().args(&files));
        common::assert_success(&out, &format!("hclcheck on example {name}"));
    }
    let plan = runnergen::render::render(&fleet_tagged_in_many_scripts()).expect("renders");
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut files = Vec::new();
    for (path, file) in plan.iter().filter(|(p, _)| p.ends_with(".tf") || p.ends_with(".hcl")) {
        let target = dir.path().join(path.replace('/', "_"));
        std::fs::write(&target, &file.contents).expect("write");
        files.push(target);
    }
    assert!(files.iter().any(|f| f.to_string_lossy().ends_with(".pkr.hcl")), "{files:?}");
    let out = common::run(common::hclcheck().args(&files));
    common::assert_success(&out, "hclcheck on tag keys in many scripts");
}

#[test]
fn every_example_passes_checkov_with_skips_explained() {
    // The examples, and a spec whose runner tokens use the account's SSM key.
    let extra = tempfile::tempdir().expect("a temp dir");
    std::fs::write(extra.path().join("fleet.yaml"), RUNNERS_SPEC).expect("write the spec");
    let (_monitored_dir, monitored) = monitored_autoscaler();
    let specs = common::examples()
        .into_iter()
        .chain([("runners-without-a-key".to_owned(), extra.path().join("fleet.yaml")), monitored]);
    let (_imports, imported) = common::imported();
    let specs = specs.chain(imported);
    for (name, spec) in specs {
        let dir = common::render_to_temp(&spec);
        let out = common::run(common::tool("checkov").arg("-d").arg(dir.path().join("terraform")).args([
            "--framework",
            "terraform",
            "--skip-download",
            "-o",
            "json",
        ]));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let report: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!("{name}: checkov printed no JSON report ({e}):\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr))
        });
        let summary = &report["summary"];
        let failed = summary["failed"].as_u64().expect("a failed count");
        let passed = summary["passed"].as_u64().expect("a passed count");
        let failures: Vec<String> = report["results"]["failed_checks"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| format!("{} {} in {}", c["check_id"], c["resource"], c["file_path"]))
            .collect();
        assert_eq!(failed, 0, "{name}: checkov failed checks:\n{}", failures.join("\n"));
        assert!(passed >= 30, "{name}: checkov passed only {passed} checks; did it read the files?");
        // The only skips, each with its reason in the generated file: checkov's port-22 check
        // does not read referenced_security_group_id, the one source of an autoscaler's worker
        // SSH rule; a runner token without a fleet key is encrypted with the account's SSM key.
        let mut skipped: Vec<(String, String, String)> = report["results"]["skipped_checks"]
            .as_array()
            .expect("a list of skipped checks")
            .iter()
            .map(|c| {
                let reason = c["check_result"]["suppress_comment"].as_str().unwrap_or_default().to_owned();
                (
                    c["check_id"].as_str().unwrap_or_default().to_owned(),
                    c["resource"].as_str().unwrap_or_default().to_owned(),
                    reason,
                )
            })
            .collect();
        let fleet = runnergen::load_spec(&spec).map(|l| l.fleet).unwrap_or_else(|e| panic!("{}", e.render(false)));
        let mut expected: Vec<(String, String, &str)> = fleet
            .pools
            .iter()
            .filter(|p| matches!(p.topology, runnergen::topology::Topology::Autoscaler(_)))
            .map(|p| {
                (
                    "CKV_AWS_24".to_owned(),
                    format!("aws_vpc_security_group_ingress_rule.{}_workers_ssh", p.name),
                    "referenced_security_group_id",
                )
            })
            .collect();
        let keyless = fleet.ebs_kms_key_arn.is_none();
        if keyless {
            let created = fleet.runners == runnergen::model::RunnerMode::Terraform;
            for p in fleet.pools.iter().filter(|p| created && p.runner.is_some()) {
                expected.push(("CKV_AWS_337".to_owned(), format!("aws_ssm_parameter.{}_token", p.name), "aws/ssm key"));
            }
        }
        // A manager's live settings are no secret: a String parameter.
        for p in &fleet.pools {
            if p.live_settings_parameter().is_some() {
                expected.push((
                    "CKV2_AWS_34".to_owned(),
                    format!("aws_ssm_parameter.{}_manager_settings", p.name),
                    "not a secret",
                ));
            }
        }
        // A cache bucket is disposable; its encryption is S3's own without a fleet key.
        if fleet.cache.as_ref().is_some_and(|c| c.created) {
            let bucket = "aws_s3_bucket.cache".to_owned();
            for (check, because) in [
                ("CKV_AWS_21", "disposable"),
                ("CKV_AWS_144", "disposable"),
                ("CKV_AWS_18", "access log"),
                ("CKV2_AWS_62", "events"),
            ] {
                expected.push((check.to_owned(), bucket.clone(), because));
            }
            if keyless {
                expected.push(("CKV_AWS_145".to_owned(), bucket, "S3's own keys"));
            }
        }
        // Log groups keep events as long as the spec says, encrypted by CloudWatch without a key.
        if let Some(logs) = fleet.logs {
            for p in &fleet.pools {
                let group = format!("aws_cloudwatch_log_group.{}", p.name);
                if keyless {
                    expected.push(("CKV_AWS_158".to_owned(), group.clone(), "CloudWatch Logs' own keys"));
                }
                if logs.retention_days < 365 {
                    expected.push(("CKV_AWS_338".to_owned(), group, "retention_days"));
                }
            }
        }
        // The runner's metrics: embedded metric format events, kept a day.
        if fleet.runner_metrics() {
            for p in &fleet.pools {
                let group = format!("aws_cloudwatch_log_group.{}_runner_metrics", p.name);
                if keyless {
                    expected.push(("CKV_AWS_158".to_owned(), group.clone(), "CloudWatch Logs' own keys"));
                }
                expected.push(("CKV_AWS_338".to_owned(), group, "one day"));
            }
        }
        // CloudWatch alarms cannot publish to a topic under the AWS managed SNS key.
        if fleet.monitoring.as_ref().and_then(|m| m.alarms.as_ref()).is_some_and(|a| a.email.is_some()) {
            expected.push(("CKV_AWS_26".to_owned(), "aws_sns_topic.alarms".to_owned(), "alias/aws/sns"));
        }
        // A spot fallback's log of launch failures and switches, encrypted by CloudWatch without a key.
        for p in &fleet.pools {
            if let Some(f) = p.topology.kind().spot_fallback(&fleet, p)
                && keyless
            {
                let group = format!("aws_cloudwatch_log_group.{}", f.label);
                expected.push(("CKV_AWS_158".to_owned(), group, "CloudWatch Logs' own keys"));
            }
        }
        skipped.sort();
        expected.sort();
        assert_eq!(skipped.len(), expected.len(), "{name}: {skipped:#?}");
        for ((check, resource, reason), (want_check, want_resource, because)) in skipped.iter().zip(&expected) {
            assert_eq!((check, resource), (want_check, want_resource), "{name}");
            assert!(reason.contains(because), "{name}: {resource} skipped without its reason: {reason}");
        }
        assert!(out.status.success(), "{name}: checkov exited with {}", out.status);
    }
}

#[test]
fn every_user_data_script_passes_shellcheck() {
    let (_imports, imported) = common::imported();
    for (name, spec) in common::examples().into_iter().chain(imported) {
        let dir = common::render_to_temp(&spec);
        let fleet = runnergen::load_spec(&spec).map(|l| l.fleet).unwrap_or_else(|e| panic!("{}", e.render(false)));
        for pool in &fleet.pools {
            let script = dir.path().join(format!("terraform/user-data/{}.sh", pool.name));
            assert!(script.is_file(), "{name}/{}: no user data script", pool.name);
            let out = common::run(common::tool("shellcheck").arg(&script));
            common::assert_success(&out, &format!("shellcheck on {name}/{}", pool.name));
        }
    }
}

/// The autoscaler example with logs and every part of monitoring: its manager's heartbeat, the
/// runner's metrics and the queue alarm on an autoscaler pool, and an existing topic.
fn monitored_autoscaler() -> (tempfile::TempDir, (String, std::path::PathBuf)) {
    let spec = std::fs::read_to_string(common::root().join("examples/autoscaler/fleet.yaml")).expect("the example");
    let region =
        runnergen::load_spec(&common::root().join("examples/autoscaler/fleet.yaml")).expect("valid").fleet.region;
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("fleet.yaml");
    let monitoring = format!(
        "logs: {{retention_days: 400}}\nmonitoring:\n  runner_metrics: true\n  alarms: {{sns_topic_arn: \
         \"arn:aws:sns:{region}:123456789012:ci-alerts\", queue_seconds_p90: 600}}\n"
    );
    std::fs::write(&path, format!("{spec}{monitoring}")).expect("write the spec");
    (dir, ("autoscaler-monitored".to_owned(), path))
}

/// A provider's argument schema, as scripts/test extracts it (tools/provider_schema.py).
fn provider_schema(name: &str) -> serde_json::Value {
    let path = common::root().join(format!("target/tools/{name}-provider-schema.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run the tests through scripts/test, which makes it", path.display()));
    serde_json::from_str(&text).expect("the schema is JSON")
}

/// Every resource, data source and provider block of every example uses only arguments and
/// blocks its provider (hashicorp/aws, gitlabhq/gitlab) has, and every argument it requires:
/// checked against the providers' schemas (scripts/test extracts them from the prebuilt CDK for
/// Terraform bindings, whose versions name the provider versions).
#[test]
fn every_example_matches_the_provider_schemas() {
    let schemas: BTreeMap<&str, serde_json::Value> =
        ["aws", "gitlab"].into_iter().map(|p| (p, provider_schema(p))).collect();
    assert!(schemas["aws"]["resource"]["aws_autoscaling_group"]["launch_template"]["block"].is_object());
    assert!(schemas["gitlab"]["resource"]["gitlab_user_runner"]["runner_type"]["required"] == true);
    let mut gitlab_blocks = 0;
    let (_imports, imported) = common::imported();
    let (_monitored_dir, monitored) = monitored_autoscaler();
    for (name, spec) in common::examples().into_iter().chain(imported).chain([monitored]) {
        let dir = common::render_to_temp(&spec);
        let mut checked = 0;
        for file in tf_files(dir.path()) {
            let body = parse(&file);
            let file = file.file_name().expect("a name").to_string_lossy().into_owned();
            for block in body.blocks() {
                let labels: Vec<&str> = block.labels().iter().map(hcl::BlockLabel::as_str).collect();
                let provider = |ty: &str| ty.split('_').next().unwrap_or_default().to_owned();
                let args = match (block.identifier(), labels.as_slice()) {
                    ("resource", [ty, _]) => &schemas[provider(ty).as_str()]["resource"][ty],
                    ("data", [ty, _]) => &schemas[provider(ty).as_str()]["data"][ty],
                    ("provider", [p]) => &schemas[p]["provider"],
                    ("terraform" | "locals" | "output", _) => continue,
                    (other, _) => panic!("{name}/{file}: unexpected block {other} {labels:?}"),
                };
                let at = format!("{name}/{file}: {} {}", block.identifier(), labels.join("."));
                assert!(args.is_object(), "{at}: the provider has no such {}", block.identifier());
                check_arguments(block.body(), args, &at, true);
                checked += 1;
                gitlab_blocks += usize::from(labels.first().is_some_and(|l| l.starts_with("gitlab")));
            }
        }
        assert!(checked >= 10, "{name}: only {checked} blocks checked");
    }
    assert!(gitlab_blocks >= 3, "no example creates runners in GitLab");
}

/// The check fails on what the provider would refuse: a misspelt argument, a block written as an
/// attribute, a missing required argument, a block inside a block that has none.
#[test]
fn the_provider_schema_check_fails_on_what_the_provider_refuses() {
    let schema = provider_schema("aws");
    let group = &schema["resource"]["aws_autoscaling_group"];
    let ok = "max_size = 1\nmin_size = 0\ninstance_maintenance_policy {\n  min_healthy_percentage = 0\n  max_healthy_percentage = 100\n}\n";
    check_arguments(&hcl::from_str(ok).expect("HCL"), group, "ok", true);
    for bad in [
        "max_size = 1\nmin_size = 0\ninstance_maintenance_policies {\n  min_healthy_percentage = 0\n  max_healthy_percentage = 100\n}\n",
        "max_size = 1\nmin_size = 0\ninstance_maintenance_policy = {}\n",
        "max_size = 1\ninstance_maintenance_policy {\n  min_healthy_percentage = 0\n  max_healthy_percentage = 100\n}\n",
        "max_size = 1\nmin_size = 0\ninstance_maintenance_policy {\n  min_healthy_percentage = 0\n}\n",
        "max_size = 1\nmin_size = 0\ntag {\n  key = \"a\"\n  value = \"b\"\n  propagate_at_launch = true\n  lifecycle {}\n}\n",
    ] {
        let body: Body = hcl::from_str(bad).expect("HCL");
        let caught = std::panic::catch_unwind(|| check_arguments(&body, group, "bad", true));
        assert!(caught.is_err(), "accepted:\n{bad}");
    }
}

/// The arguments and blocks of a body against the provider's: only known ones, attributes as
/// attributes and blocks as blocks, every required one present. Meta-arguments only at the top.
fn check_arguments(body: &Body, args: &serde_json::Value, at: &str, top: bool) {
    const META_ARGUMENTS: [&str; 4] = ["depends_on", "count", "for_each", "provider"];
    const META_BLOCKS: [&str; 3] = ["lifecycle", "provisioner", "connection"];
    for attribute in body.attributes() {
        let key = attribute.key();
        if top && META_ARGUMENTS.contains(&key) {
            continue;
        }
        let arg = &args[key];
        assert!(arg.is_object(), "{at}: no argument `{key}`");
        assert!(arg.get("block").is_none(), "{at}: `{key}` is a block, written as an attribute");
    }
    for block in body.blocks() {
        let key = block.identifier();
        if top && META_BLOCKS.contains(&key) {
            continue;
        }
        // `dynamic "NAME" { for_each = ...; content { ... } }` writes blocks NAME.
        if key == "dynamic" {
            let name = block.labels().first().map(|l| l.as_str().to_owned()).expect("a dynamic block's label");
            assert!(block.body().attributes().any(|a| a.key() == "for_each"), "{at}: dynamic {name} without for_each");
            let nested = &args[name.as_str()]["block"];
            assert!(nested.is_object(), "{at}: no block `{name}`");
            let content = block.body().blocks().find(|b| b.identifier() == "content").expect("content");
            check_arguments(content.body(), nested, &format!("{at}.{name}"), false);
            continue;
        }
        let nested = &args[key]["block"];
        assert!(nested.is_object(), "{at}: no block `{key}`");
        check_arguments(block.body(), nested, &format!("{at}.{key}"), false);
    }
    for (key, arg) in args.as_object().expect("arguments") {
        if arg["required"] == true {
            let present = body.attributes().any(|a| a.key() == key) || body.blocks().any(|b| b.identifier() == key);
            assert!(present, "{at}: the required `{key}` is missing");
        }
    }
}
