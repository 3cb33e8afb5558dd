//! The instance topology: every instance of the pool's Auto Scaling group is a runner. The group
//! scales on demand (the share of busy job slots, or CPU) between the sizes its schedule sets.

use serde::Serialize;

use super::{Defaults, Keys, Kind, Name, Sleep, Templates, TerraformContext as AnyContext, WorkerNeeds};
use crate::diagnostic::{Finding, SpecPath};
use crate::impact::Apply;
use crate::model::{self, Capacity, Executor, Fleet, Pool, Schedule};
use crate::render::Output;
use crate::render::next_steps::{Scheduled, WindowNow};
use crate::render::terraform::{FALLBACK_OWNS, Fallback, Mixed, instance_choice};
use crate::resolve::{DEFAULT_BUSY_PERCENT, DEFAULT_CONCURRENT, schedule};
use crate::rules::{Rules, check_fallback, check_instance_type, check_schedule, check_volume, limits};
use crate::settings;
use crate::spec;
use crate::week::{PoolPlan, Prices, Segment, WEEK_MINUTES, integral, peak_hours, scale, segments};

/// A pool whose instances are runners: one Auto Scaling group of them.
#[derive(Debug, Clone)]
pub struct InstancePool {
    pub instance_types: Vec<String>,
    pub spot: bool,
    /// Minutes spot capacity may stay short before on-demand instances fill in, if at all.
    pub on_demand_fallback: Option<u32>,
    pub capacity: Capacity,
    pub concurrent: u32,
    pub volume_gb: u32,
    pub scaling: Scaling,
    pub schedule: Option<Schedule<Capacity>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scaling {
    /// Target share of job slots running jobs, in percent.
    BusyPercent(u32),
    /// Target average CPU utilisation, in percent.
    CpuPercent(u32),
}

const AUTOSCALER_ONLY: &str = "it is for `topology: autoscaler` pools: remove it, or add `topology: autoscaler`";

pub const KEYS: Keys = Keys {
    rules_out: &[("manager", AUTOSCALER_ONLY), ("workers", AUTOSCALER_ONLY), ("idle", AUTOSCALER_ONLY)],
    needs: &[
        ("instance_types", "an instance pool needs `instance_types`, such as [m7g.large]"),
        ("capacity", "an instance pool needs `capacity: {min, max}`, its group's size outside every window"),
    ],
    window_key: "capacity",
    window_rules_out: "idle",
    window_help: "an instance pool's window sets `capacity: {min, max}`",
};

/// Shaping puts a placeholder where a needed key is missing, so the `unwrap_or`s here only
/// stand for what a valid spec always has.
pub fn resolve(pool: &mut spec::Pool, defaults: &Defaults) -> InstancePool {
    let none = spec::Capacity { min: 0, max: 0, desired: None };
    InstancePool {
        instance_types: pool.instance_types.take().unwrap_or_default(),
        spot: pool.spot.unwrap_or(false),
        on_demand_fallback: pool.on_demand_fallback.take().map(|f| f.after_minutes),
        capacity: capacity(pool.capacity.unwrap_or(none)),
        concurrent: pool.concurrent.unwrap_or(DEFAULT_CONCURRENT),
        volume_gb: pool.volume_gb.unwrap_or(defaults.volume_gb),
        scaling: match pool.scaling.take() {
            Some(spec::Scaling { cpu_percent: Some(cpu), .. }) => Scaling::CpuPercent(cpu),
            Some(spec::Scaling { busy_percent: Some(busy), .. }) => Scaling::BusyPercent(busy),
            _ => Scaling::BusyPercent(DEFAULT_BUSY_PERCENT),
        },
        schedule: pool.schedule.take().map(|s| schedule(&s, |w| capacity(w.capacity.unwrap_or(none)))),
    }
}

fn capacity(c: spec::Capacity) -> Capacity {
    Capacity { min: c.min, max: c.max, desired: c.desired.unwrap_or(c.min) }
}

/// The baked units user data starts.
pub const START_UNITS: &[&str] = &[settings::RUNNER_UNIT, settings::LIFECYCLE_UNIT, settings::METRICS_TIMER];

const TEMPLATES: Templates = Templates {
    files: &[
        Output::file("terraform/instance/pool.tf.j2", "terraform/pool-{pool}.tf"),
        Output::file("terraform/instance/user-data.sh.j2", "terraform/user-data/{pool}.sh"),
    ],
    iam: "terraform/instance/iam.tf.j2",
    outputs: "terraform/instance/outputs.tf.j2",
};

impl Kind for InstancePool {
    fn runner_group(&self, pool: &Pool) -> String {
        pool.id.clone()
    }
    fn capacity_group(&self, pool: &Pool) -> String {
        pool.id.clone()
    }
    /// The metrics timer runs on every runner instance, whatever the pool scales by.
    fn publishes_busy_slots(&self) -> bool {
        true
    }
    fn role_name(&self, pool: &Pool) -> String {
        format!("{}-runner", pool.id)
    }
    fn runner_executor(&self, executor: Executor) -> &'static str {
        match executor {
            Executor::Docker => "docker",
            Executor::Shell => "shell",
        }
    }
    fn concurrent(&self) -> u32 {
        self.concurrent
    }
    fn uses_cache(&self, executor: Executor) -> bool {
        executor == Executor::Docker
    }
    fn windows(&self) -> Vec<(&str, String)> {
        self.schedule.iter().flat_map(|s| s.windows.iter().map(|w| (s.time_zone.as_str(), w.describe()))).collect()
    }
    fn live_settings_parameter(&self, _: &Pool) -> Option<String> {
        None
    }
    fn start_units(&self) -> &'static [&'static str] {
        START_UNITS
    }
    fn runner_template_path(&self) -> &'static str {
        settings::RUNNER_TEMPLATE
    }
    fn runs_docker_on_runner(&self, executor: Executor) -> bool {
        executor == Executor::Docker
    }
    fn worker_needs(&self, _: Executor) -> Option<WorkerNeeds> {
        None
    }
    fn templates(&self) -> &'static Templates {
        &TEMPLATES
    }
    fn terraform(&self, fleet: &Fleet, pool: &Pool) -> AnyContext {
        AnyContext::Instance(TerraformContext::new(fleet, pool, self))
    }
    fn week(&self, pool: &Pool, prices: Option<&Prices>, _: Option<f64>) -> Result<PoolPlan, String> {
        let week = match &self.schedule {
            Some(s) => segments(self.capacity, s, |c| *c),
            None => vec![Segment { start: 0, end: WEEK_MINUTES, value: self.capacity }],
        };
        let instance_hours = integral(&week);
        let cost = match prices {
            Some(prices) => {
                let first = self.instance_types.first().map_or("", String::as_str);
                let mut cost = scale(instance_hours, prices.hourly(first, self.spot, &pool.name)?);
                // With the fallback, every instance may be on-demand: the worst case.
                if self.on_demand_fallback.is_some() {
                    cost.max = instance_hours.max * prices.hourly(first, false, &pool.name)?;
                }
                Some(cost)
            }
            None => None,
        };
        Ok(PoolPlan {
            name: pool.name.clone(),
            topology: Name::Instance,
            time_zone: self.schedule.as_ref().map(|s| s.time_zone.clone()),
            windows: self.schedule.iter().flat_map(|s| &s.windows).map(super::super::model::Window::describe).collect(),
            always_on_max_hours: peak_hours(&week),
            week,
            instance_hours,
            autoscaler: None,
            on_demand_worst_case: self.spot && self.on_demand_fallback.is_some(),
            cost,
        })
    }
    fn check(&self, rules: &mut Rules, fleet: &Fleet, at: &SpecPath, _: &Pool) {
        check(self, rules, fleet, at);
    }
    fn always_on(&self) -> bool {
        weekly_floor(self).iter().all(|m| *m > 0)
    }
    fn sleeps(&self, at: &SpecPath) -> Option<Sleep<'_>> {
        let (start, minutes) = longest_sleep(self)?;
        Some(Sleep {
            start,
            minutes,
            time_zone: self.schedule.as_ref().map_or("UTC", |s| s.time_zone.as_str()),
            at: at.key("capacity").key("min"),
        })
    }
    fn spot_types(&self, at: &SpecPath) -> Option<(SpecPath, &[String])> {
        self.spot.then(|| (at.key("instance_types"), self.instance_types.as_slice()))
    }
    fn time_zone(&self) -> Option<&str> {
        self.schedule.as_ref().map(|s| s.time_zone.as_str())
    }
    fn impact(&self, pool: &Pool, apply: &Apply) -> Vec<String> {
        let launch_template = apply.texts.block_changed(apply.pool_tf, "aws_launch_template", &pool.name);
        apply.why(launch_template).map_or_else(Vec::new, |why| {
            vec![format!(
                "pool {}: {why}: an instance refresh replaces its instances one by one, each replacement in service before an old instance drains; running jobs finish (up to {} minutes each)",
                pool.name, apply.drain_minutes
            )]
        })
    }
    fn scheduled_steps(&self, pool: &Pool) -> Option<Scheduled> {
        self.schedule.as_ref().map(|s| Scheduled {
            pool: pool.name.clone(),
            group: self.runner_group(pool),
            time_zone: s.time_zone.clone(),
            template: "terraform/instance/next-steps.md.j2",
            base: Some(self.capacity),
            windows: s.windows.iter().map(|w| WindowNow { text: w.describe(), capacity: w.setting }).collect(),
        })
    }
    fn in_runners_security_group(&self) -> bool {
        true
    }
    fn scheduled_actions(&self) -> bool {
        self.schedule.is_some()
    }
    fn spot_fallback(&self, fleet: &Fleet, pool: &Pool) -> Option<Fallback> {
        let after = self.on_demand_fallback.filter(|_| self.spot)?;
        Some(Fallback::new(fleet, pool, pool.name.clone(), self.runner_group(pool), after))
    }
}

