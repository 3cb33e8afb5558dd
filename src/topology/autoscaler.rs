//! The autoscaler topology: a group of one manager instance, a runner with the docker-autoscaler
//! (or instance) executor, and a group of worker instances that its fleeting plugin starts and
//! removes by the jobs it takes.

use serde::Serialize;

use super::{Defaults, Keys, Kind, Name, Templates, TerraformContext as AnyContext, WorkerNeeds};
use crate::diagnostic::{Finding, Mark, SpecPath};
use crate::impact::Apply;
use crate::model::{Capacity, Duration, Executor, Fleet, GATE_MARGIN_SECONDS, JOB_USER, Os, Pool, Schedule};
use crate::render::Output;
use crate::render::next_steps::Scheduled;
use crate::render::runner_template::Toml;
use crate::render::terraform::{Fallback, Mixed, SecurityGroup, Tag, egress_words, instance_choice, pool_tags, tags};
use crate::render::to_value;
use crate::resolve::{DEFAULT_CAPACITY_PER_INSTANCE, DEFAULT_IDLE_SECONDS, DEFAULT_MAX_USE_COUNT, schedule};
use crate::rules::{Rules, check_fallback, check_instance_type, check_schedule, check_volume};
use crate::settings;
use crate::spec::{self, spelling};
use crate::week::{
    AutoscalerHours, Hours, PoolPlan, Prices, Segment, WEEK_HOURS, WEEK_MINUTES, integral, peak_hours, segments,
};

/// A pool of one manager instance and a group of worker instances it starts and removes by the
/// jobs it takes.
#[derive(Debug, Clone)]
pub struct AutoscalerPool {
    /// On-demand, always.
    pub manager_instance_type: String,
    pub workers: Workers,
    /// Warm job slots outside every window.
    pub idle: Idle,
    pub schedule: Option<Schedule<Idle>>,
}

#[derive(Debug, Clone)]
pub struct Workers {
    pub instance_types: Vec<String>,
    pub spot: bool,
    /// Minutes spot capacity may stay short before on-demand workers fill in, if at all.
    pub on_demand_fallback: Option<u32>,
    /// The worker group's maximum size.
    pub max_instances: u32,
    /// Jobs one worker runs at once.
    pub capacity_per_instance: u32,
    /// Jobs a worker runs before it is removed; 0 = unlimited.
    pub max_use_count: u32,
    /// Shell jobs may share a worker (at once or one after another).
    pub shared: bool,
    pub volume_gb: u32,
}

/// Job slots kept ready, and how long an unused worker stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Idle {
    pub count: u32,
    pub time: Duration,
}

pub const KEYS: Keys = Keys {
    rules_out: &[
        (
            "capacity",
            "an autoscaler pool has one manager, and its workers follow the jobs: set `workers.max_instances`, and `idle` for warm job slots",
        ),
        (
            "concurrent",
            "set `workers.capacity_per_instance`: the manager runs max_instances x capacity_per_instance jobs at once",
        ),
        ("scaling", "the manager starts workers for the jobs it takes; there is nothing to scale on: remove `scaling`"),
        (
            "instance_types",
            "write the workers' types as `workers: {instance_types: [...]}` and the manager's as `manager.instance_type`",
        ),
        ("spot", "write `workers.spot`; the manager is always on-demand"),
        ("on_demand_fallback", "write it under `workers:`, beside `spot: true`; the manager is always on-demand"),
        ("volume_gb", "write `workers.volume_gb`"),
    ],
    needs: &[("workers", "an autoscaler pool needs `workers: {instance_types: [...], max_instances: N}`")],
    window_key: "idle",
    window_rules_out: "capacity",
    window_help: "an autoscaler pool's window sets `idle: {count, time}`: its warm job slots",
};

