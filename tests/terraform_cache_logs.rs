//! The distributed cache and CloudWatch Logs, read back from the generated HCL and user data.

use hcl::Block;

use crate::common;
use crate::tf::{attr, block, data, number, render_spec, resource, string, strings};

const CACHE_SPEC_HEAD: &str = r"
version: 1
name: cc
aws:
  region: eu-west-1
  vpc_id: vpc-0123456789abcdef0
  subnet_ids: [subnet-0123456789abcdef0]
  ebs_kms_key_arn: arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab
gitlab:
  url: https://gitlab.example.com
image:
  os: ubuntu-24.04
  arch: x86_64
  runner_version: 19.3.0
  fleeting_plugin_version: 1.0.0
pools:
  - {name: build, executor: docker, instance_types: [t3.large], capacity: {min: 1, max: 2}, token_parameter: /cc/build}
  - {name: deploy, executor: shell, instance_types: [t3.small], capacity: {min: 1, max: 1}, token_parameter: /cc/deploy}
  - name: vm
    topology: autoscaler
    executor: shell
    token_parameter: /cc/vm
    workers: {instance_types: [c7i.large], max_instances: 4}
logs: {retention_days: 400}
";

/// List items as text: template strings (`"...${x}..."`) come back quoted.
fn unquoted(items: Vec<String>) -> Vec<String> {
    items.into_iter().map(|s| s.trim_matches('"').to_owned()).collect()
}

/// A private bucket: public access blocked, owner-enforced, encrypted (with the fleet's key when
/// it has one), TLS only, objects expiring and unfinished uploads aborted, no versioning.
#[test]
fn the_cache_bucket_is_private_encrypted_and_expires() {
    for (spec, key) in [
        (std::fs::read_to_string(common::root().join("examples/multi-pool/fleet.yaml")).expect("read"), None),
        (
            format!("{CACHE_SPEC_HEAD}cache: {{bucket: create, expiration_days: 3}}\n"),
            Some("arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
        ),
    ] {
        let files = render_spec(&spec);
        let cache = &files["cache.tf"];
        let bucket = resource(cache, "aws_s3_bucket", "cache").body();
        assert!(string(bucket, "bucket").contains("-cache-"));
        let block_public = resource(cache, "aws_s3_bucket_public_access_block", "cache").body();
        for setting in ["block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"] {
            assert_eq!(attr(block_public, setting).to_string(), "true", "{setting}");
        }
        let ownership = resource(cache, "aws_s3_bucket_ownership_controls", "cache").body();
        assert_eq!(string(block(ownership, "rule").body(), "object_ownership"), "BucketOwnerEnforced");
        let sse = resource(cache, "aws_s3_bucket_server_side_encryption_configuration", "cache").body();
        let default = block(block(sse, "rule").body(), "apply_server_side_encryption_by_default");
        match key {
            Some(key) => {
                assert_eq!(string(default.body(), "sse_algorithm"), "aws:kms");
                assert_eq!(string(default.body(), "kms_master_key_id"), key);
            }
            None => assert_eq!(string(default.body(), "sse_algorithm"), "AES256"),
        }
        let lifecycle = block(resource(cache, "aws_s3_bucket_lifecycle_configuration", "cache").body(), "rule");
        assert_eq!(string(lifecycle.body(), "status"), "Enabled");
        let days = number(block(lifecycle.body(), "expiration").body(), "days");
        assert_eq!(days, if key.is_some() { 3 } else { 14 });
        assert_eq!(
            number(block(lifecycle.body(), "abort_incomplete_multipart_upload").body(), "days_after_initiation"),
            1
        );
        assert!(!cache.blocks().any(|b| b.labels().first().is_some_and(|l| l.as_str() == "aws_s3_bucket_versioning")));
        let policy = data(cache, "aws_iam_policy_document", "cache_bucket").body();
        let deny = block(policy, "statement").body();
        assert_eq!(string(deny, "effect"), "Deny");
        let condition = block(deny, "condition").body();
        assert_eq!(
            (string(condition, "variable"), strings(condition, "values")),
            ("aws:SecureTransport".to_owned(), vec!["false".to_owned()])
        );
    }
}

/// Each pool whose runner uses the cache may get, put and delete objects under its own prefix and
/// list only that prefix; nothing else in the bucket; a pool of shell jobs on instances nothing.
#[test]
fn each_pool_reaches_only_its_own_cache_prefix() {
    for (shared, expected) in [
        (false, [("build", Some("build")), ("deploy", None), ("vm_manager", Some("vm"))]),
        (true, [("build", Some("shared")), ("deploy", None), ("vm_manager", Some("shared"))]),
    ] {
        let files = render_spec(&format!("{CACHE_SPEC_HEAD}cache: {{bucket: cc-shared-cache, shared: {shared}}}\n"));
        assert!(!files.contains_key("cache.tf"), "an existing bucket is not created");
        let iam = &files["iam.tf"];
        for (label, prefix) in expected {
            let doc = data(iam, "aws_iam_policy_document", label).body();
            let s3: Vec<&Block> =
                doc.blocks().filter(|b| strings(b.body(), "actions").iter().any(|a| a.starts_with("s3:"))).collect();
            let Some(prefix) = prefix else {
                assert!(s3.is_empty(), "{label}: a pool without the cache reaches the bucket");
                continue;
            };
            assert_eq!(s3.len(), 2, "{label}");
            for statement in s3 {
                let actions = strings(statement.body(), "actions");
                let resources = unquoted(strings(statement.body(), "resources"));
                if actions == ["s3:ListBucket"] {
                    assert_eq!(resources, ["arn:${local.partition}:s3:::cc-shared-cache"]);
                    let condition = block(statement.body(), "condition").body();
                    assert_eq!(string(condition, "variable"), "s3:prefix");
                    assert_eq!(strings(condition, "values"), [format!("{prefix}/*")]);
                } else {
                    assert_eq!(actions, ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], "{label}");
                    assert_eq!(
                        resources,
                        [format!("arn:${{local.partition}}:s3:::cc-shared-cache/{prefix}/*")],
                        "{label}"
                    );
                }
            }
            // An existing bucket's encryption is its owner's: no key rights are granted for it.
            assert!(!doc.blocks().any(|b| string(b.body(), "sid") == "CacheKeyThroughS3"), "{label}");
        }
    }
}

