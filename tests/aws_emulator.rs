//! The lifecycle helpers with the real AWS CLI (awscli from PyPI) against a local AWS emulator
//! (moto's server on 127.0.0.1, installed by scripts/test), and the stand-in metadata service.
//! moto does not implement CompleteLifecycleAction and RecordLifecycleActionHeartbeat, so those two
//! calls, and only those, go to tests/standins/lifecycle_actions.py, which checks them against
//! moto's groups and hooks and passes every other Auto Scaling call on to moto.
//!
//! What the helpers call and with which names is not repeated here: the group, hook and metric
//! are read from the rendered Terraform.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

use hcl::{Body, Expression};

use crate::common;
use crate::lifecycle::{Aws, TOKEN, World, count};

/// moto and the lifecycle-action stand-in, stopped when dropped.
struct Emulator {
    processes: Vec<Child>,
    env: Vec<(String, String)>,
    bin: PathBuf,
    log: PathBuf,
    dir: tempfile::TempDir,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        for p in &mut self.processes {
            let _ = p.kill();
            let _ = p.wait();
        }
    }
}

impl Emulator {
    fn start() -> Emulator {
        let moto_server = common::tool_path("moto_server");
        let bin = moto_server.parent().expect("a folder").to_path_buf();
        assert!(bin.join("aws").is_file(), "the AWS CLI is not installed beside moto_server; run scripts/test");
        let dir = tempfile::tempdir().expect("a temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port();
        let moto = Command::new(&moto_server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let moto_url = format!("http://127.0.0.1:{port}");
        let mut processes = vec![moto];
        let up = (0..100).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(100));
            common::run(common::tool("curl").args(["-fsS", "-o", "/dev/null", &format!("{moto_url}/moto-api/")]))
                .status
                .success()
        });
        assert!(up, "moto_server did not answer on {moto_url}");
        let log = dir.path().join("lifecycle-actions.log");
        let mut proxy = common::tool("python3")
            .arg(common::root().join("tests/standins/lifecycle_actions.py"))
            .arg(&moto_url)
            .arg(&log)
            .stdout(Stdio::piped())
            .spawn()
            .expect("the lifecycle-action stand-in starts");
        let mut line = String::new();
        BufReader::new(proxy.stdout.take().expect("stdout")).read_line(&mut line).expect("its port");
        processes.push(proxy);
        let env = vec![
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            ("AWS_CONFIG_FILE", "/dev/null".to_owned()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".to_owned()),
            ("AWS_ENDPOINT_URL", moto_url),
            ("AWS_ENDPOINT_URL_AUTO_SCALING", format!("http://127.0.0.1:{}", line.trim())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        Emulator { processes, env, bin, log, dir }
    }

    /// The real AWS CLI against the emulator; asserts success and returns its standard output.
    fn aws(&self, args: &[&str]) -> String {
        let out = self.aws_output(args);
        common::assert_success(&out, &format!("aws {}", args.join(" ")));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn aws_output(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(self.bin.join("aws"));
        cmd.args(["--region", "eu-central-1", "--output", "text"]).args(args);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        common::run(&mut cmd)
    }

    /// The pool's runner token, as the operator (or runnergen's Terraform) puts it into SSM.
    fn token(&self, parameter: &str) {
        self.aws(&["ssm", "put-parameter", "--name", parameter, "--type", "SecureString", "--value", TOKEN]);
    }

    /// A launch template and an Auto Scaling group of `desired` instances, both named `name`.
    fn group(&self, name: &str, instance_type: &str, desired: u32) {
        let image = self.aws(&["ec2", "describe-images", "--owners", "amazon", "--query", "Images[0].ImageId"]);
        let subnet = self.aws(&["ec2", "describe-subnets", "--query", "Subnets[0].SubnetId"]);
        let data = format!("{{\"ImageId\":\"{image}\",\"InstanceType\":\"{instance_type}\"}}");
        self.aws(&["ec2", "create-launch-template", "--launch-template-name", name, "--launch-template-data", &data]);
        self.aws(&[
            "autoscaling",
            "create-auto-scaling-group",
            "--auto-scaling-group-name",
            name,
            "--launch-template",
            &format!("LaunchTemplateName={name}"),
            "--min-size",
            "0",
            "--max-size",
            "2",
            "--desired-capacity",
            &desired.to_string(),
            "--vpc-zone-identifier",
            &subnet,
        ]);
    }

    /// The lifecycle actions the stand-in accepted, each as its form fields.
    fn lifecycle_actions(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON"))
            .collect()
    }
}

fn block<'a>(body: &'a Body, kind: &str, labels: &[&str]) -> &'a hcl::Block {
    body.blocks()
        .find(|b| b.identifier() == kind && b.labels().iter().map(hcl::BlockLabel::as_str).eq(labels.iter().copied()))
        .unwrap_or_else(|| panic!("no {kind} {labels:?}"))
}

fn inner<'a>(body: &'a Body, kind: &str) -> &'a Body {
    body.blocks().find(|b| b.identifier() == kind).map(hcl::Block::body).unwrap_or_else(|| panic!("no {kind}"))
}

