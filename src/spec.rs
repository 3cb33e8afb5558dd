//! What the user wrote: the fleet spec, version 1. The types are the one description of its
//! shape: serde reads the spec into them, and `schemas/fleet.schema.json` is the JSON Schema
//! derived from them (`json_schema`), with every description, limit, example and default.
//! Optional keys stay `Option` here; `resolve` applies every default once, and the schema's
//! `default`s are `resolve`'s constants.
// The doc comments of the spec's keys are the schema's descriptions, which editors and
// diagnostics show as plain text: URLs and `<fleet>`-style placeholders stay as written.
#![allow(rustdoc::bare_urls, rustdoc::invalid_html_tags)]

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::resolve::{
    DEFAULT_AT_CEILING_MINUTES, DEFAULT_AWS_CLI_VERSION, DEFAULT_BUSY_PERCENT, DEFAULT_CACHE_EXPIRATION_DAYS,
    DEFAULT_CAPACITY_PER_INSTANCE, DEFAULT_CONCURRENT, DEFAULT_DOCKER_IMAGE, DEFAULT_IDLE_SECONDS,
    DEFAULT_JOB_TIMEOUT_MINUTES, DEFAULT_LOG_RETENTION_DAYS, DEFAULT_MAX_USE_COUNT, DEFAULT_PULL_POLICY,
    DEFAULT_RUNNER_LOCKED, DEFAULT_RUNNER_MODE, DEFAULT_TIME_ZONE, DEFAULT_VOLUME_GB, DEFAULT_VOLUME_TYPE,
};

/// An enum of the spec, whose values have the spelling the spec writes (their serde names; a
/// test holds the two together).
pub trait Spelled: Copy {
    /// The value as the spec writes it.
    fn as_str(self) -> &'static str;
}

/// How the spec spells a value of one of its enums, as an owned string.
pub fn spelling<T: Spelled>(value: T) -> String {
    value.as_str().to_owned()
}

/// Gives an enum of the spec `as_str`, its values as the spec writes them, and [`Spelled`].
macro_rules! spelled {
    ($enum:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $enum {
            /// The value as the spec writes it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }
        impl Spelled for $enum {
            fn as_str(self) -> &'static str {
                $enum::as_str(self)
            }
        }
    };
}

spelled!(RunnerMode { External => "external", Terraform => "terraform" });
spelled!(Scope { Instance => "instance", Group => "group", Project => "project" });
spelled!(Os { Ubuntu2204 => "ubuntu-22.04", Ubuntu2404 => "ubuntu-24.04", AmazonLinux2023 => "amazon-linux-2023" });
spelled!(Arch { X86_64 => "x86_64", Arm64 => "arm64" });
spelled!(VolumeType { Gp3 => "gp3", Gp2 => "gp2" });
spelled!(Executor { Docker => "docker", Shell => "shell" });
spelled!(PullPolicy { Always => "always", IfNotPresent => "if-not-present", Never => "never" });

/// The spec's JSON Schema as `schemas/fleet.schema.json` holds it: pretty JSON with a final line
/// break. Draft-07, which editors support best, with the definitions under `$defs` and a
/// reference's own description beside it (an annotation draft-07 leaves alone, and the help
/// that `shape` shows for the key).
pub fn json_schema() -> String {
    let generator = schemars::generate::SchemaSettings::draft07()
        .with(|settings| {
            settings.definitions_path = "/$defs".into();
            settings.transforms.retain(|t| !t.is::<schemars::transform::RemoveRefSiblings>());
        })
        .with_transform(schemars::transform::RecursiveTransform(tidy))
        .into_generator();
    let schema = generator.into_root_schema_for::<Spec>();
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// A pool's keys by its topology, as each topology's [`crate::topology::Keys`] says: for editors,
/// which keys a topology needs and which it rules out, and the one key its windows set. (Shaping
/// reports and removes these itself before the schema validates, with its own help.)
fn topology_requirements(schema: &mut Schema) {
    use strum::IntoEnumIterator;
    let Some(map) = schema.as_object_mut() else { return };
    let branches: Vec<Value> = crate::topology::Name::iter()
        .map(|name| {
            let keys = name.keys();
            let this =
                serde_json::json!({"properties": {"topology": {"const": name.as_str()}}, "required": ["topology"]});
            let when = if name == crate::topology::Name::default() {
                serde_json::json!({"anyOf": [{"not": {"required": ["topology"]}}, this]})
            } else {
                this
            };
            let ruled_out: serde_json::Map<String, Value> =
                keys.rules_out.iter().map(|(key, _)| ((*key).to_owned(), Value::Bool(false))).collect();
            let window = serde_json::json!({
                "required": [keys.window_key],
                "properties": {keys.window_rules_out: false},
            });
            let mut then = serde_json::json!({
                "required": keys.needs.iter().map(|(key, _)| *key).collect::<Vec<_>>(),
                "properties": ruled_out,
            });
            then["properties"]["schedule"] = serde_json::json!({"properties": {"windows": {"items": window}}});
            serde_json::json!({"if": when, "then": then})
        })
        .collect();
    map.insert("allOf".to_owned(), Value::Array(branches));
}

/// Puts a derived subschema in the plain form the spec's schema uses throughout:
/// - no `null`: an optional key is left out, never written empty, so an `Option` adds nothing;
/// - an enum is its list of values (`enum`), without `type` or per-value subschemas;
/// - no `format` (the ranges say what an integer may be);
/// - a description is one line: doc comment lines are joined with spaces.
fn tidy(schema: &mut Schema) {
    let Some(map) = schema.as_object_mut() else { return };
    let is_null = |s: &Value| s.get("type").and_then(Value::as_str) == Some("null");
    // `Option<T>` of a subschema that is a reference or a combination: `anyOf: [T, null]`.
    for key in ["anyOf", "oneOf"] {
        let Some(Value::Array(branches)) = map.get_mut(key) else { continue };
        if !branches.iter().any(is_null) {
            continue;
        }
        branches.retain(|b| !is_null(b));
        if let [Value::Object(only)] = branches.as_slice() {
            let only = only.clone();
            map.remove(key);
            for (k, v) in only {
                map.entry(k).or_insert(v);
            }
        }
    }
    if let Some(Value::Array(types)) = map.get_mut("type") {
        types.retain(|t| t.as_str() != Some("null"));
        if let [only] = types.as_slice() {
            let only = only.clone();
            map.insert("type".into(), only);
        }
    }
    // An enum whose values carry doc comments: `oneOf: [{const, description}, ...]`.
    let consts: Option<Vec<Value>> = map
        .get("oneOf")
        .and_then(Value::as_array)
        .and_then(|branches| branches.iter().map(|b| b.get("const").cloned()).collect());
    if let Some(values) = consts {
        map.remove("oneOf");
        map.insert("enum".into(), Value::Array(values));
    }
    if let Some(Value::Array(values)) = map.get_mut("enum") {
        values.retain(|v| !v.is_null());
        map.remove("type");
    }
    map.remove("format");
    if let Some(Value::String(description)) = map.get_mut("description") {
        *description = description.replace('\n', " ");
    }
}

/// An EC2 instance type such as m7g.large.
const INSTANCE_TYPE: &str = r"^[a-z][a-z0-9-]*\.[a-z0-9]+$";
/// An SNS topic's ARN.
const SNS_TOPIC_ARN: &str = r"^arn:aws(-cn|-us-gov)?:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$";
/// An email address, as far as a schema can tell.
const EMAIL: &str = r"^[^@\s]+@[^@\s]+\.[^@\s]+$";
/// An ECR repository's ARN, whose name may end in `*`.
const ECR_REPOSITORY_ARN: &str =
    r"^arn:aws(-cn|-us-gov)?:ecr:[a-z0-9-]+:[0-9]{12}:repository/(\*|[a-z0-9][a-z0-9._/-]*\*?)$";
/// An IAM managed policy's ARN (AWS managed or customer managed).
const POLICY_ARN: &str = r"^arn:aws(-cn|-us-gov)?:iam::([0-9]{12}|aws):policy/[A-Za-z0-9+=,.@_/-]+$";
/// A fleet's or a pool's name.
const NAME: &str = "^[a-z]([a-z0-9-]*[a-z0-9])?$";

/// `version` is 1 and nothing else.
fn version_one(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "const": 1 })
}

