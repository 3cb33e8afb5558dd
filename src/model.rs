//! The resolved fleet: every default applied, every derived name computed, in one place.
//! Renderers read only this model (through their own contexts), never the spec.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::topology::WorkerNeeds;

pub use crate::spec::{
    Arch, ClockTime, Duration, Executor, Os, PullPolicy, RunnerMode, Scope, Version, VolumeType, Weekday,
};
pub use crate::topology::Topology;

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
    /// Who creates the pools' runners in GitLab and puts their tokens into SSM.
    pub runners: RunnerMode,
    /// Customer-managed KMS key for the AMI's snapshot and every instance volume; `None` uses
    /// the account's default EBS key.
    pub ebs_kms_key_arn: Option<String>,
    pub image: Image,
    pub pools: Vec<Pool>,
    /// The runners' distributed cache in S3, when the spec has one.
    pub cache: Option<Cache>,
    /// Shipping the instances' journals to CloudWatch Logs, when the spec asks for it.
    pub logs: Option<Logs>,
    /// The fleet's dashboard and alarms, when the spec asks for them.
    pub monitoring: Option<Monitoring>,
    /// What every IAM role and instance profile runnergen creates gets.
    pub iam: Iam,
    /// The HTTP proxy of everything that leaves the VPC, when there is one.
    pub proxy: Option<Proxy>,
    /// The fleet's egress rules as written; `None` keeps the defaults (HTTPS and HTTP anywhere).
    /// GitLab's own port is allowed either way.
    pub egress: Option<Vec<EgressRule>>,
    /// Whether runnergen's Terraform creates the VPC endpoints of [`Fleet::vpc_endpoints`].
    pub vpc_endpoints: bool,
    /// The CA certificates GitLab's certificate chains to (`gitlab.ca_file`), when it names them.
    pub gitlab_ca: Option<Attachment>,
    /// Where docker hosts and workers pull images from.
    pub registries: Registries,
}

/// A file the spec names, read at load time (the only stage that reads from disk): renderers
/// copy its text into the output.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// The path as the spec writes it, relative to the spec.
    pub written: String,
    /// Its text, checked to be what the key expects.
    pub text: String,
}

#[derive(Debug, Clone, Default)]
pub struct Iam {
    /// The permissions boundary of every role runnergen creates.
    pub permissions_boundary: Option<String>,
    /// The path of every role and instance profile: `/` unless the spec sets one, which
    /// renderers then write (AWS's default `/` is left unwritten).
    pub path: Option<String>,
    /// An existing OIDC provider for GitLab, which the pools' job roles trust instead of one
    /// runnergen's Terraform creates.
    pub oidc_provider_arn: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Proxy {
    /// `http://[user@]host:port`, no password (a rule refuses one).
    pub url: String,
    /// The hosts the spec lists to reach directly; [`Fleet::no_proxy`] adds what always must be.
    pub no_proxy: Vec<String>,
}

/// One egress rule: TCP to a CIDR block or a managed prefix list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressRule {
    /// Exactly one of `cidr` and `prefix_list` once the rules pass.
    pub cidr: Option<String>,
    pub prefix_list: Option<String>,
    /// TCP ports, both ends included; `from_port <= to_port` once the rules pass.
    pub from_port: u16,
    pub to_port: u16,
    /// As written, or the destination and ports.
    pub description: String,
}

impl EgressRule {
    /// The destination as written: the CIDR block or the prefix list.
    pub fn destination(&self) -> &str {
        self.cidr.as_deref().or(self.prefix_list.as_deref()).unwrap_or_default()
    }

    /// The ports in words: `TCP port 22`, `TCP ports 8000-8100`.
    pub fn ports_text(&self) -> String {
        if self.from_port == self.to_port {
            format!("TCP port {}", self.from_port)
        } else {
            format!("TCP ports {}-{}", self.from_port, self.to_port)
        }
    }

    /// Whether the rule opens its ports to the whole IPv4 internet.
    pub fn anywhere(&self) -> bool {
        self.cidr.as_deref() == Some("0.0.0.0/0")
    }
}

#[derive(Debug, Clone, Default)]
pub struct Registries {
    /// A Docker Hub mirror every docker host and worker asks first.
    pub mirror: Option<String>,
    /// ECR repositories the runners pull from with the instance role; empty: none.
    pub ecr: Vec<String>,
}

