//! A gitlab-runner `config.toml`: each `[[runners]]` becomes one pool. The keys are gitlab-runner's
//! (docs/configuration/advanced-configuration.md in gitlab-org/gitlab-runner: `[runners.docker]`,
//! `[runners.machine]` with `MachineOptions` of the amazonec2 driver, `[runners.autoscaler]` with
//! its `plugin_config`, `connector_config` and `policy` tables, `[runners.cache]`).

use super::value::{At, V, from_toml};
use super::{Ctx, Draft, Field, FleetBits, Node, Policy, Pool, PoolDraft, entry};
use crate::diagnostic::LocatedProblem;

/// Keys of a `[[runners]]` the import reads or reports; others are reported as no equivalent.
const RUNNER_KEYS: &[&str] = &["name", "url", "token", "executor", "limit", "docker", "machine", "autoscaler", "cache"];
/// Keys of no consequence on AWS, or that runnergen sets itself: not reported.
const QUIET_KEYS: &[&str] = &[
    "id",
    "token_obtained_at",
    "token_expires_at",
    "shell",
    "request_concurrency",
    "output_limit",
    "environment",
    "builds_dir",
    "cache_dir",
    "clone_url",
    "tls-ca-file",
    "tls_ca_file",
    "pre_get_sources_script",
    "pre_build_script",
    "post_build_script",
    "custom_build_dir",
    "feature_flags",
    "debug_trace_disabled",
];

pub fn import(ctx: &mut Ctx<'_>) -> Result<Option<Draft>, LocatedProblem> {
    let table = toml::de::DeTable::parse(ctx.text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        LocatedProblem::new(span, format!("this is not TOML runnergen can read: {}", e.message()), "here").help(
            "runnergen import reads a gitlab-runner config.toml, or a Terraform file with cattle-ops module blocks",
        )
    })?;
    let root = from_toml(&toml::Spanned::new(table.span(), toml::de::DeValue::Table(table.into_inner())));
    let Some(runners) = root.get("runners").and_then(At::list) else { return Ok(None) };
    if runners.is_empty() {
        return Ok(None);
    }
    let concurrent = root.get("concurrent").and_then(whole);
    let mut pools = Vec::new();
    for (i, runner) in runners.iter().enumerate() {
        let place = ctx.loc(&runner.span);
        ctx.report.found.push(format!(
            "{place}: [[runners]] {:?}, executor {:?}",
            runner.get("name").and_then(At::str).unwrap_or(""),
            runner.get("executor").and_then(At::str).unwrap_or("")
        ));
        pools.extend(pool(ctx, runner, i, concurrent));
    }
    if pools.is_empty() {
        return Ok(None);
    }
    let kind =
        format!("a gitlab-runner config.toml with {}", crate::diagnostic::plural(pools.len(), "[[runners]] section"));
    Ok(Some(Draft { kind, pools }))
}

fn whole(at: &At) -> Option<u64> {
    at.num().filter(|n| *n >= 0.0 && n.fract() == 0.0).map(|n| n as u64)
}

fn string_of(at: &At) -> Option<Node> {
    at.str().filter(|s| !s.is_empty()).map(Node::string)
}

fn number_of(at: &At) -> Option<Node> {
    whole(at).map(|n| Node::number(n as f64))
}

fn get<'a>(root: &'a At, path: &str) -> Option<&'a At> {
    path.split('.').try_fold(root, |at, key| at.get(key))
}

/// `amazonec2-KEY=VALUE` options of docker+machine, with where each stands.
fn machine_options(runner: &At) -> Vec<(String, String, At)> {
    get(runner, "machine.MachineOptions")
        .and_then(At::list)
        .unwrap_or_default()
        .iter()
        .filter_map(|o| {
            let (k, v) = o.str()?.split_once('=').unwrap_or((o.str()?, ""));
            Some((k.trim().to_owned(), v.trim().to_owned(), o.clone()))
        })
        .collect()
}