/// One self-scaling GitLab Runner fleet on AWS: the AMI that Packer bakes for it and one Auto Scaling group per pool.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    title = "runnergen fleet spec, version 1",
    extend("$id" = "https://runnergen.dev/schemas/fleet.schema.json")
)]
pub struct Spec {
    /// Version of this spec format. Only 1 exists.
    #[schemars(schema_with = "version_one")]
    pub version: u32,
    /// Fleet name: lowercase letters, digits and dashes, starting with a letter. Prefixes every AWS resource and the
    /// AMI name.
    #[schemars(regex(pattern = NAME), length(min = 1, max = 32), extend("examples" = ["acme-ci"]))]
    pub name: String,
    /// Where the fleet runs.
    pub aws: Aws,
    /// The GitLab instance the runners take jobs from.
    pub gitlab: Gitlab,
    /// The one AMI that Packer bakes for every pool.
    pub image: Image,
    /// Groups of identical runner instances, one Auto Scaling group each.
    #[schemars(length(min = 1, max = 500))]
    pub pools: Vec<Pool>,
    /// GitLab Runner's distributed cache in S3, for the docker pools and the autoscaler pools: jobs' caches survive the
    /// instances that made them.
    pub cache: Option<Cache>,
    /// Ship each instance's runner, helper and system journal to CloudWatch Logs, one log group per pool.
    pub logs: Option<Logs>,
    /// See the fleet in CloudWatch: the groups' own metrics, a dashboard with a row per pool, and alarms that page for
    /// real problems only (never for pools that a schedule scales to zero).
    pub monitoring: Option<Monitoring>,
    /// Where docker hosts and workers pull images from: a Docker Hub mirror, and Amazon ECR repositories pulled with
    /// the instance role through the ECR credential helper.
    pub registries: Option<Registries>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(inline)]
pub struct Registries {
    /// A Docker Hub mirror (a pull-through registry such as a Harbor proxy cache) that every docker host and worker
    /// asks first: Docker's registry-mirrors setting.
    #[schemars(regex(pattern = "^https?://[^/@\\s]+/?$"), length(max = 255), extend("examples" = ["https://mirror.corp.example"]))]
    pub mirror: Option<String>,
    /// ARNs of the ECR repositories the runners may pull job and service images from, with the instance role through the
    /// Amazon ECR credential helper; a repository name may end in * (such as repository/*, every repository of the
    /// account and region).
    #[schemars(
        length(min = 1, max = 50),
        extend("uniqueItems" = true, "items" = {
            "description": "An ECR repository's ARN; the name may end in *.",
            "examples": ["arn:aws:ecr:eu-central-1:123456789012:repository/*"],
            "type": "string",
            "pattern": ECR_REPOSITORY_ARN,
        })
    )]
    pub ecr: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(inline)]
pub struct Monitoring {
    /// One CloudWatch dashboard for the fleet, a row per pool: capacity, busy job slots, drains, spot notices and
    /// registrations.
    #[schemars(extend("default" = true))]
    pub dashboard: Option<bool>,
    /// Alarms, each with a runbook line in its description. Set one of sns_topic_arn and email.
    pub alarms: Option<Alarms>,
    /// The runner's own Prometheus metrics (jobs, job slots, jobs that waited too long, errors, API requests) into
    /// the pool's CloudWatch namespace, through the CloudWatch agent's Prometheus scrape (embedded metric format logs,
    /// a log group per pool kept one day).
    #[schemars(extend("default" = false))]
    pub runner_metrics: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(inline)]
pub struct Alarms {
    /// An existing SNS topic in the fleet's region that the alarms notify.
    #[schemars(
        regex(pattern = SNS_TOPIC_ARN),
        extend("examples" = ["arn:aws:sns:eu-central-1:123456789012:ci-alerts"])
    )]
    pub sns_topic_arn: Option<String>,
    /// An address that runnergen's Terraform subscribes to a topic it creates for the fleet's alarms. AWS mails it a
    /// confirmation link first: no alarm reaches it until someone follows that link.
    #[schemars(regex(pattern = EMAIL), length(max = 254), extend("examples" = ["ops@example.com"]))]
    pub email: Option<String>,
    /// Minutes a pool may sit at its maximum size before its alarm fires (for an autoscaler pool: its workers at
    /// max_instances).
    #[schemars(range(min = 5, max = 1440), extend("default" = DEFAULT_AT_CEILING_MINUTES))]
    pub at_ceiling_minutes: Option<u32>,
    /// Seconds: the alarm fires when more than a tenth of the jobs a pool started over 15 minutes had waited longer
    /// than this in GitLab's queue (their 90th percentile is above it). Needs runner_metrics: the runner counts them.
    #[schemars(range(min = 1, max = 86400), extend("examples" = [300]))]
    pub queue_seconds_p90: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(inline)]
