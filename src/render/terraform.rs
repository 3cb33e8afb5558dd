//! Terraform target: a flat root module under `terraform/`. The fleet's files (versions, the
//! shared data sources and security group, IAM, schedules, outputs) and, for each pool, the
//! files of its topology (for an instance pool: its launch template, its Auto Scaling group with
//! the terminating lifecycle hook, its demand scaling, and its user data). Reads only the
//! resolved [`Fleet`] and builds one [`Context`] from it; the templates see that context, never
//! the spec.
//!
//! Arguments follow the hashicorp/aws 6.x provider docs (website/docs/r/autoscaling_group,
//! autoscaling_schedule, autoscaling_policy, launch_template, vpc_security_group_egress_rule,
//! iam_role_policy; website/docs/d/ami, ami_ids): notably a refresh only starts when the group's
//! launch template `version` changes, hence `latest_version` rather than `$Latest`; the drain
//! hook is the group's `initial_lifecycle_hook` only, never also an `aws_autoscaling_lifecycle_hook`
//! of the same name (the hook resource's docs warn against that: deleting it removes the group's
//! hook before the group drains); groups take no `default_tags`, hence explicit `tag` blocks, and
//! default tags do not reach what a group launches, hence `tag_specifications`. checkov 3.3.30
//! passes every check.

use std::collections::BTreeMap;

use minijinja::{Environment, Error, ErrorKind};
use serde::Serialize;

use super::monitoring::MonitoringContext;
use super::{File, Output, runner_template, to_value};
use crate::model::{self, Fleet, Pool};
use crate::settings;
use crate::spec::spelling;
use crate::topology::TerraformContext;

/// The fleet's files, rendered with the whole [`Context`].
const FLEET_OUTPUTS: &[Output] = &[
    Output::file("terraform/versions.tf.j2", "terraform/versions.tf"),
    Output::file("terraform/main.tf.j2", "terraform/main.tf"),
    Output::file("terraform/iam.tf.j2", "terraform/iam.tf"),
    Output::file("terraform/outputs.tf.j2", "terraform/outputs.tf"),
];

/// Rendered when runnergen's Terraform creates the runners.
const GITLAB: Output = Output::file("terraform/gitlab.tf.j2", "terraform/gitlab.tf");

/// Rendered when runnergen creates the cache bucket, and when the journals go to CloudWatch.
const CACHE: Output = Output::file("terraform/cache.tf.j2", "terraform/cache.tf");
const LOGS: Output = Output::file("terraform/logs.tf.j2", "terraform/logs.tf");

/// Rendered when the spec has `monitoring`.
const MONITORING: Output = Output::file("terraform/monitoring.tf.j2", "terraform/monitoring.tf");

/// The gitlabhq/gitlab provider's major version: the argument schema the tests check is 18.6.1's.
const GITLAB_PROVIDER_VERSION: &str = "~> 18.6";

/// Rendered with `aws.vpc_endpoints: create`.
const VPC_ENDPOINTS: Output = Output::file("terraform/vpc-endpoints.tf.j2", "terraform/vpc-endpoints.tf");

/// Rendered when some pool has a `job_role`.
const JOB_ROLES: Output = Output::file("terraform/job-roles.tf.j2", "terraform/job-roles.tf");

/// Rendered when some pool has a schedule.
const SCHEDULES: Output = Output::file("terraform/schedules.tf.j2", "terraform/schedules.tf");

/// Everything the Terraform templates read. Templates depend on these names.
#[derive(Debug, Serialize)]
pub struct Context {
    /// Fleet name, for descriptions.
    pub fleet: String,
    /// AWS region of the provider and of every ARN.
    pub region: String,
    /// VPC of the security group.
    pub vpc_id: String,
    /// Subnets every group spreads across, in spec order.
    pub subnet_ids: Vec<String>,
    /// The provider's default tags: the spec's tags and `runnergen:fleet`.
    pub default_tags: Vec<Tag>,
    /// How the AMI data sources find the image Packer baked from this render.
    pub ami: Ami,
    /// Whether some pool is an instance pool: they share the fleet's security group.
    pub instance_pools: bool,
    /// The instance pools' security group.
    pub security_group: SecurityGroup,
    /// Its egress rules, one resource each; there is no ingress. Autoscaler workers get the same.
    pub egress: Vec<EgressRule>,
    /// An autoscaler manager's egress: by default HTTPS (and GitLab's port), no HTTP; with
    /// `aws.egress`, the same rules as every instance.
    pub manager_egress: Vec<EgressRule>,
    /// Terraform labels of the egress rules, which every group depends on.
    pub egress_labels: Vec<String>,
    /// What every role and instance profile gets: a permissions boundary and a path.
    pub iam: IamContext,
    /// The VPC endpoints, with `aws.vpc_endpoints: create`.
    pub vpc_endpoints: Option<VpcEndpoints>,
    /// Addresses of the VPC endpoints, which every group depends on (empty without them).
    pub endpoint_addresses: Vec<String>,
    /// GitLab's OIDC provider and the pools' job roles, when some pool has a `job_role`.
    pub jobs: Option<Jobs>,
    /// Customer-managed KMS key of the instances' volumes, when the spec names one.
    pub ebs_kms_key_arn: Option<String>,
    /// Heartbeat timeout of every drain hook: fixed, since a change would replace the group.
    pub hook_heartbeat_timeout_seconds: u32,
    /// How long an instance pool's instance lives at most.
    pub max_instance_lifetime_seconds: u32,
    /// How often a draining instance records a heartbeat.
    pub heartbeat_interval_seconds: u32,
    /// Every pool, in spec order.
    pub pools: Vec<PoolContext>,
    /// When runnergen's Terraform creates the runners in GitLab.
    pub runners: Option<Runners>,
    /// The runners' distributed cache, when the spec has one.
    pub cache: Option<CacheContext>,
    /// CloudWatch Logs retention, when the spec ships the journals there.
    pub log_retention_days: Option<u32>,
    /// The dashboard, the alarms and what the groups publish, when the spec has `monitoring`.
    pub monitoring: Option<MonitoringContext>,
}

