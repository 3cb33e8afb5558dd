//! The rules over the fleet as a whole: its GitLab, AWS account, image, tags, cache and logs.

use std::collections::HashMap;

use super::aws_names::{check_bucket_name, check_gitlab_url, check_instance_type, check_tag};
use super::{MIN_RUNNER, Rules, limits, root};
use crate::diagnostic::{Finding, Mark, SpecPath};
use crate::model::{Fleet, Partition, Pool};

/// `gitlab.url` is the https base URL of a GitLab instance.
pub(super) fn gitlab_url(rules: &mut Rules, fleet: &Fleet) {
    let url = root().key("gitlab").key("url");
    rules.rule(&[&url], |out| {
        if let Err(why) = check_gitlab_url(&fleet.gitlab_url) {
            out.push(
                Finding::new(url.clone(), format!("`gitlab.url` is not a usable GitLab URL: {why}"), "here")
                    .help("expected the https base URL of the GitLab instance, such as https://gitlab.example.com"),
            );
        }
    });
}

/// `aws.region` is in a partition runnergen can bake in.
pub(super) fn region_partition(rules: &mut Rules, fleet: &Fleet) {
    let region = root().key("aws").key("region");
    rules.rule(&[&region], |out| {
        if Partition::of_region(&fleet.region).is_none() {
            out.push(
                Finding::new(
                    region.clone(),
                    format!("`{}` is in an isolated AWS partition", fleet.region),
                    "not supported",
                )
                .help(
                    "runnergen bakes from GitLab's and AWS's public download sites, which the aws-iso \
                     partitions cannot reach; expected a region of the aws, aws-us-gov or aws-cn partition",
                ),
            );
        }
    });
}

/// `aws.ebs_kms_key_arn` is a key of the fleet's region and partition.
pub(super) fn kms_key_region(rules: &mut Rules, fleet: &Fleet) {
    let region = root().key("aws").key("region");
    let key = root().key("aws").key("ebs_kms_key_arn");
    rules.rule(&[&region, &key], |out| {
        if let Some(arn) = &fleet.ebs_kms_key_arn {
            let fields: Vec<&str> = arn.split(':').collect();
            let partition = fleet.partition().name();
            if fields.get(1) != Some(&partition) || fields.get(3) != Some(&fleet.region.as_str()) {
                out.push(
                    Finding::new(key.clone(), "the key is not in the fleet's region", "another region or partition")
                        .help(format!(
                            "EBS encrypts with a key of the volume's own region: expected \
                             arn:{partition}:kms:{}:ACCOUNT:key/KEY-ID",
                            fleet.region
                        )),
                );
            }
        }
    });
}

/// `image.runner_version` is new enough for instances that share a token.
pub(super) fn runner_version(rules: &mut Rules, fleet: &Fleet) {
    let runner = root().key("image").key("runner_version");
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
                .help(
                    "expected gitlab-runner 17.0.0 or later, such as 19.3.0: FF_DISABLE_AUTOMATIC_TOKEN_ROTATION \
                     arrived in 17.0",
                ),
            );
        }
    });
}

/// `image.build_instance_type` is an instance type of the image's architecture.
pub(super) fn build_instance_type(rules: &mut Rules, fleet: &Fleet) {
    let arch = root().key("image").key("arch");
    let build = root().key("image").key("build_instance_type");
    rules.rule(&[&build, &arch], |out| {
        check_instance_type(&fleet.image.build_instance_type, fleet.image.arch, &build, out);
    });
}

/// The AMI name, the fleet's name and the runner version with a timestamp, fits AWS's limit.
pub(super) fn ami_name_length(rules: &mut Rules, fleet: &Fleet) {
    let name = root().key("name");
    let runner = root().key("image").key("runner_version");
    rules.rule(&[&name, &runner], |out| {
        let length = fleet.ami_name_prefix().len() + 1 + limits::AMI_TIMESTAMP;
        if length > limits::AMI_NAME {
            out.push(
                Finding::new(runner.clone(), format!("the AMI name would be {length} characters"), "too long")
                    .help(format!("AWS allows {} characters in an AMI name", limits::AMI_NAME)),
            );
        }
    });
}