pub struct Cache {
    /// create: runnergen's Terraform makes a private, encrypted bucket named after the fleet; or the name of an
    /// existing bucket in the fleet's region.
    #[schemars(length(min = 3, max = 63), extend("examples" = ["create"]))]
    pub bucket: String,
    /// Days after which cached objects expire (bucket: create only).
    #[schemars(range(min = 1, max = 3650), extend("default" = DEFAULT_CACHE_EXPIRATION_DAYS))]
    pub expiration_days: Option<u32>,
    /// false: each pool keeps its cache under its own prefix; true: all pools share one.
    #[schemars(extend("default" = false))]
    pub shared: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(inline)]
pub struct Logs {
    /// Days CloudWatch Logs keeps the events: one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    /// 1096, 1827, 2192, 2557, 2922, 3288, 3653.
    #[schemars(range(min = 1, max = 3653), extend("default" = DEFAULT_LOG_RETENTION_DAYS))]
    pub retention_days: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(inline)]
pub struct Aws {
    /// AWS region the AMI is baked in and the fleet runs in, such as eu-central-1.
    #[schemars(regex(pattern = "^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$"), extend("examples" = ["eu-central-1"]))]
    pub region: String,
    /// VPC of the fleet's security group.
    #[schemars(regex(pattern = "^vpc-([0-9a-f]{8}|[0-9a-f]{17})$"), extend("examples" = ["vpc-0a1b2c3d4e5f60718"]))]
    pub vpc_id: String,
    /// Subnets the Auto Scaling groups launch into, one per availability zone for spot capacity to choose from.
    /// Instances get no public IP: the subnets need a NAT gateway or VPC endpoints to reach GitLab, SSM and CloudWatch.
    #[schemars(
        length(min = 1, max = 16),
        extend("uniqueItems" = true, "items" = {
            "description": "A subnet id.",
            "examples": ["subnet-0a1b2c3d4e5f60718"],
            "type": "string",
            "pattern": "^subnet-([0-9a-f]{8}|[0-9a-f]{17})$",
        })
    )]
    pub subnet_ids: Vec<String>,
    /// Tags put on every AWS resource, on the instances and on the AMI. Keys: 1 to 128 characters, values: up to 256,
    /// letters, digits, spaces and _ . : / = + - @; keys must not start with aws:.
    #[schemars(extend(
        "default" = {},
        "maxProperties" = 40,
        "propertyNames" = { "minLength": 1, "maxLength": 128 },
        "additionalProperties" = { "type": "string", "maxLength": 256 },
    ))]
    pub tags: Option<BTreeMap<String, String>>,
    /// ARN of a customer-managed KMS key in the fleet's region that encrypts the AMI's snapshot and every instance's
    /// root volume. Default: the account's default EBS key. The key policy must let the Auto Scaling service-linked
    /// role use it (docs/terraform.md).
    #[schemars(
        regex(pattern = "^arn:aws(-us-gov|-cn)?:kms:[a-z0-9-]+:[0-9]{12}:key/(mrk-)?[0-9a-f-]{32,36}$"),
        extend("examples" = ["arn:aws:kms:eu-central-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"])
    )]
    pub ebs_kms_key_arn: Option<String>,
    /// What every IAM role and instance profile runnergen creates gets: a permissions boundary and a path.
    pub iam: Option<AwsIam>,
    /// An HTTP proxy for everything that leaves the VPC: the bake (packages, downloads), the runner and the helpers
    /// (GitLab, AWS APIs), the Docker daemon (image pulls) and jobs.
    pub proxy: Option<Proxy>,
    /// Where the fleet's instances may connect to, replacing the default of HTTPS (443) and HTTP (80) anywhere.
    /// GitLab's own port is always allowed.
    #[schemars(length(min = 1, max = 50))]
    pub egress: Option<Vec<EgressRule>>,
    /// create: runnergen's Terraform makes the S3 gateway endpoint and the interface endpoints the fleet calls, with
    /// private DNS, in the fleet's VPC and subnets.
    pub vpc_endpoints: Option<VpcEndpoints>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(inline)]
pub struct AwsIam {
    /// ARN of the managed policy set as the permissions boundary of every role runnergen creates.
    #[schemars(regex(pattern = POLICY_ARN), extend("examples" = ["arn:aws:iam::123456789012:policy/Boundary"]))]
    pub permissions_boundary: Option<String>,
    /// IAM path of every role and instance profile runnergen creates: / alone, or /name/ with letters, digits and
    /// + = , . @ _ - between slashes.
    #[schemars(
        regex(pattern = r"^/([A-Za-z0-9+=,.@_-]+/)*$"),
        length(min = 1, max = 512),
        extend("examples" = ["/ci/"], "default" = "/")
    )]
    pub path: Option<String>,
    /// ARN of the account's existing IAM OIDC provider for gitlab.url, which the pools' job_role trust. Without it,
    /// runnergen's Terraform creates the provider when a pool has a job_role (an account has one provider per URL).
    #[schemars(
        regex(pattern = r"^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:oidc-provider/[A-Za-z0-9._/:-]+$"),
        extend("examples" = ["arn:aws:iam::123456789012:oidc-provider/gitlab.example.com"])
    )]
    pub oidc_provider_arn: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(inline)]
pub struct Proxy {
    /// The proxy's URL, http://host:port. A user name may be given; a password may not (it would be baked into the
    /// image and the job environment).
    #[schemars(regex(pattern = r"^https?://"), length(max = 255), extend("examples" = ["http://proxy.corp.example:3128"]))]
    pub url: String,
    /// Hosts, domains (.corp.example) and CIDR blocks reached without the proxy, besides the instance metadata service,
    /// the VPC's endpoints and AWS's own that runnergen always adds.
    #[schemars(
        length(max = 100),
        extend("uniqueItems" = true, "default" = [], "items" = {
            "description": "A host, a domain starting with a dot, or a CIDR block.",
            "examples": [".corp.example"],
            "type": "string",
            "pattern": r"^[A-Za-z0-9.:/*_-]+$",
            "minLength": 1,
            "maxLength": 255,
        })
    )]
    pub no_proxy: Option<Vec<String>>,
}