/// Shaping puts a placeholder where `workers` is missing, so the default here only stands for
/// what a valid spec always has.
pub fn resolve(pool: &mut spec::Pool, defaults: &Defaults) -> AutoscalerPool {
    let workers = pool.workers.take().unwrap_or(spec::Workers {
        instance_types: Vec::new(),
        spot: None,
        on_demand_fallback: None,
        max_instances: 1,
        capacity_per_instance: None,
        max_use_count: None,
        shared: None,
        volume_gb: None,
    });
    let base = idle(pool.idle.as_ref(), Idle { count: 0, time: Duration(DEFAULT_IDLE_SECONDS) });
    AutoscalerPool {
        manager_instance_type: pool
            .manager
            .take()
            .and_then(|m| m.instance_type)
            .unwrap_or_else(|| defaults.small("t3.small", "t4g.small")),
        workers: Workers {
            instance_types: workers.instance_types,
            spot: workers.spot.unwrap_or(false),
            on_demand_fallback: workers.on_demand_fallback.map(|f| f.after_minutes),
            max_instances: workers.max_instances,
            capacity_per_instance: workers.capacity_per_instance.unwrap_or(DEFAULT_CAPACITY_PER_INSTANCE),
            max_use_count: workers.max_use_count.unwrap_or(DEFAULT_MAX_USE_COUNT),
            shared: workers.shared.unwrap_or(false),
            volume_gb: workers.volume_gb.unwrap_or(defaults.volume_gb),
        },
        idle: base,
        // A window's idle time defaults to the pool's.
        schedule: pool
            .schedule
            .take()
            .map(|s| schedule(&s, |w| idle(w.idle.as_ref(), Idle { count: 0, time: base.time }))),
    }
}

/// Idle job slots as written, over what is not written.
fn idle(written: Option<&spec::Idle>, default: Idle) -> Idle {
    match written {
        Some(i) => Idle { count: i.count, time: i.time.unwrap_or(default.time) },
        None => default,
    }
}

impl AutoscalerPool {
    /// Jobs the manager runs at once: every worker full.
    pub fn concurrent(&self) -> u32 {
        self.workers.max_instances * self.workers.capacity_per_instance
    }
}

/// An autoscaler pool's worker group.
pub fn worker_group(pool: &Pool) -> String {
    format!("{}-workers", pool.id)
}

/// The user an autoscaler pool's manager connects to its workers as: the image's default user
/// for docker jobs (it drives the worker's Docker, which is root anyway), and for shell jobs,
/// which run as that user, [`JOB_USER`]: no sudo, not in the docker, lxd or adm groups.
pub fn worker_user(executor: Executor, os: Os) -> &'static str {
    match executor {
        Executor::Docker => os.default_user(),
        Executor::Shell => JOB_USER,
    }
}

/// The baked units user data starts.
pub const START_UNITS: &[&str] = &[settings::RUNNER_UNIT, settings::LIFECYCLE_UNIT, settings::MANAGER_SETTINGS_TIMER];

const TEMPLATES: Templates = Templates {
    files: &[
        Output::file("terraform/autoscaler/pool.tf.j2", "terraform/pool-{pool}.tf"),
        Output::file("terraform/autoscaler/user-data.sh.j2", "terraform/user-data/{pool}.sh"),
        Output::file("terraform/autoscaler/manager-settings.toml.j2", "terraform/manager-settings/{pool}.toml"),
    ],
    iam: "terraform/autoscaler/iam.tf.j2",
    outputs: "terraform/autoscaler/outputs.tf.j2",
};