fn string(body: &Body, key: &str) -> String {
    match body.attributes().find(|a| a.key() == key).map(hcl::Attribute::expr) {
        Some(Expression::String(s)) => s.clone(),
        other => panic!("{key}: {other:?}"),
    }
}

/// The emulator, a helper world for the spec's first pool whose helpers call the real AWS CLI
/// against it, and that pool's rendered Terraform.
fn start(spec: &std::path::Path) -> (Emulator, World, Body) {
    let emulator = Emulator::start();
    let world = World::with(spec, 0, Aws::Real(emulator.env.clone()));
    // The helpers' PATH puts the stand-ins first: the real CLI goes there too.
    std::os::unix::fs::symlink(emulator.bin.join("aws"), world.path("bin/aws")).expect("link the AWS CLI");
    let pool = &world.fleet.pools[world.pool];
    let tf = hcl::from_str(
        &std::fs::read_to_string(world.path(&format!("terraform/pool-{}.tf", pool.name))).expect("pool tf"),
    )
    .expect("HCL");
    (emulator, world, tf)
}

#[test]
fn the_helpers_drive_real_aws_apis_as_the_terraform_expects() {
    let spec = crate::lifecycle::example("multi-pool");
    let (emulator, world, tf) = start(&spec);
    // What the pool's Terraform creates, as written there.
    let pool = &world.fleet.pools[world.pool];
    let group = block(&tf, "resource", &["aws_autoscaling_group", &pool.name]).body();
    let group_name = string(group, "name");
    let hook = inner(group, "initial_lifecycle_hook");
    let hook_name = string(hook, "name");
    let policy = block(&tf, "resource", &["aws_autoscaling_policy", &format!("{}_demand", pool.name)]).body();
    let metric = inner(inner(policy, "target_tracking_configuration"), "customized_metric_specification");
    let (namespace, metric_name) = (string(metric, "namespace"), string(metric, "metric_name"));
    let dimension = inner(metric, "metric_dimension");
    let (dimension_name, dimension_value) = (string(dimension, "name"), string(dimension, "value"));

    // The account: the token as a SecureString, the group with its drain hook and one instance.
    emulator.token(&pool.token_parameter);
    emulator.group(&group_name, "m7g.large", 1);
    emulator.aws(&[
        "autoscaling",
        "put-lifecycle-hook",
        "--auto-scaling-group-name",
        &group_name,
        "--lifecycle-hook-name",
        &hook_name,
        "--lifecycle-transition",
        &string(hook, "lifecycle_transition"),
        "--default-result",
        &string(hook, "default_result"),
    ]);
    let instance = emulator.aws(&[
        "autoscaling",
        "describe-auto-scaling-instances",
        "--query",
        "AutoScalingInstances[0].InstanceId",
    ]);
    assert!(instance.starts_with("i-"), "{instance}");
    world.set("imds/latest/meta-data/instance-id", &instance);

    // Registering reads the SecureString with decryption: gitlab-runner gets the token itself.
    let (ok, out) = world.run("runnergen-register", &[]);
    assert!(ok, "{out}");
    assert_eq!(count(&world.calls(), "gitlab-runner saw the token in CI_SERVER_TOKEN"), 1, "{out}");

    // The busy-slot metric lands exactly where the scaling policy looks.
    world.set("imds/metrics", "gitlab_runner_jobs{runner=\"a\",state=\"running\"} 3\ngitlab_runner_concurrent 4\n");
    let (ok, out) = world.run("runnergen-metrics", &[]);
    assert!(ok, "{out}");
    let samples = || {
        emulator.aws(&[
            "cloudwatch",
            "get-metric-statistics",
            "--namespace",
            &namespace,
            "--metric-name",
            &metric_name,
            "--dimensions",
            &format!("Name={dimension_name},Value={dimension_value}"),
            "--start-time",
            "2000-01-01T00:00:00Z",
            "--end-time",
            "2100-01-01T00:00:00Z",
            "--period",
            "3600000",
            "--statistics",
            "SampleCount",
            "Average",
            "--query",
            "Datapoints[0].[SampleCount,Average]",
        ])
    };
    assert_eq!(samples(), "1.0\t75.0");
    let listed = emulator.aws(&[
        "cloudwatch",
        "list-metrics",
        "--query",
        "Metrics[].[Namespace,MetricName,Dimensions[0].Name,Dimensions[0].Value]",
    ]);
    assert_eq!(
        listed,
        format!("{namespace}\t{metric_name}\t{dimension_name}\t{dimension_value}"),
        "one metric, one dimension"
    );

    // The group terminates the instance: heartbeats while the jobs finish, then the action is
    // completed, each accepted for an existing group, hook and instance.
    world.lifecycle_state("Terminated");
    world.set("standin/drain-polls", "4");
    let (ok, out) = world
        .run("runnergen-lifecycle", &[("RUNNERGEN_TEST_MAX_POLLS", "3"), ("RUNNERGEN_TEST_HEARTBEAT_SECONDS", "2")]);
    assert!(ok, "{out}");
    let actions = emulator.lifecycle_actions();
    let (heartbeats, completions): (Vec<_>, Vec<_>) =
        actions.iter().partition(|a| a["Action"] == "RecordLifecycleActionHeartbeat");
    assert!(!heartbeats.is_empty(), "no heartbeat: {actions:#?}\n{out}");
    assert_eq!(completions.len(), 1, "{actions:#?}");
    for action in &actions {
        assert_eq!(action["AutoScalingGroupName"], group_name.as_str());
        assert_eq!(action["LifecycleHookName"], hook_name.as_str());
        assert_eq!(action["InstanceId"], instance.as_str());
    }
    assert_eq!(completions[0]["Action"], "CompleteLifecycleAction");
    assert_eq!(completions[0]["LifecycleActionResult"], "CONTINUE");
    assert!(out.contains("unregistered this machine's runner manager"), "{out}");

    // A leaving instance publishes nothing more.
    world.lifecycle_state("InService");
    let (ok, out) = world.run("runnergen-metrics", &[]);
    assert!(ok && out.contains("it is leaving"), "{out}");
    assert_eq!(samples(), "1.0\t75.0");

    // The stand-in refuses what AWS would: another group's hook.
    let refused = emulator.aws_output(&[
        "autoscaling",
        "complete-lifecycle-action",
        "--auto-scaling-group-name",
        &group_name,
        "--lifecycle-hook-name",
        "another-hook",
        "--instance-id",
        &instance,
        "--lifecycle-action-result",
        "CONTINUE",
    ]);
    assert!(!refused.status.success(), "a lifecycle action for an unknown hook was accepted");
    assert_eq!(emulator.lifecycle_actions().len(), actions.len());
}

