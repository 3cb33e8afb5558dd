//! The rules over each pool: its name, token parameter and docker settings, and the checks of
//! each topology, the instance pools' and the autoscaler pools'.

use std::collections::HashMap;

use super::aws_names::{check_image_reference, check_instance_type, check_ssm_name};
use super::runner::check_runner;
use super::schedule::check_schedule;
use super::{DOCKER_SOCKETS, MIN_AUTOSCALER_RUNNER, Rules, limits, pool_path, root};
use crate::diagnostic::{Finding, Mark, SpecPath};
use crate::model::{
    Autoscaler, Capacity, Docker, Executor, Fleet, Idle, Instances, Kind, Pool, PullPolicy, RunnerMode, Scope, Topology,
};

/// An autoscaler pool needs a runner version and a fleeting plugin that can drive it; the first
/// autoscaler pool of the fleet is the one pointed at.
pub(super) fn autoscaler_image(rules: &mut Rules, fleet: &Fleet) {
    let runner = root().key("image").key("runner_version");
    let plugin = root().key("image").key("fleeting_plugin_version");
    for (i, pool) in fleet.pools.iter().enumerate() {
        if pool.topology() != Topology::Autoscaler {
            continue;
        }
        let topology = pool_path(i).key("topology");
        rules.rule(&[&runner, &topology], |out| {
            if !fleet.image.runner_version.at_least(MIN_AUTOSCALER_RUNNER) {
                out.push(
                    Finding::new(
                        runner.clone(),
                        format!("gitlab-runner {} is too old for an autoscaler pool", fleet.image.runner_version),
                        "too old",
                    )
                    .related(topology.clone(), Mark::Value, "this pool is an autoscaler")
                    .help(
                        "expected 17.2.0 or later, such as 19.3.0: `gitlab-runner fleeting install` arrived \
                         in 16.11, and 17.2 fixed the autoscaler's instance churn; 19.2 also stops it pruning \
                         busy workers when the token rotates",
                    ),
                );
            }
        });
        rules.rule(&[&plugin, &topology], |out| {
            if fleet.image.fleeting_plugin_version.is_none() {
                out.push(
                    Finding::new(
                        root().key("image"),
                        "`image` is missing the key `fleeting_plugin_version`",
                        "add `fleeting_plugin_version:` here",
                    )
                    .mark(Mark::KeyOrFirst)
                    .related(topology.clone(), Mark::Value, "this pool is an autoscaler")
                    .help(
                        "an autoscaler pool's manager runs the fleeting AWS plugin, baked into the runner \
                         AMI: write its exact version, such as `fleeting_plugin_version: 1.0.0`",
                    ),
                );
            }
        });
        // One finding for the fleet is enough.
        break;
    }
}

/// No two pools share a name.
pub(super) fn unique_names(rules: &mut Rules, fleet: &Fleet) {
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
}

/// Every rule over one pool.
pub(super) fn check_pool(rules: &mut Rules, fleet: &Fleet, i: usize, pool: &Pool) {
    let at = pool_path(i);
    role_name_length(rules, &at, pool);
    token_parameter(rules, &at, pool);
    if let Some(docker) = &pool.docker {
        docker_image(rules, &at, docker);
        allow_lists(rules, &at, docker);
        volume_paths(rules, &at, docker);
    }
    check_runner(rules, fleet, &at, pool);
    let arch = &root().key("image").key("arch");
    match &pool.kind {
        Kind::Instance(instances) => check_instances(rules, fleet, &at, instances, arch),
        Kind::Autoscaler(autoscaler) => check_autoscaler(rules, fleet, &at, pool.executor, autoscaler, arch),
    }
}

/// The pool's IAM role name, made of the fleet's and the pool's names, fits AWS's limit.
fn role_name_length(rules: &mut Rules, at: &SpecPath, pool: &Pool) {
    let fleet_name = &root().key("name");
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
}