/// An instance pool's group, demand scaling, launch template and schedule.
#[derive(Debug, Serialize)]
pub struct TerraformContext {
    /// CloudWatch namespace of the pool's busy-slot metric.
    pub metric_namespace: String,
    /// The launch template's own instance type: set only when there is no mixed policy.
    pub launch_template_instance_type: Option<String>,
    /// The mixed instances policy, when the pool is spot or has several types.
    pub mixed: Option<Mixed>,
    /// Spot pools replace instances at elevated risk of interruption.
    pub capacity_rebalance: bool,
    /// Base capacity: the group's sizes at creation and what each window's end restores.
    pub capacity: Capacity,
    /// Group attributes that schedules or scaling own, which Terraform must never reset; whether
    /// a schedule owns them.
    pub ignore_changes: Vec<&'static str>,
    pub scheduled: bool,
    pub volume_gb: u32,
    /// One-minute instance metrics, for CPU scaling.
    pub detailed_monitoring: bool,
    pub policy: Policy,
    /// The scheduled actions, when the pool has a schedule.
    pub schedule: Option<ScheduleContext>,
}

/// The pool's target tracking policy.
#[derive(Debug, Serialize)]
pub struct Policy {
    pub name: String,
    pub target: u32,
    /// The busy-slot metric the instances publish, or `None` for the group's average CPU.
    pub metric: Option<Metric>,
}

