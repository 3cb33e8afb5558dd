//! The fallback of a spot group to on-demand capacity, read back from the rendered Terraform:
//! the alarms and rules that see one group short of spot capacity, the Automation document that
//! switches that group and back, and the role that may change that group and no other.

use std::collections::BTreeMap;

use hcl::{Block, Body, Expression};
use serde_json::{Value, json};

use crate::common::{self, root, run, runnergen};

const SPEC: &str = r"
version: 1
name: acme-ci
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
  - name: docker
    executor: docker
    instance_types: [m7i.large, m6i.large]
    spot: true
    on_demand_fallback: {after_minutes: 5}
    capacity: {min: 1, max: 10}
    token_parameter: /acme-ci/docker/runner-token
  - name: build
    topology: autoscaler
    executor: docker
    token_parameter: /acme-ci/build/runner-token
    workers: {instance_types: [c7i.large, c6i.large], spot: true, on_demand_fallback: {after_minutes: 3}, max_instances: 10}
  - name: plain
    executor: docker
    instance_types: [m7i.large, m6i.large]
    spot: true
    capacity: {min: 1, max: 4}
    token_parameter: /acme-ci/plain/runner-token
";

/// Every rendered `.tf` file, parsed, by file name.
fn render(spec: &str) -> BTreeMap<String, Body> {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("fleet.yaml");
    std::fs::write(&path, spec).expect("write the spec");
    let fleet = runnergen::load_spec(&path).map(|l| l.fleet).unwrap_or_else(|e| panic!("{}", e.render(false)));
    let plan = runnergen::render::render(&fleet).unwrap_or_else(|e| panic!("{}", e.render(false)));
    plan.iter()
        .filter(|(p, _)| p.ends_with(".tf"))
        .map(|(p, f)| {
            let name = p.rsplit('/').next().unwrap_or_default().to_owned();
            (name.clone(), hcl::parse(&f.contents).unwrap_or_else(|e| panic!("{name}: {e}")))
        })
        .collect()
}

fn find<'a>(body: &'a Body, kind: &str, ty: &str, name: &str) -> Option<&'a Block> {
    body.blocks().find(|b| {
        b.identifier() == kind
            && b.labels().len() == 2
            && b.labels()[0].as_str() == ty
            && b.labels()[1].as_str() == name
    })
}

fn resource<'a>(body: &'a Body, ty: &str, name: &str) -> &'a Body {
    find(body, "resource", ty, name).unwrap_or_else(|| panic!("no resource {ty}.{name}")).body()
}

fn attr<'a>(body: &'a Body, key: &str) -> &'a Expression {
    body.attributes().find(|a| a.key() == key).map(hcl::Attribute::expr).unwrap_or_else(|| panic!("no attribute {key}"))
}

fn value(body: &Body, key: &str) -> Value {
    common::hcl_json(attr(body, key))
}

fn blocks<'a>(body: &'a Body, identifier: &'a str) -> impl Iterator<Item = &'a Body> + 'a {
    body.blocks().filter(move |b| b.identifier() == identifier).map(Block::body)
}

/// (pool file, group label, group name, fallback label, minutes, fallback name) of each pool with
/// a fallback.
const FALLBACKS: [(&str, &str, &str, &str, i64, &str); 2] = [
    ("pool-docker.tf", "docker", "acme-ci-docker", "docker_spot_fallback", 5, "acme-ci-docker-spot-fallback"),
    (
        "pool-build.tf",
        "build_workers",
        "acme-ci-build-workers",
        "build_workers_spot_fallback",
        3,
        "acme-ci-build-spot-fallback",
    ),
];

