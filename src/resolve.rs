//! Stage 3: resolve a shaped spec into the fleet model, applying every default once and
//! computing what AWS will receive (canonical time zones, normalised tags). Pure: no I/O and no
//! errors; the rules of stage 4 then check the model.

use crate::load::attachments::Attachments;
use crate::model::{self, Fleet, VolumeType};
use crate::spec::{self, Executor, PullPolicy};
use crate::topology::Defaults;

/// Defaults, each safe and cheap. The schema's `default`s are these constants.
pub const DEFAULT_VOLUME_GB: u32 = 30;
pub const DEFAULT_VOLUME_TYPE: VolumeType = VolumeType::Gp3;
pub const DEFAULT_RUNNER_MODE: model::RunnerMode = model::RunnerMode::External;
pub const DEFAULT_PULL_POLICY: PullPolicy = PullPolicy::Always;
/// A project runner is locked to its project.
pub const DEFAULT_RUNNER_LOCKED: bool = true;
/// An autoscaler's worker runs one job at a time,
pub const DEFAULT_CAPACITY_PER_INSTANCE: u32 = 1;
/// and one job in all: every job gets a fresh worker.
pub const DEFAULT_MAX_USE_COUNT: u32 = 1;
pub const DEFAULT_CONCURRENT: u32 = 1;
pub const DEFAULT_JOB_TIMEOUT_MINUTES: u32 = 60;
pub const DEFAULT_BUSY_PERCENT: u32 = 70;
pub const DEFAULT_DOCKER_IMAGE: &str = "alpine:3.20";
pub const DEFAULT_TIME_ZONE: &str = "UTC";
/// Days cached objects live in a bucket runnergen creates, and days CloudWatch keeps the logs.
pub const DEFAULT_CACHE_EXPIRATION_DAYS: u32 = 14;
pub const DEFAULT_LOG_RETENTION_DAYS: u32 = 30;
/// Minutes a pool may sit at its maximum size before its alarm fires.
pub const DEFAULT_AT_CEILING_MINUTES: u32 = 30;
/// How long an unused worker stays, 10 minutes.
pub const DEFAULT_IDLE_SECONDS: u32 = 600;
/// AWS CLI 2.36.7: tagged in aws/aws-cli on 2026-07-23.
pub const DEFAULT_AWS_CLI_VERSION: &str = "2.36.7";

