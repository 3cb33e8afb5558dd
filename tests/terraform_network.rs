//! A fleet in a landing zone, read back from the generated HCL: the IAM boundary and path on
//! every role and instance profile, the egress rules exactly, the VPC endpoints against the calls
//! the roles allow, the ECR grant, and the jobs' roles trusted through GitLab's ID tokens.

use std::collections::{BTreeMap, BTreeSet};

use hcl::{Block, Body};

use crate::common;
use crate::tf::{SPEC_HEAD, all_blocks, attr, data, parse, render_spec, resource, string, strings, tf_files};

/// Every `.tf` file of a rendered example, parsed, by file name.
fn example_files(spec: &std::path::Path) -> (tempfile::TempDir, BTreeMap<String, Body>) {
    let dir = common::render_to_temp(spec);
    let files = tf_files(dir.path())
        .iter()
        .map(|f| (f.file_name().expect("a name").to_string_lossy().into_owned(), parse(f)))
        .collect();
    (dir, files)
}

fn landing_zone() -> (tempfile::TempDir, BTreeMap<String, Body>) {
    example_files(&common::root().join("examples/landing-zone/fleet.yaml"))
}

fn of_type<'a>(files: &'a BTreeMap<String, Body>, ty: &str) -> Vec<&'a Block> {
    all_blocks(files)
        .into_iter()
        .filter(|b| b.identifier() == "resource" && b.labels().first().is_some_and(|l| l.as_str() == ty))
        .collect()
}

fn label(b: &Block) -> String {
    b.labels()[1].as_str().to_owned()
}

fn has(body: &Body, key: &str) -> bool {
    body.attributes().any(|a| a.key() == key)
}

/// The boundary and path the landing-zone example writes (examples/landing-zone/fleet.yaml).
const BOUNDARY: &str = "arn:aws:iam::123456789012:policy/Boundary";
const PATH: &str = "/ci/";

#[test]
fn every_role_and_profile_has_the_boundary_and_path_in_the_landing_zone_and_none_elsewhere() {
    for (name, spec) in common::examples() {
        let (_dir, files) = example_files(&spec);
        let roles = of_type(&files, "aws_iam_role");
        let profiles = of_type(&files, "aws_iam_instance_profile");
        assert!(!roles.is_empty() && !profiles.is_empty(), "{name}: no roles or profiles");
        for role in &roles {
            let body = role.body();
            if name == "landing-zone" {
                assert_eq!(string(body, "permissions_boundary"), BOUNDARY, "{name}: {}", label(role));
                assert_eq!(string(body, "path"), PATH, "{name}: {}", label(role));
            } else {
                assert!(!has(body, "permissions_boundary") && !has(body, "path"), "{name}: {}", label(role));
            }
        }
        for profile in &profiles {
            let body = profile.body();
            // A profile takes a path, not a boundary (hashicorp/aws aws_iam_instance_profile).
            assert!(!has(body, "permissions_boundary"), "{name}: {}", label(profile));
            if name == "landing-zone" {
                assert_eq!(string(body, "path"), PATH, "{name}: {}", label(profile));
            } else {
                assert!(!has(body, "path"), "{name}: {}", label(profile));
            }
        }
        // A path changes every role's ARN (arn:...:role/ci/NAME): nothing may spell one out by name.
        for (file, body) in &files {
            let text = hcl::to_string(body).expect("HCL");
            assert!(!text.contains(":role/"), "{name}/{file} builds a role ARN by name");
        }
    }
    // The landing zone: the manager of `build`, the runners of `deploy` and the jobs of `deploy`.
    let (_dir, files) = landing_zone();
    let roles: BTreeSet<String> = of_type(&files, "aws_iam_role").iter().map(|b| label(b)).collect();
    assert_eq!(roles, ["build_manager", "deploy", "deploy_jobs"].map(String::from).into());
}

/// One egress rule as the test reads it: its security group, destination, ports and description.
type Rule = (String, String, i64, i64, String);

