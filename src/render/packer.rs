//! Stage 5, Packer target: the runner AMI's template (`packer/gitlab-runner.pkr.hcl`), its
//! provision script and, under `packer/files/`, the systemd units, helper scripts and data files
//! that run the runner's lifecycle on each instance. Reads only the resolved [`Fleet`], through
//! its own template context (`Context`).
//!
//! The AMI is tagged with a hash of everything this target renders (its *image definition*), and
//! the Terraform target uses only an AMI with that hash: [`render`] returns it.

use std::collections::BTreeMap;

use minijinja::Environment;
use serde::Serialize;

use super::{File, Output};
use crate::model::{
    AMI_TAG_ARCH, AMI_TAG_IMAGE, AMI_TAG_ROLE, Arch, BUSY_METRIC, BUSY_METRIC_DIMENSION, Fleet, GATE_MARGIN_SECONDS,
    HEARTBEAT_INTERVAL_SECONDS, Os, Partition, ROLE_RUNNER, ROLE_WORKER, STOP_MARGIN_SECONDS, TAG_FLEET, VolumeType,
};
use crate::settings;

/// Where the file provisioner puts `files/` on the build instance (it uploads the folder into
/// `/tmp`), and where the provision script reads it from.
const UPLOAD_DIR: &str = "/tmp/files";
/// Where the helpers live on the instance; the units name them by absolute path.
const HELPERS_DIR: &str = "/usr/local/lib/runnergen";
/// The runner's Prometheus endpoint, on 127.0.0.1 only.
pub(crate) const METRICS_PORT: u16 = 9252;
/// The first gitlab-runner release whose package needs `gitlab-runner-helper-images` beside it.
const HELPER_IMAGES_SINCE: (u32, u32) = (17, 7);
/// The first gitlab-runner release that reports a job its forced shutdown aborts as
/// `runner_interrupted` (a `SystemInterrupt`, common/build.go); earlier ones, as
/// `runner_system_failure`.
const RUNNER_INTERRUPTED_SINCE: (u32, u32) = (19, 1);
/// config.toml `shutdown_timeout`: how long a forced shutdown (SIGTERM) waits for aborted jobs
/// to be cleaned up and reported to GitLab before the runner exits.
const SHUTDOWN_TIMEOUT_SECONDS: u32 = 60;
/// Of the two minutes a spot interruption notice gives: how long running jobs may still finish
/// before they are aborted. The abort takes up to [`SHUTDOWN_TIMEOUT_SECONDS`], unregistering
/// up to 15 s more.
const SPOT_GRACE_SECONDS: u32 = 30;
/// The runner unit's stop timeout in the image, for the default job timeout; user data replaces
/// it with the pool's own (settings::STOP_TIMEOUT_DROPIN).
const DEFAULT_STOP_TIMEOUT_SECONDS: u32 = crate::resolve::DEFAULT_JOB_TIMEOUT_MINUTES * 60 + STOP_MARGIN_SECONDS;

/// The helper scripts, by role: file name under `files/` and in [`HELPERS_DIR`].
#[derive(Debug, Serialize)]
pub(crate) struct Helpers {
    pub(crate) register: &'static str,
    pub(crate) lifecycle: &'static str,
    pub(crate) metrics: &'static str,
    pub(crate) gate: &'static str,
    pub(crate) manager_settings: &'static str,
}

pub(crate) const HELPERS: Helpers = Helpers {
    register: "runnergen-register",
    lifecycle: "runnergen-lifecycle",
    metrics: "runnergen-metrics",
    gate: "runnergen-manager-gate",
    manager_settings: "runnergen-manager-settings",
};

/// Where the runner AMI holds the fleeting plugin: `FLEETING_PLUGIN_PATH` at bake and at run time.
const FLEETING_PLUGIN_PATH: &str = "/usr/local/lib/gitlab-runner/fleeting";

/// The unit names, from the settings contract (user data starts the first three).
#[derive(Debug, Serialize)]
struct Units {
    runner: &'static str,
    lifecycle: &'static str,
    metrics_timer: &'static str,
    /// The oneshot service the timer starts.
    metrics_service: &'static str,
    /// The oneshot service that loads the jobs' firewall before the runner starts.
    firewall: &'static str,
    /// The oneshot service that holds a manager's runner back while its predecessor drains.
    gate: &'static str,
    /// A manager's live settings: the timer, and the oneshot service it starts.
    manager_settings_timer: &'static str,
    manager_settings_service: &'static str,
}

const UNITS: Units = Units {
    runner: settings::RUNNER_UNIT,
    lifecycle: settings::LIFECYCLE_UNIT,
    metrics_timer: settings::METRICS_TIMER,
    metrics_service: "runnergen-metrics.service",
    firewall: "runnergen-firewall.service",
    gate: "runnergen-manager-gate.service",
    manager_settings_timer: settings::MANAGER_SETTINGS_TIMER,
    manager_settings_service: "runnergen-manager-settings.service",
};

/// A file installed as it is, not run: name under `files/` and path on the instance.
#[derive(Debug, Serialize)]
struct DataFile {
    name: &'static str,
    installed: &'static str,
}