/// One allowed destination of the instances' outbound TCP connections.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "egress_rule")]
pub struct EgressRule {
    /// An IPv4 CIDR block, such as 10.0.0.0/8. Set one of cidr and prefix_list.
    #[schemars(
        regex(pattern = r"^[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}$"),
        extend("examples" = ["10.0.0.0/8"])
    )]
    pub cidr: Option<String>,
    /// A managed prefix list's id, such as pl-0123456789abcdef0. Set one of cidr and prefix_list.
    #[schemars(regex(pattern = "^pl-([0-9a-f]{8}|[0-9a-f]{17})$"), extend("examples" = ["pl-0123456789abcdef0"]))]
    pub prefix_list: Option<String>,
    /// TCP ports: one ("443") or a range ("8000-8100").
    #[schemars(regex(pattern = "^[0-9]{1,5}(-[0-9]{1,5})?$"), extend("examples" = ["443"]))]
    pub ports: String,
    /// What the rule is for, shown on the security group rule. Default: the destination and ports.
    #[schemars(regex(pattern = r"^[A-Za-z0-9 ._:/()#,@\[\]+=&;{}!$*-]*$"), length(min = 1, max = 255), extend("examples" = ["deploy targets"]))]
    pub description: Option<String>,
}

/// What runnergen's Terraform does about VPC endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub enum VpcEndpoints {
    /// Creates them.
    Create,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(inline)]
pub struct Gitlab {
    /// Base https URL of the GitLab instance, such as https://gitlab.com.
    #[schemars(regex(pattern = "^https://"), length(max = 255), extend("examples" = ["https://gitlab.example.com"]))]
    pub url: String,
    /// Who creates each pool's runner in GitLab and puts its token into SSM: external (the default), you, by hand;
    /// terraform, runnergen's Terraform, with the gitlabhq/gitlab provider (the token then lives in the Terraform
    /// state).
    #[schemars(extend("default" = DEFAULT_RUNNER_MODE))]
    pub runners: Option<RunnerMode>,
    /// A PEM file of the CA certificates that GitLab's certificate chains to, relative to the spec: baked into the
    /// images' trust store and given to the runner (tls-ca-file) for registering, running and its helper images.
    #[schemars(length(min = 1, max = 255), extend("examples" = ["certs/corp-ca.pem"]))]
    pub ca_file: Option<String>,
}

/// Who creates each pool's runner in GitLab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub enum RunnerMode {
    /// The user, by hand: the token is already in SSM.
    External,
    /// runnergen's Terraform, with the gitlabhq/gitlab provider.
    Terraform,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(inline)]
pub struct Runner {
    /// instance (an instance runner: needs an administrator's token), group (group_id) or project (project_id).
    /// Required with gitlab.runners: terraform, refused otherwise.
    pub scope: Option<Scope>,
    /// The group the runner belongs to; exactly when scope is group.
    #[schemars(range(min = 1))]
    pub group_id: Option<u64>,
    /// The project the runner belongs to; exactly when scope is project.
    #[schemars(range(min = 1))]
    pub project_id: Option<u64>,
    /// The runner's description in GitLab. Default: "<fleet> <pool>".
    #[schemars(length(min = 1, max = 1024))]
    pub description: Option<String>,
    /// The runner's tags: jobs with these tags run here. At most 50, each 1 to 255 characters, no commas, no
    /// surrounding spaces.
    #[schemars(length(max = 50), extend("default" = []))]
    pub tags: Option<Vec<String>>,
    /// Whether the runner takes jobs that have no tags. Default: true when tags is empty, else false.
    pub run_untagged: Option<bool>,
    /// Whether a project runner is locked to its project.
    #[schemars(extend("default" = DEFAULT_RUNNER_LOCKED))]
    pub locked: Option<bool>,
    /// Whether the runner takes jobs of protected branches and tags only (access level ref_protected).
    #[schemars(extend("default" = false))]
    pub protected: Option<bool>,
    /// Longest job the runner takes, in seconds, at least 600 and at least the pool's job timeout. Default: the pool's
    /// job timeout.
    #[schemars(range(min = 600, max = 2_592_000))]
    pub maximum_timeout: Option<u32>,
    /// Whether the runner takes no new jobs.
    #[schemars(extend("default" = false))]
    pub paused: Option<bool>,
}

/// Where a runner belongs in GitLab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub enum Scope {
    Instance,
    Group,
    Project,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(inline)]