impl Kind for AutoscalerPool {
    fn runner_group(&self, pool: &Pool) -> String {
        format!("{}-manager", pool.id)
    }
    fn capacity_group(&self, pool: &Pool) -> String {
        worker_group(pool)
    }
    fn role_name(&self, pool: &Pool) -> String {
        format!("{}-manager", pool.id)
    }
    fn runner_executor(&self, executor: Executor) -> &'static str {
        match executor {
            Executor::Docker => "docker-autoscaler",
            Executor::Shell => "instance",
        }
    }
    fn concurrent(&self) -> u32 {
        AutoscalerPool::concurrent(self)
    }
    /// The instance executor's jobs on workers use it too.
    fn uses_cache(&self, _: Executor) -> bool {
        true
    }
    fn windows(&self) -> Vec<(&str, String)> {
        self.schedule.iter().flat_map(|s| s.windows.iter().map(|w| (s.time_zone.as_str(), w.describe()))).collect()
    }
    fn live_settings_parameter(&self, pool: &Pool) -> Option<String> {
        Some(format!("/runnergen/{}/manager-settings", pool.id))
    }
    /// Its group does not scale, so no metric; its live settings follow their SSM parameter.
    fn start_units(&self) -> &'static [&'static str] {
        START_UNITS
    }
    fn runner_template_path(&self) -> &'static str {
        settings::AUTOSCALER_CONFIG
    }
    /// One manager all week, and the workers that keep the idle slots in force warm; at most every
    /// worker. With `demand`, the jobs' worker-hours on top of the warm workers: a worker runs
    /// `capacity_per_instance` jobs at once.
    fn week(&self, pool: &Pool, prices: Option<&Prices>, demand: Option<f64>) -> Result<PoolPlan, String> {
        let per = self.workers.capacity_per_instance.max(1);
        let in_force = |count: u32| {
            let floor = 1 + count.div_ceil(per);
            Capacity { min: floor, desired: floor, max: 1 + self.workers.max_instances }
        };
        let week = match &self.schedule {
            Some(s) => segments(in_force(self.idle.count), s, |idle| in_force(idle.count)),
            None => vec![Segment { start: 0, end: WEEK_MINUTES, value: in_force(self.idle.count) }],
        };
        let mut instance_hours = integral(&week);
        if let Some(job_hours) = demand {
            instance_hours.desired = (instance_hours.min + job_hours / f64::from(per)).min(instance_hours.max);
        }
        let hours = AutoscalerHours {
            manager: WEEK_HOURS,
            worker_floor: instance_hours.min - WEEK_HOURS,
            worker_ceiling: instance_hours.max - WEEK_HOURS,
            demand_job_hours: demand,
        };
        let cost = match prices {
            Some(prices) => {
                let manager = prices.hourly(&self.manager_instance_type, false, &pool.name)?;
                let first = self.workers.instance_types.first().map_or("", String::as_str);
                let worker = prices.hourly(first, self.workers.spot, &pool.name)?;
                // With the fallback, every worker may be on-demand: the worst case.
                let worst = match self.workers.on_demand_fallback {
                    Some(_) => prices.hourly(first, false, &pool.name)?,
                    None => worker,
                };
                let at =
                    |instance_hours: f64, worker: f64| hours.manager * manager + (instance_hours - WEEK_HOURS) * worker;
                Some(Hours {
                    min: at(instance_hours.min, worker),
                    desired: at(instance_hours.desired, worker),
                    max: at(instance_hours.max, worst),
                })
            }
            None => None,
        };
        Ok(PoolPlan {
            name: pool.name.clone(),
            topology: Name::Autoscaler,
            time_zone: self.schedule.as_ref().map(|s| s.time_zone.clone()),
            windows: self.schedule.iter().flat_map(|s| &s.windows).map(super::super::model::Window::describe).collect(),
            always_on_max_hours: peak_hours(&week),
            week,
            instance_hours,
            autoscaler: Some(hours),
            on_demand_worst_case: self.workers.spot && self.workers.on_demand_fallback.is_some(),
            cost,
        })
    }
    fn impact(&self, pool: &Pool, apply: &Apply) -> Vec<String> {
        let mut lines = Vec::new();
        let manager =
            apply.texts.block_changed(apply.pool_tf, "aws_launch_template", &format!("{}_manager", pool.name));
        if let Some(why) = apply.why(manager) {
            lines.push(format!(
                "pool {}: {why}: its manager is replaced, and the pool starts no job until the old manager's running jobs have finished (up to {} minutes); jobs wait in GitLab meanwhile",
                pool.name,
                apply.drain_minutes + GATE_MARGIN_SECONDS / 60
            ));
        } else if apply.texts.changed(&format!("terraform/manager-settings/{}.toml", pool.name)) {
            lines.push(format!(
                "pool {}: its live settings change (windows, idle workers or default image): the running manager applies them within a minute, without a replacement; no job stops",
                pool.name
            ));
        }
        if apply.image {
            lines.push(format!(
                "pool {}: new workers start from the new worker image; workers running jobs keep theirs until they retire",
                pool.name
            ));
        }
        lines
    }
    fn scheduled_steps(&self, pool: &Pool) -> Option<Scheduled> {
        self.schedule.as_ref().map(|s| Scheduled {
            pool: pool.name.clone(),
            group: worker_group(pool),
            time_zone: s.time_zone.clone(),
            template: "terraform/autoscaler/next-steps.md.j2",
            base: None,
            windows: Vec::new(),
        })
    }
    fn runner_section(&self, fleet: &Fleet, pool: &Pool) -> Option<(&'static str, Toml)> {
        let section = RunnerSection {
            plugin: fleet.image.fleeting_plugin_version.map(|v| format!("aws:{v}")).unwrap_or_default(),
            capacity_per_instance: self.workers.capacity_per_instance,
            max_use_count: self.workers.max_use_count,
            max_instances: self.workers.max_instances,
            instance_ready_command: (pool.executor == Executor::Docker).then(|| {
                format!("timeout {DOCKER_READY_SECONDS} sh -c 'until docker info >/dev/null 2>&1; do sleep 2; done'")
            }),
            worker_group: worker_group(pool),
            username: worker_user(pool.executor, fleet.image.os),
        };
        Some(("The autoscaler", Toml { template: "terraform/autoscaler/runner.toml.j2", context: to_value(&section) }))
    }
    /// Its policies and its default job image, which change without a new manager. They are not
    /// in its user data (a change there replaces the manager) but in an SSM parameter the manager
    /// reads at registration and every minute after, splicing a change into its config.toml, which
    /// gitlab-runner reloads.
    fn live_settings(&self, fleet: &Fleet, pool: &Pool) -> Option<Toml> {
        Some(Toml { template: "terraform/autoscaler/live.toml.j2", context: to_value(&live(fleet, pool, self)) })
    }
    fn check(&self, rules: &mut Rules, fleet: &Fleet, at: &SpecPath, pool: &Pool) {
        check(self, rules, fleet, at, pool.executor);
    }
    fn check_fleet(&self, rules: &mut Rules, fleet: &Fleet, at: &SpecPath) {
        check_fleet(rules, fleet, at);
    }
    /// Shell jobs sharing workers, and warm workers that hold bursts back on a runner before
    /// `preemptive_mode`.
    fn warnings(&self, fleet: &Fleet, at: &SpecPath, pool: &Pool, out: &mut Vec<Finding>) {
        if pool.executor == Executor::Shell && self.workers.shared {
            out.push(
                Finding::new(at.key("workers").key("shared"), "shell jobs of this pool share their workers", "shared")
                    .help(
                        "shell jobs run as one user on their worker: a job can read another job's checkout and CI/CD \
                     variables, or leave something behind for the next one. Give jobs that do not trust each other a \
                     pool without `shared`",
                    ),
            );
        }
        if !fleet.image.runner_version.at_least(PREEMPTIVE_MODE_SINCE) {
            let base = (self.idle.count > 0).then(|| at.key("idle").key("count"));
            let windows = self
                .schedule
                .iter()
                .flat_map(|s| s.windows.iter().enumerate())
                .filter(|(_, w)| w.setting.count > 0)
                .map(|(j, _)| at.key("schedule").key("windows").index(j).key("idle").key("count"));
            for path in base.into_iter().chain(windows) {
                out.push(
                    Finding::new(
                        path,
                        format!(
                            "gitlab-runner {} takes a job here only once an idle worker exists",
                            fleet.image.runner_version
                        ),
                        "bursts wait for workers",
                    )
                    .help(
                        "before 18.1 a policy with warm workers is always preemptive: the manager asks GitLab for \
                         a job only when an idle worker is free, so a burst is taken `idle.count` jobs at a time. \
                         Pin `image.runner_version` 18.1.0 or later, where runnergen turns that off \
                         (`preemptive_mode = false`)",
                    ),
                );
            }
        }
    }
    fn always_on(&self) -> bool {
        true
    }
    fn spot_types(&self, at: &SpecPath) -> Option<(SpecPath, &[String])> {
        self.workers.spot.then(|| (at.key("workers").key("instance_types"), self.workers.instance_types.as_slice()))
    }
    fn time_zone(&self) -> Option<&str> {
        self.schedule.as_ref().map(|s| s.time_zone.as_str())
    }
    fn takes_demand(&self) -> bool {
        true
    }
    /// On the worker group, underneath the manager: the plugin still sets its desired capacity
    /// and lists its instances, some of which are then on-demand.
    fn spot_fallback(&self, fleet: &Fleet, pool: &Pool) -> Option<Fallback> {
        let after = self.workers.on_demand_fallback.filter(|_| self.workers.spot)?;
        Some(Fallback::new(fleet, pool, format!("{}_workers", pool.name), worker_group(pool), after))
    }
    fn runs_docker_on_runner(&self, _: Executor) -> bool {
        false
    }
    fn worker_needs(&self, executor: Executor) -> Option<WorkerNeeds> {
        Some(WorkerNeeds {
            docker: executor == Executor::Docker,
            shell_sessions: (executor == Executor::Shell).then(|| 2 * self.workers.capacity_per_instance),
        })
    }
    fn templates(&self) -> &'static Templates {
        &TEMPLATES
    }
    fn own_security_groups(&self, pool: &Pool) -> Vec<(String, String)> {
        vec![
            (format!("{}_manager", pool.name), format!("the manager of pool {}", pool.name)),
            (format!("{}_workers", pool.name), format!("the workers of pool {}", pool.name)),
        ]
    }
    fn terraform(&self, fleet: &Fleet, pool: &Pool) -> AnyContext {
        let (mixed, launch_template_instance_type) = instance_choice(self.workers.spot, &self.workers.instance_types);
        let worker_tags = pool_tags(fleet, pool, format!("{}-worker", pool.id));
        AnyContext::Autoscaler(TerraformContext {
            metric_namespace: fleet.metric_namespace(pool),
            manager: Manager {
                instance_type: self.manager_instance_type.clone(),
                volume_gb: fleet.image.volume_gb,
                security_group: SecurityGroup {
                    name: self.runner_group(pool),
                    description: format!(
                        "Manager of autoscaler pool {} in fleet {}: no ingress; egress to {} and SSH to its workers",
                        pool.name,
                        fleet.name,
                        egress_words(fleet, false, false)
                    ),
                },
                settings_parameter: self.live_settings_parameter(pool).unwrap_or_default(),
                settings_file: format!("manager-settings/{}.toml", pool.name),
            },
            workers: WorkersContext {
                group_name: worker_group(pool),
                security_group: SecurityGroup {
                    name: worker_group(pool),
                    description: format!(
                        "Workers of autoscaler pool {} in fleet {}: SSH from its manager only; egress to {}",
                        pool.name,
                        fleet.name,
                        egress_words(fleet, true, !pool.egress.is_empty())
                    ),
                },
                max_instances: self.workers.max_instances,
                launch_template_instance_type,
                mixed,
                volume_gb: self.workers.volume_gb,
                username: worker_user(pool.executor, fleet.image.os),
                tags: tags(&worker_tags),
            },
        })
    }
}