/// A pool's jobs' own AWS role, assumed with GitLab's OIDC ID tokens.
#[derive(Debug, Clone)]
pub struct JobRole {
    pub policy_arns: Vec<String>,
    /// `project_path` claims allowed; a trailing `/*` matches every project under a group.
    pub projects: Vec<String>,
    /// `ref` claims allowed; empty: any.
    pub refs: Vec<String>,
    /// Whether only protected refs may assume it (`ref_protected` claim `true`).
    pub ref_protected: bool,
}

/// An AWS service the fleet's instances (or jobs) call, which `aws.vpc_endpoints: create` gives
/// an endpoint in the VPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct VpcEndpoint {
    /// The service's short name in `com.amazonaws.REGION.NAME`.
    pub service: &'static str,
    /// A gateway endpoint (S3) on the subnets' route tables; otherwise an interface endpoint.
    pub gateway: bool,
    /// Who calls it, and for what.
    pub why: &'static str,
}

#[derive(Debug, Clone)]
pub struct Monitoring {
    pub dashboard: bool,
    pub alarms: Option<Alarms>,
    /// The runner's Prometheus metrics into CloudWatch.
    pub runner_metrics: bool,
}

#[derive(Debug, Clone)]
pub struct Alarms {
    /// An SNS topic that exists; a rule keeps exactly one of it and `email`.
    pub sns_topic_arn: Option<String>,
    /// An address subscribed to a topic runnergen's Terraform creates.
    pub email: Option<String>,
    pub at_ceiling_minutes: u32,
    /// Seconds of queue time that more than a tenth of the jobs may not exceed.
    pub queue_seconds_p90: Option<u32>,
}

/// The runners' distributed cache.
#[derive(Debug, Clone)]
pub struct Cache {
    /// The bucket's name: runnergen's own (`created`) or one that exists.
    pub bucket: String,
    pub created: bool,
    /// Days until objects expire, for a bucket runnergen creates; `None` for an existing one,
    /// whose owner decides.
    pub expiration_days: Option<u32>,
    /// All pools under one prefix instead of each under its own.
    pub shared: bool,
}

#[derive(Debug, Clone, Copy)]
pub struct Logs {
    pub retention_days: u32,
}

#[derive(Debug, Clone)]
pub struct Image {
    pub os: Os,
    pub arch: Arch,
    pub runner_version: Version,
    pub aws_cli_version: String,
    /// The fleeting AWS plugin baked into the runner AMI, when some pool is an autoscaler.
    pub fleeting_plugin_version: Option<Version>,
    /// The plugin binary's SHA-256, which the bake checks.
    pub fleeting_plugin_sha256: Option<String>,
    pub build_instance_type: String,
    pub volume_gb: u32,
    pub volume_type: VolumeType,
    /// A private subnet the AMIs are built in, over Session Manager.
    pub build_subnet_id: Option<String>,
    /// An instance profile of the user's for those builds, instead of Packer's temporary one.
    pub build_instance_profile: Option<String>,
    /// The user's own bake step, run after runnergen's.
    pub provision_script: Option<Attachment>,
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