#[derive(Debug, Serialize)]
pub struct Metric {
    pub namespace: String,
    pub name: &'static str,
    pub dimension: &'static str,
    pub dimension_value: String,
}

#[derive(Debug, Serialize)]
pub struct ScheduleContext {
    /// IANA time zone of every action.
    pub time_zone: String,
    pub actions: Vec<ActionContext>,
}

/// One scheduled action, with what its comment says.
#[derive(Debug, Serialize)]
pub struct ActionContext {
    /// Terraform label, such as `builds_window_1_start`.
    pub label: String,
    /// Scheduled action name, such as `nightly-builds-window-1-start`.
    pub name: String,
    /// 5-field cron expression, in the schedule's time zone.
    pub recurrence: String,
    pub capacity: Capacity,
    /// The window's number (from 1) and its times in words, as written (`MON-FRI 07:00 to 19:00`).
    pub window: usize,
    pub window_text: String,
    /// Whether the window starts here (its capacity) or ends (the base capacity).
    pub starts: bool,
    /// The days and time the action runs, `MON-FRI` and `07:00`.
    pub days: String,
    pub at: String,
}

impl TerraformContext {
    fn new(fleet: &Fleet, pool: &Pool, i: &InstancePool) -> Self {
        let (mixed, launch_template_instance_type) = instance_choice(i.spot, &i.instance_types);
        let mut ignore_changes = if i.schedule.is_some() {
            vec!["min_size", "max_size", "desired_capacity"]
        } else {
            vec!["desired_capacity"]
        };
        if i.spot && i.on_demand_fallback.is_some() {
            ignore_changes.push(FALLBACK_OWNS);
        }
        let policy = match i.scaling {
            Scaling::BusyPercent(target) => Policy {
                name: format!("{}-busy-slots", pool.id),
                target,
                metric: Some(Metric {
                    namespace: fleet.metric_namespace(pool),
                    name: model::BUSY_METRIC,
                    dimension: model::BUSY_METRIC_DIMENSION,
                    dimension_value: pool.id.clone(),
                }),
            },
            Scaling::CpuPercent(target) => Policy { name: format!("{}-cpu", pool.id), target, metric: None },
        };
        TerraformContext {
            metric_namespace: fleet.metric_namespace(pool),
            launch_template_instance_type,
            mixed,
            capacity_rebalance: i.spot,
            capacity: i.capacity,
            ignore_changes,
            scheduled: i.schedule.is_some(),
            volume_gb: i.volume_gb,
            detailed_monitoring: matches!(i.scaling, Scaling::CpuPercent(_)),
            policy,
            schedule: i.schedule.as_ref().map(|s| schedule_context(pool, i, s)),
        }
    }
}

