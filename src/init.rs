//! `runnergen init`: a commented starting spec from a few answers. It is checked like any spec
//! before anything is written, and an existing file is never overwritten.

use std::io::Write as _;
use std::path::Path;

use crate::Error;

/// What `init` asks for.
pub struct Answers {
    pub name: String,
    pub region: String,
    pub vpc_id: String,
    pub subnet_ids: Vec<String>,
    pub gitlab_url: String,
    pub time_zone: String,
}

/// The starting spec: a spot docker pool of several instance types that keeps one instance up
/// at all times and more in office hours (so no job waits for a window), in the given time zone.
/// Every answer is written as a YAML double-quoted string (JSON's, which YAML 1.2 reads the
/// same), so no answer can become YAML structure.
pub fn spec_text(a: &Answers) -> String {
    let q = |s: &str| serde_json::Value::from(s).to_string();
    let subnets = a.subnet_ids.iter().map(|s| q(s)).collect::<Vec<_>>().join(", ");
    format!(
        r#"# A runnergen fleet spec, written by `runnergen init`. Every key is documented in runnergen's
# docs/spec.md; `runnergen schema > fleet.schema.json` gives editors its JSON Schema.
# Check it with `runnergen validate`, then `runnergen render` prints what to do next.
version: 1
# The fleet's name prefixes every AWS resource and the AMI.
name: {name}
aws:
  region: {region}
  vpc_id: {vpc}
  # Private subnets, with a NAT gateway or VPC endpoints: instances get no public address.
  subnet_ids: [{subnets}]
gitlab:
  url: {url}
  # runners: terraform           # to have runnergen's Terraform create the runners in GitLab
image:                           # the one AMI Packer bakes for every pool
  os: ubuntu-24.04               # ubuntu-22.04 | ubuntu-24.04 | amazon-linux-2023
  arch: x86_64                   # x86_64 | arm64 (Graviton: then m7g.large and the like below)
  runner_version: 19.3.0         # the exact gitlab-runner version baked in
pools:
  - name: docker
    executor: docker             # docker | shell
    # Several types of similar size: spot capacity is found in more pools, as AWS advises.
    instance_types: [m7i.large, m6i.large, m6a.large, m5.large]
    spot: true                   # jobs may be interrupted: give them `retry:` (docs/routing.md)
    # Outside the windows below. With min 0 the pool sleeps, and GitLab drops the jobs that
    # wait for it too long: keep one instance, or use `topology: autoscaler` (docs/autoscaler.md).
    capacity: {{min: 1, max: 4}}
    concurrent: 4                # jobs per instance
    job_timeout_minutes: 60      # the runner's maximum job timeout in GitLab must not be longer
    # The SSM SecureString that holds the runner's glrt- token (`runnergen render` says how).
    token_parameter: {parameter}
    runner: {{tags: [docker], run_untagged: true}}  # what to set on the runner you create in GitLab
    docker: {{image: "alpine:3.20"}}               # default image of jobs without `image:`
    scaling: {{busy_percent: 70}}  # add instances when 70 % of the job slots are busy
    schedule:
      time_zone: {zone}
      windows:                   # office hours: more capacity
        - {{days: MON-FRI, from: "08:00", to: "18:00", capacity: {{min: 2, max: 10, desired: 2}}}}
"#,
        name = q(&a.name),
        parameter = q(&format!("/{}/docker/runner-token", a.name)),
        region = q(&a.region),
        vpc = q(&a.vpc_id),
        url = q(&a.gitlab_url),
        zone = q(&a.time_zone),
    )
}

/// Checks the starting spec as `validate` would, then writes it to `path`, which must not exist.
pub fn init(path: &Path, answers: &Answers) -> Result<(), Error> {
    let shown = crate::diagnostic::printable(&path.display().to_string());
    let text = spec_text(answers);
    let source = crate::load::parse(shown.clone(), text.clone())?;
    crate::check(&source, &crate::quote::safe_name(&shown))?;
    let write_error = |source: std::io::Error| match source.kind() {
        std::io::ErrorKind::AlreadyExists => Error::Exists { path: shown.clone() },
        _ => Error::Write { path: shown.clone(), source },
    };
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(path).map_err(write_error)?;
    file.write_all(text.as_bytes()).map_err(write_error)
}
