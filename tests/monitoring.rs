//! Monitoring, read back from the rendered output: the groups' metrics, the metric filters
//! against the helpers' own messages, the alarms (thresholds, actions, missing data, the night
//! with no instance) and the dashboard's structure and metrics.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use hcl::{Body, Expression};

use crate::common::{self, root, run, runnergen};
use crate::tf::{attr, block, number, string, strings, tf_files};

const HEAD: &str = r#"
version: 1
name: mon
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
  fleeting_plugin_version: 1.0.0
pools:
  - name: build
    executor: docker
    instance_types: [t3.large]
    capacity: {min: 0, max: 6, desired: 0}
    token_parameter: /mon/build
    scaling: {busy_percent: 70}
    schedule:
      time_zone: Europe/Berlin
      windows:
        - {days: MON-FRI, from: "07:00", to: "19:00", capacity: {min: 1, max: 6, desired: 1}}
  - {name: deploy, executor: shell, instance_types: [t3.small], capacity: {min: 1, max: 1}, token_parameter: /mon/deploy}
  - name: vm
    topology: autoscaler
    executor: shell
    token_parameter: /mon/vm
    workers: {instance_types: [c7i.large], max_instances: 4}
"#;

fn write_spec(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::write(dir.path().join("fleet.yaml"), text).expect("write the spec");
    dir
}

/// Renders a spec: the output folder and every `.tf` file parsed.
fn render(text: &str) -> (tempfile::TempDir, BTreeMap<String, Body>) {
    let spec = write_spec(text);
    let out = common::render_to_temp(&spec.path().join("fleet.yaml"));
    let files = tf_files(out.path())
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).expect("read");
            (f.file_name().expect("a name").to_string_lossy().into_owned(), hcl::from_str(&text).expect("HCL"))
        })
        .collect();
    (out, files)
}

fn resources<'a>(body: &'a Body, ty: &'a str) -> impl Iterator<Item = (&'a str, &'a Body)> + 'a {
    body.blocks().filter(move |b| b.identifier() == "resource" && b.labels()[0].as_str() == ty).map(|b| {
        let labels = b.labels();
        (labels[1].as_str(), b.body())
    })
}

fn all_resources<'a>(files: &'a BTreeMap<String, Body>, ty: &'a str) -> Vec<(&'a str, &'a Body)> {
    files.values().flat_map(|b| resources(b, ty)).collect()
}

fn expr(body: &Body, key: &str) -> String {
    attr(body, key).to_string()
}

#[test]
fn without_monitoring_nothing_of_it_is_rendered() {
    let (out, files) = render(&format!("{HEAD}logs: {{retention_days: 30}}\n"));
    assert!(!files.contains_key("monitoring.tf"));
    assert!(!out.path().join("terraform/dashboard.json").exists());
    for (name, group) in all_resources(&files, "aws_autoscaling_group") {
        assert!(group.attributes().all(|a| a.key() != "enabled_metrics"), "{name} enables group metrics");
    }
}

/// Every group of a monitored fleet enables the group metrics that the dashboard and the ceiling
/// alarm read.
#[test]
fn every_group_publishes_its_group_metrics() {
    let (_out, files) = render(&format!("{HEAD}monitoring: {{dashboard: false}}\n"));
    let groups = all_resources(&files, "aws_autoscaling_group");
    assert_eq!(groups.len(), 4, "build, deploy, the vm manager and its workers");
    for (name, group) in groups {
        let metrics = strings(group, "enabled_metrics");
        for want in ["GroupDesiredCapacity", "GroupInServiceInstances", "GroupMaxSize", "GroupMinSize"] {
            assert!(metrics.iter().any(|m| m.trim_matches('"') == want), "{name} lacks {want}: {metrics:?}");
        }
    }
    assert!(resources(&files["monitoring.tf"], "aws_cloudwatch_dashboard").next().is_none());
}

/// A CloudWatch Logs filter pattern of quoted terms, one or several alternatives (`?"a" ?"b"`):
/// an event matches when it holds one of them (Filter and Pattern Syntax, "Matching terms in
/// unstructured log events").
fn pattern_terms(pattern: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut rest = pattern.trim();
    let several = rest.starts_with('?');
    while !rest.is_empty() {
        if several {
            rest = rest.strip_prefix('?').expect("each alternative starts with ?");
        }
        let inner = rest.strip_prefix('"').expect("a quoted term");
        let end = inner.find('"').expect("a closing quote");
        terms.push(inner[..end].to_owned());
        rest = inner[end + 1..].trim_start();
    }
    assert!(several || terms.len() == 1, "{pattern}: several terms without ? must all match; not used here");
    terms
}

fn matches(pattern: &str, event: &str) -> bool {
    pattern_terms(pattern).iter().any(|t| event.contains(t.as_str()))
}

/// Every message a helper logs, as the journal shows it (`name: message`), its shell variables
/// left as they are written: the double-quoted argument of each `log`, `log_error` and `die`.
fn helper_messages(helper: &Path) -> Vec<String> {
    let name = helper.file_name().expect("a name").to_string_lossy().into_owned();
    let text = std::fs::read_to_string(helper).expect("read a helper");
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
        for call in ["log \"", "log_error \"", "die \""] {
            let mut from = 0;
            while let Some(at) = line[from..].find(call) {
                let start = from + at + call.len();
                let preceded = from + at == 0 || !line.as_bytes()[from + at - 1].is_ascii_alphanumeric();
                let Some(len) = line[start..].find('"') else { break };
                if preceded {
                    out.push(format!("{name}: {}", &line[start..start + len]));
                }
                from = start + len;
            }
        }
    }
    assert!(out.len() > 5, "{name}: only {} messages found", out.len());
    out
}