/// The nftables rules that keep jobs away from the instance metadata service.
const FIREWALL_RULES: DataFile = DataFile { name: "jobs-firewall.nft", installed: "/etc/runnergen/jobs-firewall.nft" };

/// The lifecycle helper's heartbeat: `metric` = 1 every `seconds`, with the group as `dimension`.
#[derive(Debug, Serialize)]
struct LifecycleHeartbeat {
    metric: &'static str,
    dimension: &'static str,
    seconds: u32,
}

/// Everything the Packer templates see. Every string is raw; templates escape it with the filter
/// of the language it lands in (`hcl`, `sh`, `systemd`).
#[derive(Debug, Serialize)]
struct Context {
    /// Fleet name.
    fleet: String,
    /// AWS region the AMI is built and registered in.
    region: String,
    /// The region's partition (`aws`, `aws-us-gov`, `aws-cn`).
    partition: &'static str,
    /// Instance type of the build instance.
    build_instance_type: String,
    /// `{fleet}-gitlab-runner-{version}`; packer appends `-{build timestamp}`.
    ami_name_prefix: String,
    /// The AMI's description.
    ami_description: String,
    /// Exact gitlab-runner version to install, such as `19.3.0`.
    runner_version: String,
    /// Whether that version's package needs `gitlab-runner-helper-images` of the same version.
    helper_images_package: bool,
    /// The failure reason that version reports for a job its forced shutdown aborts.
    abort_failure_reason: &'static str,
    /// Exact AWS CLI version to install, such as `2.36.7`.
    aws_cli_version: String,
    /// The CLI's zip names the architecture `x86_64` or `aarch64`.
    aws_cli_arch: &'static str,
    /// Human name of the base OS, for comments.
    os_name: &'static str,
    /// `ubuntu` or `amazon-linux`: selects apt or dnf in the provision script.
    os_family: &'static str,
    /// Ubuntu release codename of GitLab's apt repository (`jammy`, `noble`); empty otherwise.
    codename: &'static str,
    /// SSH user of the base image.
    ssh_username: &'static str,
    /// `name` filter of the base image (Canonical's or Amazon's current pattern).
    source_ami_name: String,
    /// Account that publishes the base image in the fleet's partition, and where that is written.
    source_ami_owner: &'static str,
    source_ami_owner_source: &'static str,
    /// Root device name of the base image.
    root_device: &'static str,
    /// EC2 architecture name: `x86_64` or `arm64`.
    arch: String,
    /// Root volume size in GiB.
    volume_gb: u32,
    /// `gp3` or `gp2`.
    volume_type: String,
    /// Whether the root volume is gp3 (gets its baseline iops and throughput spelled out).
    gp3: bool,
    /// The customer-managed KMS key of the root volume and so of the AMI's snapshot, if any.
    kms_key_arn: Option<String>,
    /// The AMI's tags: the fleet's, plus the fleet, arch and image-definition tags. Sorted.
    tags: BTreeMap<String, String>,
    /// Whether some pool uses the docker executor: Docker is installed only then.
    docker: bool,
    /// The runner unit's TimeoutStopSec in the image, until user data sets the pool's.
    stop_timeout_seconds: u32,
    /// The runner unit's TimeoutStartSec: covers every registration attempt and its backoff.
    start_timeout_seconds: u32,
    /// config.toml `check_interval`.
    check_interval_seconds: u32,
    /// config.toml `shutdown_timeout` (the forced shutdown's timeout; SIGQUIT drains without one).
    shutdown_timeout_seconds: u32,
    /// How long jobs may finish after a spot interruption notice before they are aborted.
    spot_grace_seconds: u32,
    /// How often a draining instance records a lifecycle heartbeat.
    heartbeat_interval_seconds: u32,
    /// How long an instance pool's instance lives at most: past it, it no longer protects itself.
    max_instance_lifetime_seconds: u32,
    /// Time after the longest job for unregistering.
    stop_margin_seconds: u32,
    /// Port of the runner's Prometheus endpoint on 127.0.0.1.
    metrics_port: u16,
    /// Name of the busy-slot metric.
    busy_metric: &'static str,
    /// Its single dimension's name (the value is the pool's group name).
    busy_metric_dimension: &'static str,
    /// With the fleet's monitoring, the lifecycle helper's heartbeat metric.
    lifecycle_heartbeat: Option<LifecycleHeartbeat>,
    /// The settings file user data writes: the units' `ConditionPathExists=`.
    settings_path: &'static str,
    /// Settings key names, by name: a renamed key fails the render.
    keys: BTreeMap<&'static str, &'static str>,
    units: Units,
    /// `--service` name gitlab-runner reports (the runner unit without `.service`).
    runner_service_name: &'static str,
    helpers: Helpers,
    /// Where the helpers are installed.
    helpers_dir: &'static str,
    /// Where `files/` is uploaded on the build instance.
    upload_dir: &'static str,
    /// The user jobs of the shell executor run as; the firewall keeps it from the metadata service.
    job_user: &'static str,
    /// The jobs' firewall rules.
    firewall_rules: DataFile,
    /// Helper file names under `files/`, for the provision script.
    helper_files: Vec<&'static str>,
    /// Data files under `files/` with where they are installed, for the provision script.
    data_files: Vec<DataFile>,
    /// Unit file names under `files/`, for the provision script.
    unit_files: Vec<&'static str>,
    /// Units enabled in the image.
    enabled_units: Vec<&'static str>,
    /// With autoscaler pools: the plugin reference (`aws:X.Y.Z`) baked into the runner AMI, and
    /// where.
    fleeting_plugin: Option<String>,
    fleeting_plugin_path: &'static str,
    /// The SHA-256 the installed plugin binary must have, when the spec pins one.
    fleeting_plugin_sha256: Option<String>,
    /// The manager's autoscaler settings, written by user data (a manager has them, nothing else).
    autoscaler_config_path: &'static str,
    /// How long past the longest drain a new manager waits for its predecessor.
    gate_margin_seconds: u32,
    /// Where a manager keeps its live settings.
    manager_settings_path: &'static str,
    /// With a cache: where an instance pool's user data writes its runner's `[runners.cache]`.
    runner_template_path: Option<&'static str>,
    /// Whether that template may hold the runner's count of jobs that waited too long.
    queue_count: bool,
    /// With `logs`: the Amazon CloudWatch agent to install, which ships the journal.
    cloudwatch_agent: Option<CloudwatchAgent>,
    /// With autoscaler pools, the worker AMI.
    worker: Option<WorkerImage>,
    /// With `image.build_subnet_id`: both AMIs bake in that subnet over Session Manager.
    private_bake: Option<PrivateBake>,
    /// With `image.provision_script`: the user's own bake step.
    provision_script: Option<ProvisionScript>,
    /// What the worker build uploads from `files/` (into `/tmp`): the proxy's drop-in and the CA,
    /// never the runner's units.
    worker_uploads: Vec<&'static str>,
    /// With `aws.proxy`: the proxy of the bake, the units, the Docker daemon, the agents and jobs.
    proxy: Option<ProxySettings>,
    /// With `gitlab.ca_file`: the CA file under `files/` and where the runner reads it.
    gitlab_ca: Option<DataFile>,
    /// `registries.mirror`: the Docker Hub mirror of every Docker daemon.
    registries_mirror: Option<String>,
    /// The lines of `/etc/docker/daemon.json`, JSON built by serde: live-restore, and with
    /// `registries.mirror` the mirror.
    daemon_json: Vec<String>,
    /// With `registries.ecr`: the runner's Docker configuration, which names the ECR credential
    /// helper for each registry host of the listed repositories.
    ecr: Option<EcrCredentials>,
}