fn schedule_context(pool: &Pool, instances: &InstancePool, schedule: &Schedule<Capacity>) -> ScheduleContext {
    let actions = schedule
        .actions(instances.capacity)
        .into_iter()
        .map(|a| {
            let what = if a.starts { "start" } else { "end" };
            ActionContext {
                label: format!("{}_window_{}_{}", pool.name, a.window + 1, what),
                name: format!("{}-window-{}-{}", pool.id, a.window + 1, what),
                recurrence: a.recurrence(),
                capacity: a.capacity,
                window: a.window + 1,
                window_text: {
                    let w = &schedule.windows[a.window];
                    format!("{} {} to {}", model::days_text(&w.days), w.from, w.to)
                },
                starts: a.starts,
                days: model::days_text(&a.days),
                at: a.at.to_string(),
            }
        })
        .collect();
    ScheduleContext { time_zone: schedule.time_zone.clone(), actions }
}

/// The rules of an instance pool: its instance types, capacity, volume and schedule.
fn check(pool: &InstancePool, rules: &mut Rules, fleet: &Fleet, at: &SpecPath) {
    let arch = &SpecPath::root().key("image").key("arch");
    let capacity = at.key("capacity");
    let schedule = at.key("schedule");
    for (j, t) in pool.instance_types.iter().enumerate() {
        let path = at.key("instance_types").index(j);
        rules.rule(&[&path, arch], |out| check_instance_type(t, fleet.image.arch, &path, out));
    }
    rules.rule(&[&capacity], |out| check_capacity(&pool.capacity, &capacity, "`capacity`", out));
    check_volume(rules, fleet, &at.key("volume_gb"), pool.volume_gb);
    check_fallback(rules, at, pool.spot, pool.on_demand_fallback);
    if let Some(s) = &pool.schedule {
        check_schedule(rules, &schedule, s);
        let windows = schedule.key("windows");
        for (j, w) in s.windows.iter().enumerate() {
            let here = windows.index(j).key("capacity");
            rules.rule(&[&here], |out| check_capacity(&w.setting, &here, "the window's `capacity`", out));
        }
        rules.rule(&[&windows, &capacity], |out| {
            let actions = s.actions(pool.capacity).len();
            if actions > limits::SCHEDULED_ACTIONS_PER_GROUP {
                out.push(
                    Finding::new(
                        windows.clone(),
                        format!("these windows need {actions} scheduled actions"),
                        "too many windows",
                    )
                    .help(format!(
                        "AWS allows {} scheduled actions per Auto Scaling group; merge windows that \
                         share times into one with several days",
                        limits::SCHEDULED_ACTIONS_PER_GROUP
                    )),
                );
            }
        });
    }
    // Demand scaling measures running instances: from zero only a schedule starts one.
    rules.rule(&[&capacity, &schedule], |out| {
        let some_window_starts_one = pool.schedule.iter().flat_map(|s| &s.windows).any(|w| w.setting.min >= 1);
        if pool.capacity.min == 0 && !some_window_starts_one {
            out.push(
                Finding::new(
                    capacity.key("min"),
                    "this pool can never start an instance",
                    "min 0, and no window starts one",
                )
                .help(
                    "with no instance there is no busy-slot or CPU metric, so demand scaling never starts the \
                     first one: set `capacity.min` to at least 1, add a schedule window with `min` of at least 1 \
                     for the hours jobs arrive, or make it an autoscaler pool (`topology: autoscaler`), which \
                     starts a worker per job",
                ),
            );
        }
    });
}