pub fn resolve(spec: spec::Spec, attachments: Attachments, spec_file: &str) -> Fleet {
    let defaults = Defaults { arch: spec.image.arch, volume_gb: spec.image.volume_gb.unwrap_or(DEFAULT_VOLUME_GB) };
    let image = model::Image {
        build_instance_type: spec
            .image
            .build_instance_type
            .unwrap_or_else(|| defaults.small("t3.medium", "t4g.medium")),
        os: spec.image.os,
        arch: spec.image.arch,
        runner_version: spec.image.runner_version,
        aws_cli_version: spec.image.aws_cli_version.unwrap_or_else(|| DEFAULT_AWS_CLI_VERSION.to_owned()),
        fleeting_plugin_version: spec.image.fleeting_plugin_version,
        fleeting_plugin_sha256: spec.image.fleeting_plugin_sha256,
        volume_gb: defaults.volume_gb,
        volume_type: spec.image.volume_type.unwrap_or(DEFAULT_VOLUME_TYPE),
        build_subnet_id: spec.image.build_subnet_id,
        build_instance_profile: spec.image.build_instance_profile,
        provision_script: attachments.provision_script,
    };
    let pools = spec
        .pools
        .into_iter()
        .map(|mut pool| {
            let topology = pool.topology.unwrap_or_default().resolve(&mut pool, &defaults);
            let job_timeout_minutes = pool.job_timeout_minutes.unwrap_or(DEFAULT_JOB_TIMEOUT_MINUTES);
            let runner = pool.runner.map(|r| {
                let tags = r.tags.unwrap_or_default();
                let terraform_keys = [
                    ("scope", r.scope.is_some()),
                    ("group_id", r.group_id.is_some()),
                    ("project_id", r.project_id.is_some()),
                    ("description", r.description.is_some()),
                    ("locked", r.locked.is_some()),
                    ("maximum_timeout", r.maximum_timeout.is_some()),
                    ("paused", r.paused.is_some()),
                ]
                .into_iter()
                .filter_map(|(key, written)| written.then_some(key))
                .collect();
                model::Runner {
                    scope: r.scope,
                    terraform_keys,
                    group_id: r.group_id,
                    project_id: r.project_id,
                    description: r.description.unwrap_or_else(|| format!("{} {}", spec.name, pool.name)),
                    run_untagged: r.run_untagged.unwrap_or(tags.is_empty()),
                    tags,
                    locked: r.locked.unwrap_or(DEFAULT_RUNNER_LOCKED),
                    protected: r.protected.unwrap_or(false),
                    maximum_timeout: r.maximum_timeout.unwrap_or(job_timeout_minutes * 60),
                    paused: r.paused.unwrap_or(false),
                }
            });
            model::Pool {
                id: format!("{}-{}", spec.name, pool.name),
                runner,
                docker: (pool.executor == Executor::Docker).then(|| {
                    let docker = pool.docker.unwrap_or(spec::Docker {
                        image: None,
                        privileged: None,
                        allowed_privileged_images: None,
                        allowed_privileged_services: None,
                        pull_policy: None,
                        volumes: None,
                    });
                    model::Docker {
                        image: docker.image.unwrap_or_else(|| DEFAULT_DOCKER_IMAGE.to_owned()),
                        privileged: docker.privileged.unwrap_or(false),
                        allowed_privileged_images: docker.allowed_privileged_images.unwrap_or_default(),
                        allowed_privileged_services: docker.allowed_privileged_services.unwrap_or_default(),
                        pull_policy: docker.pull_policy.unwrap_or(DEFAULT_PULL_POLICY),
                        volumes: docker.volumes.unwrap_or_default(),
                    }
                }),
                name: pool.name,
                executor: pool.executor,
                token_parameter: pool.token_parameter,
                job_timeout_minutes,
                topology,
                egress: pool.egress.iter().flatten().map(egress_rule).collect(),
                job_role: pool.job_role.map(|j| model::JobRole {
                    policy_arns: j.policy_arns,
                    projects: j.projects,
                    refs: j.refs.unwrap_or_default(),
                    ref_protected: j.ref_protected.unwrap_or(false),
                }),
            }
        })
        .collect();
    let cache = spec.cache.map(|c| {
        let created = c.bucket == "create";
        model::Cache {
            bucket: if created {
                created_bucket_name(&spec.name, &spec.aws.region, &spec.aws.vpc_id)
            } else {
                c.bucket
            },
            created,
            expiration_days: if created {
                Some(c.expiration_days.unwrap_or(DEFAULT_CACHE_EXPIRATION_DAYS))
            } else {
                c.expiration_days
            },
            shared: c.shared.unwrap_or(false),
        }
    });
    Fleet {
        spec_file: spec_file.to_owned(),
        region: spec.aws.region,
        vpc_id: spec.aws.vpc_id,
        subnet_ids: spec.aws.subnet_ids,
        // HCL reads strings in NFC: the model holds what AWS will receive.
        tags: spec.aws.tags.iter().flatten().map(|(k, v)| (nfc(k), nfc(v))).collect(),
        tags_written: spec.aws.tags.unwrap_or_default().into_iter().collect(),
        ebs_kms_key_arn: spec.aws.ebs_kms_key_arn,
        gitlab_url: spec.gitlab.url.trim_end_matches('/').to_owned(),
        runners: spec.gitlab.runners.unwrap_or(DEFAULT_RUNNER_MODE),
        cache,
        logs: spec.logs.map(|l| model::Logs { retention_days: l.retention_days.unwrap_or(DEFAULT_LOG_RETENTION_DAYS) }),
        monitoring: spec.monitoring.map(|m| model::Monitoring {
            dashboard: m.dashboard.unwrap_or(true),
            alarms: m.alarms.map(|a| model::Alarms {
                sns_topic_arn: a.sns_topic_arn,
                email: a.email,
                at_ceiling_minutes: a.at_ceiling_minutes.unwrap_or(DEFAULT_AT_CEILING_MINUTES),
                queue_seconds_p90: a.queue_seconds_p90,
            }),
            runner_metrics: m.runner_metrics.unwrap_or(false),
        }),
        iam: spec.aws.iam.map_or_else(model::Iam::default, |i| model::Iam {
            permissions_boundary: i.permissions_boundary,
            path: i.path.filter(|p| p != "/"),
            oidc_provider_arn: i.oidc_provider_arn,
        }),
        proxy: spec.aws.proxy.map(|p| model::Proxy { url: p.url, no_proxy: p.no_proxy.unwrap_or_default() }),
        egress: spec.aws.egress.map(|rules| rules.iter().map(egress_rule).collect()),
        vpc_endpoints: spec.aws.vpc_endpoints.is_some(),
        gitlab_ca: attachments.gitlab_ca,
        registries: spec.registries.map_or_else(model::Registries::default, |r| model::Registries {
            mirror: r.mirror.map(|m| m.trim_end_matches('/').to_owned()),
            ecr: r.ecr.unwrap_or_default(),
        }),
        image,
        pools,
        name: spec.name,
    }
}

