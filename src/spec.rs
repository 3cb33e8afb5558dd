//! What the user wrote: the fleet spec, version 1, exactly as `schemas/fleet.schema.json`
//! describes it. Optional keys stay `Option` here; `resolve` applies every default once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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

impl Spelled for Topology {
    fn as_str(self) -> &'static str {
        match self {
            Topology::Instance => "instance",
            Topology::Autoscaler => "autoscaler",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub version: u32,
    pub name: String,
    pub aws: Aws,
    pub gitlab: Gitlab,
    pub image: Image,
    pub pools: Vec<Pool>,
    pub cache: Option<Cache>,
    pub logs: Option<Logs>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cache {
    /// `create`, or an existing bucket's name.
    pub bucket: String,
    pub expiration_days: Option<u32>,
    pub shared: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logs {
    pub retention_days: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Aws {
    pub region: String,
    pub vpc_id: String,
    pub subnet_ids: Vec<String>,
    pub tags: Option<BTreeMap<String, String>>,
    pub ebs_kms_key_arn: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gitlab {
    pub url: String,
    pub runners: Option<RunnerMode>,
}

/// Who creates each pool's runner in GitLab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunnerMode {
    /// The user, by hand: the token is already in SSM.
    External,
    /// runnergen's Terraform, with the gitlabhq/gitlab provider.
    Terraform,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runner {
    pub scope: Option<Scope>,
    pub group_id: Option<u64>,
    pub project_id: Option<u64>,
    pub description: Option<String>,
    pub tags: Option<Vec<String>>,
    pub run_untagged: Option<bool>,
    pub locked: Option<bool>,
    pub protected: Option<bool>,
    pub maximum_timeout: Option<u32>,
    pub paused: Option<bool>,
}

/// Where a runner belongs in GitLab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Instance,
    Group,
    Project,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    pub os: Os,
    pub arch: Arch,
    pub runner_version: Version,
    pub aws_cli_version: Option<String>,
    pub fleeting_plugin_version: Option<Version>,
    pub fleeting_plugin_sha256: Option<String>,
    pub build_instance_type: Option<String>,
    pub volume_gb: Option<u32>,
    pub volume_type: Option<VolumeType>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum Os {
    #[serde(rename = "ubuntu-22.04")]
    Ubuntu2204,
    #[serde(rename = "ubuntu-24.04")]
    Ubuntu2404,
    #[serde(rename = "amazon-linux-2023")]
    AmazonLinux2023,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    #[serde(rename = "x86_64")]
    X86_64,
    Arm64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    pub name: String,
    pub topology: Option<Topology>,
    pub executor: Executor,
    /// Instance pools only (shaping refuses them on autoscaler pools, and puts a placeholder
    /// where an instance pool lacks one).
    pub instance_types: Option<Vec<String>>,
    pub spot: Option<bool>,
    pub capacity: Option<Capacity>,
    pub concurrent: Option<u32>,
    pub token_parameter: String,
    pub job_timeout_minutes: Option<u32>,
    pub volume_gb: Option<u32>,
    pub docker: Option<Docker>,
    pub scaling: Option<Scaling>,
    pub schedule: Option<Schedule>,
    /// Autoscaler pools only.
    pub manager: Option<Manager>,
    pub workers: Option<Workers>,
    pub idle: Option<Idle>,
    /// With `gitlab.runners: terraform` only.
    pub runner: Option<Runner>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Topology {
    /// Each instance of the pool's group is a runner.
    Instance,
    /// A manager instance runs the docker-autoscaler (or instance) executor, which starts a
    /// worker instance per job in a group of its own.
    Autoscaler,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manager {
    pub instance_type: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workers {
    pub instance_types: Vec<String>,
    pub spot: Option<bool>,
    pub max_instances: u32,
    pub capacity_per_instance: Option<u32>,
    pub max_use_count: Option<u32>,
    pub shared: Option<bool>,
    pub volume_gb: Option<u32>,
}

/// Warm job slots: how many, and how long an unused worker lives.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Idle {
    pub count: u32,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Executor {
    Docker,
    Shell,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capacity {
    pub min: u32,
    pub max: u32,
    pub desired: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Docker {
    pub image: Option<String>,
    pub privileged: Option<bool>,
    pub allowed_privileged_images: Option<Vec<String>>,
    pub allowed_privileged_services: Option<Vec<String>>,
    pub pull_policy: Option<PullPolicy>,
    pub volumes: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scaling {
    pub busy_percent: Option<u32>,
    pub cpu_percent: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    pub time_zone: Option<String>,
    pub windows: Vec<Window>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub days: Days,
    pub from: ClockTime,
    pub to: ClockTime,
    /// An instance pool's window.
    pub capacity: Option<Capacity>,
    /// An autoscaler pool's window.
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
    pub fn next(self) -> Self {
        Self::ALL[(self.index() + 1) % 7]
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

#[cfg(test)]
mod tests {
    use super::*;

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
        check(&[Topology::Instance, Topology::Autoscaler]);
    }
}
