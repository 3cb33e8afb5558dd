//! `runnergen plan`: what a fleet's schedules add up to over one week, before anything is
//! applied. Pure: computed from the resolved [`Fleet`] (and a price list), printed by the
//! [`text`], [`json`] and [`svg`] views.
//!
//! Each pool's week is its own local week (Monday 00:00 to Sunday 24:00 in its schedule's time
//! zone, 168 hours), as a list of [`Segment`]s over which the capacity in force is constant: a
//! window's capacity while it runs, the pool's base capacity otherwise. A window whose end is not
//! after its start ends the next day, and Sunday's window runs into Monday.

pub mod json;
pub mod prices;
pub mod svg;
pub mod text;

use crate::model::{Capacity, Fleet, Schedule, Window};
use crate::topology;
pub use prices::Prices;

/// Minutes in a week, and hours.
pub const WEEK_MINUTES: u32 = 7 * 24 * 60;
pub const WEEK_HOURS: f64 = 168.0;
/// Hours in a month as AWS prices them (730 = 8,760 / 12): 4.35 weeks.
pub const MONTH_HOURS: f64 = 730.0;

/// A week's figures as a month's ([`MONTH_HOURS`]).
pub fn monthly(week: Hours) -> Hours {
    scale(week, MONTH_HOURS / WEEK_HOURS)
}

/// A stretch of the week, `start..end` in minutes after Monday 00:00, over which `value` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment<T> {
    pub start: u32,
    pub end: u32,
    pub value: T,
}

/// Instance-hours over the week at the floor, as planned and at the ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Hours {
    pub min: f64,
    pub desired: f64,
    pub max: f64,
}

impl std::ops::Add for Hours {
    type Output = Hours;
    fn add(self, o: Hours) -> Hours {
        Hours { min: self.min + o.min, desired: self.desired + o.desired, max: self.max + o.max }
    }
}

impl std::ops::Sub for Hours {
    type Output = Hours;
    fn sub(self, o: Hours) -> Hours {
        Hours { min: self.min - o.min, desired: self.desired - o.desired, max: self.max - o.max }
    }
}

/// An autoscaler pool's week: its manager, always on, and its workers between the warm ones the
/// idle slots in force keep and `max_instances`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AutoscalerHours {
    pub manager: f64,
    pub worker_floor: f64,
    pub worker_ceiling: f64,
    /// The jobs' own hours a week (`--demand`), when given: desired is then the floor plus the
    /// workers they keep busy.
    pub demand_job_hours: Option<f64>,
}

/// One pool's week.
#[derive(Debug, Clone)]
pub struct PoolPlan {
    pub name: String,
    pub topology: topology::Name,
    /// The schedule's time zone, when the pool has one: its week is local to it.
    pub time_zone: Option<String>,
    /// The schedule's windows in words, such as `MON-FRI 07:00 to 19:00`.
    pub windows: Vec<String>,
    /// Instances in force (min, desired, max) over the pool's local week.
    pub week: Vec<Segment<Capacity>>,
    pub instance_hours: Hours,
    /// The highest `max` in force during the week, all week: the pool at its peak and never
    /// scaled down, what a fleet without schedules would need for the same peak.
    pub always_on_max_hours: f64,
    pub autoscaler: Option<AutoscalerHours>,
    /// Spot with a fallback to on-demand: the cost at the ceiling is at on-demand prices.
    pub on_demand_worst_case: bool,
    /// With prices: the week's cost at the floor, as planned and at the ceiling.
    pub cost: Option<Hours>,
}

/// The fleet's week.
#[derive(Debug, Clone)]
pub struct Plan {
    pub fleet: String,
    pub pools: Vec<PoolPlan>,
    pub total: Total,
    pub currency: Option<String>,
    /// What the fleet's monitoring adds, when it has some.
    pub monitoring: Option<MonitoringPlan>,
}