/// The fleet's proxy as its consumers read it.
#[derive(Debug, Serialize)]
struct ProxySettings {
    /// The variables, lower case first: `http_proxy`, `https_proxy`, `no_proxy`, then the same
    /// in upper case. curl reads `http_proxy` in lower case only; Go and the AWS CLI read both.
    variables: Vec<(&'static str, String)>,
    /// `aws.proxy.url`.
    url: String,
    /// [`Fleet::no_proxy`], comma-separated.
    no_proxy: String,
    /// The systemd drop-in under `files/` that sets the variables, and its name in each unit's
    /// `.d` folder.
    dropin: &'static str,
    /// The runner AMI's units that get the drop-in besides the Docker daemon: runnergen's units
    /// that call GitLab or AWS, and the SSM agent.
    runner_units: Vec<&'static str>,
    /// The worker AMI's, besides the Docker daemon: the SSM agent.
    worker_units: Vec<&'static str>,
}

/// The proxy's drop-in, under `files/` and in each unit's `.d` folder.
const PROXY_DROPIN: &str = "runnergen-proxy.conf";

/// `registries.ecr`: the credential helper's package and the Docker configuration that uses it.
#[derive(Debug, Serialize)]
struct EcrCredentials {
    /// The distribution's package of the Amazon ECR credential helper.
    package: &'static str,
    /// The registry hosts, `ACCOUNT.dkr.ecr.REGION.amazonaws.com`, sorted.
    registries: Vec<String>,
    /// The lines of the Docker configuration, JSON built by serde.
    docker_config: Vec<String>,
    /// Where the runner reads it: the home of the user it runs as, root.
    docker_config_path: &'static str,
}

/// The Docker configuration gitlab-runner reads registry credentials from: `~/.docker/config.json`
/// of the user it runs as (`readDockerConfigsFromHomeDir`, helpers/docker/auth/auth.go), root.
const RUNNER_DOCKER_CONFIG: &str = "/root/.docker/config.json";

/// The CA file under `files/`, and where the runner reads it as `tls-ca-file`.
const GITLAB_CA: DataFile = DataFile { name: "gitlab-ca.crt", installed: "/etc/runnergen/gitlab-ca.crt" };

/// The registry host of an ECR repository ARN, `arn:PARTITION:ecr:REGION:ACCOUNT:repository/NAME`
/// (the rules accept no other shape): `ACCOUNT.dkr.ecr.REGION.amazonaws.com`, `.com.cn` in China
/// (Amazon ECR user guide, "Private registry concepts").
fn ecr_registry(arn: &str) -> Option<String> {
    let mut parts = arn.split(':');
    let (_, _, _, region, account) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let suffix = Partition::of_region(region)?.dns_suffix();
    Some(format!("{account}.dkr.ecr.{region}.{suffix}"))
}

/// A JSON value as its pretty-printed lines, for `printf '%s\n'` to write one by one.
fn json_lines(value: &serde_json::Value) -> Vec<String> {
    serde_json::to_string_pretty(value).unwrap_or_default().lines().map(str::to_owned).collect()
}

/// A bake in a private subnet, over Session Manager.
#[derive(Debug, Serialize)]
struct PrivateBake {
    subnet_id: String,
    /// The user's instance profile, instead of Packer's temporary one.
    instance_profile: Option<String>,
    /// What the build instance's SSM agent needs for a session: the actions of AWS's managed
    /// policy AWSCloud9SSMInstanceProfile ("Create a custom IAM instance profile for Session
    /// Manager", AWS Systems Manager user guide).
    actions: &'static [&'static str],
}