#[derive(Debug, Serialize)]
pub struct CacheContext {
    pub bucket: String,
    /// Whether this module creates the bucket (`cache.tf`).
    pub created: bool,
    pub expiration_days: Option<u32>,
    pub shared: bool,
}

#[derive(Debug, Serialize)]
pub struct Runners {
    pub provider_version: &'static str,
    /// The GitLab API's address, as the provider takes it.
    pub base_url: String,
}

/// A pool's `gitlab_user_runner`.
#[derive(Debug, Serialize)]
pub struct RunnerContext {
    /// `instance_type`, `group_type` or `project_type`.
    pub runner_type: String,
    pub group_id: Option<u64>,
    pub project_id: Option<u64>,
    pub description: String,
    pub tags: Vec<String>,
    pub untagged: bool,
    pub locked: bool,
    /// `not_protected` or `ref_protected`.
    pub access_level: &'static str,
    pub maximum_timeout: u32,
    pub paused: bool,
}

#[derive(Debug, Serialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Serialize)]
pub struct Ami {
    /// Tag key holding the image definition's hash ([`model::AMI_TAG_IMAGE`]) and its value.
    pub image_tag: &'static str,
    pub image: String,
    /// The plan's error when no AMI of this image definition exists.
    pub missing_message: String,
    /// Tag key naming the fleet ([`model::TAG_FLEET`]) and its value.
    pub fleet_tag: &'static str,
    pub fleet: String,
    /// The AMI's `architecture` (`x86_64` or `arm64`).
    pub arch: String,
    /// With autoscaler pools, Packer also bakes a worker AMI from the same definition: this tag
    /// ([`model::AMI_TAG_ROLE`]) tells the two apart.
    pub role_tag: Option<&'static str>,
    pub missing_worker_message: String,
}

#[derive(Debug, Serialize)]
pub struct SecurityGroup {
    pub name: String,
    pub description: String,
}

/// One `aws_vpc_security_group_egress_rule`: TCP ports to one destination.
#[derive(Debug, Clone, Serialize)]
pub struct EgressRule {
    /// Terraform resource label.
    pub label: String,
    pub description: String,
    pub from_port: u16,
    pub to_port: u16,
    /// The destination's argument: `cidr_ipv4`, `cidr_ipv6`, `prefix_list_id` or
    /// `referenced_security_group_id`.
    pub to: &'static str,
    /// The destination as written (a CIDR block, a prefix list id), which the template quotes...
    pub literal: Option<String>,
    /// ...or a reference to another resource of the module.
    pub reference: Option<String>,
}

impl EgressRule {
    fn anywhere(label: String, description: String, port: u16, ipv6: bool) -> Self {
        EgressRule {
            label,
            description,
            from_port: port,
            to_port: port,
            to: if ipv6 { "cidr_ipv6" } else { "cidr_ipv4" },
            literal: Some(if ipv6 { "::/0" } else { "0.0.0.0/0" }.to_owned()),
            reference: None,
        }
    }

    /// A rule the spec wrote, labelled by its destination and ports.
    fn written(prefix: &str, rule: &model::EgressRule) -> Self {
        let ports = if rule.from_port == rule.to_port {
            rule.from_port.to_string()
        } else {
            format!("{}_{}", rule.from_port, rule.to_port)
        };
        EgressRule {
            label: format!("{prefix}{}_tcp_{ports}", label_text(rule.destination())),
            description: rule.description.clone(),
            from_port: rule.from_port,
            to_port: rule.to_port,
            to: if rule.cidr.is_some() { "cidr_ipv4" } else { "prefix_list_id" },
            literal: Some(rule.destination().to_owned()),
            reference: None,
        }
    }

    fn reference(label: &str, description: &str, port: u16, to: &'static str, reference: String) -> Self {
        EgressRule {
            label: label.to_owned(),
            description: description.to_owned(),
            from_port: port,
            to_port: port,
            to,
            literal: None,
            reference: Some(reference),
        }
    }
}

/// Text as a part of a Terraform label: lowercase letters, digits and underscores.
fn label_text(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect()
}

/// The fleet's subnets, each labelled by its id: `subnet-0a1b...` becomes `subnet_0a1b...`. A
/// label must start with a letter, and the data sources of a subnet listed twice need two.
fn subnet_labels(ids: &[String]) -> Vec<Labelled> {
    let mut subnets: Vec<Labelled> = ids
        .iter()
        .map(|id| {
            let label = label_text(id);
            let label =
                if label.starts_with(|c: char| c.is_ascii_alphabetic()) { label } else { format!("subnet_{label}") };
            Labelled { label, value: id.clone() }
        })
        .collect();
    number_repeats(subnets.iter_mut().map(|s| &mut s.label));
    subnets
}

/// Labels made unique within one list: a repeated label gets `_2`, `_3`...
fn number_repeats<'a>(labels: impl Iterator<Item = &'a mut String>) {
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    for label in labels {
        let n = seen.entry(label.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            *label = format!("{label}_{n}");
        }
    }
}

/// Rules with labels made unique within one list ([`number_repeats`]).
fn unique_labels(mut rules: Vec<EgressRule>) -> Vec<EgressRule> {
    number_repeats(rules.iter_mut().map(|r| &mut r.label));
    rules
}

