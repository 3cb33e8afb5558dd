//! The cattle-ops module (github.com/cattle-ops/terraform-aws-gitlab-runner), 7.x to 9.x: each
//! of its `module` blocks in a Terraform file becomes one pool. Inputs, their defaults and the
//! renames between majors are read from the module's `variables.tf` at tags 7.15.0, 8.1.0 and
//! 9.5.2 and its CHANGELOG.md (8.0.0, 8.1.0 and 9.0.0 list the breaking changes); the file and
//! line of each default are cited where it is used.

use std::ops::Range;

use super::value::{At, Locals, V, attributes, blocks};
use super::{Ctx, Draft, Field, FleetBits, Node, Policy, Pool, PoolDraft, entry};
use crate::diagnostic::LocatedProblem;

/// The inputs of 9.x (variables.tf at 9.5.2).
const INPUTS_9: &[&str] = &[
    "debug",
    "enable_managed_kms_key",
    "environment",
    "iam_object_prefix",
    "iam_permissions_boundary",
    "kms_key_id",
    "kms_managed_alias_name",
    "kms_managed_deletion_rotation_window_in_days",
    "runner_ami_filter",
    "runner_ami_id",
    "runner_ami_owners",
    "runner_cloudwatch",
    "runner_egress_rules",
    "runner_enable_asg_recreation",
    "runner_gitlab",
    "runner_gitlab_registration_config",
    "runner_gitlab_registration_token_secure_parameter_store_name",
    "runner_gitlab_token_secure_parameter_store",
    "runner_ingress_rules",
    "runner_install",
    "runner_instance",
    "runner_manager",
    "runner_metadata_options",
    "runner_networking",
    "runner_role",
    "runner_schedule_config",
    "runner_schedule_enable",
    "runner_sentry_secure_parameter_store_name",
    "runner_terminate_ec2_environment_variables",
    "runner_terminate_ec2_lambda_egress_rules",
    "runner_terminate_ec2_lambda_handler",
    "runner_terminate_ec2_lambda_layer_arns",
    "runner_terminate_ec2_lifecycle_hook_name",
    "runner_terminate_ec2_lifecycle_timeout_duration",
    "runner_terminate_ec2_timeout_duration",
    "runner_terraform_timeout_delete_asg",
    "runner_worker",
    "runner_worker_cache",
    "runner_worker_docker_add_dind_volumes",
    "runner_worker_docker_autoscaler",
    "runner_worker_docker_autoscaler_ami_filter",
    "runner_worker_docker_autoscaler_ami_id",
    "runner_worker_docker_autoscaler_ami_owners",
    "runner_worker_docker_autoscaler_asg",
    "runner_worker_docker_autoscaler_autoscaling_options",
    "runner_worker_docker_autoscaler_instance",
    "runner_worker_docker_autoscaler_role",
    "runner_worker_docker_machine_ami_filter",
    "runner_worker_docker_machine_ami_id",
    "runner_worker_docker_machine_ami_owners",
    "runner_worker_docker_machine_autoscaling_options",
    "runner_worker_docker_machine_ec2_metadata_options",
    "runner_worker_docker_machine_ec2_options",
    "runner_worker_docker_machine_fleet",
    "runner_worker_docker_machine_instance",
    "runner_worker_docker_machine_instance_spot",
    "runner_worker_docker_machine_role",
    "runner_worker_docker_machine_security_group_description",
    "runner_worker_docker_options",
    "runner_worker_docker_services",
    "runner_worker_docker_services_volumes_tmpfs",
    "runner_worker_docker_volumes_tmpfs",
    "runner_worker_egress_rules",
    "runner_worker_gitlab_pipeline",
    "runner_worker_ingress_rules",
    "security_group_prefix",
    "subnet_id",
    "suppressed_tags",
    "tags",
    "vpc_id",
];
/// Inputs 9.0.0 added (CHANGELOG 9.0.0: custom egress rules, #1222) and later 9.x minors.
const ONLY_9: &[&str] = &[
    "runner_egress_rules",
    "runner_ingress_rules",
    "runner_worker_egress_rules",
    "runner_worker_ingress_rules",
    "runner_terminate_ec2_environment_variables",
    "runner_terminate_ec2_lambda_egress_rules",
    "runner_terminate_ec2_lambda_handler",
    "runner_terminate_ec2_lambda_layer_arns",
];
/// Inputs of 7.x and 8.x that 9.0.0 replaced (by `runner_egress_rules` and `runner_worker_egress_rules`).
const ONLY_7_8: &[&str] = &["runner_networking_egress_rules", "runner_worker_docker_machine_extra_egress_rules"];
/// Inputs 8.1.0 added (CHANGELOG 8.1.0, #1214): not in 7.x.
const SINCE_8_1: &[&str] =
    &["runner_ami_id", "runner_worker_docker_autoscaler_ami_id", "runner_worker_docker_machine_ami_id"];
/// Terraform's own arguments of a module block.
const META: &[&str] = &["source", "version", "providers", "count", "for_each", "depends_on"];

/// Inputs the import reads; every other input that is set is reported with what to do instead.
const READ: &[&str] = &[
    "environment",
    "vpc_id",
    "subnet_id",
    "tags",
    "runner_gitlab",
    "runner_gitlab_registration_config",
    "runner_instance",
    "runner_worker",
    "runner_manager",
    "runner_worker_docker_options",
    "runner_worker_docker_autoscaler",
    "runner_worker_docker_autoscaler_asg",
    "runner_worker_docker_autoscaler_instance",
    "runner_worker_docker_autoscaler_autoscaling_options",
    "runner_worker_docker_autoscaler_ami_filter",
    "runner_worker_docker_machine_instance",
    "runner_worker_docker_machine_instance_spot",
    "runner_worker_docker_machine_autoscaling_options",
    "runner_worker_cache",
    "runner_cloudwatch",
    "runner_metadata_options",
    "runner_schedule_enable",
    "runner_schedule_config",
];