const SESSION_MANAGER_ACTIONS: &[&str] = &[
    "ssm:UpdateInstanceInformation",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
];

/// The user's own bake step: its file in `packer/`, where Packer uploads it, and the path the
/// spec writes.
#[derive(Debug, Serialize)]
struct ProvisionScript {
    file: &'static str,
    uploaded: &'static str,
    written: String,
}

/// The user's bake step in `packer/`, copied as written.
pub(crate) const PROVISION_SCRIPT_FILE: &str = "provision-script.sh";

/// The Amazon CloudWatch agent's package for the image's OS and architecture, at one build.
#[derive(Debug, Serialize)]
struct CloudwatchAgent {
    version: &'static str,
    /// The package's address under AWS's download bucket: `ubuntu/arm64/BUILD/...deb`.
    package_path: String,
    /// `deb` or `rpm`.
    format: &'static str,
    /// With `aws.proxy`: its common configuration under `files/`, and where the agent reads it.
    common_config_file: &'static str,
    common_config: &'static str,
}

/// With `aws.proxy` and the CloudWatch agent: the agent's common configuration, which holds its
/// proxy. No `.toml` under `files/`: it is not gitlab-runner's.
const CLOUDWATCH_COMMON_CONFIG: Output =
    Output::file("packer/files/cloudwatch-common-config.j2", "packer/files/cloudwatch-agent-common-config");

/// The CloudWatch agent build baked with `logs`: 1.300070.0 brought its `journald` input
/// (aws/amazon-cloudwatch-agent RELEASE_NOTES); 1.300071.0b1720 is the newest build seen installed
/// with its signature checked.
const CLOUDWATCH_AGENT_VERSION: &str = "1.300071.0b1720";

/// The worker AMI: what its source and provision script need.
#[derive(Debug, Serialize)]
struct WorkerImage {
    ami_name_prefix: String,
    ami_description: String,
    tags: BTreeMap<String, String>,
    /// The user the managers of docker pools connect as.
    username: &'static str,
    /// The unprivileged user shell jobs run as, when some autoscaler pool runs shell jobs.
    job_user: Option<&'static str>,
    /// The helper image the pinned runner's docker executor looks for on the worker's daemon,
    /// when some autoscaler pool runs docker jobs.
    helper_image: Option<String>,
    /// Whether some autoscaler pool runs shell jobs (the instance executor): their workers need
    /// gitlab-runner and git.
    gitlab_runner: bool,
    /// sshd's MaxSessions for those jobs, when above OpenSSH's default of 10.
    max_sessions: Option<u32>,
}

/// The helper image gitlab-runner's docker executor uses on a Linux daemon of `arch`: the default
/// (alpine) flavour, tagged `<arch>-v<version>` (helpers/container/helperimage/linux_info.go; the
/// arch as the daemon reports it, aarch64 named arm64). The executor looks for exactly this name on
/// the daemon before it transfers or pulls one (`getHelperImage`, executors/docker/docker.go).
fn helper_image(arch: Arch, version: &str) -> String {
    let arch = match arch {
        Arch::X86_64 => "x86_64",
        Arch::Arm64 => "arm64",
    };
    format!("registry.gitlab.com/gitlab-org/gitlab-runner/gitlab-runner-helper:{arch}-v{version}")
}

