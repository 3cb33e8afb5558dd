//! Stage 4: the rules a schema cannot express, over the resolved fleet. The model keeps the
//! spec's order, so every finding names the spec path it concerns (turned into a span at the
//! end, by [`crate::diagnostic::locate`]). A rule declares the paths it reads; where one of them
//! failed an earlier stage and holds a placeholder (*poisoned*), that rule is skipped and every
//! other still runs. Pure: no I/O.

mod advice;

use std::collections::HashMap;

use crate::diagnostic::{Finding, Mark, SpecPath};
use crate::model::{Arch, Capacity, Executor, Fleet, Partition, Pool, PullPolicy, RunnerMode, Schedule, Scope};
use crate::render::terraform::spot_fallback_name;
use crate::spec::spelling;
use crate::topology::{AutoscalerPool, Idle, InstancePool, Topology};

/// AWS limits the generated names and schedules must respect. Scheduled actions: "Quotas for
/// Auto Scaling resources and groups" (EC2 Auto Scaling user guide), a fixed quota of 125 per group.
pub mod limits {
    /// IAM role names.
    pub const ROLE_NAME: usize = 64;
    /// AMI names.
    pub const AMI_NAME: usize = 128;
    /// Scheduled actions on one Auto Scaling group.
    pub const SCHEDULED_ACTIONS_PER_GROUP: usize = 125;
    /// Length of the timestamp Packer appends to the AMI name (`YYYYMMDDhhmmss`).
    pub const AMI_TIMESTAMP: usize = 14;
}

/// The oldest gitlab-runner runnergen bakes: 17.0 brought FF_DISABLE_AUTOMATIC_TOKEN_ROTATION,
/// without which the first instance to rotate the pool's shared token locks out the others.
const MIN_RUNNER: (u32, u32) = (17, 0);

/// The oldest gitlab-runner an autoscaler pool runs on: `fleeting install` arrived in 16.11, and
/// 17.2 fixed the autoscaler's instance churn (gitlab-runner CHANGELOG, 17.2.0).
const MIN_AUTOSCALER_RUNNER: (u32, u32) = (17, 2);

/// Volumes that hand jobs the Docker daemon, and with it root on the instance.
const DOCKER_SOCKETS: [&str; 2] = ["/var/run/docker.sock", "/run/docker.sock"];

/// The rules' findings, and which paths hold placeholders.
struct Rules<'a> {
    poisoned: &'a [SpecPath],
    findings: Vec<Finding>,
}

impl Rules<'_> {
    /// Runs a rule unless one of the paths it reads is poisoned.
    fn rule(&mut self, reads: &[&SpecPath], check: impl FnOnce(&mut Vec<Finding>)) {
        if !reads.iter().any(|r| self.poisoned.iter().any(|p| p.overlaps(r))) {
            check(&mut self.findings);
        }
    }
}

fn root() -> SpecPath {
    SpecPath::root()
}

fn pool_path(i: usize) -> SpecPath {
    root().key("pools").index(i)
}

/// Every rule's findings over a resolved fleet.
pub fn check(fleet: &Fleet, poisoned: &[SpecPath]) -> Vec<Finding> {
    let mut rules = Rules { poisoned, findings: Vec::new() };
    let region = root().key("aws").key("region");
    let key = root().key("aws").key("ebs_kms_key_arn");
    let url = root().key("gitlab").key("url");
    let runner = root().key("image").key("runner_version");
    let arch = root().key("image").key("arch");
    let build = root().key("image").key("build_instance_type");
    let name = root().key("name");
    let tags = root().key("aws").key("tags");

    rules.rule(&[&url], |out| {
        if let Err(why) = check_gitlab_url(&fleet.gitlab_url) {
            out.push(
                Finding::new(url.clone(), format!("`gitlab.url` is not a usable GitLab URL: {why}"), "here")
                    .help("expected the https base URL of the GitLab instance, such as https://gitlab.example.com"),
            );
        }
    });
    rules.rule(&[&region], |out| {
        if Partition::of_region(&fleet.region).is_none() {
            out.push(
                Finding::new(region.clone(), format!("`{}` is in an isolated AWS partition", fleet.region), "not supported")
                    .help("runnergen bakes from GitLab's and AWS's public download sites, which the aws-iso partitions cannot reach; expected a region of the aws, aws-us-gov or aws-cn partition"),
            );
        }
    });
    rules.rule(&[&region, &key], |out| {
        if let Some(arn) = &fleet.ebs_kms_key_arn {
            let fields: Vec<&str> = arn.split(':').collect();
            let partition = fleet.partition().name();
            if fields.get(1) != Some(&partition) || fields.get(3) != Some(&fleet.region.as_str()) {
                out.push(
                    Finding::new(key.clone(), "the key is not in the fleet's region", "another region or partition").help(
                        format!(
                            "EBS encrypts with a key of the volume's own region: expected arn:{partition}:kms:{}:ACCOUNT:key/KEY-ID",
                            fleet.region
                        ),
                    ),
                );
            }
        }
    });
    rules.rule(&[&runner], |out| {
        if !fleet.image.runner_version.at_least(MIN_RUNNER) {
            out.push(
                Finding::new(
                    runner.clone(),
                    format!(
                        "gitlab-runner {} cannot keep instances that share a token from rotating it",
                        fleet.image.runner_version
                    ),
                    "too old",
                )
                .help("expected gitlab-runner 17.0.0 or later, such as 19.3.0: FF_DISABLE_AUTOMATIC_TOKEN_ROTATION arrived in 17.0"),
            );
        }
    });
    let plugin = root().key("image").key("fleeting_plugin_version");
    for (i, pool) in fleet.pools.iter().enumerate() {
        if !matches!(pool.topology, Topology::Autoscaler(_)) {
            continue;
        }
        let topology = pool_path(i).key("topology");
        rules.rule(&[&runner, &topology], |out| {
            if !fleet.image.runner_version.at_least(MIN_AUTOSCALER_RUNNER) {
                out.push(
                    Finding::new(runner.clone(), format!("gitlab-runner {} is too old for an autoscaler pool", fleet.image.runner_version), "too old")
                        .related(topology.clone(), Mark::Value, "this pool is an autoscaler")
                        .help("expected 17.2.0 or later, such as 19.3.0: `gitlab-runner fleeting install` arrived in 16.11, and 17.2 fixed the autoscaler's instance churn; 19.2 also stops it pruning busy workers when the token rotates"),
                );
            }
        });
        rules.rule(&[&plugin, &topology], |out| {
            if fleet.image.fleeting_plugin_version.is_none() {
                out.push(
                    Finding::new(root().key("image"), "`image` is missing the key `fleeting_plugin_version`", "add `fleeting_plugin_version:` here")
                        .mark(Mark::KeyOrFirst)
                        .related(topology.clone(), Mark::Value, "this pool is an autoscaler")
                        .help("an autoscaler pool's manager runs the fleeting AWS plugin, baked into the runner AMI: write its exact version, such as `fleeting_plugin_version: 1.0.0`"),
                );
            }
        });
        // One finding for the fleet is enough.
        break;
    }
    rules.rule(&[&build, &arch], |out| {
        check_instance_type(&fleet.image.build_instance_type, fleet.image.arch, &build, out);
    });
    rules.rule(&[&name, &runner], |out| {
        let length = fleet.ami_name_prefix().len() + 1 + limits::AMI_TIMESTAMP;
        if length > limits::AMI_NAME {
            out.push(
                Finding::new(runner.clone(), format!("the AMI name would be {length} characters"), "too long")
                    .help(format!("AWS allows {} characters in an AMI name", limits::AMI_NAME)),
            );
        }
    });
    rules.rule(&[&tags], |out| check_tags(fleet, &tags, out));

    check_cache_and_logs(&mut rules, fleet);
    let names = root().key("pools");
    rules.rule(&[&names], |out| {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, pool) in fleet.pools.iter().enumerate() {
            if let Some(first) = seen.insert(&pool.name, i) {
                out.push(
                    Finding::new(
                        pool_path(i).key("name"),
                        format!("two pools are named `{}`", pool.name),
                        "second pool with this name",
                    )
                    .related(pool_path(first).key("name"), Mark::Value, "first pool with this name")
                    .help("pool names must be unique in a fleet: they name each pool's AWS resources"),
                );
            }
        }
    });
    for (i, pool) in fleet.pools.iter().enumerate() {
        check_pool(&mut rules, fleet, i, pool, &name, &arch);
    }
    rules.findings
}