/// The metric filters match the helpers' actual messages: each signal's messages and no other
/// message of the helpers (the registrations do not count "already registered", the failures do
/// not count an attempt that will be retried).
#[test]
fn the_metric_filters_match_the_helpers_own_messages() {
    let spec = std::fs::read_to_string(root().join("examples/multi-pool/fleet.yaml")).expect("read");
    let (out, files) = render(&spec);
    let helpers = out.path().join("packer/files");
    let mut messages = helper_messages(&helpers.join("runnergen-register"));
    messages.extend(helper_messages(&helpers.join("runnergen-lifecycle")));
    messages.extend(helper_messages(&helpers.join("runnergen-metrics")));
    // systemd's line when the runner unit's stop timeout ends (src/core/service.c).
    let systemd = "runnergen-runner.service: State 'stop-sigterm' timed out. Killing.".to_owned();
    messages.push(systemd.clone());
    let filters: Vec<(String, String)> = resources(&files["monitoring.tf"], "aws_cloudwatch_log_metric_filter")
        .filter(|(label, _)| label.starts_with("docker_"))
        .map(|(_, f)| (string(block(f, "metric_transformation").body(), "name"), string(f, "pattern")))
        .collect();
    let want: BTreeMap<&str, Vec<&str>> = [
        ("Registrations", vec!["runnergen-register: registered $name with"]),
        (
            "RegistrationFailures",
            vec![
                "runnergen-register: registration failed $attempts times",
                "does not hold a runner authentication token (glrt-...)",
            ],
        ),
        ("Drains", vec!["runnergen-lifecycle: the group is terminating this instance"]),
        (
            "DrainsAtBound",
            vec!["runnergen-lifecycle: the runner is still stopping after the pool's job timeout", systemd.as_str()],
        ),
        ("SpotInterruptions", vec!["runnergen-lifecycle: spot interruption notice"]),
        ("SpotJobsAborted", vec!["runnergen-lifecycle: jobs still running: aborting them"]),
        ("LifecycleActionFailures", vec!["runnergen-lifecycle: could not complete the lifecycle action"]),
    ]
    .into_iter()
    .collect();
    assert_eq!(filters.iter().map(|(m, _)| m.as_str()).collect::<BTreeSet<_>>(), want.keys().copied().collect());
    for (metric, pattern) in &filters {
        let matched: Vec<&String> = messages.iter().filter(|m| matches(pattern, m)).collect();
        let expected = &want[metric.as_str()];
        assert_eq!(matched.len(), expected.len(), "{metric} ({pattern}) matches {matched:#?}");
        for e in expected {
            assert!(matched.iter().any(|m| m.contains(e)), "{metric} misses `{e}`; it matches {matched:#?}");
        }
    }
    // Case matters and the line's text is all that is matched: the journal's wrapping around it
    // (a JSON record, a timestamp) does not change it.
    let wrapped = format!("{{\"MESSAGE\":\"{}\",\"_PID\":\"812\"}}", "runnergen-register: registration failed 5 times");
    let failures = &filters.iter().find(|(m, _)| m == "RegistrationFailures").expect("the filter").1;
    assert!(matches(failures, &wrapped));
    // The counts have no default value: no data point while nothing happens.
    for (_, f) in resources(&files["monitoring.tf"], "aws_cloudwatch_log_metric_filter") {
        let t = block(f, "metric_transformation").body();
        assert!(t.attributes().all(|a| a.key() != "default_value"));
        assert_eq!(string(t, "value"), "1");
    }
}

/// The ceiling alarm's expression, `IF(desired >= max AND max > min, 1, 0)`, evaluated as
/// CloudWatch's metric math does for one minute's values.
fn ceiling(expression: &str, desired: f64, max: f64, min: f64) -> u8 {
    let inner = expression.strip_prefix("IF(").and_then(|e| e.strip_suffix(", 1, 0)")).expect("IF(cond, 1, 0)");
    let value = |name: &str| match name {
        "desired" => desired,
        "max" => max,
        "min" => min,
        other => panic!("unknown id {other}"),
    };
    let all = inner.split(" AND ").all(|cmp| {
        let parts: Vec<&str> = cmp.split_whitespace().collect();
        let [a, op, b] = parts.as_slice() else { panic!("a comparison: {cmp}") };
        let (a, b) = (value(a), value(b));
        match *op {
            ">=" => a >= b,
            ">" => a > b,
            other => panic!("operator {other}"),
        }
    });
    u8::from(all)
}