/// The base image: (OS name, family, apt codename, AMI name pattern, root device).
fn base_image(os: Os, arch: Arch) -> (&'static str, &'static str, &'static str, String, &'static str) {
    let deb_arch = match arch {
        Arch::X86_64 => "amd64",
        Arch::Arm64 => "arm64",
    };
    match os {
        // Canonical: noble on gp3 images, jammy under hvm-ssd/ ("Find Ubuntu images on AWS").
        Os::Ubuntu2204 => (
            "Ubuntu 22.04",
            "ubuntu",
            "jammy",
            format!("ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-{deb_arch}-server-*"),
            "/dev/sda1",
        ),
        Os::Ubuntu2404 => (
            "Ubuntu 24.04",
            "ubuntu",
            "noble",
            format!("ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-{deb_arch}-server-*"),
            "/dev/sda1",
        ),
        // One kernel line, so that a rebuild never moves to another: `al2023-ami-2023.*` also
        // matches the 6.1 and 6.18 images (the minimal images are `al2023-ami-minimal-*`).
        Os::AmazonLinux2023 => (
            "Amazon Linux 2023",
            "amazon-linux",
            "",
            format!("al2023-ami-2023.*-kernel-6.12-{}", arch.name()),
            "/dev/xvda",
        ),
    }
}

/// The account that publishes the base image in a partition, and where that is documented.
fn base_image_owner(os: Os, partition: Partition) -> (&'static str, &'static str) {
    const CANONICAL: &str = "Canonical's \"Find Ubuntu images on AWS\" (canonical/ubuntu-cloud-docs, \
                             aws/aws-how-to/instances/find-ubuntu-images.rst)";
    const AMAZON: &str = "the Amazon Linux publisher accounts of AWS's own EKS AMI build \
                          (awslabs/amazon-eks-ami, Makefile)";
    match (os, partition) {
        (Os::Ubuntu2204 | Os::Ubuntu2404, Partition::Aws) => ("099720109477", CANONICAL),
        (Os::Ubuntu2204 | Os::Ubuntu2404, Partition::AwsUsGov) => ("513442679011", CANONICAL),
        (Os::Ubuntu2204 | Os::Ubuntu2404, Partition::AwsCn) => ("837727238323", CANONICAL),
        (Os::AmazonLinux2023, Partition::Aws) => ("137112412989", AMAZON),
        (Os::AmazonLinux2023, Partition::AwsUsGov) => ("045324592363", AMAZON),
        (Os::AmazonLinux2023, Partition::AwsCn) => ("141808717104", AMAZON),
    }
}

