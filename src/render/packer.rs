//! Stage 4, Packer target: the runner AMI's template (`packer/gitlab-runner.pkr.hcl`), its
//! provision script and, under `packer/files/`, the systemd units and helper scripts that run the
//! runner's lifecycle on each instance. Reads only the resolved [`Fleet`], through its own
//! template context (`Context`).

use std::collections::BTreeMap;

use minijinja::Environment;
use serde::Serialize;

use super::File;
use crate::model::{AMI_TAG_ARCH, AMI_TAG_FLEET, Arch, BUSY_METRIC, BUSY_METRIC_DIMENSION, Fleet, Os, VolumeType};
use crate::settings;

/// Where the file provisioner puts `files/` on the build instance (it uploads the folder into
/// `/tmp`), and where the provision script reads it from.
const UPLOAD_DIR: &str = "/tmp/files";
/// Where the helpers live on the instance; the units name them by absolute path.
const HELPERS_DIR: &str = "/usr/local/lib/runnergen";
/// The runner's Prometheus endpoint, on 127.0.0.1 only.
const METRICS_PORT: u16 = 9252;
/// The first gitlab-runner release whose package needs `gitlab-runner-helper-images` beside it.
const HELPER_IMAGES_SINCE: (u32, u32) = (17, 7);

/// The helper scripts, by role: file name under `files/` and in [`HELPERS_DIR`].
#[derive(Debug, Serialize)]
struct Helpers {
    register: &'static str,
    unregister: &'static str,
    lifecycle: &'static str,
    metrics: &'static str,
}

const HELPERS: Helpers = Helpers {
    register: "runnergen-register",
    unregister: "runnergen-unregister",
    lifecycle: "runnergen-lifecycle",
    metrics: "runnergen-metrics",
};

/// The unit names, from the settings contract (user data starts the first three).
#[derive(Debug, Serialize)]
struct Units {
    runner: &'static str,
    lifecycle: &'static str,
    metrics_timer: &'static str,
    /// The oneshot service the timer starts.
    metrics_service: &'static str,
}

/// Everything the Packer templates see. Every string is raw; templates escape it with the filter
/// of the language it lands in (`hcl`, `sh`, `systemd`).
#[derive(Debug, Serialize)]
struct Context {
    /// Fleet name.
    fleet: String,
    /// AWS region the AMI is built and registered in.
    region: String,
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
    /// Account that publishes the base image.
    source_ami_owner: &'static str,
    /// Root device name of the base image.
    root_device: &'static str,
    /// EC2 architecture name: `x86_64` or `arm64`.
    arch: &'static str,
    /// Root volume size in GiB.
    volume_gb: u32,
    /// `gp3` or `gp2`.
    volume_type: &'static str,
    /// Whether the root volume is gp3 (gets its baseline iops and throughput spelled out).
    gp3: bool,
    /// The AMI's tags: the fleet's, plus the AMI_TAG_FLEET and AMI_TAG_ARCH lookup tags. Sorted.
    tags: BTreeMap<String, String>,
    /// Whether some pool uses the docker executor: Docker is installed only then.
    docker: bool,
    /// The runner unit's TimeoutStopSec: the longest job of any pool plus the stop margin.
    stop_timeout_seconds: u32,
    /// The runner unit's TimeoutStartSec: covers every registration attempt and its backoff.
    start_timeout_seconds: u32,
    /// config.toml `check_interval`.
    check_interval_seconds: u32,
    /// config.toml `shutdown_timeout` (the forced shutdown's timeout; SIGQUIT drains without one).
    shutdown_timeout_seconds: u32,
    /// Port of the runner's Prometheus endpoint on 127.0.0.1.
    metrics_port: u16,
    /// Name of the busy-slot metric.
    busy_metric: &'static str,
    /// Its single dimension's name (the value is the pool's group name).
    busy_metric_dimension: &'static str,
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
    /// Helper file names under `files/`, for the provision script.
    helper_files: Vec<&'static str>,
    /// Unit file names under `files/`, for the provision script.
    unit_files: Vec<&'static str>,
    /// Units enabled in the image and started by user data.
    start_units: &'static [&'static str],
}