/// A capacity holds min <= desired <= max.
fn check_capacity(c: &Capacity, at: &SpecPath, what: &str, out: &mut Vec<Finding>) {
    if !(c.min <= c.desired && c.desired <= c.max) {
        let shown = if c.desired == c.min {
            format!("min {}, max {}", c.min, c.max)
        } else {
            format!("min {}, desired {}, max {}", c.min, c.desired, c.max)
        };
        out.push(
            Finding::new(at.clone(), format!("{what} is {shown}"), "min <= desired <= max does not hold")
                .help("expected min <= desired <= max (desired defaults to min)"),
        );
    }
}

const WEEK: usize = 7 * 24 * 60;

/// The longest stretch of the week (start minute, minutes) in which the pool's floor is 0, in its
/// schedule's time zone.
fn longest_sleep(pool: &InstancePool) -> Option<(usize, usize)> {
    let floor = weekly_floor(pool);
    let mut best: Option<(usize, usize)> = None;
    if floor.iter().all(|m| *m == 0) {
        return Some((0, WEEK));
    }
    // Start right after a minute with an instance, so no stretch wraps out of sight.
    let first = (0..WEEK).find(|m| floor[*m] > 0)?;
    let mut run_start = None;
    for k in 1..=WEEK {
        let m = (first + k) % WEEK;
        match (floor[m] == 0, run_start) {
            (true, None) => run_start = Some(first + k),
            (false, Some(s)) => {
                let length = first + k - s;
                if best.is_none_or(|(_, l)| length > l) {
                    best = Some((s % WEEK, length));
                }
                run_start = None;
            }
            _ => {}
        }
    }
    best
}

/// The pool's `min` in force at each minute of the week.
fn weekly_floor(pool: &InstancePool) -> Vec<u32> {
    let mut floor = vec![pool.capacity.min; WEEK];
    for w in pool.schedule.iter().flat_map(|s: &Schedule<Capacity>| &s.windows) {
        for (start, end) in w.weekly_ranges() {
            floor[start as usize..end as usize].fill(w.setting.min);
        }
    }
    floor
}
