//! The `[[runners]]` template a pool's runner registers with (`gitlab-runner register
//! --template-config`, which merges one `[[runners]]` entry under what the command line sets),
//! written at boot by the pool's user data: an autoscaler pool's `[runners.autoscaler]`, and the
//! distributed cache's `[runners.cache]`. Keys and their meaning: gitlab-runner common/config.go
//! (`AutoscalerConfig`, `ConnectorConfig`, `AutoscalerPolicyConfig`),
//! cache/cacheconfig/cacheconfig.go and docs/configuration/advanced-configuration.md ("The
//! [runners.autoscaler] section", "The [runners.cache] section").
//!
//! An autoscaler pool's manager also has [`live`] settings: its policies and its default job
//! image, which change without a new manager. They are not in its user data (a change there
//! replaces the manager) but in an SSM parameter the manager reads at registration and every
//! minute after, splicing a change into its config.toml, which gitlab-runner reloads.

use crate::model::{Autoscaler, Executor, Fleet, Idle, Kind, Pool};
use crate::quote::{comment_text, toml_string};
use crate::spec::spelling;

/// The manager's runner waits this long for a new worker's Docker daemon before the runner
/// gives the worker up.
const DOCKER_READY_SECONDS: u32 = 300;

/// The pool's template, when its runner needs more than the command line gives: every string a
/// TOML basic string, numbers as numbers.
pub fn render(fleet: &Fleet, pool: &Pool) -> Option<String> {
    let autoscaler = match &pool.kind {
        Kind::Autoscaler(a) => Some(a),
        Kind::Instance(_) => None,
    };
    let cache = cache(fleet, pool);
    if autoscaler.is_none() && cache.is_none() {
        return None;
    }
    let what = if autoscaler.is_some() { "The autoscaler" } else { "The cache" };
    let mut out = format!("# {what} of pool {}, merged into config.toml at registration.\n", comment_text(&pool.name));
    out.push_str("[[runners]]\n");
    if let Some(cache) = cache {
        out.push_str(&cache);
    }
    if let Some(a) = autoscaler {
        out.push_str(&autoscaler_section(fleet, pool, a));
    }
    Some(out)
}

/// `[runners.cache]`: S3 in the fleet's region, the manager's (or instance's) own role signing
/// the URLs the jobs' helpers use (`AuthenticationType = "iam"`, no keys). `BucketLocation` is
/// set, so the runner never asks S3 where the bucket is (cache/s3v2/s3.go). `Path` has no
/// slashes at either end, so the keys are exactly under the prefix the role may use.
fn cache(fleet: &Fleet, pool: &Pool) -> Option<String> {
    let cache = fleet.cache.as_ref()?;
    let path = fleet.cache_path(pool)?;
    let mut out = String::new();
    out.push_str("  [runners.cache]\n");
    out.push_str("    Type = \"s3\"\n");
    out.push_str(&format!("    Path = {}\n", toml_string(&path)));
    out.push_str(&format!("    Shared = {}\n", cache.shared));
    out.push_str("    [runners.cache.s3]\n");
    out.push_str(&format!("      BucketName = {}\n", toml_string(&cache.bucket)));
    out.push_str(&format!("      BucketLocation = {}\n", toml_string(&fleet.region)));
    out.push_str("      AuthenticationType = \"iam\"\n");
    Some(out)
}

fn autoscaler_section(fleet: &Fleet, pool: &Pool, autoscaler: &Autoscaler) -> String {
    let workers = &autoscaler.workers;
    let plugin = fleet.image.fleeting_plugin_version.map(|v| format!("aws:{v}")).unwrap_or_default();
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    line("  [runners.autoscaler]".into());
    // The image's plugin, at the version baked: found locally, never downloaded at boot.
    line(format!("    plugin = {}", toml_string(&plugin)));
    line(format!("    capacity_per_instance = {}", workers.capacity_per_instance));
    line(format!("    max_use_count = {}", workers.max_use_count));
    line(format!("    max_instances = {}", workers.max_instances));
    // A manager that stops (a drain, a replacement) removes its workers: nobody else would.
    line("    delete_instances_on_shutdown = true".into());
    if pool.executor == Executor::Docker {
        line(format!(
            "    instance_ready_command = {}",
            toml_string(&format!(
                "timeout {DOCKER_READY_SECONDS} sh -c 'until docker info >/dev/null 2>&1; do sleep 2; done'"
            ))
        ));
    }
    line(String::new());
    // The worker group. The AWS plugin's config has no `region` (its InstanceGroup's JSON keys are
    // name, profile, config_file, credentials_file); it takes the region from the AWS SDK's
    // environment, AWS_REGION in the runner's unit (fleeting plugin aws issue 27).
    line("    [runners.autoscaler.plugin_config]".into());
    line(format!("      name = {}", toml_string(&pool.worker_group())));
    line(String::new());
    // SSH to the worker's private address as the image's user, with a key made for each
    // connection and pushed through EC2 Instance Connect (use_static_credentials = false).
    line("    [runners.autoscaler.connector_config]".into());
    line(format!("      username = {}", toml_string(pool.worker_user(fleet.image.os))));
    line("      use_external_addr = false".into());
    line("      use_static_credentials = false".into());
    out
}