pub struct Image {
    /// Base operating system.
    pub os: Os,
    /// CPU architecture: arm64 for Graviton instance types, x86_64 for the others. Every instance type of every pool
    /// must match it.
    pub arch: Arch,
    /// Exact gitlab-runner version installed in the image, such as 19.3.0. At least 17.0, the first that can keep
    /// instances sharing a token from rotating it.
    #[schemars(extend("examples" = ["19.3.0"]))]
    pub runner_version: Version,
    #[schemars(
        description = format!(
            "Exact AWS CLI version 2 installed in the image (from AWS's signed zip), which the instances' helpers \
             call. Default: {DEFAULT_AWS_CLI_VERSION}."
        ),
        regex(pattern = r"^2\.[0-9]+\.[0-9]+$"),
        extend("default" = DEFAULT_AWS_CLI_VERSION)
    )]
    pub aws_cli_version: Option<String>,
    /// Exact version of GitLab's fleeting plugin for AWS, baked into the runner AMI with `gitlab-runner fleeting
    /// install`. Required when a pool has `topology: autoscaler`; never `latest` or a range.
    #[schemars(extend("examples" = ["1.0.0"]))]
    pub fleeting_plugin_version: Option<Version>,
    /// SHA-256 of the fleeting plugin's binary for the image's architecture: the bake fails unless the installed plugin
    /// has it. Without it the plugin is pinned by version only, not verified.
    #[schemars(
        regex(pattern = "^[0-9a-f]{64}$"),
        extend("examples" = ["0f343b0931126a20f133d67c2b018a3b1fbcd7d5a1ba1cbd3a2f1a7c3e5d9b41"])
    )]
    pub fleeting_plugin_sha256: Option<String>,
    /// Instance type of the temporary instance Packer builds on. Default: t3.medium for x86_64, t4g.medium for arm64.
    #[schemars(regex(pattern = INSTANCE_TYPE), extend("examples" = ["t4g.medium"]))]
    pub build_instance_type: Option<String>,
    /// Size of the AMI's root volume in GiB; pools may launch with larger volumes.
    #[schemars(range(min = 8, max = 16384), extend("default" = DEFAULT_VOLUME_GB))]
    pub volume_gb: Option<u32>,
    /// EBS volume type of the root volume, for the AMI and every pool. Always encrypted.
    #[schemars(extend("default" = DEFAULT_VOLUME_TYPE))]
    pub volume_type: Option<VolumeType>,
    /// A private subnet the AMIs are built in: the build instance gets no public IP and no SSH ingress, and Packer
    /// reaches it over Session Manager. The subnet needs a way to the package sites (a NAT gateway or aws.proxy) and to
    /// SSM (a NAT gateway or VPC endpoints).
    #[schemars(regex(pattern = "^subnet-([0-9a-f]{8}|[0-9a-f]{17})$"), extend("examples" = ["subnet-0123456789abcdef0"]))]
    pub build_subnet_id: Option<String>,
    /// With build_subnet_id: an existing instance profile for the build instance, with the SSM agent's session
    /// permissions, instead of the temporary one Packer creates (which has no permissions boundary or path: for
    /// accounts that refuse roles without them).
    #[schemars(regex(pattern = r"^[A-Za-z0-9+=,.@_-]{1,128}$"), extend("examples" = ["packer-session-manager"]))]
    pub build_instance_profile: Option<String>,
    /// A bash script of your own, relative to the spec, run as root with set -euo pipefail after runnergen's
    /// provisioning and before the image is sealed, on the runner AMI and on the worker AMI. A change re-bakes.
    #[schemars(length(min = 1, max = 255), extend("examples" = ["scripts/extra.sh"]))]
    pub provision_script: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[schemars(inline)]
pub enum Os {
    #[serde(rename = "ubuntu-22.04")]
    Ubuntu2204,
    #[serde(rename = "ubuntu-24.04")]
    Ubuntu2404,
    #[serde(rename = "amazon-linux-2023")]
    AmazonLinux2023,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(inline)]
pub enum Arch {
    #[serde(rename = "x86_64")]
    X86_64,
    Arm64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub enum VolumeType {
    Gp3,
    Gp2,
}

impl Os {
    /// The base image's default user: Packer's SSH user, and the user an autoscaler's manager
    /// connects to its workers as.
    pub fn default_user(self) -> &'static str {
        match self {
            Os::Ubuntu2204 | Os::Ubuntu2404 => "ubuntu",
            Os::AmazonLinux2023 => "ec2-user",
        }
    }
}

impl Arch {
    /// The name the spec, EC2 and the AMI tags use.
    pub fn name(self) -> String {
        self.as_str().to_owned()
    }
}

impl VolumeType {
    /// The EBS volume type.
    pub fn name(self) -> String {
        self.as_str().to_owned()
    }
}

/// One Auto Scaling group of runner instances sharing one GitLab runner (one glrt- token).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "pool", transform = topology_requirements)]
pub struct Pool {
    /// Pool name, unique in the fleet: lowercase letters, digits and dashes, starting with a letter. With the fleet
    /// name it must fit AWS's 64-character IAM role name: `{fleet}-{pool}-runner`.
    #[schemars(regex(pattern = NAME), length(min = 1, max = 40), extend("examples" = ["docker"]))]
    pub name: String,
    /// How the pool runs jobs: instance, an Auto Scaling group whose instances are runners; autoscaler, one manager
    /// instance that starts a worker instance per job (GitLab's docker-autoscaler or instance executor with the
    /// fleeting AWS plugin).
    #[schemars(extend("default" = "instance"))]
    pub topology: Option<crate::topology::Name>,
    /// GitLab Runner executor: docker runs each job in a container, shell runs jobs directly on the instance. In an
    /// autoscaler pool, docker means the docker-autoscaler executor and shell the instance executor, both on the
    /// workers.
    pub executor: Executor,
    // Shaping refuses them on autoscaler pools, and puts a placeholder where an instance pool
    // lacks them.
    /// Instance pools: EC2 instance types. On-demand pools launch the first one with capacity, in this order; spot
    /// pools choose among all of them by price and spare capacity, whatever the order. Required for instance pools.
    #[schemars(
        length(min = 1, max = 20),
        extend("uniqueItems" = true, "items" = {
            "description": "An instance type such as m7g.large.",
            "examples": ["m7g.large"],
            "type": "string",
            "pattern": INSTANCE_TYPE,
        })
    )]
    pub instance_types: Option<Vec<String>>,
    /// Run on spot capacity, choosing the cheapest pools with the most spare capacity, replacing instances before
    /// interruption.
    #[schemars(extend("default" = false))]
    pub spot: Option<bool>,
    /// Instance pools with spot: true: when spot capacity stays short, on-demand instances make up the difference, and
    /// the pool goes back to spot once it returns. Without it, a pool short of spot capacity waits for it.
    pub on_demand_fallback: Option<OnDemandFallback>,
    /// Instance pools: size of the group outside every schedule window. Required for instance pools.
    pub capacity: Option<Capacity>,
    /// Jobs one instance runs at once.
    #[schemars(range(min = 1, max = 64), extend("default" = DEFAULT_CONCURRENT))]
    pub concurrent: Option<u32>,
    /// Name of the SSM SecureString parameter holding this pool's glrt- runner authentication token.
    #[schemars(regex(pattern = "^/"), length(max = 1011), extend("examples" = ["/acme-ci/docker/runner-token"]))]
    pub token_parameter: String,
    /// Longest job this pool runs, in minutes. Stopping or scaling in an instance waits this long for running jobs to
    /// finish, recording lifecycle heartbeats meanwhile.
    #[schemars(range(min = 5, max = 1440), extend("default" = DEFAULT_JOB_TIMEOUT_MINUTES))]
    pub job_timeout_minutes: Option<u32>,
    /// Root volume size of this pool's instances in GiB. Default: image.volume_gb; never smaller.
    #[schemars(range(min = 8, max = 16384))]
    pub volume_gb: Option<u32>,
    /// Settings of the docker executor; only for executor docker.
    pub docker: Option<Docker>,
    #[schemars(description = format!(
        "Demand-based scaling between the capacity in force: keep a share of job slots busy (busy_percent) or a \
         CPU utilisation (cpu_percent). Default: busy_percent {DEFAULT_BUSY_PERCENT}."
    ))]
    pub scaling: Option<Scaling>,
    /// Windows of the week with their own capacity, such as office hours; outside every window the pool has its base
    /// capacity.
    pub schedule: Option<Schedule>,
    /// Autoscaler pools: the manager, one on-demand instance that takes the jobs and starts workers for them.
    pub manager: Option<Manager>,
    /// Autoscaler pools: the worker group, which the manager sizes by the jobs it takes. Required for autoscaler pools.
    pub workers: Option<Workers>,
    #[schemars(description = format!(
        "Autoscaler pools: warm job slots outside every schedule window. Default: none, and unused workers stay \
         {} minutes.",
        DEFAULT_IDLE_SECONDS / 60
    ))]
    pub idle: Option<Idle>,
    /// The pool's runner in GitLab. With gitlab.runners: terraform, runnergen's Terraform creates it (required then).
    /// Otherwise only tags, run_untagged and protected: what to set on the runner you create (the next steps list
    /// them).
    pub runner: Option<Runner>,
    /// Egress rules of this pool's runners (an autoscaler pool's workers, where its jobs run) besides the fleet's.
    #[schemars(length(min = 1, max = 50))]
    pub egress: Option<Vec<EgressRule>>,
    /// AWS access for this pool's jobs, through GitLab's OIDC ID tokens: a role that only the listed projects' jobs
    /// can assume (never the instance role, which jobs cannot reach).
    pub job_role: Option<JobRole>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(inline)]