fn context(fleet: &Fleet) -> Context {
    let image = &fleet.image;
    let arch = image.arch.name();
    let deb_arch = match image.arch {
        Arch::X86_64 => "amd64",
        Arch::Arm64 => "arm64",
    };
    // Canonical publishes Ubuntu under 099720109477 (noble on gp3 images, jammy under hvm-ssd/);
    // Amazon publishes AL2023 under 137112412989, `al2023-ami-2023.*-kernel-6.*-{arch}` (the
    // minimal images are `al2023-ami-minimal-*` and do not match).
    let (os_name, os_family, codename, ssh_username, source_ami_name, source_ami_owner, root_device) = match image.os {
        Os::Ubuntu2204 => (
            "Ubuntu 22.04",
            "ubuntu",
            "jammy",
            "ubuntu",
            format!("ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-{deb_arch}-server-*"),
            "099720109477",
            "/dev/sda1",
        ),
        Os::Ubuntu2404 => (
            "Ubuntu 24.04",
            "ubuntu",
            "noble",
            "ubuntu",
            format!("ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-{deb_arch}-server-*"),
            "099720109477",
            "/dev/sda1",
        ),
        Os::AmazonLinux2023 => (
            "Amazon Linux 2023",
            "amazon-linux",
            "",
            "ec2-user",
            format!("al2023-ami-2023.*-kernel-6.*-{arch}"),
            "137112412989",
            "/dev/xvda",
        ),
    };
    let mut tags = fleet.tags.clone();
    tags.insert(AMI_TAG_FLEET.to_owned(), fleet.name.clone());
    tags.insert(AMI_TAG_ARCH.to_owned(), arch.to_owned());
    let register_attempts: u32 = 6;
    Context {
        fleet: fleet.name.clone(),
        region: fleet.region.clone(),
        build_instance_type: image.build_instance_type.clone(),
        ami_name_prefix: crate::model::ami_name_prefix(&fleet.name, &image.runner_version),
        ami_description: format!(
            "GitLab Runner {} for the runnergen fleet {} ({os_name}, {arch})",
            image.runner_version, fleet.name
        ),
        runner_version: image.runner_version.clone(),
        helper_images_package: version_at_least(&image.runner_version, HELPER_IMAGES_SINCE),
        os_name,
        os_family,
        codename,
        ssh_username,
        source_ami_name,
        source_ami_owner,
        root_device,
        arch,
        volume_gb: image.volume_gb,
        volume_type: image.volume_type.name(),
        gp3: image.volume_type == VolumeType::Gp3,
        tags,
        docker: fleet.uses_docker(),
        stop_timeout_seconds: fleet.stop_timeout_seconds(),
        // Six attempts with 5 s doubling backoff (155 s of sleep), each bounded by the network.
        start_timeout_seconds: register_attempts * 60 + 300,
        check_interval_seconds: 3,
        shutdown_timeout_seconds: 30,
        metrics_port: METRICS_PORT,
        busy_metric: BUSY_METRIC,
        busy_metric_dimension: BUSY_METRIC_DIMENSION,
        settings_path: settings::PATH,
        keys: settings::key_names(),
        units: Units {
            runner: settings::RUNNER_UNIT,
            lifecycle: settings::LIFECYCLE_UNIT,
            metrics_timer: settings::METRICS_TIMER,
            metrics_service: METRICS_SERVICE,
        },
        runner_service_name: settings::RUNNER_UNIT.trim_end_matches(".service"),
        helpers: HELPERS,
        helpers_dir: HELPERS_DIR,
        upload_dir: UPLOAD_DIR,
        helper_files: vec![HELPERS.register, HELPERS.unregister, HELPERS.lifecycle, HELPERS.metrics],
        unit_files: UNIT_FILES.to_vec(),
        start_units: settings::START_UNITS,
    }
}

/// The oneshot service [`settings::METRICS_TIMER`] starts.
const METRICS_SERVICE: &str = "runnergen-metrics.service";

/// Every unit baked into the image, by file name under `files/`.
const UNIT_FILES: [&str; 4] =
    [settings::RUNNER_UNIT, settings::LIFECYCLE_UNIT, METRICS_SERVICE, settings::METRICS_TIMER];

/// Whether a `MAJOR.MINOR.PATCH` version is at least `MAJOR.MINOR`.
fn version_at_least(version: &str, (major, minor): (u32, u32)) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    found >= (major, minor)
}

/// Template id (under `templates/`), output path (under the output folder), executable.
const OUTPUTS: &[(&str, &str, bool)] = &[
    ("packer/gitlab-runner.pkr.hcl.j2", "packer/gitlab-runner.pkr.hcl", false),
    ("packer/gitlab-runner-provision.sh.j2", "packer/gitlab-runner-provision.sh", true),
];

pub fn render(fleet: &Fleet, env: &Environment) -> Result<Vec<(String, File)>, minijinja::Error> {
    let ctx = context(fleet);
    let mut outputs: Vec<(&str, String, bool)> =
        OUTPUTS.iter().map(|(id, path, exec)| (*id, (*path).to_owned(), *exec)).collect();
    let files = |name: &str| format!("packer/files/{name}");
    outputs.extend([
        ("packer/files/register.j2", files(HELPERS.register), true),
        ("packer/files/unregister.j2", files(HELPERS.unregister), true),
        ("packer/files/lifecycle.j2", files(HELPERS.lifecycle), true),
        ("packer/files/metrics.j2", files(HELPERS.metrics), true),
        ("packer/files/runner.service.j2", files(settings::RUNNER_UNIT), false),
        ("packer/files/lifecycle.service.j2", files(settings::LIFECYCLE_UNIT), false),
        ("packer/files/metrics.service.j2", files(METRICS_SERVICE), false),
        ("packer/files/metrics.timer.j2", files(settings::METRICS_TIMER), false),
    ]);
    let ctx = minijinja::Value::from(minijinja::value::Serde(&ctx));
    let mut plan = Vec::with_capacity(outputs.len());
    for (id, path, executable) in outputs {
        let mut contents = env.get_template(id)?.render(ctx.clone())?;
        if path.ends_with(".hcl") {
            contents = super::canonical_hcl(&contents);
        }
        plan.push((path, File { contents, executable }));
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_by_major_and_minor() {
        assert!(version_at_least("17.7.0", (17, 7)));
        assert!(version_at_least("19.3.0", (17, 7)));
        assert!(!version_at_least("17.6.9", (17, 7)));
        assert!(!version_at_least("16.11.0", (17, 7)));
    }

    #[test]
    fn every_unit_user_data_starts_is_baked() {
        for unit in settings::START_UNITS {
            assert!(UNIT_FILES.contains(unit), "{unit} is started by user data but not in the image");
        }
    }
}