/// The permissions boundary and path of every role and instance profile, each only when set.
#[derive(Debug, Serialize)]
pub struct IamContext {
    pub permissions_boundary: Option<String>,
    pub path: Option<String>,
}

/// The S3 gateway endpoint on the subnets' route tables, and an interface endpoint per AWS
/// service the fleet calls, behind a security group that admits HTTPS from the fleet only.
#[derive(Debug, Serialize)]
pub struct VpcEndpoints {
    pub security_group: SecurityGroup,
    /// One interface endpoint each (`label`, the service's short name, why).
    pub interface: Vec<EndpointContext>,
    pub gateway: Vec<EndpointContext>,
    /// The security groups the endpoints admit HTTPS from: each rule's label and the group's.
    pub sources: Vec<EndpointSource>,
    /// The fleet's subnets, each with the label of its data sources.
    pub subnets: Vec<Labelled>,
    /// With `image.build_subnet_id`: the subnet the AMIs bake in, whose build instances reach SSM
    /// through these endpoints once they exist (private DNS answers for the whole VPC).
    pub build_subnet: Option<String>,
}

impl VpcEndpoints {
    /// Every endpoint's address, `aws_vpc_endpoint.LABEL`, sorted.
    fn addresses(&self) -> Vec<String> {
        let mut out: Vec<String> =
            self.gateway.iter().chain(&self.interface).map(|e| format!("aws_vpc_endpoint.{}", e.label)).collect();
        out.sort();
        out
    }
}

/// A value and the Terraform label of what is made or read for it.
#[derive(Debug, Serialize)]
pub struct Labelled {
    pub label: String,
    pub value: String,
}

#[derive(Debug, Serialize)]
pub struct EndpointContext {
    pub label: String,
    /// `com.amazonaws.REGION.SERVICE`.
    pub service_name: String,
    pub name: String,
    pub why: &'static str,
}

#[derive(Debug, Serialize)]
pub struct EndpointSource {
    pub label: String,
    pub security_group: String,
    pub description: String,
}

/// GitLab's OIDC provider (created, or the account's existing one) and the pools' job roles.
#[derive(Debug, Serialize)]
pub struct Jobs {
    /// The issuer, `gitlab.url`, which is also the provider's one audience.
    pub issuer: String,
    /// The issuer without `https://`: the prefix of the trust policy's condition keys.
    pub key_prefix: String,
    /// The account's existing provider; `None`: job-roles.tf creates it.
    pub existing_provider_arn: Option<String>,
}

/// A pool's job role: whom it trusts and what it gets.
#[derive(Debug, Serialize)]
pub struct JobRoleContext {
    pub role_name: String,
    /// `sub` claims allowed, as StringLike patterns.
    pub subjects: Vec<String>,
    /// The managed policies attached, each labelled by its name.
    pub attachments: Vec<Labelled>,
    pub projects: Vec<String>,
    pub refs: Vec<String>,
    pub ref_protected: bool,
}

/// A job role's policy attachments, labelled `{pool}_jobs_{policy name}` (`_2`... on a repeat).
fn attachments(pool: &str, arns: &[String]) -> Vec<Labelled> {
    let mut out: Vec<Labelled> = arns
        .iter()
        .map(|arn| {
            let name = arn.rsplit('/').next().unwrap_or(arn);
            Labelled { label: format!("{pool}_jobs_{}", label_text(name)), value: arn.clone() }
        })
        .collect();
    number_repeats(out.iter_mut().map(|a| &mut a.label));
    out
}

/// The `sub` claims of GitLab's ID tokens a job role admits:
/// `project_path:{group}/{project}:ref_type:{type}:ref:{branch_name}` (GitLab docs, "OpenID
/// Connect (OIDC) Authentication Using ID Tokens", token payload), one pattern per project and ref.
/// StringLike's `*` is the spec's own wildcard (a project's trailing `/*`, any characters in a
/// ref) and the schema lets no `?` through. Neither a project path nor a Git ref holds a `:`
/// (git-check-ref-format(1)), so a `*` cannot match across the `:ref_type:` and `:ref:` fields.
pub fn job_role_subjects(job: &model::JobRole) -> Vec<String> {
    let refs: Vec<&str> = if job.refs.is_empty() { vec!["*"] } else { job.refs.iter().map(String::as_str).collect() };
    job.projects
        .iter()
        .flat_map(|project| refs.iter().map(move |r| format!("project_path:{project}:ref_type:*:ref:{r}")))
        .collect()
}