/// The manager gate's listing of its group, with the real AWS CLI against moto: it waits while
/// another instance of the manager group is alive and starts once it is alone.
#[test]
fn the_manager_gate_reads_a_real_group_listing() {
    let spec = crate::lifecycle::example("autoscaler");
    let (emulator, world, tf) = start(&spec);
    let pool = &world.fleet.pools[world.pool];
    let group_name =
        string(block(&tf, "resource", &["aws_autoscaling_group", &format!("{}_manager", pool.name)]).body(), "name");

    // A manager group caught mid-replacement: two instances.
    emulator.group(&group_name, "t4g.small", 2);
    let listed = emulator.aws(&[
        "autoscaling",
        "describe-auto-scaling-instances",
        "--query",
        "AutoScalingInstances[].InstanceId",
    ]);
    let ids: Vec<&str> = listed.split_whitespace().collect();
    assert_eq!(ids.len(), 2, "{listed}");
    let (this, other) = (ids[0], ids[1]);
    world.set("imds/latest/meta-data/instance-id", this);

    let (ok, out) = world.run("runnergen-manager-gate", &[("RUNNERGEN_TEST_GATE_LIMIT_SECONDS", "2")]);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("waiting for the other manager of {group_name} to finish draining: {other} InService")),
        "{out}"
    );
    assert!(!out.contains(&format!("{this} ")), "the gate waited for itself: {out}");
    assert!(out.contains("starting the runner anyway"), "{out}");

    // The other one leaves: this one starts at once.
    emulator.aws(&[
        "autoscaling",
        "terminate-instance-in-auto-scaling-group",
        "--instance-id",
        other,
        "--should-decrement-desired-capacity",
    ]);
    let (ok, out) = world.run("runnergen-manager-gate", &[]);
    assert!(ok, "{out}");
    assert!(out.contains(&format!("no other manager of {group_name} is alive")), "{out}");
}

/// A manager's live settings with the real AWS CLI against moto: the String parameter Terraform
/// creates from the module's file is what registration reads, and a changed parameter is what the
/// live settings' helper applies.
#[test]
fn a_manager_reads_its_live_settings_from_a_real_parameter() {
    let spec = crate::lifecycle::example("autoscaler");
    let (emulator, world, tf) = start(&spec);
    let pool = &world.fleet.pools[world.pool];
    let parameter = block(&tf, "resource", &["aws_ssm_parameter", &format!("{}_manager_settings", pool.name)]).body();
    let name = string(parameter, "name");
    assert_eq!(string(parameter, "type"), "String");
    let file = world.path(&format!("terraform/manager-settings/{}.toml", pool.name));
    let value = std::fs::read_to_string(&file).expect("the module's file");
    let put = |path: &std::path::Path| {
        let value = format!("file://{}", path.display());
        emulator.aws(&["ssm", "put-parameter", "--name", &name, "--type", "String", "--overwrite", "--value", &value]);
    };
    put(&file);
    emulator.token(&pool.token_parameter);

    let (ok, out) = world.run("runnergen-register", &[]);
    assert!(ok, "{out}");
    let read = std::fs::read_to_string(world.path("manager-settings.toml")).expect("read at registration");
    // The CLI's text output ends the value with a line break of its own.
    assert_eq!(read.trim_end(), value.trim_end());
    assert!(world.config().contains("[[runners]]"));

    let changed = world.path("changed.toml");
    std::fs::write(&changed, value.replace("idle_count = 2", "idle_count = 4")).expect("write");
    put(&changed);
    let (ok, out) = world.run("runnergen-manager-settings", &[]);
    assert!(ok, "{out}");
    let read = std::fs::read_to_string(world.path("manager-settings.toml")).expect("read again");
    assert!(read.contains("idle_count = 4"), "{read}");
    assert!(world.config().contains("idle_count = 4"), "{}", world.config());
}