/// What is valid but probably not what the user wants, located like problems.
pub fn warnings(fleet: &Fleet) -> Vec<Finding> {
    let mut out = Vec::new();
    if fleet.cache.is_some() && !fleet.pools.iter().any(Pool::uses_cache) {
        out.push(
            Finding::new(root().key("cache"), "no pool of this fleet uses the cache", "unused")
                .mark(Mark::Key)
                .help("the distributed cache serves docker pools and autoscaler pools; an instance pool of shell jobs keeps its cache on the instance: remove `cache:` or add such a pool"),
        );
    }
    for (i, pool) in fleet.pools.iter().enumerate() {
        let docker_at = pool_path(i).key("docker");
        if let Some(docker) = pool.docker.as_ref() {
            if docker.privileged {
                let (label, help) = if docker.allowed_privileged_images.is_empty()
                    || docker.allowed_privileged_services.is_empty()
                {
                    (
                        "every job of this pool is root on its instance",
                        "a privileged container is root on the host: any job can read the pool's runner token, which is never rotated, and use the instance role, then register runners of its own that receive other projects' jobs and variables. Give such jobs a pool of their own, whose runner serves only projects you trust, and limit privilege to the images that need it with `allowed_privileged_images` and `allowed_privileged_services` (for docker-in-docker: [\"docker:*-dind\"] for both)",
                    )
                } else {
                    (
                        "jobs that reach a privileged image are root on its instance",
                        "only the allowed images run privileged, but a job that drives one of them (the dind service's daemon runs privileged containers of the job's choosing) is root on the host: it can read the pool's runner token, which is never rotated, and use the instance role. Keep the pool's runner to projects you trust",
                    )
                };
                out.push(
                    Finding::new(
                        docker_at.key("privileged"),
                        "a privileged pool hands its runner token to its jobs",
                        label,
                    )
                    .help(help),
                );
            }
            let project_runner = fleet.runners == RunnerMode::Terraform
                && pool.runner.as_ref().is_some_and(|r| r.scope == Some(Scope::Project));
            if docker.pull_policy == PullPolicy::IfNotPresent && !project_runner {
                out.push(
                    Finding::new(docker_at.key("pull_policy"), "`if-not-present` serves cached private images to any job", "shared across projects")
                        .help("a private image one project pulled is used by another project's job on the same instance, without checking that it may pull it (GitLab's runner security guide: never use `if-not-present` on a runner that serves several projects). Use `always`, or give the pool a runner of one project (`runner.scope: project`)"),
                );
            }
        }
        if let Topology::Autoscaler(a) = &pool.topology
            && pool.executor == Executor::Shell
            && a.workers.shared
        {
            out.push(
                Finding::new(pool_path(i).key("workers").key("shared"), "shell jobs of this pool share their workers", "shared")
                    .help("shell jobs run as one user on their worker: a job can read another job's checkout and CI/CD variables, or leave something behind for the next one. Give jobs that do not trust each other a pool without `shared`"),
            );
        }
        if let Topology::Autoscaler(a) = &pool.topology
            && !fleet.image.runner_version.at_least(crate::topology::autoscaler::PREEMPTIVE_MODE_SINCE)
        {
            let base = (a.idle.count > 0).then(|| pool_path(i).key("idle").key("count"));
            let windows = a
                .schedule
                .iter()
                .flat_map(|s| s.windows.iter().enumerate())
                .filter(|(_, w)| w.setting.count > 0)
                .map(|(j, _)| pool_path(i).key("schedule").key("windows").index(j).key("idle").key("count"));
            for path in base.into_iter().chain(windows) {
                out.push(
                    Finding::new(path, format!("gitlab-runner {} takes a job here only once an idle worker exists", fleet.image.runner_version), "bursts wait for workers")
                        .help("before 18.1 a policy with warm workers is always preemptive: the manager asks GitLab for a job only when an idle worker is free, so a burst is taken `idle.count` jobs at a time. Pin `image.runner_version` 18.1.0 or later, where runnergen turns that off (`preemptive_mode = false`)"),
                );
            }
        }
        for (j, volume) in pool.docker.iter().flat_map(|d| &d.volumes).enumerate() {
            let host = volume.split(':').next().unwrap_or_default();
            if DOCKER_SOCKETS.contains(&host.trim_end_matches('/')) {
                out.push(
                    Finding::new(pool_path(i).key("docker").key("volumes").index(j), "this volume gives every job root on the instance", "the Docker socket")
                        .help("a job that reaches the Docker daemon controls the host, like `privileged: true`, and can read the runner's token: mount it only for projects you trust with the instance"),
                );
            }
        }
    }
    advice::warnings(fleet, &mut out);
    out
}