/// An autoscaler pool: its manager group of one, its worker group and their security groups.
#[derive(Debug, Serialize)]
pub struct TerraformContext {
    pub manager: Manager,
    pub workers: WorkersContext,
    /// The pool's CloudWatch namespace: with the fleet's monitoring, the manager's lifecycle
    /// helper publishes its heartbeat there.
    pub metric_namespace: String,
}

#[derive(Debug, Serialize)]
pub struct Manager {
    /// Its instance type, on-demand.
    pub instance_type: String,
    /// Its root volume: the runner AMI's size.
    pub volume_gb: u32,
    /// Its security group's name and description.
    pub security_group: SecurityGroup,
    /// The SSM parameter of its live settings, and the module's file that holds their value.
    pub settings_parameter: String,
    pub settings_file: String,
}

#[derive(Debug, Serialize)]
pub struct WorkersContext {
    /// The worker group's name, which the manager's plugin and IAM policy name; also its launch
    /// template's.
    pub group_name: String,
    pub security_group: SecurityGroup,
    /// The group's maximum size; the manager never asks for more.
    pub max_instances: u32,
    pub launch_template_instance_type: Option<String>,
    pub mixed: Option<Mixed>,
    pub volume_gb: u32,
    /// The OS user the manager connects as ([`worker_user`]).
    pub username: &'static str,
    pub tags: Vec<Tag>,
}

