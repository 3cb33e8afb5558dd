//! Terraform target: a flat root module under `terraform/`, one Auto Scaling group per pool
//! with its launch template, IAM role, terminating lifecycle hook, demand scaling and scheduled
//! actions. Reads only the resolved [`Fleet`] and builds one [`Context`] from it; the templates
//! see that context, never the spec.
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

use minijinja::{Environment, Error, ErrorKind, Value, context};
use serde::Serialize;

use super::{File, canonical_hcl};
use crate::model::{self, Capacity, Fleet, Pool, Scaling};
use crate::settings;

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
    /// How the AMI data source finds the newest image Packer baked for this fleet.
    pub ami: Ami,
    /// The fleet's one security group.
    pub security_group: SecurityGroup,
    /// Its egress rules, one resource each; there is no ingress.
    pub egress: Vec<EgressRule>,
    /// Customer-managed KMS key of the instances' volumes, when the spec names one.
    pub ebs_kms_key_arn: Option<String>,
    /// Heartbeat timeout of every drain hook: fixed, since a change would replace the group.
    pub hook_heartbeat_timeout_seconds: u32,
    /// How often a draining instance records a heartbeat.
    pub heartbeat_interval_seconds: u32,
    /// Terraform labels of the egress rules, which every group depends on.
    pub egress_labels: Vec<String>,
    /// Every pool, in spec order.
    pub pools: Vec<PoolContext>,
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
    /// Tag key naming the fleet ([`model::AMI_TAG_FLEET`]) and its value.
    pub fleet_tag: &'static str,
    pub fleet: String,
    /// The AMI's `architecture` (`x86_64` or `arm64`).
    pub arch: String,
}

#[derive(Debug, Serialize)]
pub struct SecurityGroup {
    pub name: String,
    pub description: String,
}

#[derive(Debug, Serialize)]
pub struct EgressRule {
    /// Terraform resource label.
    pub label: String,
    pub description: String,
    pub port: u16,
    /// `::/0` when true, `0.0.0.0/0` otherwise.
    pub ipv6: bool,
}

/// One pool's resources.
#[derive(Debug, Serialize)]
pub struct PoolContext {
    /// Pool name as written in the spec.
    pub name: String,
    /// Terraform label of every resource of the pool (the pool name, which the schema keeps to
    /// `[a-z0-9-]`, checked again here).
    pub label: String,
    /// `{fleet}-{pool}`: the launch template and instance profile name.
    pub id: String,
    /// The Auto Scaling group's name (also the busy metric's dimension value).
    pub group_name: String,
    pub role_name: String,
    /// Name of the terminating lifecycle hook.
    pub hook_name: String,
    /// How long deleting the group may take: every instance drains first.
    pub delete_timeout_minutes: u32,
    /// CloudWatch namespace of the pool's busy-slot metric.
    pub metric_namespace: String,
    pub token_parameter: String,
    /// Instance types in spec order, the first preferred for on-demand capacity.
    pub instance_types: Vec<String>,
    pub spot: bool,
    /// Whether the group needs a mixed instances policy (spot, or several types).
    pub mixed: bool,
    /// The launch template's own instance type: set only when there is no mixed policy.
    pub launch_template_instance_type: Option<String>,
    /// Base capacity: the group's sizes at creation and what each window's end restores.
    pub capacity: Capacity,
    /// Group attributes that schedules or scaling own, which Terraform must never reset.
    pub ignore_changes: Vec<&'static str>,
    /// Why, as a one-line comment.
    pub ignore_reason: &'static str,
    pub volume_gb: u32,
    /// `gp3` or `gp2`.
    pub volume_type: String,
    /// Path of the pool's user data script, relative to the module.
    pub user_data_file: String,
    /// One-minute instance metrics, for CPU scaling.
    pub detailed_monitoring: bool,
    pub scaling: ScalingContext,
    /// Tags on the launch template's instances, volumes and network interfaces.
    pub tags: Vec<Tag>,
    pub schedule: Option<ScheduleContext>,
}