/// `token_parameter` is a valid SSM parameter name.
fn token_parameter(rules: &mut Rules, at: &SpecPath, pool: &Pool) {
    let token = at.key("token_parameter");
    rules.rule(&[&token], |out| {
        if let Err(why) = check_ssm_name(&pool.token_parameter) {
            out.push(
                Finding::new(
                    token.clone(),
                    format!("`{}` is not a valid SSM parameter name: {why}", pool.token_parameter),
                    "here",
                )
                .help(
                    "expected a path such as /fleet/pool/runner-token: segments of letters, digits, _ . -, at \
                     most 15 levels, not starting with aws or ssm",
                ),
            );
        }
    });
}

/// `docker.image` is a docker image reference.
fn docker_image(rules: &mut Rules, at: &SpecPath, docker: &Docker) {
    let image = at.key("docker").key("image");
    rules.rule(&[&image], |out| {
        if let Err(why) = check_image_reference(&docker.image) {
            out.push(
                Finding::new(
                    image.clone(),
                    format!("`{}` is not a docker image reference: {why}", docker.image),
                    "invalid image",
                )
                .help(
                    "expected an image reference such as alpine:3.20 or \
                     registry.example.com/team/image:tag@sha256:...",
                ),
            );
        }
    });
}

/// The privileged allow-lists go with `privileged: true`.
fn allow_lists(rules: &mut Rules, at: &SpecPath, docker: &Docker) {
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
                        .help(
                            "gitlab-runner reads its allow-lists only for a privileged pool: set `privileged: \
                         true` or remove the list",
                        ),
                );
            }
        });
    }
}

/// No docker volume path holds `..`.
fn volume_paths(rules: &mut Rules, at: &SpecPath, docker: &Docker) {
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

/// The warnings about one pool: what hands its jobs root on the instance or other projects' images,
/// and an autoscaler's workers shared between shell jobs or waited for.
pub(super) fn warnings(fleet: &Fleet, i: usize, pool: &Pool, out: &mut Vec<Finding>) {
    let docker_at = pool_path(i).key("docker");
    if let Some(docker) = pool.docker.as_ref() {
        if docker.privileged {
            let (label, help) = if docker.allowed_privileged_images.is_empty()
                || docker.allowed_privileged_services.is_empty()
            {
                (
                    "every job of this pool is root on its instance",
                    "a privileged container is root on the host: any job can read the pool's runner token, which is \
                     never rotated, and use the instance role, then register runners of its own that receive \
                     other projects' jobs and variables. Give such jobs a pool of their own, whose runner serves \
                     only projects you trust, and limit privilege to the images that need it with \
                     `allowed_privileged_images` and `allowed_privileged_services` (for docker-in-docker: \
                     [\"docker:*-dind\"] for both)",
                )
            } else {
                (
                    "jobs that reach a privileged image are root on its instance",
                    "only the allowed images run privileged, but a job that drives one of them (the dind service's \
                     daemon runs privileged containers of the job's choosing) is root on the host: it can read \
                     the pool's runner token, which is never rotated, and use the instance role. Keep the pool's \
                     runner to projects you trust",
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
                Finding::new(
                    docker_at.key("pull_policy"),
                    "`if-not-present` serves cached private images to any job",
                    "shared across projects",
                )
                .help(
                    "a private image one project pulled is used by another project's job on the same \
                     instance, without checking that it may pull it (GitLab's runner security guide: never use \
                     `if-not-present` on a runner that serves several projects). Use `always`, or give the pool \
                     a runner of one project (`runner.scope: project`)",
                ),
            );
        }
    }
    if let Kind::Autoscaler(a) = &pool.kind
        && pool.executor == Executor::Shell
        && a.workers.shared
    {
        out.push(
            Finding::new(
                pool_path(i).key("workers").key("shared"),
                "shell jobs of this pool share their workers",
                "shared",
            )
            .help(
                "shell jobs run as one user on their worker: a job can read another job's checkout and CI/CD \
                 variables, or leave something behind for the next one. Give jobs that do not trust each other a \
                 pool without `shared`",
            ),
        );
    }
    if let Kind::Autoscaler(a) = &pool.kind
        && !fleet.image.runner_version.at_least(crate::render::runner_template::PREEMPTIVE_MODE_SINCE)
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
                Finding::new(
                    path,
                    format!(
                        "gitlab-runner {} takes a job here only once an idle worker exists",
                        fleet.image.runner_version
                    ),
                    "bursts wait for workers",
                )
                .help(
                    "before 18.1 a policy with warm workers is always preemptive: the manager asks GitLab for \
                     a job only when an idle worker is free, so a burst is taken `idle.count` jobs at a time. \
                     Pin `image.runner_version` 18.1.0 or later, where runnergen turns that off \
                     (`preemptive_mode = false`)",
                ),
            );
        }
    }
    for (j, volume) in pool.docker.iter().flat_map(|d| &d.volumes).enumerate() {
        let host = volume.split(':').next().unwrap_or_default();
        if DOCKER_SOCKETS.contains(&host.trim_end_matches('/')) {
            out.push(
                Finding::new(
                    pool_path(i).key("docker").key("volumes").index(j),
                    "this volume gives every job root \
                     on the instance",
                    "the Docker socket",
                )
                .help(
                    "a job that reaches the Docker daemon controls the host, like `privileged: true`, and can \
                     read the runner's token: mount it only for projects you trust with the instance",
                ),
            );
        }
    }
}