// The runner's `[[runners]]` sections (`render::runner_template`). Keys and their meaning:
// gitlab-runner common/config.go (`AutoscalerConfig`, `ConnectorConfig`,
// `AutoscalerPolicyConfig`) and docs/configuration/advanced-configuration.md ("The
// [runners.autoscaler] section").

/// The manager's runner waits this long for a new worker's Docker daemon before the runner
/// gives the worker up.
const DOCKER_READY_SECONDS: u32 = 300;

/// The manager's `[runners.autoscaler]`.
#[derive(Debug, Serialize)]
struct RunnerSection {
    /// The fleeting plugin, `aws:VERSION`.
    plugin: String,
    capacity_per_instance: u32,
    max_use_count: u32,
    max_instances: u32,
    /// Docker jobs: a new worker takes jobs once its Docker daemon answers.
    instance_ready_command: Option<String>,
    worker_group: String,
    username: &'static str,
}

/// The manager's live settings.
#[derive(Debug, Serialize)]
struct Live {
    /// The default job image and its pull policy, for docker jobs.
    docker: Option<LiveDocker>,
    /// The schedule's time zone, for every policy.
    time_zone: Option<String>,
    /// Whether the pinned runner has the policies' `preemptive_mode` key, which the template then
    /// sets to false: unset, gitlab-runner turns it on wherever `idle_count > 0`, and the manager
    /// then asks GitLab for a job only when an idle worker already exists, so a burst would be
    /// taken `idle_count` jobs at a time in the very hours that keep warm workers. Off, the manager
    /// takes jobs first and asks for a worker for each; the idle workers are still kept and take
    /// jobs first.
    preemptive_mode_key: bool,
    policies: Vec<Policy>,
}

