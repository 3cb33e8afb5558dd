//! The runners' roles: each reads only its own token and publishes only its own metric, read back
//! from the generated HCL.

use runnergen::topology::Topology;

use crate::common;
use crate::tf::{block, data, number, parse, resource, runner_label, string, strings};

#[test]
fn roles_read_only_their_own_token_and_have_no_wildcard_action() {
    let (_imports, imported) = common::imported();
    for (name, spec) in common::examples().into_iter().chain(imported) {
        let dir = common::render_to_temp(&spec);
        let fleet = runnergen::load_spec(&spec).map(|l| l.fleet).unwrap_or_else(|e| panic!("{}", e.render(false)));
        let iam = parse(&dir.path().join("terraform/iam.tf"));
        for pool in &fleet.pools {
            let doc = data(&iam, "aws_iam_policy_document", &runner_label(pool));
            let mut token_reads = Vec::new();
            for statement in doc.body().blocks().filter(|b| b.identifier() == "statement") {
                let actions = strings(statement.body(), "actions");
                let resources = strings(statement.body(), "resources");
                for action in &actions {
                    assert!(!action.contains('*'), "{name}/{}: wildcard action {action}", pool.name);
                }
                // `*` only for actions without resource-level permissions: PutMetricData (held to
                // the namespace by a condition), the Session Manager agent's channels, the
                // read-only Describe calls of an autoscaler's manager and ECR's
                // GetAuthorizationToken (the pulls themselves are held to the listed repositories).
                if resources.iter().any(|r| r == "*") {
                    if actions == ["cloudwatch:PutMetricData"] {
                        assert!(
                            statement.body().blocks().any(|b| b.identifier() == "condition"),
                            "{name}: unconditioned *"
                        );
                    } else {
                        assert!(
                            actions.iter().all(|a| a.starts_with("ssmmessages:") || a.contains(":Describe"))
                                || actions == ["ecr:GetAuthorizationToken"],
                            "{name}: {actions:?} on *"
                        );
                    }
                }
                if actions.iter().any(|a| a.starts_with("ssm:Get")) {
                    token_reads.extend(resources);
                }
                // Decrypting is held to this pool's parameter by the encryption context.
                if actions.iter().any(|a| a == "kms:Decrypt") {
                    let context: Vec<String> = statement
                        .body()
                        .blocks()
                        .filter(|b| b.identifier() == "condition")
                        .filter(|b| string(b.body(), "variable") == "kms:EncryptionContext:PARAMETER_ARN")
                        .flat_map(|b| strings(b.body(), "values"))
                        .collect();
                    assert_eq!(context.len(), 1, "{name}/{}: kms:Decrypt without the parameter's context", pool.name);
                    assert!(context[0].ends_with(&format!(":parameter{}\"", pool.token_parameter)), "{}", context[0]);
                }
            }
            // Its own token; a manager also its own live settings, nothing else.
            let mut expected: Vec<String> = vec![format!(":parameter{}\"", pool.token_parameter)];
            expected.extend(pool.live_settings_parameter().map(|p| format!(":parameter{p}\"")));
            assert_eq!(token_reads.len(), expected.len(), "{name}/{}: {token_reads:?}", pool.name);
            for suffix in &expected {
                assert!(
                    token_reads.iter().any(|r| r.ends_with(suffix.as_str())),
                    "{name}/{}: {token_reads:?}",
                    pool.name
                );
            }
        }
    }
}

/// The metric a pool's instances publish, the one its policy tracks and the one its role may
/// publish are the same, and no pool's role may publish another pool's.
#[test]
fn each_pool_publishes_and_scales_on_its_own_metric_only() {
    for (name, spec) in common::examples() {
        let dir = common::render_to_temp(&spec);
        let fleet = runnergen::load_spec(&spec).map(|l| l.fleet).unwrap_or_else(|e| panic!("{}", e.render(false)));
        let iam = parse(&dir.path().join("terraform/iam.tf"));
        let mut namespaces = std::collections::BTreeSet::new();
        for pool in &fleet.pools {
            let p = pool.name.as_str();
            let Topology::Instance(instances) = &pool.topology else {
                // A manager's group does not scale: its role publishes nothing.
                let doc = data(&iam, "aws_iam_policy_document", &runner_label(pool));
                let publishes = doc
                    .body()
                    .blocks()
                    .any(|b| strings(b.body(), "actions").iter().any(|a| a.starts_with("cloudwatch:")));
                assert!(!publishes, "{name}/{p}: the manager may publish metrics");
                continue;
            };
            let settings = runnergen::settings::for_pool(&fleet, pool);
            let setting = |key: &str| match settings.iter().find(|(k, _)| *k == key).map(|(_, v)| v) {
                Some(runnergen::settings::Value::Word(w)) => w.clone(),
                other => panic!("{key}: {other:?}"),
            };
            let published = setting("RUNNERGEN_METRIC_NAMESPACE");
            let doc = data(&iam, "aws_iam_policy_document", p);
            let allowed: Vec<String> = doc
                .body()
                .blocks()
                .filter(|b| strings(b.body(), "actions") == ["cloudwatch:PutMetricData"])
                .flat_map(|b| b.body().blocks().filter(|c| c.identifier() == "condition").collect::<Vec<_>>())
                .inspect(|c| assert_eq!(string(c.body(), "variable"), "cloudwatch:namespace"))
                .flat_map(|c| strings(c.body(), "values"))
                .collect();
            assert_eq!(allowed, std::slice::from_ref(&published), "{name}/{p}");
            assert!(namespaces.insert(published.clone()), "{name}: two pools share {published}");
            if let runnergen::topology::Scaling::BusyPercent(_) = instances.scaling {
                let body = parse(&dir.path().join(format!("terraform/pool-{p}.tf")));
                let policy = resource(&body, "aws_autoscaling_policy", &format!("{p}_demand"));
                let tracking = block(policy.body(), "target_tracking_configuration");
                let metric = block(tracking.body(), "customized_metric_specification");
                assert_eq!(string(metric.body(), "namespace"), published, "{name}/{p}");
                let dimension = block(metric.body(), "metric_dimension");
                assert_eq!(string(dimension.body(), "name"), "AutoScalingGroupName");
                assert_eq!(string(dimension.body(), "value"), setting("RUNNERGEN_ASG_NAME"));
                assert_eq!(
                    setting("RUNNERGEN_ASG_NAME"),
                    string(resource(&body, "aws_autoscaling_group", p).body(), "name")
                );
                assert!(number(tracking.body(), "target_value") <= 95, "{name}/{p}: the metric never exceeds 100");
            }
        }
    }
}