/// One pool's resources: what every topology has, and the topology's own context, which its
/// templates read as the pool's own fields.
#[derive(Debug, Serialize)]
pub struct PoolContext {
    /// Pool name as written in the spec.
    pub name: String,
    /// Terraform label of every resource of the pool (the pool name, which the schema keeps to
    /// `[a-z0-9-]`).
    pub label: String,
    /// `{fleet}-{pool}`: the name, or the prefix of the names, of the pool's AWS resources.
    pub id: String,
    /// The group of runner instances. For an instance pool also the busy metric's dimension value.
    pub group_name: String,
    pub role_name: String,
    /// The fragments of iam.tf and outputs.tf for the pool's topology.
    pub iam_template: &'static str,
    pub outputs_template: &'static str,
    /// Name of the runner group's terminating lifecycle hook.
    pub hook_name: String,
    /// How long deleting the runner group may take: every instance drains first.
    pub delete_timeout_minutes: u32,
    pub token_parameter: String,
    /// `gp3` or `gp2`.
    pub volume_type: String,
    /// Path of the pool's user data script, relative to the module.
    pub user_data_file: String,
    /// Tags on the runner group (propagated at launch) and on its launch template's instances,
    /// volumes and network interfaces.
    pub tags: Vec<Tag>,
    /// Whether schedules.tf has scheduled actions of this pool (its `schedule`).
    pub scheduled_actions: bool,
    /// The pool's runner in GitLab, when runnergen's Terraform creates it.
    pub runner: Option<RunnerContext>,
    /// The pool's prefix in the cache bucket, when its runner uses the cache.
    pub cache_path: Option<String>,
    /// The pool's CloudWatch log group, when the journals are shipped.
    pub log_group: Option<String>,
    /// The log group of the runner's metrics (embedded metric format), when they are shipped.
    pub runner_metrics_log_group: Option<String>,
    /// What the pool's user data writes and starts.
    pub boot: Boot,
    /// The spot group's fallback to on-demand capacity, when the pool has one.
    pub fallback: Option<Fallback>,
    /// The ECR repositories its runner pulls job and service images from with its role: the
    /// spec's `registries.ecr`, for a pool whose jobs run in Docker.
    pub ecr_repositories: Vec<String>,
    /// The pool's own egress rules (`pools[].egress`), labelled apart from the fleet's.
    pub egress: Vec<EgressRule>,
    /// The security group of those rules, for a pool whose instances are in the fleet's
    /// security group of runners (which every such pool shares).
    pub egress_security_group: Option<SecurityGroup>,
    /// The jobs' own role, assumed with GitLab's ID tokens, when the pool has one.
    pub job_role: Option<JobRoleContext>,
    /// What the topology adds.
    #[serde(flatten)]
    pub own: TerraformContext,
}

/// What a pool's user data writes on each instance, then starts.
#[derive(Debug, Serialize)]
pub struct Boot {
    /// The settings file ([`settings::PATH`]): its text, where it goes and its folder.
    pub settings: String,
    pub settings_path: &'static str,
    pub settings_dir: &'static str,
    /// The runner's `[[runners]]` template, when it needs one, and where it goes.
    pub runner_template: Option<String>,
    pub runner_template_path: &'static str,
    /// The runner's live settings, for a topology that has them.
    pub live_settings: Option<String>,
    /// The CloudWatch agent's configuration, when the journals or the runner's metrics are
    /// shipped, and where it goes.
    pub cloudwatch_agent_config: Option<String>,
    pub cloudwatch_agent_config_path: &'static str,
    /// The agent's Prometheus scrape of the runner, with the runner's metrics, and where it goes.
    pub prometheus_config: Option<String>,
    pub prometheus_config_path: &'static str,
    /// The drop-in that gives the runner unit the pool's stop timeout, and its folder.
    pub dropin_path: &'static str,
    pub dropin_dir: &'static str,
    pub stop_timeout_seconds: u32,
    /// The baked units started once the settings file exists.
    pub units: &'static [&'static str],
}

/// A group's mixed instances policy: spot at the best price and capacity, or on-demand in the
/// order the types are written.
#[derive(Debug, Serialize)]
pub struct Mixed {
    pub spot: bool,
    /// Instance types in spec order, one override each.
    pub instance_types: Vec<String>,
}

/// A spot group's fallback to on-demand capacity: the alarms that see it short of spot capacity,
/// the rule that starts the Automation document which switches it to on-demand and back, the
/// role that may change this group alone, and the log of the events that drove it.
#[derive(Debug, Serialize)]
pub struct Fallback {
    /// Terraform label of the group (`aws_autoscaling_group.<group_label>`), and the prefix of the
    /// fallback's own labels.
    pub group_label: String,
    pub label: String,
    /// The group's name, which every alarm, rule, document step and permission names.
    pub group_name: String,
    /// The pool's name as written, for descriptions.
    pub pool: String,
    /// `{fleet}-{pool}-spot-fallback`: the composite alarm, the rule, the document and the role.
    pub name: String,
    /// The alarm on the group's missing instances, and the alarm on spot launch failures.
    pub short_alarm: String,
    pub failures_alarm: String,
    /// The rule that logs the group's spot launch failures, and the rule that logs the
    /// document's runs.
    pub failures_rule: String,
    pub switches_rule: String,
    /// Minutes the group may stay short of spot capacity before on-demand fills in, and the same
    /// in words (`5 minutes`).
    pub after_minutes: u32,
    pub after_text: String,
    /// Minutes on on-demand before the group tries spot again.
    pub retry_minutes: u32,
    /// The EventBridge log group of the failures and the switches.
    pub log_group: String,
    /// The pool's CloudWatch namespace, the launch-failure metric and the switch metric.
    pub namespace: String,
    pub failures_metric: &'static str,
    pub switch_metric: &'static str,
    /// The group attribute the fallback owns ([`FALLBACK_OWNS`]).
    pub owns: &'static str,
}

/// What the fallback to on-demand switches on a spot group, which Terraform must leave to it.
pub const FALLBACK_OWNS: &str =
    "mixed_instances_policy[0].instances_distribution[0].on_demand_percentage_above_base_capacity";

/// Minutes a group stays on on-demand before it tries spot again.
pub const SPOT_RETRY_MINUTES: u32 = 30;
/// The metric of a pool's launches that failed for lack of spot capacity, and of its switches.
pub const SPOT_FAILURES_METRIC: &str = "SpotCapacityLaunchFailures";
pub const SPOT_SWITCH_METRIC: &str = "SpotFallbackSwitches";