    /// The domain of the partition's service endpoints (`ssm.REGION.amazonaws.com`, and
    /// `.amazonaws.com.cn` in China).
    pub fn dns_suffix(self) -> &'static str {
        match self {
            Partition::AwsCn => "amazonaws.com.cn",
            Partition::Aws | Partition::AwsUsGov => "amazonaws.com",
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

#[derive(Debug, Clone)]
pub struct Pool {
    pub name: String,
    /// `{fleet}-{pool}`: the name of an instance pool's group, launch template, role and instance
    /// profile, and the prefix of an autoscaler pool's.
    pub id: String,
    pub executor: Executor,
    pub token_parameter: String,
    pub job_timeout_minutes: u32,
    /// Present exactly when `executor` is docker.
    pub docker: Option<Docker>,
    /// The pool's runner in GitLab, when runnergen's Terraform creates it.
    pub runner: Option<Runner>,
    /// How the pool runs its jobs, with what that adds.
    pub topology: Topology,
    /// Egress rules of this pool's instances besides the fleet's.
    pub egress: Vec<EgressRule>,
    /// The jobs' own AWS role, when the spec gives them one.
    pub job_role: Option<JobRole>,
}

/// A pool's runner in GitLab, every default applied: created by runnergen's Terraform
/// (`gitlab_user_runner`) with `gitlab.runners: terraform`; otherwise what the operator sets on
/// the runner they create (its tags, "run untagged" and "protected").
#[derive(Debug, Clone)]
pub struct Runner {
    /// Always present with `gitlab.runners: terraform` once the rules pass.
    pub scope: Option<Scope>,
    /// The keys written that only a runner runnergen's Terraform creates has.
    pub terraform_keys: Vec<&'static str>,
    pub group_id: Option<u64>,
    pub project_id: Option<u64>,
    pub description: String,
    pub tags: Vec<String>,
    pub run_untagged: bool,
    pub locked: bool,
    /// Protected branches and tags only.
    pub protected: bool,
    /// Seconds.
    pub maximum_timeout: u32,
    pub paused: bool,
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
    /// With `privileged`: the job images that run privileged; empty means every one, as in
    /// gitlab-runner (`isInAllowedPrivilegedImages`, executors/docker/docker.go).
    pub allowed_privileged_images: Vec<String>,
    /// With `privileged`: the service images that run privileged; empty means every one.
    pub allowed_privileged_services: Vec<String>,
    pub pull_policy: PullPolicy,
    pub volumes: Vec<String>,
}

/// Windows of the week, each with its own setting: an instance pool's capacity, an autoscaler
/// pool's idle job slots.
#[derive(Debug, Clone)]
pub struct Schedule<T> {
    /// The IANA time zone AWS and the runner receive: canonical names (`Etc/UTC` for `UTC`).
    pub time_zone: String,
    pub windows: Vec<Window<T>>,
}

#[derive(Debug, Clone)]
pub struct Window<T> {
    /// Days the window starts on, Monday first.
    pub days: Vec<Weekday>,
    pub from: ClockTime,
    pub to: ClockTime,
    pub setting: T,
}

impl<T> Window<T> {
    /// The window in words, such as `MON-FRI 07:00 to 19:00`, or for one that crosses midnight
    /// `MON-FRI 20:00 to 07:00 the next day (overnight)`.
    pub fn describe(&self) -> String {
        let overnight = if self.crosses_midnight() { " the next day (overnight)" } else { "" };
        format!("{} {} to {}{overnight}", days_text(&self.days), self.from, self.to)
    }

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

/// The tags runnergen puts on what it creates, besides the spec's (which may not use the
/// `runnergen:` prefix): the fleet's name on everything, the pool's on what a pool creates, and
/// the pool's GitLab runner on the instances of a runner runnergen's Terraform creates.
pub const TAG_FLEET: &str = "runnergen:fleet";
pub const TAG_POOL: &str = "runnergen:pool";
pub const TAG_RUNNER: &str = "runnergen:runner";

/// Tags Packer puts on the AMI, besides [`TAG_FLEET`]. Terraform finds the newest image of the
/// fleet with this render's image hash ([`AMI_TAG_IMAGE`]).
pub const AMI_TAG_ARCH: &str = "runnergen:arch";
pub const AMI_TAG_IMAGE: &str = "runnergen:image";
/// With autoscaler pools one bake makes two AMIs of one image definition, told apart by this tag:
/// [`ROLE_RUNNER`] (runners and managers) or [`ROLE_WORKER`].
pub const AMI_TAG_ROLE: &str = "runnergen:role";
pub const ROLE_RUNNER: &str = "runner";
pub const ROLE_WORKER: &str = "worker";

/// Heartbeat timeout of every group's terminating lifecycle hook: AWS's maximum, and fixed for
/// every pool, since changing it replaces the group (groups made by earlier runnergen releases
/// have it too). A draining instance records a heartbeat every [`HEARTBEAT_INTERVAL_SECONDS`],
/// so its drain may last as long as its longest job; one that stops sending them (it hangs, or
/// died) is terminated this long after its last one.
pub const HOOK_HEARTBEAT_TIMEOUT_SECONDS: u32 = 7200;
/// An instance pool's instances are replaced after a week (`max_instance_lifetime`), through the
/// drain: what jobs leave behind on the disk goes with them.
pub const MAX_INSTANCE_LIFETIME_SECONDS: u32 = 7 * 24 * 3600;
pub const HEARTBEAT_INTERVAL_SECONDS: u32 = 300;

/// How long past its predecessor's longest possible drain a new manager still waits for it.
pub const GATE_MARGIN_SECONDS: u32 = 600;

/// The unprivileged user the worker AMI has for shell jobs on autoscaler pools.
pub const JOB_USER: &str = "runner-job";

/// Seconds a drain waits past the pool's job timeout: what gitlab-runner may still do for a job
/// whose script reached that timeout (its after_script, which has a timeout of its own of 5
/// minutes, `AfterScriptTimeout` in common/consts.go; then the cache and artifact uploads and
/// reporting the job to GitLab), and the runner's exit.
pub const STOP_MARGIN_SECONDS: u32 = 600;

/// The ports the fleet's default egress opens to anywhere: HTTPS and HTTP. `aws.egress` replaces
/// them.
pub const DEFAULT_EGRESS_PORTS: [u16; 2] = [443, 80];

/// The instance metadata service's address, which never goes through a proxy.
pub const IMDS_ADDRESS: &str = "169.254.169.254";

impl Fleet {
    /// The AWS services the fleet calls from its VPC, each with why: the endpoints that
    /// `aws.vpc_endpoints: create` makes, sorted by service.
    pub fn vpc_endpoints(&self) -> Vec<VpcEndpoint> {
        let endpoint = |service, gateway, why| VpcEndpoint { service, gateway, why };
        let mut out = vec![
            endpoint("s3", true, "the runners' cache, ECR's image layers and Amazon Linux's package repositories"),
            endpoint("ssm", false, "the runner token (GetParameter), live settings and Session Manager"),
            endpoint("ssmmessages", false, "Session Manager's shell and Packer's private bakes"),
            endpoint("autoscaling", false, "lifecycle actions, instance protection and group sizes"),
        ];
        // No ec2messages: the roles grant none of its actions, and the SSM agent (3.3.40.0 and
        // later) uses ssmmessages where it can ("Improve the security of EC2 instances by using
        // VPC endpoints for Systems Manager", AWS Systems Manager user guide).
        if self.monitoring.is_some() || self.pools.iter().any(|p| p.topology.kind().publishes_busy_slots()) {
            out.push(endpoint("monitoring", false, "the busy-slot and heartbeat metrics (PutMetricData)"));
        }
        if self.logs.is_some() || self.runner_metrics() {
            out.push(endpoint("logs", false, "the CloudWatch agent's journal and runner metrics"));
        }
        if self.pools.iter().any(|p| p.topology.kind().worker_needs(p.executor).is_some()) {
            out.push(endpoint("ec2", false, "the fleeting plugin's instance calls on the autoscaler managers"));
        }
        if self.pools.iter().any(|p| p.job_role.is_some()) {
            out.push(endpoint("sts", false, "jobs' AssumeRoleWithWebIdentity with GitLab ID tokens"));
        }
        if !self.registries.ecr.is_empty() && self.pools.iter().any(Pool::pulls_docker_images) {
            out.push(endpoint("ecr.api", false, "the ECR credential helper's GetAuthorizationToken"));
            out.push(endpoint("ecr.dkr", false, "image pulls from ECR"));
        }
        out.sort();
        out
    }

    /// The host names of the VPC's endpoints, as private DNS makes them answer inside the VPC.
    pub fn vpc_endpoint_hosts(&self) -> Vec<String> {
        let suffix = self.partition().dns_suffix();
        let region = &self.region;
        let mut hosts = Vec::new();
        for e in self.vpc_endpoints() {
            match e.service {
                // Path-style and virtual-hosted-style addresses of every bucket of the region.
                "s3" => hosts.extend([format!("s3.{region}.{suffix}"), format!(".s3.{region}.{suffix}")]),
                // Registries are account hosts: ACCOUNT.dkr.ecr.REGION.amazonaws.com.
                "ecr.dkr" => hosts.push(format!(".dkr.ecr.{region}.{suffix}")),
                "ecr.api" => hosts.push(format!("api.ecr.{region}.{suffix}")),
                service => hosts.push(format!("{service}.{region}.{suffix}")),
            }
        }
        hosts
    }

    /// What never goes through the proxy: the loopback, the instance metadata service, the VPC's
    /// endpoints when runnergen makes them, then the spec's own list, in that order, without
    /// repeats. Empty without a proxy.
    pub fn no_proxy(&self) -> Vec<String> {
        let Some(proxy) = &self.proxy else { return Vec::new() };
        let mut out: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), IMDS_ADDRESS.into()];
        if self.vpc_endpoints {
            out.extend(self.vpc_endpoint_hosts());
        }
        for host in &proxy.no_proxy {
            if !out.contains(host) {
                out.push(host.clone());
            }
        }
        out
    }

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

    /// Whether the runner AMI needs Docker: some pool runs docker jobs on its runner instances.
    pub fn uses_docker(&self) -> bool {
        self.pools.iter().any(|p| p.topology.kind().runs_docker_on_runner(p.executor))
    }

    /// What the worker AMI needs, pool by pool, for the pools whose jobs run on workers.
    pub fn worker_needs(&self) -> impl Iterator<Item = WorkerNeeds> {
        self.pools.iter().filter_map(|p| p.topology.kind().worker_needs(p.executor))
    }

    /// Whether a worker AMI is baked: some pool's jobs run on workers.
    pub fn has_workers(&self) -> bool {
        self.worker_needs().next().is_some()
    }

    /// The cache prefix of a pool's objects: its name, or `shared` for every pool.
    pub fn cache_path(&self, pool: &Pool) -> Option<String> {
        let cache = self.cache.as_ref().filter(|_| pool.uses_cache())?;
        Some(if cache.shared { "shared".to_owned() } else { pool.name.clone() })
    }

    /// The log group of a pool's runner metrics (embedded metric format).
    pub fn runner_metrics_log_group(&self, pool: &Pool) -> String {
        format!("/runnergen/{}/{}/runner-metrics", self.name, pool.name)
    }

    /// Whether the pools' runners send their Prometheus metrics to CloudWatch.
    pub fn runner_metrics(&self) -> bool {
        self.monitoring.as_ref().is_some_and(|m| m.runner_metrics)
    }

    /// The queue time the runners count jobs above, when the alarms watch it.
    pub fn queue_seconds(&self) -> Option<u32> {
        self.monitoring.as_ref().and_then(|m| m.alarms.as_ref()).and_then(|a| a.queue_seconds_p90)
    }

    /// The log group of a pool's instances.
    pub fn log_group(&self, pool: &Pool) -> String {
        format!("/runnergen/{}/{}", self.name, pool.name)
    }

    /// The worker AMI's name before the build timestamp.
    pub fn worker_ami_name_prefix(&self) -> String {
        format!("{}-worker", self.name)
    }
}

impl Pool {
    /// Whether the pool's runner uses the distributed cache.
    pub fn uses_cache(&self) -> bool {
        self.topology.kind().uses_cache(self.executor)
    }