fn egress_rules(files: &BTreeMap<String, Body>) -> BTreeSet<Rule> {
    let mut out = BTreeSet::new();
    for b in of_type(files, "aws_vpc_security_group_egress_rule") {
        let body = b.body();
        assert_eq!(string(body, "ip_protocol"), "tcp", "{}", label(b));
        let destinations: Vec<String> = ["cidr_ipv4", "cidr_ipv6", "prefix_list_id", "referenced_security_group_id"]
            .into_iter()
            .filter(|k| has(body, k))
            .map(|k| {
                let value = match attr(body, k) {
                    hcl::Expression::String(s) => s.clone(),
                    other => other.to_string(),
                };
                format!("{k}={value}")
            })
            .collect();
        assert_eq!(destinations.len(), 1, "{}: {destinations:?}", label(b));
        let number = |k: &str| crate::tf::number(body, k);
        let fresh = out.insert((
            attr(body, "security_group_id").to_string(),
            destinations[0].clone(),
            number("from_port"),
            number("to_port"),
            string(body, "description"),
        ));
        assert!(fresh, "{}: a duplicate rule", label(b));
    }
    out
}

fn rule(group: &str, destination: &str, ports: (i64, i64), description: &str) -> Rule {
    (format!("aws_security_group.{group}.id"), destination.to_owned(), ports.0, ports.1, description.to_owned())
}

#[test]
fn the_landing_zones_egress_rules_are_exactly_the_specs() {
    let (_dir, files) = landing_zone();
    let gitlab = "GitLab on port 443, anywhere: security groups take no host names";
    let mut expected = BTreeSet::new();
    // aws.egress, GitLab's port, and the VPC endpoints reach every instance: the runners of the
    // instance pool, the autoscaler's manager and its workers.
    for group in ["runners", "build_manager", "build_workers"] {
        expected.extend([
            rule(group, "prefix_list_id=pl-0123456789abcdef0", (443, 443), "corporate proxy and registries"),
            rule(group, "cidr_ipv4=10.0.0.0/8", (3128, 3128), "corporate proxy"),
            rule(group, "cidr_ipv4=0.0.0.0/0", (443, 443), gitlab),
            rule(group, "cidr_ipv6=::/0", (443, 443), gitlab),
            rule(
                group,
                "referenced_security_group_id=aws_security_group.vpc_endpoints.id",
                (443, 443),
                "HTTPS to the interface endpoints of the VPC",
            ),
            rule(
                group,
                "prefix_list_id=aws_vpc_endpoint.s3.prefix_list_id",
                (443, 443),
                "HTTPS to S3 through the gateway endpoint",
            ),
        ]);
    }
    // The manager's way into its workers, and the deploy pool's own rule in its own group.
    expected.insert(rule(
        "build_manager",
        "referenced_security_group_id=aws_security_group.build_workers.id",
        (22, 22),
        "SSH to the workers of pool build",
    ));
    expected.insert(rule("deploy_egress", "cidr_ipv4=10.20.0.0/16", (22, 22), "deploy targets"));
    assert_eq!(egress_rules(&files), expected);
    // The deploy runners are in both groups; no other launch template has the pool's group.
    let templates = of_type(&files, "aws_launch_template");
    for t in templates {
        let nic = crate::tf::block(t.body(), "network_interfaces");
        let groups = strings(nic.body(), "security_groups");
        let want: Vec<String> = match label(t).as_str() {
            "deploy" => vec!["aws_security_group.runners.id".into(), "aws_security_group.deploy_egress.id".into()],
            other => vec![format!("aws_security_group.{other}.id")],
        };
        assert_eq!(groups, want, "{}", label(t));
    }
}