/// What to do instead, for inputs runnergen has no key for.
fn instead(input: &str) -> &'static str {
    match input {
        "runner_worker_docker_services" | "runner_worker_gitlab_pipeline" | "runner_install" => {
            "runnergen bakes the runner and its settings into the AMI; move services and scripts into the jobs' .gitlab-ci.yml"
        }
        "kms_key_id" | "enable_managed_kms_key" => {
            "set `aws.ebs_kms_key_arn` to the key's ARN (it encrypts volumes and the AMI)"
        }
        "runner_ingress_rules"
        | "runner_egress_rules"
        | "runner_worker_ingress_rules"
        | "runner_worker_egress_rules"
        | "runner_networking"
        | "runner_networking_egress_rules"
        | "runner_worker_docker_machine_extra_egress_rules"
        | "security_group_prefix" => {
            "runnergen makes its own security groups: no ingress, egress as docs/terraform.md says; add rules outside the generated Terraform"
        }
        "runner_role"
        | "runner_worker_docker_autoscaler_role"
        | "runner_worker_docker_machine_role"
        | "iam_permissions_boundary"
        | "iam_object_prefix" => {
            "runnergen makes least-privilege roles of its own; extra policies go outside the generated Terraform"
        }
        "runner_ami_filter"
        | "runner_ami_owners"
        | "runner_ami_id"
        | "runner_worker_docker_machine_ami_filter"
        | "runner_worker_docker_machine_ami_owners"
        | "runner_worker_docker_machine_ami_id"
        | "runner_worker_docker_autoscaler_ami_owners"
        | "runner_worker_docker_autoscaler_ami_id" => {
            "runnergen bakes one AMI with Packer for managers and workers (`image.os`, `image.arch`)"
        }
        "runner_worker_docker_machine_ec2_options"
        | "runner_worker_docker_machine_fleet"
        | "runner_worker_docker_machine_security_group_description"
        | "runner_worker_docker_machine_ec2_metadata_options" => {
            "docker-machine's settings: runnergen runs no docker-machine (its autoscaler pools use GitLab's fleeting plugin)"
        }
        "runner_terminate_ec2_lifecycle_hook_name"
        | "runner_terminate_ec2_lifecycle_timeout_duration"
        | "runner_terminate_ec2_timeout_duration"
        | "runner_terminate_ec2_environment_variables"
        | "runner_terminate_ec2_lambda_egress_rules"
        | "runner_terminate_ec2_lambda_handler"
        | "runner_terminate_ec2_lambda_layer_arns"
        | "runner_terraform_timeout_delete_asg"
        | "runner_enable_asg_recreation" => {
            "runnergen has no Lambda: each instance drains and unregisters itself, waiting up to `job_timeout_minutes`"
        }
        "runner_gitlab_registration_token_secure_parameter_store_name"
        | "runner_gitlab_token_secure_parameter_store"
        | "runner_sentry_secure_parameter_store_name" => {
            "the pool's glrt- token is in `token_parameter`; runnergen has no Sentry"
        }
        "runner_worker_docker_volumes_tmpfs"
        | "runner_worker_docker_services_volumes_tmpfs"
        | "runner_worker_docker_add_dind_volumes" => "runnergen takes `docker.volumes` only",
        "suppressed_tags" => "`aws.tags` are put on everything",
        _ => "runnergen decides this itself: see docs/migrate.md for what it does instead",
    }
}

/// The module's major version and how it was recognised.
struct Version {
    major: u32,
    how: String,
}

/// The module blocks of a Terraform file, each one pool; `None` when there is none.
pub fn import(ctx: &mut Ctx<'_>) -> Result<Option<Draft>, LocatedProblem> {
    let body = hcl::edit::parser::parse_body(ctx.text).map_err(|e| {
        let at = e.location().offset();
        LocatedProblem::new(at..at, format!("this is not a Terraform file runnergen can read: {}", e.message()), "here")
            .help("runnergen import reads a Terraform file with `module` blocks of cattle-ops/terraform-aws-gitlab-runner, or a gitlab-runner config.toml")
    })?;
    let locals = Locals::of(&body, ctx.text);
    let mut pools = Vec::new();
    let mut majors = Vec::new();
    for (labels, block, head) in blocks(&body, "module") {
        let label = labels.first().cloned().unwrap_or_default();
        let attrs = attributes(block, ctx.text, &locals);
        let root = At::new(V::Obj(attrs.iter().map(|(k, _, v)| (k.clone(), v.clone())).collect()), head.clone());
        let place = ctx.loc(&head);
        let source = root.get("source").and_then(At::str).unwrap_or_default().to_owned();
        let by_source = source.contains("cattle-ops/gitlab-runner/aws")
            || source.contains("npalm/gitlab-runner/aws")
            || source.contains("terraform-aws-gitlab-runner");
        let local = source.starts_with("./") || source.starts_with("../");
        let known =
            attrs.iter().filter(|(k, _, _)| INPUTS_9.contains(&k.as_str()) || ONLY_7_8.contains(&k.as_str())).count();
        let by_inputs = local && root.get("runner_gitlab").is_some() && known >= 3;
        if !by_source && !by_inputs {
            ctx.report
                .found
                .push(format!("{place}: module {label:?} (source {source:?}) is not the cattle-ops module: skipped"));
            continue;
        }
        let version = version(&root, &source, &attrs);
        ctx.report.found.push(format!(
            "{place}: module {label:?}: the cattle-ops module {}.x, recognised by {} ({})",
            version.major,
            if by_source { "its source" } else { "its inputs (a local source)" },
            version.how
        ));
        if !(7..=9).contains(&version.major) {
            ctx.report.no_equivalent.push(format!(
                "{place}: module {label:?}: version {}.x: runnergen reads the inputs of 7.x to 9.x; this block is read as 9.x, and inputs 9.x does not have are ignored: upgrade the module first, or check every value",
                version.major
            ));
        }
        majors.push(version.major);
        let first = pools.is_empty();
        pools.push(pool(ctx, &label, &root, &attrs, &version, first));
    }
    if pools.is_empty() {
        return Ok(None);
    }
    majors.dedup();
    let versions: Vec<String> = majors.iter().map(|m| format!("{m}.x")).collect();
    let kind = format!(
        "{} of the cattle-ops module terraform-aws-gitlab-runner ({})",
        super::super::diagnostic::plural(pools.len(), "module block"),
        versions.join(", ")
    );
    Ok(Some(Draft { kind, pools }))
}