fn check_pool(rules: &mut Rules, fleet: &Fleet, i: usize, pool: &Pool, fleet_name: &SpecPath, arch: &SpecPath) {
    let at = pool_path(i);
    let name = at.key("name");
    rules.rule(&[fleet_name, &name], |out| {
        let role = pool.role_name();
        if role.len() > limits::ROLE_NAME {
            out.push(
                Finding::new(
                    name.clone(),
                    format!("the IAM role name `{role}` would be {} characters", role.len()),
                    "too long with the fleet name",
                )
                .help(format!(
                    "AWS allows {} characters in a role name: shorten the fleet or pool name by {}",
                    limits::ROLE_NAME,
                    role.len() - limits::ROLE_NAME
                )),
            );
        }
    });
    rules.rule(&[fleet_name, &name], |out| {
        let fallback = spot_fallback_name(pool);
        if pool.topology.kind().spot_fallback(fleet, pool).is_some() && fallback.len() > limits::ROLE_NAME {
            out.push(
                Finding::new(
                    name.clone(),
                    format!("the fallback's rule and role name `{fallback}` would be {} characters", fallback.len()),
                    "too long with the fleet name",
                )
                .help(format!(
                    "AWS allows {} characters in an EventBridge rule or IAM role name: shorten the fleet or pool name by {}",
                    limits::ROLE_NAME,
                    fallback.len() - limits::ROLE_NAME
                )),
            );
        }
    });
    let token = at.key("token_parameter");
    rules.rule(&[&token], |out| {
        if let Err(why) = check_ssm_name(&pool.token_parameter) {
            out.push(
                Finding::new(token.clone(), format!("`{}` is not a valid SSM parameter name: {why}", pool.token_parameter), "here")
                    .help("expected a path such as /fleet/pool/runner-token: segments of letters, digits, _ . -, at most 15 levels, not starting with aws or ssm"),
            );
        }
    });
    if let Some(docker) = &pool.docker {
        let image = at.key("docker").key("image");
        rules.rule(&[&image], |out| {
            if let Err(why) = check_image_reference(&docker.image) {
                out.push(
                    Finding::new(image.clone(), format!("`{}` is not a docker image reference: {why}", docker.image), "invalid image")
                        .help("expected an image reference such as alpine:3.20 or registry.example.com/team/image:tag@sha256:..."),
                );
            }
        });
        let privileged = at.key("docker").key("privileged");
        for (key, list) in [
            ("allowed_privileged_images", &docker.allowed_privileged_images),
            ("allowed_privileged_services", &docker.allowed_privileged_services),
        ] {
            let path = at.key("docker").key(key);
            rules.rule(&[&path, &privileged], |out| {
                if !list.is_empty() && !docker.privileged {
                    out.push(
                        Finding::new(path.clone(), format!("`{key}` has no effect without `privileged: true`"), "ignored")
                            .mark(Mark::Key)
                            .help("gitlab-runner reads its allow-lists only for a privileged pool: set `privileged: true` or remove the list"),
                    );
                }
            });
        }
        for (j, volume) in docker.volumes.iter().enumerate() {
            let path = at.key("docker").key("volumes").index(j);
            rules.rule(&[&path], |out| {
                if volume.split(':').any(|part| part.split('/').any(|seg| seg == "..")) {
                    out.push(
                        Finding::new(path.clone(), "a docker volume path may not contain `..`", "here")
                            .help("expected an absolute path without `..`, such as /cache or /srv/cache:/cache:ro"),
                    );
                }
            });
        }
    }
    check_runner(rules, fleet, &at, pool);
    match &pool.topology {
        Topology::Instance(instances) => check_instances(rules, fleet, &at, instances, arch),
        Topology::Autoscaler(autoscaler) => check_autoscaler(rules, fleet, &at, pool.executor, autoscaler, arch),
    }
}

/// The retention periods CloudWatch Logs accepts, in days (PutRetentionPolicy, retentionInDays).
pub const LOG_RETENTION_DAYS: [u32; 22] =
    [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

fn check_cache_and_logs(rules: &mut Rules, fleet: &Fleet) {
    if let Some(cache) = &fleet.cache {
        let bucket = root().key("cache").key("bucket");
        let name = root().key("name");
        rules.rule(&[&bucket, &name], |out| {
            if let Err(why) = check_bucket_name(&cache.bucket) {
                let (at, message) = if cache.created {
                    (name.clone(), format!("the cache bucket's name `{}` would not be a valid S3 bucket name: {why}", cache.bucket))
                } else {
                    (bucket.clone(), format!("`{}` is not a valid S3 bucket name: {why}", cache.bucket))
                };
                out.push(Finding::new(at, message, "here").help(
                    "S3 bucket names are 3 to 63 lowercase letters, digits, dots and hyphens, start and end with a letter or digit, have no two dots in a row, are not an IP address and do not start with xn-- or sthree-",
                ));
            }
        });
        let expiration = root().key("cache").key("expiration_days");
        rules.rule(&[&bucket, &expiration], |out| {
            if !cache.created && cache.expiration_days.is_some() {
                out.push(
                    Finding::new(expiration.clone(), "`expiration_days` is for a bucket runnergen creates", "not used")
                        .mark(Mark::Key)
                        .related(bucket.clone(), Mark::Value, "an existing bucket")
                        .help("an existing bucket keeps its own lifecycle rules: set the expiry there, or write `bucket: create`"),
                );
            }
        });
    }
    if let Some(logs) = &fleet.logs {
        let retention = root().key("logs").key("retention_days");
        rules.rule(&[&retention], |out| {
            if !LOG_RETENTION_DAYS.contains(&logs.retention_days) {
                let nearest =
                    LOG_RETENTION_DAYS.iter().min_by_key(|d| d.abs_diff(logs.retention_days)).copied().unwrap_or(30);
                out.push(
                    Finding::new(
                        retention.clone(),
                        format!("CloudWatch Logs does not keep events for {} days", logs.retention_days),
                        "not a retention CloudWatch accepts",
                    )
                    .help(format!(
                        "expected one of {}; the nearest is {nearest}",
                        LOG_RETENTION_DAYS.map(|d| d.to_string()).join(", ")
                    )),
                );
            }
        });
    }
}

/// S3's rules for a general purpose bucket's name ("Bucket naming rules", Amazon S3 user guide).
fn check_bucket_name(name: &str) -> Result<(), String> {
    let chars_ok = name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    if !(3..=63).contains(&name.len()) {
        return Err(format!("it has {} characters", name.len()));
    }
    if !chars_ok {
        return Err("only lowercase letters, digits, dots and hyphens are allowed".into());
    }
    let edge = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !edge(name.as_bytes().first()) || !edge(name.as_bytes().last()) {
        return Err("it must start and end with a letter or digit".into());
    }
    if name.contains("..") {
        return Err("it has two dots in a row".into());
    }
    if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return Err("it looks like an IP address".into());
    }
    for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(prefix) {
            return Err(format!("it starts with the reserved `{prefix}`"));
        }
    }
    for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if name.ends_with(suffix) {
            return Err(format!("it ends with the reserved `{suffix}`"));
        }
    }
    Ok(())
}