/// The alarms: a runbook line each, the fleet's topic on alarm and on recovery, the thresholds,
/// and missing data not breaching, so that a pool a schedule scales to zero pages nobody at
/// night.
#[test]
fn the_alarms_page_for_real_problems_and_never_for_a_sleeping_pool() {
    let spec = format!(
        "{HEAD}logs: {{retention_days: 30}}\nmonitoring:\n  alarms: {{sns_topic_arn: \
         \"arn:aws:sns:eu-west-1:123456789012:ci-alerts\", at_ceiling_minutes: 20}}\n"
    );
    let (_out, files) = render(&spec);
    let monitoring = &files["monitoring.tf"];
    assert!(resources(monitoring, "aws_sns_topic").next().is_none(), "an existing topic: none created");
    let locals = monitoring.blocks().find(|b| b.identifier() == "locals").expect("locals").body();
    assert_eq!(string(locals, "alarm_topic"), "arn:aws:sns:eu-west-1:123456789012:ci-alerts");
    let alarms: BTreeMap<&str, &Body> = resources(monitoring, "aws_cloudwatch_metric_alarm").collect();
    let names: BTreeSet<String> = alarms.values().map(|a| string(a, "alarm_name")).collect();
    for pool in ["build", "deploy", "vm"] {
        for what in ["registration-failing", "drain-at-bound", "at-ceiling", "lifecycle-helper-silent"] {
            assert!(names.contains(&format!("mon-{pool}-{what}")), "mon-{pool}-{what} in {names:?}");
        }
    }
    for (label, alarm) in &alarms {
        assert!(string(alarm, "alarm_description").contains("Runbook: "), "{label}");
        assert_eq!(string(alarm, "treat_missing_data"), "notBreaching", "{label}");
        for actions in ["alarm_actions", "ok_actions"] {
            let Expression::Array(items) = attr(alarm, actions) else { panic!("{label}: {actions} is a list") };
            assert_eq!(items.iter().map(ToString::to_string).collect::<Vec<_>>(), ["local.alarm_topic"], "{label}");
        }
        assert_eq!(string(alarm, "comparison_operator"), "GreaterThanOrEqualToThreshold", "{label}");
        assert_eq!(number(alarm, "threshold"), 1, "{label}");
    }
    let failing = alarms["build_registration_failing"];
    assert_eq!(string(failing, "metric_name"), "RegistrationFailures");
    assert_eq!(string(failing, "namespace"), "runnergen/mon/build");
    assert_eq!((string(failing, "statistic").as_str(), number(failing, "period")), ("Sum", 300));
    assert_eq!(number(failing, "evaluation_periods"), 1);
    assert!(string(failing, "alarm_description").contains("/mon/build"), "names the token parameter");

    // The ceiling: 20 one-minute points, all at the maximum, of the group whose size is the
    // pool's capacity (an autoscaler pool's workers).
    let ceilings: Vec<(&str, &Body)> =
        alarms.iter().filter(|(l, _)| l.ends_with("_at_ceiling")).map(|(l, a)| (*l, *a)).collect();
    for (label, alarm) in &ceilings {
        assert_eq!(number(alarm, "evaluation_periods"), 20, "{label}");
        assert_eq!(number(alarm, "datapoints_to_alarm"), 20, "{label}");
        let queries: Vec<&Body> =
            alarm.blocks().filter(|b| b.identifier() == "metric_query").map(hcl::Block::body).collect();
        let expression = queries.iter().find_map(|q| q.attributes().find(|a| a.key() == "expression")).expect("math");
        let Expression::String(expression) = expression.expr() else { panic!("a string") };
        let group =
            if label.starts_with("vm") { "mon-vm-workers" } else { &format!("mon-{}", &label[..label.len() - 11]) };
        for q in queries.iter().filter(|q| q.blocks().next().is_some()) {
            let m = block(q, "metric").body();
            assert_eq!(string(m, "namespace"), "AWS/AutoScaling");
            assert_eq!(number(m, "period"), 60);
            let Expression::Object(dims) = attr(m, "dimensions") else { panic!("dimensions") };
            let value = dims.values().next().expect("one dimension").to_string();
            assert_eq!(value.trim_matches('"'), group, "{label}");
        }
        // At night the schedule sets the group to 0 of 0 (or to its base capacity, 0 to 6 with
        // 0 desired): not at a ceiling. A fixed-size pool (1 of 1) never is. A pool that wants
        // its maximum while it could grow further is.
        assert_eq!(ceiling(expression, 0.0, 0.0, 0.0), 0, "{label}: a pool scaled to zero");
        assert_eq!(ceiling(expression, 0.0, 6.0, 0.0), 0, "{label}: idle at night");
        assert_eq!(ceiling(expression, 1.0, 1.0, 1.0), 0, "{label}: a fixed-size pool");
        assert_eq!(ceiling(expression, 6.0, 6.0, 1.0), 1, "{label}: at its maximum");
        assert_eq!(ceiling(expression, 5.0, 6.0, 1.0), 0, "{label}: below it");
    }
    assert_eq!(ceilings.len(), 3);

    // The lifecycle helpers' heartbeats against the runner group's instances in service, over
    // two five-minute periods. At night, with no instance, it is 0 whether or not any heartbeat
    // arrives; with instances and no heartbeat at all (FILL) it is 1.
    for (label, alarm) in alarms.iter().filter(|(l, _)| l.ends_with("_lifecycle_helper_silent")) {
        assert_eq!((number(alarm, "evaluation_periods"), number(alarm, "datapoints_to_alarm")), (2, 2), "{label}");
        let queries: Vec<&Body> =
            alarm.blocks().filter(|b| b.identifier() == "metric_query").map(hcl::Block::body).collect();
        let expression = queries.iter().find_map(|q| q.attributes().find(|a| a.key() == "expression")).expect("math");
        let Expression::String(expression) = expression.expr() else { panic!("a string") };
        let group = if label.starts_with("vm") {
            "mon-vm-manager".to_owned()
        } else {
            format!("mon-{}", label.split('_').next().expect("a pool"))
        };
        for q in queries.iter().filter(|q| q.blocks().next().is_some()) {
            let m = block(q, "metric").body();
            let Expression::Object(dims) = attr(m, "dimensions") else { panic!("dimensions") };
            assert_eq!(dims.values().next().expect("one dimension").to_string().trim_matches('"'), group, "{label}");
            assert_eq!(number(m, "period"), 300);
        }
        assert_eq!(silent(expression, 0.0, None), 0, "{label}: no instance, no heartbeat");
        assert_eq!(silent(expression, 0.0, Some(2.0)), 0, "{label}: the last heartbeats of an instance gone");
        assert_eq!(silent(expression, 2.0, Some(10.0)), 0, "{label}: two instances, five heartbeats each");
        assert_eq!(silent(expression, 2.0, Some(9.0)), 0, "{label}: a heartbeat late");
        assert_eq!(silent(expression, 2.0, None), 1, "{label}: instances and no heartbeat");
        assert_eq!(silent(expression, 3.0, Some(5.0)), 1, "{label}: one helper of three left");
    }
}