    /// The schedule's windows in words, each with the schedule's time zone.
    pub fn windows(&self) -> Vec<(&str, String)> {
        self.topology.kind().windows()
    }

    /// The group whose instances are runners.
    pub fn runner_group(&self) -> String {
        self.topology.kind().runner_group(self)
    }

    /// The executor the runner registers with.
    pub fn runner_executor(&self) -> &'static str {
        self.topology.kind().runner_executor(self.executor)
    }

    /// Jobs a runner instance of the pool runs at once.
    pub fn concurrent(&self) -> u32 {
        self.topology.kind().concurrent()
    }

    /// The SSM parameter (a String, no secret) holding the runner's live settings, which it reads
    /// and applies while it runs; only some topologies have them.
    pub fn live_settings_parameter(&self) -> Option<String> {
        self.topology.kind().live_settings_parameter(self)
    }

    /// Name of the runner group's terminating lifecycle hook, which the instance completes.
    pub fn lifecycle_hook_name(&self) -> String {
        format!("{}-drain", self.runner_group())
    }

    /// How long stopping an instance may take: the longest job, then unregistering. The runner
    /// unit's stop timeout, set at boot by user data.
    pub fn drain_timeout_seconds(&self) -> u32 {
        self.job_timeout_minutes * 60 + STOP_MARGIN_SECONDS
    }