fn context(fleet: &Fleet, image_hash: &str) -> Context {
    let image = &fleet.image;
    let arch = image.arch.name();
    let (os_name, os_family, codename, source_ami_name, root_device) = base_image(image.os, image.arch);
    let partition = fleet.partition();
    let (source_ami_owner, source_ami_owner_source) = base_image_owner(image.os, partition);
    let mut tags = fleet.tags.clone();
    tags.insert(TAG_FLEET.to_owned(), fleet.name.clone());
    tags.insert(AMI_TAG_ARCH.to_owned(), arch.clone());
    tags.insert(AMI_TAG_IMAGE.to_owned(), image_hash.to_owned());
    let worker = fleet.has_workers().then(|| {
        let mut worker_tags = tags.clone();
        worker_tags.insert(AMI_TAG_ROLE.to_owned(), ROLE_WORKER.to_owned());
        let docker = fleet.worker_needs().any(|n| n.docker);
        let sessions = fleet.worker_needs().filter_map(|n| n.shell_sessions).max();
        WorkerImage {
            ami_name_prefix: fleet.worker_ami_name_prefix(),
            ami_description: format!("Autoscaler workers for the runnergen fleet {} ({os_name}, {arch})", fleet.name),
            tags: worker_tags,
            username: image.os.default_user(),
            job_user: sessions.is_some().then_some(crate::model::JOB_USER),
            helper_image: docker.then(|| helper_image(image.arch, &image.runner_version.to_string())),
            gitlab_runner: sessions.is_some(),
            max_sessions: sessions.filter(|n| *n > OPENSSH_MAX_SESSIONS),
        }
    });
    if worker.is_some() {
        tags.insert(AMI_TAG_ROLE.to_owned(), ROLE_RUNNER.to_owned());
    }
    let mut helper_files = vec![HELPERS.register, HELPERS.lifecycle, HELPERS.metrics];
    let mut unit_files =
        vec![UNITS.runner, UNITS.lifecycle, UNITS.metrics_service, UNITS.metrics_timer, UNITS.firewall];
    let mut enabled_units = ENABLED_UNITS.to_vec();
    if worker.is_some() {
        helper_files.extend([HELPERS.gate, HELPERS.manager_settings]);
        unit_files.extend([UNITS.gate, UNITS.manager_settings_service, UNITS.manager_settings_timer]);
        enabled_units.extend([UNITS.gate, UNITS.manager_settings_timer]);
    }
    let register_attempts: u32 = 6;
    let proxy = fleet.proxy.as_ref().map(|p| {
        let no_proxy = fleet.no_proxy().join(",");
        let url = || p.url.clone();
        let variables = vec![
            ("http_proxy", url()),
            ("https_proxy", url()),
            ("no_proxy", no_proxy.clone()),
            ("HTTP_PROXY", url()),
            ("HTTPS_PROXY", url()),
            ("NO_PROXY", no_proxy.clone()),
        ];
        // Ubuntu's SSM agent is a snap, whose unit snapd names (SSM user guide, "Install SSM
        // Agent on Ubuntu Server"); Amazon Linux's is a package's.
        let ssm_agent = match image.os {
            Os::Ubuntu2204 | Os::Ubuntu2404 => "snap.amazon-ssm-agent.amazon-ssm-agent.service",
            Os::AmazonLinux2023 => "amazon-ssm-agent.service",
        };
        let mut runner_units = vec![UNITS.runner, UNITS.lifecycle, UNITS.metrics_service];
        if worker.is_some() {
            runner_units.extend([UNITS.gate, UNITS.manager_settings_service]);
        }
        runner_units.push(ssm_agent);
        ProxySettings {
            variables,
            url: p.url.clone(),
            no_proxy,
            dropin: PROXY_DROPIN,
            runner_units,
            worker_units: vec![ssm_agent],
        }
    });
    let mut daemon = serde_json::json!({ "live-restore": true });
    if let Some(mirror) = &fleet.registries.mirror {
        daemon["registry-mirrors"] = serde_json::json!([mirror]);
    }
    let ecr = (!fleet.registries.ecr.is_empty()).then(|| {
        let mut registries: Vec<String> = fleet.registries.ecr.iter().filter_map(|arn| ecr_registry(arn)).collect();
        registries.sort();
        registries.dedup();
        let helpers: serde_json::Map<String, serde_json::Value> =
            registries.iter().map(|r| (r.clone(), serde_json::Value::from("ecr-login"))).collect();
        EcrCredentials {
            package: "amazon-ecr-credential-helper",
            docker_config: json_lines(&serde_json::json!({ "credHelpers": helpers })),
            registries,
            docker_config_path: RUNNER_DOCKER_CONFIG,
        }
    });
    let worker_uploads = if worker.is_some() {
        [fleet.proxy.as_ref().map(|_| PROXY_DROPIN), fleet.gitlab_ca.as_ref().map(|_| GITLAB_CA.name)]
            .into_iter()
            .flatten()
            .collect()
    } else {
        Vec::new()
    };
    let mut data_files = vec![FIREWALL_RULES];
    if fleet.gitlab_ca.is_some() {
        data_files.push(GITLAB_CA);
    }
    Context {
        fleet: fleet.name.clone(),
        region: fleet.region.clone(),
        partition: partition.name(),
        build_instance_type: image.build_instance_type.clone(),
        ami_name_prefix: fleet.ami_name_prefix(),
        ami_description: format!(
            "GitLab Runner {} for the runnergen fleet {} ({os_name}, {arch})",
            image.runner_version, fleet.name
        ),
        runner_version: image.runner_version.to_string(),
        helper_images_package: image.runner_version.at_least(HELPER_IMAGES_SINCE),
        abort_failure_reason: if image.runner_version.at_least(RUNNER_INTERRUPTED_SINCE) {
            "runner_interrupted"
        } else {
            "runner_system_failure"
        },
        aws_cli_version: image.aws_cli_version.clone(),
        aws_cli_arch: match image.arch {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "aarch64",
        },
        os_name,
        os_family,
        codename,
        ssh_username: image.os.default_user(),
        source_ami_name,
        source_ami_owner,
        source_ami_owner_source,
        root_device,
        arch,
        volume_gb: image.volume_gb,
        volume_type: image.volume_type.name(),
        gp3: image.volume_type == VolumeType::Gp3,
        kms_key_arn: fleet.ebs_kms_key_arn.clone(),
        tags,
        docker: fleet.uses_docker(),
        stop_timeout_seconds: DEFAULT_STOP_TIMEOUT_SECONDS,
        // Six attempts with 5 s doubling backoff (155 s of sleep), each bounded by the network.
        start_timeout_seconds: register_attempts * 60 + 300,
        check_interval_seconds: 3,
        shutdown_timeout_seconds: SHUTDOWN_TIMEOUT_SECONDS,
        spot_grace_seconds: SPOT_GRACE_SECONDS,
        heartbeat_interval_seconds: HEARTBEAT_INTERVAL_SECONDS,
        max_instance_lifetime_seconds: crate::model::MAX_INSTANCE_LIFETIME_SECONDS,
        stop_margin_seconds: STOP_MARGIN_SECONDS,
        metrics_port: METRICS_PORT,
        busy_metric: BUSY_METRIC,
        busy_metric_dimension: BUSY_METRIC_DIMENSION,
        lifecycle_heartbeat: fleet.monitoring.as_ref().map(|_| LifecycleHeartbeat {
            metric: super::monitoring::HEARTBEAT_METRIC,
            dimension: BUSY_METRIC_DIMENSION,
            seconds: super::monitoring::HEARTBEAT_METRIC_SECONDS,
        }),
        settings_path: settings::PATH,
        keys: settings::key_names(),
        units: UNITS,
        runner_service_name: settings::RUNNER_UNIT.trim_end_matches(".service"),
        helpers: HELPERS,
        helpers_dir: HELPERS_DIR,
        upload_dir: UPLOAD_DIR,
        job_user: "gitlab-runner",
        firewall_rules: FIREWALL_RULES,
        helper_files,
        data_files,
        unit_files,
        enabled_units,
        fleeting_plugin: image.fleeting_plugin_version.filter(|_| worker.is_some()).map(|v| format!("aws:{v}")),
        fleeting_plugin_path: FLEETING_PLUGIN_PATH,
        fleeting_plugin_sha256: image.fleeting_plugin_sha256.clone().filter(|_| worker.is_some()),
        autoscaler_config_path: settings::AUTOSCALER_CONFIG,
        manager_settings_path: settings::MANAGER_SETTINGS,
        gate_margin_seconds: GATE_MARGIN_SECONDS,
        runner_template_path: (fleet.cache.is_some() || fleet.queue_seconds().is_some())
            .then_some(settings::RUNNER_TEMPLATE),
        queue_count: fleet.queue_seconds().is_some(),
        cloudwatch_agent: fleet.logs.map(|_| {
            let (os, format) = match image.os {
                Os::Ubuntu2204 | Os::Ubuntu2404 => ("ubuntu", "deb"),
                Os::AmazonLinux2023 => ("amazon_linux", "rpm"),
            };
            let arch = match image.arch {
                Arch::X86_64 => "amd64",
                Arch::Arm64 => "arm64",
            };
            CloudwatchAgent {
                version: CLOUDWATCH_AGENT_VERSION,
                package_path: format!("{os}/{arch}/{CLOUDWATCH_AGENT_VERSION}/amazon-cloudwatch-agent.{format}"),
                format,
                common_config_file: "cloudwatch-agent-common-config",
                common_config: "/opt/aws/amazon-cloudwatch-agent/etc/common-config.toml",
            }
        }),
        worker,
        private_bake: image.build_subnet_id.clone().map(|subnet_id| PrivateBake {
            subnet_id,
            instance_profile: image.build_instance_profile.clone(),
            actions: SESSION_MANAGER_ACTIONS,
        }),
        provision_script: image.provision_script.as_ref().map(|script| ProvisionScript {
            file: PROVISION_SCRIPT_FILE,
            uploaded: "/tmp/runnergen-provision-script.sh",
            written: script.written.clone(),
        }),
        worker_uploads,
        proxy,
        gitlab_ca: fleet.gitlab_ca.as_ref().map(|_| GITLAB_CA),
        registries_mirror: fleet.registries.mirror.clone(),
        daemon_json: json_lines(&daemon),
        ecr,
    }
}