/// A root volume is at least as large as the AMI's.
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

/// The rules of an instance pool: its instance types, capacity, volume and schedule.
fn check_instances(rules: &mut Rules, fleet: &Fleet, at: &SpecPath, pool: &Instances, arch: &SpecPath) {
    let capacity = at.key("capacity");
    let schedule = at.key("schedule");
    for (j, t) in pool.instance_types.iter().enumerate() {
        let path = at.key("instance_types").index(j);
        rules.rule(&[&path, arch], |out| check_instance_type(t, fleet.image.arch, &path, out));
    }
    rules.rule(&[&capacity], |out| check_capacity(&pool.capacity, &capacity, "`capacity`", out));
    check_volume(rules, fleet, &at.key("volume_gb"), pool.volume_gb);
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
                    Finding::new(
                        windows.clone(),
                        format!("these windows need {actions} scheduled actions"),
                        "too many windows",
                    )
                    .help(format!(
                        "AWS allows {} scheduled actions per Auto Scaling group; merge windows that \
                         share times into one with several days",
                        limits::SCHEDULED_ACTIONS_PER_GROUP
                    )),
                );
            }
        });
    }
    // Demand scaling measures running instances: from zero only a schedule starts one.
    rules.rule(&[&capacity, &schedule], |out| {
        let some_window_starts_one = pool.schedule.iter().flat_map(|s| &s.windows).any(|w| w.setting.min >= 1);
        if pool.capacity.min == 0 && !some_window_starts_one {
            out.push(
                Finding::new(
                    capacity.key("min"),
                    "this pool can never start an instance",
                    "min 0, and no window starts one",
                )
                .help(
                    "with no instance there is no busy-slot or CPU metric, so demand scaling never starts the \
                     first one: set `capacity.min` to at least 1, add a schedule window with `min` of at least 1 \
                     for the hours jobs arrive, or make it an autoscaler pool (`topology: autoscaler`), which \
                     starts a worker per job",
                ),
            );
        }
    });
}

/// The rules of an autoscaler pool: its instance types, volume, shared workers and idle slots.
fn check_autoscaler(
    rules: &mut Rules,
    fleet: &Fleet,
    at: &SpecPath,
    executor: Executor,
    pool: &Autoscaler,
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
            out.push(Finding::new(path, format!("{what} would share a machine"), "shared worker").help(
                "shell jobs run as one user on their worker: a job can read another project's checkout \
                 and variables, or leave something behind for the next job. Keep `capacity_per_instance: 1` \
                 and `max_use_count: 1`, or set `workers.shared: true` to accept that for jobs that trust \
                 each other",
            ));
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
                    "`idle.count` counts job slots: at most `workers.max_instances` × \
                     `workers.capacity_per_instance` ({} × {} = {slots})",
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

/// A capacity holds min <= desired <= max.
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