/// GitLab's limits on a runner's tags (app/models/ci/runner.rb `TAG_LIST_MAX_LENGTH`,
/// app/models/ci/tag.rb): at most 50, each 1 to 255 characters. The API splits each tag at
/// commas and strips spaces (lib/api/validations/types/comma_separated_to_array.rb), so a tag
/// with either would come back as another and never match the plan.
const MAX_TAG_LENGTH: usize = 255;

/// The pool's runner in GitLab, when runnergen's Terraform creates it.
fn check_runner(rules: &mut Rules, fleet: &Fleet, at: &SpecPath, pool: &Pool) {
    let mode = root().key("gitlab").key("runners");
    let here = at.key("runner");
    rules.rule(&[&mode, &here], |out| match (fleet.runners, &pool.runner) {
        (RunnerMode::External, Some(runner)) => {
            for key in &runner.terraform_keys {
                out.push(
                    Finding::new(here.key(key), format!("`{key}` is for runners that runnergen's Terraform creates"), "not used")
                        .mark(Mark::Key)
                        .help("with `gitlab.runners: external` (the default) the runner you create in GitLab takes its `tags`, `run_untagged` and `protected` from here (the next steps list them); set the rest in GitLab, or set `gitlab.runners: terraform` to have the runner created"),
                );
            }
        }
        (RunnerMode::Terraform, Some(runner)) if runner.scope.is_none() => out.push(
            Finding::new(here.clone(), "a runner that runnergen's Terraform creates needs `scope`", "add `scope:` here")
                .mark(Mark::KeyOrFirst)
                .related(mode.clone(), Mark::Value, "runnergen's Terraform creates the runners")
                .help("write where the runner belongs: `scope: instance`, `scope: group` with `group_id`, or `scope: project` with `project_id`"),
        ),
        (RunnerMode::Terraform, None) => out.push(
            Finding::new(at.clone(), format!("{} is missing the required key `runner`", at.describe()), "add `runner:` here")
                .mark(Mark::KeyOrFirst)
                .related(mode.clone(), Mark::Value, "runnergen's Terraform creates the runners")
                .help("with `gitlab.runners: terraform` every pool says where its runner belongs, such as `runner: {scope: group, group_id: 1234}`"),
        ),
        _ => {}
    });
    let Some(runner) = &pool.runner else { return };
    let scope = here.key("scope");
    let (group, project) = (here.key("group_id"), here.key("project_id"));
    rules.rule(&[&scope, &group, &project], |out| {
        let Some(written) = runner.scope.filter(|_| fleet.runners == RunnerMode::Terraform) else { return };
        let wanted = match written {
            Scope::Instance => (false, false),
            Scope::Group => (true, false),
            Scope::Project => (false, true),
        };
        for (path, key, has, wants) in [
            (&group, "group_id", runner.group_id.is_some(), wanted.0),
            (&project, "project_id", runner.project_id.is_some(), wanted.1),
        ] {
            let spelled = spelling(written);
            if has && !wants {
                out.push(
                    Finding::new(path.clone(), format!("`{key}` does not go with `scope: {spelled}`"), "not used with this scope")
                        .mark(Mark::Key)
                        .related(scope.clone(), Mark::Value, "the runner's scope")
                        .help("a group runner has `group_id`, a project runner `project_id`, an instance runner neither"),
                );
            } else if wants && !has {
                out.push(
                    Finding::new(scope.clone(), format!("a runner with `scope: {spelled}` needs `{key}`"), format!("add `{key}:` beside it"))
                        .help(format!("write the ID of the {} the runner belongs to, such as `{key}: 1234`; GitLab shows it on the {} page", &key[..key.len() - 3], &key[..key.len() - 3])),
                );
            }
        }
    });
    let tags = here.key("tags");
    let untagged = here.key("run_untagged");
    rules.rule(&[&tags, &untagged], |out| {
        if runner.tags.is_empty() && !runner.run_untagged {
            out.push(
                Finding::new(untagged.clone(), "a runner without tags that takes no untagged jobs never gets a job", "with no `tags`")
                    .help("give the runner `tags`, or let it take untagged jobs (`run_untagged: true`); GitLab refuses the runner otherwise"),
            );
        }
    });
    for (j, tag) in runner.tags.iter().enumerate() {
        let path = tags.index(j);
        rules.rule(&[&path], |out| {
            let why = if tag.is_empty() {
                Some("it is empty".to_owned())
            } else if tag.contains(',') {
                Some("GitLab splits tags at commas".to_owned())
            } else if tag.trim() != tag {
                Some("GitLab strips the spaces around a tag".to_owned())
            } else if tag.chars().count() > MAX_TAG_LENGTH {
                Some(format!("it is longer than GitLab's {MAX_TAG_LENGTH} characters"))
            } else {
                None
            };
            if let Some(why) = why {
                let message =
                    if tag.is_empty() { "GitLab would not keep an empty tag".to_owned() } else { format!("GitLab would not keep the tag `{tag}`: {why}") };
                out.push(
                    Finding::new(path.clone(), message, "this tag")
                        .help("a tag is 1 to 255 characters without commas or surrounding spaces, such as `docker` or `arm64`; the runner's tags would otherwise differ from the plan on every apply"),
                );
            }
        });
        rules.rule(&[&tags], |out| {
            if let Some(first) = runner.tags[..j].iter().position(|t| t == tag) {
                out.push(
                    Finding::new(path.clone(), format!("the tag `{tag}` is written twice"), "second time")
                        .related(tags.index(first), Mark::Value, "first time")
                        .help("a runner's tags are a set: write each once"),
                );
            }
        });
    }
    let timeout = here.key("maximum_timeout");
    let job = at.key("job_timeout_minutes");
    rules.rule(&[&timeout, &job], |out| {
        // GitLab gives a job min(project timeout, runner maximum timeout): only a maximum no longer
        // than the drain keeps every job inside it (gitlab-runner common/build.go
        // GetBuildTimeout takes the job payload's RunnerInfo.Timeout).
        let job_seconds = pool.job_timeout_minutes * 60;
        if runner.maximum_timeout > job_seconds {
            out.push(
                Finding::new(
                    timeout.clone(),
                    format!("the runner lets jobs run {} s, longer than the pool's job timeout of {job_seconds} s", runner.maximum_timeout),
                    "longer than the drain",
                )
                .related(job.clone(), Mark::Value, "the drain waits this long")
                .help("an instance that leaves waits `job_timeout_minutes` for its jobs, then stops them: set `maximum_timeout` to at most that many seconds, or leave it out (it defaults to the pool's job timeout)"),
            );
        }
    });
}

