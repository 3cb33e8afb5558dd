//! Stage 5, the steps from this render to a running fleet: `NEXT-STEPS.md` at the top of the
//! output folder, which `render` also prints. Reads the resolved model only, like the targets.

use minijinja::Environment;
use serde::Serialize;

use super::{File, Output, to_value};
use crate::model::{Capacity, Fleet, Kind, RunnerMode};

pub const OUTPUT: Output = Output::file("NEXT-STEPS.md.j2", "NEXT-STEPS.md");

/// What the steps template reads.
#[derive(Serialize)]
struct Context<'a> {
    fleet: &'a str,
    region: &'a str,
    /// Whether runnergen's Terraform creates the runners and their tokens.
    terraform_runners: bool,
    pools: Vec<PoolSteps<'a>>,
    /// Whether the bake makes a worker AMI too.
    worker_ami: bool,
    /// The pools with a schedule, whose capacity a first apply inside a window does not take.
    scheduled: Vec<Scheduled<'a>>,
}

/// One pool's runner, as the operator creates it in GitLab.
#[derive(Serialize)]
struct PoolSteps<'a> {
    name: &'a str,
    token_parameter: &'a str,
    /// The runner's tags; `None` when the spec leaves them, "run untagged" and "protected" to
    /// the operator.
    tags: Option<&'a [String]>,
    run_untagged: bool,
    protected: bool,
    /// The longest job the runner may take: the pool's job timeout, which the drain waits for.
    timeout_minutes: u32,
}

#[derive(Serialize)]
struct Scheduled<'a> {
    pool: &'a str,
    /// The group a scheduled action sizes: an instance pool's own.
    group: String,
    time_zone: &'a str,
    autoscaler: bool,
    base: Option<Capacity>,
    windows: Vec<WindowNow>,
}

/// A window, and the capacity it sets.
#[derive(Serialize)]
struct WindowNow {
    text: String,
    capacity: Capacity,
}

pub fn render(fleet: &Fleet, env: &Environment) -> Result<(String, File), minijinja::Error> {
    let pools = fleet
        .pools
        .iter()
        .map(|p| PoolSteps {
            name: &p.name,
            token_parameter: &p.token_parameter,
            tags: p.runner.as_ref().map(|r| r.tags.as_slice()),
            run_untagged: p.runner.as_ref().is_some_and(|r| r.run_untagged),
            protected: p.runner.as_ref().is_some_and(|r| r.protected),
            timeout_minutes: p.job_timeout_minutes,
        })
        .collect();
    let scheduled = fleet
        .pools
        .iter()
        .filter_map(|p| match &p.kind {
            Kind::Instance(i) => i.schedule.as_ref().map(|s| Scheduled {
                pool: &p.name,
                group: p.runner_group(),
                time_zone: &s.time_zone,
                autoscaler: false,
                base: Some(i.capacity),
                windows: s.windows.iter().map(|w| WindowNow { text: w.describe(), capacity: w.setting }).collect(),
            }),
            Kind::Autoscaler(a) => a.schedule.as_ref().map(|s| Scheduled {
                pool: &p.name,
                group: p.worker_group(),
                time_zone: &s.time_zone,
                autoscaler: true,
                base: None,
                windows: Vec::new(),
            }),
        })
        .collect();
    let context = Context {
        fleet: &fleet.name,
        region: &fleet.region,
        terraform_runners: fleet.runners == RunnerMode::Terraform,
        pools,
        worker_ami: fleet.has_workers(),
        scheduled,
    };
    OUTPUT.render(env, to_value(&context), "")
}