#[test]
fn a_short_spot_group_is_seen_by_its_own_name_and_only_for_capacity_failures() {
    let files = render(SPEC);
    for (file, group_label, group, f, minutes, _) in FALLBACKS {
        let body = &files[file];
        let g = resource(body, "aws_autoscaling_group", group_label);
        assert_eq!(
            value(g, "enabled_metrics"),
            json!([
                "GroupDesiredCapacity",
                "GroupInServiceInstances",
                "GroupPendingInstances",
                "GroupStandbyInstances"
            ])
        );
        let lifecycle = blocks(g, "lifecycle").next().expect("a lifecycle block");
        let ignored = value(lifecycle, "ignore_changes");
        assert!(
            ignored.as_array().expect("a list").contains(&json!(runnergen::render::terraform::FALLBACK_OWNS)),
            "{file}: {ignored}"
        );

        // The launch failures: this group's, and only for lack of spot capacity.
        let rule = resource(body, "aws_cloudwatch_event_rule", &format!("{f}_short"));
        let pattern = value(rule, "event_pattern");
        assert_eq!(pattern["source"], json!(["aws.autoscaling"]));
        assert_eq!(pattern["detail-type"], json!(["EC2 Instance Launch Unsuccessful"]));
        assert_eq!(pattern["detail"]["AutoScalingGroupName"], json!([group]));
        let wildcards: Vec<String> = pattern["detail"]["StatusMessage"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|m| m["wildcard"].as_str().expect("a wildcard").to_owned())
            .collect();
        let matches = |message: &str| wildcards.iter().any(|w| wildcard(w, message));
        for capacity in [
            "Could not launch Spot Instances. InsufficientInstanceCapacity - There is no Spot capacity available that matches your request. Launching EC2 instance failed.",
            "Could not launch Spot Instances. MaxSpotInstanceCountExceeded - Max spot instance count exceeded. Launching EC2 instance failed.",
            "Could not launch Spot Instances. SpotMaxPriceTooLow - Your Spot request price of 0.001 is lower than the minimum required Spot request fulfillment price of 0.0312. Launching EC2 instance failed.",
        ] {
            assert!(matches(capacity), "{file}: not counted: {capacity}");
        }
        for other in [
            "The image id '[ami-0123456789abcdef0]' does not exist. Launching EC2 instance failed.",
            "You are not authorized to use launch template: acme-ci-docker. Launching EC2 instance failed.",
            "Your requested instance type (m7i.large) is not supported in your requested Availability Zone (eu-west-1c). Launching EC2 instance failed.",
            "We currently do not have sufficient m7i.large capacity in the Availability Zone you requested (eu-west-1a). Launching EC2 instance failed.",
        ] {
            assert!(!matches(other), "{file}: counted as short of spot: {other}");
        }
        let target = resource(body, "aws_cloudwatch_event_target", &format!("{f}_short"));
        assert_eq!(value(target, "arn"), json!(format!("aws_cloudwatch_log_group.{f}.arn")));
        let filter = blocks(resource(body, "aws_cloudwatch_log_metric_filter", f), "metric_transformation")
            .next()
            .expect("a transformation");
        assert_eq!(value(filter, "name"), json!("SpotCapacityLaunchFailures"));

        // Short for `minutes` in a row: desired minus what is there, every minute, of this group.
        let short = resource(body, "aws_cloudwatch_metric_alarm", &format!("{f}_short"));
        assert_eq!(value(short, "evaluation_periods"), json!(minutes));
        assert_eq!(value(short, "datapoints_to_alarm"), json!(minutes));
        let queries: Vec<&Body> = blocks(short, "metric_query").collect();
        assert_eq!(queries.len(), 5);
        assert_eq!(
            value(queries[0], "expression"),
            json!("desired - FILL(in_service, 0) - FILL(pending, 0) - FILL(standby, 0)")
        );
        for q in &queries[1..] {
            let metric = blocks(q, "metric").next().expect("a metric");
            assert_eq!(value(metric, "namespace"), json!("AWS/AutoScaling"));
            assert_eq!(value(metric, "period"), json!(60));
            assert_eq!(value(metric, "dimensions"), json!({"AutoScalingGroupName": group}));
        }
        let failed = resource(body, "aws_cloudwatch_metric_alarm", &format!("{f}_failed"));
        assert_eq!(value(failed, "dimensions"), json!({"AutoScalingGroupName": group}));
        assert_eq!(value(failed, "period"), json!(minutes * 60));
        assert_eq!(
            value(failed, "namespace"),
            json!(format!("runnergen/acme-ci/{}", group_label.trim_end_matches("_workers")))
        );
        let composite = resource(body, "aws_cloudwatch_composite_alarm", f);
        let rule_text = attr(composite, "alarm_rule").to_string();
        assert!(rule_text.contains(&format!("aws_cloudwatch_metric_alarm.{f}_short.alarm_name")), "{rule_text}");
        assert!(rule_text.contains(&format!("aws_cloudwatch_metric_alarm.{f}_failed.alarm_name")), "{rule_text}");
        assert!(rule_text.contains("ALARM(%q) AND ALARM(%q)"), "{rule_text}");
    }
}