#[derive(Debug, Serialize)]
struct LiveDocker {
    image: String,
    pull_policy: String,
}

/// One `[[runners.autoscaler.policy]]`.
#[derive(Debug, Serialize)]
struct Policy {
    periods: Vec<String>,
    idle_count: u32,
    /// Go's duration form, `10m0s`.
    idle_time: String,
}

/// An autoscaler pool's live settings, applied on the running manager: its default job image and
/// pull policy (`[runners.docker]`, docker jobs only) and its policies
/// (`[[runners.autoscaler.policy]]`). gitlab-runner reloads config.toml when it changes
/// (commands/multi.go `checkConfig`, every 3 s), new jobs take the reloaded `[runners.docker]`,
/// and the next job request re-applies the policies (`Acquire` in
/// executors/internal/autoscaler/provider.go calls `ConfigureSchedule` once the config was
/// reloaded). Not `max_instances`, `capacity_per_instance` or `max_use_count`: the taskscaler takes
/// those once, when it is made (`init`, the same file), so they stay in the manager's user data.
fn live(fleet: &Fleet, pool: &Pool, autoscaler: &AutoscalerPool) -> Live {
    let policy =
        |periods: Vec<String>, idle: Idle| Policy { periods, idle_count: idle.count, idle_time: idle.time.to_string() };
    Live {
        docker: pool
            .docker
            .as_ref()
            .map(|d| LiveDocker { image: d.image.clone(), pull_policy: spelling(d.pull_policy) }),
        time_zone: autoscaler.schedule.as_ref().map(|s| s.time_zone.clone()),
        preemptive_mode_key: fleet.image.runner_version.at_least(PREEMPTIVE_MODE_SINCE),
        // The catch-all first, then each window: the last matching policy wins.
        policies: std::iter::once(policy(vec!["* * * * *".to_owned()], autoscaler.idle))
            .chain(autoscaler.schedule.iter().flat_map(|s| &s.windows).map(|w| policy(w.periods(), w.setting)))
            .collect(),
    }
}

/// The oldest gitlab-runner an autoscaler pool runs on: `fleeting install` arrived in 16.11, and
/// 17.2 fixed the autoscaler's instance churn (gitlab-runner CHANGELOG, 17.2.0).
const MIN_AUTOSCALER_RUNNER: (u32, u32) = (17, 2);

/// The first gitlab-runner with a policy's `preemptive_mode` key (common/config.go,
/// `PreemptiveModeEnabled`); before it, a policy with `idle_count > 0` is always preemptive.
pub const PREEMPTIVE_MODE_SINCE: (u32, u32) = (18, 1);