/// Every tag of `aws.tags` is one AWS accepts, and no two are one key once normalised.
pub(super) fn tags(rules: &mut Rules, fleet: &Fleet) {
    let tags = root().key("aws").key("tags");
    rules.rule(&[&tags], |out| check_tags(fleet, &tags, out));
}

/// Each tag of `aws.tags` is one AWS accepts, and no two keys are one once normalised.
fn check_tags(fleet: &Fleet, at: &SpecPath, out: &mut Vec<Finding>) {
    // HCL reads every string in NFC, so keys that differ only in their normalisation would be one
    // key to Terraform and Packer (a duplicate they refuse) and to AWS.
    let mut normalised: HashMap<String, &str> = HashMap::new();
    for (key, value) in &fleet.tags_written {
        // AWS receives (and checks) the normalised text.
        if let Err(why) = check_tag(&crate::resolve::nfc(key), &crate::resolve::nfc(value)) {
            out.push(
                Finding::new(at.key(key), format!("tag `{key}` is not accepted: {why}"), "this tag")
                    .mark(Mark::Key)
                    .help(
                        "tag keys: 1 to 128 characters, values: up to 256; letters, numbers and spaces of any script \
                         (not combining marks, which IAM refuses) and _ . : / = + - @; keys must not start with \
                         `aws:` (AWS's) or `runnergen:` (runnergen's), and `Name` is set by runnergen",
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
                .help(
                    "the two keys differ only in how their characters are composed (Unicode NFC); AWS, Terraform \
                     and Packer see one key: keep one of them",
                ),
            );
        }
    }
}

/// Text with every character outside ASCII spelled as its code point, to tell look-alikes apart.
fn code_points(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii() { c.to_string() } else { format!("\\u{{{:04X}}}", c as u32) }).collect()
}