/// `*` matches any run of characters, as in an EventBridge wildcard pattern.
fn wildcard(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else { return false };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            let Some(at) = rest.find(part) else { return false };
            rest = &rest[at + part.len()..];
        }
    }
    rest.is_empty()
}

#[test]
fn the_alarm_runs_a_document_that_switches_its_own_group_and_back() {
    let files = render(SPEC);
    for (file, _, group, f, _, _) in FALLBACKS {
        let body = &files[file];
        let rule = resource(body, "aws_cloudwatch_event_rule", f);
        let pattern = value(rule, "event_pattern");
        assert_eq!(pattern["detail-type"], json!(["CloudWatch Alarm State Change"]));
        assert_eq!(pattern["resources"], json!([format!("aws_cloudwatch_composite_alarm.{f}.arn")]));
        assert_eq!(pattern["detail"], json!({"state": {"value": ["ALARM"]}}));
        let target = resource(body, "aws_cloudwatch_event_target", f);
        let arn = value(target, "arn").as_str().expect("a string").to_owned();
        assert!(arn.contains(&format!(":automation-definition/${{aws_ssm_document.{f}.name}}:$DEFAULT")), "{arn}");
        assert_eq!(value(target, "role_arn"), json!(format!("aws_iam_role.{f}.arn")));

        let document = resource(body, "aws_ssm_document", f);
        assert_eq!(value(document, "document_type"), json!("Automation"));
        let content = value(document, "content");
        assert_eq!(content["assumeRole"], json!(format!("aws_iam_role.{f}.arn")));
        let steps = content["mainSteps"].as_array().expect("steps");
        let names: Vec<&str> = steps.iter().map(|s| s["name"].as_str().expect("a name")).collect();
        assert_eq!(
            names,
            [
                "readGroup",
                "onSpot",
                "alreadyOnDemand",
                "toOnDemand",
                "countOnDemand",
                "holdOnDemand",
                "toSpot",
                "countSpot",
                "rearm"
            ]
        );
        // Every API step that names a group names this one; the switches go 100 % then 0 %.
        let mut switches = Vec::new();
        for step in steps.iter().filter(|s| s["action"] == "aws:executeAwsApi") {
            let inputs = &step["inputs"];
            if inputs["Service"] == "autoscaling" {
                match inputs["Api"].as_str() {
                    Some("DescribeAutoScalingGroups") => assert_eq!(inputs["AutoScalingGroupNames"], json!([group])),
                    Some("UpdateAutoScalingGroup") => {
                        assert_eq!(inputs["AutoScalingGroupName"], json!(group));
                        let distribution = &inputs["MixedInstancesPolicy"]["InstancesDistribution"];
                        assert_eq!(distribution.as_object().map(serde_json::Map::len), Some(1), "{distribution}");
                        switches.push(distribution["OnDemandPercentageAboveBaseCapacity"].clone());
                    }
                    other => panic!("{file}: unexpected Auto Scaling call {other:?}"),
                }
            }
            if inputs["Api"] == "PutMetricData" {
                let dimensions = &inputs["MetricData"][0]["Dimensions"];
                assert_eq!(dimensions[0], json!({"Name": "AutoScalingGroupName", "Value": group}));
            }
        }
        assert_eq!(switches, [json!(100), json!(0)], "{file}");
        let hold = steps.iter().find(|s| s["name"] == "holdOnDemand").expect("a hold");
        assert_eq!(hold["inputs"]["Duration"], json!("PT30M"));
        let branch = &steps[1]["inputs"];
        assert_eq!(branch["Choices"][0]["NextStep"], json!("toOnDemand"));
        assert_eq!(branch["Choices"][0]["Variable"], json!("{{ readGroup.OnDemandPercent }}"));
        assert_eq!(branch["Choices"][0]["NumericEquals"], json!(0));
    }
}