/// The units enabled in the image: the ones user data starts, and the firewall the runner needs.
const ENABLED_UNITS: [&str; 4] =
    [settings::RUNNER_UNIT, settings::LIFECYCLE_UNIT, settings::METRICS_TIMER, UNITS.firewall];

/// OpenSSH's default MaxSessions.
const OPENSSH_MAX_SESSIONS: u32 = 10;

/// The files of the target with autoscaler pools.
const WORKER_OUTPUTS: &[Output] = &[
    Output::script("packer/worker-provision.sh.j2", "packer/worker-provision.sh"),
    Output::script("packer/files/manager-gate.j2", "packer/files/runnergen-manager-gate"),
    Output::file("packer/files/manager-gate.service.j2", "packer/files/runnergen-manager-gate.service"),
    Output::script("packer/files/manager-settings.j2", "packer/files/runnergen-manager-settings"),
    Output::file("packer/files/manager-settings.service.j2", "packer/files/runnergen-manager-settings.service"),
    Output::file("packer/files/manager-settings.timer.j2", "packer/files/runnergen-manager-settings.timer"),
];

/// Every file of the target.
const OUTPUTS: &[Output] = &[
    Output::file("packer/gitlab-runner.pkr.hcl.j2", "packer/gitlab-runner.pkr.hcl"),
    Output::script("packer/gitlab-runner-provision.sh.j2", "packer/gitlab-runner-provision.sh"),
    Output::script("packer/files/register.j2", "packer/files/runnergen-register"),
    Output::script("packer/files/lifecycle.j2", "packer/files/runnergen-lifecycle"),
    Output::script("packer/files/metrics.j2", "packer/files/runnergen-metrics"),
    Output::file("packer/files/runner.service.j2", "packer/files/runnergen-runner.service"),
    Output::file("packer/files/lifecycle.service.j2", "packer/files/runnergen-lifecycle.service"),
    Output::file("packer/files/metrics.service.j2", "packer/files/runnergen-metrics.service"),
    Output::file("packer/files/metrics.timer.j2", "packer/files/runnergen-metrics.timer"),
    Output::file("packer/files/firewall.service.j2", "packer/files/runnergen-firewall.service"),
    Output::file("packer/files/jobs-firewall.nft.j2", "packer/files/jobs-firewall.nft"),
    Output::file("packer/files/aws-cli.asc", "packer/files/aws-cli.asc"),
];

/// With `aws.proxy`: the systemd drop-in that gives a unit the proxy.
const PROXY_OUTPUT: Output = Output::file("packer/files/proxy.conf.j2", "packer/files/runnergen-proxy.conf");

/// Stands for the image hash while the files are rendered: 16 characters, like the hash, so that
/// the template's alignment does not move when the hash takes its place.
const HASH_PLACEHOLDER: &str = "@@image-hash@@@@";