/// The major version, from `version`, the source's `?ref=`, or the inputs each major has.
fn version(root: &At, source: &str, attrs: &[(String, Range<usize>, At)]) -> Version {
    let major_of = |text: &str| -> Option<u32> {
        let digits: String =
            text.chars().skip_while(|c| !c.is_ascii_digit()).take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    if let Some(v) = root.get("version").and_then(At::str)
        && let Some(major) = major_of(v)
    {
        return Version { major, how: format!("version {v:?}") };
    }
    if let Some((_, r)) = source.split_once("ref=")
        && let Some(major) = major_of(r)
    {
        return Version { major, how: format!("ref={r}") };
    }
    let has = |list: &[&str]| attrs.iter().find(|(k, _, _)| list.contains(&k.as_str())).map(|(k, _, _)| k.clone());
    if let Some(name) = has(ONLY_9) {
        return Version { major: 9, how: format!("input {name}, new in 9.0.0") };
    }
    if let Some(name) = has(ONLY_7_8) {
        let major = if has(SINCE_8_1).is_some() { 8 } else { 7 };
        return Version {
            major,
            how: format!("input {name}, which 9.0.0 replaced; 7.x and 8.x share the defaults read here"),
        };
    }
    Version { major: 9, how: "no version and no input of another major: the newest, 9.x".into() }
}

/// A value at a dotted path of the block's inputs.
fn get<'a>(root: &'a At, path: &str) -> Option<&'a At> {
    path.split('.').try_fold(root, |at, key| at.get(key))
}

fn string_of(at: &At) -> Option<Node> {
    at.str().filter(|s| !s.is_empty()).map(Node::string)
}

fn whole(at: &At) -> Option<u64> {
    at.num().filter(|n| *n >= 0.0 && n.fract() == 0.0).map(|n| n as u64)
}

/// A whole number of the input as a number of the spec.
fn whole_number(at: &At) -> Option<Node> {
    whole(at).map(|n| Node::number(n as f64))
}

fn strings_of(at: &At) -> Option<Vec<String>> {
    at.list()?.iter().map(|i| i.str().map(str::to_owned)).collect()
}

/// The fleet name from an environment: lowercase letters, digits and dashes, at most 32.
fn fleet_name(env: &str) -> String {
    let mut name = super::pool_name(env);
    if name.len() > 20 {
        name.truncate(20);
    }
    name
}