#[test]
fn the_fallback_role_may_change_its_own_group_and_nothing_else() {
    let files = render(SPEC);
    let iam = &files["iam.tf"];
    for (_, group_label, _, f, _, name) in FALLBACKS {
        let assume = find(iam, "data", "aws_iam_policy_document", &format!("{f}_assume")).expect("a trust policy");
        let principals: Vec<Value> = blocks(assume.body(), "statement")
            .flat_map(|s| blocks(s, "principals"))
            .map(|p| value(p, "identifiers"))
            .collect();
        assert_eq!(principals, [json!(["events.amazonaws.com", "ssm.amazonaws.com"])]);
        let policy = find(iam, "data", "aws_iam_policy_document", f).expect("a policy");
        let mut writes = BTreeMap::new();
        for s in blocks(policy.body(), "statement") {
            let actions = value(s, "actions");
            let resources = value(s, "resources");
            for a in actions.as_array().expect("actions") {
                let a = a.as_str().expect("an action").to_owned();
                assert!(!a.contains('*'), "{f}: {a}");
                if resources == json!(["*"]) {
                    let conditioned = blocks(s, "condition").next().is_some();
                    assert!(
                        a == "autoscaling:DescribeAutoScalingGroups"
                            || (a == "cloudwatch:PutMetricData" && conditioned),
                        "{f}: {a} on every resource"
                    );
                } else {
                    writes.insert(a, resources.clone());
                }
            }
        }
        assert_eq!(
            writes.get("autoscaling:UpdateAutoScalingGroup"),
            Some(&json!([format!("aws_autoscaling_group.{group_label}.arn")]))
        );
        assert_eq!(
            writes.get("cloudwatch:SetAlarmState"),
            Some(&json!([format!("aws_cloudwatch_metric_alarm.{f}_short.arn")]))
        );
        assert_eq!(writes.get("iam:PassRole"), Some(&json!([format!("aws_iam_role.{f}.arn")])));
        assert_eq!(
            writes.get("ssm:StartAutomationExecution"),
            Some(&json!([format!(
                "arn:${{local.partition}}:ssm:eu-west-1:${{local.account_id}}:automation-definition/{name}:*"
            )]))
        );
        assert_eq!(writes.len(), 4, "{f}: {writes:?}");
    }
}

#[test]
fn a_spot_pool_without_fallback_renders_as_before() {
    let files = render(SPEC);
    let plain = &files["pool-plain.tf"];
    let g = resource(plain, "aws_autoscaling_group", "plain");
    assert!(g.attributes().all(|a| a.key() != "enabled_metrics"));
    for ty in ["aws_ssm_document", "aws_cloudwatch_composite_alarm", "aws_cloudwatch_event_rule"] {
        assert!(plain.blocks().all(|b| b.labels().first().map(hcl::BlockLabel::as_str) != Some(ty)), "{ty}");
    }
    assert!(find(&files["iam.tf"], "resource", "aws_iam_role", "plain_spot_fallback").is_none());
}

#[test]
fn plan_prices_the_ceiling_of_a_fallback_pool_at_on_demand() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let spec = dir.path().join("fleet.yaml");
    std::fs::write(&spec, SPEC).expect("write the spec");
    let prices = dir.path().join("prices.yaml");
    std::fs::write(
        &prices,
        "currency: USD\ninstance_types:\n  m7i.large: {on_demand: 0.1, spot: 0.04}\n  c7i.large: {on_demand: 0.09, spot: 0.03}\n  t3.small: {on_demand: 0.02}\n",
    )
    .expect("write prices");
    let out = run(runnergen()
        .arg("plan")
        .arg(&spec)
        .arg("--prices")
        .arg(&prices)
        .args(["--format", "json"])
        .current_dir(root()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plan: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let pools = plan["pools"].as_array().expect("pools");
    let pool = |name: &str| pools.iter().find(|p| p["name"] == name).expect("the pool").clone();
    let docker = pool("docker");
    let hours = &docker["instance_hours"];
    let cost = &docker["cost_per_week"];
    let close = |a: &Value, b: f64| (a.as_f64().expect("a number") - b).abs() < 0.01;
    assert!(close(&cost["max"], hours["max"].as_f64().expect("hours") * 0.1), "{docker}");
    assert!(close(&cost["min"], hours["min"].as_f64().expect("hours") * 0.04), "{docker}");
    assert_eq!(docker["cost_max_at"], json!("on-demand"));
    let plain = pool("plain");
    assert!(close(&plain["cost_per_week"]["max"], plain["instance_hours"]["max"].as_f64().expect("hours") * 0.04));
    assert!(plain.get("cost_max_at").is_none());
    assert_eq!(pool("build")["cost_max_at"], json!("on-demand"));
    let text = run(runnergen().arg("plan").arg(&spec).arg("--prices").arg(&prices).current_dir(root()));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("docker: spot with on_demand_fallback: cost max is at on-demand prices"), "{text}");
}