/// The heartbeat alarm's expression, `IF(in_service > 0 AND FILL(beats, 0) < in_service * N, 1, 0)`,
/// for one period's values (`beats` missing when no heartbeat arrived).
fn silent(expression: &str, in_service: f64, beats: Option<f64>) -> u8 {
    let inner = expression.strip_prefix("IF(").and_then(|e| e.strip_suffix(", 1, 0)")).expect("IF(cond, 1, 0)");
    let side = |text: &str| -> f64 {
        let mut product = 1.0;
        for factor in text.split(" * ") {
            product *= match factor.trim() {
                "in_service" => in_service,
                "FILL(beats, 0)" => beats.unwrap_or(0.0),
                "beats" => beats.unwrap_or(f64::NAN),
                n => n.parse().unwrap_or_else(|_| panic!("a number: {n}")),
            };
        }
        product
    };
    let all = inner.split(" AND ").all(|cmp| {
        let (a, op, b) = [" >= ", " > ", " < "]
            .iter()
            .find_map(|op| cmp.split_once(op).map(|(a, b)| (a, op.trim(), b)))
            .unwrap_or_else(|| panic!("a comparison: {cmp}"));
        let (a, b) = (side(a), side(b));
        match op {
            ">=" => a >= b,
            ">" => a > b,
            _ => a < b,
        }
    });
    u8::from(all)
}

#[test]
fn an_address_gets_a_topic_of_its_own() {
    let spec = format!("{HEAD}monitoring: {{alarms: {{email: \"ops@example.com\"}}}}\n");
    let (_out, files) = render(&spec);
    let monitoring = &files["monitoring.tf"];
    let topic = resources(monitoring, "aws_sns_topic").next().expect("a topic").1;
    assert_eq!(string(topic, "name"), "mon-alarms");
    let subscription = resources(monitoring, "aws_sns_topic_subscription").next().expect("a subscription").1;
    assert_eq!(
        (string(subscription, "protocol"), string(subscription, "endpoint")),
        ("email".into(), "ops@example.com".into())
    );
    // Without logs no message is counted: only the ceiling and heartbeat alarms exist.
    let alarms: Vec<String> = resources(monitoring, "aws_cloudwatch_metric_alarm").map(|(l, _)| l.to_owned()).collect();
    assert_eq!(
        alarms,
        [
            "build_at_ceiling",
            "build_lifecycle_helper_silent",
            "deploy_at_ceiling",
            "deploy_lifecycle_helper_silent",
            "vm_at_ceiling",
            "vm_lifecycle_helper_silent"
        ]
    );
}

/// What the fleet publishes, read from the output: the group metrics each group enables, EC2's
/// CPU by group for the runner groups, the busy share the metrics helper sends with the pool's
/// settings, and each metric filter's count.
/// A metric: namespace, name and dimensions.
type Metric = (String, String, Vec<(String, String)>);