#[derive(Debug, Serialize)]
pub struct ScalingContext {
    /// True: the busy-slot metric; false: average CPU.
    pub busy: bool,
    /// Target value, in percent.
    pub target: u32,
    /// The busy metric's name and dimension name.
    pub metric: &'static str,
    pub dimension: &'static str,
}

#[derive(Debug, Serialize)]
pub struct ScheduleContext {
    /// IANA time zone of every action.
    pub time_zone: String,
    pub actions: Vec<ActionContext>,
}

#[derive(Debug, Serialize)]
pub struct ActionContext {
    /// Terraform label, such as `builds_window_1_start`.
    pub label: String,
    /// Scheduled action name, such as `nightly-builds-window-1-start`.
    pub name: String,
    /// 5-field cron expression, in the schedule's time zone.
    pub recurrence: String,
    pub capacity: Capacity,
    /// A one-line comment describing the action.
    pub comment: String,
}

/// Deleting a group may take the drain of its instances and this long on top (launch template
/// versions, terminating instances).
const DELETE_MARGIN_MINUTES: u32 = 15;

/// Extra tags runnergen puts on what it creates. They win over spec tags of the same key.
const FLEET_TAG: &str = "runnergen:fleet";
const POOL_TAG: &str = "runnergen:pool";

impl Context {
    /// `image_hash`: the hash of the Packer target's files, which Packer tags the AMI with.
    pub fn new(fleet: &Fleet, image_hash: &str) -> Result<Self, Error> {
        let mut default_tags = fleet.tags.clone();
        default_tags.insert(FLEET_TAG.to_owned(), fleet.name.clone());
        let egress = egress_rules(&fleet.gitlab_url);
        Ok(Context {
            fleet: fleet.name.clone(),
            region: fleet.region.clone(),
            vpc_id: fleet.vpc_id.clone(),
            subnet_ids: fleet.subnet_ids.clone(),
            default_tags: tags(default_tags),
            ami: Ami {
                image_tag: model::AMI_TAG_IMAGE,
                image: image_hash.to_owned(),
                missing_message: format!(
                    "No AMI of fleet {} has {} = {image_hash}, the image this render defines. Bake it first: \
                     cd ../packer && packer init . && packer build .",
                    fleet.name,
                    model::AMI_TAG_IMAGE
                ),
                fleet_tag: model::AMI_TAG_FLEET,
                fleet: fleet.name.clone(),
                arch: model::Arch::name(fleet.image.arch).to_owned(),
            },
            security_group: SecurityGroup {
                name: format!("{}-runners", fleet.name),
                description: format!(
                    "GitLab runners of fleet {}: no ingress; egress to HTTPS, HTTP (and GitLab) only",
                    fleet.name
                ),
            },
            egress_labels: egress.iter().map(|r| r.label.clone()).collect(),
            egress,
            ebs_kms_key_arn: fleet.ebs_kms_key_arn.clone(),
            hook_heartbeat_timeout_seconds: model::HOOK_HEARTBEAT_TIMEOUT_SECONDS,
            heartbeat_interval_seconds: model::HEARTBEAT_INTERVAL_SECONDS,
            pools: fleet.pools.iter().map(|p| pool_context(fleet, p)).collect::<Result<_, _>>()?,
        })
    }
}

/// A tag map as the templates print it: sorted by key.
fn tags(map: BTreeMap<String, String>) -> Vec<Tag> {
    map.into_iter().map(|(key, value)| Tag { key, value }).collect()
}

/// HTTPS to anywhere: GitLab, the AWS APIs (SSM, CloudWatch, Auto Scaling, Session Manager) and
/// container registries; HTTP for the OS package mirrors that jobs' images use by default
/// (Debian's and Ubuntu's apt sources are plain HTTP, their packages signed). GitLab on another
/// port gets a rule of its own.
fn egress_rules(gitlab_url: &str) -> Vec<EgressRule> {
    let mut ports = vec![
        (443u16, "HTTPS: GitLab, AWS APIs, container registries".to_owned()),
        (80, "HTTP: OS package mirrors of job images (signed packages)".to_owned()),
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
        rules.push(EgressRule { label: format!("{name}_ipv4"), description: description.clone(), port, ipv6: false });
        rules.push(EgressRule { label: format!("{name}_ipv6"), description, port, ipv6: true });
    }
    rules
}