/// An instance's scale-in protection with the real AWS CLI against moto: on while it runs a job,
/// off when idle, as the group itself reports it.
#[test]
fn an_instance_sets_its_own_scale_in_protection_on_a_real_group() {
    let spec = crate::lifecycle::example("multi-pool");
    let (emulator, world, tf) = start(&spec);
    let pool = &world.fleet.pools[world.pool];
    let group_name = string(block(&tf, "resource", &["aws_autoscaling_group", &pool.name]).body(), "name");
    emulator.group(&group_name, "m7g.large", 1);
    let id = emulator.aws(&[
        "autoscaling",
        "describe-auto-scaling-instances",
        "--query",
        "AutoScalingInstances[0].InstanceId",
    ]);
    world.set("imds/latest/meta-data/instance-id", &id);
    let protected = || {
        emulator.aws(&[
            "autoscaling",
            "describe-auto-scaling-instances",
            "--instance-ids",
            &id,
            "--query",
            "AutoScalingInstances[0].ProtectedFromScaleIn",
        ])
    };
    assert_eq!(protected(), "False");
    world.set("imds/metrics", "gitlab_runner_jobs{state=\"running\"} 2\n");
    let (ok, out) = world.run("runnergen-metrics", &[]);
    assert!(ok, "{out}");
    assert_eq!(protected(), "True", "{out}");
    world.set("imds/metrics", "gitlab_runner_concurrent 4\n");
    let (ok, out) = world.run("runnergen-metrics", &[]);
    assert!(ok, "{out}");
    assert_eq!(protected(), "False", "{out}");
}