impl Fallback {
    /// The fallback of the group `group_label` named `group_name`, after `after_minutes` short.
    pub fn new(fleet: &Fleet, pool: &Pool, group_label: String, group_name: String, after_minutes: u32) -> Self {
        let name = spot_fallback_name(pool);
        Fallback {
            label: format!("{group_label}_spot_fallback"),
            group_label,
            group_name,
            pool: pool.name.clone(),
            short_alarm: format!("{}-spot-short", pool.id),
            failures_alarm: format!("{}-spot-launch-failed", pool.id),
            failures_rule: format!("{}-spot-short", pool.id),
            switches_rule: format!("{}-spot-switches", pool.id),
            after_minutes,
            after_text: if after_minutes == 1 { "1 minute".to_owned() } else { format!("{after_minutes} minutes") },
            retry_minutes: SPOT_RETRY_MINUTES,
            log_group: format!("/aws/events/runnergen/{}/spot-fallback", pool.id),
            namespace: fleet.metric_namespace(pool),
            failures_metric: SPOT_FAILURES_METRIC,
            switch_metric: SPOT_SWITCH_METRIC,
            owns: FALLBACK_OWNS,
            name,
        }
    }
}

/// The name of a pool's fallback rule, document and role (AWS allows 64 characters for the rule
/// and the role).
pub fn spot_fallback_name(pool: &Pool) -> String {
    format!("{}-spot-fallback", pool.id)
}

/// Deleting a group may take the drain of its instances and this long on top (launch template
/// versions, terminating instances).
const DELETE_MARGIN_MINUTES: u32 = 15;

impl Context {
    /// `image_hash`: the hash of the Packer target's files, which Packer tags the AMI with.
    pub fn new(fleet: &Fleet, image_hash: &str, env: &Environment) -> Result<Self, Error> {
        let mut default_tags = fleet.tags.clone();
        default_tags.insert(model::TAG_FLEET.to_owned(), fleet.name.clone());
        let egress = egress_rules(fleet);
        let endpoints = fleet.vpc_endpoints.then(|| vpc_endpoints(fleet));
        let missing = |what: &str| {
            format!(
                "No {what} of fleet {} has {} = {image_hash}, the image this render defines. Bake it first: \
                 cd ../packer && packer init . && packer build .",
                fleet.name,
                model::AMI_TAG_IMAGE
            )
        };
        Ok(Context {
            fleet: fleet.name.clone(),
            region: fleet.region.clone(),
            vpc_id: fleet.vpc_id.clone(),
            subnet_ids: fleet.subnet_ids.clone(),
            default_tags: tags(&default_tags),
            ami: Ami {
                image_tag: model::AMI_TAG_IMAGE,
                image: image_hash.to_owned(),
                missing_message: missing(if fleet.has_workers() { "runner AMI" } else { "AMI" }),
                fleet_tag: model::TAG_FLEET,
                fleet: fleet.name.clone(),
                arch: fleet.image.arch.name().clone(),
                role_tag: fleet.has_workers().then_some(model::AMI_TAG_ROLE),
                missing_worker_message: missing("worker AMI"),
            },
            instance_pools: fleet.pools.iter().any(|p| p.topology.kind().in_runners_security_group()),
            security_group: SecurityGroup {
                name: format!("{}-runners", fleet.name),
                description: format!(
                    "GitLab runners of fleet {}: no ingress; egress to {} only",
                    fleet.name,
                    egress_words(fleet, true, false)
                ),
            },
            egress_labels: egress.iter().map(|r| r.label.clone()).collect(),
            manager_egress: if fleet.egress.is_some() {
                egress.clone()
            } else {
                egress.iter().filter(|r| r.from_port != 80).cloned().collect()
            },
            egress,
            iam: IamContext {
                permissions_boundary: fleet.iam.permissions_boundary.clone(),
                path: fleet.iam.path.clone(),
            },
            endpoint_addresses: endpoints.as_ref().map_or_else(Vec::new, VpcEndpoints::addresses),
            vpc_endpoints: endpoints,
            jobs: fleet.pools.iter().any(|p| p.job_role.is_some()).then(|| Jobs {
                issuer: fleet.gitlab_url.clone(),
                key_prefix: fleet.gitlab_url.trim_start_matches("https://").to_owned(),
                existing_provider_arn: fleet.iam.oidc_provider_arn.clone(),
            }),
            ebs_kms_key_arn: fleet.ebs_kms_key_arn.clone(),
            hook_heartbeat_timeout_seconds: model::HOOK_HEARTBEAT_TIMEOUT_SECONDS,
            max_instance_lifetime_seconds: model::MAX_INSTANCE_LIFETIME_SECONDS,
            heartbeat_interval_seconds: model::HEARTBEAT_INTERVAL_SECONDS,
            pools: fleet.pools.iter().map(|p| pool_context(fleet, p, env)).collect::<Result<_, _>>()?,
            cache: fleet.cache.as_ref().map(|c| CacheContext {
                bucket: c.bucket.clone(),
                created: c.created,
                expiration_days: c.expiration_days,
                shared: c.shared,
            }),
            log_retention_days: fleet.logs.map(|l| l.retention_days),
            monitoring: fleet.monitoring.as_ref().map(|m| MonitoringContext::new(fleet, m)),
            runners: (fleet.runners == model::RunnerMode::Terraform).then(|| Runners {
                provider_version: GITLAB_PROVIDER_VERSION,
                base_url: format!("{}/api/v4/", fleet.gitlab_url),
            }),
        })
    }
}

/// A tag map as the templates print it: sorted by key.
pub fn tags(map: &BTreeMap<String, String>) -> Vec<Tag> {
    map.iter().map(|(key, value)| Tag { key: key.clone(), value: value.clone() }).collect()
}

