//! The resolved fleet: every default applied, every derived name computed, in one place.
//! Renderers read only this model (through their own contexts), never the spec.

use std::collections::BTreeMap;

use serde::Serialize;

pub use crate::spec::{Arch, ClockTime, Executor, Os, PullPolicy, Version, VolumeType, Weekday};

#[derive(Debug, Clone)]
pub struct Fleet {
    pub name: String,
    /// File name of the spec (no directories), for generated-file headers.
    pub spec_file: String,
    pub region: String,
    pub vpc_id: String,
    pub subnet_ids: Vec<String>,
    /// What AWS receives: keys and values in Unicode NFC (as HCL reads them), sorted, so output
    /// never depends on the order keys were written in.
    pub tags: BTreeMap<String, String>,
    /// The tags as written, for the rules that point at them.
    pub tags_written: Vec<(String, String)>,
    pub gitlab_url: String,
    /// Customer-managed KMS key for the AMI's snapshot and every instance volume; `None` uses
    /// the account's default EBS key.
    pub ebs_kms_key_arn: Option<String>,
    pub image: Image,
    pub pools: Vec<Pool>,
}

#[derive(Debug, Clone)]
pub struct Image {
    pub os: Os,
    pub arch: Arch,
    pub runner_version: Version,
    pub aws_cli_version: String,
    pub build_instance_type: String,
    pub volume_gb: u32,
    pub volume_type: VolumeType,
}

/// The AWS partition a region belongs to: its own accounts publish the base images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partition {
    Aws,
    AwsUsGov,
    AwsCn,
}

impl Partition {
    /// The partition of a region that runnergen supports; `None` for the isolated ones
    /// (`us-iso-*`, `us-isob-*`), whose package mirrors runnergen cannot reach.
    pub fn of_region(region: &str) -> Option<Partition> {
        if region.starts_with("us-gov-") {
            Some(Partition::AwsUsGov)
        } else if region.starts_with("cn-") {
            Some(Partition::AwsCn)
        } else if region.contains("-iso") {
            None
        } else {
            Some(Partition::Aws)
        }
    }

    /// The partition's name in ARNs.
    pub fn name(self) -> &'static str {
        match self {
            Partition::Aws => "aws",
            Partition::AwsUsGov => "aws-us-gov",
            Partition::AwsCn => "aws-cn",
        }
    }
}

/// How a pool runs its jobs. Each kind has its own templates in each target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    /// Each instance of the pool's group is a runner and runs jobs itself.
    Instance,
}

#[derive(Debug, Clone)]
pub struct Pool {
    pub name: String,
    pub topology: Topology,
    /// `{fleet}-{pool}`: the name of the pool's group, launch template, role and instance profile.
    pub id: String,
    pub executor: Executor,
    pub instance_types: Vec<String>,
    pub spot: bool,
    pub capacity: Capacity,
    pub concurrent: u32,
    pub token_parameter: String,
    pub job_timeout_minutes: u32,
    pub volume_gb: u32,
    /// Present exactly when `executor` is docker.
    pub docker: Option<Docker>,
    pub scaling: Scaling,
    pub schedule: Option<Schedule>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Capacity {
    pub min: u32,
    pub max: u32,
    pub desired: u32,
}

#[derive(Debug, Clone)]
pub struct Docker {
    pub image: String,
    pub privileged: bool,
    pub pull_policy: PullPolicy,
    pub volumes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scaling {
    /// Target share of job slots running jobs, in percent.
    BusyPercent(u32),
    /// Target average CPU utilisation, in percent.
    CpuPercent(u32),
}

#[derive(Debug, Clone)]
pub struct Schedule {
    /// The IANA time zone AWS receives: canonical names (`Etc/UTC` for the spec's `UTC`).
    pub time_zone: String,
    pub windows: Vec<Window>,
}

#[derive(Debug, Clone)]
pub struct Window {
    /// Days the window starts on, Monday first.
    pub days: Vec<Weekday>,
    pub from: ClockTime,
    pub to: ClockTime,
    pub capacity: Capacity,
}

impl Window {
    /// A window whose end is not after its start ends on the following day.
    pub fn crosses_midnight(&self) -> bool {
        self.to <= self.from
    }

