//! The pool topologies, one module each: how a pool runs its jobs. Each module answers every
//! stage for its topology: the spec keys it needs or rules out ([`Keys`]), its defaults
//! (`resolve`), its rules, its week in `plan`, its Terraform pool context and templates, its
//! start units and its `[[runners]]` settings ([`Kind`]). Code outside this folder does not match
//! on the topology; it calls [`Topology::kind`] or [`Name::keys`].
//!
//! Adding a topology: a module here with its data, its [`Keys`] and a [`Kind`] implementation,
//! one arm in [`Topology`] (and in the two dispatches below it), and its folder of Terraform
//! templates under `templates/terraform/`.

pub mod autoscaler;
pub mod instance;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use strum::{EnumDiscriminants, EnumIter};

use crate::diagnostic::{Finding, SpecPath};
use crate::impact::Apply;
use crate::model::{Executor, Fleet, Pool};
use crate::render::Output;
use crate::render::next_steps::Scheduled;
use crate::render::runner_template::Toml;
use crate::rules::Rules;
use crate::spec;
use crate::week::{PoolPlan, Prices};

pub use autoscaler::{AutoscalerPool, Idle, Workers};
pub use instance::{InstancePool, Scaling};

/// How a pool runs its jobs, with what that topology adds to the pool. Its [`Name`] is the
/// spelling of the spec's `topology` key.
#[derive(Debug, Clone, EnumDiscriminants)]
#[strum_discriminants(
    name(Name),
    derive(Deserialize, Serialize, JsonSchema, EnumIter, Hash, PartialOrd, Ord),
    serde(rename_all = "lowercase"),
    schemars(inline)
)]
pub enum Topology {
    /// Each instance of the pool's group is a runner.
    Instance(InstancePool),
    /// A manager instance runs the docker-autoscaler (or instance) executor, which starts a
    /// worker instance per job in a group of its own.
    Autoscaler(AutoscalerPool),
}

impl Topology {
    /// The topology's answers, for the stages that do not care which topology it is.
    pub fn kind(&self) -> &dyn Kind {
        match self {
            Topology::Instance(t) => t,
            Topology::Autoscaler(t) => t,
        }
    }

    /// The topology's name, as the spec writes it.
    pub fn name(&self) -> Name {
        Name::from(self)
    }
}

/// A pool without a `topology` key is an instance pool.
impl Default for Name {
    fn default() -> Self {
        Name::Instance
    }
}

impl Name {
    /// The keys of a pool that this topology needs or rules out, with their help.
    pub fn keys(self) -> &'static Keys {
        match self {
            Name::Instance => &instance::KEYS,
            Name::Autoscaler => &autoscaler::KEYS,
        }
    }

    /// The topology of a pool as written, every default applied; takes the topology's keys out of
    /// `pool`.
    pub fn resolve(self, pool: &mut spec::Pool, defaults: &Defaults) -> Topology {
        match self {
            Name::Instance => Topology::Instance(instance::resolve(pool, defaults)),
            Name::Autoscaler => Topology::Autoscaler(autoscaler::resolve(pool, defaults)),
        }
    }

    /// How the spec spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Name::Instance => "instance",
            Name::Autoscaler => "autoscaler",
        }
    }
}

/// What a topology's keys are to shaping: the pool keys it rules out and those it needs, each
/// with its help, and the one key each window of its schedule sets.
#[derive(Debug)]
pub struct Keys {
    pub rules_out: &'static [(&'static str, &'static str)],
    pub needs: &'static [(&'static str, &'static str)],
    /// The key a window sets, the other topologies' window key it rules out, and the help of both.
    pub window_key: &'static str,
    pub window_rules_out: &'static str,
    pub window_help: &'static str,
}

/// What the topologies' defaults depend on outside the pool.
#[derive(Debug, Clone, Copy)]
pub struct Defaults {
    pub arch: spec::Arch,
    /// The image's root volume, every volume's default size.
    pub volume_gb: u32,
}

impl Defaults {
    /// The default of an instance type by architecture.
    pub fn small(&self, x86: &str, arm: &str) -> String {
        match self.arch {
            spec::Arch::X86_64 => x86.to_owned(),
            spec::Arch::Arm64 => arm.to_owned(),
        }
    }
}

/// A topology's Terraform files: each rendered with the pool's context, and the fragments the
/// fleet's iam.tf and outputs.tf include for the pool.
#[derive(Debug)]
pub struct Templates {
    pub files: &'static [Output],
    pub iam: &'static str,
    pub outputs: &'static str,
}

/// What the worker AMI needs for a pool whose jobs run on workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerNeeds {
    /// Docker jobs run on the workers.
    pub docker: bool,
    /// Shell jobs run on the workers over this many SSH sessions at once.
    pub shell_sessions: Option<u32>,
}

/// A stretch of a pool's week without a runner instance.
#[derive(Debug)]
pub struct Sleep<'a> {
    /// Its first minute of the week (Monday 00:00 is 0, in the schedule's time zone), and its length.
    pub start: usize,
    pub minutes: usize,
    pub time_zone: &'a str,
    /// The setting that lets the pool sleep.
    pub at: SpecPath,
}