/// What a fleet's monitoring adds a month: what it creates, the heartbeats' requests (by the
/// runner instances' hours at the floor, as planned and at the ceiling), and with CloudWatch's
/// prices in the price list, its cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MonitoringPlan {
    pub usage: crate::render::monitoring::Usage,
    pub requests_per_month: Hours,
    pub cost_per_month: Option<Hours>,
}

impl MonitoringPlan {
    fn new(fleet: &Fleet, pools: &[PoolPlan], prices: Option<&Prices>) -> Option<MonitoringPlan> {
        let usage = crate::render::monitoring::usage(fleet)?;
        // The instances that run the helpers: an instance pool's, an autoscaler pool's manager.
        let runner_hours = pools.iter().fold(Hours::default(), |sum, p| {
            sum + p.autoscaler.map_or(p.instance_hours, |a| Hours {
                min: a.manager,
                desired: a.manager,
                max: a.manager,
            })
        });
        let requests_per_month = scale(monthly(runner_hours), f64::from(usage.requests_per_instance_hour));
        let cost_per_month = prices.and_then(|p| p.cloudwatch).map(|cw| {
            let fixed = f64::from(usage.custom_metrics) * cw.metric_month
                + f64::from(usage.alarm_metrics) * cw.alarm_metric_month
                + f64::from(usage.dashboards) * cw.dashboard_month;
            let requests = scale(requests_per_month, cw.requests_1000 / 1000.0);
            Hours { min: fixed + requests.min, desired: fixed + requests.desired, max: fixed + requests.max }
        });
        Some(MonitoringPlan { usage, requests_per_month, cost_per_month })
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Total {
    pub instance_hours: Hours,
    pub always_on_max_hours: f64,
    pub cost: Option<Hours>,
}

impl Plan {
    /// The week of every pool. With prices, also their cost; an instance type without a price is
    /// an error that names it and the pool.
    pub fn new(fleet: &Fleet, prices: Option<&Prices>) -> Result<Plan, String> {
        Plan::with_demand(fleet, prices, &std::collections::BTreeMap::new())
    }

    /// The week, with an estimate of the jobs' hours a week for some autoscaler pools (by name):
    /// their desired instance-hours become the warm floor plus the worker-hours those jobs take
    /// (job-hours / `capacity_per_instance`), at most the ceiling. A name that is not an
    /// autoscaler pool of the fleet, or hours that are not a finite number of 0 or more, are an
    /// error.
    pub fn with_demand(
        fleet: &Fleet,
        prices: Option<&Prices>,
        demand: &std::collections::BTreeMap<String, f64>,
    ) -> Result<Plan, String> {
        for (name, hours) in demand {
            let takes_demand: Vec<&str> =
                fleet.pools.iter().filter(|p| p.topology.kind().takes_demand()).map(|p| p.name.as_str()).collect();
            if !takes_demand.contains(&name.as_str()) {
                let pools = takes_demand;
                return Err(format!(
                    "--demand names `{name}`, which is not an autoscaler pool of fleet {} (its autoscaler pools: {})",
                    fleet.name,
                    if pools.is_empty() { "none".to_owned() } else { pools.join(", ") }
                ));
            }
            if !hours.is_finite() || *hours < 0.0 {
                return Err(format!("--demand {name}={hours}: expected job-hours a week, a number of 0 or more"));
            }
        }
        let pools = fleet
            .pools
            .iter()
            .map(|p| p.topology.kind().week(p, prices, demand.get(&p.name).copied()))
            .collect::<Result<Vec<_>, _>>()?;
        let total = Total {
            instance_hours: pools.iter().fold(Hours::default(), |sum, p| sum + p.instance_hours),
            always_on_max_hours: pools.iter().map(|p| p.always_on_max_hours).sum(),
            cost: prices.map(|_| pools.iter().filter_map(|p| p.cost).fold(Hours::default(), |sum, c| sum + c)),
        };
        let monitoring = MonitoringPlan::new(fleet, &pools, prices);
        Ok(Plan { fleet: fleet.name.clone(), pools, total, currency: prices.map(|p| p.currency.clone()), monitoring })
    }
}

/// Desired instance-hours as a share of always-on at the ceiling, in percent.
pub fn share(hours: &Hours, always_on_max: f64) -> f64 {
    if always_on_max > 0.0 { 100.0 * hours.desired / always_on_max } else { 0.0 }
}

/// The week as segments of constant capacity: each window's own while it runs (counting a
/// window that crosses midnight into the next day, and Sunday's into Monday), `base` otherwise.
pub fn segments<S, T: Copy + PartialEq>(base: T, schedule: &Schedule<S>, value: impl Fn(&S) -> T) -> Vec<Segment<T>> {
    let ranges: Vec<((u32, u32), &Window<S>)> =
        schedule.windows.iter().flat_map(|w| w.weekly_ranges().into_iter().map(move |r| (r, w))).collect();
    let mut cuts: Vec<u32> = ranges.iter().flat_map(|((a, b), _)| [*a, *b]).chain([0, WEEK_MINUTES]).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut out: Vec<Segment<T>> = Vec::new();
    for pair in cuts.windows(2) {
        let (start, end) = (pair[0], pair[1]);
        // Windows never overlap (validation refuses it): at most one runs here.
        let v = ranges.iter().find(|((a, b), _)| *a <= start && start < *b).map_or(base, |(_, w)| value(&w.setting));
        match out.last_mut() {
            Some(last) if last.value == v => last.end = end,
            _ => out.push(Segment { start, end, value: v }),
        }
    }
    out
}

/// The highest `max` in force during the week, for all of it.
pub fn peak_hours(week: &[Segment<Capacity>]) -> f64 {
    f64::from(week.iter().map(|s| s.value.max).max().unwrap_or(0)) * WEEK_HOURS
}

/// Instance-hours of a week of segments.
pub fn integral(week: &[Segment<Capacity>]) -> Hours {
    let mut minutes = [0u64; 3];
    for s in week {
        let length = u64::from(s.end - s.start);
        minutes[0] += length * u64::from(s.value.min);
        minutes[1] += length * u64::from(s.value.desired);
        minutes[2] += length * u64::from(s.value.max);
    }
    let hours = |m: u64| m as f64 / 60.0;
    Hours { min: hours(minutes[0]), desired: hours(minutes[1]), max: hours(minutes[2]) }
}

pub fn scale(h: Hours, price: f64) -> Hours {
    Hours { min: h.min * price, desired: h.desired * price, max: h.max * price }
}

/// What a baseline spec's week was, and what changed, pool by pool (by name) and in total.
#[derive(Debug, Clone)]
pub struct Delta {
    /// (pool, its hours now, its hours in the baseline): a pool only one side has counts as zero
    /// on the other.
    pub pools: Vec<(String, Hours, Hours)>,
    pub total: Hours,
    pub cost: Option<Hours>,
}

impl Delta {
    pub fn new(now: &Plan, before: &Plan) -> Delta {
        let mut names: Vec<&str> = now.pools.iter().map(|p| p.name.as_str()).collect();
        for p in &before.pools {
            if !names.contains(&p.name.as_str()) {
                names.push(&p.name);
            }
        }
        let hours = |plan: &Plan, name: &str| {
            plan.pools.iter().find(|p| p.name == name).map_or(Hours::default(), |p| p.instance_hours)
        };
        Delta {
            pools: names.iter().map(|n| ((*n).to_owned(), hours(now, n), hours(before, n))).collect(),
            total: now.total.instance_hours - before.total.instance_hours,
            cost: now.total.cost.zip(before.total.cost).map(|(a, b)| a - b),
        }
    }
}

/// Days of the week as plan views print them.
pub const DAYS: [&str; 7] = crate::spec::Weekday::TITLES;

/// The capacity in force at a minute of the week.
pub fn at(week: &[Segment<Capacity>], minute: u32) -> Capacity {
    week.iter()
        .find(|s| s.start <= minute && minute < s.end)
        .map_or(Capacity { min: 0, max: 0, desired: 0 }, |s| s.value)
}
