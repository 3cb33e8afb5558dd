//! Autoscaler pools: the manager group, the worker group, their network and the manager's role,
//! read back from the generated HCL of every example.

use std::collections::BTreeMap;

use hcl::{Block, Body};

use runnergen::topology::Topology;

use crate::common;
use crate::tf::{all_blocks, attr, block, data, labeled_one, number, parse, resource, string, strings, tf_files};

/// Every autoscaler pool of every example, with its fleet and its rendered Terraform files.
fn autoscaler_pools() -> Vec<(String, runnergen::Fleet, usize, BTreeMap<String, Body>)> {
    let mut out = Vec::new();
    for (name, spec) in common::examples() {
        let fleet = runnergen::load_spec(&spec).map(|l| l.fleet).unwrap_or_else(|e| panic!("{}", e.render(false)));
        let dir = common::render_to_temp(&spec);
        let files: BTreeMap<String, Body> = tf_files(dir.path())
            .iter()
            .map(|f| (f.file_name().expect("a name").to_string_lossy().into_owned(), parse(f)))
            .collect();
        for (i, pool) in fleet.pools.iter().enumerate() {
            if matches!(pool.topology, Topology::Autoscaler(_)) {
                out.push((name.clone(), fleet.clone(), i, files.clone()));
            }
        }
    }
    assert!(!out.is_empty(), "no example has an autoscaler pool");
    out
}

/// The worker group belongs to the manager's plugin: none of what would remove or replace
/// workers under running jobs, or fight the plugin over the group's size.
#[test]
fn worker_groups_have_nothing_that_fights_the_plugin() {
    for (name, fleet, i, files) in autoscaler_pools() {
        let pool = &fleet.pools[i];
        let Topology::Autoscaler(a) = &pool.topology else { unreachable!() };
        let p = &pool.name;
        let body = &files[&format!("pool-{p}.tf")];
        let group = resource(body, "aws_autoscaling_group", &format!("{p}_workers"));
        let g = group.body();
        for forbidden in ["instance_refresh", "initial_lifecycle_hook", "warm_pool", "instance_maintenance_policy"] {
            assert!(g.blocks().all(|b| b.identifier() != forbidden), "{name}/{p}: workers have {forbidden}");
        }
        assert!(g.attributes().all(|a| a.key() != "max_instance_lifetime"), "{name}/{p}");
        assert_eq!(string(g, "name"), runnergen::topology::autoscaler::worker_group(pool));
        assert_eq!(number(g, "min_size"), 0);
        assert_eq!(number(g, "desired_capacity"), 0);
        assert_eq!(number(g, "max_size"), i64::from(a.workers.max_instances));
        assert_eq!(attr(g, "protect_from_scale_in").to_string(), "true", "{name}/{p}");
        assert_eq!(attr(g, "capacity_rebalance").to_string(), "false", "{name}/{p}");
        assert_eq!(strings(g, "suspended_processes"), ["AZRebalance"], "{name}/{p}");
        let lifecycle = block(g, "lifecycle");
        // The plugin owns the size; a spot fallback the on-demand share, and nothing else.
        let mut owned = vec!["desired_capacity"];
        if a.workers.spot && a.workers.on_demand_fallback.is_some() {
            owned.push(runnergen::render::terraform::FALLBACK_OWNS);
        }
        assert_eq!(strings(lifecycle.body(), "ignore_changes"), owned, "{name}/{p}");
        assert_eq!(
            g.blocks().any(|b| b.identifier() == "mixed_instances_policy"),
            a.workers.spot || a.workers.instance_types.len() > 1
        );
        // Nothing anywhere acts on the worker group: no scaling policy, schedule or hook.
        let reference = format!("aws_autoscaling_group.{p}_workers");
        for b in all_blocks(&files) {
            let ty = b.labels().first().map(hcl::BlockLabel::as_str).unwrap_or_default();
            if ["aws_autoscaling_policy", "aws_autoscaling_schedule", "aws_autoscaling_lifecycle_hook"].contains(&ty) {
                let target = attr(b.body(), "autoscaling_group_name").to_string();
                assert!(!target.contains(&reference), "{name}/{p}: {ty} on the worker group");
            }
        }
        // Workers: no key, no role, one metadata hop, an encrypted volume, no public address.
        let template = resource(body, "aws_launch_template", &format!("{p}_workers"));
        let t = template.body();
        assert!(t.attributes().all(|a| a.key() != "key_name"), "{name}/{p}: a key pair");
        assert!(t.blocks().all(|b| b.identifier() != "iam_instance_profile"), "{name}/{p}: an instance profile");
        assert_eq!(attr(t, "image_id").to_string(), "data.aws_ami.worker.id");
        let metadata = block(t, "metadata_options");
        assert_eq!(string(metadata.body(), "http_tokens"), "required");
        assert_eq!(number(metadata.body(), "http_put_response_hop_limit"), 1);
        let ebs = block(block(t, "block_device_mappings").body(), "ebs");
        assert_eq!(attr(ebs.body(), "encrypted").to_string(), "true");
        assert_eq!(number(ebs.body(), "volume_size"), i64::from(a.workers.volume_gb));
        let nic = block(t, "network_interfaces");
        assert_eq!(attr(nic.body(), "associate_public_ip_address").to_string(), "false");
        assert_eq!(strings(nic.body(), "security_groups"), [format!("aws_security_group.{p}_workers.id")]);
    }
}