/// The tags of what a pool creates: the spec's, its `Name`, its fleet and its pool.
pub fn pool_tags(fleet: &Fleet, pool: &Pool, name: String) -> BTreeMap<String, String> {
    let mut map = fleet.tags.clone();
    map.insert("Name".to_owned(), name);
    map.insert(model::TAG_FLEET.to_owned(), fleet.name.clone());
    map.insert(model::TAG_POOL.to_owned(), pool.name.clone());
    map
}

/// What a security group's egress rules open, in words, for its description: the default
/// HTTPS (and, with `http`, HTTP) or the spec's `aws.egress` rules, then with `pool_rules` the
/// pool's own, and GitLab's port, which is always open.
pub fn egress_words(fleet: &Fleet, http: bool, pool_rules: bool) -> String {
    let mut parts = match (&fleet.egress, http) {
        (Some(_), _) => vec!["the spec egress rules"],
        (None, true) => vec!["HTTPS", "HTTP"],
        (None, false) => vec!["HTTPS"],
    };
    if pool_rules {
        parts.push("the pool egress rules");
    }
    format!("{} (and GitLab)", parts.join(", "))
}

/// Every instance's egress. By default HTTPS and HTTP to anywhere ([`default_egress`]). With
/// `aws.egress`, the rules written instead, and GitLab's port to anywhere: a security group takes
/// no host name, and GitLab's addresses are not runnergen's to know. With the VPC endpoints, also
/// HTTPS to the interface endpoints' security group and to S3's prefix list (the gateway
/// endpoint's route), which no written rule need then cover.
fn egress_rules(fleet: &Fleet) -> Vec<EgressRule> {
    let mut rules = match &fleet.egress {
        None => default_egress(&fleet.gitlab_url),
        Some(written) => {
            let mut rules: Vec<EgressRule> = written.iter().map(|r| EgressRule::written("to_", r)).collect();
            let port = explicit_port(&fleet.gitlab_url).unwrap_or(443);
            let description = format!("GitLab on port {port}, anywhere: security groups take no host names");
            rules.push(EgressRule::anywhere(format!("gitlab_{port}_ipv4"), description.clone(), port, false));
            rules.push(EgressRule::anywhere(format!("gitlab_{port}_ipv6"), description, port, true));
            rules
        }
    };
    if fleet.vpc_endpoints {
        rules.push(EgressRule::reference(
            "vpc_endpoints",
            "HTTPS to the interface endpoints of the VPC",
            443,
            "referenced_security_group_id",
            "aws_security_group.vpc_endpoints.id".to_owned(),
        ));
        rules.push(EgressRule::reference(
            "s3_gateway",
            "HTTPS to S3 through the gateway endpoint",
            443,
            "prefix_list_id",
            "aws_vpc_endpoint.s3.prefix_list_id".to_owned(),
        ));
    }
    unique_labels(rules)
}

/// The endpoints of [`Fleet::vpc_endpoints`], and the fleet's security groups they admit.
fn vpc_endpoints(fleet: &Fleet) -> VpcEndpoints {
    let (gateway, interface): (Vec<_>, Vec<_>) = fleet.vpc_endpoints().into_iter().partition(|e| e.gateway);
    let endpoint = |e: model::VpcEndpoint| EndpointContext {
        label: label_text(e.service),
        service_name: format!("com.amazonaws.{}.{}", fleet.region, e.service),
        name: format!("{}-{}", fleet.name, e.service.replace('.', "-")),
        why: e.why,
    };
    let mut sources = Vec::new();
    if fleet.pools.iter().any(|p| p.topology.kind().in_runners_security_group()) {
        sources.push(EndpointSource {
            label: "vpc_endpoints_from_runners".to_owned(),
            security_group: "runners".to_owned(),
            description: "HTTPS from the runners of the instance pools".to_owned(),
        });
    }
    for pool in &fleet.pools {
        for (group, what) in pool.topology.kind().own_security_groups(pool) {
            sources.push(EndpointSource {
                label: format!("vpc_endpoints_from_{group}"),
                description: format!("HTTPS from {what}"),
                security_group: group,
            });
        }
    }
    VpcEndpoints {
        security_group: SecurityGroup {
            name: format!("{}-vpc-endpoints", fleet.name),
            description: format!("VPC interface endpoints of fleet {}: HTTPS from its instances only", fleet.name),
        },
        interface: interface.into_iter().map(endpoint).collect(),
        gateway: gateway.into_iter().map(endpoint).collect(),
        sources,
        subnets: subnet_labels(&fleet.subnet_ids),
        build_subnet: fleet.image.build_subnet_id.clone(),
    }
}

/// HTTPS to anywhere: GitLab, the AWS APIs (SSM, CloudWatch, Auto Scaling, Session Manager) and
/// container registries; HTTP for the OS package mirrors that jobs' images use by default
/// (Debian's and Ubuntu's apt sources are plain HTTP, their packages signed). GitLab on another
/// port gets a rule of its own.
fn default_egress(gitlab_url: &str) -> Vec<EgressRule> {
    let [https, http] = model::DEFAULT_EGRESS_PORTS;
    let mut ports = vec![
        (https, "HTTPS: GitLab, AWS APIs, container registries".to_owned()),
        (http, "HTTP: OS package mirrors of job images (signed packages)".to_owned()),
    ];
    if let Some(port) = explicit_port(gitlab_url)
        && !ports.iter().any(|(p, _)| *p == port)
    {
        ports.push((port, format!("GitLab on port {port}")));
    }
    let mut rules = Vec::new();
    for (port, description) in ports {
        let name = match port {
            443 => "https".to_owned(),
            80 => "http".to_owned(),
            _ => format!("gitlab_{port}"),
        };
        rules.push(EgressRule::anywhere(format!("{name}_ipv4"), description.clone(), port, false));
        rules.push(EgressRule::anywhere(format!("{name}_ipv6"), description, port, true));
    }
    rules
}