/// The signals the helpers give, read back the way the dashboard reads them: the busy share by
/// the dashboard's own metric line, and the helpers' journal lines, put into the pool's log group,
/// by the metric filters' own patterns. moto's filter-log-events matches a quoted term as
/// CloudWatch Logs does, but not `?` alternatives (it returns every event): those patterns are
/// checked by the plain target's matcher against every message the helpers can write.
#[test]
fn the_dashboard_and_the_filters_find_what_the_helpers_send() {
    let spec = crate::lifecycle::example("multi-pool");
    let (emulator, world, _tf) = start(&spec);
    let pool = &world.fleet.pools[world.pool];
    let group_name = pool.runner_group();
    emulator.token(&pool.token_parameter);
    emulator.group(&group_name, "m7g.large", 1);
    let instance = emulator.aws(&[
        "autoscaling",
        "describe-auto-scaling-instances",
        "--query",
        "AutoScalingInstances[0].InstanceId",
    ]);
    world.set("imds/latest/meta-data/instance-id", &instance);

    let mut journal = String::new();
    let (ok, out) = world.run("runnergen-register", &[]);
    assert!(ok, "{out}");
    journal.push_str(&out);
    world.set("imds/metrics", "gitlab_runner_jobs{runner=\"a\",state=\"running\"} 2\n");
    let (ok, out) = world.run("runnergen-metrics", &[]);
    assert!(ok, "{out}");
    journal.push_str(&out);
    // The watch, heartbeating at every poll, until the group terminates the instance.
    let (_, out) = world.run(
        "runnergen-lifecycle",
        &[("RUNNERGEN_TEST_MAX_POLLS", "3"), ("RUNNERGEN_TEST_HEARTBEAT_METRIC_SECONDS", "0")],
    );
    journal.push_str(&out);
    world.lifecycle_state("Terminated");
    world.set("standin/drain-polls", "2");
    let (_, out) = world.run("runnergen-lifecycle", &[("RUNNERGEN_TEST_MAX_POLLS", "3")]);
    journal.push_str(&out);

    // The dashboard's busy line, as written, finds the helper's data point.
    let body: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(world.path("terraform/dashboard.json")).expect("the dashboard body"),
    )
    .expect("JSON");
    let namespace = world.fleet.metric_namespace(pool);
    let lines: Vec<Vec<serde_json::Value>> = body["widgets"]
        .as_array()
        .expect("widgets")
        .iter()
        .filter(|w| w["type"] == "metric")
        .flat_map(|w| w["properties"]["metrics"].as_array().cloned().unwrap_or_default())
        .filter_map(|l| l.as_array().cloned())
        .filter(|l| l[0] == namespace.as_str() && l.len() > 3)
        // The runner's own metrics come from the CloudWatch agent, which is not emulated here; a
        // spot fallback's switches from its Automation document (the fallback's tests send them).
        .filter(|l| !l[1].as_str().is_some_and(|name| name.starts_with("gitlab_runner_")))
        .filter(|l| l[1] != "SpotFallbackSwitches")
        .collect();
    // Each line of the helpers' metrics, queried as written, finds their data points: the busy
    // share (2 of 4 slots) and the three heartbeats of the watch.
    let mut found = std::collections::BTreeMap::new();
    for line in &lines {
        let text = |i: usize| line[i].as_str().expect("a string").to_owned();
        let options = &line[line.len() - 1];
        let query = serde_json::json!([{
            "Id": "q",
            "MetricStat": {
                "Metric": {"Namespace": text(0), "MetricName": text(1), "Dimensions": [{"Name": text(2), "Value": text(3)}]},
                "Period": 3600,
                "Stat": options["stat"].as_str().expect("a stat"),
            },
        }]);
        let values = emulator.aws(&[
            "cloudwatch",
            "get-metric-data",
            "--metric-data-queries",
            &query.to_string(),
            "--start-time",
            "2000-01-01T00:00:00Z",
            "--end-time",
            "2100-01-01T00:00:00Z",
            "--query",
            "MetricDataResults[0].Values",
        ]);
        found.insert(text(1), values);
    }
    assert_eq!(found["BusySlotsPercent"], "50.0", "2 of 4 slots busy");
    assert_eq!(found["LifecycleHeartbeat"], "3.0", "a heartbeat at each of three polls");
    assert_eq!(found.len(), 2, "{found:?}");

    // The journal in the pool's log group, and each single-term filter's pattern over it.
    let log_group = world.fleet.log_group(pool);
    emulator.aws(&["logs", "create-log-group", "--log-group-name", &log_group]);
    emulator.aws(&["logs", "create-log-stream", "--log-group-name", &log_group, "--log-stream-name", &instance]);
    // Events older than 14 days are refused: the journal is from now.
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_millis() as u64;
    let events: Vec<serde_json::Value> = journal
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| serde_json::json!({"timestamp": now + i as u64, "message": l}))
        .collect();
    emulator.aws(&[
        "logs",
        "put-log-events",
        "--log-group-name",
        &log_group,
        "--log-stream-name",
        &instance,
        "--log-events",
        &serde_json::Value::Array(events).to_string(),
    ]);
    let monitoring: Body =
        hcl::from_str(&std::fs::read_to_string(world.path("terraform/monitoring.tf")).expect("monitoring.tf"))
            .expect("HCL");
    let mut counted = std::collections::BTreeMap::new();
    for filter in monitoring.blocks().filter(|b| {
        b.identifier() == "resource"
            && b.labels()[0].as_str() == "aws_cloudwatch_log_metric_filter"
            && b.labels()[1].as_str().starts_with(&format!("{}_", pool.name))
    }) {
        let pattern = string(filter.body(), "pattern");
        if pattern.starts_with('?') {
            continue;
        }
        let metric = string(inner(filter.body(), "metric_transformation"), "name");
        let hits = emulator.aws(&[
            "logs",
            "filter-log-events",
            "--log-group-name",
            &log_group,
            "--filter-pattern",
            &pattern,
            "--query",
            "length(events)",
        ]);
        counted.insert(metric, hits);
    }
    let want: std::collections::BTreeMap<String, String> = [
        ("Registrations", "1"),
        ("Drains", "1"),
        ("SpotInterruptions", "0"),
        ("SpotJobsAborted", "0"),
        // The group here has no drain hook: completing the lifecycle action fails, and is counted.
        ("LifecycleActionFailures", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(counted, want, "journal:\n{journal}");
}

// ---------------------------------------------------------------------------------------------
// The spot fallback of the multi-pool example's docker pool, run minute by minute against moto.
// What moto lacks, and its stand-ins, are listed in tests/standins/spot_fallback.py: the shortage
// itself (group metrics, launch failures), metric filters, alarm evaluation and the composite
// alarm, the EventBridge target that starts the Automation document, and the Automation run; and,
// in tests/standins/lifecycle_actions.py, an UpdateAutoScalingGroup that changes only the
// instances distribution. The rule, its pattern and its delivery to the log, the group, the
// metrics, the alarms' definitions and states, and the document are moto's.

/// The emulator with the pool's group, rule, log group, alarms and document created from the
/// rendered Terraform, and the stand-in's settings.
struct FallbackWorld {
    emulator: Emulator,
    config: serde_json::Value,
    group: String,
    namespace: String,
    switch_metric: String,
    log_group: String,
    after_minutes: u32,
    retry_minutes: u32,
    _dir: tempfile::TempDir,
}

/// A rendered attribute as JSON, every Terraform reference in `refs` replaced by its value.
fn resolved(body: &Body, key: &str, refs: &[(String, String)]) -> serde_json::Value {
    fn walk(v: serde_json::Value, refs: &[(String, String)]) -> serde_json::Value {
        match v {
            serde_json::Value::String(s) => {
                serde_json::Value::String(refs.iter().find(|(k, _)| *k == s).map_or(s, |(_, value)| value.clone()))
            }
            serde_json::Value::Array(items) => items.into_iter().map(|x| walk(x, refs)).collect(),
            serde_json::Value::Object(map) => map.into_iter().map(|(k, x)| (k, walk(x, refs))).collect(),
            other => other,
        }
    }
    let expr =
        body.attributes().find(|a| a.key() == key).map(hcl::Attribute::expr).unwrap_or_else(|| panic!("no {key}"));
    walk(common::hcl_json(expr), refs)
}

fn fallback_world() -> FallbackWorld {
    const ACCOUNT: &str = "123456789012";
    let spec = crate::lifecycle::example("multi-pool");
    let fleet = runnergen::load_spec(&spec).map(|l| l.fleet).unwrap_or_else(|e| panic!("{}", e.render(false)));
    let pool = &fleet.pools[0];
    let fallback = pool.topology.kind().spot_fallback(&fleet, pool).expect("the docker pool falls back");
    let region = fleet.region.clone();
    let dir = common::render_to_temp(&spec);
    let read = |file: &str| -> Body {
        hcl::from_str(&std::fs::read_to_string(dir.path().join("terraform").join(file)).expect("a tf file"))
            .expect("HCL")
    };
    let (tf, iam) = (read(&format!("pool-{}.tf", pool.name)), read("iam.tf"));
    let f = fallback.label.as_str();
    let res = |ty: &str, name: &str| block(&tf, "resource", &[ty, name]).body();
    let group_body = res("aws_autoscaling_group", &fallback.group_label);
    let group = string(group_body, "name");
    assert_eq!(group, fallback.group_name);
    let emulator = Emulator::start();

    // The group as Terraform creates it: its mixed instances policy, on spot, wanting 3 instances.
    let mixed = inner(group_body, "mixed_instances_policy");
    let distribution = inner(mixed, "instances_distribution");
    let number = |b: &Body, k: &str| resolved(b, k, &[]);
    let overrides: Vec<serde_json::Value> = inner(mixed, "launch_template")
        .blocks()
        .filter(|b| b.identifier() == "override")
        .map(|b| serde_json::json!({"InstanceType": string(b.body(), "instance_type")}))
        .collect();
    let policy = serde_json::json!({
        "LaunchTemplate": {"LaunchTemplateSpecification": {"LaunchTemplateName": group, "Version": "$Latest"}, "Overrides": overrides},
        "InstancesDistribution": {
            "OnDemandBaseCapacity": number(distribution, "on_demand_base_capacity"),
            "OnDemandPercentageAboveBaseCapacity": number(distribution, "on_demand_percentage_above_base_capacity"),
            "SpotAllocationStrategy": string(distribution, "spot_allocation_strategy"),
        },
    });
    let image = emulator.aws(&["ec2", "describe-images", "--owners", "amazon", "--query", "Images[0].ImageId"]);
    let subnet = emulator.aws(&["ec2", "describe-subnets", "--query", "Subnets[0].SubnetId"]);
    let data = format!("{{\"ImageId\":\"{image}\"}}");
    emulator.aws(&["ec2", "create-launch-template", "--launch-template-name", &group, "--launch-template-data", &data]);
    emulator.aws(&[
        "autoscaling",
        "create-auto-scaling-group",
        "--auto-scaling-group-name",
        &group,
        "--mixed-instances-policy",
        &policy.to_string(),
        "--min-size",
        "0",
        "--max-size",
        "10",
        "--desired-capacity",
        "3",
        "--vpc-zone-identifier",
        &subnet,
    ]);

    // What Terraform's references stand for once applied.
    let log_group = string(res("aws_cloudwatch_log_group", f), "name");
    let short_alarm = string(res("aws_cloudwatch_metric_alarm", &format!("{f}_short")), "alarm_name");
    let composite = string(res("aws_cloudwatch_composite_alarm", f), "alarm_name");
    let document = string(res("aws_ssm_document", f), "name");
    let role = string(block(&iam, "resource", &["aws_iam_role", f]).body(), "name");
    let log_arn = format!("arn:aws:logs:{region}:{ACCOUNT}:log-group:{log_group}");
    let composite_arn = format!("arn:aws:cloudwatch:{region}:{ACCOUNT}:alarm:{composite}");
    let refs = vec![
        (format!("aws_cloudwatch_log_group.{f}.arn"), log_arn.clone()),
        (format!("aws_cloudwatch_composite_alarm.{f}.arn"), composite_arn.clone()),
        (format!("aws_cloudwatch_metric_alarm.{f}_short.alarm_name"), short_alarm.clone()),
        (format!("aws_iam_role.{f}.arn"), format!("arn:aws:iam::{ACCOUNT}:role/{role}")),
        (format!("aws_ssm_document.{f}.name"), document.clone()),
    ];

    // The rule that logs this group's spot launch failures, and its target.
    let rule = res("aws_cloudwatch_event_rule", &format!("{f}_short"));
    emulator.aws(&["logs", "create-log-group", "--log-group-name", &log_group]);
    let rule_name = string(rule, "name");
    let pattern = resolved(rule, "event_pattern", &refs).to_string();
    emulator.aws(&["events", "put-rule", "--name", &rule_name, "--event-pattern", &pattern]);
    let target = res("aws_cloudwatch_event_target", &format!("{f}_short"));
    let target_arn = resolved(target, "arn", &refs);
    assert_eq!(target_arn, serde_json::json!(log_arn));
    emulator.aws(&["events", "put-targets", "--rule", &rule_name, "--targets", &format!("Id=log,Arn={log_arn}")]);

    // The rule that starts the document when the composite alarm goes into alarm, and logs it.
    let rule = res("aws_cloudwatch_event_rule", f);
    let rule_name = string(rule, "name");
    let pattern = resolved(rule, "event_pattern", &refs).to_string();
    emulator.aws(&["events", "put-rule", "--name", &rule_name, "--event-pattern", &pattern]);
    let target = res("aws_cloudwatch_event_target", &format!("{f}_log"));
    assert_eq!(resolved(target, "arn", &refs), serde_json::json!(log_arn));
    emulator.aws(&["events", "put-targets", "--rule", &rule_name, "--targets", &format!("Id=log,Arn={log_arn}")]);

    // The two alarms, as rendered.
    let short = res("aws_cloudwatch_metric_alarm", &format!("{f}_short"));
    let metrics: Vec<serde_json::Value> = short
        .blocks()
        .filter(|b| b.identifier() == "metric_query")
        .map(|q| {
            let q = q.body();
            let id = string(q, "id");
            match q.blocks().find(|b| b.identifier() == "metric") {
                Some(m) => {
                    let m = m.body();
                    let dimensions = resolved(m, "dimensions", &refs);
                    let dimensions: Vec<serde_json::Value> = dimensions
                        .as_object()
                        .expect("a map")
                        .iter()
                        .map(|(k, v)| serde_json::json!({"Name": k, "Value": v}))
                        .collect();
                    serde_json::json!({"Id": id, "ReturnData": false, "MetricStat": {
                        "Metric": {"Namespace": string(m, "namespace"), "MetricName": string(m, "metric_name"), "Dimensions": dimensions},
                        "Period": number(m, "period"), "Stat": string(m, "stat")}})
                }
                None => serde_json::json!({"Id": id, "Expression": string(q, "expression"), "Label": string(q, "label"), "ReturnData": true}),
            }
        })
        .collect();
    let text = |b: &Body, k: &str| resolved(b, k, &refs).to_string().trim_matches('"').to_owned();
    emulator.aws(&[
        "cloudwatch",
        "put-metric-alarm",
        "--alarm-name",
        &short_alarm,
        "--comparison-operator",
        &text(short, "comparison_operator"),
        "--threshold",
        &text(short, "threshold"),
        "--evaluation-periods",
        &text(short, "evaluation_periods"),
        "--datapoints-to-alarm",
        &text(short, "datapoints_to_alarm"),
        "--treat-missing-data",
        &text(short, "treat_missing_data"),
        "--metrics",
        &serde_json::Value::Array(metrics).to_string(),
    ]);
    let failed = res("aws_cloudwatch_metric_alarm", &format!("{f}_failed"));
    let failures_alarm = string(failed, "alarm_name");
    emulator.aws(&[
        "cloudwatch",
        "put-metric-alarm",
        "--alarm-name",
        &failures_alarm,
        "--namespace",
        &text(failed, "namespace"),
        "--metric-name",
        &text(failed, "metric_name"),
        "--dimensions",
        &format!("Name=AutoScalingGroupName,Value={group}"),
        "--statistic",
        &text(failed, "statistic"),
        "--period",
        &text(failed, "period"),
        "--evaluation-periods",
        &text(failed, "evaluation_periods"),
        "--threshold",
        &text(failed, "threshold"),
        "--comparison-operator",
        &text(failed, "comparison_operator"),
        "--treat-missing-data",
        &text(failed, "treat_missing_data"),
    ]);

    // The document, with what its references stand for.
    let content = resolved(res("aws_ssm_document", f), "content", &refs).to_string();
    emulator.aws(&[
        "ssm",
        "create-document",
        "--name",
        &document,
        "--document-type",
        "Automation",
        "--document-format",
        "JSON",
        "--content",
        &content,
    ]);

    let env = |key: &str| emulator.env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).expect("set");
    let config = serde_json::json!({
        "region": region,
        "endpoint": env("AWS_ENDPOINT_URL"),
        "autoscaling_endpoint": env("AWS_ENDPOINT_URL_AUTO_SCALING"),
        "group": group,
        "after_minutes": fallback.after_minutes,
        "short_alarm": short_alarm,
        "failures_alarm": failures_alarm,
        "failures_metric": fallback.failures_metric,
        "log_group": log_group,
        "namespace": fallback.namespace,
        "composite": composite,
        "composite_arn": composite_arn,
        "document": document,
        "desired": 3,
    });
    FallbackWorld {
        config,
        group,
        namespace: fallback.namespace.clone(),
        switch_metric: fallback.switch_metric.to_owned(),
        log_group,
        after_minutes: fallback.after_minutes,
        retry_minutes: fallback.retry_minutes,
        emulator,
        _dir: dir,
    }
}