/// A log group per pool, kept as long as the spec says and encrypted with the fleet's key; each
/// pool's role writes streams into its own group only; its instances' agent is told that group.
#[test]
fn each_pool_ships_its_journal_to_its_own_log_group() {
    let files = render_spec(&format!("{CACHE_SPEC_HEAD}cache: {{bucket: create}}\n"));
    let logs = &files["logs.tf"];
    let iam = &files["iam.tf"];
    for (pool, label) in [("build", "build"), ("deploy", "deploy"), ("vm", "vm_manager")] {
        let group = resource(logs, "aws_cloudwatch_log_group", pool).body();
        assert_eq!(string(group, "name"), format!("/runnergen/cc/{pool}"));
        assert_eq!(number(group, "retention_in_days"), 400);
        assert!(string(group, "kms_key_id").starts_with("arn:aws:kms:eu-west-1:"));
        let doc = data(iam, "aws_iam_policy_document", label).body();
        let logs_statements: Vec<&Block> =
            doc.blocks().filter(|b| strings(b.body(), "actions").iter().any(|a| a.starts_with("logs:"))).collect();
        assert_eq!(logs_statements.len(), 1, "{label}");
        assert_eq!(strings(logs_statements[0].body(), "actions"), ["logs:CreateLogStream", "logs:PutLogEvents"]);
        let group_arn =
            format!("arn:${{local.partition}}:logs:eu-west-1:${{local.account_id}}:log-group:/runnergen/cc/{pool}");
        assert_eq!(
            unquoted(strings(logs_statements[0].body(), "resources")),
            [group_arn.clone(), format!("{group_arn}:log-stream:*")]
        );
    }
}

/// The CloudWatch agent's configuration in each pool's user data parses as JSON and names the
/// pool's group, a stream per instance and the region; fleets without `logs` have none.
#[test]
fn the_agent_is_told_its_pools_log_group() {
    let spec = common::root().join("examples/multi-pool/fleet.yaml");
    let fleet = runnergen::load_spec(&spec).map(|l| l.fleet).expect("loads");
    let dir = common::render_to_temp(&spec);
    for pool in &fleet.pools {
        let user_data = std::fs::read_to_string(dir.path().join(format!("terraform/user-data/{}.sh", pool.name)))
            .expect("user data");
        let json = user_data
            .split("<<'RUNNERGEN_CLOUDWATCH'\n")
            .nth(1)
            .and_then(|rest| rest.split("RUNNERGEN_CLOUDWATCH\n").next())
            .expect("the agent's configuration");
        let config: serde_json::Value = serde_json::from_str(json).expect("JSON");
        let entry = &config["logs"]["logs_collected"]["journald"]["collect_list"][0];
        assert_eq!(entry["log_group_name"], format!("/runnergen/acme-ci/{}", pool.name));
        assert_eq!(entry["log_stream_name"], "{instance_id}");
        assert_eq!(config["agent"]["region"], "eu-central-1");
        assert!(user_data.contains("amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s"));
    }
    let minimal = common::render_to_temp(&common::root().join("examples/minimal/fleet.yaml"));
    let user_data = std::fs::read_to_string(minimal.path().join("terraform/user-data/docker.sh")).expect("user data");
    assert!(!user_data.contains("cloudwatch"), "a fleet without logs ships nothing");
    assert!(!minimal.path().join("terraform/logs.tf").exists() && !minimal.path().join("terraform/cache.tf").exists());
}