/// An autoscaler pool needs a runner version and a fleeting plugin that can drive it; the first
/// autoscaler pool of the fleet is the one pointed at (one finding for the fleet is enough).
fn check_fleet(rules: &mut Rules, fleet: &Fleet, at: &SpecPath) {
    let root = SpecPath::root;
    let runner = root().key("image").key("runner_version");
    let plugin = root().key("image").key("fleeting_plugin_version");
    {
        let topology = at.key("topology");
        rules.rule(&[&runner, &topology], |out| {
            if !fleet.image.runner_version.at_least(MIN_AUTOSCALER_RUNNER) {
                out.push(
                    Finding::new(
                        runner.clone(),
                        format!("gitlab-runner {} is too old for an autoscaler pool", fleet.image.runner_version),
                        "too old",
                    )
                    .related(topology.clone(), Mark::Value, "this pool is an autoscaler")
                    .help(
                        "expected 17.2.0 or later, such as 19.3.0: `gitlab-runner fleeting install` arrived \
                         in 16.11, and 17.2 fixed the autoscaler's instance churn; 19.2 also stops it pruning \
                         busy workers when the token rotates",
                    ),
                );
            }
        });
        rules.rule(&[&plugin, &topology], |out| {
            if fleet.image.fleeting_plugin_version.is_none() {
                out.push(
                    Finding::new(
                        root().key("image"),
                        "`image` is missing the key `fleeting_plugin_version`",
                        "add `fleeting_plugin_version:` here",
                    )
                    .mark(Mark::KeyOrFirst)
                    .related(topology.clone(), Mark::Value, "this pool is an autoscaler")
                    .help(
                        "an autoscaler pool's manager runs the fleeting AWS plugin, baked into the runner \
                         AMI: write its exact version, such as `fleeting_plugin_version: 1.0.0`",
                    ),
                );
            }
        });
    }
}

/// The rules of an autoscaler pool: its instance types, volume, shared workers and idle slots.
fn check(pool: &AutoscalerPool, rules: &mut Rules, fleet: &Fleet, at: &SpecPath, executor: Executor) {
    let arch = &SpecPath::root().key("image").key("arch");
    let workers = at.key("workers");
    let manager_type = at.key("manager").key("instance_type");
    rules.rule(&[&manager_type, arch], |out| {
        check_instance_type(&pool.manager_instance_type, fleet.image.arch, &manager_type, out);
    });
    for (j, t) in pool.workers.instance_types.iter().enumerate() {
        let path = workers.key("instance_types").index(j);
        rules.rule(&[&path, arch], |out| check_instance_type(t, fleet.image.arch, &path, out));
    }
    check_volume(rules, fleet, &workers.key("volume_gb"), pool.workers.volume_gb);
    check_fallback(rules, &workers, pool.workers.spot, pool.workers.on_demand_fallback);
    let capacity = workers.key("capacity_per_instance");
    let uses = workers.key("max_use_count");
    let shared = workers.key("shared");
    rules.rule(&[&capacity, &uses, &shared, &at.key("executor")], |out| {
        if executor == Executor::Shell && !pool.workers.shared {
            let w = &pool.workers;
            let (path, what) = if w.capacity_per_instance > 1 {
                (capacity.clone(), format!("{} shell jobs at once on one worker", w.capacity_per_instance))
            } else if w.max_use_count != 1 {
                (uses.clone(), "shell jobs one after another on one worker".to_owned())
            } else {
                return;
            };
            out.push(Finding::new(path, format!("{what} would share a machine"), "shared worker").help(
                "shell jobs run as one user on their worker: a job can read another project's checkout \
                 and variables, or leave something behind for the next job. Keep `capacity_per_instance: 1` \
                 and `max_use_count: 1`, or set `workers.shared: true` to accept that for jobs that trust \
                 each other",
            ));
        }
    });
    let slots = pool.concurrent();
    let check_idle = |idle: &Idle, path: &SpecPath, out: &mut Vec<Finding>| {
        if idle.count > slots {
            out.push(
                Finding::new(
                    path.key("count"),
                    format!("{} idle job slots, but the workers have {slots} in all", idle.count),
                    "more than the workers hold",
                )
                .help(format!(
                    "`idle.count` counts job slots: at most `workers.max_instances` × \
                     `workers.capacity_per_instance` ({} × {} = {slots})",
                    pool.workers.max_instances, pool.workers.capacity_per_instance
                )),
            );
        }
    };
    let idle = at.key("idle");
    rules.rule(&[&idle, &workers], |out| check_idle(&pool.idle, &idle, out));
    if let Some(s) = &pool.schedule {
        let schedule = at.key("schedule");
        check_schedule(rules, &schedule, s);
        for (j, w) in s.windows.iter().enumerate() {
            let here = schedule.key("windows").index(j).key("idle");
            rules.rule(&[&here, &workers], |out| check_idle(&w.setting, &here, out));
        }
    }
}