pub struct JobRole {
    /// ARNs of the managed policies attached to the role.
    #[schemars(
        length(min = 1, max = 20),
        extend("uniqueItems" = true, "items" = {
            "description": "A managed policy's ARN.",
            "examples": ["arn:aws:iam::123456789012:policy/Deployer"],
            "type": "string",
            "pattern": POLICY_ARN,
        })
    )]
    pub policy_arns: Vec<String>,
    /// Full paths of the projects whose jobs may assume the role: the ID token's project_path claim, such as
    /// platform/deploy. A trailing /* allows every project under a group.
    #[schemars(
        length(min = 1, max = 50),
        extend("uniqueItems" = true, "items" = {
            "description": "A project's full path, such as platform/deploy, or group/* for every project under it.",
            "examples": ["platform/deploy"],
            "type": "string",
            "pattern": r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*(/\*)?$",
            "maxLength": 255,
        })
    )]
    pub projects: Vec<String>,
    /// Branches or tags whose jobs may assume the role: the ID token's ref claim, such as main. Default: any.
    #[schemars(
        length(min = 1, max = 50),
        extend("uniqueItems" = true, "items" = {
            "description": "A branch or tag name; * matches any characters.",
            "examples": ["main"],
            "type": "string",
            "pattern": r"^[A-Za-z0-9_./*-]+$",
            "maxLength": 255,
        })
    )]
    pub refs: Option<Vec<String>>,
    /// true: only jobs of protected branches and tags may assume the role (the ID token's ref_protected claim).
    #[schemars(extend("default" = false))]
    pub ref_protected: Option<bool>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(inline)]
pub struct Manager {
    /// Instance type of the manager, always on-demand. Default: t3.small for x86_64, t4g.small for arm64.
    #[schemars(regex(pattern = INSTANCE_TYPE), extend("examples" = ["t4g.small"]))]
    pub instance_type: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(inline)]
pub struct Workers {
    /// EC2 instance types of the workers; they must match image.arch.
    #[schemars(
        length(min = 1, max = 20),
        extend("uniqueItems" = true, "items" = {
            "description": "An instance type such as c7g.large.",
            "examples": ["c7g.large"],
            "type": "string",
            "pattern": INSTANCE_TYPE,
        })
    )]
    pub instance_types: Vec<String>,
    /// Run workers on spot capacity.
    #[schemars(extend("default" = false))]
    pub spot: Option<bool>,
    /// With spot: true: when spot capacity stays short, the worker group launches on-demand workers instead, and goes
    /// back to spot once it returns. The manager sees the same group and sizes it as before.
    pub on_demand_fallback: Option<OnDemandFallback>,
    /// Most workers at once: the worker group's maximum size. The manager runs max_instances x capacity_per_instance
    /// jobs at once.
    #[schemars(range(min = 1, max = 1000))]
    pub max_instances: u32,
    /// Jobs one worker runs at once.
    #[schemars(range(min = 1, max = 64), extend("default" = DEFAULT_CAPACITY_PER_INSTANCE))]
    pub capacity_per_instance: Option<u32>,
    /// Jobs a worker runs before it is removed; 1 gives every job a fresh worker, 0 keeps workers until they idle out.
    #[schemars(range(min = 0, max = 10000), extend("default" = DEFAULT_MAX_USE_COUNT))]
    pub max_use_count: Option<u32>,
    /// Shell jobs (executor shell) only: allow a worker to serve several jobs, at once (capacity_per_instance above 1)
    /// or one after another (max_use_count other than 1). Jobs then share a machine and can read each other's files.
    #[schemars(extend("default" = false))]
    pub shared: Option<bool>,
    /// Root volume of each worker in GiB. Default: image.volume_gb; never smaller.
    #[schemars(range(min = 8, max = 16384))]
    pub volume_gb: Option<u32>,
}

/// Falling back to on-demand capacity while spot capacity is short.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "on_demand_fallback")]
pub struct OnDemandFallback {
    /// How many minutes the group may stay below its desired capacity, with spot launches failing for lack of
    /// capacity, before on-demand instances fill in.
    #[schemars(range(min = 1, max = 60), extend("examples" = [5]))]
    pub after_minutes: u32,
}

/// Warm job slots: how many are kept ready (count, in jobs) and how long an unused worker stays (time, such as 10m or
/// 1h30m).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "idle")]
pub struct Idle {
    /// Job slots kept ready on idle workers.
    #[schemars(range(min = 0, max = 64000))]
    pub count: u32,
    /// How long an unused worker stays, such as 10m, 30m or 1h30m.
    #[schemars(extend("examples" = ["10m"]))]
    pub time: Option<Duration>,
}

/// A length of time as Go writes it (`10m`, `1h30m`, `45s`), kept in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Duration(pub u32);