/// The retention periods CloudWatch Logs accepts, in days (PutRetentionPolicy, retentionInDays).
pub const LOG_RETENTION_DAYS: [u32; 22] =
    [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

/// `cache.bucket`, or the name runnergen gives the bucket it creates, is a valid S3 bucket name.
pub(super) fn cache_bucket_name(rules: &mut Rules, fleet: &Fleet) {
    let Some(cache) = &fleet.cache else { return };
    let bucket = root().key("cache").key("bucket");
    let name = root().key("name");
    rules.rule(&[&bucket, &name], |out| {
        if let Err(why) = check_bucket_name(&cache.bucket) {
            let (at, message) = if cache.created {
                (
                    name.clone(),
                    format!("the cache bucket's name `{}` would not be a valid S3 bucket name: {why}", cache.bucket),
                )
            } else {
                (bucket.clone(), format!("`{}` is not a valid S3 bucket name: {why}", cache.bucket))
            };
            out.push(Finding::new(at, message, "here").help(
                "S3 bucket names are 3 to 63 lowercase letters, digits, dots and hyphens, start and end with a \
                 letter or digit, have no two dots in a row, are not an IP address and do not start with xn-- or \
                 sthree-",
            ));
        }
    });
}

/// `cache.expiration_days` goes with a bucket runnergen creates.
pub(super) fn cache_expiration(rules: &mut Rules, fleet: &Fleet) {
    let Some(cache) = &fleet.cache else { return };
    let bucket = root().key("cache").key("bucket");
    let expiration = root().key("cache").key("expiration_days");
    rules.rule(&[&bucket, &expiration], |out| {
        if !cache.created && cache.expiration_days.is_some() {
            out.push(
                Finding::new(expiration.clone(), "`expiration_days` is for a bucket runnergen creates", "not used")
                    .mark(Mark::Key)
                    .related(bucket.clone(), Mark::Value, "an existing bucket")
                    .help(
                        "an existing bucket keeps its own lifecycle rules: set the expiry there, or write \
                         `bucket: create`",
                    ),
            );
        }
    });
}

/// `logs.retention_days` is a retention CloudWatch Logs accepts.
pub(super) fn log_retention(rules: &mut Rules, fleet: &Fleet) {
    let Some(logs) = &fleet.logs else { return };
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

/// A cache that no pool of the fleet uses.
pub(super) fn unused_cache(fleet: &Fleet, out: &mut Vec<Finding>) {
    if fleet.cache.is_some() && !fleet.pools.iter().any(Pool::uses_cache) {
        out.push(
            Finding::new(root().key("cache"), "no pool of this fleet uses the cache", "unused").mark(Mark::Key).help(
                "the distributed cache serves docker pools and autoscaler pools; an instance pool of shell \
                 jobs keeps its cache on the instance: remove `cache:` or add such a pool",
            ),
        );
    }
}

/// `monitoring.alarms` names one place to send them: an SNS topic of the fleet's region, or an
/// address for a topic runnergen creates. CloudWatch alarm actions notify topics of the alarm's
/// own region only.
pub(super) fn alarm_destination(rules: &mut Rules, fleet: &Fleet) {
    let Some(alarms) = fleet.monitoring.as_ref().and_then(|m| m.alarms.as_ref()) else { return };
    let at = root().key("monitoring").key("alarms");
    let arn = at.key("sns_topic_arn");
    let email = at.key("email");
    let region = root().key("aws").key("region");
    rules.rule(&[&at, &region], |out| match (&alarms.sns_topic_arn, &alarms.email) {
        (Some(_), Some(_)) => out.push(
            Finding::new(email.clone(), "set one of `sns_topic_arn` and `email`, not both", "one too many")
                .mark(Mark::Key)
                .related(arn.clone(), Mark::Key, "already a destination")
                .help("with `sns_topic_arn` the alarms notify that topic; with `email` runnergen creates a topic"),
        ),
        (None, None) => out.push(
            Finding::new(at.clone(), "the alarms have nowhere to go", "no destination").mark(Mark::Key).help(
                "add `sns_topic_arn: arn:aws:sns:REGION:ACCOUNT:TOPIC` (an existing topic) or `email: ADDRESS` \
                 (runnergen creates a topic and subscribes it)",
            ),
        ),
        (Some(topic), None) => {
            let topic_region = topic.split(':').nth(3).unwrap_or_default();
            if topic_region != fleet.region {
                out.push(
                    Finding::new(
                        arn.clone(),
                        format!("the topic is in {topic_region}, the fleet in {}", fleet.region),
                        "another region",
                    )
                    .related(region.clone(), Mark::Value, "the alarms' region")
                    .help("CloudWatch alarms notify SNS topics of their own region only: use a topic in the fleet's region"),
                );
            }
        }
        (None, Some(_)) => {}
    });
}

/// The queue-time alarm reads a count the runner exports: it needs `runner_metrics`.
pub(super) fn queue_alarm_needs_runner_metrics(rules: &mut Rules, fleet: &Fleet) {
    let Some(monitoring) = &fleet.monitoring else { return };
    let at = root().key("monitoring").key("alarms").key("queue_seconds_p90");
    let metrics = root().key("monitoring").key("runner_metrics");
    rules.rule(&[&at, &metrics], |out| {
        if fleet.queue_seconds().is_some() && !monitoring.runner_metrics {
            out.push(
                Finding::new(
                    at.clone(),
                    "the queue-time alarm needs the runner's own metrics",
                    "without runner_metrics",
                )
                .mark(Mark::Key)
                .help(
                    "the runner counts the jobs that waited longer than this, and the CloudWatch agent ships \
                         that count: add `runner_metrics: true` under `monitoring`",
                ),
            );
        }
    });
}

/// Alarms on registrations and drains read the journals: without `logs` they do not exist.
pub(super) fn alarms_without_logs(fleet: &Fleet, out: &mut Vec<Finding>) {
    if fleet.logs.is_none() && fleet.monitoring.as_ref().is_some_and(|m| m.alarms.is_some()) {
        out.push(
            Finding::new(
                root().key("monitoring").key("alarms"),
                "failed registrations and drains that reach their bound are not watched",
                "without logs",
            )
            .mark(Mark::Key)
            .help(
                "those alarms count the helpers' messages in the pools' log groups: add `logs:` to ship the \
                     journals to CloudWatch Logs",
            ),
        );
    }
}