    /// Name of the IAM role of the pool's runner instances (AWS allows 64 characters).
    pub fn role_name(&self) -> String {
        self.topology.kind().role_name(self)
    }

    /// Whether the pool's runner pulls job and service images with its instance's role: its
    /// jobs run in Docker, on the runner's own instance or on the workers it drives.
    pub fn pulls_docker_images(&self) -> bool {
        let kind = self.topology.kind();
        kind.runs_docker_on_runner(self.executor) || kind.worker_needs(self.executor).is_some_and(|w| w.docker)
    }

    /// Name of the IAM role the pool's jobs assume with GitLab's ID tokens (AWS allows 64
    /// characters).
    pub fn job_role_name(&self) -> String {
        format!("{}-jobs", self.id)
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
        format!("{} {} * * {}", self.at.minute(), self.at.hour(), cron_days(&self.days))
    }
}

/// Days by name, Monday first, with runs of three or more as ranges: `MON-FRI`, `SAT,SUN`.
pub fn days_text(days: &[Weekday]) -> String {
    let mut sorted = days.to_vec();
    sorted.sort();
    sorted.dedup();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1].index() == sorted[j].index() + 1 {
            j += 1;
        }
        if j - i >= 2 {
            parts.push(format!("{}-{}", sorted[i].name(), sorted[j].name()));
        } else {
            parts.extend(sorted[i..=j].iter().map(|d| d.name().to_owned()));
        }
        i = j + 1;
    }
    parts.join(",")
}