/// One on-demand manager, replaced terminate-first, drained by its hook, removed before its
/// workers and its role.
#[test]
fn the_manager_group_is_one_instance_replaced_terminate_first() {
    for (name, fleet, i, files) in autoscaler_pools() {
        let pool = &fleet.pools[i];
        let p = &pool.name;
        let body = &files[&format!("pool-{p}.tf")];
        let g = resource(body, "aws_autoscaling_group", &format!("{p}_manager")).body();
        assert_eq!(string(g, "name"), format!("{}-manager", pool.id));
        for size in ["min_size", "max_size", "desired_capacity"] {
            assert_eq!(number(g, size), 1, "{name}/{p}: {size}");
        }
        assert!(g.blocks().all(|b| b.identifier() != "mixed_instances_policy"), "{name}/{p}: a spot manager");
        for policy in [
            block(g, "instance_maintenance_policy").body(),
            block(block(g, "instance_refresh").body(), "preferences").body(),
        ] {
            assert_eq!(number(policy, "min_healthy_percentage"), 0, "{name}/{p}");
            assert_eq!(number(policy, "max_healthy_percentage"), 100, "{name}/{p}");
        }
        let hook = block(g, "initial_lifecycle_hook");
        assert_eq!(string(hook.body(), "name"), pool.lifecycle_hook_name());
        assert_eq!(string(hook.body(), "lifecycle_transition"), "autoscaling:EC2_INSTANCE_TERMINATING");
        let depends = attr(g, "depends_on").to_string();
        for dependency in [
            format!("aws_autoscaling_group.{p}_workers"),
            format!("aws_iam_role_policy.{p}_manager"),
            format!("aws_vpc_security_group_ingress_rule.{p}_workers_ssh"),
            format!("aws_vpc_security_group_egress_rule.{p}_manager_ssh"),
        ] {
            assert!(depends.contains(&dependency), "{name}/{p}: no {dependency} in {depends}");
        }
        let template = resource(body, "aws_launch_template", &format!("{p}_manager")).body();
        assert_eq!(attr(template, "image_id").to_string(), "data.aws_ami.runner.id");
        assert!(template.blocks().all(|b| b.identifier() != "instance_market_options"), "{name}/{p}: a spot manager");
        assert_eq!(number(block(template, "metadata_options").body(), "http_put_response_hop_limit"), 1);
        // Both group names are outputs.
        let outputs = &files["outputs.tf"];
        for (output, group) in [("manager", format!("{p}_manager")), ("workers", format!("{p}_workers"))] {
            let o = labeled_one(outputs, "output", &format!("{p}_{output}_group_name"));
            assert_eq!(attr(o.body(), "value").to_string(), format!("aws_autoscaling_group.{group}.name"));
        }
    }
}

