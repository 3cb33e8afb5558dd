//! Stage 5, the steps from this render to a running fleet: `NEXT-STEPS.md` at the top of the
//! output folder, which `render` also prints. Reads the resolved model only, like the targets.

use minijinja::Environment;
use serde::Serialize;

use super::{File, Output, to_value};
use crate::model::{Capacity, Fleet, RunnerMode};

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
    /// The subnet the AMIs bake in over Session Manager, with `image.build_subnet_id`.
    build_subnet_id: Option<String>,
    /// The pools with a schedule, whose capacity a first apply inside a window does not take.
    scheduled: Vec<Scheduled>,
    /// The address the alarms' topic mails, when runnergen's Terraform creates the topic.
    alarm_email: Option<&'a str>,
    /// With a pool's `job_role`: the issuer, and whether runnergen's Terraform creates GitLab's
    /// OIDC provider (one per URL and account).
    job_roles: Option<JobRoleSteps<'a>>,
    /// Whether runnergen's Terraform creates the VPC endpoints.
    vpc_endpoints: bool,
}

#[derive(Serialize)]
struct JobRoleSteps<'a> {
    issuer: &'a str,
    creates_provider: bool,
    /// The labels of the pools with a job role, whose role ARNs are outputs.
    pools: Vec<&'a str>,
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

/// A pool with a schedule: what a first apply inside one of its windows leaves, and how to
/// take the window's setting at once.
#[derive(Debug, Serialize)]
pub struct Scheduled {
    pub pool: String,
    /// The group a window sizes: an instance pool's own, or an autoscaler pool's worker group.
    pub group: String,
    pub time_zone: String,
    /// The topology's template of what to do, which reads the fields here as `s`.
    pub template: &'static str,
    pub base: Option<Capacity>,
    pub windows: Vec<WindowNow>,
}

/// A window, and the capacity it sets.
#[derive(Debug, Serialize)]
pub struct WindowNow {
    pub text: String,
    pub capacity: Capacity,
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
    let scheduled = fleet.pools.iter().filter_map(|p| p.topology.kind().scheduled_steps(p)).collect();
    let context = Context {
        fleet: &fleet.name,
        region: &fleet.region,
        terraform_runners: fleet.runners == RunnerMode::Terraform,
        pools,
        worker_ami: fleet.has_workers(),
        build_subnet_id: fleet.image.build_subnet_id.clone(),
        scheduled,
        alarm_email: fleet.monitoring.as_ref().and_then(|m| m.alarms.as_ref()).and_then(|a| a.email.as_deref()),
        job_roles: fleet.pools.iter().any(|p| p.job_role.is_some()).then(|| JobRoleSteps {
            issuer: &fleet.gitlab_url,
            creates_provider: fleet.iam.oidc_provider_arn.is_none(),
            pools: fleet.pools.iter().filter(|p| p.job_role.is_some()).map(|p| p.name.as_str()).collect(),
        }),
        vpc_endpoints: fleet.vpc_endpoints,
    };
    OUTPUT.render(env, to_value(&context), "")
}