fn published(out: &Path, files: &BTreeMap<String, Body>) -> BTreeSet<Metric> {
    let mut set = BTreeSet::new();
    let dims = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
    for (_, group) in all_resources(files, "aws_autoscaling_group") {
        let name = string(group, "name");
        for metric in strings(group, "enabled_metrics") {
            set.insert((
                "AWS/AutoScaling".into(),
                metric.trim_matches('"').to_owned(),
                dims(&[("AutoScalingGroupName", name.as_str())]),
            ));
        }
        set.insert(("AWS/EC2".into(), "CPUUtilization".into(), dims(&[("AutoScalingGroupName", name.as_str())])));
    }
    // Each helper's put-metric-data: its metric name and dimension, sent with the pool's settings
    // from every instance whose user data starts the helper's unit.
    for (helper, unit) in
        [("runnergen-metrics", "runnergen-metrics.timer"), ("runnergen-lifecycle", "runnergen-lifecycle.service")]
    {
        let text = std::fs::read_to_string(out.join("packer/files").join(helper)).expect("a helper");
        let Some(call) = text.split("put-metric-data").nth(1) else { continue };
        let metric_name =
            call.split("--metric-name ").nth(1).and_then(|s| s.split_whitespace().next()).expect("a name");
        let dimension = call.split("--dimensions \"").nth(1).and_then(|s| s.split('=').next()).expect("a dimension");
        assert!(call.contains("--namespace \"$RUNNERGEN_METRIC_NAMESPACE\""), "{helper}");
        assert!(call.contains(&format!("{dimension}=$RUNNERGEN_ASG_NAME")), "{helper}");
        for entry in std::fs::read_dir(out.join("terraform/user-data")).expect("user data") {
            let text = std::fs::read_to_string(entry.expect("an entry").path()).expect("read");
            let setting = |key: &str| text.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).map(str::to_owned);
            if let (Some(namespace), Some(group)) =
                (setting("RUNNERGEN_METRIC_NAMESPACE"), setting("RUNNERGEN_ASG_NAME"))
                && text.contains(unit)
            {
                set.insert((namespace, metric_name.to_owned(), dims(&[(dimension, group.as_str())])));
            }
        }
    }
    // The runner's metrics the CloudWatch agent extracts, with the scrape's group label as their
    // one dimension.
    for entry in std::fs::read_dir(out.join("terraform/user-data")).expect("user data") {
        let text = std::fs::read_to_string(entry.expect("an entry").path()).expect("read");
        let (Some(agent), Some(scrape)) =
            (heredoc(&text, "RUNNERGEN_CLOUDWATCH"), heredoc(&text, "RUNNERGEN_PROMETHEUS"))
        else {
            continue;
        };
        let prometheus = &agent["logs"]["metrics_collected"]["prometheus"]["emf_processor"];
        let group = scrape["scrape_configs"][0]["static_configs"][0]["labels"]["AutoScalingGroupName"]
            .as_str()
            .expect("a group");
        for declaration in prometheus["metric_declaration"].as_array().expect("declarations") {
            assert_eq!(declaration["dimensions"], serde_json::json!([["AutoScalingGroupName"]]));
            for selector in declaration["metric_selectors"].as_array().expect("selectors") {
                let name = selector.as_str().expect("a string").trim_start_matches('^').trim_end_matches('$');
                set.insert((
                    prometheus["metric_namespace"].as_str().expect("a namespace").to_owned(),
                    name.to_owned(),
                    dims(&[("AutoScalingGroupName", group)]),
                ));
            }
        }
    }
    for (_, filter) in all_resources(files, "aws_cloudwatch_log_metric_filter") {
        let t = block(filter, "metric_transformation").body();
        set.insert((string(t, "namespace"), string(t, "name"), Vec::new()));
    }
    // The Automation documents' own PutMetricData steps (a spot fallback's switches).
    for (_, document) in all_resources(files, "aws_ssm_document") {
        let content = common::hcl_json(attr(document, "content"));
        for step in content["mainSteps"].as_array().into_iter().flatten() {
            let inputs = &step["inputs"];
            if inputs["Api"] != "PutMetricData" {
                continue;
            }
            for datum in inputs["MetricData"].as_array().into_iter().flatten() {
                let dimensions = datum["Dimensions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|d| {
                        (
                            d["Name"].as_str().unwrap_or_default().to_owned(),
                            d["Value"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect();
                set.insert((
                    inputs["Namespace"].as_str().expect("a namespace").to_owned(),
                    datum["MetricName"].as_str().expect("a name").to_owned(),
                    dimensions,
                ));
            }
        }
    }
    set
}

/// A file user data writes (`cat >"$tmp" <<'MARK'` ... `MARK`), parsed as JSON.
fn heredoc(user_data: &str, mark: &str) -> Option<serde_json::Value> {
    let start = user_data.find(&format!("<<'{mark}'\n"))? + mark.len() + 4;
    let end = start + user_data[start..].find(&format!("{mark}\n"))?;
    Some(serde_json::from_str(&user_data[start..end]).expect("JSON"))
}

/// Every Prometheus metric gitlab-runner 19.3.0 exports, by the file that defines it (`Name:` of
/// its collectors and the names of its `prometheus.NewDesc` calls, read at tag v19.3.0).
const RUNNER_19_3_METRICS: &[(&str, &[&str])] = &[
    (
        "commands/builds_helper.go",
        &[
            "gitlab_runner_jobs",
            "gitlab_runner_request_concurrency",
            "gitlab_runner_request_concurrency_exceeded_total",
            "gitlab_runner_request_concurrency_hard_limit",
            "gitlab_runner_request_concurrency_adaptive_limit",
            "gitlab_runner_request_concurrency_used_limit",
            "gitlab_runner_jobs_total",
            "gitlab_runner_job_execution_mode_total",
            "gitlab_runner_job_duration_seconds",
            "gitlab_runner_job_queue_duration_seconds",
            "gitlab_runner_job_queue_size",
            "gitlab_runner_job_queue_depth",
            "gitlab_runner_acceptable_job_queuing_duration_exceeded_total",
            "gitlab_runner_job_stage_duration_seconds",
        ],
    ),
    (
        "commands/multi.go",
        &[
            "gitlab_runner_concurrent",
            "gitlab_runner_limit",
            "gitlab_runner_worker_feeds_total",
            "gitlab_runner_worker_feed_failures_total",
            "gitlab_runner_worker_slots_number",
            "gitlab_runner_worker_slot_operations_total",
            "gitlab_runner_worker_processing_failures_total",
        ],
    ),
    ("commands/health_helper.go", &["gitlab_runner_worker_health_check_failures_total"]),
    ("helpers/prometheus/log_hook.go", &["gitlab_runner_errors_total"]),
    (
        "network/api_requests_collector.go",
        &[
            "gitlab_runner_api_request_statuses_total",
            "gitlab_runner_api_request_duration_seconds",
            "gitlab_runner_api_request_retries_total",
        ],
    ),
    ("common/version.go", &["gitlab_runner_version_info"]),
];

/// The histograms among them, which the CloudWatch agent drops.
const RUNNER_19_3_HISTOGRAMS: &[&str] = &[
    "gitlab_runner_job_duration_seconds",
    "gitlab_runner_job_queue_duration_seconds",
    "gitlab_runner_job_stage_duration_seconds",
    "gitlab_runner_api_request_duration_seconds",
];

/// The runner's metrics: the agent scrapes the runner's own endpoint, keeps only metrics the
/// pinned runner exports (and no histogram, which the agent would drop), gives them the pool's
/// runner group as their one dimension (a label of the scrape, never one of the runner's, which
/// would make a metric per runner manager and job state), into the pool's namespace through a
/// log group that only the pool's role may write; the queue-time alarm reads the runner's count
/// with the threshold the runner's template sets.
#[test]
fn the_runner_metrics_are_the_pinned_runners_own() {
    let spec = std::fs::read_to_string(root().join("examples/multi-pool/fleet.yaml")).expect("read");
    assert!(spec.contains("runner_version: 19.3.0") && spec.contains("runner_metrics: true"));
    let (out, files) = render(&spec);
    let exported: BTreeSet<&str> = RUNNER_19_3_METRICS.iter().flat_map(|(_, names)| names.iter().copied()).collect();
    let register = std::fs::read_to_string(out.path().join("packer/files/runnergen-register")).expect("register");
    let listen =
        register.split("listen_address = \\\"").nth(1).and_then(|s| s.split('\\').next()).expect("listen_address");
    let fleet = runnergen::load_spec(&root().join("examples/multi-pool/fleet.yaml")).map(|l| l.fleet).expect("valid");
    for pool in &fleet.pools {
        let user_data =
            std::fs::read_to_string(out.path().join(format!("terraform/user-data/{}.sh", pool.name))).expect("read");
        let agent = heredoc(&user_data, "RUNNERGEN_CLOUDWATCH").expect("the agent's configuration");
        let scrape = heredoc(&user_data, "RUNNERGEN_PROMETHEUS").expect("the scrape");
        let prometheus = &agent["logs"]["metrics_collected"]["prometheus"];
        assert_eq!(prometheus["prometheus_config_path"], "/etc/runnergen/prometheus.yaml");
        assert!(user_data.contains("mv -f \"$tmp\" /etc/runnergen/prometheus.yaml"));
        let job = &scrape["scrape_configs"][0];
        assert_eq!(job["static_configs"][0]["targets"], serde_json::json!([listen]), "the runner's listen_address");
        let labels = job["static_configs"][0]["labels"].as_object().expect("labels");
        assert_eq!(labels.keys().collect::<Vec<_>>(), ["AutoScalingGroupName"]);
        assert_eq!(labels["AutoScalingGroupName"], pool.runner_group().as_str());
        let emf = &prometheus["emf_processor"];
        assert_eq!(emf["metric_namespace"], format!("runnergen/acme-ci/{}", pool.name).as_str());
        let declarations = emf["metric_declaration"].as_array().expect("declarations");
        assert_eq!(declarations.len(), 1);
        let d = &declarations[0];
        assert_eq!(
            (d["source_labels"].clone(), d["label_matcher"].as_str()),
            (serde_json::json!(["job"]), Some(format!("^{}$", job["job_name"].as_str().expect("a job")).as_str()))
        );
        for label in
            d["dimensions"].as_array().expect("dimension sets").iter().flat_map(|set| set.as_array().expect("a set"))
        {
            assert!(labels.contains_key(label.as_str().expect("a label")), "{label} is not the scrape's label");
        }
        let selectors: Vec<&str> = d["metric_selectors"]
            .as_array()
            .expect("selectors")
            .iter()
            .map(|v| v.as_str().expect("a string"))
            .collect();
        assert!(selectors.len() >= 8, "{selectors:?}");
        for selector in selectors {
            let name = selector.strip_prefix('^').and_then(|s| s.strip_suffix('$')).expect("an exact name");
            assert!(exported.contains(name), "gitlab-runner 19.3.0 exports no `{name}`");
            assert!(!RUNNER_19_3_HISTOGRAMS.contains(&name), "`{name}` is a histogram, which the agent drops");
        }
        // The events' log group: created, kept a day, written only by the pool's role.
        let group = prometheus["log_group_name"].as_str().expect("a log group");
        let made = all_resources(&files, "aws_cloudwatch_log_group")
            .into_iter()
            .find(|(_, g)| string(g, "name") == group)
            .expect("created");
        assert_eq!(number(made.1, "retention_in_days"), 1);
        let iam = std::fs::read_to_string(out.path().join("terraform/iam.tf")).expect("iam.tf");
        assert!(iam.contains(&format!("log-group:{group}:log-stream:*")), "the role may write {group}");
        // The queue count's threshold, in the runner's template.
        let template = user_data.split("<<'RUNNERGEN_TEMPLATE'\n").nth(1).expect("a runner template");
        let template: toml::Value =
            toml::from_str(template.split("RUNNERGEN_TEMPLATE\n").next().expect("its end")).expect("TOML");
        let queuing = &template["runners"][0]["monitoring"]["job_queuing_durations"][0];
        assert_eq!(queuing["threshold"].as_str(), Some("300s"));
        assert_eq!(queuing["periods"].as_array().map(Vec::len), Some(1));
    }
    // The alarm: the share of jobs that waited too long, from the runner's two counters.
    let alarm = resources(&files["monitoring.tf"], "aws_cloudwatch_metric_alarm")
        .find(|(l, _)| *l == "docker_queue_time")
        .expect("the alarm")
        .1;
    let names: Vec<String> = alarm
        .blocks()
        .filter(|b| b.identifier() == "metric_query")
        .filter_map(|b| b.body().blocks().next().map(|m| string(m.body(), "metric_name")))
        .collect();
    assert_eq!(names, ["gitlab_runner_acceptable_job_queuing_duration_exceeded_total", "gitlab_runner_jobs_total"]);
    assert_eq!(string(alarm, "treat_missing_data"), "notBreaching");
    assert!(
        string(alarm, "alarm_description").contains("over 300 s")
            && string(alarm, "alarm_description").contains("Runbook: ")
    );
}

/// The dashboard: CloudWatch's body structure (widgets on a 24-column grid, none overlapping),
/// a row per pool, and every metric it shows one the fleet publishes.
#[test]
fn the_dashboard_has_a_row_per_pool_of_published_metrics() {
    for spec in [
        std::fs::read_to_string(root().join("examples/multi-pool/fleet.yaml")).expect("read"),
        format!("{HEAD}logs: {{}}\nmonitoring: {{}}\n"),
        format!("{HEAD}monitoring: {{dashboard: true}}\n"),
    ] {
        let (out, files) = render(&spec);
        let dashboard = resources(&files["monitoring.tf"], "aws_cloudwatch_dashboard").next().expect("a dashboard").1;
        assert!(expr(dashboard, "dashboard_body").contains("/dashboard.json"), "the generated body");
        let body: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.path().join("terraform/dashboard.json")).expect("the body"),
        )
        .expect("JSON");
        let published = published(out.path(), &files);
        let widgets = body["widgets"].as_array().expect("widgets");
        let region = if spec.contains("eu-central-1") { "eu-central-1" } else { "eu-west-1" };
        let mut cells = BTreeSet::new();
        let mut headers = Vec::new();
        let mut shown = 0;
        for w in widgets {
            let n = |k: &str| w[k].as_u64().unwrap_or_else(|| panic!("{k} in {w}"));
            assert!(n("width") >= 1 && n("x") + n("width") <= 24 && n("height") >= 1, "{w}");
            for x in n("x")..n("x") + n("width") {
                for y in n("y")..n("y") + n("height") {
                    assert!(cells.insert((x, y)), "widgets overlap at {x},{y}");
                }
            }
            match w["type"].as_str() {
                Some("text") => headers.push(w["properties"]["markdown"].as_str().expect("markdown").to_owned()),
                Some("metric") => {
                    let p = &w["properties"];
                    assert_eq!(p["region"], region);
                    assert!(p["title"].is_string() && p["view"] == "timeSeries");
                    for line in p["metrics"].as_array().expect("metrics") {
                        let parts = line.as_array().expect("a metric line");
                        let (names, options) = parts.split_at(parts.len() - 1);
                        assert!(options[0].is_object(), "options last: {line}");
                        let text: Vec<String> = names.iter().map(|v| v.as_str().expect("strings").to_owned()).collect();
                        assert!(
                            text.len() >= 2 && text.len().is_multiple_of(2),
                            "namespace, name, dimension pairs: {line}"
                        );
                        let dims = text[2..].chunks(2).map(|c| (c[0].clone(), c[1].clone())).collect();
                        let key = (text[0].clone(), text[1].clone(), dims);
                        assert!(published.contains(&key), "{key:?} is shown but nothing publishes it");
                        shown += 1;
                    }
                }
                other => panic!("widget type {other:?}"),
            }
        }
        let pools: Vec<String> =
            headers.iter().map(|h| h.lines().next().expect("a title").replace("## Pool ", "")).collect();
        let fleet = runnergen::load_spec(&write_spec(&spec).path().join("fleet.yaml")).map(|l| l.fleet).expect("valid");
        assert_eq!(pools, fleet.pools.iter().map(|p| p.name.clone()).collect::<Vec<_>>(), "a row per pool");
        assert!(headers[0].contains("MON-FRI 07:00"), "the schedule's windows: {}", headers[0]);
        assert!(shown >= 6 * fleet.pools.len(), "{shown} lines");
    }
}