impl FallbackWorld {
    /// Runs `minutes` simulated minutes, spot short from `short_from` until `spot_back_at`, each
    /// failed launch failing with `failure`; returns the stand-in's timeline and API calls.
    fn simulate(&self, minutes: u32, short_from: u32, spot_back_at: u32, failure: &str) -> serde_json::Value {
        let mut config = self.config.clone();
        config["minutes"] = minutes.into();
        config["short_from"] = short_from.into();
        config["spot_back_at"] = spot_back_at.into();
        config["failure"] = failure.into();
        let file = self.emulator.dir.path().join("fallback.json");
        std::fs::write(&file, config.to_string()).expect("write the stand-in's settings");
        let mut cmd = Command::new(self.emulator.bin.join("python3"));
        cmd.arg(common::root().join("tests/standins/spot_fallback.py")).arg(&file);
        for (k, v) in &self.emulator.env {
            cmd.env(k, v);
        }
        let out = common::run(&mut cmd);
        common::assert_success(&out, "the spot fallback stand-in");
        serde_json::from_slice(&out.stdout).expect("the timeline as JSON")
    }

    /// The group's on-demand share above its base in each minute.
    fn shares(run: &serde_json::Value) -> Vec<u64> {
        run["timeline"]
            .as_array()
            .expect("a timeline")
            .iter()
            .map(|m| m["percent"].as_u64().expect("a share"))
            .collect()
    }