/// A pool's own rules reach an autoscaler's workers, not its manager; the defaults stay.
#[test]
fn an_autoscaler_pools_own_rules_reach_its_workers_only() {
    let head =
        SPEC_HEAD.replace("  runner_version: 19.3.0\n", "  runner_version: 19.3.0\n  fleeting_plugin_version: 1.0.0\n");
    let files = render_spec(&format!(
        "{head}  - name: build
    topology: autoscaler
    executor: docker
    token_parameter: /sched/build/token
    workers: {{instance_types: [m5.large], max_instances: 4}}
    egress: [{{cidr: 10.20.0.0/16, ports: \"8000-8100\", description: test services}}]
"
    ));
    let rules = egress_rules(&files);
    let own = rule("build_workers", "cidr_ipv4=10.20.0.0/16", (8000, 8100), "test services");
    assert!(rules.contains(&own), "{rules:#?}");
    let to_own_network: Vec<&Rule> = rules.iter().filter(|r| r.1 == own.1).collect();
    assert_eq!(to_own_network, [&own]);
    // The defaults: HTTPS and HTTP for the workers, HTTPS only for the manager.
    let https = "HTTPS: GitLab, AWS APIs, container registries";
    let http = "HTTP: OS package mirrors of job images (signed packages)";
    for (group, port, description) in
        [("build_workers", 443, https), ("build_workers", 80, http), ("build_manager", 443, https)]
    {
        for destination in ["cidr_ipv4=0.0.0.0/0", "cidr_ipv6=::/0"] {
            assert!(rules.contains(&rule(group, destination, (port, port), description)), "{group} {port}");
        }
    }
    assert!(!rules.iter().any(|r| r.0.contains("build_manager") && r.2 == 80), "the manager got HTTP");
    assert!(files.values().all(|b| !hcl::to_string(b).expect("HCL").contains("vpc_endpoint")));
}

/// GitLab on its own port stays reachable when the spec's rules replace the defaults.
#[test]
fn gitlabs_own_port_is_allowed_besides_the_written_rules() {
    let spec = SPEC_HEAD.replace("https://gitlab.example.com", "https://gitlab.example.com:8443").replace(
        "  subnet_ids: [subnet-0123456789abcdef0]\n",
        "  subnet_ids: [subnet-0123456789abcdef0]\n  egress: [{cidr: 10.0.0.0/8, ports: \"3128\"}]\n",
    );
    let files = render_spec(&format!(
        "{spec}  - name: docker
    executor: docker
    instance_types: [m5.large]
    capacity: {{min: 1, max: 2}}
    token_parameter: /sched/docker/token
"
    ));
    let gitlab = "GitLab on port 8443, anywhere: security groups take no host names";
    let expected: BTreeSet<Rule> = [
        rule("runners", "cidr_ipv4=10.0.0.0/8", (3128, 3128), "TCP 3128 to 10.0.0.0/8"),
        rule("runners", "cidr_ipv4=0.0.0.0/0", (8443, 8443), gitlab),
        rule("runners", "cidr_ipv6=::/0", (8443, 8443), gitlab),
    ]
    .into();
    assert_eq!(egress_rules(&files), expected);
}

/// The AWS services a fleet's instances call, read from the actions their roles allow, and STS for
/// jobs with a role: what the VPC endpoints must cover. `kms:Decrypt` is only allowed through SSM
/// (kms:ViaService), and EC2 Instance Connect has no PrivateLink endpoint
/// (aws/aws-ec2-instance-connect-config#18): neither needs one.
fn services_called(files: &BTreeMap<String, Body>) -> BTreeSet<String> {
    let iam = &files["iam.tf"];
    let mut out = BTreeSet::new();
    // The instance roles' policies: every role policy whose role EC2 assumes.
    for policy in of_type(files, "aws_iam_role_policy") {
        let role = attr(policy.body(), "role").to_string();
        let role = role.trim_start_matches("aws_iam_role.").trim_end_matches(".id");
        let role_block = resource(iam, "aws_iam_role", role);
        if attr(role_block.body(), "assume_role_policy").to_string()
            != "data.aws_iam_policy_document.ec2_assume_role.json"
        {
            continue;
        }
        let doc = attr(policy.body(), "policy").to_string();
        let doc = doc.trim_start_matches("data.aws_iam_policy_document.").trim_end_matches(".json");
        for statement in data(iam, "aws_iam_policy_document", doc).body().blocks() {
            for action in strings(statement.body(), "actions") {
                let prefix = action.split(':').next().expect("a service prefix").to_owned();
                match prefix.as_str() {
                    "cloudwatch" => {
                        out.insert("monitoring".to_owned());
                    }
                    "ecr" => {
                        // The API for the token, the registry for the pulls, S3 for the layers.
                        out.extend(["ecr.api", "ecr.dkr", "s3"].map(String::from));
                    }
                    "kms" => {
                        let via: Vec<String> = statement
                            .body()
                            .blocks()
                            .filter(|c| string(c.body(), "variable") == "kms:ViaService")
                            .flat_map(|c| strings(c.body(), "values"))
                            .collect();
                        assert!(!via.is_empty(), "{action} outside another service");
                    }
                    "ec2-instance-connect" => {}
                    _ => {
                        out.insert(prefix);
                    }
                }
            }
        }
    }
    if files.contains_key("job-roles.tf") {
        out.insert("sts".to_owned());
    }
    out
}

fn endpoints(files: &BTreeMap<String, Body>) -> BTreeMap<String, String> {
    let Some(body) = files.get("vpc-endpoints.tf") else { return BTreeMap::new() };
    let mut out = BTreeMap::new();
    for b in body.blocks().filter(|b| b.labels().first().is_some_and(|l| l.as_str() == "aws_vpc_endpoint")) {
        let e = b.body();
        let name = string(e, "service_name");
        let service = name.strip_prefix("com.amazonaws.eu-central-1.").expect("the fleet's region").to_owned();
        let kind = string(e, "vpc_endpoint_type");
        if kind == "Interface" {
            assert_eq!(attr(e, "private_dns_enabled").to_string(), "true", "{service}");
            assert_eq!(attr(e, "subnet_ids").to_string(), "local.endpoint_subnet_ids", "{service}");
            assert_eq!(strings(e, "security_group_ids"), ["aws_security_group.vpc_endpoints.id"], "{service}");
        } else {
            assert_eq!(attr(e, "route_table_ids").to_string(), "local.endpoint_route_table_ids", "{service}");
        }
        out.insert(service, kind);
    }
    out
}

#[test]
fn the_vpc_endpoints_are_the_services_the_fleet_calls() {
    let (_dir, files) = landing_zone();
    let called = services_called(&files);
    let made = endpoints(&files);
    assert_eq!(made.keys().cloned().collect::<BTreeSet<_>>(), called);
    assert_eq!(made["s3"], "Gateway");
    assert!(made.iter().all(|(s, kind)| s == "s3" || kind == "Interface"), "{made:?}");

    // Fleets that call less: a shell instance pool without logs or ECR, an autoscaler without
    // monitoring (no metric), each with the endpoints.
    let head = SPEC_HEAD
        .replace("eu-west-1", "eu-central-1")
        .replace(
            "  subnet_ids: [subnet-0123456789abcdef0]\n",
            "  subnet_ids: [subnet-0123456789abcdef0]\n  vpc_endpoints: create\n",
        )
        .replace("  runner_version: 19.3.0\n", "  runner_version: 19.3.0\n  fleeting_plugin_version: 1.0.0\n");
    for pools in [
        "  - name: shell\n    executor: shell\n    instance_types: [m5.large]\n    capacity: {min: 1, max: 2}\n    token_parameter: /sched/shell/token\n",
        "  - name: build\n    topology: autoscaler\n    executor: docker\n    token_parameter: /sched/build/token\n    workers: {instance_types: [m5.large], max_instances: 4}\n",
    ] {
        let files = render_spec(&format!("{head}{pools}"));
        let called = services_called(&files);
        let made: BTreeSet<String> = endpoints(&files).into_keys().collect();
        // The gateway endpoint is made whatever the roles say: it is free, and serves S3 calls
        // that need no role (Amazon Linux's repositories, ECR's layers).
        let mut expected = called.clone();
        expected.insert("s3".to_owned());
        assert_eq!(made, expected, "{pools}");
    }
}

#[test]
fn the_endpoints_admit_https_from_the_fleet_only() {
    let (_dir, files) = landing_zone();
    let body = &files["vpc-endpoints.tf"];
    let group = resource(body, "aws_security_group", "vpc_endpoints").body();
    assert!(group.blocks().all(|b| b.identifier() != "ingress" && b.identifier() != "egress"));
    // From the fleet's groups, and from the subnet the AMIs bake in (the example bakes
    // privately), whose build instances sit in a group of Packer's: HTTPS only, each.
    let sources: BTreeSet<String> = of_type(&files, "aws_vpc_security_group_ingress_rule")
        .into_iter()
        .filter(|b| attr(b.body(), "security_group_id").to_string() == "aws_security_group.vpc_endpoints.id")
        .map(|b| {
            let r = b.body();
            assert_eq!(string(r, "ip_protocol"), "tcp");
            assert_eq!((crate::tf::number(r, "from_port"), crate::tf::number(r, "to_port")), (443, 443));
            assert!(r.attributes().all(|a| a.key() != "cidr_ipv6" && a.key() != "prefix_list_id"));
            match r.attributes().find(|a| a.key() == "cidr_ipv4") {
                Some(cidr) => {
                    assert_eq!(label(b), "vpc_endpoints_from_build_subnet");
                    cidr.expr().to_string()
                }
                None => attr(r, "referenced_security_group_id").to_string(),
            }
        })
        .collect();
    let build = data(body, "aws_subnet", "build").body();
    assert_eq!(string(build, "id"), "subnet-0123456789abcdef0", "image.build_subnet_id");
    let mut fleet_groups = fleet_groups_of(&files);
    fleet_groups.insert("data.aws_subnet.build.cidr_block".to_owned());
    assert_eq!(sources, fleet_groups);
}

/// The fleet's own security groups, as references.
fn fleet_groups_of(files: &BTreeMap<String, Body>) -> BTreeSet<String> {
    of_type(files, "aws_security_group")
        .iter()
        .map(|b| format!("aws_security_group.{}.id", label(b)))
        .filter(|g| !g.contains("vpc_endpoints") && !g.contains("deploy_egress"))
        .collect()
}

#[test]
fn docker_runners_pull_from_exactly_the_listed_repositories() {
    let (_dir, files) = landing_zone();
    let iam = &files["iam.tf"];
    // Both pools run Docker jobs: the deploy runners pull themselves, the build manager for its
    // workers, which have no role.
    for doc in ["deploy", "build_manager"] {
        let statements: Vec<&Block> = data(iam, "aws_iam_policy_document", doc)
            .body()
            .blocks()
            .filter(|s| strings(s.body(), "actions").iter().any(|a| a.starts_with("ecr:")))
            .collect();
        let grants: BTreeMap<Vec<String>, Vec<String>> =
            statements.iter().map(|s| (strings(s.body(), "actions"), strings(s.body(), "resources"))).collect();
        let expected: BTreeMap<Vec<String>, Vec<String>> = [
            (vec!["ecr:GetAuthorizationToken".to_owned()], vec!["*".to_owned()]),
            (
                ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
                    .map(String::from)
                    .to_vec(),
                vec!["arn:aws:ecr:eu-central-1:123456789012:repository/*".to_owned()],
            ),
        ]
        .into();
        assert_eq!(grants, expected, "{doc}");
    }
    // A shell pool pulls no image: no grant, even with the key set.
    let spec = SPEC_HEAD
        .replace("pools:\n", "registries: {ecr: [arn:aws:ecr:eu-west-1:123456789012:repository/ci/*]}\npools:\n")
        + "  - name: shell\n    executor: shell\n    instance_types: [m5.large]\n    capacity: {min: 1, max: 2}\n    token_parameter: /sched/shell/token\n";
    let files = render_spec(&spec);
    let text = hcl::to_string(&files["iam.tf"]).expect("HCL");
    assert!(!text.contains("ecr:"), "{text}");
}

#[test]
fn the_job_role_trusts_only_the_listed_projects_and_refs() {
    let (_dir, files) = landing_zone();
    let body = &files["job-roles.tf"];
    let provider = resource(body, "aws_iam_openid_connect_provider", "gitlab").body();
    assert_eq!(string(provider, "url"), "https://gitlab.corp.example");
    assert_eq!(strings(provider, "client_id_list"), ["https://gitlab.corp.example"]);
    assert!(!has(provider, "thumbprint_list"));
    let doc = data(body, "aws_iam_policy_document", "deploy_jobs_assume").body();
    let statements: Vec<&Block> = doc.blocks().collect();
    assert_eq!(statements.len(), 1);
    let s = statements[0].body();
    assert_eq!(strings(s, "actions"), ["sts:AssumeRoleWithWebIdentity"]);
    let principals = crate::tf::block(s, "principals").body();
    assert_eq!(string(principals, "type"), "Federated");
    assert_eq!(strings(principals, "identifiers"), ["local.gitlab_oidc_provider_arn"]);
    let conditions: BTreeSet<(String, String, Vec<String>)> = s
        .blocks()
        .filter(|b| b.identifier() == "condition")
        .map(|c| (string(c.body(), "test"), string(c.body(), "variable"), strings(c.body(), "values")))
        .collect();
    let expected: BTreeSet<(String, String, Vec<String>)> = [
        ("StringEquals".into(), "gitlab.corp.example:aud".into(), vec!["https://gitlab.corp.example".into()]),
        (
            "StringLike".into(),
            "gitlab.corp.example:sub".into(),
            vec!["project_path:platform/deploy:ref_type:*:ref:main".into()],
        ),
    ]
    .into();
    assert_eq!(conditions, expected);
    let role = resource(body, "aws_iam_role", "deploy_jobs").body();
    assert_eq!(attr(role, "assume_role_policy").to_string(), "data.aws_iam_policy_document.deploy_jobs_assume.json");
    let attachments: Vec<(String, String)> = of_type(&files, "aws_iam_role_policy_attachment")
        .iter()
        .map(|a| (attr(a.body(), "role").to_string(), string(a.body(), "policy_arn")))
        .collect();
    assert_eq!(
        attachments,
        [("aws_iam_role.deploy_jobs.name".to_owned(), "arn:aws:iam::123456789012:policy/Deployer".to_owned())]
    );
    // The instance roles stay EC2's alone: no web identity reaches them.
    let iam = &files["iam.tf"];
    for role in ["deploy", "build_manager"] {
        let r = resource(iam, "aws_iam_role", role).body();
        assert_eq!(attr(r, "assume_role_policy").to_string(), "data.aws_iam_policy_document.ec2_assume_role.json");
    }
    let ec2 = data(iam, "aws_iam_policy_document", "ec2_assume_role").body();
    let text = hcl::to_string(ec2).expect("HCL");
    assert!(text.contains("sts:AssumeRole\"") && !text.contains("WebIdentity") && !text.contains("Federated"));
    let outputs = &files["outputs.tf"];
    let o = crate::tf::labeled_one(outputs, "output", "deploy_job_role_arn");
    assert_eq!(attr(o.body(), "value").to_string(), "aws_iam_role.deploy_jobs.arn");
}

/// Projects under a group, several refs, any ref; and an existing provider instead of a new one.
#[test]
fn job_role_subjects_and_an_existing_provider() {
    let spec = SPEC_HEAD.replace(
        "  subnet_ids: [subnet-0123456789abcdef0]\n",
        "  subnet_ids: [subnet-0123456789abcdef0]\n  iam: {oidc_provider_arn: arn:aws:iam::123456789012:oidc-provider/gitlab.example.com}\n",
    ) + "  - name: deploy
    executor: docker
    instance_types: [m5.large]
    capacity: {min: 1, max: 2}
    token_parameter: /sched/deploy/token
    job_role:
      policy_arns: [arn:aws:iam::123456789012:policy/A, arn:aws:iam::123456789012:policy/B]
      projects: [platform/*, ops/tools]
      refs: [main, release-*]
  - name: any
    executor: docker
    instance_types: [m5.large]
    capacity: {min: 1, max: 2}
    token_parameter: /sched/any/token
    job_role:
      policy_arns: [arn:aws:iam::123456789012:policy/A]
      projects: [ops/tools]
";
    let files = render_spec(&spec);
    let body = &files["job-roles.tf"];
    assert!(body.blocks().all(|b| b.labels().first().is_none_or(|l| l.as_str() != "aws_iam_openid_connect_provider")));
    let text = hcl::to_string(body).expect("HCL");
    assert!(text.contains("gitlab_oidc_provider_arn = \"arn:aws:iam::123456789012:oidc-provider/gitlab.example.com\""));
    let sub = |doc: &str| -> Vec<String> {
        data(body, "aws_iam_policy_document", doc)
            .body()
            .blocks()
            .flat_map(|s| s.body().blocks())
            .filter(|c| c.identifier() == "condition" && string(c.body(), "variable") == "gitlab.example.com:sub")
            .flat_map(|c| strings(c.body(), "values"))
            .collect()
    };
    assert_eq!(
        sub("deploy_jobs_assume"),
        [
            "project_path:platform/*:ref_type:*:ref:main",
            "project_path:platform/*:ref_type:*:ref:release-*",
            "project_path:ops/tools:ref_type:*:ref:main",
            "project_path:ops/tools:ref_type:*:ref:release-*",
        ]
    );
    assert_eq!(sub("any_jobs_assume"), ["project_path:ops/tools:ref_type:*:ref:*"]);
    assert!(!files["outputs.tf"].blocks().any(|b| b.labels().iter().any(|l| l.as_str() == "gitlab_oidc_provider_arn")));
    // Neither the boundary nor a path without aws.iam's.
    for role in of_type(&files, "aws_iam_role") {
        assert!(!has(role.body(), "path") && !has(role.body(), "permissions_boundary"));
    }
}
