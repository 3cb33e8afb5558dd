//! The groups of instance pools, their launch templates, their network and the image they
//! launch, read back from the generated HCL.

use hcl::{Body, Expression};

use runnergen::topology::Topology;

use crate::common;
use crate::tf::{
    SPEC_HEAD, attr, block, data, number, parse, render_pools, render_spec, resource, runner_label, string, strings,
};

#[test]
fn groups_roll_onto_new_templates_and_drain_before_terminating() {
    for (name, spec) in common::examples() {
        let dir = common::render_to_temp(&spec);
        let fleet = runnergen::load_spec(&spec).map(|l| l.fleet).unwrap_or_else(|e| panic!("{}", e.render(false)));
        let main = parse(&dir.path().join("terraform/main.tf"));
        assert!(main.blocks().all(|b| !b.labels().iter().any(|l| l.as_str().contains("ingress"))), "{name}");
        let group_sg = resource(&main, "aws_security_group", "runners");
        assert!(group_sg.body().blocks().all(|b| b.identifier() != "ingress"), "{name}: inline ingress");
        for pool in &fleet.pools {
            let Topology::Instance(instances) = &pool.topology else { continue };
            let body = parse(&dir.path().join(format!("terraform/pool-{}.tf", pool.name)));
            let p = pool.name.as_str();

            let template = resource(&body, "aws_launch_template", p);
            let metadata = block(template.body(), "metadata_options");
            assert_eq!(string(metadata.body(), "http_tokens"), "required", "{name}/{p}");
            // One hop: the host reaches the metadata service, job containers do not.
            assert_eq!(number(metadata.body(), "http_put_response_hop_limit"), 1, "{name}/{p}");
            let ebs = block(block(template.body(), "block_device_mappings").body(), "ebs");
            assert_eq!(attr(ebs.body(), "encrypted").to_string(), "true", "{name}/{p}");
            assert_eq!(number(ebs.body(), "volume_size"), i64::from(instances.volume_gb), "{name}/{p}");
            let nic = block(template.body(), "network_interfaces");
            assert_eq!(attr(nic.body(), "associate_public_ip_address").to_string(), "false", "{name}/{p}");

            // The group follows the template's latest version, so a new one starts a refresh
            // that keeps the capacity in force.
            let group = resource(&body, "aws_autoscaling_group", p);
            let version = match group.body().blocks().find(|b| b.identifier() == "mixed_instances_policy") {
                Some(mixed) => {
                    let spec = block(block(mixed.body(), "launch_template").body(), "launch_template_specification");
                    attr(spec.body(), "version").to_string()
                }
                None => attr(block(group.body(), "launch_template").body(), "version").to_string(),
            };
            assert_eq!(version, format!("aws_launch_template.{p}.latest_version"), "{name}/{p}");
            let refresh = block(group.body(), "instance_refresh");
            assert_eq!(string(refresh.body(), "strategy"), "Rolling");
            assert_eq!(number(block(refresh.body(), "preferences").body(), "min_healthy_percentage"), 100);
            assert_eq!(string(group.body(), "name"), pool.id);
            // Its tags, the pool's tag map, each propagated to the instances it launches.
            let tags = block(group.body(), "dynamic");
            assert_eq!(tags.labels().first().map(hcl::BlockLabel::as_str), Some("tag"), "{name}/{p}");
            assert_eq!(attr(tags.body(), "for_each").to_string(), format!("local.{p}_tags"), "{name}/{p}");
            let content = block(tags.body(), "content");
            assert_eq!(attr(content.body(), "propagate_at_launch").to_string(), "true", "{name}/{p}");
            assert_eq!(attr(content.body(), "key").to_string(), "tag.key", "{name}/{p}");

            // The group's own drain hook is its only one: a separate hook resource of the same
            // name would remove it before the group drains, on pool removal or destroy.
            assert!(
                !body
                    .blocks()
                    .any(|b| b.labels().first().is_some_and(|l| l.as_str() == "aws_autoscaling_lifecycle_hook")),
                "{name}/{p}: a separate lifecycle hook resource"
            );
            // Its values never change (a change replaces the group): heartbeats stretch a drain.
            let initial = block(group.body(), "initial_lifecycle_hook");
            assert_eq!(string(initial.body(), "name"), pool.lifecycle_hook_name());
            assert_eq!(string(initial.body(), "lifecycle_transition"), "autoscaling:EC2_INSTANCE_TERMINATING");
            assert_eq!(string(initial.body(), "default_result"), "CONTINUE");
            assert_eq!(number(initial.body(), "heartbeat_timeout"), 7200);

            // Deleting the group (pool removal, destroy) waits for every drain, and only then
            // may the role and the way out to GitLab go.
            let delete = string(block(group.body(), "timeouts").body(), "delete");
            let minutes: u32 = delete.strip_suffix('m').and_then(|m| m.parse().ok()).expect("minutes");
            assert!(minutes * 60 >= pool.drain_timeout_seconds() + 600, "{name}/{p}: delete timeout {delete}");
            let depends: Vec<String> = match attr(group.body(), "depends_on") {
                Expression::Array(items) => items.iter().map(ToString::to_string).collect(),
                other => panic!("depends_on is not a list: {other}"),
            };
            let egress: Vec<String> = main
                .blocks()
                .filter(|b| b.labels().first().is_some_and(|l| l.as_str() == "aws_vpc_security_group_egress_rule"))
                .map(|b| format!("aws_vpc_security_group_egress_rule.{}", b.labels()[1].as_str()))
                .collect();
            assert!(egress.len() >= 4, "{egress:?}");
            for rule in egress.iter().chain([&format!("aws_iam_role_policy.{p}")]) {
                assert!(depends.contains(rule), "{name}/{p}: the group does not depend on {rule}: {depends:?}");
            }
        }
    }
}