/// The picture in docs/monitoring.md is the multi-pool example's dashboard, drawn by runnergen.
/// `RUNNERGEN_UPDATE_DOCS=1 cargo test --locked dashboard_picture` redraws it.
#[test]
fn the_dashboard_picture_in_the_docs_is_the_examples() {
    let body: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("examples/multi-pool/runnergen-out/terraform/dashboard.json"))
            .expect("read"),
    )
    .expect("JSON");
    let svg = runnergen::render::monitoring::dashboard_svg(&body);
    let path = root().join("docs/monitoring-dashboard.svg");
    if std::env::var_os("RUNNERGEN_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &svg).expect("write the picture");
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == svg,
        "docs/monitoring-dashboard.svg is stale; run `RUNNERGEN_UPDATE_DOCS=1 cargo test --locked dashboard_picture`"
    );
    assert!(svg.matches("<rect").count() > widgets_in(&body), "a box per widget");
}

fn widgets_in(body: &serde_json::Value) -> usize {
    body["widgets"].as_array().map_or(0, Vec::len)
}

#[test]
fn alarms_need_one_destination_in_the_fleets_region() {
    for (alarms, message) in [
        ("{at_ceiling_minutes: 30}", "the alarms have nowhere to go"),
        ("{email: ops@example.com, sns_topic_arn: \"arn:aws:sns:eu-west-1:123456789012:a\"}", "not both"),
        (
            "{sns_topic_arn: \"arn:aws:sns:us-east-1:123456789012:a\"}",
            "the topic is in us-east-1, the fleet in eu-west-1",
        ),
        ("{email: ops@example.com, at_ceiling_minutes: 2}", "at_ceiling_minutes"),
        ("{email: ops@example.com, queue_seconds_p90: 300}", "needs the runner's own metrics"),
    ] {
        let spec = write_spec(&format!("{HEAD}monitoring: {{alarms: {alarms}}}\n"));
        let out = run(runnergen().arg("validate").arg(spec.path().join("fleet.yaml")));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{alarms}: {stderr}");
        assert!(stderr.contains(message), "{alarms}: {stderr}");
    }
    let spec = write_spec(&format!("{HEAD}monitoring: {{alarms: {{email: ops@example.com}}}}\n"));
    let out = run(runnergen().arg("validate").arg(spec.path().join("fleet.yaml")));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("not watched") && stderr.contains("logs"), "a warning without logs: {stderr}");
}