/// The port written in an `https://host:port/...` URL, if it is not https's own.
fn explicit_port(url: &str) -> Option<u16> {
    url::Url::parse(url).ok()?.port()
}

fn pool_context(fleet: &Fleet, pool: &Pool, env: &Environment) -> Result<PoolContext, Error> {
    if pool.name.is_empty() || !pool.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("pool name `{}` cannot label Terraform resources", pool.name),
        ));
    }
    let kind = pool.topology.kind();
    let templates = kind.templates();
    Ok(PoolContext {
        name: pool.name.clone(),
        label: pool.name.clone(),
        id: pool.id.clone(),
        group_name: pool.runner_group(),
        role_name: pool.role_name(),
        iam_template: templates.iam,
        outputs_template: templates.outputs,
        hook_name: pool.lifecycle_hook_name(),
        delete_timeout_minutes: pool.drain_timeout_seconds().div_ceil(60) + DELETE_MARGIN_MINUTES,
        token_parameter: pool.token_parameter.clone(),
        volume_type: fleet.image.volume_type.name().clone(),
        user_data_file: format!("user-data/{}.sh", pool.name),
        tags: tags(&pool_tags(fleet, pool, pool.runner_group())),
        scheduled_actions: kind.scheduled_actions(),
        // Only runnergen's Terraform creates runners; otherwise `runner` is what the operator sets.
        runner: pool.runner.as_ref().filter(|_| fleet.runners == model::RunnerMode::Terraform).and_then(|r| {
            Some(RunnerContext {
                runner_type: format!("{}_type", spelling(r.scope?)),
                group_id: r.group_id,
                project_id: r.project_id,
                description: r.description.clone(),
                tags: r.tags.clone(),
                untagged: r.run_untagged,
                locked: r.locked,
                access_level: if r.protected { "ref_protected" } else { "not_protected" },
                maximum_timeout: r.maximum_timeout,
                paused: r.paused,
            })
        }),
        cache_path: fleet.cache_path(pool),
        log_group: fleet.logs.map(|_| fleet.log_group(pool)),
        runner_metrics_log_group: fleet.runner_metrics().then(|| fleet.runner_metrics_log_group(pool)),
        boot: Boot {
            settings: settings::render(&settings::for_pool(fleet, pool)),
            settings_path: settings::PATH,
            settings_dir: parent_dir(settings::PATH),
            runner_template: runner_template::render_with(env, fleet, pool)?,
            runner_template_path: kind.runner_template_path(),
            live_settings: runner_template::live_with(env, fleet, pool)?,
            cloudwatch_agent_config: (fleet.logs.is_some() || fleet.runner_metrics())
                .then(|| cloudwatch_agent_config(fleet, pool)),
            cloudwatch_agent_config_path: settings::CLOUDWATCH_AGENT_CONFIG,
            prometheus_config: fleet.runner_metrics().then(|| super::monitoring::prometheus_config(pool)),
            prometheus_config_path: settings::PROMETHEUS_CONFIG,
            dropin_path: settings::STOP_TIMEOUT_DROPIN,
            dropin_dir: parent_dir(settings::STOP_TIMEOUT_DROPIN),
            stop_timeout_seconds: pool.drain_timeout_seconds(),
            units: kind.start_units(),
        },
        fallback: kind.spot_fallback(fleet, pool),
        ecr_repositories: if pool.pulls_docker_images() { fleet.registries.ecr.clone() } else { Vec::new() },
        egress: unique_labels(pool.egress.iter().map(|r| EgressRule::written("pool_to_", r)).collect()),
        egress_security_group: (kind.in_runners_security_group() && !pool.egress.is_empty()).then(|| SecurityGroup {
            name: format!("{}-egress", pool.id),
            description: format!(
                "Runners of pool {} in fleet {}: the pool egress rules, besides the fleet security group",
                pool.name, fleet.name
            ),
        }),
        job_role: pool.job_role.as_ref().map(|j| JobRoleContext {
            role_name: pool.job_role_name(),
            subjects: job_role_subjects(j),
            attachments: attachments(&pool.name, &j.policy_arns),
            projects: j.projects.clone(),
            refs: j.refs.clone(),
            ref_protected: j.ref_protected,
        }),
        own: kind.terraform(fleet, pool),
    })
}

/// How a group picks its instance type: a mixed instances policy for spot or for several types,
/// else the launch template's one type.
pub fn instance_choice(spot: bool, instance_types: &[String]) -> (Option<Mixed>, Option<String>) {
    let mixed = (spot || instance_types.len() > 1).then(|| Mixed { spot, instance_types: instance_types.to_vec() });
    let single = if mixed.is_some() { None } else { instance_types.first().cloned() };
    (mixed, single)
}

