//! Stage 4: the rules a schema cannot express, over the resolved fleet. The model keeps the
//! spec's order, so every finding names the spec path it concerns (turned into a span at the
//! end, by [`crate::diagnostic::locate`]). A rule declares the paths it reads; where one of them
//! failed an earlier stage and holds a placeholder (*poisoned*), that rule is skipped and every
//! other still runs. Pure: no I/O.

mod advice;
mod aws_names;
mod fleet;
mod network;
mod pool;
mod runner;
mod schedule;

use crate::diagnostic::{Finding, SpecPath};
use crate::model::Fleet;

pub(crate) use aws_names::check_instance_type;
pub use aws_names::{check_image_reference, is_graviton};
pub use fleet::LOG_RETENTION_DAYS;
pub(crate) use pool::{check_fallback, check_volume};
pub(crate) use schedule::check_schedule;

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

/// Volumes that hand jobs the Docker daemon, and with it root on the instance.
const DOCKER_SOCKETS: [&str; 2] = ["/var/run/docker.sock", "/run/docker.sock"];

/// The rules' findings, and which paths hold placeholders.
pub struct Rules<'a> {
    poisoned: &'a [SpecPath],
    findings: Vec<Finding>,
}

impl Rules<'_> {
    /// Runs a rule unless one of the paths it reads is poisoned.
    pub(crate) fn rule(&mut self, reads: &[&SpecPath], check: impl FnOnce(&mut Vec<Finding>)) {
        if !reads.iter().any(|r| self.poisoned.iter().any(|p| p.overlaps(r))) {
            check(&mut self.findings);
        }
    }
}

/// The path of the spec's top.
fn root() -> SpecPath {
    SpecPath::root()
}

/// The path of the spec's pool number `i`.
fn pool_path(i: usize) -> SpecPath {
    root().key("pools").index(i)
}

/// Every rule's findings over a resolved fleet.
pub fn check(fleet: &Fleet, poisoned: &[SpecPath]) -> Vec<Finding> {
    let mut rules = Rules { poisoned, findings: Vec::new() };
    fleet::gitlab_url(&mut rules, fleet);
    fleet::region_partition(&mut rules, fleet);
    fleet::kms_key_region(&mut rules, fleet);
    fleet::runner_version(&mut rules, fleet);
    pool::topology_fleet_rules(&mut rules, fleet);
    fleet::build_instance_type(&mut rules, fleet);
    fleet::ami_name_length(&mut rules, fleet);
    fleet::tags(&mut rules, fleet);
    fleet::cache_bucket_name(&mut rules, fleet);
    fleet::cache_expiration(&mut rules, fleet);
    fleet::log_retention(&mut rules, fleet);
    fleet::alarm_destination(&mut rules, fleet);
    fleet::queue_alarm_needs_runner_metrics(&mut rules, fleet);
    network::proxy(&mut rules, fleet);
    network::proxy_reachable(&mut rules, fleet);
    network::egress(&mut rules, fleet);
    network::build_instance_profile(&mut rules, fleet);
    pool::unique_names(&mut rules, fleet);
    for (i, pool) in fleet.pools.iter().enumerate() {
        pool::check_pool(&mut rules, fleet, i, pool);
    }
    rules.findings
}

/// What is valid but probably not what the user wants, located like problems.
pub fn warnings(fleet: &Fleet) -> Vec<Finding> {
    let mut out = Vec::new();
    fleet::unused_cache(fleet, &mut out);
    fleet::alarms_without_logs(fleet, &mut out);
    network::egress_anywhere(fleet, &mut out);
    network::job_role_ref_protected(fleet, &mut out);
    for (i, pool) in fleet.pools.iter().enumerate() {
        pool::warnings(fleet, i, pool, &mut out);
    }
    advice::warnings(fleet, &mut out);
    out
}