/// A fleet with unusual tags, in a partition of its own, whose GitLab listens on a port of its own:
/// that port gets its egress rule, and every instance mix a mixed instances policy.
#[test]
fn gitlab_on_its_own_port_gets_egress_and_every_instance_mix_a_mixed_policy() {
    let files = render_spec(
        r#"
version: 1
name: odd
aws:
  region: us-gov-west-1
  vpc_id: vpc-0123456789abcdef0
  subnet_ids: [subnet-0123456789abcdef0, subnet-0123456789abcdef1]
  tags: {"Kostenstelle-ü": "4711", "团队": "平台", "a": "x = y", "long key with spaces": "v@example.com"}
gitlab:
  url: https://gitlab.example.com:8443/
image:
  os: amazon-linux-2023
  arch: arm64
  runner_version: 19.3.0
pools:
  - name: od-mix
    executor: shell
    instance_types: [m7g.large, m6g.large]
    capacity: {min: 1, max: 2}
    token_parameter: /odd/od-mix/token
  - name: one-spot
    executor: docker
    instance_types: [t4g.large]
    spot: true
    capacity: {min: 1, max: 2}
    token_parameter: /odd/one-spot/token
"#,
    );
    // GitLab's own port gets its egress rule next to HTTPS and HTTP; nothing else is open.
    let main = &files["main.tf"];
    let ports: Vec<i64> = main
        .blocks()
        .filter(|b| b.identifier() == "resource" && b.labels()[0].as_str() == "aws_vpc_security_group_egress_rule")
        .map(|b| number(b.body(), "from_port"))
        .collect();
    assert_eq!(ports, [443, 443, 80, 80, 8443, 8443]);
    assert!(!main.blocks().any(|b| b.labels().iter().any(|l| l.as_str().contains("ingress"))));

    // Several on-demand types: a mixed policy without spot; one spot type: a mixed policy too.
    let od = resource(&files["pool-od-mix.tf"], "aws_autoscaling_group", "od-mix");
    let mixed = od.body().blocks().find(|b| b.identifier() == "mixed_instances_policy").expect("mixed");
    let dist = mixed.body().blocks().find(|b| b.identifier() == "instances_distribution").expect("dist");
    assert_eq!(number(dist.body(), "on_demand_percentage_above_base_capacity"), 100);
    let spot = resource(&files["pool-one-spot.tf"], "aws_autoscaling_group", "one-spot");
    assert!(spot.body().blocks().any(|b| b.identifier() == "mixed_instances_policy"));
    assert!(!spot.body().blocks().any(|b| b.identifier() == "launch_template"));
    assert!(!files.contains_key("schedules.tf"));
}