/// The port written in an `https://host:port/...` URL, if it is not https's own.
fn explicit_port(url: &str) -> Option<u16> {
    url::Url::parse(url).ok()?.port()
}

fn pool_context(fleet: &Fleet, pool: &Pool) -> Result<PoolContext, Error> {
    if pool.name.is_empty() || !pool.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("pool name `{}` cannot label Terraform resources", pool.name),
        ));
    }
    let label = pool.name.clone();
    let mut tag_map = fleet.tags.clone();
    tag_map.insert("Name".to_owned(), pool.id.clone());
    tag_map.insert(FLEET_TAG.to_owned(), fleet.name.clone());
    tag_map.insert(POOL_TAG.to_owned(), pool.name.clone());
    let mixed = pool.spot || pool.instance_types.len() > 1;
    let (ignore_changes, ignore_reason) = if pool.schedule.is_some() {
        (
            vec!["min_size", "max_size", "desired_capacity"],
            "Scheduled actions own the sizes and scaling the desired capacity: apply never resets them.",
        )
    } else {
        (vec!["desired_capacity"], "Demand scaling owns the desired capacity: apply never resets it.")
    };
    let schedule = pool.schedule.as_ref().map(|s| schedule_context(pool, s));
    Ok(PoolContext {
        name: pool.name.clone(),
        id: pool.id.clone(),
        group_name: pool.id.clone(),
        role_name: pool.role_name(),
        hook_name: pool.lifecycle_hook_name(),
        delete_timeout_minutes: pool.drain_timeout_seconds().div_ceil(60) + DELETE_MARGIN_MINUTES,
        metric_namespace: fleet.metric_namespace(pool),
        token_parameter: pool.token_parameter.clone(),
        instance_types: pool.instance_types.clone(),
        spot: pool.spot,
        mixed,
        launch_template_instance_type: if mixed { None } else { pool.instance_types.first().cloned() },
        capacity: pool.capacity,
        ignore_changes,
        ignore_reason,
        volume_gb: pool.volume_gb,
        volume_type: fleet.image.volume_type.name().to_owned(),
        user_data_file: format!("user-data/{}.sh", pool.name),
        detailed_monitoring: matches!(pool.scaling, Scaling::CpuPercent(_)),
        scaling: match pool.scaling {
            Scaling::BusyPercent(target) => ScalingContext {
                busy: true,
                target,
                metric: model::BUSY_METRIC,
                dimension: model::BUSY_METRIC_DIMENSION,
            },
            Scaling::CpuPercent(target) => ScalingContext {
                busy: false,
                target,
                metric: model::BUSY_METRIC,
                dimension: model::BUSY_METRIC_DIMENSION,
            },
        },
        tags: tags(tag_map),
        schedule,
        label,
    })
}

fn schedule_context(pool: &Pool, schedule: &model::Schedule) -> ScheduleContext {
    let actions = schedule
        .actions(pool.capacity)
        .into_iter()
        .map(|a| {
            let window = &schedule.windows[a.window];
            let what = if a.starts { "start" } else { "end" };
            let days: Vec<&str> = a.days.iter().map(|d| d.name()).collect();
            let comment = format!(
                "Window {} ({} {:02}:{:02} to {:02}:{:02}) {}: {} at {:02}:{:02}, min {} max {} desired {}{}.",
                a.window + 1,
                window.days.iter().map(|d| d.name()).collect::<Vec<_>>().join(","),
                window.from.hour(),
                window.from.minute(),
                window.to.hour(),
                window.to.minute(),
                if a.starts { "starts" } else { "ends" },
                days.join(","),
                a.at.hour(),
                a.at.minute(),
                a.capacity.min,
                a.capacity.max,
                a.capacity.desired,
                if a.starts { "" } else { " (base capacity)" },
            );
            ActionContext {
                label: format!("{}_window_{}_{}", pool.name, a.window + 1, what),
                name: format!("{}-window-{}-{}", pool.id, a.window + 1, what),
                recurrence: a.recurrence(),
                capacity: a.capacity,
                comment,
            }
        })
        .collect();
    ScheduleContext { time_zone: aws_time_zone(&schedule.time_zone).to_owned(), actions }
}