/// A topology's Terraform pool context: what its templates read as the pool's own, besides
/// [`crate::render::terraform::PoolContext`]'s shared fields.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum TerraformContext {
    Instance(instance::TerraformContext),
    Autoscaler(autoscaler::TerraformContext),
}

/// A topology's answer to each stage. Every method has the pool it belongs to at hand.
pub trait Kind {
    /// The Auto Scaling group whose instances run the pool's runner.
    fn runner_group(&self, pool: &Pool) -> String;
    /// The Auto Scaling group whose size against its maximum is the pool's capacity: the runner
    /// group of an instance pool, the workers of an autoscaler pool.
    fn capacity_group(&self, pool: &Pool) -> String;
    /// Whether the runner instances publish the share of busy job slots (the metrics helper).
    fn publishes_busy_slots(&self) -> bool {
        false
    }
    /// The IAM role of those instances (AWS allows 64 characters).
    fn role_name(&self, pool: &Pool) -> String;
    /// The executor the runner registers with.
    fn runner_executor(&self, executor: Executor) -> &'static str;
    /// Jobs one runner instance runs at once.
    fn concurrent(&self) -> u32;
    /// Whether the pool's runner uses the distributed cache.
    fn uses_cache(&self, executor: Executor) -> bool;
    /// The schedule's time zone and its windows in words.
    fn windows(&self) -> Vec<(&str, String)>;
    /// The SSM parameter of the runner's live settings, if it has any.
    fn live_settings_parameter(&self, pool: &Pool) -> Option<String>;
    /// The baked units user data starts once the settings file exists.
    fn start_units(&self) -> &'static [&'static str];
    /// Where user data writes the runner's `[[runners]]` template.
    fn runner_template_path(&self) -> &'static str;
    /// Whether the runner's own instance runs Docker jobs (the runner AMI then has Docker).
    fn runs_docker_on_runner(&self, executor: Executor) -> bool;
    /// What the worker AMI needs for this pool, if its jobs run on workers.
    fn worker_needs(&self, executor: Executor) -> Option<WorkerNeeds>;
    /// The Terraform templates of a pool of this topology.
    fn templates(&self) -> &'static Templates;
    /// The pool's own Terraform context.
    fn terraform(&self, fleet: &Fleet, pool: &Pool) -> TerraformContext;
    /// The pool's week in `plan`: instances in force, instance-hours and, with prices, their cost;
    /// `demand`, the jobs' hours a week, for a topology that [`takes_demand`](Kind::takes_demand).
    fn week(&self, pool: &Pool, prices: Option<&Prices>, demand: Option<f64>) -> Result<PoolPlan, String>;
    /// Whether `plan --demand` estimates this pool's hours from its jobs' hours.
    fn takes_demand(&self) -> bool {
        false
    }
    /// The topology's rules over one pool, at `at`, the pool's spec path.
    fn check(&self, rules: &mut Rules, fleet: &Fleet, at: &SpecPath, pool: &Pool);
    /// The topology's rules over the fleet, run once, for the first pool of the topology (`at`).
    fn check_fleet(&self, _rules: &mut Rules, _fleet: &Fleet, _at: &SpecPath) {}
    /// The topology's warnings about one pool.
    fn warnings(&self, _fleet: &Fleet, _at: &SpecPath, _pool: &Pool, _out: &mut Vec<Finding>) {}
    /// Whether the pool has a runner up all week, whatever its schedule.
    fn always_on(&self) -> bool;
    /// The longest stretch of its week without a runner instance, if it has one.
    fn sleeps(&self, _at: &SpecPath) -> Option<Sleep<'_>> {
        None
    }
    /// Where the pool lists its spot instance types, if it runs on spot.
    fn spot_types(&self, at: &SpecPath) -> Option<(SpecPath, &[String])>;
    /// The time zone of the pool's schedule, if it has one.
    fn time_zone(&self) -> Option<&str>;
    /// What an apply does to the pool's running jobs and job intake, a line each (`runnergen diff`).
    fn impact(&self, pool: &Pool, apply: &Apply) -> Vec<String>;
    /// The pool's schedule as the next steps tell how to take a window at once, if it has one.
    fn scheduled_steps(&self, pool: &Pool) -> Option<Scheduled>;
    /// The topology's own section of the runner's `[[runners]]` template, and what to call it.
    fn runner_section(&self, _fleet: &Fleet, _pool: &Pool) -> Option<(&'static str, Toml)> {
        None
    }
    /// The runner's live settings, for a topology that has them.
    fn live_settings(&self, _fleet: &Fleet, _pool: &Pool) -> Option<Toml> {
        None
    }
    /// The pool's own security groups, each its Terraform label and what it holds in words
    /// (the fleet's security group of runners is not among them).
    fn own_security_groups(&self, _pool: &Pool) -> Vec<(String, String)> {
        Vec::new()
    }
    /// Whether the runner instances are in the fleet's security group of runners.
    fn in_runners_security_group(&self) -> bool {
        false
    }
    /// Whether the pool's group has scheduled actions (in schedules.tf).
    fn scheduled_actions(&self) -> bool {
        false
    }
    /// The fallback of the pool's spot group to on-demand capacity, if it has one.
    fn spot_fallback(&self, _fleet: &Fleet, _pool: &Pool) -> Option<crate::render::terraform::Fallback> {
        None
    }
}