/// `plan` adds what monitoring costs a month from the price list's `cloudwatch:` entry: the
/// custom metrics, the alarms' metrics, the dashboard, and the heartbeats' requests by the
/// runner instances' hours.
#[test]
fn plan_counts_what_monitoring_costs() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let prices = dir.path().join("prices.yaml");
    let list = "currency: USD\ninstance_types:\n  m7g.large: {on_demand: 0.0816, spot: 0.0327}\n  \
                m6g.large: {on_demand: 0.077}\n  c7g.xlarge: {on_demand: 0.145}\n  t4g.medium: {on_demand: 0.0336}\n";
    let cloudwatch =
        "cloudwatch: {metric_month: 0.30, alarm_metric_month: 0.10, dashboard_month: 3.00, requests_1000: 0.01}\n";
    std::fs::write(&prices, format!("{list}{cloudwatch}")).expect("write the prices");
    let spec = root().join("examples/multi-pool/fleet.yaml");
    let out = run(runnergen().args(["plan", "--format", "json", "--prices"]).arg(&prices).arg(&spec));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let m = &plan["monitoring"];
    // Two pools with logs and the runner's metrics: seven counts, a heartbeat and nine of the
    // runner's metrics each; two count alarms, the ceiling's three metrics, the heartbeat alarm's
    // two and the queue alarm's two each; one dashboard.
    assert_eq!(
        (m["custom_metrics"].as_u64(), m["alarm_metrics"].as_u64(), m["dashboards"].as_u64()),
        (Some(34), Some(18), Some(1))
    );
    // The runner instances' desired hours a month, a heartbeat a minute.
    let hours = plan["total"]["instance_hours_per_month"]["desired"].as_f64().expect("hours");
    let requests = m["put_metric_data_requests_per_month"]["desired"].as_f64().expect("requests");
    assert!((requests - hours * 60.0).abs() < 1.0, "{requests} requests for {hours} h");
    let cost = m["cost_per_month"]["desired"].as_f64().expect("a cost");
    let want = 34.0 * 0.30 + 18.0 * 0.10 + 3.00 + requests / 1000.0 * 0.01;
    assert!((cost - want).abs() < 0.001, "{cost} != {want}");
    assert_eq!(m["currency"], "USD");

    // Without CloudWatch's prices: the counts, no cost, and the text says what to add.
    std::fs::write(&prices, list).expect("write the prices");
    let out = run(runnergen().args(["plan", "--prices"]).arg(&prices).arg(&spec));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Monitoring, a month: 34 custom metrics, 18 alarm metrics, 1 dashboard"), "{text}");
    assert!(text.contains("add `cloudwatch:` prices"), "{text}");
    // A fleet without monitoring says nothing of it.
    let out = run(runnergen().args(["plan", "--format", "json"]).arg(root().join("examples/minimal/fleet.yaml")));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(plan.get("monitoring").is_none());
}