fn check_volume(rules: &mut Rules, fleet: &Fleet, volume: &SpecPath, gb: u32) {
    let image_volume = root().key("image").key("volume_gb");
    rules.rule(&[volume, &image_volume], |out| {
        if gb < fleet.image.volume_gb {
            out.push(
                Finding::new(
                    volume.clone(),
                    format!("`volume_gb` {gb} is smaller than the AMI's {} GiB", fleet.image.volume_gb),
                    "too small",
                )
                .help("an instance's root volume can only be as large as its AMI's or larger"),
            );
        }
    });
}

fn check_instances(rules: &mut Rules, fleet: &Fleet, at: &SpecPath, pool: &InstancePool, arch: &SpecPath) {
    let capacity = at.key("capacity");
    let schedule = at.key("schedule");
    for (j, t) in pool.instance_types.iter().enumerate() {
        let path = at.key("instance_types").index(j);
        rules.rule(&[&path, arch], |out| check_instance_type(t, fleet.image.arch, &path, out));
    }
    rules.rule(&[&capacity], |out| check_capacity(&pool.capacity, &capacity, "`capacity`", out));
    check_volume(rules, fleet, &at.key("volume_gb"), pool.volume_gb);
    check_fallback(rules, at, pool.spot, pool.on_demand_fallback);
    if let Some(s) = &pool.schedule {
        check_schedule(rules, &schedule, s);
        let windows = schedule.key("windows");
        for (j, w) in s.windows.iter().enumerate() {
            let here = windows.index(j).key("capacity");
            rules.rule(&[&here], |out| check_capacity(&w.setting, &here, "the window's `capacity`", out));
        }
        rules.rule(&[&windows, &capacity], |out| {
            let actions = s.actions(pool.capacity).len();
            if actions > limits::SCHEDULED_ACTIONS_PER_GROUP {
                out.push(
                    Finding::new(windows.clone(), format!("these windows need {actions} scheduled actions"), "too many windows")
                        .help(format!("AWS allows {} scheduled actions per Auto Scaling group; merge windows that share times into one with several days", limits::SCHEDULED_ACTIONS_PER_GROUP)),
                );
            }
        });
    }
    // Demand scaling measures running instances: from zero only a schedule starts one.
    rules.rule(&[&capacity, &schedule], |out| {
        let some_window_starts_one = pool.schedule.iter().flat_map(|s| &s.windows).any(|w| w.setting.min >= 1);
        if pool.capacity.min == 0 && !some_window_starts_one {
            out.push(
                Finding::new(capacity.key("min"), "this pool can never start an instance", "min 0, and no window starts one")
                    .help("with no instance there is no busy-slot or CPU metric, so demand scaling never starts the first one: set `capacity.min` to at least 1, add a schedule window with `min` of at least 1 for the hours jobs arrive, or make it an autoscaler pool (`topology: autoscaler`), which starts a worker per job"),
            );
        }
    });
}

/// An on-demand fallback only where spot is on: an on-demand group has nothing to fall back from.
fn check_fallback(rules: &mut Rules, at: &SpecPath, spot: bool, fallback: Option<u32>) {
    let here = at.key("on_demand_fallback");
    let spot_at = at.key("spot");
    rules.rule(&[&here, &spot_at], |out| {
        if fallback.is_some() && !spot {
            out.push(
                Finding::new(here.clone(), "`on_demand_fallback` without `spot: true`", "nothing to fall back from")
                    .mark(Mark::Key)
                    .help("instances that are not spot are on-demand already: add `spot: true` beside it, or remove `on_demand_fallback`"),
            );
        }
    });
}

fn check_autoscaler(
    rules: &mut Rules,
    fleet: &Fleet,
    at: &SpecPath,
    executor: Executor,
    pool: &AutoscalerPool,
    arch: &SpecPath,
) {
    let workers = at.key("workers");
    let manager_type = at.key("manager").key("instance_type");
    rules.rule(&[&manager_type, arch], |out| {
        check_instance_type(&pool.manager_instance_type, fleet.image.arch, &manager_type, out);
    });
    for (j, t) in pool.workers.instance_types.iter().enumerate() {
        let path = workers.key("instance_types").index(j);
        rules.rule(&[&path, arch], |out| check_instance_type(t, fleet.image.arch, &path, out));
    }
    check_volume(rules, fleet, &workers.key("volume_gb"), pool.workers.volume_gb);
    check_fallback(rules, &workers, pool.workers.spot, pool.workers.on_demand_fallback);
    let capacity = workers.key("capacity_per_instance");
    let uses = workers.key("max_use_count");
    let shared = workers.key("shared");
    rules.rule(&[&capacity, &uses, &shared, &at.key("executor")], |out| {
        if executor == Executor::Shell && !pool.workers.shared {
            let w = &pool.workers;
            let (path, what) = if w.capacity_per_instance > 1 {
                (capacity.clone(), format!("{} shell jobs at once on one worker", w.capacity_per_instance))
            } else if w.max_use_count != 1 {
                (uses.clone(), "shell jobs one after another on one worker".to_owned())
            } else {
                return;
            };
            out.push(
                Finding::new(path, format!("{what} would share a machine"), "shared worker")
                    .help("shell jobs run as one user on their worker: a job can read another project's checkout and variables, or leave something behind for the next job. Keep `capacity_per_instance: 1` and `max_use_count: 1`, or set `workers.shared: true` to accept that for jobs that trust each other"),
            );
        }
    });
    let slots = pool.concurrent();
    let check_idle = |idle: &Idle, path: &SpecPath, out: &mut Vec<Finding>| {
        if idle.count > slots {
            out.push(
                Finding::new(
                    path.key("count"),
                    format!("{} idle job slots, but the workers have {slots} in all", idle.count),
                    "more than the workers hold",
                )
                .help(format!(
                    "`idle.count` counts job slots: at most `workers.max_instances` × `workers.capacity_per_instance` ({} × {} = {slots})",
                    pool.workers.max_instances, pool.workers.capacity_per_instance
                )),
            );
        }
    };
    let idle = at.key("idle");
    rules.rule(&[&idle, &workers], |out| check_idle(&pool.idle, &idle, out));
    if let Some(s) = &pool.schedule {
        let schedule = at.key("schedule");
        check_schedule(rules, &schedule, s);
        for (j, w) in s.windows.iter().enumerate() {
            let here = schedule.key("windows").index(j).key("idle");
            rules.rule(&[&here, &workers], |out| check_idle(&w.setting, &here, out));
        }
    }
}

