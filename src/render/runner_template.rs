//! The `[[runners]]` template a pool's runner registers with (`gitlab-runner register
//! --template-config`, which merges one `[[runners]]` entry under what the command line sets),
//! written at boot by the pool's user data: the distributed cache's `[runners.cache]` and the
//! topology's own section (an autoscaler pool's `[runners.autoscaler]`). A topology may also have
//! [`live`] settings: what changes on a running runner without replacing its instance. Each is
//! spelled by a template (`templates/terraform/runner-template.toml.j2` and the topology's own),
//! every string through the `toml` filter.

use minijinja::Environment;
use serde::Serialize;

use super::{environment, template_error, to_value};
use crate::Error;
use crate::model::{Fleet, Pool};

const TEMPLATE: &str = "terraform/runner-template.toml.j2";

/// What a topology writes in TOML: the template that spells it and that template's context
/// (`own`).
pub struct Toml {
    pub template: &'static str,
    pub context: minijinja::Value,
}

#[derive(Serialize)]
struct Context<'a> {
    /// What the template holds, for its first comment.
    what: &'static str,
    pool: &'a str,
    cache: Option<Cache<'a>>,
    /// Seconds of queue time above which the runner counts a job
    /// (`gitlab_runner_acceptable_job_queuing_duration_exceeded_total`), when the alarms watch it.
    queue_seconds: Option<u32>,
    /// The topology's section: its template, which reads `own`.
    section: Option<&'static str>,
    own: minijinja::Value,
}

#[derive(Serialize)]
struct Cache<'a> {
    path: String,
    shared: bool,
    bucket: &'a str,
    region: &'a str,
}

/// The pool's template, when its runner needs more than the command line gives.
pub fn render(fleet: &Fleet, pool: &Pool) -> Result<Option<String>, Error> {
    render_with(&environment(fleet).map_err(template_error)?, fleet, pool).map_err(template_error)
}

/// The runner's live settings, for a topology that has them.
pub fn live(fleet: &Fleet, pool: &Pool) -> Result<Option<String>, Error> {
    live_with(&environment(fleet).map_err(template_error)?, fleet, pool).map_err(template_error)
}

pub(crate) fn render_with(env: &Environment, fleet: &Fleet, pool: &Pool) -> Result<Option<String>, minijinja::Error> {
    let own = pool.topology.kind().runner_section(fleet, pool);
    let cache = fleet.cache.as_ref().zip(fleet.cache_path(pool)).map(|(cache, path)| Cache {
        path,
        shared: cache.shared,
        bucket: &cache.bucket,
        region: &fleet.region,
    });
    let queue_seconds = fleet.queue_seconds();
    if own.is_none() && cache.is_none() && queue_seconds.is_none() {
        return Ok(None);
    }
    let context = Context {
        what: own.as_ref().map_or(if cache.is_some() { "The cache" } else { "The queue-time count" }, |(what, _)| what),
        pool: &pool.name,
        cache,
        queue_seconds,
        section: own.as_ref().map(|(_, toml)| toml.template),
        own: own.map_or(minijinja::Value::UNDEFINED, |(_, toml)| toml.context),
    };
    env.get_template(TEMPLATE)?.render(to_value(&context)).map(Some)
}

pub(crate) fn live_with(env: &Environment, fleet: &Fleet, pool: &Pool) -> Result<Option<String>, minijinja::Error> {
    let Some(toml) = pool.topology.kind().live_settings(fleet, pool) else { return Ok(None) };
    let context = minijinja::context! { pool => &pool.name, own => toml.context };
    env.get_template(toml.template)?.render(context).map(Some)
}