/// Terraform launches only the AMI baked from this render's Packer files: the tag Packer puts on
/// it is the one the data source filters on, and it changes with what the image holds, not with
/// the spec's file name.
#[test]
fn terraform_uses_only_the_image_this_render_defines() {
    let image_tag = |plan: &runnergen::render::Files| -> (String, String) {
        let packer: Body = hcl::from_str(&plan["packer/gitlab-runner.pkr.hcl"].contents).expect("packer HCL");
        let source = packer.blocks().find(|b| b.identifier() == "source").expect("a source");
        let tags = match attr(source.body(), "tags") {
            Expression::Object(map) => map
                .iter()
                .find(|(k, _)| k.to_string().trim_matches('"') == "runnergen:image")
                .map(|(_, v)| v.to_string().trim_matches('"').to_owned())
                .expect("a runnergen:image tag"),
            other => panic!("tags: {other}"),
        };
        let main: Body = hcl::from_str(&plan["terraform/main.tf"].contents).expect("main.tf");
        let ids = data(&main, "aws_ami_ids", "runner");
        let filter = ids
            .body()
            .blocks()
            .filter(|b| b.identifier() == "filter")
            .find(|b| string(b.body(), "name") == "tag:runnergen:image")
            .expect("a filter on the image tag");
        (tags, strings(filter.body(), "values").concat())
    };
    let plan_of = |text: &str, file: &str| {
        let dir = tempfile::tempdir().expect("a temp dir");
        let spec = dir.path().join(file);
        std::fs::write(&spec, text).expect("write");
        let fleet = runnergen::load_spec(&spec).map(|l| l.fleet).unwrap_or_else(|e| panic!("{}", e.render(false)));
        runnergen::render::render(&fleet).expect("renders")
    };
    let text = std::fs::read_to_string(common::root().join("examples/multi-pool/fleet.yaml")).expect("read");
    let (packer, terraform) = image_tag(&plan_of(&text, "fleet.yaml"));
    assert_eq!(packer, terraform);
    assert_eq!(packer.len(), 16);
    // A renamed spec changes every header, not the image.
    assert_eq!(image_tag(&plan_of(&text, "other-name.yaml")).1, terraform);
    // A pool's capacity is not in the image either.
    assert_eq!(
        image_tag(&plan_of(&text.replace("max: 10, desired: 2", "max: 12, desired: 2"), "fleet.yaml")).1,
        terraform
    );
    // What the image holds is.
    for edit in [("runner_version: 19.3.0", "runner_version: 19.2.1"), ("volume_gb: 40", "volume_gb: 50")] {
        assert_ne!(text.replace(edit.0, edit.1), text);
        let (p, t) = image_tag(&plan_of(&text.replace(edit.0, edit.1), "fleet.yaml"));
        assert_eq!(p, t);
        assert_ne!(t, terraform, "{edit:?} changed the image but not its hash");
    }
    // The plan stops with a message when no such image exists.
    let plan = plan_of(&text, "fleet.yaml");
    let main: Body = hcl::from_str(&plan["terraform/main.tf"].contents).expect("main.tf");
    let ids = data(&main, "aws_ami_ids", "runner");
    let post = block(block(ids.body(), "lifecycle").body(), "postcondition");
    assert_eq!(attr(post.body(), "condition").to_string(), "length(self.ids) > 0");
    assert!(string(post.body(), "error_message").contains(&terraform));
}

/// A customer-managed EBS key encrypts the AMI's snapshot and every pool's volumes.
#[test]
fn a_customer_managed_key_encrypts_the_ami_and_every_volume() {
    let key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let text = SPEC_HEAD.replace(
        "  subnet_ids: [subnet-0123456789abcdef0]",
        &format!("  subnet_ids: [subnet-0123456789abcdef0]\n  ebs_kms_key_arn: {key}"),
    );
    let files = render_spec(&format!(
        "{text}  - {{name: a, executor: shell, instance_types: [t3.large], capacity: {{min: 1, max: 2}}, token_parameter: /s/a}}\n\
         \x20 - {{name: b, executor: docker, instance_types: [t3.large], capacity: {{min: 1, max: 2}}, token_parameter: /s/b}}\n"
    ));
    for p in ["a", "b"] {
        let template = resource(&files[&format!("pool-{p}.tf")], "aws_launch_template", p);
        let ebs = block(block(template.body(), "block_device_mappings").body(), "ebs");
        assert_eq!(string(ebs.body(), "kms_key_id"), key);
    }
    // Without one, no key is named: the account's default EBS key applies.
    let files = render_pools(
        "  - {name: a, executor: shell, instance_types: [t3.large], capacity: {min: 1, max: 2}, token_parameter: /s/a}\n",
    );
    let template = resource(&files["pool-a.tf"], "aws_launch_template", "a");
    let ebs = block(block(template.body(), "block_device_mappings").body(), "ebs");
    assert!(!ebs.body().attributes().any(|a| a.key() == "kms_key_id"));
}

/// Each pool's user data writes its settings file verbatim and holds no token, and its launch
/// template reads exactly that script.
#[test]
fn user_data_writes_the_settings_file_and_the_launch_template_reads_it() {
    let (_imports, imported) = common::imported();
    for (name, spec) in common::examples().into_iter().chain(imported) {
        let dir = common::render_to_temp(&spec);
        let fleet = runnergen::load_spec(&spec).map(|l| l.fleet).unwrap_or_else(|e| panic!("{}", e.render(false)));
        for pool in &fleet.pools {
            let script = dir.path().join(format!("terraform/user-data/{}.sh", pool.name));
            let text = std::fs::read_to_string(&script).expect("a user data script");
            let settings = runnergen::settings::render(&runnergen::settings::for_pool(&fleet, pool));
            assert!(text.contains(&settings), "{name}/{}: the settings file is not written verbatim", pool.name);
            assert!(!text.contains("glrt-"), "{name}/{}: a token in user data", pool.name);
            let pool_tf = parse(&dir.path().join(format!("terraform/pool-{}.tf", pool.name)));
            let template = resource(&pool_tf, "aws_launch_template", &runner_label(pool));
            let user_data = attr(template.body(), "user_data").to_string();
            assert!(user_data.contains(&format!("user-data/{}.sh", pool.name)), "{user_data}");
        }
    }
}