/// Days as a cron day-of-week field (0 = Sunday), with runs of three or more as ranges: `1-5`,
/// `0,6`.
pub fn cron_days(days: &[Weekday]) -> String {
    let mut numbers: Vec<usize> = days.iter().map(|d| (d.index() + 1) % 7).collect();
    numbers.sort_unstable();
    numbers.dedup();
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
    parts.join(",")
}

impl<T> Window<T> {
    /// The periods of this window as 5-field cron expressions (`minute hour * * weekday`), each
    /// naming every minute in it, as the runner's autoscaler policies take them: a partial first
    /// hour, the whole hours, a partial last hour, and for a window that crosses midnight the
    /// same again on the following days.
    pub fn periods(&self) -> Vec<String> {
        let day = |d: &Weekday| *d;
        let next = |d: &Weekday| d.next();
        let mut periods = Vec::new();
        let from = u32::from(self.from.0);
        let to = u32::from(self.to.0);
        if self.crosses_midnight() {
            minute_ranges(from, 24 * 60, &cron_days(&self.days.iter().map(day).collect::<Vec<_>>()), &mut periods);
            minute_ranges(0, to, &cron_days(&self.days.iter().map(next).collect::<Vec<_>>()), &mut periods);
        } else {
            minute_ranges(from, to, &cron_days(&self.days), &mut periods);
        }
        periods
    }
}

/// The minutes from `start` to `end` (exclusive) of one day, as cron expressions on `days`.
fn minute_ranges(start: u32, end: u32, days: &str, out: &mut Vec<String>) {
    let mut at = start;
    while at < end {
        let (hour, minute) = (at / 60, at % 60);
        if minute == 0 && end - at >= 60 {
            // Whole hours up to the last one that ends within the range.
            let last = (end / 60).saturating_sub(1);
            let hours = if last > hour { format!("{hour}-{last}") } else { hour.to_string() };
            out.push(format!("* {hours} * * {days}"));
            at = (last + 1) * 60;
        } else {
            let stop = end.min((hour + 1) * 60);
            let minutes = if stop - at == 60 {
                "*".to_owned()
            } else if stop - at == 1 {
                minute.to_string()
            } else {
                format!("{minute}-{}", stop - 1 - hour * 60)
            };
            out.push(format!("{minutes} {hour} * * {days}"));
            at = stop;
        }
    }
}

impl Schedule<Capacity> {
    /// The scheduled actions of these windows: each window's start sets its capacity; its end
    /// (the next day for a window that crosses midnight) restores `base`, except on days when
    /// another window starts at that very minute, where only the start runs (AWS runs two
    /// actions of one minute in no defined order).
    pub fn actions(&self, base: Capacity) -> Vec<Action> {
        let mut actions = Vec::new();
        for (i, w) in self.windows.iter().enumerate() {
            actions.push(Action { window: i, starts: true, days: w.days.clone(), at: w.from, capacity: w.setting });
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
