//! The runner's lifecycle helpers, run on this machine as rendered, against stand-ins for
//! gitlab-runner, systemctl, the AWS CLI and the instance metadata service (tests/standins/).
//! `aws_emulator.rs` runs the same helpers with the real AWS CLI against a local AWS emulator.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::common;

pub const TOKEN: &str = "glrt-standin-secret-0123456789";
pub const INSTANCE_ID: &str = "i-0123456789abcdef0";

pub fn example(name: &str) -> PathBuf {
    common::root().join("examples").join(name).join("fleet.yaml")
}

/// Which AWS CLI the helpers call.
pub enum Aws {
    /// tests/standins/aws, which records its command lines.
    StandIn,
    /// The real AWS CLI, with this environment (endpoints of a local emulator, credentials).
    Real(Vec<(String, String)>),
}

/// One helper run's world: the rendered helpers, a settings file for one pool of an example, a
/// config dir, stand-ins first on PATH, a call log and a fake metadata service.
pub struct World {
    dir: tempfile::TempDir,
    files: PathBuf,
    imds: Child,
    port: u16,
    aws_env: Vec<(String, String)>,
    pub fleet: runnergen::Fleet,
    pub pool: usize,
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = self.imds.kill();
        let _ = self.imds.wait();
    }
}

impl World {
    pub fn new(example_name: &str, pool: usize) -> World {
        World::with(&example(example_name), pool, Aws::StandIn)
    }

    pub fn with(spec: &Path, pool: usize, aws: Aws) -> World {
        // The helpers call curl (the metadata service, the metrics endpoint), awk, timeout and env.
        for tool in ["curl", "awk", "timeout", "env"] {
            let _ = common::tool_path(tool);
        }
        let fleet = runnergen::load_spec(spec).map(|l| l.fleet).unwrap_or_else(|e| panic!("{}", e.render(false)));
        let dir = common::render_to_temp(spec);
        let files = dir.path().join("packer/files");
        let world_dir = dir.path();
        for sub in ["bin", "config", "imds/latest/meta-data/autoscaling", "standin", "run"] {
            std::fs::create_dir_all(world_dir.join(sub)).expect("mkdir");
        }
        let mut standins = vec!["gitlab-runner", "systemctl"];
        let aws_env = match aws {
            Aws::StandIn => {
                standins.push("aws");
                Vec::new()
            }
            Aws::Real(env) => env,
        };
        for tool in standins {
            std::fs::copy(common::root().join("tests/standins").join(tool), world_dir.join("bin").join(tool))
                .expect("copy stand-in");
        }
        let settings = runnergen::settings::render(&runnergen::settings::for_pool(&fleet, &fleet.pools[pool]));
        std::fs::write(world_dir.join("runner.env"), settings).expect("write settings");
        // A manager's autoscaler settings, as its user data writes them.
        if let Some(toml) = runnergen::render::runner_template::render(&fleet, &fleet.pools[pool]).expect("renders") {
            std::fs::write(world_dir.join("autoscaler.toml"), toml).expect("write the runner template");
        }
        // A manager's live settings, in their SSM parameter.
        if let Some(toml) = runnergen::render::runner_template::live(&fleet, &fleet.pools[pool]).expect("renders") {
            std::fs::write(world_dir.join("standin/manager-settings"), toml).expect("write the live settings");
        }
        std::fs::write(world_dir.join("standin/token"), format!("{TOKEN}\n")).expect("write token");
        // Up for an hour (/proc/uptime: seconds up, seconds idle).
        std::fs::write(world_dir.join("uptime"), "3600.00 1800.00\n").expect("write uptime");
        std::fs::write(world_dir.join("imds/latest/meta-data/instance-id"), INSTANCE_ID).expect("write");
        std::fs::write(world_dir.join("imds/latest/meta-data/autoscaling/target-lifecycle-state"), "InService")
            .expect("write");
        let mut imds = common::tool("python3")
            .arg(common::root().join("tests/standins/imds.py"))
            .arg(world_dir.join("imds"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("the fake metadata service starts");
        let mut line = String::new();
        BufReader::new(imds.stdout.take().expect("stdout")).read_line(&mut line).expect("its port");
        let port = line.trim().parse().expect("a port");
        World { dir, files, imds, port, aws_env, fleet, pool }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn set(&self, rel: &str, contents: &str) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, contents).expect("write");
    }

    pub fn lifecycle_state(&self, state: &str) {
        self.set("imds/latest/meta-data/autoscaling/target-lifecycle-state", state);
    }

    /// Runs a helper; returns (success, stdout + stderr).
    pub fn run(&self, helper: &str, env: &[(&str, &str)]) -> (bool, String) {
        let out = self.command(helper, env).output().expect("the helper runs");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!text.contains(TOKEN), "{helper} printed the token:\n{text}");
        (out.status.success(), text)
    }