    /// The switches counted in the pool's namespace, to on-demand or to spot (real CloudWatch).
    fn switches(&self, to: &str) -> f64 {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs();
        let sum = self.emulator.aws(&[
            "cloudwatch",
            "get-metric-statistics",
            "--namespace",
            &self.namespace,
            "--metric-name",
            &self.switch_metric,
            "--dimensions",
            &format!("Name=AutoScalingGroupName,Value={}", self.group),
            &format!("Name=To,Value={to}"),
            "--statistics",
            "Sum",
            "--start-time",
            &(now - 3600).to_string(),
            "--end-time",
            &(now + 3600).to_string(),
            "--period",
            "7200",
            "--query",
            "sum(Datapoints[].Sum)",
        ]);
        sum.parse().unwrap_or(0.0)
    }

    /// The events in the pool's fallback log from `source`.
    fn logged(&self, source: &str) -> usize {
        let query = format!("length(events[?contains(message, '\"source\": \"{source}\"')])");
        let out =
            self.emulator.aws(&["logs", "filter-log-events", "--log-group-name", &self.log_group, "--query", &query]);
        out.parse().expect("a count")
    }
}

const SPOT_SHORT: &str = "Could not launch Spot Instances. InsufficientInstanceCapacity - There is no Spot capacity available that matches your request. Launching EC2 instance failed.";