/// The time zone name for AWS, which takes canonical IANA names (`Etc/GMT+9`, `Pacific/Tahiti`):
/// the spec's default `UTC` is a backward-compatibility link there, `Etc/UTC` the zone itself.
fn aws_time_zone(name: &str) -> &str {
    if name == "UTC" { "Etc/UTC" } else { name }
}

/// Renders `terraform/`: versions.tf, main.tf, iam.tf, one pool-NAME.tf a pool, schedules.tf
/// (when a pool has a schedule), outputs.tf, and each pool's user data script.
pub fn render(fleet: &Fleet, image_hash: &str, env: &Environment) -> Result<Vec<(String, File)>, Error> {
    let mut env = env.clone();
    // The text of an HCL quoted string without its quotes, for values inside a string template
    // such as "arn:${local.partition}:ssm:REGION:...": the same escapes as the `hcl` filter.
    env.add_filter("hcl_in_string", |s: &str| {
        let quoted = super::hcl_string(s);
        quoted[1..quoted.len() - 1].to_owned()
    });
    let ctx = Context::new(fleet, image_hash)?;
    let mut files = Vec::new();
    let hcl = |path: String, text: String| (path, File { contents: canonical_hcl(&text), executable: false });

    for name in ["versions", "main", "iam"] {
        let text = env.get_template(&format!("terraform/{name}.tf.j2"))?.render(to_value(&ctx))?;
        files.push(hcl(format!("terraform/{name}.tf"), text));
    }
    for p in &ctx.pools {
        let text = env.get_template("terraform/pool.tf.j2")?.render(context! {
            fleet => &ctx.fleet,
            subnet_ids => &ctx.subnet_ids,
            ebs_kms_key_arn => &ctx.ebs_kms_key_arn,
            hook_heartbeat_timeout_seconds => ctx.hook_heartbeat_timeout_seconds,
            heartbeat_interval_seconds => ctx.heartbeat_interval_seconds,
            egress_labels => &ctx.egress_labels,
            p => to_value(p),
        })?;
        files.push(hcl(format!("terraform/pool-{}.tf", p.name), text));
    }
    if ctx.pools.iter().any(|p| p.schedule.is_some()) {
        let text = env.get_template("terraform/schedules.tf.j2")?.render(to_value(&ctx))?;
        files.push(hcl("terraform/schedules.tf".to_owned(), text));
    }
    let text = env.get_template("terraform/outputs.tf.j2")?.render(to_value(&ctx))?;
    files.push(hcl("terraform/outputs.tf".to_owned(), text));

    for (pool, p) in fleet.pools.iter().zip(&ctx.pools) {
        let script = env.get_template("terraform/user-data.sh.j2")?.render(context! {
            pool => &pool.name,
            settings_dir => settings_dir(),
            settings_path => settings::PATH,
            settings => settings::render(&settings::for_pool(fleet, pool)),
            units => to_value(settings::START_UNITS),
            dropin_dir => parent_dir(settings::STOP_TIMEOUT_DROPIN),
            dropin_path => settings::STOP_TIMEOUT_DROPIN,
            stop_timeout_seconds => pool.drain_timeout_seconds(),
        })?;
        files.push((format!("terraform/{}", p.user_data_file), File { contents: script, executable: false }));
    }
    Ok(files)
}

/// A serializable value as a template value.
fn to_value<T: Serialize + ?Sized>(value: &T) -> Value {
    Value::from(minijinja::value::Serde(value))
}

fn settings_dir() -> &'static str {
    parent_dir(settings::PATH)
}

fn parent_dir(path: &'static str) -> &'static str {
    path.rsplit_once('/').map_or("/", |(dir, _)| dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_ports() {
        assert_eq!(explicit_port("https://gitlab.example.com"), None);
        assert_eq!(explicit_port("https://gitlab.example.com:8443/group"), Some(8443));
        assert_eq!(explicit_port("https://[::1]:444"), Some(444));
        assert_eq!(explicit_port("https://[::1]"), None);
    }
}