/// An autoscaler pool's live settings, applied on the running manager: its default job image and
/// pull policy (`[runners.docker]`, docker jobs only) and its policies
/// (`[[runners.autoscaler.policy]]`). gitlab-runner reloads config.toml when it changes
/// (commands/multi.go `checkConfig`, every 3 s), new jobs take the reloaded `[runners.docker]`,
/// and the next job request re-applies the policies (`Acquire` in
/// executors/internal/autoscaler/provider.go calls `ConfigureSchedule` once the config was
/// reloaded). Not `max_instances`, `capacity_per_instance` or `max_use_count`: the taskscaler takes
/// those once, when it is made (`init`, the same file), so they stay in the manager's user data.
pub fn live(fleet: &Fleet, pool: &Pool) -> Option<String> {
    let Kind::Autoscaler(autoscaler) = &pool.kind else {
        return None;
    };
    let mut out = format!(
        "# The live settings of pool {}'s manager: read at registration, and applied to the running\n\
         # manager within a minute of a change.\n[[runners]]\n",
        comment_text(&pool.name)
    );
    let mut line = |text: String| {
        out.push_str(&text);
        out.push('\n');
    };
    if let Some(docker) = &pool.docker {
        line("  [runners.docker]".into());
        line(format!("    image = {}", toml_string(&docker.image)));
        line(format!("    pull_policy = [{}]", toml_string(&spelling(docker.pull_policy))));
    }
    // The last matching policy wins: the catch-all first, then each window.
    let zone = autoscaler.schedule.as_ref().map(|s| s.time_zone.as_str());
    let preemptive_key = fleet.image.runner_version.at_least(PREEMPTIVE_MODE_SINCE);
    policy(&mut line, &["* * * * *".to_owned()], zone, autoscaler.idle, preemptive_key);
    for window in autoscaler.schedule.iter().flat_map(|s| &s.windows) {
        policy(&mut line, &window.periods(), zone, window.setting, preemptive_key);
    }
    Some(out)
}

/// The first gitlab-runner with a policy's `preemptive_mode` key (common/config.go,
/// `PreemptiveModeEnabled`); before it, a policy with `idle_count > 0` is always preemptive.
pub const PREEMPTIVE_MODE_SINCE: (u32, u32) = (18, 1);

/// One `[[runners.autoscaler.policy]]`. `preemptive_mode = false` always: unset, gitlab-runner
/// turns it on wherever `idle_count > 0`, and the manager then asks GitLab for a job only when an
/// idle worker already exists, so a burst would be taken `idle_count` jobs at a time in the very
/// hours that keep warm workers. Off, the manager takes jobs first and asks for a worker for each;
/// the idle workers are still kept and take jobs first.
fn policy(line: &mut impl FnMut(String), periods: &[String], zone: Option<&str>, idle: Idle, preemptive_key: bool) {
    line(String::new());
    line("    [[runners.autoscaler.policy]]".into());
    let periods: Vec<String> = periods.iter().map(|p| toml_string(p)).collect();
    line(format!("      periods = [{}]", periods.join(", ")));
    if let Some(zone) = zone {
        line(format!("      timezone = {}", toml_string(zone)));
    }
    line(format!("      idle_count = {}", idle.count));
    line(format!("      idle_time = {}", toml_string(&idle.time.to_string())));
    if preemptive_key {
        line("      preemptive_mode = false".into());
    }
}