fn pool(ctx: &mut Ctx<'_>, runner: &At, index: usize, concurrent: Option<u64>) -> Option<PoolDraft> {
    let raw_name = runner.get("name").and_then(At::str).filter(|n| !n.is_empty());
    let executor = runner.get("executor").and_then(At::str).unwrap_or("").to_owned();
    let (name, name_from) = match raw_name {
        Some(n) => {
            (super::pool_name(n), format!("name at {}", ctx.loc(&runner.get("name").map_or(0..0, |a| a.span.clone()))))
        }
        None => (
            super::pool_name(if executor.is_empty() { "runner" } else { &executor }),
            format!("the executor of [[runners]] number {}", index + 1),
        ),
    };
    let place = ctx.loc(&runner.span);
    if !["docker", "shell", "docker+machine", "docker-autoscaler", "instance"].contains(&executor.as_str()) {
        ctx.report.no_equivalent.push(format!(
            "{place}: [[runners]] {:?}: executor {executor:?} is not supported (runnergen runs docker, shell, docker-autoscaler, instance, and docker+machine as docker-autoscaler): not imported; keep that runner where it is",
            raw_name.unwrap_or("")
        ));
        return None;
    }
    let name = ctx.unique_name(&name, &name_from);
    for (key, at) in runner.entries() {
        if !RUNNER_KEYS.contains(&key.as_str()) && !QUIET_KEYS.contains(&key.as_str()) {
            let place = ctx.loc(&at.span);
            ctx.report.no_equivalent.push(format!(
                "{place}: pool `{name}`: {key}: no equivalent; runnergen writes the runner's config.toml itself"
            ));
        }
    }
    let mut fleet =
        FleetBits { url: ctx.take("url", "gitlab.url", runner.get("url"), string_of), ..FleetBits::default() };
    if let Some(token) = runner.get("token") {
        let place = ctx.loc(&token.span);
        ctx.report.secrets.push(format!("{place}: pool `{name}`: token (the runner's token): not copied"));
    }
    let mut out = Pool::default();
    let parameter = format!("/ci/{name}/runner-token");
    out.token_parameter =
        Some(Field::new(Node::string(&parameter), "a new SecureString for the new runner's glrt- token"));

    // Docker settings.
    if let Some(docker) = runner.get("docker") {
        for (key, spec_key) in
            [("image", "image"), ("privileged", "privileged"), ("volumes", "volumes"), ("pull_policy", "pull_policy")]
        {
            let Some(at) = docker.get(key) else { continue };
            let field =
                ctx.take(&format!("docker.{key}"), &format!("docker.{spec_key}"), Some(at), |a| match (&a.v, key) {
                    (V::Bool(b), "privileged") => Some(Node::boolean(*b)),
                    (V::List(_), "volumes") => a
                        .list()
                        .and_then(|l| l.iter().map(|v| v.str().map(str::to_owned)).collect::<Option<Vec<_>>>())
                        .map(|v| Node::strings(&v)),
                    (V::List(l), "pull_policy") => l.first().and_then(At::str).map(Node::string),
                    (V::Str(s), _) if key != "privileged" && key != "volumes" => Some(Node::string(s)),
                    _ => None,
                });
            if let Some(f) = field {
                out.docker.push(entry(spec_key, f));
            }
        }
    }

    let mut types = Vec::new();
    let host = |ctx: &mut Ctx<'_>, out: &mut Pool, what: &str| {
        let t = format!("the instance type of the host that runs this {what} runner today");
        ctx.report
            .unresolved
            .push(format!("{place}: pool `{name}`: `instance_types`: a config.toml does not say what it runs on"));
        out.instance_types = Some(Field::fill(t, None));
        out.capacity = Some(Field::new(Node::Scalar("{min: 1, max: 1}".into()), "one host, as today"));
        let limit = runner.get("limit").and_then(whole).filter(|n| *n > 0);
        out.concurrent = match (limit, concurrent) {
            (Some(n), _) | (None, Some(n)) if (1..=64).contains(&n) => Some(Field::new(
                Node::number(n as f64),
                if limit.is_some() { "limit" } else { "the global concurrent" },
            )),
            _ => None,
        };
    };
    match executor.as_str() {
        "docker" | "shell" => {
            out.executor = Some(Field::plain(Node::string(&executor)));
            host(ctx, &mut out, &executor);
        }
        "docker+machine" => {
            out.autoscaler = Some(Some("docker+machine becomes an autoscaler pool".into()));
            out.executor = Some(Field::plain(Node::string("docker")));
            ctx.report.changed.push(format!(
                "{place}: pool `{name}`: docker+machine (removed in gitlab-runner 20.0) becomes an autoscaler pool (docker-autoscaler with GitLab's fleeting plugin): workers come from an Auto Scaling group runnergen makes, of an AMI it bakes; IdleCount, IdleTime, MaxBuilds and Periods carry over as idle, max_use_count and windows; IdleCountMin, IdleScaleFactor and MaxGrowthRate have no equivalent"
            ));
            let options = machine_options(runner);
            let option = |key: &str| options.iter().find(|(k, _, _)| k == key);
            if let Some(driver) = get(runner, "machine.MachineDriver").and_then(At::str).filter(|d| *d != "amazonec2") {
                ctx.report.no_equivalent.push(format!("{place}: pool `{name}`: MachineDriver {driver:?} is not AWS's amazonec2: its machine options are not read"));
            }
            let from_option = |ctx: &mut Ctx<'_>, key: &str, spec_key: &str, list: bool| -> Option<Field> {
                let (_, value, at) = option(key)?;
                let place = ctx.loc(&at.span);
                ctx.report.carried.push(format!("{place}: MachineOptions {key} -> `{spec_key}`"));
                Some(Field::plain(if list { Node::strings(&[value]) } else { Node::string(value) }))
            };
            fleet.region = from_option(ctx, "amazonec2-region", "aws.region", false);
            fleet.vpc_id = from_option(ctx, "amazonec2-vpc-id", "aws.vpc_id", false);
            fleet.subnet_ids = from_option(ctx, "amazonec2-subnet-id", "aws.subnet_ids", true);
            out.instance_types = match from_option(ctx, "amazonec2-instance-type", "workers.instance_types", true) {
                Some(f) => {
                    types.extend(option("amazonec2-instance-type").map(|(_, v, _)| v.clone()));
                    Some(f)
                }
                None => {
                    // docker-machine's amazonec2 driver defaults to t3.micro.
                    ctx.report.assumed.push(format!(
                        "pool `{name}`: `workers.instance_types`: t3.micro, docker-machine's amazonec2 default"
                    ));
                    types.push("t3.micro".into());
                    Some(Field::new(Node::strings(&["t3.micro"]), "docker-machine's amazonec2 default instance type"))
                }
            };
            let spot = option("amazonec2-request-spot-instance").is_some_and(|(_, v, _)| v.is_empty() || v == "true");
            out.spot = Some(Field::new(Node::boolean(spot), "amazonec2-request-spot-instance"));
            if let Some((_, v, at)) = option("amazonec2-root-size")
                && let Ok(n) = v.parse::<u64>()
            {
                ctx.report
                    .carried
                    .push(format!("{}: MachineOptions amazonec2-root-size -> `workers.volume_gb`", ctx.loc(&at.span)));
                out.volume_gb = Some(Field::plain(Node::number(n as f64)));
            }
            for key in ["amazonec2-access-key", "amazonec2-secret-key"] {
                if let Some((_, _, at)) = option(key) {
                    let at = ctx.loc(&at.span);
                    ctx.report.secrets.push(format!("{at}: pool `{name}`: MachineOptions {key} (a static AWS key): not copied; runnergen's manager uses its instance role. Deactivate the key once the old fleet is gone"));
                }
            }
            if option("amazonec2-private-address-only").is_none_or(|(_, v, _)| v == "false") {
                ctx.report.changed.push(format!("pool `{name}`: public IP addresses: docker-machine's workers had them (no amazonec2-private-address-only); runnergen's get none: the subnets need a NAT gateway or VPC endpoints"));
            }
            ctx.report.changed.push(format!("pool `{name}`: SSH key pairs: docker-machine made one per machine; runnergen's manager uses keys made per connection, and workers take SSH from their manager only"));
            let limit = runner.get("limit");
            out.max_instances = match limit.and_then(whole).filter(|n| *n > 0) {
                Some(_) => ctx.take("limit", "workers.max_instances", limit, number_of),
                None => {
                    ctx.report.unresolved.push(format!("{place}: pool `{name}`: `workers.max_instances`: limit is not set (no limit on docker+machine); runnergen needs the most workers at once"));
                    Some(Field::fill("limit is not set: the most workers at once", None))
                }
            };
            out.max_use_count = match get(runner, "machine.MaxBuilds") {
                Some(at) => ctx.take("machine.MaxBuilds", "workers.max_use_count", Some(at), number_of),
                None => {
                    ctx.report
                        .assumed
                        .push(format!("pool `{name}`: `workers.max_use_count`: 0, as MaxBuilds is not set (no limit)"));
                    Some(Field::new(
                        Node::number(0.0),
                        "MaxBuilds not set: no limit; 1 would give every job a fresh worker",
                    ))
                }
            };
            let count = get(runner, "machine.IdleCount").and_then(whole).unwrap_or(0);
            let time = get(runner, "machine.IdleTime").and_then(whole).unwrap_or(0);
            let time = super::idle_time_of(ctx, &name, &super::go_duration(time), &place);
            let policies = policies(runner, "machine.autoscaling", "Periods", "IdleCount", "IdleTime", "Timezone");
            let zone = format!(
                "{}: the time zone gitlab-runner read the periods in (without Timezone, the manager's local one)",
                crate::shape::FILL_IN
            );
            let (base, schedule) = super::schedule(ctx, &name, (count, Some(time)), &policies, true, &zone);
            out.idle = Some(Field::new(super::idle_node(base.0, base.1.as_deref()), "IdleCount and IdleTime"));
            out.schedule = schedule;
        }
        "docker-autoscaler" | "instance" => {
            out.autoscaler = Some(None);
            out.executor = Some(Field::new(
                Node::string(if executor == "instance" { "shell" } else { "docker" }),
                format!("executor {executor:?}"),
            ));
            let a = runner.get("autoscaler");
            if let Some(plugin) = a.and_then(|a| a.get("plugin")) {
                let text = plugin.str().unwrap_or_default();
                let version = text
                    .rsplit_once(':')
                    .map(|(_, v)| v)
                    .filter(|v| v.split('.').count() == 3 && v.split('.').all(|p| p.parse::<u32>().is_ok()));
                fleet.plugin_version = Some(match version {
                    Some(v) => {
                        ctx.report.carried.push(format!(
                            "{}: autoscaler.plugin -> `image.fleeting_plugin_version`",
                            ctx.loc(&plugin.span)
                        ));
                        Field::new(Node::string(v), format!("plugin {text:?}"))
                    }
                    None => {
                        let at = ctx.loc(&plugin.span);
                        ctx.report.unresolved.push(format!(
                            "{at}: autoscaler.plugin = {text:?} names no exact version; runnergen bakes one it can pin"
                        ));
                        Field::fill(
                            format!("plugin {text:?} at {at} names no exact version: pin one, such as 1.2.0"),
                            None,
                        )
                    }
                });
            }
            fleet.region = ctx.take(
                "autoscaler.plugin_config.region",
                "aws.region",
                get(runner, "autoscaler.plugin_config.region"),
                string_of,
            );
            if let Some(asg) = get(runner, "autoscaler.plugin_config.name") {
                let at = ctx.loc(&asg.span);
                let shown = asg.str().unwrap_or("?");
                ctx.report.unresolved.push(format!("{at}: pool `{name}`: `workers.instance_types` and `workers.spot`: they are settings of the Auto Scaling group {shown:?} (aws autoscaling describe-auto-scaling-groups --auto-scaling-group-names {})", crate::quote::shell_word(shown)));
                ctx.report.changed.push(format!("{at}: pool `{name}`: the worker group {shown:?} is not reused: runnergen makes the pool's own, of the AMI it bakes"));
            } else {
                ctx.report.unresolved.push(format!(
                    "{place}: pool `{name}`: `workers.instance_types`: the worker group's instance types"
                ));
            }
            out.instance_types = Some(Field::fill("the instance types of the old worker group", None));
            for key in ["credentials_file", "config_file", "profile"] {
                if let Some(at) = get(runner, &format!("autoscaler.plugin_config.{key}")) {
                    let place = ctx.loc(&at.span);
                    ctx.report.changed.push(format!("{place}: plugin_config.{key}: not needed: runnergen's manager uses its instance role, no AWS credentials"));
                }
            }
            if let Some(at) = get(runner, "autoscaler.connector_config.key_path") {
                let place = ctx.loc(&at.span);
                ctx.report.changed.push(format!("{place}: connector_config.key_path: SSH key pairs: runnergen's manager uses keys made per connection"));
            }
            if get(runner, "autoscaler.connector_config.use_external_addr").and_then(At::boolean) == Some(true) {
                ctx.report.changed.push(format!("pool `{name}`: connector_config.use_external_addr: public IP addresses: runnergen's workers have none and are reached on their private address"));
            }
            out.max_instances = match get(runner, "autoscaler.max_instances") {
                Some(at) if whole(at).is_some_and(|n| n > 0) => {
                    ctx.take("autoscaler.max_instances", "workers.max_instances", Some(at), number_of)
                }
                _ => {
                    ctx.report.unresolved.push(format!(
                        "{place}: pool `{name}`: `workers.max_instances`: autoscaler.max_instances is not set"
                    ));
                    Some(Field::fill("autoscaler.max_instances is not set: the most workers at once", None))
                }
            };
            out.capacity_per_instance = ctx.take(
                "autoscaler.capacity_per_instance",
                "workers.capacity_per_instance",
                get(runner, "autoscaler.capacity_per_instance"),
                number_of,
            );
            out.max_use_count = match get(runner, "autoscaler.max_use_count") {
                Some(at) => ctx.take("autoscaler.max_use_count", "workers.max_use_count", Some(at), number_of),
                None => {
                    ctx.report.assumed.push(format!("pool `{name}`: `workers.max_use_count`: 0, as gitlab-runner's max_use_count is not set (no limit)"));
                    Some(Field::new(
                        Node::number(0.0),
                        "max_use_count not set: no limit; 1 would give every job a fresh worker",
                    ))
                }
            };
            let policies = policies(runner, "autoscaler.policy", "periods", "idle_count", "idle_time", "timezone");
            // A policy without periods is in force all the time (gitlab-runner's default period).
            let policies: Vec<Policy> = policies
                .into_iter()
                .map(|mut p| {
                    if p.periods.is_empty() {
                        p.periods.push(("* * * * *".into(), p.span.clone()));
                    }
                    p
                })
                .collect();
            let zone = format!(
                "{}: the time zone gitlab-runner read the periods in (without timezone, the manager's local one)",
                crate::shape::FILL_IN
            );
            let (base, schedule) = super::schedule(ctx, &name, (0, None), &policies, false, &zone);
            if base.0 > 0 || base.1.is_some() {
                out.idle = Some(Field::new(super::idle_node(base.0, base.1.as_deref()), "the policy for every minute"));
            }
            out.schedule = schedule;
            if executor == "instance" {
                let cap = get(runner, "autoscaler.capacity_per_instance").and_then(whole).unwrap_or(1);
                let uses = get(runner, "autoscaler.max_use_count").and_then(whole).unwrap_or(0);
                if cap > 1 || uses != 1 {
                    ctx.report.changed.push(format!("pool `{name}`: the instance executor shares workers between jobs here, which runnergen refuses unless `workers.shared: true`; it is set so the pool runs as today, and `validate` warns"));
                    out.shared =
                        Some(Field::new(Node::boolean(true), "workers serve several jobs, as today: `validate` warns"));
                }
            }
        }
        _ => return None,
    }

    // The cache.
    if let Some(cache) = runner.get("cache") {
        let kind = cache.get("Type").and_then(At::str).unwrap_or("");
        if kind == "s3" {
            let mut c = Vec::new();
            if let Some(f) = ctx.take("cache.s3.BucketName", "cache.bucket", get(cache, "s3.BucketName"), string_of) {
                c.push(entry("bucket", f));
            }
            if cache.get("Shared").and_then(At::boolean) == Some(true) {
                c.push(entry("shared", Field::new(Node::boolean(true), "cache.Shared")));
            }
            if !c.is_empty() {
                fleet.cache = Some(Field::plain(Node::Map(c)));
            }
            for key in ["AccessKey", "SecretKey", "SessionToken"] {
                if let Some(at) = get(cache, &format!("s3.{key}")) {
                    let at = ctx.loc(&at.span);
                    ctx.report.secrets.push(format!("{at}: pool `{name}`: cache.s3.{key} (a static AWS key): not copied; runnergen gives the runner pre-signed URLs from its role. Deactivate the key once the old fleet is gone"));
                }
            }
        } else if !kind.is_empty() {
            let at = ctx.loc(&cache.span);
            ctx.report
                .no_equivalent
                .push(format!("{at}: pool `{name}`: a {kind} cache: runnergen's cache is in S3 (`cache`)"));
        }
    }
    super::token_steps(
        &mut ctx.report,
        &name,
        &parameter,
        fleet
            .region
            .as_ref()
            .and_then(|f| match &f.node {
                Node::Scalar(s) => {
                    serde_json::from_str::<String>(s).ok().filter(|s| !s.starts_with(crate::shape::FILL_IN))
                }
                _ => None,
            })
            .as_deref(),
    );
    let autoscaler = out.autoscaler.is_some();
    Some(PoolDraft { name, name_from, autoscaler, instance_types: types, entries: out.entries(), fleet })
}

/// The autoscaling tables of a runner as policies.
fn policies(runner: &At, path: &str, periods: &str, count: &str, time: &str, zone: &str) -> Vec<Policy> {
    get(runner, path)
        .and_then(At::list)
        .unwrap_or_default()
        .iter()
        .map(|p| Policy {
            periods: p
                .get(periods)
                .and_then(At::list)
                .unwrap_or_default()
                .iter()
                .filter_map(|x| x.str().map(|s| (s.to_owned(), x.span.clone())))
                .collect(),
            idle_count: p.get(count).and_then(whole),
            idle_time: p.get(time).and_then(|t| match &t.v {
                V::Num(n) => Some(super::go_duration(*n as u64)),
                V::Str(s) => super::idle_time(s),
                _ => None,
            }),
            time_zone: p.get(zone).and_then(|z| z.str().map(|s| (s.to_owned(), z.span.clone(), false))),
            span: p.span.clone(),
        })
        .collect()
}