/// Renders `packer/` and returns it with the image-definition hash that the AMI is tagged with.
/// The template's own text holds the hash, so the hash covers it with a placeholder there.
pub fn render(fleet: &Fleet, env: &Environment) -> Result<(Vec<(String, File)>, String), minijinja::Error> {
    let ctx = super::to_value(&context(fleet, HASH_PLACEHOLDER));
    let outputs = OUTPUTS
        .iter()
        .chain(if fleet.has_workers() { WORKER_OUTPUTS } else { &[] })
        .chain(fleet.proxy.as_ref().map(|_| &PROXY_OUTPUT))
        .chain(fleet.proxy.as_ref().and(fleet.logs.as_ref()).map(|_| &CLOUDWATCH_COMMON_CONFIG));
    let mut files = outputs.map(|o| o.render(env, ctx.clone(), "")).collect::<Result<Vec<_>, _>>()?;
    // Copied as written: it is the user's own file, and the image hash covers it like every other.
    if let Some(script) = &fleet.image.provision_script {
        files.push((
            format!("packer/{PROVISION_SCRIPT_FILE}"),
            File { contents: script.text.clone(), executable: true },
        ));
    }
    // The CA file as the spec's file holds it, byte for byte (in the hash like every other file).
    if let Some(ca) = &fleet.gitlab_ca {
        files.push((format!("packer/files/{}", GITLAB_CA.name), File { contents: ca.text.clone(), executable: false }));
    }
    let hash = image_hash(&files, &super::header(fleet));
    for (_, file) in &mut files {
        if file.contents.contains(HASH_PLACEHOLDER) {
            file.contents = file.contents.replace(HASH_PLACEHOLDER, &hash);
        }
    }
    Ok((files, hash))
}

/// 16 hex digits of the SHA-256 of every file (path, execute bit and contents), the generated
/// header taken out: a renamed spec or a new runnergen version alone needs no new image.
fn image_hash(files: &[(String, File)], header: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for (path, file) in files {
        let contents = file.contents.replace(header, "");
        for part in [path.as_bytes(), &[u8::from(file.executable)], contents.as_bytes()] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
    }
    hasher.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_user_data_starts_is_baked_and_enabled() {
        // Each topology's units, in the image that has the topology's pools: the workers' image
        // comes with the managers' units.
        let files = |outputs: &[Output]| -> Vec<&'static str> {
            outputs.iter().filter_map(|o| o.path.strip_prefix("packer/files/")).collect()
        };
        let with_workers = [UNITS.gate, UNITS.manager_settings_timer];
        for (units, baked, enabled) in [
            (crate::topology::instance::START_UNITS, files(OUTPUTS), ENABLED_UNITS.to_vec()),
            (
                crate::topology::autoscaler::START_UNITS,
                files(&[OUTPUTS, WORKER_OUTPUTS].concat()),
                [&ENABLED_UNITS[..], &with_workers[..]].concat(),
            ),
        ] {
            for unit in units {
                assert!(baked.contains(unit), "{unit} is started by user data but not in the image");
                assert!(enabled.contains(unit), "{unit} is started by user data but not enabled");
            }
        }
        let baked = files(OUTPUTS);
        assert!(baked.contains(&UNITS.firewall) && baked.contains(&UNITS.metrics_service));
    }

    #[test]
    fn an_ecr_repository_names_its_registry_host_in_its_partition() {
        let host = |arn: &str| ecr_registry(arn).expect("a registry");
        assert_eq!(
            host("arn:aws:ecr:eu-central-1:123456789012:repository/*"),
            "123456789012.dkr.ecr.eu-central-1.amazonaws.com"
        );
        assert_eq!(
            host("arn:aws-us-gov:ecr:us-gov-west-1:210987654321:repository/a/b"),
            "210987654321.dkr.ecr.us-gov-west-1.amazonaws.com"
        );
        assert_eq!(
            host("arn:aws-cn:ecr:cn-north-1:123456789012:repository/ci*"),
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(ecr_registry("arn:aws:ecr"), None);
    }

    #[test]
    fn the_hash_ignores_the_header_and_sees_everything_else() {
        let file = |c: &str, x: bool| File { contents: c.to_owned(), executable: x };
        let a = vec![("p".to_owned(), file("# HEAD\nx\n", false))];
        assert_eq!(image_hash(&a, "HEAD"), image_hash(&[("p".to_owned(), file("# OTHER\nx\n", false))], "OTHER"));
        assert_ne!(image_hash(&a, "HEAD"), image_hash(&[("p".to_owned(), file("# HEAD\ny\n", false))], "HEAD"));
        assert_ne!(image_hash(&a, "HEAD"), image_hash(&[("p".to_owned(), file("# HEAD\nx\n", true))], "HEAD"));
        assert_ne!(image_hash(&a, "HEAD"), image_hash(&[("q".to_owned(), file("# HEAD\nx\n", false))], "HEAD"));
        assert_eq!(image_hash(&a, "HEAD").len(), 16);
    }
}