    /// A helper's command line, with the world's environment and then `env`.
    pub fn command(&self, helper: &str, env: &[(&str, &str)]) -> Command {
        let path = format!("{}:{}", self.path("bin").display(), std::env::var("PATH").unwrap_or_default());
        let mut cmd = Command::new(self.files.join(helper));
        cmd.env("PATH", path)
            .env("RUNNERGEN_TEST_SETTINGS_FILE", self.path("runner.env"))
            .env("RUNNERGEN_TEST_CONFIG_DIR", self.path("config"))
            .env("RUNNERGEN_TEST_AUTOSCALER_CONFIG", self.path("autoscaler.toml"))
            .env("RUNNERGEN_TEST_RUNNER_TEMPLATE", self.path("autoscaler.toml"))
            .env("RUNNERGEN_TEST_RUN_DIR", self.path("run"))
            .env("RUNNERGEN_TEST_MANAGER_SETTINGS", self.path("manager-settings.toml"))
            .env("RUNNERGEN_TEST_UPTIME_FILE", self.path("uptime"))
            .env("RUNNERGEN_TEST_IMDS_URL", format!("http://127.0.0.1:{}", self.port))
            .env("RUNNERGEN_TEST_METRICS_URL", format!("http://127.0.0.1:{}/metrics", self.port))
            .env("RUNNERGEN_TEST_RETRY_DELAY_SECONDS", "0")
            .env("RUNNERGEN_TEST_POLL_SECONDS", "0")
            .env("STANDIN_LOG", self.path("calls.log"))
            .env("STANDIN_DIR", self.path("standin"))
            .env("STANDIN_EXPECTED_TOKEN", TOKEN)
            .env_remove("CI_SERVER_TOKEN");
        for (k, v) in &self.aws_env {
            cmd.env(k, v);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn calls(&self) -> Vec<String> {
        let log = std::fs::read_to_string(self.path("calls.log")).unwrap_or_default();
        assert!(!log.contains(TOKEN), "the token reached a command line:\n{log}");
        log.lines().map(str::to_owned).collect()
    }

    pub fn config(&self) -> String {
        std::fs::read_to_string(self.path("config/config.toml")).unwrap_or_default()
    }
}

pub fn count(calls: &[String], prefix: &str) -> usize {
    calls.iter().filter(|c| c.starts_with(prefix)).count()
}

pub fn position(calls: &[String], prefix: &str) -> usize {
    calls.iter().position(|c| c.starts_with(prefix)).unwrap_or_else(|| panic!("no `{prefix}` in {calls:#?}"))
}

#[test]
fn registering_twice_registers_once_without_showing_the_token() {
    let world = World::new("multi-pool", 0);
    let (ok, first) = world.run("runnergen-register", &[]);
    assert!(ok, "{first}");
    assert!(first.contains("[token]"), "the stand-in's echo of the token was not filtered:\n{first}");
    let (ok, second) = world.run("runnergen-register", &[]);
    assert!(ok, "{second}");
    assert!(second.contains("already registered"), "{second}");

    let calls = world.calls();
    assert_eq!(count(&calls, "gitlab-runner register"), 1, "{calls:#?}");
    assert_eq!(count(&calls, "gitlab-runner saw the token in CI_SERVER_TOKEN"), 1, "{calls:#?}");
    assert_eq!(count(&calls, "aws ssm get-parameter"), 1, "{calls:#?}");
    let ssm = &calls[position(&calls, "aws ssm get-parameter")];
    assert!(ssm.contains("--name /acme-ci/docker/runner-token --with-decryption"), "{ssm}");
    assert!(ssm.contains("--region eu-central-1"), "{ssm}");
    let register = &calls[position(&calls, "gitlab-runner register")];
    for arg in [
        "--non-interactive",
        "--url https://gitlab.example.com",
        "--name acme-ci-docker-i-0123456789abcdef0",
        "--executor docker",
        "--limit 4",
        // Instances share the token: none may rotate it away from the others.
        "--feature-flags FF_DISABLE_AUTOMATIC_TOKEN_ROTATION:true",
        "--docker-image alpine:3.20",
        "--docker-pull-policy always",
        "--docker-volumes /cache",
        // The pool's [runners.cache], written by user data.
        &format!("--template-config {}", world.path("autoscaler.toml").display()),
    ] {
        assert!(register.contains(arg), "{arg} missing: {register}");
    }
    assert!(!register.contains("--docker-privileged"), "{register}");

    let config = world.config();
    assert_eq!(config.matches("[[runners]]").count(), 1, "{config}");
    assert!(config.contains("concurrent = 4\n"), "{config}");
    assert!(config.contains("shutdown_timeout = 60\n"), "{config}");
    assert!(config.contains("listen_address = \"127.0.0.1:9252\"\n"), "{config}");
}

#[test]
fn a_failing_registration_retries_then_fails_visibly() {
    let world = World::new("multi-pool", 1);
    world.set("standin/register-failures", "2");
    let (ok, out) = world.run("runnergen-register", &[]);
    assert!(ok, "{out}");
    let calls = world.calls();
    assert_eq!(count(&calls, "gitlab-runner register"), 3, "{calls:#?}");
    let register = &calls[position(&calls, "gitlab-runner register")];
    assert!(register.contains("--executor shell") && !register.contains("--docker"), "{register}");

    let world = World::new("multi-pool", 1);
    world.set("standin/register-failures", "99");
    let (ok, out) = world.run("runnergen-register", &[("RUNNERGEN_TEST_REGISTER_ATTEMPTS", "3")]);
    assert!(!ok, "registration failed, the hook must fail:\n{out}");
    assert!(out.contains("registration failed 3 times"), "{out}");
    assert_eq!(count(&world.calls(), "gitlab-runner register"), 3);
    assert!(!world.config().contains("[[runners]]"));
}

#[test]
fn a_token_that_is_not_a_runner_authentication_token_is_refused() {
    let world = World::new("minimal", 0);
    world.set("standin/token", "GR1348941-registration-token\n");
    let (ok, out) = world.run("runnergen-register", &[]);
    assert!(!ok, "{out}");
    assert!(!out.contains("GR1348941"), "{out}");
    assert_eq!(count(&world.calls(), "gitlab-runner register"), 0);
}

#[test]
fn a_terminating_instance_drains_with_heartbeats_unregisters_then_completes() {
    let world = World::new("multi-pool", 0);
    let (ok, out) = world.run("runnergen-register", &[]);
    assert!(ok, "{out}");
    world.lifecycle_state("Terminated");
    // The runner's jobs take 6 polls to finish; a heartbeat is due every 2 (polls count as seconds
    // when a poll takes 0 s).
    world.set("standin/drain-polls", "6");
    let (ok, out) = world
        .run("runnergen-lifecycle", &[("RUNNERGEN_TEST_MAX_POLLS", "3"), ("RUNNERGEN_TEST_HEARTBEAT_SECONDS", "2")]);
    assert!(ok, "{out}");

    let calls = world.calls();
    let timer = position(&calls, "systemctl stop --no-block runnergen-metrics.timer");
    let drain = position(&calls, "systemctl stop --no-block runnergen-runner.service");
    let heartbeat = position(&calls, "aws autoscaling record-lifecycle-action-heartbeat");
    let unregister = position(&calls, "gitlab-runner unregister");
    let complete = position(&calls, "aws autoscaling complete-lifecycle-action");
    assert!(timer < drain && drain < heartbeat && heartbeat < unregister && unregister < complete, "{calls:#?}");
    let heartbeats = count(&calls, "aws autoscaling record-lifecycle-action-heartbeat");
    assert!((2..=4).contains(&heartbeats), "{heartbeats} heartbeats for a 6-poll drain: {calls:#?}");
    assert_eq!(count(&calls, "aws autoscaling complete-lifecycle-action"), 1, "{calls:#?}");
    for call in [&calls[heartbeat], &calls[complete]] {
        for arg in [
            "--region eu-central-1",
            "--auto-scaling-group-name acme-ci-docker",
            "--lifecycle-hook-name acme-ci-docker-drain",
            "--instance-id i-0123456789abcdef0",
        ] {
            assert!(call.contains(arg), "{arg} missing: {call}");
        }
    }
    assert!(calls[complete].ends_with("--lifecycle-action-result CONTINUE"), "{}", calls[complete]);
    assert!(!calls.iter().any(|c| c.contains("kill")), "a drain never aborts jobs: {calls:#?}");
    assert!(!calls[unregister].contains("--token"), "{}", calls[unregister]);
    assert!(!world.config().contains("[[runners]]"), "still registered: {}", world.config());
    assert!(world.path("run/leaving").exists(), "the instance is not marked as leaving");
    let requests = std::fs::read_to_string(world.path("imds/requests.log")).expect("requests");
    assert!(requests.contains("PUT /latest/api/token"), "IMDSv2 needs a session token first:\n{requests}");
}

#[test]
fn an_instance_in_service_is_left_alone() {
    let world = World::new("multi-pool", 0);
    let (ok, out) = world.run("runnergen-register", &[]);
    assert!(ok, "{out}");
    let before = world.calls().len();
    let (ok, out) = world.run("runnergen-lifecycle", &[("RUNNERGEN_TEST_MAX_POLLS", "3")]);
    assert!(ok, "{out}");
    assert_eq!(world.calls().len(), before, "{:#?}", world.calls());
    assert!(!world.path("run/leaving").exists());
    assert!(world.config().contains("[[runners]]"));
}

#[test]
fn a_spot_notice_stops_new_jobs_aborts_the_rest_in_time_and_unregisters() {
    let world = World::new("multi-pool", 0);
    let (ok, out) = world.run("runnergen-register", &[]);
    assert!(ok, "{out}");
    // A job that would outlast the two minutes.
    world.set("standin/drain-polls", "stuck");
    world.set("imds/latest/meta-data/spot/instance-action", r#"{"action":"terminate","time":"2026-11-28T13:00:00Z"}"#);
    // Polls to spare: on a loaded machine one read of the metadata stand-in may pass its 2 s
    // bound, and the watcher reads the notice again at its next poll, as on an instance.
    let (ok, out) = world
        .run("runnergen-lifecycle", &[("RUNNERGEN_TEST_MAX_POLLS", "20"), ("RUNNERGEN_TEST_SPOT_GRACE_SECONDS", "4")]);
    assert!(ok, "{out}");
    let calls = world.calls();
    let quit = position(&calls, "systemctl stop --no-block runnergen-runner.service");
    let term = position(&calls, "main process of runnergen-runner.service got SIGTERM");
    let unregister = position(&calls, "gitlab-runner unregister");
    assert!(quit < term && term < unregister, "{calls:#?}");
    // The grace period passed polling the runner's state: 4 polls, not fewer.
    let polls = calls[quit..term].iter().filter(|c| c.starts_with("systemctl show")).count();
    assert!(polls >= 4, "SIGTERM after {polls} polls: {calls:#?}");
    assert_eq!(count(&calls, "gitlab-runner unregister"), 1, "one attempt: the reclaim does not wait");
    assert_eq!(count(&calls, "aws autoscaling"), 0, "no lifecycle action without a terminating group");
    assert!(world.path("run/leaving").exists());
    assert!(!world.config().contains("[[runners]]"));
    assert!(out.contains("aborting them"), "{out}");

    // A notice while jobs finish within the grace period: no abort.
    let world = World::new("multi-pool", 0);
    world.run("runnergen-register", &[]);
    world.set("standin/drain-polls", "2");
    world.set("imds/latest/meta-data/spot/instance-action", r#"{"action":"terminate","time":"2026-11-28T13:00:00Z"}"#);
    let (ok, out) = world
        .run("runnergen-lifecycle", &[("RUNNERGEN_TEST_MAX_POLLS", "20"), ("RUNNERGEN_TEST_SPOT_GRACE_SECONDS", "10")]);
    assert!(ok, "{out}");
    let calls = world.calls();
    assert_eq!(count(&calls, "got SIGTERM"), 0, "{calls:#?}");
    assert_eq!(count(&calls, "gitlab-runner unregister"), 1, "{calls:#?}");
}

#[test]
fn a_spot_notice_during_a_drain_aborts_unregisters_once_and_completes() {
    let world = World::new("multi-pool", 0);
    let (ok, out) = world.run("runnergen-register", &[]);
    assert!(ok, "{out}");
    world.lifecycle_state("Terminated");
    // A job far longer than the two minutes; the notice arrives while the instance drains.
    world.set("standin/drain-polls", "stuck");
    world.set("imds/latest/meta-data/spot/instance-action", r#"{"action":"terminate","time":"2026-11-28T13:00:00Z"}"#);
    let (ok, out) = world.run(
        "runnergen-lifecycle",
        &[
            ("RUNNERGEN_TEST_MAX_POLLS", "3"),
            ("RUNNERGEN_TEST_SPOT_GRACE_SECONDS", "4"),
            ("RUNNERGEN_TEST_HEARTBEAT_SECONDS", "100"),
        ],
    );
    assert!(ok, "{out}");
    let calls = world.calls();
    let drain = position(&calls, "systemctl stop --no-block runnergen-runner.service");
    let term = position(&calls, "main process of runnergen-runner.service got SIGTERM");
    let unregister = position(&calls, "gitlab-runner unregister");
    let complete = position(&calls, "aws autoscaling complete-lifecycle-action");
    assert!(drain < term && term < unregister && unregister < complete, "{calls:#?}");
    assert_eq!(count(&calls, "gitlab-runner unregister"), 1, "one attempt: the reclaim does not wait");
    assert_eq!(count(&calls, "aws autoscaling complete-lifecycle-action"), 1, "{calls:#?}");
    assert!(!world.config().contains("[[runners]]"));
}

#[test]
fn a_spot_notice_then_the_groups_termination_completes_the_lifecycle_action() {
    let world = World::new("multi-pool", 0);
    let (ok, out) = world.run("runnergen-register", &[]);
    assert!(ok, "{out}");
    world.set("imds/latest/meta-data/spot/instance-action", r#"{"action":"terminate","time":"2026-11-28T13:00:00Z"}"#);
    let (ok, out) = world.run("runnergen-lifecycle", &[("RUNNERGEN_TEST_MAX_POLLS", "2")]);
    assert!(ok, "{out}");
    assert_eq!(count(&world.calls(), "gitlab-runner unregister"), 1);
    world.lifecycle_state("Terminated");
    let (ok, out) = world.run("runnergen-lifecycle", &[("RUNNERGEN_TEST_MAX_POLLS", "2")]);
    assert!(ok, "{out}");
    let calls = world.calls();
    assert_eq!(count(&calls, "aws autoscaling complete-lifecycle-action"), 1, "{calls:#?}");
}

#[test]
fn an_unregister_that_gitlab_refuses_is_retried_and_never_blocks_leaving() {
    let world = World::new("amazon-linux", 0);
    let (ok, out) = world.run("runnergen-register", &[]);
    assert!(ok, "{out}");
    let calls = world.calls();
    let register = &calls[position(&calls, "gitlab-runner register")];
    assert!(register.contains("--docker-privileged"), "{register}");
    assert!(
        register.contains("--docker-image docker.io/library/debian:bookworm-slim --docker-pull-policy always"),
        "{register}"
    );

    // gitlab-runner exits 0 and keeps the entry when GitLab refuses: three attempts, then the
    // instance leaves anyway.
    world.set("standin/unregister-refused", "");
    world.lifecycle_state("Terminated");
    let (ok, out) = world.run("runnergen-lifecycle", &[("RUNNERGEN_TEST_MAX_POLLS", "3")]);
    assert!(ok, "{out}");
    let calls = world.calls();
    assert_eq!(count(&calls, "gitlab-runner unregister"), 3, "{calls:#?}");
    assert!(calls.iter().all(|c| c != "gitlab-runner unregister saw CI_SERVER_TOKEN"), "{calls:#?}");
    assert!(out.contains("could not unregister"), "{out}");
    assert!(!out.contains("unregistered this machine's runner manager"), "a refusal logged as success:\n{out}");
    assert_eq!(count(&calls, "aws autoscaling complete-lifecycle-action"), 1, "{calls:#?}");
    assert!(world.config().contains("[[runners]]"));
}

#[test]
fn a_restart_or_reboot_keeps_the_registration() {
    // Only the lifecycle watcher unregisters: the runner unit has no stop hook, so stopping it
    // (a restart, a reboot) leaves config.toml alone, and the next start registers nothing.
    let world = World::new("minimal", 0);
    let (ok, out) = world.run("runnergen-register", &[]);
    assert!(ok, "{out}");
    let unit = std::fs::read_to_string(world.path("packer/files/runnergen-runner.service")).expect("unit");
    assert!(!unit.contains("ExecStop"), "{unit}");
    let (ok, out) = world.run("runnergen-register", &[]);
    assert!(ok && out.contains("already registered"), "{out}");
    let calls = world.calls();
    assert_eq!(count(&calls, "gitlab-runner register"), 1, "{calls:#?}");
    assert_eq!(count(&calls, "gitlab-runner unregister"), 0, "{calls:#?}");
}

const METRICS: &str = "# HELP gitlab_runner_jobs The current number of running builds.\n\
     # TYPE gitlab_runner_jobs gauge\n\
     gitlab_runner_jobs{executor_stage=\"docker_run\",runner=\"abc\",stage=\"step_script\",state=\"running\",system_id=\"s_1\"} 2\n\
     gitlab_runner_jobs{executor_stage=\"docker_prepare\",runner=\"abc\",stage=\"prepare\",state=\"running\",system_id=\"s_1\"} 1\n\
     # TYPE gitlab_runner_jobs_total counter\n\
     gitlab_runner_jobs_total{runner=\"abc\",system_id=\"s_1\"} 120\n\
     gitlab_runner_concurrent 4\n";

#[test]
fn the_metrics_helper_publishes_the_share_of_busy_slots() {
    // acme-ci's docker pool runs 4 jobs at once; 3 are running: 75 %.
    let world = World::new("multi-pool", 0);
    world.set("imds/metrics", METRICS);
    let (ok, out) = world.run("runnergen-metrics", &[]);
    assert!(ok, "{out}");
    let published: Vec<String> =
        world.calls().into_iter().filter(|c| c.starts_with("aws cloudwatch put-metric-data")).collect();
    assert_eq!(
        published,
        ["aws cloudwatch put-metric-data --region eu-central-1 --namespace runnergen/acme-ci/docker \
         --metric-name BusySlotsPercent --dimensions AutoScalingGroupName=acme-ci-docker --value 75 --unit Percent"]
    );

    // No jobs: 0 %; an unreachable endpoint publishes nothing and fails.
    world.set("imds/metrics", "gitlab_runner_concurrent 4\n");
    let (ok, out) = world.run("runnergen-metrics", &[]);
    assert!(ok, "{out}");
    assert!(world.calls().last().is_some_and(|c| c.contains("--value 0 --unit Percent")), "{:#?}", world.calls());
    std::fs::remove_file(world.path("imds/metrics")).expect("rm");
    let (ok, _) = world.run("runnergen-metrics", &[]);
    assert!(!ok);
    assert_eq!(count(&world.calls(), "aws cloudwatch"), 2);
}

#[test]
fn only_an_instance_that_is_capacity_publishes_the_metric() {
    let world = World::new("multi-pool", 0);
    world.set("imds/metrics", METRICS);
    let published = |world: &World| count(&world.calls(), "aws cloudwatch put-metric-data");
    for state in ["Pending", "Terminated", "Warmed:Running"] {
        world.lifecycle_state(state);
        let (ok, out) = world.run("runnergen-metrics", &[]);
        assert!(ok, "{out}");
        assert!(out.contains(&format!("its lifecycle state is {state}")), "{out}");
    }
    assert_eq!(published(&world), 0);

    world.lifecycle_state("InService");
    world.set("standin/state-runnergen-runner.service", "deactivating");
    let (ok, out) = world.run("runnergen-metrics", &[]);
    assert!(ok && out.contains("its runner is deactivating"), "{out}");
    assert_eq!(published(&world), 0);

    world.set("standin/state-runnergen-runner.service", "active");
    world.set("run/leaving", "");
    let (ok, out) = world.run("runnergen-metrics", &[]);
    assert!(ok && out.contains("it is leaving"), "{out}");
    assert_eq!(published(&world), 0);

    std::fs::remove_file(world.path("run/leaving")).expect("rm");
    let (ok, out) = world.run("runnergen-metrics", &[]);
    assert!(ok, "{out}");
    assert_eq!(published(&world), 1);
}

/// Stopping the runner's unit while registration waits on an endpoint that never answers sends
/// the hook SIGQUIT (KillSignal= of the unit, to the hook alone): it ends at once, with what it
/// started, instead of holding the unit in `deactivating` until its stop timeout. The same for
/// SIGTERM.
#[test]
fn registration_stops_at_once_on_sigquit_or_sigterm() {
    for signal in ["QUIT", "TERM"] {
        let world = World::new("multi-pool", 0);
        world.set("standin/ssm-hangs", "");
        // Its own process group, as systemd gives each unit's processes.
        let mut child = world
            .command("runnergen-register", &[])
            .process_group(0)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let group = child.id();
        // Wait until the hook waits on SSM.
        let started = std::time::Instant::now();
        while !world.calls().iter().any(|c| c.starts_with("aws ssm get-parameter")) {
            assert!(started.elapsed().as_secs() < 20, "the hook never asked SSM: {:#?}", world.calls());
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
        let sent = std::time::Instant::now();
        // To the hook alone, as KillMode=mixed does.
        assert!(common::run(Command::new("kill").args([format!("-{signal}"), group.to_string()])).status.success());
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            assert!(sent.elapsed().as_secs() < 5, "SIG{signal}: the hook is still running after 5 s");
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let out = child.wait_with_output().expect("output");
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(!status.success(), "SIG{signal}: {text}");
        assert!(text.contains(&format!("stopped (SIG{signal}) before the registration finished")), "{text}");
        // Nothing it started is left a few seconds later: no live process of its group (a
        // zombie waits for whoever adopted it to reap it).
        let gone = (0..250).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(20));
            let ps = common::run(Command::new("ps").args(["-o", "stat=", "-g", &group.to_string()]));
            String::from_utf8_lossy(&ps.stdout).lines().all(|stat| stat.starts_with('Z'))
        });
        let left = common::run(Command::new("ps").args(["-o", "pid,stat,args", "-g", &group.to_string()]));
        assert!(gone, "SIG{signal}: processes left:\n{}", String::from_utf8_lossy(&left.stdout));
        assert!(!world.config().contains("[[runners]]"));
        assert!(std::fs::read_dir(world.path("run")).expect("run dir").next().is_none(), "the token file is left");
    }
}

/// An instance protects itself from scale-in while it runs a job and lifts the protection when
/// idle or when its runner is not running; it calls the API only when the protection changes,
/// and never while it is leaving.
#[test]
fn an_instance_is_protected_from_scale_in_only_while_it_runs_a_job() {
    let world = World::new("multi-pool", 0);
    let protection = |world: &World| -> Vec<String> {
        world.calls().into_iter().filter(|c| c.starts_with("aws autoscaling set-instance-protection")).collect()
    };
    let call = |flag: &str| {
        format!(
            "aws autoscaling set-instance-protection --region eu-central-1 --auto-scaling-group-name acme-ci-docker \
             --instance-ids i-0123456789abcdef0 {flag}"
        )
    };
    world.set("imds/metrics", METRICS);
    for _ in 0..2 {
        let (ok, out) = world.run("runnergen-metrics", &[]);
        assert!(ok, "{out}");
    }
    assert_eq!(protection(&world), [call("--protected-from-scale-in")], "busy twice: one call");

    world.set("imds/metrics", "gitlab_runner_concurrent 4\n");
    let (ok, out) = world.run("runnergen-metrics", &[]);
    assert!(ok, "{out}");
    assert_eq!(protection(&world), [call("--protected-from-scale-in"), call("--no-protected-from-scale-in")]);

    // Busy again, then the runner stops: unprotected, since nothing runs jobs any more.
    world.set("imds/metrics", METRICS);
    world.run("runnergen-metrics", &[]);
    world.set("standin/state-runnergen-runner.service", "failed");
    let (ok, out) = world.run("runnergen-metrics", &[]);
    assert!(ok, "{out}");
    assert_eq!(protection(&world).last(), Some(&call("--no-protected-from-scale-in")), "{out}");

    // Leaving: the group terminates it anyway; no call.
    world.set("standin/state-runnergen-runner.service", "active");
    world.set("run/leaving", "");
    let before = protection(&world).len();
    let (ok, out) = world.run("runnergen-metrics", &[]);
    assert!(ok, "{out}");
    assert_eq!(protection(&world).len(), before, "{out}");

    // After a reboot (/run is empty) the protection is unknown: the next run sets it again.
    std::fs::remove_file(world.path("run/leaving")).expect("rm");
    std::fs::remove_file(world.path("run/protected-from-scale-in")).expect("rm");
    world.set("imds/metrics", "gitlab_runner_concurrent 4\n");
    world.run("runnergen-metrics", &[]);
    assert_eq!(protection(&world).len(), before + 1);

    // Busy, but the group wants fewer instances than it has in service (a window's end): the
    // protection is lifted, so that this instance can be chosen and drained.
    world.set("imds/metrics", METRICS);
    world.run("runnergen-metrics", &[]);
    assert_eq!(protection(&world).last(), Some(&call("--protected-from-scale-in")));
    world.set("standin/asg-sizes", "1\t3\n");
    let (ok, out) = world.run("runnergen-metrics", &[]);
    assert!(ok && out.contains("the group wants fewer instances"), "{out}");
    assert_eq!(protection(&world).last(), Some(&call("--no-protected-from-scale-in")));
    let query = world.calls().into_iter().rfind(|c| c.contains("describe-auto-scaling-groups")).expect("a query");
    assert!(query.contains("--auto-scaling-group-names acme-ci-docker"), "{query}");

    // A group that cannot be read leaves the protection as it is.
    world.set("standin/asg-sizes", "garbage\n");
    let before = protection(&world).len();
    let (ok, out) = world.run("runnergen-metrics", &[]);
    assert!(ok && out.contains("left as it is"), "{out}");
    assert_eq!(protection(&world).len(), before);

    // Busy past its maximum lifetime (7 days): not protected, so that its replacement happens.
    world.set("standin/asg-sizes", "3\t3\n");
    world.run("runnergen-metrics", &[]);
    assert_eq!(protection(&world).last(), Some(&call("--protected-from-scale-in")));
    world.set("uptime", "604900.00 100.00\n");
    let (ok, out) = world.run("runnergen-metrics", &[]);
    assert!(ok && out.contains("maximum lifetime"), "{out}");
    assert_eq!(protection(&world).last(), Some(&call("--no-protected-from-scale-in")));
}

/// Runs a pool's rendered user data against a folder instead of `/` (paths rewritten, systemctl a
/// stand-in that logs to `calls.log` there) and returns that folder.
fn run_user_data(rendered: &Path, pool: &str) -> tempfile::TempDir {
    let user_data =
        std::fs::read_to_string(rendered.join(format!("terraform/user-data/{pool}.sh"))).expect("user data");
    let root = tempfile::tempdir().expect("a temp dir");
    let script = user_data.replace("/etc/", &format!("{}/etc/", root.path().display()));
    let bin = root.path().join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    std::fs::copy(common::root().join("tests/standins/systemctl"), bin.join("systemctl")).expect("copy");
    let out = common::tool("bash")
        .arg("-c")
        .arg(&script)
        .env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default()))
        .env("STANDIN_LOG", root.path().join("calls.log"))
        .env("STANDIN_DIR", root.path())
        .output()
        .expect("bash runs");
    common::assert_success(&out, "user data");
    root
}

#[test]
fn user_data_gives_the_runner_the_pools_stop_timeout() {
    // The image is shared by every pool; each pool's stop timeout (its longest job, then
    // unregistering) comes with its user data, so a changed job timeout needs no new image.
    let spec = example("multi-pool");
    let fleet = runnergen::load_spec(&spec).map(|l| l.fleet).expect("loads");
    let dir = common::render_to_temp(&spec);
    for (pool, expected) in fleet.pools.iter().zip([90 * 60 + 600, 60 * 60 + 600]) {
        let root = run_user_data(dir.path(), &pool.name);
        let dropin = std::fs::read_to_string(
            root.path().join("etc/systemd/system/runnergen-runner.service.d/50-stop-timeout.conf"),
        )
        .expect("the drop-in");
        assert_eq!(dropin, format!("[Service]\nTimeoutStopSec={expected}\n"), "{}", pool.name);
        let calls = std::fs::read_to_string(root.path().join("calls.log")).expect("calls");
        assert_eq!(
            calls,
            "systemctl daemon-reload\nsystemctl start --no-block runnergen-runner.service \
             runnergen-lifecycle.service runnergen-metrics.timer\n",
            "the drop-in is loaded before the runner starts"
        );
        let settings = std::fs::read_to_string(root.path().join("etc/runnergen/runner.env")).expect("settings");
        assert_eq!(settings, runnergen::settings::render(&runnergen::settings::for_pool(&fleet, pool)));
    }
}

// ---------------------------------------------------------------------------------------------
// An autoscaler pool's manager: registration with its autoscaler settings, and the boot gate.

#[test]
fn a_manager_registers_with_its_autoscaler_settings_after_finding_its_plugin() {
    let world = World::new("autoscaler", 0);
    let (ok, out) = world.run("runnergen-register", &[]);
    assert!(ok, "{out}");
    let (ok, out) = world.run("runnergen-register", &[]);
    assert!(ok, "{out}");
    let calls = world.calls();
    let settings = world.path("autoscaler.toml").display().to_string();
    // The plugin is checked on every start, before anything else; registration happens once.
    assert_eq!(count(&calls, &format!("gitlab-runner fleeting -c {settings} list")), 2, "{calls:#?}");
    assert!(position(&calls, "gitlab-runner fleeting") < position(&calls, "gitlab-runner register"));
    assert_eq!(count(&calls, "gitlab-runner register"), 1, "{calls:#?}");
    let register = &calls[position(&calls, "gitlab-runner register")];
    // Its live settings were read first, from their own parameter.
    let live = position(
        &calls,
        "aws ssm get-parameter --region eu-central-1 --name /runnergen/acme-ci-build/manager-settings",
    );
    assert!(live < position(&calls, "gitlab-runner register"), "{calls:#?}");
    for arg in [
        "--executor docker-autoscaler",
        &format!("--template-config {}", world.path("run/registration-template.toml").display()),
        "--limit 20",
        "--feature-flags FF_DISABLE_AUTOMATIC_TOKEN_ROTATION:true",
        "--docker-image alpine:3.20",
        "--name acme-ci-build-i-0123456789abcdef0",
    ] {
        assert!(register.contains(arg), "{arg} missing: {register}");
    }
    // Jobs at once: every worker full.
    assert!(world.config().contains("concurrent = 20\n"), "{}", world.config());
    // One template: user data's autoscaler settings and the live ones, as one [[runners]] entry.
    let template: toml::Table = std::fs::read_to_string(world.path("standin/registered-template.toml"))
        .expect("the template register got")
        .parse()
        .expect("TOML");
    let runners = template["runners"].as_array().expect("runners");
    assert_eq!(runners.len(), 1, "{template:?}");
    let autoscaler = runners[0]["autoscaler"].as_table().expect("autoscaler");
    assert_eq!(autoscaler["max_instances"].as_integer(), Some(20));
    assert_eq!(autoscaler["policy"].as_array().expect("policies").len(), 2);
    assert_eq!(runners[0]["docker"]["image"].as_str(), Some("alpine:3.20"));
    // What config.toml now holds, for the live settings' helper.
    assert_eq!(
        std::fs::read_to_string(world.path("manager-settings.toml.applied")).expect("applied"),
        std::fs::read_to_string(world.path("standin/manager-settings")).expect("live")
    );
}

/// config.toml as gitlab-runner 19.3.0 writes it for a manager (BurntSushi/toml's layout: tables
/// of the entry indented, its arrays inline), with the live settings in it and a table after them.
const MANAGER_CONFIG: &str = r#"concurrent = 20
check_interval = 3
shutdown_timeout = 60
listen_address = "127.0.0.1:9252"

[session_server]
  session_timeout = 1800

[[runners]]
  name = "acme-ci-build-i-0123456789abcdef0"
  url = "https://gitlab.example.com"
  id = 42
  token = "glrt-standin-secret-0123456789"
  executor = "docker-autoscaler"
  limit = 20
  [runners.cache]
    MaxUploadedArchiveSize = 0
  [runners.docker]
    tls_verify = false
    image = "alpine:3.20"
    privileged = false
    volumes = ["/cache"]
    shm_size = 0
    pull_policy = ["always"]
  [runners.autoscaler]
    plugin = "aws:1.0.0"
    capacity_per_instance = 1
    max_use_count = 1
    max_instances = 20
    delete_instances_on_shutdown = true

    [[runners.autoscaler.policy]]
      periods = ["* * * * *"]
      timezone = "Europe/Berlin"
      idle_count = 0
      idle_time = "10m0s"

    [[runners.autoscaler.policy]]
      periods = ["* 7-18 * * 1-5"]
      timezone = "Europe/Berlin"
      idle_count = 2
      idle_time = "30m0s"
    [runners.autoscaler.plugin_config]
      name = "acme-ci-build-workers"
    [runners.autoscaler.connector_config]
      username = "ubuntu"
      use_external_addr = false
  [runners.feature_flags]
    FF_DISABLE_AUTOMATIC_TOKEN_ROTATION = true
"#;

/// A changed window, idle count or default image reaches the running manager: the live settings'
/// helper splices them into config.toml, which gitlab-runner reloads, leaving every other line as
/// gitlab-runner wrote it; nothing changes while nothing changed, or while the new file would not
/// load; a second splice adds no blank lines.
#[test]
fn live_settings_reach_a_running_manager() {
    let world = World::new("autoscaler", 0);
    world.set("config/config.toml", MANAGER_CONFIG);
    let live = std::fs::read_to_string(world.path("standin/manager-settings")).expect("live");
    world.set("manager-settings.toml", &live);
    world.set("manager-settings.toml.applied", &live);
    let (ok, out) = world.run("runnergen-manager-settings", &[]);
    assert!(ok, "{out}");
    assert_eq!(world.config(), MANAGER_CONFIG, "nothing changed, nothing written: {out}");

    let changed = live
        .replace("* 7-18 * * 1-5", "* 6-21 * * 1-6")
        .replace("idle_count = 2", "idle_count = 5")
        .replace("image = \"alpine:3.20\"", "image = \"registry.example.com/ci/base:2\"")
        .replace("pull_policy = [\"always\"]", "pull_policy = [\"if-not-present\"]");
    assert_ne!(changed, live);
    world.set("standin/manager-settings", &changed);
    let (ok, out) = world.run("runnergen-manager-settings", &[]);
    assert!(ok, "{out}");
    assert!(out.contains("applied the live settings of /runnergen/acme-ci-build/manager-settings"), "{out}");
    let config = world.config();
    let table: toml::Table = config.parse().unwrap_or_else(|e| panic!("not TOML: {e}\n{config}"));
    let runner = &table["runners"].as_array().expect("runners")[0];
    assert_eq!(runner["docker"]["image"].as_str(), Some("registry.example.com/ci/base:2"));
    assert_eq!(runner["docker"]["pull_policy"].as_array().map(Vec::len), Some(1));
    assert_eq!(runner["docker"]["pull_policy"][0].as_str(), Some("if-not-present"));
    assert_eq!(runner["docker"]["volumes"][0].as_str(), Some("/cache"), "the rest of [runners.docker] stays");
    let policies = runner["autoscaler"]["policy"].as_array().expect("policies");
    assert_eq!(policies.len(), 2, "{config}");
    assert_eq!(policies[1]["periods"][0].as_str(), Some("* 6-21 * * 1-6"));
    assert_eq!(policies[1]["idle_count"].as_integer(), Some(5));
    assert_eq!(policies[1]["preemptive_mode"].as_bool(), Some(false));
    assert_eq!(runner["autoscaler"]["max_instances"].as_integer(), Some(20));
    assert_eq!(runner["autoscaler"]["plugin_config"]["name"].as_str(), Some("acme-ci-build-workers"));
    assert_eq!(runner["feature_flags"]["FF_DISABLE_AUTOMATIC_TOKEN_ROTATION"].as_bool(), Some(true));
    assert_eq!(runner["token"].as_str(), Some(TOKEN));
    assert_eq!(table["concurrent"].as_integer(), Some(20));
    // Every line gitlab-runner wrote outside the live settings is still there, in order.
    let kept: Vec<&str> = MANAGER_CONFIG
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take_while(|l| !l.contains("[[runners.autoscaler.policy]]"))
        .filter(|l| !l.trim_start().starts_with("image =") && !l.trim_start().starts_with("pull_policy ="))
        .collect();
    let now: Vec<&str> = config.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut at = 0;
    for line in &kept {
        at += now[at..].iter().position(|l| l == line).unwrap_or_else(|| panic!("lost {line:?}:\n{config}")) + 1;
    }
    let mode = std::fs::metadata(world.path("config/config.toml")).expect("stat");
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777, 0o600);

    // Another change: the same shape, no blank lines piling up.
    world.set("standin/manager-settings", &changed.replace("idle_count = 5", "idle_count = 3"));
    world.run("runnergen-manager-settings", &[]);
    let again = world.config();
    assert_eq!(again.matches("\n\n\n").count(), 0, "{again}");
    assert_eq!(again.lines().count(), config.lines().count(), "{again}");

    // A parameter without a policy, or a result gitlab-runner cannot load, changes nothing.
    let before = world.config();
    world.set("standin/manager-settings", "[[runners]]\n");
    let (ok, _) = world.run("runnergen-manager-settings", &[]);
    assert!(!ok);
    world.set("standin/manager-settings", &changed.replace("idle_count = 5", "idle_count = \"many"));
    let (ok, out) = world.run("runnergen-manager-settings", &[]);
    assert!(!ok, "{out}");
    assert!(out.contains("does not load; keeping the settings in force"), "{out}");
    assert_eq!(world.config(), before);

    // A leaving manager is left alone.
    world.set("standin/manager-settings", &changed.replace("idle_count = 5", "idle_count = 1"));
    world.set("run/leaving", "");
    let (ok, out) = world.run("runnergen-manager-settings", &[]);
    assert!(ok && out.contains("leaving"), "{out}");
    assert_eq!(world.config(), before);
}

#[test]
fn a_manager_without_its_plugin_never_registers() {
    let world = World::new("autoscaler", 0);
    world.set("standin/plugin-missing", "");
    let (ok, out) = world.run("runnergen-register", &[]);
    assert!(!ok, "{out}");
    assert!(out.contains("the fleeting plugin of"), "{out}");
    let calls = world.calls();
    assert_eq!(count(&calls, "gitlab-runner register"), 0, "{calls:#?}");
    assert_eq!(count(&calls, "aws ssm get-parameter"), 0, "{calls:#?}");
}

#[test]
fn a_new_manager_waits_while_its_predecessor_drains() {
    let world = World::new("autoscaler", 0);
    // The predecessor drains (its hook holds it), then is gone; this instance is listed throughout.
    world.set("standin/asg-instances.1", &format!("i-0old\tTerminating:Wait\n{INSTANCE_ID}\tPending\n"));
    world.set("standin/asg-instances.2", &format!("i-0old\tTerminating:Wait\n{INSTANCE_ID}\tPending\n"));
    world.set("standin/asg-instances", &format!("i-0old\tTerminating:Proceed\n{INSTANCE_ID}\tPending\n"));
    let (ok, out) = world.run("runnergen-manager-gate", &[]);
    assert!(ok, "{out}");
    assert_eq!(out.matches("waiting for the other manager").count(), 2, "{out}");
    assert!(out.contains("i-0old Terminating:Wait"), "{out}");
    assert!(out.contains("no other manager of acme-ci-build-manager is alive"), "{out}");
    let calls = world.calls();
    assert_eq!(count(&calls, "aws autoscaling describe-auto-scaling-groups"), 3, "{calls:#?}");
    let describe = &calls[position(&calls, "aws autoscaling describe-auto-scaling-groups")];
    assert!(describe.contains("--auto-scaling-group-names acme-ci-build-manager"), "{describe}");
    assert!(describe.contains("--region eu-central-1"), "{describe}");
}

#[test]
fn a_manager_alone_in_its_group_starts_at_once() {
    let world = World::new("autoscaler", 0);
    world.set("standin/asg-instances", &format!("{INSTANCE_ID}\tPending:Wait\ni-0gone\tTerminated\n"));
    let (ok, out) = world.run("runnergen-manager-gate", &[]);
    assert!(ok, "{out}");
    assert!(!out.contains("waiting"), "{out}");
    assert_eq!(count(&world.calls(), "aws autoscaling describe-auto-scaling-groups"), 1);
}

#[test]
fn the_gate_stops_waiting_after_its_bound_and_says_why() {
    let world = World::new("autoscaler", 0);
    world.set("standin/asg-instances", &format!("i-0hung\tTerminating:Wait\n{INSTANCE_ID}\tPending\n"));
    let (ok, out) = world.run("runnergen-manager-gate", &[("RUNNERGEN_TEST_GATE_LIMIT_SECONDS", "4")]);
    assert!(ok, "a predecessor past the bound does not keep the runner from starting: {out}");
    assert!(out.contains("starting the runner anyway"), "{out}");
    assert!(out.contains("hung or gone"), "{out}");
    assert_eq!(count(&world.calls(), "aws autoscaling describe-auto-scaling-groups"), 5);
}

/// A predecessor that EC2 no longer runs (stopped, impaired and stopped, shutting down) is gone:
/// no wait for its drain, which nobody will finish.
#[test]
fn the_gate_does_not_wait_for_a_predecessor_ec2_no_longer_runs() {
    let world = World::new("autoscaler", 0);
    world.set("standin/asg-instances", &format!("i-0old\tTerminating:Wait\n{INSTANCE_ID}\tPending\n"));
    world.set("standin/ec2-state-i-0old", "stopped");
    let (ok, out) = world.run("runnergen-manager-gate", &[]);
    assert!(ok, "{out}");
    assert!(out.contains("i-0old is not running in EC2 (stopped): gone"), "{out}");
    assert!(!out.contains("waiting"), "{out}");
    let calls = world.calls();
    let ec2 = &calls[position(&calls, "aws ec2 describe-instances")];
    assert!(ec2.contains("--instance-ids i-0old") && ec2.contains("--region eu-central-1"), "{ec2}");

    // When EC2 cannot be asked, the predecessor counts as alive.
    let world = World::new("autoscaler", 0);
    world.set("standin/asg-instances", &format!("i-0old\tTerminating:Wait\n{INSTANCE_ID}\tPending\n"));
    world.set("standin/ec2-fails", "");
    let (ok, out) = world.run("runnergen-manager-gate", &[("RUNNERGEN_TEST_GATE_LIMIT_SECONDS", "2")]);
    assert!(ok, "{out}");
    assert!(out.contains("counting them as alive") && out.contains("waiting for the other manager"), "{out}");
}

/// A gated manager that is itself being terminated does not start its runner (the gate fails,
/// and the runner requires it); its watcher completes the hook.
#[test]
fn a_gated_manager_that_is_terminated_itself_never_starts_its_runner() {
    let world = World::new("autoscaler", 0);
    world.set("standin/asg-instances", &format!("i-0old\tTerminating:Wait\n{INSTANCE_ID}\tTerminating:Wait\n"));
    world.lifecycle_state("Terminated");
    let (ok, out) = world.run("runnergen-manager-gate", &[]);
    assert!(!ok, "{out}");
    assert!(out.contains("this manager is being terminated itself"), "{out}");
    assert_eq!(count(&world.calls(), "aws autoscaling describe-auto-scaling-groups"), 0);
}

/// The metadata service failing at boot is retried within the gate's bound; one that never
/// answers keeps the runner from starting, loudly, instead of letting it remove busy workers.
#[test]
fn the_gate_retries_the_metadata_service_and_fails_closed() {
    let world = World::new("autoscaler", 0);
    world.set("standin/asg-instances", &format!("{INSTANCE_ID}\tPending\n"));
    let id = world.path("imds/latest/meta-data/instance-id");
    std::fs::remove_file(&id).expect("rm instance-id");
    let restore = {
        let id = id.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(2500));
            std::fs::write(id, INSTANCE_ID).expect("restore instance-id");
        })
    };
    let (ok, out) = world.run(
        "runnergen-manager-gate",
        &[("RUNNERGEN_TEST_POLL_SECONDS", "1"), ("RUNNERGEN_TEST_GATE_LIMIT_SECONDS", "30")],
    );
    restore.join().expect("thread");
    assert!(ok, "{out}");
    assert!(out.contains("cannot read this instance's id from the metadata service; trying again"), "{out}");
    assert!(out.contains("no other manager"), "{out}");

    let world = World::new("autoscaler", 0);
    std::fs::remove_file(world.path("imds/latest/meta-data/instance-id")).expect("rm instance-id");
    let (ok, out) = world.run("runnergen-manager-gate", &[("RUNNERGEN_TEST_GATE_LIMIT_SECONDS", "3")]);
    assert!(!ok, "{out}");
    assert!(out.contains("<3>runnergen-manager-gate: the metadata service did not answer"), "{out}");
}

#[test]
fn a_managers_user_data_writes_its_autoscaler_settings_and_starts_no_metric() {
    let spec = example("autoscaler");
    let fleet = runnergen::load_spec(&spec).map(|l| l.fleet).expect("loads");
    let dir = common::render_to_temp(&spec);
    let pool = fleet
        .pools
        .iter()
        .find(|p| matches!(p.topology, runnergen::topology::Topology::Autoscaler(_)))
        .expect("an autoscaler pool");
    let root = run_user_data(dir.path(), &pool.name);
    let written = std::fs::read_to_string(root.path().join("etc/runnergen/autoscaler.toml")).expect("written");
    assert_eq!(Some(written), runnergen::render::runner_template::render(&fleet, pool).expect("renders"));
    let calls = std::fs::read_to_string(root.path().join("calls.log")).expect("calls");
    assert_eq!(
        calls,
        "systemctl daemon-reload\nsystemctl start --no-block runnergen-runner.service runnergen-lifecycle.service \
         runnergen-manager-settings.timer\n"
    );
}