fn check_schedule<T>(rules: &mut Rules, at: &SpecPath, schedule: &Schedule<T>) {
    let zone = at.key("time_zone");
    rules.rule(&[&zone], |out| {
        let tz = &schedule.time_zone;
        if tz.parse::<chrono_tz::Tz>().is_err() {
            let suggestion = chrono_tz::TZ_VARIANTS
                .iter()
                .map(|z| z.name())
                .min_by_key(|z| strsim::damerau_levenshtein(&z.to_lowercase(), &tz.to_lowercase()));
            let help = match suggestion {
                Some(s) => format!(
                    "expected a name from the IANA time zone database such as Europe/Berlin; did you mean `{s}`?"
                ),
                None => "expected a name from the IANA time zone database such as Europe/Berlin".into(),
            };
            out.push(
                Finding::new(zone.clone(), format!("`{tz}` is not an IANA time zone"), "unknown time zone").help(help),
            );
        }
    });
    let windows = at.key("windows");
    for (j, w) in schedule.windows.iter().enumerate() {
        let here = windows.index(j);
        rules.rule(&[&here.key("from"), &here.key("to")], |out| {
            if w.from == w.to {
                out.push(Finding::new(here.key("to"), "the window ends when it starts", "same as `from`").help(
                    "a window lasts from `from` to `to`: give it a length, or change the pool's base setting instead",
                ));
            }
        });
    }
    rules.rule(&[&windows], |out| {
        for (j, w) in schedule.windows.iter().enumerate() {
            for (k, other) in schedule.windows.iter().enumerate().take(j) {
                if w.from == w.to || other.from == other.to {
                    continue;
                }
                let overlap =
                    w.weekly_ranges().iter().any(|a| other.weekly_ranges().iter().any(|b| a.0 < b.1 && b.0 < a.1));
                if overlap {
                    out.push(
                        Finding::new(windows.index(j), format!("window {} overlaps window {}", j + 1, k + 1), "this window")
                            .related(windows.index(k), Mark::Value, "overlaps this one")
                            .help("windows of one pool must not overlap, counting windows that cross midnight into the next day"),
                    );
                }
            }
        }
    });
}

fn check_capacity(c: &Capacity, at: &SpecPath, what: &str, out: &mut Vec<Finding>) {
    if !(c.min <= c.desired && c.desired <= c.max) {
        let shown = if c.desired == c.min {
            format!("min {}, max {}", c.min, c.max)
        } else {
            format!("min {}, desired {}, max {}", c.min, c.desired, c.max)
        };
        out.push(
            Finding::new(at.clone(), format!("{what} is {shown}"), "min <= desired <= max does not hold")
                .help("expected min <= desired <= max (desired defaults to min)"),
        );
    }
}

fn check_tags(fleet: &Fleet, at: &SpecPath, out: &mut Vec<Finding>) {
    // HCL reads every string in NFC, so keys that differ only in their normalisation would be one
    // key to Terraform and Packer (a duplicate they refuse) and to AWS.
    let mut normalised: HashMap<String, &str> = HashMap::new();
    for (key, value) in &fleet.tags_written {
        // AWS receives (and checks) the normalised text.
        if let Err(why) = check_tag(&crate::resolve::nfc(key), &crate::resolve::nfc(value)) {
            out.push(
                Finding::new(at.key(key), format!("tag `{key}` is not accepted: {why}"), "this tag").mark(Mark::Key).help(
                    "tag keys: 1 to 128 characters, values: up to 256; letters, numbers and spaces of any script (not combining marks, which IAM refuses) and _ . : / = + - @; keys must not start with `aws:` (AWS's) or `runnergen:` (runnergen's), and `Name` is set by runnergen",
                ),
            );
        }
        if let Some(first) = normalised.insert(crate::resolve::nfc(key), key) {
            out.push(
                Finding::new(
                    at.key(key),
                    format!("tag `{}` is the same key as `{}` once normalised", code_points(key), code_points(first)),
                    "same key",
                )
                .mark(Mark::Key)
                .related(at.key(first), Mark::Key, "also written here")
                .help("the two keys differ only in how their characters are composed (Unicode NFC); AWS, Terraform and Packer see one key: keep one of them"),
            );
        }
    }
}

/// Text with every character outside ASCII spelled as its code point, to tell look-alikes apart.
fn code_points(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii() { c.to_string() } else { format!("\\u{{{:04X}}}", c as u32) }).collect()
}