/// An egress rule with its ports as numbers (a rule checks them; a malformed range resolves to
/// 0-0, which that rule refuses) and a description: the one written, or the destination and
/// ports.
fn egress_rule(rule: &spec::EgressRule) -> model::EgressRule {
    let (from, to) = rule.ports.split_once('-').unwrap_or((&rule.ports, &rule.ports));
    let port = |p: &str| p.parse::<u16>().unwrap_or(0);
    let destination = rule.cidr.as_deref().or(rule.prefix_list.as_deref()).unwrap_or_default();
    model::EgressRule {
        cidr: rule.cidr.clone(),
        prefix_list: rule.prefix_list.clone(),
        from_port: port(from),
        to_port: port(to),
        description: rule.description.clone().unwrap_or_else(|| format!("TCP {} to {destination}", rule.ports)),
    }
}

/// A schedule with its time zone for AWS and each window's own setting.
pub fn schedule<T>(written: &spec::Schedule, setting: impl Fn(&spec::Window) -> T) -> model::Schedule<T> {
    model::Schedule {
        time_zone: aws_time_zone(written.time_zone.as_deref().unwrap_or(DEFAULT_TIME_ZONE)).to_owned(),
        windows: written
            .windows
            .iter()
            .map(|w| model::Window { days: w.days.0.clone(), from: w.from, to: w.to, setting: setting(w) })
            .collect(),
    }
}

/// The name of the cache bucket runnergen creates: the fleet's name and a suffix from the fleet,
/// its region and its VPC, so that it is the same on every render and differs between fleets.
fn created_bucket_name(fleet: &str, region: &str, vpc: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{fleet}/{region}/{vpc}").as_bytes());
    let suffix: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{fleet}-cache-{suffix}")
}

/// The time zone name for AWS, which takes canonical IANA names (`Etc/GMT+9`, `Pacific/Tahiti`):
/// the spec's default `UTC` is a backward-compatibility link there, `Etc/UTC` the zone itself.
fn aws_time_zone(name: &str) -> &str {
    if name == "UTC" { "Etc/UTC" } else { name }
}

/// A string in Unicode normalisation form C, as HCL (and so Terraform and Packer) reads it.
pub fn nfc(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    text.nfc().collect()
}