fn pool(
    ctx: &mut Ctx<'_>,
    label: &str,
    root: &At,
    attrs: &[(String, Range<usize>, At)],
    version: &Version,
    first: bool,
) -> PoolDraft {
    let major = version.major;
    let ver = format!("{major}.x");
    let default = |ctx: &mut Ctx<'_>, input: &str, key: &str, value: &str, cite: &str| {
        ctx.report.assumed.push(format!("`{key}`: {value}, the default of {input} in the module {ver} ({cite})"));
        format!("the module's default for {input} ({ver})")
    };
    for (name, span, _) in attrs {
        if META.contains(&name.as_str()) {
            continue;
        }
        let exists = match major {
            7 | 8 => {
                (INPUTS_9.contains(&name.as_str()) && !ONLY_9.contains(&name.as_str()))
                    || ONLY_7_8.contains(&name.as_str())
            }
            _ => INPUTS_9.contains(&name.as_str()),
        };
        let place = ctx.loc(span);
        if !exists {
            ctx.report.no_equivalent.push(format!(
                "{place}: the module {ver} has no input `{name}`: its value is ignored (check the module's CHANGELOG for what it became)"
            ));
        } else if !READ.contains(&name.as_str()) {
            ctx.report.no_equivalent.push(format!("{place}: {name}: no equivalent; {}", instead(name)));
        }
    }

    // The pool's name: the environment, else the block's label.
    let env = get(root, "environment");
    let (name, name_from) = match env.and_then(At::str) {
        Some(e) if !e.is_empty() => {
            (super::pool_name(e), format!("environment at {}", ctx.loc(&env.map_or(0..0, |a| a.span.clone()))))
        }
        _ => (super::pool_name(label), format!("the module block's name {label:?}")),
    };
    let name = ctx.unique_name(&name, &name_from);
    let mut fleet = FleetBits::default();
    if first {
        fleet.name = match env {
            Some(e) if e.str().is_some() => {
                let n = fleet_name(e.str().unwrap_or_default());
                ctx.report.carried.push(format!("{}: environment -> `name` ({n})", ctx.loc(&e.span)));
                Some(Field::new(Node::string(&n), format!("from environment at {}", ctx.loc(&e.span))))
            }
            _ => ctx.take("environment", "name", env, string_of),
        };
    }
    fleet.vpc_id = ctx.take("vpc_id", "aws.vpc_id", get(root, "vpc_id"), string_of);

    let executor_at = get(root, "runner_worker.type");
    let executor = match executor_at.and_then(At::str) {
        Some(t) => t.to_owned(),
        None if executor_at.is_some() => {
            let (text, span) = executor_at.and_then(At::reference).unwrap_or(("?", 0..0));
            let at = ctx.loc(&span);
            ctx.report
                .unresolved
                .push(format!("{at}: runner_worker.type = {text}: read as the default, docker+machine"));
            "docker+machine".into()
        }
        None => {
            default(ctx, "runner_worker.type", "executor", "docker+machine", "variables.tf:547 at 9.5.2");
            "docker+machine".into()
        }
    };
    let autoscaler = executor != "docker";
    let workers_subnets = match executor.as_str() {
        "docker-autoscaler" => get(root, "runner_worker_docker_autoscaler_asg.subnet_ids"),
        _ => get(root, "runner_worker_docker_machine_instance.subnet_ids"),
    }
    .filter(|s| s.list().is_none_or(|l| !l.is_empty()));
    fleet.subnet_ids = match workers_subnets {
        Some(s) => {
            ctx.take("the workers' subnet_ids", "aws.subnet_ids", Some(s), |a| strings_of(a).map(|v| Node::strings(&v)))
        }
        None => {
            ctx.take("subnet_id", "aws.subnet_ids", get(root, "subnet_id"), |a| a.str().map(|s| Node::strings(&[s])))
        }
    };
    fleet.url = ctx.take("runner_gitlab.url", "gitlab.url", get(root, "runner_gitlab.url"), string_of);
    fleet.tags = ctx.take("tags", "aws.tags", get(root, "tags"), |a| {
        let entries: Option<Vec<super::Entry>> = a
            .entries()
            .iter()
            .map(|(k, v)| {
                v.str().map(|s| entry(&serde_json::Value::from(k.as_str()).to_string(), Field::plain(Node::string(s))))
            })
            .collect();
        entries.filter(|e| !e.is_empty()).map(Node::Map)
    });
    let rv = get(root, "runner_gitlab.runner_version");
    fleet.runner_version = match rv {
        Some(at) if at.str().is_some() => {
            let literal = at.str().unwrap_or_default().to_owned();
            let place = ctx.loc(&at.span);
            ctx.report.carried.push(format!("{place}: runner_gitlab.runner_version -> `image.runner_version`"));
            Some((
                Field::plain(Node::string(&literal)),
                Some(literal),
                format!("runner_gitlab.runner_version at {place}"),
            ))
        }
        Some(at) => ctx
            .take("runner_gitlab.runner_version", "image.runner_version", Some(at), string_of)
            .map(|f| (f, None, String::new())),
        None => {
            // variables.tf at 9.5.2:406 (and 8.1.0:344, 7.15.0:338); 7.0.0:327 had 15.8.2.
            let literal = "16.0.3";
            Some((
                Field::plain(Node::string(literal)),
                Some(literal.to_owned()),
                format!("the module {ver}'s default for runner_gitlab.runner_version"),
            ))
        }
    };

    // Secrets: never copied.
    for path in ["runner_gitlab.registration_token", "runner_gitlab_registration_config.registration_token"] {
        if let Some(at) = get(root, path) {
            let place = ctx.loc(&at.span);
            let what =
                if at.literal() { "a literal token in the file: remove it and revoke it" } else { "a reference" };
            ctx.report.secrets.push(format!("{place}: {path} ({what}); not copied: runnergen never takes registration tokens, only a glrt- token in SSM"));
        }
    }
    if let Some(at) = get(root, "runner_gitlab.preregistered_runner_token_ssm_parameter_name") {
        let place = ctx.loc(&at.span);
        ctx.report.changed.push(format!(
            "{place}: pool `{name}`: the old runner's token parameter is not reused: the new pool gets a runner (and a parameter) of its own, so that either fleet can be paused alone"
        ));
    }
    let mut out = Pool::default();
    let fleet_prefix = env.and_then(At::str).map_or_else(|| "ci".to_owned(), fleet_name);
    let parameter = format!("/{fleet_prefix}/{name}/runner-token");
    out.token_parameter =
        Some(Field::new(Node::string(&parameter), "a new SecureString for the new runner's glrt- token"));
    super::token_steps(&mut ctx.report, &name, &parameter, None);

    // The runner's settings in GitLab, from the deprecated registration config.
    if let Some(tags) =
        get(root, "runner_gitlab_registration_config.tag_list").and_then(At::str).filter(|t| !t.is_empty())
    {
        let list: Vec<&str> = tags.split(',').map(str::trim).filter(|t| !t.is_empty()).collect();
        out.runner.push(entry("tags", Field::new(Node::strings(&list), "tag_list, split at commas")));
    }

    // Differences by design.
    let hop = get(root, "runner_metadata_options.http_put_response_hop_limit").and_then(At::num).unwrap_or(2.0);
    if hop > 1.0 {
        ctx.report.changed.push(format!(
            "pool `{name}`: the module's instance metadata hop limit is {hop} (a container can reach the instance role); runnergen's is 1 and jobs are firewalled from the metadata service"
        ));
    }
    if get(root, "runner_instance.use_eip").and_then(At::boolean) == Some(true) {
        ctx.report.changed.push(format!("pool `{name}`: runner_instance.use_eip: runnergen gives no Elastic IP; egress goes through the subnets' NAT gateway, whose address is the one to allow-list"));
    }
    let public = [
        "runner_instance.private_address_only",
        "runner_worker_docker_machine_instance.private_address_only",
        "runner_worker_docker_autoscaler_instance.private_address_only",
    ];
    if public.iter().any(|p| get(root, p).and_then(At::boolean) == Some(false)) {
        ctx.report.changed.push(format!("pool `{name}`: public IP addresses: runnergen's instances get none; the subnets need a NAT gateway or VPC endpoints"));
    }
    if autoscaler {
        ctx.report.changed.push(format!(
            "pool `{name}`: SSH key pairs: the module's manager reaches workers with a key pair ({}); runnergen's manager uses keys made per connection, and workers take SSH from their manager only",
            if executor == "docker-autoscaler" { "runner_worker_docker_autoscaler.key_pair_name" } else { "docker-machine's" }
        ));
    }
    ctx.report.changed.push(format!(
        "pool `{name}`: Lambda functions: the module's terminate-agent-hook Lambda is not needed: runnergen's instances drain and unregister themselves"
    ));
    if get(root, "runner_schedule_enable").and_then(At::boolean) == Some(true) {
        let at = get(root, "runner_schedule_enable").map_or(0..0, |a| a.span.clone());
        ctx.report.no_equivalent.push(format!(
            "{}: runner_schedule_enable scales the manager itself; {}",
            ctx.loc(&at),
            if autoscaler {
                "runnergen's manager stays up (so late jobs are taken) and its workers follow the windows"
            } else {
                "write the hours as a window of the pool (`schedule.windows` with `capacity`)"
            }
        ));
    }

    // Docker settings, as the module writes [runners.docker] (variables.tf:652-730 at 9.5.2).
    let docker = get(root, "runner_worker_docker_options");
    match docker.and_then(|d| d.get("image")) {
        Some(at) => {
            if let Some(f) = ctx.take("runner_worker_docker_options.image", "docker.image", Some(at), string_of) {
                out.docker.push(entry("image", f));
            }
        }
        None => {
            let note = default(
                ctx,
                "runner_worker_docker_options.image",
                "docker.image",
                "docker:18.03.1-ce",
                "variables.tf:690 at 9.5.2",
            );
            out.docker.push(entry("image", Field::new(Node::string("docker:18.03.1-ce"), note)));
        }
    }
    match docker.and_then(|d| d.get("privileged")) {
        Some(at) => {
            if let Some(f) = ctx.take("runner_worker_docker_options.privileged", "docker.privileged", Some(at), |a| {
                a.boolean().map(Node::boolean)
            }) {
                out.docker.push(entry("privileged", f));
            }
        }
        None => {
            let note = default(
                ctx,
                "runner_worker_docker_options.privileged",
                "docker.privileged",
                "true",
                "variables.tf:700 at 9.5.2",
            );
            out.docker.push(entry("privileged", Field::new(Node::boolean(true), format!("{note}: `validate` warns"))));
        }
    }
    if let Some(at) = docker.and_then(|d| d.get("volumes"))
        && let Some(f) = ctx.take("runner_worker_docker_options.volumes", "docker.volumes", Some(at), |a| {
            strings_of(a).map(|v| Node::strings(&v))
        })
    {
        out.docker.push(entry("volumes", f));
    }
    if let Some(at) = docker.and_then(|d| d.get("pull_policies"))
        && let Some(f) = ctx.take("runner_worker_docker_options.pull_policies", "docker.pull_policy", Some(at), |a| {
            strings_of(a).and_then(|v| v.first().cloned()).map(|p| Node::string(&p))
        })
    {
        if at.list().is_some_and(|l| l.len() > 1) {
            ctx.report
                .changed
                .push(format!("{}: pull_policies lists several; runnergen takes one, the first", ctx.loc(&at.span)));
        }
        out.docker.push(entry("pull_policy", f));
    }

    let mut types = Vec::new();
    let place = ctx.loc(&root.span);
    match executor.as_str() {
        "docker" => {
            ctx.report.changed.push(format!("{place}: pool `{name}`: the docker executor on the module's one instance becomes an instance pool of one instance"));
            out.executor = Some(Field::plain(Node::string("docker")));
            let t = get(root, "runner_instance.type");
            out.instance_types = match t {
                Some(at) => ctx
                    .take("runner_instance.type", "instance_types", Some(at), |a| a.str().map(|s| Node::strings(&[s]))),
                None => {
                    let note =
                        default(ctx, "runner_instance.type", "instance_types", "t3.micro", "variables.tf:136 at 9.5.2");
                    Some(Field::new(Node::strings(&["t3.micro"]), note))
                }
            };
            types.push(t.and_then(At::str).unwrap_or("t3.micro").to_owned());
            out.spot = get(root, "runner_instance.spot_price").map(|at| {
                ctx.report.carried.push(format!("{}: runner_instance.spot_price -> `spot: true`", ctx.loc(&at.span)));
                Field::new(
                    Node::boolean(true),
                    "runner_instance.spot_price is set; runnergen pays at most the on-demand price",
                )
            });
            out.capacity = Some(Field::new(Node::Scalar("{min: 1, max: 1}".into()), "the module runs one instance"));
            out.concurrent = match get(root, "runner_manager.maximum_concurrent_jobs") {
                Some(at) => ctx.take("runner_manager.maximum_concurrent_jobs", "concurrent", Some(at), |a| {
                    whole(a).filter(|n| (1..=64).contains(n)).map(|n| Node::number(n as f64))
                }),
                None => {
                    let note = default(
                        ctx,
                        "runner_manager.maximum_concurrent_jobs",
                        "concurrent",
                        "10",
                        "variables.tf:97 at 9.5.2",
                    );
                    Some(Field::new(Node::number(10.0), note))
                }
            };
        }
        "docker-autoscaler" | "docker+machine" => {
            let machine = executor == "docker+machine";
            out.autoscaler = Some(if machine {
                ctx.report.changed.push(format!(
                    "{place}: pool `{name}`: docker+machine (removed in gitlab-runner 20.0) becomes an autoscaler pool (docker-autoscaler with GitLab's fleeting plugin): workers come from an Auto Scaling group runnergen makes, of an AMI it bakes; IdleCount, IdleTime, MaxBuilds and periods carry over as idle, max_use_count and windows; IdleCountMin, IdleScaleFactor and MaxGrowthRate have no equivalent"
                ));
                Some("docker+machine becomes an autoscaler pool".to_owned())
            } else {
                None
            });
            out.executor = Some(Field::plain(Node::string("docker")));
            if let Some(at) = get(root, "runner_instance.type") {
                out.manager_type = ctx.take("runner_instance.type", "manager.instance_type", Some(at), string_of);
            } else {
                ctx.report.changed.push(format!("pool `{name}`: the manager is runnergen's default (t3.small, or t4g.small on arm64), not the module's t3.micro"));
            }
            if get(root, "runner_instance.spot_price").is_some() {
                ctx.report.changed.push(format!("pool `{name}`: runner_instance.spot_price: runnergen's manager is always on-demand: a reclaimed manager takes its workers' jobs with it"));
            }
            let (types_path, types_default, types_cite) = if machine {
                ("runner_worker_docker_machine_instance.types", "m5.large", "variables.tf:1093 at 9.5.2")
            } else if major >= 9 {
                (
                    "runner_worker_docker_autoscaler_asg.types",
                    "m5.large",
                    "default_instance_type, variables.tf:838 at 9.5.2, as types is empty",
                )
            } else {
                ("runner_worker_docker_autoscaler_asg.types", "m5.large", "variables.tf:698 at 8.1.0")
            };
            let t = get(root, types_path).filter(|a| a.list().is_none_or(|l| !l.is_empty()));
            out.instance_types = match t {
                Some(at) => ctx
                    .take(types_path, "workers.instance_types", Some(at), |a| strings_of(a).map(|v| Node::strings(&v))),
                None if !machine
                    && get(root, "runner_worker_docker_autoscaler_asg.default_instance_type").is_some() =>
                {
                    ctx.take(
                        "runner_worker_docker_autoscaler_asg.default_instance_type",
                        "workers.instance_types",
                        get(root, "runner_worker_docker_autoscaler_asg.default_instance_type"),
                        |a| a.str().map(|s| Node::strings(&[s])),
                    )
                }
                None => {
                    let note = default(ctx, types_path, "workers.instance_types", types_default, types_cite);
                    Some(Field::new(Node::strings(&[types_default]), note))
                }
            };
            match t {
                Some(at) => types.extend(strings_of(at).unwrap_or_default()),
                None => types.push(types_default.to_owned()),
            }
            if get(root, "runner_worker_docker_autoscaler_asg.instance_requirements").is_some() {
                ctx.report.no_equivalent.push(format!("pool `{name}`: instance_requirements: runnergen lists instance types: write up to 20 in `workers.instance_types`"));
            }
            // Spot.
            out.spot = if machine {
                match get(root, "runner_worker_docker_machine_instance_spot.enable") {
                    Some(at) => {
                        ctx.take("runner_worker_docker_machine_instance_spot.enable", "workers.spot", Some(at), |a| {
                            a.boolean().map(Node::boolean)
                        })
                    }
                    None => {
                        let note = default(
                            ctx,
                            "runner_worker_docker_machine_instance_spot.enable",
                            "workers.spot",
                            "true",
                            "variables.tf:1123 at 9.5.2",
                        );
                        Some(Field::new(Node::boolean(true), note))
                    }
                }
            } else {
                let asg = get(root, "runner_worker_docker_autoscaler_asg");
                let mixed =
                    asg.and_then(|a| a.get("enable_mixed_instances_policy")).and_then(At::boolean).unwrap_or(false);
                let above = asg
                    .and_then(|a| a.get("on_demand_percentage_above_base_capacity"))
                    .and_then(At::num)
                    .unwrap_or(100.0);
                let base = asg.and_then(|a| a.get("on_demand_base_capacity")).and_then(At::num).unwrap_or(0.0);
                let spot = mixed && above < 100.0;
                if spot && (base > 0.0 || above > 0.0) {
                    ctx.report.changed.push(format!(
                        "pool `{name}`: on_demand_base_capacity {base} and on_demand_percentage_above_base_capacity {above}: runnergen's workers are all spot or all on-demand; this pool's are spot"
                    ));
                }
                Some(Field::new(
                    Node::boolean(spot),
                    format!("enable_mixed_instances_policy {mixed}, on_demand_percentage_above_base_capacity {above}"),
                ))
            };
            // How many workers.
            let max_jobs = get(root, "runner_worker.max_jobs");
            out.max_instances = match max_jobs.map(|a| (a, whole(a))) {
                Some((_, Some(n))) if n > 0 => {
                    ctx.take("runner_worker.max_jobs", "workers.max_instances", max_jobs, |a| {
                        whole(a).map(|n| Node::number(n as f64))
                    })
                }
                Some((at, None)) if !at.literal() => {
                    ctx.take("runner_worker.max_jobs", "workers.max_instances", max_jobs, |_| None)
                }
                _ => {
                    let what = if machine { "no limit on docker+machine" } else { "a worker group of size 0" };
                    let place = max_jobs.map_or_else(
                        || "the module's default (variables.tf:543 at 9.5.2)".to_owned(),
                        |a| ctx.loc(&a.span),
                    );
                    ctx.report.unresolved.push(format!("`workers.max_instances`: runner_worker.max_jobs is 0 ({place}), {what}; runnergen needs the most workers at once"));
                    Some(Field::fill(format!("runner_worker.max_jobs is 0 ({what}): the most workers at once"), None))
                }
            };
            if machine {
                let m = get(root, "runner_worker_docker_machine_instance");
                let builds = m.and_then(|m| m.get("destroy_after_max_builds"));
                out.max_use_count = match builds {
                    Some(at) => ctx.take(
                        "runner_worker_docker_machine_instance.destroy_after_max_builds",
                        "workers.max_use_count",
                        Some(at),
                        whole_number,
                    ),
                    None => {
                        let note = default(
                            ctx,
                            "runner_worker_docker_machine_instance.destroy_after_max_builds",
                            "workers.max_use_count",
                            "0 (no limit)",
                            "variables.tf:1080 at 9.5.2",
                        );
                        Some(Field::new(Node::number(0.0), format!("{note}: 1 would give every job a fresh worker")))
                    }
                };
                if let Some(at) = m.and_then(|m| m.get("root_size")) {
                    out.volume_gb = ctx.take(
                        "runner_worker_docker_machine_instance.root_size",
                        "workers.volume_gb",
                        Some(at),
                        whole_number,
                    );
                }
                let count = m.and_then(|m| m.get("idle_count")).and_then(whole).unwrap_or(0);
                let time = m.and_then(|m| m.get("idle_time")).and_then(whole).unwrap_or(600);
                if m.and_then(|m| m.get("idle_count")).is_none() {
                    default(
                        ctx,
                        "runner_worker_docker_machine_instance.idle_count",
                        "idle.count",
                        "0",
                        "variables.tf:1083 at 9.5.2",
                    );
                }
                if m.and_then(|m| m.get("idle_time")).is_none() {
                    default(
                        ctx,
                        "runner_worker_docker_machine_instance.idle_time",
                        "idle.time",
                        "600 seconds",
                        "variables.tf:1084 at 9.5.2",
                    );
                }
                let time = super::idle_time_of(ctx, &name, &super::go_duration(time), &place);
                let policies = policies(ctx, root, "runner_worker_docker_machine_autoscaling_options");
                let (base, schedule) = super::schedule(ctx, &name, (count, Some(time)), &policies, true, "UTC");
                out.idle = Some(Field::new(super::idle_node(base.0, base.1.as_deref()), "IdleCount and IdleTime"));
                out.schedule = schedule;
            } else {
                let a = get(root, "runner_worker_docker_autoscaler");
                out.capacity_per_instance = a.and_then(|a| a.get("capacity_per_instance")).and_then(|at| {
                    ctx.take(
                        "runner_worker_docker_autoscaler.capacity_per_instance",
                        "workers.capacity_per_instance",
                        Some(at),
                        whole_number,
                    )
                });
                out.max_use_count = match a.and_then(|a| a.get("max_use_count")) {
                    Some(at) => ctx.take(
                        "runner_worker_docker_autoscaler.max_use_count",
                        "workers.max_use_count",
                        Some(at),
                        whole_number,
                    ),
                    None => {
                        let note = default(
                            ctx,
                            "runner_worker_docker_autoscaler.max_use_count",
                            "workers.max_use_count",
                            "100",
                            "variables.tf:761 at 9.5.2",
                        );
                        Some(Field::new(
                            Node::number(100.0),
                            format!("{note}: runnergen's own default, 1, gives every job a fresh worker"),
                        ))
                    }
                };
                if let Some(at) = get(root, "runner_worker_docker_autoscaler_instance.root_size") {
                    out.volume_gb = ctx.take(
                        "runner_worker_docker_autoscaler_instance.root_size",
                        "workers.volume_gb",
                        Some(at),
                        whole_number,
                    );
                }
                fleet.plugin_version = match a.and_then(|a| a.get("fleeting_plugin_version")) {
                    Some(at) => ctx.take(
                        "runner_worker_docker_autoscaler.fleeting_plugin_version",
                        "image.fleeting_plugin_version",
                        Some(at),
                        string_of,
                    ),
                    None => {
                        let note = default(
                            ctx,
                            "runner_worker_docker_autoscaler.fleeting_plugin_version",
                            "image.fleeting_plugin_version",
                            "1.0.0",
                            "variables.tf:757 at 9.5.2",
                        );
                        Some(Field::new(Node::string("1.0.0"), note))
                    }
                };
                let policies = policies(ctx, root, "runner_worker_docker_autoscaler_autoscaling_options");
                let (base, schedule) = super::schedule(ctx, &name, (0, None), &policies, false, "UTC");
                if base.0 > 0 || base.1.is_some() {
                    out.idle =
                        Some(Field::new(super::idle_node(base.0, base.1.as_deref()), "the policy for every minute"));
                }
                out.schedule = schedule;
                for key in ["scale_factor", "scale_factor_limit", "preemptive_mode"] {
                    let set = get(root, "runner_worker_docker_autoscaler_autoscaling_options")
                        .and_then(At::list)
                        .is_some_and(|l| l.iter().any(|p| p.get(key).is_some()));
                    if set {
                        ctx.report.no_equivalent.push(format!("pool `{name}`: autoscaling policies' {key}: runnergen keeps `idle.count` slots ready, and sets preemptive_mode itself (docs/autoscaler.md)"));
                    }
                }
            }
            // The OS: from the workers' AMI filter where it names one, else the module's
            // manager AMI, Amazon Linux 2023 (runner_ami_filter, variables.tf:144-151 at 9.5.2).
            let filter = get(root, "runner_worker_docker_autoscaler_ami_filter.name")
                .and_then(strings_of)
                .unwrap_or_default()
                .join(" ");
            let os = if filter.contains("ubuntu") && filter.contains("24") {
                Some("ubuntu-24.04")
            } else if filter.contains("ubuntu") && filter.contains("22") {
                Some("ubuntu-22.04")
            } else if filter.contains("al2023") {
                Some("amazon-linux-2023")
            } else {
                None
            };
            fleet.os = Some(match os {
                Some(os) => {
                    Field::new(Node::string(os), format!("runner_worker_docker_autoscaler_ami_filter names {filter:?}"))
                }
                None => {
                    ctx.report.changed.push(format!("pool `{name}`: runnergen bakes one AMI for managers and workers: amazon-linux-2023, as the module's manager (runner_ami_filter); docker is installed in it"));
                    Field::new(
                        Node::string("amazon-linux-2023"),
                        "the module's manager AMI (runner_ami_filter); one AMI serves managers and workers",
                    )
                }
            });
        }
        other => {
            ctx.report.no_equivalent.push(format!("{place}: pool `{name}`: executor {other:?} is not supported: runnergen runs docker, docker-autoscaler and shell"));
            out.executor = Some(Field::fill(format!("executor {other:?} is not supported: docker or shell"), None));
        }
    }
    if fleet.os.is_none() {
        fleet.os = Some(Field::new(Node::string("amazon-linux-2023"), "the module's runner AMI (runner_ami_filter)"));
    }

    // The cache (variables.tf:560-599 at 9.5.2: create = true, shared = false, expiration_days = 1).
    let cache = get(root, "runner_worker_cache");
    let create = cache.and_then(|c| c.get("create")).and_then(At::boolean).unwrap_or(true);
    let mut c = Vec::new();
    if create {
        c.push(entry(
            "bucket",
            Field::new(Node::string("create"), "runner_worker_cache.create (the module's default: true)"),
        ));
        let days = cache.and_then(|c| c.get("expiration_days")).and_then(whole).unwrap_or(1);
        c.push(entry(
            "expiration_days",
            Field::new(
                Node::number(days.max(1) as f64),
                "runner_worker_cache.expiration_days (the module's default: 1)",
            ),
        ));
    } else if let Some(f) =
        ctx.take("runner_worker_cache.bucket", "cache.bucket", cache.and_then(|c| c.get("bucket")), string_of)
    {
        c.push(entry("bucket", f));
    }
    if cache.and_then(|c| c.get("shared")).and_then(At::boolean) == Some(true) {
        c.push(entry("shared", Field::new(Node::boolean(true), "runner_worker_cache.shared")));
    }
    if !c.is_empty() {
        fleet.cache = Some(Field::plain(Node::Map(c)));
    }
    // Logs (variables.tf:353-365 at 9.5.2: enable = true, retention_days = 0, never expiring).
    let cw = get(root, "runner_cloudwatch");
    if cw.and_then(|c| c.get("enable")).and_then(At::boolean).unwrap_or(true) {
        const RETENTION: [u64; 22] =
            [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];
        let days = cw.and_then(|c| c.get("retention_days")).and_then(whole).unwrap_or(0);
        let (kept, note) = if RETENTION.contains(&days) {
            (days, "runner_cloudwatch.retention_days".to_owned())
        } else {
            ctx.report.changed.push(format!("pool `{name}`: runner_cloudwatch.retention_days {days} (0: never expire): runnergen keeps logs 1 to 3653 days; 3653 it is"));
            (3653, format!("runner_cloudwatch.retention_days is {days}; the longest runnergen takes"))
        };
        fleet.logs =
            Some(Field::plain(Node::Map(vec![entry("retention_days", Field::new(Node::number(kept as f64), note))])));
    }

    if !autoscaler {
        fleet.plugin_version = None;
    }
    PoolDraft { name, name_from, autoscaler, instance_types: types, entries: out.entries(), fleet }
}