fn check_gitlab_url(text: &str) -> Result<(), String> {
    let url = url::Url::parse(text).map_err(|e| e.to_string())?;
    if url.scheme() != "https" {
        return Err(format!("it uses {}, not https", url.scheme()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("it holds credentials; tokens belong in SSM".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("it has a query or fragment".into());
    }
    match url.host() {
        None => return Err("it has no host".into()),
        Some(url::Host::Domain(domain)) => check_host_name(domain)?,
        Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => {}
    }
    // The parser drops an empty port (`host:/`), and would keep port 0.
    let authority = text["https://".len().min(text.len())..].split(['/', '?', '#']).next().unwrap_or_default();
    if authority.ends_with(':') {
        return Err("it has an empty port".into());
    }
    if url.port() == Some(0) {
        return Err("port 0 is not a port".into());
    }
    check_gitlab_path(&url)
}

/// A GitLab instance is served at its host's root or under one relative URL root
/// (`https://example.com/gitlab`); runnergen appends `/api/v4` and the like to it. A path that
/// holds GitLab's own routes is a page or the API, never that root.
fn check_gitlab_path(url: &url::Url) -> Result<(), String> {
    let segments: Vec<&str> = url.path_segments().map(|s| s.filter(|s| !s.is_empty()).collect()).unwrap_or_default();
    let origin = url.origin().ascii_serialization();
    let root = |n: usize| format!("{origin}{}", segments[..n].iter().map(|s| format!("/{s}")).collect::<String>());
    let api = segments.windows(2).position(|w| {
        w[0] == "api" && w[1].strip_prefix('v').is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
    });
    if let Some(at) = api {
        return Err(format!(
            "it points at GitLab's API (`/{}/{}`), which runnergen adds itself: write `{}`",
            segments[at],
            segments[at + 1],
            root(at)
        ));
    }
    if segments.contains(&"-") {
        return Err(format!(
            "`/-/` is in the address of a project's or group's page, not of GitLab: write the instance's address, such as `{origin}`"
        ));
    }
    if segments.last().is_some_and(|s| s.ends_with(".git")) {
        return Err(format!(
            "it names a repository, not GitLab's address: write the instance's address, such as `{origin}`"
        ));
    }
    if url.host_str() == Some("gitlab.com") && !segments.is_empty() {
        return Err("GitLab.com is served at the root of its host, not under a path: write `https://gitlab.com`".into());
    }
    Ok(())
}

/// A DNS host name: labels of letters, digits and hyphens (internationalised names arrive here in
/// their `xn--` form), 1 to 63 characters each, not starting or ending with a hyphen, 253 in all.
fn check_host_name(domain: &str) -> Result<(), String> {
    let name = domain.strip_suffix('.').unwrap_or(domain);
    if name.is_empty() || name.len() > 253 {
        return Err("its host name is empty or longer than 253 characters".into());
    }
    for label in name.split('.') {
        let ldh = label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if label.is_empty() || label.len() > 63 || !ldh || label.starts_with('-') || label.ends_with('-') {
            return Err(format!(
                "`{domain}` is not a host name (each dot-separated part: 1 to 63 letters, digits or inner hyphens)"
            ));
        }
    }
    Ok(())
}

/// Whether an instance family runs on Graviton: `a1`, and families whose attribute letters
/// after the generation include `g` (t4g, m7g, c6gn, x2gd, im4gn, is4gen, hpc7g, g5g).
pub fn is_graviton(instance_type: &str) -> bool {
    let family = instance_type.split('.').next().unwrap_or_default();
    let letters = family.trim_start_matches(|c: char| c.is_ascii_lowercase());
    let attributes = letters.trim_start_matches(|c: char| c.is_ascii_digit());
    family == "a1" || attributes.split('-').next().unwrap_or_default().contains('g')
}

fn check_instance_type(text: &str, arch: Arch, at: &SpecPath, out: &mut Vec<Finding>) {
    let (family, size) = text.split_once('.').unwrap_or((text, ""));
    let family_ok = {
        let rest = family.trim_start_matches(|c: char| c.is_ascii_lowercase());
        rest.len() < family.len() && rest.starts_with(|c: char| c.is_ascii_digit())
    };
    let size_ok = matches!(size, "nano" | "micro" | "small" | "medium" | "large" | "xlarge" | "metal")
        || size.strip_suffix("xlarge").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        || size.strip_prefix("metal-").is_some_and(|n| n.ends_with("xl"));
    if !family_ok || !size_ok {
        out.push(
            Finding::new(at.clone(), format!("`{text}` is not an EC2 instance type"), "malformed instance type")
                .help("expected FAMILY.SIZE such as m7g.large, c6i.2xlarge or t3.medium"),
        );
        return;
    }
    let graviton = is_graviton(text);
    let wanted = match arch {
        Arch::Arm64 if !graviton => Some("arm64 (Graviton, such as m7g.large or t4g.medium)"),
        Arch::X86_64 if graviton => Some("x86_64 (such as m7i.large or t3.medium)"),
        _ => None,
    };
    if let Some(wanted) = wanted {
        let is = if graviton { Arch::Arm64 } else { Arch::X86_64 }.name();
        out.push(
            Finding::new(
                at.clone(),
                format!("`{text}` is an {is} instance type, but the image is built for another architecture"),
                format!("{is} instance type"),
            )
            .help(format!("`image.arch` asks for {wanted}; every instance type must run the one AMI")),
        );
    }
}

fn check_ssm_name(name: &str) -> Result<(), String> {
    let segments: Vec<&str> = name.strip_prefix('/').ok_or("it must start with /")?.split('/').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err("it has an empty segment (// or a trailing /)".into());
    }
    if segments.len() > 15 {
        return Err(format!("it has {} levels; SSM allows 15", segments.len()));
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || "_.-/".contains(*c))) {
        return Err(format!("`{bad}` is not allowed"));
    }
    let first = segments[0].to_ascii_lowercase();
    if first.starts_with("aws") || first.starts_with("ssm") {
        return Err("names starting with aws or ssm are reserved".into());
    }
    Ok(())
}

/// A tag every resource takes: IAM, the strictest of the services the tags reach, allows
/// `[\p{L}\p{Z}\p{N}_.:/=+\-@]` (IAM API reference, Tag): letters, numbers and spaces of any
/// script, but not the combining marks many scripts write vowels with. Line and paragraph
/// separators (\p{Zl}, \p{Zp}) are refused too.
fn check_tag(key: &str, value: &str) -> Result<(), String> {
    use unicode_general_category::{GeneralCategory as G, get_general_category};
    let allowed = |c: char| {
        "_.:/=+-@".contains(c)
            || matches!(
                get_general_category(c),
                G::UppercaseLetter
                    | G::LowercaseLetter
                    | G::TitlecaseLetter
                    | G::ModifierLetter
                    | G::OtherLetter
                    | G::DecimalNumber
                    | G::LetterNumber
                    | G::OtherNumber
                    | G::SpaceSeparator
            )
    };
    if key.is_empty() || key.chars().count() > 128 {
        return Err("a key has 1 to 128 characters".into());
    }
    if value.chars().count() > 256 {
        return Err("a value has at most 256 characters".into());
    }
    if key.to_ascii_lowercase().starts_with("aws:") {
        return Err("keys starting with aws: are reserved by AWS".into());
    }
    if key.to_ascii_lowercase().starts_with("runnergen:") {
        return Err("keys starting with runnergen: are runnergen's own, which it finds the AMI and the pools by".into());
    }
    if key == "Name" {
        return Err("runnergen names each resource itself".into());
    }
    if let Some(bad) = key.chars().chain(value.chars()).find(|c| !allowed(*c)) {
        return Err(format!("`{bad}` (U+{:04X}) is not allowed", bad as u32));
    }
    Ok(())
}

/// A docker image reference: `[registry[:port]/]name[:tag][@digest]`, as the distribution
/// reference grammar (distribution/reference, reference.go) defines it, in ASCII.
pub fn check_image_reference(text: &str) -> Result<(), String> {
    if text.len() > 255 {
        return Err("it is longer than 255 characters".into());
    }
    let (rest, digest) = match text.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (text, None),
    };
    if let Some(digest) = digest {
        let (algorithm, hex) = digest.split_once(':').ok_or("its digest has no algorithm (sha256:...)")?;
        let algorithm_ok = !algorithm.is_empty()
            && algorithm
                .split(['+', '.', '_', '-'])
                .all(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        if !algorithm_ok || hex.len() < 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("`{digest}` is not a digest"));
        }
    }
    // A tag is what follows the last colon when no slash comes after it.
    let (name, tag) = match rest.rfind(':') {
        Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
        _ => (rest, None),
    };
    if let Some(tag) = tag {
        let tag_ok = !tag.is_empty()
            && tag.len() <= 128
            && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !tag_ok {
            return Err(format!("`{tag}` is not a tag (letters, digits, _ . -, at most 128)"));
        }
    }
    let mut components: Vec<&str> = name.split('/').collect();
    // The first component is a registry when it has a dot, a colon or is localhost.
    if components.len() > 1 {
        let first = components[0];
        if first.contains(['.', ':']) || first == "localhost" {
            let (host, port) = match first.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (first, None),
            };
            let host_ok = !host.is_empty()
                && host.split('.').all(|l| {
                    !l.is_empty()
                        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                });
            let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
            if !host_ok || !port_ok {
                return Err(format!("`{first}` is not a registry host"));
            }
            components.remove(0);
        }
    }
    for component in components {
        // [a-z0-9]+ separated by ., _, __ or one or more -.
        let separators_ok = !component.is_empty()
            && component.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && component.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && !component.contains("..")
            && !component.contains("___")
            && !component.contains("._")
            && !component.contains("_.")
            && !component.contains(".-")
            && !component.contains("-.")
            && !component.contains("_-")
            && !component.contains("-_");
        let chars_ok = component.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        if !separators_ok || !chars_ok {
            return Err(format!(
                "`{component}` is not a repository name part (lowercase letters and digits, joined by . _ __ or -)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitlab_urls_need_a_real_host_and_port() {
        for good in [
            "https://gitlab.com",
            "https://gitlab.example.com:8443/",
            "https://gitlab.example.com/sub/path",
            "https://example.com/gitlab/",
            "https://gitlab.example.com/api",
            "https://gitlab.example.com/apiv4",
            "https://gitlab",
            "https://10.0.0.5",
            "https://[2001:db8::1]:444",
            "https://bücher.example",
            "https://gitlab.example.com.",
        ] {
            assert_eq!(check_gitlab_url(good), Ok(()), "{good}");
        }
        for bad in [
            "https://\"}",
            "https://${var.x}",
            "https://$((1+1))",
            "https://*",
            "https://a..b",
            "https://-a.example",
            "https://a-.example",
            "https://gitlab.example.com:0",
            "https://gitlab.example.com:/",
            "https://gitlab.example.com:",
            "https://gitlab.example.com:65536",
            "https://user:pw@gitlab.example.com",
            "https://gitlab.example.com/?x=1",
            "https://gitlab.example.com/#x",
            "https://gitlab.example.com/api/v4",
            "https://gitlab.example.com/api/v4/",
            "https://example.com/gitlab/api/v4",
            "https://gitlab.example.com/group/project/-/tree/main",
            "https://gitlab.example.com/group/project.git",
            "https://gitlab.com/mygroup",
            "http://gitlab.example.com",
            "https://",
            &format!("https://{}.example", "a".repeat(64)),
        ] {
            assert!(check_gitlab_url(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn bucket_names() {
        for good in ["abc", "acme-ci-cache-3d5a0d4b", "a.b-c.d", &"a".repeat(63)] {
            assert_eq!(check_bucket_name(good), Ok(()), "{good}");
        }
        for bad in [
            "ab",
            &"a".repeat(64),
            "Acme",
            "a_b",
            "-ab",
            "ab-",
            "a..b",
            "192.168.5.4",
            "xn--ab",
            "sthree-a",
            "ab-s3alias",
            "ab--ol-s3",
        ] {
            assert!(check_bucket_name(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn image_references() {
        for good in [
            "alpine",
            "alpine:3.20",
            "docker.io/library/debian:bookworm-slim",
            "registry.example.com:5000/team/image:v1.2",
            "localhost/x",
            "ghcr.io/a_b/c__d/e-f---g:latest",
            "alpine@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "a/b:c@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(check_image_reference(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "Alpine",
            "alpine:",
            "alpine:.x",
            "alpine::3",
            "a//b",
            "-a",
            "a-",
            "a..b",
            "a@sha256:xyz",
            "a@notadigest",
            "registry-.example.com/x",
            "reg.example.com:port/x",
            "al pine",
            "ünicode",
            "a/b:c/d",
        ] {
            assert!(check_image_reference(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn graviton_families() {
        for t in [
            "t4g.medium",
            "m7g.large",
            "c6gn.xlarge",
            "x2gd.large",
            "im4gn.large",
            "is4gen.large",
            "a1.large",
            "hpc7g.4xlarge",
            "g5g.xlarge",
            "m8g.large",
        ] {
            assert!(is_graviton(t), "{t}");
        }
        for t in [
            "t3.medium",
            "m7i.large",
            "c5.2xlarge",
            "g4dn.xlarge",
            "m7i-flex.large",
            "r7iz.large",
            "inf2.xlarge",
            "c6in.large",
        ] {
            assert!(!is_graviton(t), "{t}");
        }
    }
}