impl TryFrom<String> for Duration {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        let bad =
            || format!("`{text}` is not a duration; expected hours, minutes and seconds such as 10m, 1h30m or 45s");
        let mut total: u64 = 0;
        let mut number = String::new();
        let mut units = Vec::new();
        for c in text.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let factor = match c {
                'h' => 3600,
                'm' => 60,
                's' => 1,
                _ => return Err(bad()),
            };
            if number.is_empty() || units.contains(&c) || number.len() > 6 {
                return Err(bad());
            }
            units.push(c);
            total += number.parse::<u64>().map_err(|_| bad())? * factor;
            number.clear();
        }
        if !number.is_empty() || units.is_empty() || total > u64::from(u32::MAX) {
            return Err(bad());
        }
        if total == 0 {
            return Err(format!("`{text}` is no time at all; expected at least 1s, such as 10m"));
        }
        Ok(Duration(total as u32))
    }
}

impl std::fmt::Display for Duration {
    /// Go's own form, which the runner parses: `1h30m0s`, `10m0s`, `45s`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (h, m, s) = (self.0 / 3600, self.0 / 60 % 60, self.0 % 60);
        if h > 0 {
            write!(f, "{h}h{m}m{s}s")
        } else if m > 0 {
            write!(f, "{m}m{s}s")
        } else {
            write!(f, "{s}s")
        }
    }
}

impl JsonSchema for Duration {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": "^([0-9]+h)?([0-9]+m)?([0-9]+s)?$", "minLength": 2 })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub enum Executor {
    Docker,
    Shell,
}

/// Group size: min <= desired <= max instances.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "capacity")]
pub struct Capacity {
    /// Fewest instances.
    #[schemars(range(min = 0, max = 1000))]
    pub min: u32,
    /// Most instances.
    #[schemars(range(min = 0, max = 1000))]
    pub max: u32,
    /// Instances to start with. Default: min.
    #[schemars(range(min = 0, max = 1000))]
    pub desired: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(inline)]
pub struct Docker {
    /// Image jobs run in when their .gitlab-ci.yml names none.
    #[schemars(length(min = 1, max = 255), extend("default" = DEFAULT_DOCKER_IMAGE))]
    pub image: Option<String>,
    /// Run job containers privileged (needed for docker-in-docker). Gives jobs root on the instance, and with it the
    /// pool's runner token and the instance role.
    #[schemars(extend("default" = false))]
    pub privileged: Option<bool>,
    /// With privileged: true, only job images matching one of these patterns run privileged (gitlab-runner's
    /// allowed_privileged_images). Without it, every job image does.
    #[schemars(
        length(min = 1, max = 32),
        extend("uniqueItems" = true, "items" = {
            "description": "An image pattern, with * and ** as gitlab-runner matches them.",
            "examples": ["docker:*-dind"],
            "type": "string",
            "minLength": 1,
            "maxLength": 255,
        })
    )]
    pub allowed_privileged_images: Option<Vec<String>>,
    /// With privileged: true, only service images matching one of these patterns run privileged (gitlab-runner's
    /// allowed_privileged_services). Without it, every service does.
    #[schemars(
        length(min = 1, max = 32),
        extend("uniqueItems" = true, "items" = {
            "description": "A service image pattern, with * and ** as gitlab-runner matches them.",
            "examples": ["docker:*-dind"],
            "type": "string",
            "minLength": 1,
            "maxLength": 255,
        })
    )]
    pub allowed_privileged_services: Option<Vec<String>>,
    /// When the executor pulls job images: always (every job proves it may pull the image), if-not-present (a cached
    /// private image is served to any job on the instance: only for a runner of one project) or never.
    #[schemars(extend("default" = DEFAULT_PULL_POLICY))]
    pub pull_policy: Option<PullPolicy>,
    /// Extra volumes mounted into every job container, as /container/path or /host/path:/container/path[:ro|rw].
    #[schemars(
        length(max = 32),
        extend("uniqueItems" = true, "default" = [], "items" = {
            "description": "A docker volume.",
            "examples": ["/cache"],
            "type": "string",
            "pattern": "^/[A-Za-z0-9_./-]*(:/[A-Za-z0-9_./-]*)?(:(ro|rw))?$",
        })
    )]
    pub volumes: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[schemars(inline)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(inline, extend("minProperties" = 1, "maxProperties" = 1))]
pub struct Scaling {
    /// Target share of this pool's job slots (concurrent x instances) that are running jobs. At most 95: the metric
    /// tops out at 100, and target tracking scales out only above the target.
    #[schemars(range(min = 10, max = 95))]
    pub busy_percent: Option<u32>,
    /// Target average CPU utilisation of the pool's instances.
    #[schemars(range(min = 10, max = 95))]
    pub cpu_percent: Option<u32>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(inline)]
pub struct Schedule {
    /// IANA time zone the windows are in, such as Europe/Berlin; AWS applies daylight saving time.
    #[schemars(extend("examples" = ["Europe/Berlin"], "default" = DEFAULT_TIME_ZONE))]
    pub time_zone: Option<String>,
    /// The windows; those of one pool must not overlap.
    #[schemars(length(min = 1, max = 100))]
    pub windows: Vec<Window>,
}

/// A weekly window with its own capacity (instance pools) or idle job slots (autoscaler pools).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "window")]
pub struct Window {
    /// Days the window starts on: a range such as MON-FRI, one day such as SAT, or a list such as [MON, WED].
    #[schemars(extend("examples" = ["MON-FRI"]))]
    pub days: Days,
    /// Start time, HH:MM in 24-hour form.
    #[schemars(extend("examples" = ["07:00"]))]
    pub from: ClockTime,
    /// End time, HH:MM; earlier than from means the window ends on the next day.
    #[schemars(extend("examples" = ["19:00"]))]
    pub to: ClockTime,
    /// Instance pools: size of the group during the window.
    pub capacity: Option<Capacity>,
    /// Autoscaler pools: warm job slots during the window; its time defaults to the pool's.
    pub idle: Option<Idle>,
}

/// The days a window starts on, Monday first, without repeats.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "DaysText")]
pub struct Days(pub Vec<Weekday>);

#[derive(Deserialize)]
#[serde(untagged)]
enum DaysText {
    /// `MON-FRI` or `SAT`.
    Range(String),
    List(Vec<String>),
}