#[test]
fn a_group_short_of_spot_goes_on_demand_after_its_minutes_and_back_to_spot() {
    let world = fallback_world();
    let a = world.after_minutes as usize;
    let hold = world.retry_minutes as usize;
    // Spot is short from minute 0 until minute 50: still short when the group first tries spot
    // again, back by the second try.
    let run = world.simulate(90, 0, 50, SPOT_SHORT);
    let shares = FallbackWorld::shares(&run);
    let mut expected = vec![0; 90];
    // `a` minutes short on spot, then on-demand for `hold`; spot again, still short: `a` more
    // minutes, on-demand for `hold`; then spot, which is back.
    for share in &mut expected[a..a + hold] {
        *share = 100;
    }
    for share in &mut expected[2 * a + hold..2 * a + 2 * hold] {
        *share = 100;
    }
    assert_eq!(shares, expected, "{run}");
    // Every switch is counted, by direction, and every failure is logged.
    assert_eq!(world.switches("on-demand"), 2.0);
    assert_eq!(world.switches("spot"), 2.0);
    assert_eq!(world.logged("aws.autoscaling"), 2 * a);
    assert_eq!(world.logged("aws.cloudwatch"), 2);
    // Every call the document made named this group, and only the on-demand share changed.
    let calls = run["calls"].as_array().expect("calls");
    let updates: Vec<&serde_json::Value> = calls.iter().filter(|c| c["api"] == "UpdateAutoScalingGroup").collect();
    assert_eq!(updates.len(), 4);
    for u in &updates {
        assert_eq!(u["params"]["AutoScalingGroupName"], serde_json::json!(world.group));
    }
    // The group is back on spot with the rest of its policy as Terraform made it.
    let policy = world.emulator.aws(&[
        "autoscaling",
        "describe-auto-scaling-groups",
        "--auto-scaling-group-names",
        &world.group,
        "--query",
        "AutoScalingGroups[0].MixedInstancesPolicy.[InstancesDistribution.OnDemandPercentageAboveBaseCapacity, InstancesDistribution.SpotAllocationStrategy, length(LaunchTemplate.Overrides)]",
    ]);
    assert_eq!(policy.split_whitespace().collect::<Vec<_>>(), ["0", "price-capacity-optimized", "3"]);
}

#[test]
fn a_group_that_fails_for_other_reasons_stays_on_spot() {
    let world = fallback_world();
    let run = world.simulate(
        20,
        0,
        1000,
        "The image id '[ami-0123456789abcdef0]' does not exist. Launching EC2 instance failed.",
    );
    assert!(FallbackWorld::shares(&run).iter().all(|s| *s == 0), "{run}");
    let timeline = run["timeline"].as_array().expect("a timeline");
    // Short all along, but no failure for lack of spot capacity: nothing switches.
    assert_eq!(timeline.last().expect("a minute")["short"], "ALARM");
    assert!(timeline.iter().all(|m| m["failures"] == "OK" && m["composite"] == "OK"), "{run}");
    assert_eq!(world.logged("aws.autoscaling"), 0);
    assert_eq!(world.logged("aws.cloudwatch"), 0);
    assert_eq!(world.switches("on-demand"), 0.0);
}