/// The autoscaling options of an input as policies.
fn policies(ctx: &mut Ctx<'_>, root: &At, input: &str) -> Vec<Policy> {
    let Some(at) = get(root, input) else { return Vec::new() };
    if let (None, Some((text, span))) = (at.list(), at.reference()) {
        let place = ctx.loc(&span);
        ctx.report
            .unresolved
            .push(format!("{place}: {input} holds {text}: its periods are not read; write them as windows by hand"));
        return Vec::new();
    }
    at.list()
        .unwrap_or_default()
        .iter()
        .map(|p| Policy {
            periods: p
                .get("periods")
                .and_then(At::list)
                .unwrap_or_default()
                .iter()
                .filter_map(|x| x.str().map(|s| (s.to_owned(), x.span.clone())))
                .collect(),
            idle_count: p.get("idle_count").and_then(whole),
            idle_time: p.get("idle_time").and_then(|t| match &t.v {
                V::Num(n) => Some(super::go_duration(*n as u64)),
                V::Str(s) => super::idle_time(s),
                _ => None,
            }),
            time_zone: p.get("timezone").map(|z| match z.reference() {
                Some((text, _)) => (text.to_owned(), z.span.clone(), true),
                None => (z.str().unwrap_or_default().to_owned(), z.span.clone(), false),
            }),
            span: p.span.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_input_is_in_the_migration_guide() {
        let guide = include_str!("../../docs/migrate.md");
        for input in INPUTS_9.iter().chain(ONLY_7_8) {
            assert!(guide.contains(&format!("`{input}`")), "docs/migrate.md lacks {input}");
        }
    }

    #[test]
    fn versions_from_version_ref_or_inputs() {
        let at = |v: V| At::new(v, 0..0);
        let root = |version: Option<&str>| {
            at(V::Obj(version.map(|v| vec![("version".to_owned(), at(V::Str(v.into())))]).unwrap_or_default()))
        };
        assert_eq!(version(&root(Some("~> 8.1")), "", &[]).major, 8);
        assert_eq!(
            version(&root(None), "git::https://github.com/cattle-ops/terraform-aws-gitlab-runner.git?ref=7.15.0", &[])
                .major,
            7
        );
        let input = |name: &str| vec![(name.to_owned(), 0..0, at(V::Null))];
        assert_eq!(version(&root(None), "../../", &input("runner_worker_egress_rules")).major, 9);
        assert_eq!(version(&root(None), "../../", &input("runner_networking_egress_rules")).major, 7);
        assert_eq!(version(&root(None), "../../", &[]).major, 9);
    }
}