/// Workers accept SSH from their own manager's security group and nothing else; managers accept
/// nothing; no ingress anywhere else but the VPC endpoints' (`terraform_network.rs`).
#[test]
fn workers_accept_ssh_from_their_manager_only() {
    for (name, fleet, i, files) in autoscaler_pools() {
        let p = &fleet.pools[i].name;
        let ingress: Vec<&Block> = all_blocks(&files)
            .into_iter()
            .filter(|b| {
                b.labels().first().is_some_and(|l| {
                    l.as_str() == "aws_vpc_security_group_ingress_rule" || l.as_str() == "aws_security_group_rule"
                }) && attr(b.body(), "security_group_id").to_string() != "aws_security_group.vpc_endpoints.id"
            })
            .collect();
        let autoscalers = fleet.pools.iter().filter(|p| matches!(p.topology, Topology::Autoscaler(_))).count();
        assert_eq!(ingress.len(), autoscalers, "{name}: one ingress rule per autoscaler pool, none elsewhere");
        let rule = resource(
            &files[&format!("pool-{p}.tf")],
            "aws_vpc_security_group_ingress_rule",
            &format!("{p}_workers_ssh"),
        );
        let r = rule.body();
        assert_eq!(attr(r, "security_group_id").to_string(), format!("aws_security_group.{p}_workers.id"));
        assert_eq!(attr(r, "referenced_security_group_id").to_string(), format!("aws_security_group.{p}_manager.id"));
        assert_eq!(string(r, "ip_protocol"), "tcp");
        assert_eq!((number(r, "from_port"), number(r, "to_port")), (22, 22));
        assert!(r.attributes().all(|a| !a.key().starts_with("cidr") && a.key() != "prefix_list_id"), "{name}/{p}");
        for b in all_blocks(&files) {
            if b.labels().first().is_some_and(|l| l.as_str() == "aws_security_group") {
                assert!(b.body().blocks().all(|x| x.identifier() != "ingress"), "{name}: inline ingress");
            }
        }
        // The manager reaches its workers on 22 and nothing else of theirs.
        let ssh = resource(
            &files[&format!("pool-{p}.tf")],
            "aws_vpc_security_group_egress_rule",
            &format!("{p}_manager_ssh"),
        );
        assert_eq!(
            attr(ssh.body(), "referenced_security_group_id").to_string(),
            format!("aws_security_group.{p}_workers.id")
        );
        assert_eq!((number(ssh.body(), "from_port"), number(ssh.body(), "to_port")), (22, 22));
    }
}

/// The manager may size and remove instances of its own worker group only, push keys only into
/// its workers and only for their user, and nothing else writes.
#[test]
fn the_manager_role_is_held_to_its_own_workers() {
    const READ_ONLY: [&str; 3] =
        ["autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances", "ec2:DescribeInstances"];
    for (name, fleet, i, files) in autoscaler_pools() {
        let pool = &fleet.pools[i];
        let p = &pool.name;
        let iam = &files["iam.tf"];
        let doc = data(iam, "aws_iam_policy_document", &format!("{p}_manager"));
        let statements: Vec<&Block> = doc.body().blocks().filter(|b| b.identifier() == "statement").collect();
        let mut scaling = 0;
        let mut connect = 0;
        for s in &statements {
            let actions = strings(s.body(), "actions");
            let resources = strings(s.body(), "resources");
            // ...and ECR's GetAuthorizationToken, which has no resource-level permission.
            if resources == ["*"] {
                assert!(
                    actions.iter().all(|a| READ_ONLY.contains(&a.as_str()) || a.starts_with("ssmmessages:"))
                        || actions == ["ecr:GetAuthorizationToken"],
                    "{name}/{p}: {actions:?} on *"
                );
            }
            if actions.iter().any(|a| {
                a == "autoscaling:SetDesiredCapacity" || a == "autoscaling:TerminateInstanceInAutoScalingGroup"
            }) {
                assert_eq!(resources, [format!("aws_autoscaling_group.{p}_workers.arn")], "{name}/{p}");
                scaling += 1;
            }
            if actions.iter().any(|a| a.starts_with("ec2-instance-connect:")) {
                assert_eq!(actions, ["ec2-instance-connect:SendSSHPublicKey"]);
                let conditions: BTreeMap<String, Vec<String>> = s
                    .body()
                    .blocks()
                    .filter(|b| b.identifier() == "condition")
                    .inspect(|b| assert_eq!(string(b.body(), "test"), "StringEquals"))
                    .map(|b| (string(b.body(), "variable"), strings(b.body(), "values")))
                    .collect();
                assert_eq!(
                    conditions["ec2:ResourceTag/aws:autoscaling:groupName"],
                    [runnergen::topology::autoscaler::worker_group(pool)],
                    "{name}/{p}"
                );
                assert_eq!(conditions["ec2:osuser"], [fleet.image.os.default_user()], "{name}/{p}");
                connect += 1;
            }
            if actions.iter().any(|a| a.starts_with("autoscaling:CompleteLifecycleAction")) {
                assert!(
                    resources[0].ends_with(&format!("autoScalingGroupName/{}\"", pool.runner_group())),
                    "{resources:?}"
                );
            }
        }
        assert_eq!((scaling, connect), (1, 1), "{name}/{p}");
        // The workers have no role: no instance profile names them.
        for b in all_blocks(&files) {
            if b.labels().first().is_some_and(|l| l.as_str() == "aws_iam_instance_profile") {
                assert!(!string(b.body(), "name").ends_with("-workers"), "{name}: a worker profile");
            }
        }
    }
}