/// Renders `terraform/`: the fleet's files, schedules.tf when a pool has scheduled actions, and
/// each pool's files by its topology.
pub fn render(fleet: &Fleet, image_hash: &str, env: &Environment) -> Result<Vec<(String, File)>, Error> {
    let ctx = Context::new(fleet, image_hash, env)?;
    let value = to_value(&ctx);
    let mut files = Vec::new();
    for output in FLEET_OUTPUTS {
        files.push(output.render(env, value.clone(), "")?);
    }
    if ctx.pools.iter().any(|p| p.scheduled_actions) {
        files.push(SCHEDULES.render(env, value.clone(), "")?);
    }
    if ctx.runners.is_some() {
        files.push(GITLAB.render(env, value.clone(), "")?);
    }
    if ctx.cache.as_ref().is_some_and(|c| c.created) {
        files.push(CACHE.render(env, value.clone(), "")?);
    }
    if ctx.log_retention_days.is_some() {
        files.push(LOGS.render(env, value.clone(), "")?);
    }
    if ctx.monitoring.is_some() {
        files.push(MONITORING.render(env, value.clone(), "")?);
    }
    if ctx.vpc_endpoints.is_some() {
        files.push(VPC_ENDPOINTS.render(env, value.clone(), "")?);
    }
    if ctx.jobs.is_some() {
        files.push(JOB_ROLES.render(env, value.clone(), "")?);
    }
    if let Some(dashboard) = ctx.monitoring.as_ref().and_then(|m| m.dashboard.as_ref()) {
        files.push((dashboard.file.to_owned(), File { contents: dashboard.body.clone(), executable: false }));
    }
    for (pool, pool_ctx) in fleet.pools.iter().zip(&ctx.pools) {
        let pool_value = to_value(&PoolFiles { fleet: &ctx, p: pool_ctx });
        for output in pool.topology.kind().templates().files {
            files.push(output.render(env, pool_value.clone(), &pool.name)?);
        }
    }
    Ok(files)
}

/// What a pool's own files are rendered with: the fleet's context, and the pool as `p`.
#[derive(Serialize)]
struct PoolFiles<'a> {
    #[serde(flatten)]
    fleet: &'a Context,
    p: &'a PoolContext,
}

/// The CloudWatch agent's configuration on a pool's instances: the whole journal, into the pool's
/// log group, a stream per instance (aws/amazon-cloudwatch-agent translator/config/schema.json,
/// `logs.logs_collected.journald`). The region is explicit; the group exists (logs.tf), so the
/// agent needs no right to create it. User data hands it to the agent with
/// `amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:...`, which validates it,
/// installs it and (re)starts the agent's unit (packaging/dependencies/amazon-cloudwatch-agent-ctl;
/// "Start the CloudWatch agent using the command line", Amazon CloudWatch user guide).
pub fn cloudwatch_agent_config(fleet: &Fleet, pool: &Pool) -> String {
    let mut logs = serde_json::Map::new();
    if fleet.logs.is_some() {
        logs.insert(
            "logs_collected".into(),
            serde_json::json!({"journald": {"collect_list": [
                {"log_group_name": fleet.log_group(pool), "log_stream_name": "{instance_id}"}
            ]}}),
        );
    }
    if fleet.runner_metrics() {
        logs.insert("metrics_collected".into(), super::monitoring::agent_prometheus(fleet, pool));
    }
    let config = serde_json::json!({"agent": {"region": fleet.region}, "logs": logs});
    let mut text = serde_json::to_string(&config).unwrap_or_default();
    text.push('\n');
    text
}

fn parent_dir(path: &'static str) -> &'static str {
    path.rsplit_once('/').map_or("/", |(dir, _)| dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subnet_label_starts_with_a_letter_and_is_given_once() {
        let ids = ["subnet-0a1b", "23:59", "", "subnet-0a1b", "subnet_0a1b"].map(String::from);
        let labels: Vec<String> = subnet_labels(&ids).into_iter().map(|s| s.label).collect();
        assert_eq!(labels, ["subnet_0a1b", "subnet_23_59", "subnet_", "subnet_0a1b_2", "subnet_0a1b_3"]);
    }

    #[test]
    fn written_rules_are_labelled_by_destination_and_ports_once_each() {
        let rule = |cidr: Option<&str>, prefix_list: Option<&str>, from, to, description: &str| model::EgressRule {
            cidr: cidr.map(str::to_owned),
            prefix_list: prefix_list.map(str::to_owned),
            from_port: from,
            to_port: to,
            description: description.to_owned(),
        };
        let rules = unique_labels(vec![
            EgressRule::written("to_", &rule(Some("10.0.0.0/8"), None, 22, 22, "a")),
            EgressRule::written("to_", &rule(None, Some("pl-0123456789abcdef0"), 8000, 8100, "b")),
            EgressRule::written("to_", &rule(Some("10.0.0.0/8"), None, 22, 22, "a again")),
        ]);
        let labels: Vec<&str> = rules.iter().map(|r| r.label.as_str()).collect();
        assert_eq!(labels, ["to_10_0_0_0_8_tcp_22", "to_pl_0123456789abcdef0_tcp_8000_8100", "to_10_0_0_0_8_tcp_22_2"]);
        assert_eq!((rules[1].to, rules[1].literal.as_deref()), ("prefix_list_id", Some("pl-0123456789abcdef0")));
        assert_eq!((rules[0].to, rules[0].literal.as_deref()), ("cidr_ipv4", Some("10.0.0.0/8")));
    }

    #[test]
    fn policy_attachments_are_labelled_by_policy_name_once_each() {
        let arns = [
            "arn:aws:iam::123456789012:policy/team/Deployer".to_owned(),
            "arn:aws:iam::210987654321:policy/Deployer".to_owned(),
            "arn:aws:iam::aws:policy/ReadOnlyAccess".to_owned(),
        ];
        let labels: Vec<String> = attachments("deploy", &arns).into_iter().map(|a| a.label).collect();
        assert_eq!(labels, ["deploy_jobs_deployer", "deploy_jobs_deployer_2", "deploy_jobs_readonlyaccess"]);
    }

    #[test]
    fn explicit_ports() {
        assert_eq!(explicit_port("https://gitlab.example.com"), None);
        assert_eq!(explicit_port("https://gitlab.example.com:8443/group"), Some(8443));
        assert_eq!(explicit_port("https://[::1]:444"), Some(444));
        assert_eq!(explicit_port("https://[::1]"), None);
    }
}