impl TryFrom<DaysText> for Days {
    type Error = String;
    fn try_from(text: DaysText) -> Result<Self, String> {
        let mut days = match text {
            DaysText::Range(range) => {
                let (first, last) = range.split_once('-').unwrap_or((&range, &range));
                let (first, last) = (Weekday::parse(first)?, Weekday::parse(last)?);
                // MON-FRI, or a range through the weekend such as FRI-MON.
                let len = (last.index() + 7 - first.index()) % 7 + 1;
                (0..len).map(|i| Weekday::ALL[(first.index() + i) % 7]).collect::<Vec<_>>()
            }
            DaysText::List(list) => list.iter().map(|d| Weekday::parse(d)).collect::<Result<_, _>>()?,
        };
        days.sort();
        days.dedup();
        Ok(Days(days))
    }
}

impl JsonSchema for Days {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Days".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                {
                    "type": "string",
                    "pattern": "^(MON|TUE|WED|THU|FRI|SAT|SUN)(-(MON|TUE|WED|THU|FRI|SAT|SUN))?$",
                },
                {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 7,
                    "uniqueItems": true,
                    "items": generator.subschema_for::<Weekday>(),
                },
            ]
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    pub const ALL: [Weekday; 7] = [Self::Mon, Self::Tue, Self::Wed, Self::Thu, Self::Fri, Self::Sat, Self::Sun];
    /// The three-letter names the spec and AWS cron expressions write.
    pub const NAMES: [&'static str; 7] = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];
    /// The names people read in reports.
    pub const TITLES: [&'static str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

    fn parse(text: &str) -> Result<Self, String> {
        Self::NAMES
            .iter()
            .position(|n| *n == text)
            .map(|i| Self::ALL[i])
            .ok_or_else(|| format!("`{text}` is not a day; expected one of MON TUE WED THU FRI SAT SUN"))
    }
    /// Monday is 0.
    pub fn index(self) -> usize {
        self as usize
    }
    /// The three-letter name AWS cron expressions accept.
    pub fn name(self) -> &'static str {
        Self::NAMES[self.index()]
    }
    #[must_use]
    pub fn next(self) -> Self {
        Self::ALL[(self.index() + 1) % 7]
    }
}

impl JsonSchema for Weekday {
    fn schema_name() -> Cow<'static, str> {
        "day".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "description": "A day of the week.", "enum": Self::NAMES })
    }
}

/// A release version, `MAJOR.MINOR.PATCH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl TryFrom<String> for Version {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        let parts: Vec<Option<u32>> = text.split('.').map(|p| p.parse().ok()).collect();
        match parts.as_slice() {
            [Some(major), Some(minor), Some(patch)] => Ok(Version { major: *major, minor: *minor, patch: *patch }),
            _ => Err(format!("`{text}` is not a version; expected MAJOR.MINOR.PATCH such as 19.3.0")),
        }
    }
}

impl Version {
    /// Whether this is `major.minor` or later.
    pub fn at_least(self, (major, minor): (u32, u32)) -> bool {
        (self.major, self.minor) >= (major, minor)
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl JsonSchema for Version {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Version".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": r"^[0-9]+\.[0-9]+\.[0-9]+$" })
    }
}

/// A time of day, `HH:MM`, kept as minutes after midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct ClockTime(pub u16);

impl TryFrom<String> for ClockTime {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        let parsed = text.split_once(':').and_then(|(h, m)| {
            let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
            if !two_digits(h) || !two_digits(m) {
                return None;
            }
            let (h, m) = (h.parse::<u16>().ok()?, m.parse::<u16>().ok()?);
            (h < 24 && m < 60).then_some(ClockTime(h * 60 + m))
        });
        parsed.ok_or_else(|| format!("`{text}` is not a time of day; expected HH:MM from 00:00 to 23:59"))
    }
}

impl std::fmt::Display for ClockTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}:{:02}", self.hour(), self.minute())
    }
}

impl ClockTime {
    pub fn hour(self) -> u16 {
        self.0 / 60
    }
    pub fn minute(self) -> u16 {
        self.0 % 60
    }
}

impl JsonSchema for ClockTime {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "ClockTime".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Editors show every key's description, and shaping shows it as help: a key without a doc
    /// comment would lose both. Nothing in the schema takes `null`.
    #[test]
    fn every_key_is_described_and_none_takes_null() {
        fn walk(schema: &Value, at: &str, undescribed: &mut Vec<String>) {
            match schema {
                Value::Object(map) => {
                    for (key, property) in map.get("properties").and_then(Value::as_object).into_iter().flatten() {
                        if property.get("description").and_then(Value::as_str).is_none_or(str::is_empty) {
                            undescribed.push(format!("{at}.{key}"));
                        }
                    }
                    // The conditions (a pool's topology's keys) restate keys described where they are.
                    for (key, value) in map.iter().filter(|(key, _)| *key != "allOf") {
                        walk(value, &format!("{at}.{key}"), undescribed);
                    }
                }
                Value::Array(items) => items.iter().for_each(|item| walk(item, at, undescribed)),
                _ => {}
            }
        }
        let text = json_schema();
        let schema: Value = serde_json::from_str(&text).expect("JSON");
        let mut undescribed = Vec::new();
        walk(&schema, "", &mut undescribed);
        assert!(undescribed.is_empty(), "keys without a description: {undescribed:?}");
        assert!(!text.contains("null"), "{text}");
        assert!(!text.contains("\\n"), "a description on several lines");
    }

    /// Each value's `as_str` is its serde name, the spelling the schema and the spec use.
    #[test]
    fn spellings_are_the_serde_names() {
        fn check<T: Spelled + Serialize>(values: &[T]) {
            for value in values {
                let serde = serde_json::to_value(value).expect("serialises");
                assert_eq!(serde.as_str(), Some(value.as_str()));
            }
        }
        check(&[RunnerMode::External, RunnerMode::Terraform]);
        check(&[Scope::Instance, Scope::Group, Scope::Project]);
        check(&[Os::Ubuntu2204, Os::Ubuntu2404, Os::AmazonLinux2023]);
        check(&[Arch::X86_64, Arch::Arm64]);
        check(&[VolumeType::Gp3, VolumeType::Gp2]);
        check(&[Executor::Docker, Executor::Shell]);
        check(&[PullPolicy::Always, PullPolicy::IfNotPresent, PullPolicy::Never]);
    }
}
