//! The rules over each pool: its name, token parameter and docker settings; each topology adds
//! its own (`crate::topology`).

use std::collections::HashMap;

use super::aws_names::{check_image_reference, check_ssm_name};
use super::runner::check_runner;
use super::{DOCKER_SOCKETS, Rules, limits, pool_path, root};
use crate::diagnostic::{Finding, Mark, SpecPath};
use crate::model::{Docker, Fleet, Pool, PullPolicy, RunnerMode, Scope};
use crate::render::terraform::spot_fallback_name;

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
    fallback_name_length(rules, fleet, &at, pool);
    token_parameter(rules, &at, pool);
    if let Some(docker) = &pool.docker {
        docker_image(rules, &at, docker);
        allow_lists(rules, &at, docker);
        volume_paths(rules, &at, docker);
    }
    check_runner(rules, fleet, &at, pool);
    pool.topology.kind().check(rules, fleet, &at, pool);
}

/// The rules of each topology over the whole fleet, once, at the first pool of that topology.
pub(super) fn topology_fleet_rules(rules: &mut Rules, fleet: &Fleet) {
    let mut seen = Vec::new();
    for (i, pool) in fleet.pools.iter().enumerate() {
        if !seen.contains(&pool.topology.name()) {
            seen.push(pool.topology.name());
            pool.topology.kind().check_fleet(rules, fleet, &pool_path(i));
        }
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

/// The name of a pool's spot fallback (its EventBridge rule and IAM role), made of the fleet's and
/// the pool's names, fits AWS's limit.
fn fallback_name_length(rules: &mut Rules, fleet: &Fleet, at: &SpecPath, pool: &Pool) {
    let fleet_name = &root().key("name");
    let name = at.key("name");
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
                    "AWS allows {} characters in an EventBridge rule or IAM role name: shorten the fleet or pool \
                     name by {}",
                    limits::ROLE_NAME,
                    fallback.len() - limits::ROLE_NAME
                )),
            );
        }
    });
}

/// An on-demand fallback only where spot is on: an on-demand group has nothing to fall back from.
pub(crate) fn check_fallback(rules: &mut Rules, at: &SpecPath, spot: bool, fallback: Option<u32>) {
    let here = at.key("on_demand_fallback");
    let spot_at = at.key("spot");
    rules.rule(&[&here, &spot_at], |out| {
        if fallback.is_some() && !spot {
            out.push(
                Finding::new(here.clone(), "`on_demand_fallback` without `spot: true`", "nothing to fall back from")
                    .mark(Mark::Key)
                    .help(
                        "instances that are not spot are on-demand already: add `spot: true` beside it, or \
                         remove `on_demand_fallback`",
                    ),
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
    pool.topology.kind().warnings(fleet, &pool_path(i), pool, out);
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
pub(crate) fn check_volume(rules: &mut Rules, fleet: &Fleet, volume: &SpecPath, gb: u32) {
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