/// Every alarm description fits AWS's 1024 characters, with the longest names the spec allows.
#[test]
fn alarm_descriptions_fit_awss_limit() {
    let token = format!("/{}", "t".repeat(1010));
    let spec = format!(
        "version: 1\nname: {fleet}\naws: {{region: eu-west-1, vpc_id: vpc-0123456789abcdef0, subnet_ids: \
         [subnet-0123456789abcdef0]}}\ngitlab: {{url: https://gitlab.example.com}}\nimage: {{os: ubuntu-24.04, arch: \
         x86_64, runner_version: 19.3.0}}\npools:\n  - {{name: {pool}, executor: shell, instance_types: [t3.small], \
         capacity: {{min: 1, max: 2}}, token_parameter: \"{token}\"}}\nlogs: {{}}\nmonitoring: {{runner_metrics: true, \
         alarms: {{email: ops@example.com, queue_seconds_p90: 86400}}}}\n",
        fleet = "f".repeat(20),
        pool = "p".repeat(20),
    );
    let (_out, files) = render(&spec);
    let alarms: Vec<(&str, &Body)> = resources(&files["monitoring.tf"], "aws_cloudwatch_metric_alarm").collect();
    assert_eq!(alarms.len(), 5);
    for (label, alarm) in alarms {
        let description = string(alarm, "alarm_description");
        assert!(description.chars().count() <= 1024, "{label}: {} characters", description.chars().count());
        assert!(description.contains("Runbook: "), "{label}");
    }
}

/// A spot pool's fallback: its composite alarm (spot capacity short, on-demand filling in) also
/// notifies the fleet's alarms' topic, and its group keeps one list of group metrics.
#[test]
fn the_spot_fallback_tells_the_fleets_topic() {
    let spec = std::fs::read_to_string(root().join("examples/multi-pool/fleet.yaml")).expect("read");
    let (_out, files) = render(&spec);
    let composite = all_resources(&files, "aws_cloudwatch_composite_alarm");
    assert_eq!(composite.len(), 1, "the docker pool's fallback");
    for actions in ["alarm_actions", "ok_actions"] {
        let Expression::Array(items) = attr(composite[0].1, actions) else { panic!("{actions} is a list") };
        assert_eq!(items.iter().map(ToString::to_string).collect::<Vec<_>>(), ["local.alarm_topic"]);
    }
    let group =
        all_resources(&files, "aws_autoscaling_group").into_iter().find(|(l, _)| *l == "docker").expect("docker").1;
    assert_eq!(group.attributes().filter(|a| a.key() == "enabled_metrics").count(), 1);
    let metrics = strings(group, "enabled_metrics");
    for fallback_reads in
        ["GroupDesiredCapacity", "GroupInServiceInstances", "GroupPendingInstances", "GroupStandbyInstances"]
    {
        assert!(metrics.iter().any(|m| m.trim_matches('"') == fallback_reads), "{fallback_reads}: {metrics:?}");
    }
}