    /// The weekly minute ranges the window covers (minute 0 = Monday 00:00), split at the
    /// end of the week, for overlap checks.
    pub fn weekly_ranges(&self) -> Vec<(u32, u32)> {
        const WEEK: u32 = 7 * 24 * 60;
        let length = if self.crosses_midnight() {
            u32::from(self.to.0) + 24 * 60 - u32::from(self.from.0)
        } else {
            u32::from(self.to.0 - self.from.0)
        };
        let mut ranges = Vec::new();
        for day in &self.days {
            let start = day.index() as u32 * 24 * 60 + u32::from(self.from.0);
            let end = start + length;
            if end <= WEEK {
                ranges.push((start, end));
            } else {
                ranges.push((start, WEEK));
                ranges.push((0, end - WEEK));
            }
        }
        ranges
    }
}

/// The busy-slot metric the instances publish and the groups scale on: the share of the
/// instance's job slots running a job, in percent, with one dimension, the group's name.
pub const BUSY_METRIC: &str = "BusySlotsPercent";
pub const BUSY_METRIC_DIMENSION: &str = "AutoScalingGroupName";

/// Tags Packer puts on the AMI. Terraform finds the newest image of the fleet with this render's
/// image hash ([`AMI_TAG_IMAGE`]).
pub const AMI_TAG_FLEET: &str = "runnergen:fleet";
pub const AMI_TAG_ARCH: &str = "runnergen:arch";
pub const AMI_TAG_IMAGE: &str = "runnergen:image";

/// Heartbeat timeout of every group's terminating lifecycle hook: AWS's maximum, and fixed for
/// every pool, since changing it replaces the group (groups made by earlier runnergen releases
/// have it too). A draining instance records a heartbeat every [`HEARTBEAT_INTERVAL_SECONDS`],
/// so its drain may last as long as its longest job; one that stops sending them (it hangs, or
/// died) is terminated this long after its last one.
pub const HOOK_HEARTBEAT_TIMEOUT_SECONDS: u32 = 7200;
pub const HEARTBEAT_INTERVAL_SECONDS: u32 = 300;

/// Seconds an instance may take to stop after its longest job (unregister, shutdown).
pub const STOP_MARGIN_SECONDS: u32 = 300;

impl Fleet {
    /// The CloudWatch namespace a pool's instances publish to and its scaling policy reads: one
    /// per pool, so a pool's role can publish for that pool only.
    pub fn metric_namespace(&self, pool: &Pool) -> String {
        format!("runnergen/{}/{}", self.name, pool.name)
    }

    /// The AMI's name before the build timestamp (`-YYYYMMDDhhmmss`) Packer appends.
    pub fn ami_name_prefix(&self) -> String {
        format!("{}-gitlab-runner-{}", self.name, self.image.runner_version)
    }

    /// The region's partition. Validation refuses regions outside these.
    pub fn partition(&self) -> Partition {
        Partition::of_region(&self.region).unwrap_or(Partition::Aws)
    }

    pub fn uses_docker(&self) -> bool {
        self.pools.iter().any(|p| p.executor == Executor::Docker)
    }
}

impl Pool {
    /// Name of the group's terminating lifecycle hook, which the instance completes.
    pub fn lifecycle_hook_name(&self) -> String {
        format!("{}-drain", self.id)
    }
    /// How long stopping an instance may take: the longest job, then unregistering. The runner
    /// unit's stop timeout, set at boot by user data.
    pub fn drain_timeout_seconds(&self) -> u32 {
        self.job_timeout_minutes * 60 + STOP_MARGIN_SECONDS
    }
    /// Name of the pool's IAM role (AWS allows 64 characters).
    pub fn role_name(&self) -> String {
        format!("{}-runner", self.id)
    }
}

/// One scheduled capacity change of a pool's group, weekly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// Index of the window in the spec, from 0.
    pub window: usize,
    /// Whether the window starts (its capacity) or ends (the pool's base capacity).
    pub starts: bool,
    /// Days the action runs on, Monday first; never empty.
    pub days: Vec<Weekday>,
    pub at: ClockTime,
    pub capacity: Capacity,
}

impl Action {
    /// The 5-field cron expression AWS takes (`minute hour day month weekday`, 0 = Sunday).
    pub fn recurrence(&self) -> String {
        let mut numbers: Vec<usize> = self.days.iter().map(|d| (d.index() + 1) % 7).collect();
        numbers.sort_unstable();
        let mut parts: Vec<String> = Vec::new();
        let mut i = 0;
        while i < numbers.len() {
            let mut j = i;
            while j + 1 < numbers.len() && numbers[j + 1] == numbers[j] + 1 {
                j += 1;
            }
            if j - i >= 2 {
                parts.push(format!("{}-{}", numbers[i], numbers[j]));
            } else {
                parts.extend(numbers[i..=j].iter().map(usize::to_string));
            }
            i = j + 1;
        }
        format!("{} {} * * {}", self.at.minute(), self.at.hour(), parts.join(","))
    }
}

impl Schedule {
    /// The scheduled actions of these windows: each window's start sets its capacity; its end
    /// (the next day for a window that crosses midnight) restores `base`, except on days when
    /// another window starts at that very minute, where only the start runs (AWS runs two
    /// actions of one minute in no defined order).
    pub fn actions(&self, base: Capacity) -> Vec<Action> {
        let mut actions = Vec::new();
        for (i, w) in self.windows.iter().enumerate() {
            actions.push(Action { window: i, starts: true, days: w.days.clone(), at: w.from, capacity: w.capacity });
        }
        for (i, w) in self.windows.iter().enumerate() {
            let days: Vec<Weekday> = w
                .days
                .iter()
                .map(|d| if w.crosses_midnight() { d.next() } else { *d })
                .filter(|d| !self.windows.iter().any(|other| other.from == w.to && other.days.contains(d)))
                .collect();
            let mut days = days;
            days.sort();
            if !days.is_empty() {
                actions.push(Action { window: i, starts: false, days, at: w.to, capacity: base });
            }
        }
        actions
    }
}
