//! The rules over a pool's runner in GitLab: its scope, tags and timeout.

use super::{Rules, root};
use crate::diagnostic::{Finding, Mark, SpecPath};
use crate::model::{Fleet, Pool, Runner, RunnerMode, Scope};

/// GitLab's limits on a runner's tags (app/models/ci/runner.rb `TAG_LIST_MAX_LENGTH`,
/// app/models/ci/tag.rb): at most 50, each 1 to 255 characters. The API splits each tag at
/// commas and strips spaces (lib/api/validations/types/comma_separated_to_array.rb), so a tag
/// with either would come back as another and never match the plan.
const MAX_TAG_LENGTH: usize = 255;

/// The pool's runner in GitLab, when runnergen's Terraform creates it.
pub(super) fn check_runner(rules: &mut Rules, fleet: &Fleet, at: &SpecPath, pool: &Pool) {
    runner_for_mode(rules, fleet, at, pool);
    let Some(runner) = &pool.runner else { return };
    let here = at.key("runner");
    scope_ids(rules, fleet, &here, runner);
    takes_jobs(rules, &here, runner);
    tags(rules, &here, runner);
    maximum_timeout(rules, at, pool, runner);
}

/// A pool's `runner` goes with `gitlab.runners`: the keys for a runner runnergen's Terraform
/// creates only with `terraform`, where every pool has a runner with a `scope`.
fn runner_for_mode(rules: &mut Rules, fleet: &Fleet, at: &SpecPath, pool: &Pool) {
    let mode = root().key("gitlab").key("runners");
    let here = at.key("runner");
    rules.rule(&[&mode, &here], |out| match (fleet.runners, &pool.runner) {
        (RunnerMode::External, Some(runner)) => {
            for key in &runner.terraform_keys {
                out.push(
                    Finding::new(
                        here.key(key),
                        format!("`{key}` is for runners that runnergen's Terraform creates"),
                        "not used",
                    )
                    .mark(Mark::Key)
                    .help(
                        "with `gitlab.runners: external` (the default) the runner you create in GitLab takes \
                         its `tags`, `run_untagged` and `protected` from here (the next steps list them); set \
                         the rest in GitLab, or set `gitlab.runners: terraform` to have the runner created",
                    ),
                );
            }
        }
        (RunnerMode::Terraform, Some(runner)) if runner.scope.is_none() => out.push(
            Finding::new(
                here.clone(),
                "a runner that runnergen's Terraform creates needs `scope`",
                "add `scope:` here",
            )
            .mark(Mark::KeyOrFirst)
            .related(mode.clone(), Mark::Value, "runnergen's Terraform creates the runners")
            .help(
                "write where the runner belongs: `scope: instance`, `scope: group` with `group_id`, or \
                 `scope: project` with `project_id`",
            ),
        ),
        (RunnerMode::Terraform, None) => out.push(
            Finding::new(
                at.clone(),
                format!("{} is missing the required key `runner`", at.describe()),
                "add `runner:` here",
            )
            .mark(Mark::KeyOrFirst)
            .related(mode.clone(), Mark::Value, "runnergen's Terraform creates the runners")
            .help(
                "with `gitlab.runners: terraform` every pool says where its runner belongs, such as `runner: \
                 {scope: group, group_id: 1234}`",
            ),
        ),
        _ => {}
    });
}

/// A runner runnergen's Terraform creates has the ID its scope needs, and no other.
fn scope_ids(rules: &mut Rules, fleet: &Fleet, here: &SpecPath, runner: &Runner) {
    let scope = here.key("scope");
    let (group, project) = (here.key("group_id"), here.key("project_id"));
    rules.rule(&[&scope, &group, &project], |out| {
        let Some(written) = runner.scope.filter(|_| fleet.runners == RunnerMode::Terraform) else { return };
        let wanted = match written {
            Scope::Instance => (false, false),
            Scope::Group => (true, false),
            Scope::Project => (false, true),
        };
        for (path, key, has, wants) in [
            (&group, "group_id", runner.group_id.is_some(), wanted.0),
            (&project, "project_id", runner.project_id.is_some(), wanted.1),
        ] {
            let spelled = written.as_str();
            if has && !wants {
                out.push(
                    Finding::new(
                        path.clone(),
                        format!("`{key}` does not go with `scope: {spelled}`"),
                        "not used with this scope",
                    )
                    .mark(Mark::Key)
                    .related(scope.clone(), Mark::Value, "the runner's scope")
                    .help(
                        "a group runner has `group_id`, a project runner `project_id`, an instance runner \
                         neither",
                    ),
                );
            } else if wants && !has {
                out.push(
                    Finding::new(
                        scope.clone(),
                        format!("a runner with `scope: {spelled}` needs `{key}`"),
                        format!("add `{key}:` beside it"),
                    )
                    .help(format!(
                        "write the ID of the {} the runner belongs to, such as `{key}: 1234`; GitLab \
                         shows it on the {} page",
                        &key[..key.len() - 3],
                        &key[..key.len() - 3]
                    )),
                );
            }
        }
    });
}

/// A runner gets jobs: it has tags, or takes untagged jobs.
fn takes_jobs(rules: &mut Rules, here: &SpecPath, runner: &Runner) {
    let tags = here.key("tags");
    let untagged = here.key("run_untagged");
    rules.rule(&[&tags, &untagged], |out| {
        if runner.tags.is_empty() && !runner.run_untagged {
            out.push(
                Finding::new(
                    untagged.clone(),
                    "a runner without tags that takes no untagged jobs never gets a job",
                    "with no `tags`",
                )
                .help(
                    "give the runner `tags`, or let it take untagged jobs (`run_untagged: true`); GitLab \
                     refuses the runner otherwise",
                ),
            );
        }
    });
}

/// Each tag is one GitLab keeps as written, and written once.
fn tags(rules: &mut Rules, here: &SpecPath, runner: &Runner) {
    let tags = here.key("tags");
    for (j, tag) in runner.tags.iter().enumerate() {
        let path = tags.index(j);
        rules.rule(&[&path], |out| {
            let why = if tag.is_empty() {
                Some("it is empty".to_owned())
            } else if tag.contains(',') {
                Some("GitLab splits tags at commas".to_owned())
            } else if tag.trim() != tag {
                Some("GitLab strips the spaces around a tag".to_owned())
            } else if tag.chars().count() > MAX_TAG_LENGTH {
                Some(format!("it is longer than GitLab's {MAX_TAG_LENGTH} characters"))
            } else {
                None
            };
            if let Some(why) = why {
                let message = if tag.is_empty() {
                    "GitLab would not keep an empty tag".to_owned()
                } else {
                    format!(
                        "GitLab \
                         would not keep the tag `{tag}`: {why}"
                    )
                };
                out.push(Finding::new(path.clone(), message, "this tag").help(
                    "a tag is 1 to 255 characters without commas or surrounding spaces, such as `docker` \
                     or `arm64`; the runner's tags would otherwise differ from the plan on every apply",
                ));
            }
        });
        rules.rule(&[&tags], |out| {
            if let Some(first) = runner.tags[..j].iter().position(|t| t == tag) {
                out.push(
                    Finding::new(path.clone(), format!("the tag `{tag}` is written twice"), "second time")
                        .related(tags.index(first), Mark::Value, "first time")
                        .help("a runner's tags are a set: write each once"),
                );
            }
        });
    }
}

/// The runner's maximum timeout is no longer than the pool's drain waits.
fn maximum_timeout(rules: &mut Rules, at: &SpecPath, pool: &Pool, runner: &Runner) {
    let here = at.key("runner");
    let timeout = here.key("maximum_timeout");
    let job = at.key("job_timeout_minutes");
    rules.rule(&[&timeout, &job], |out| {
        // GitLab gives a job min(project timeout, runner maximum timeout): only a maximum no longer
        // than the drain keeps every job inside it (gitlab-runner common/build.go
        // GetBuildTimeout takes the job payload's RunnerInfo.Timeout).
        let job_seconds = pool.job_timeout_minutes * 60;
        if runner.maximum_timeout > job_seconds {
            out.push(
                Finding::new(
                    timeout.clone(),
                    format!(
                        "the runner lets jobs run {} s, longer than the pool's job timeout of {job_seconds} s",
                        runner.maximum_timeout
                    ),
                    "longer than the drain",
                )
                .related(job.clone(), Mark::Value, "the drain waits this long")
                .help(
                    "an instance that leaves waits `job_timeout_minutes` for its jobs, then stops them: set \
                     `maximum_timeout` to at most that many seconds, or leave it out (it defaults to the pool's job \
                     timeout)",
                ),
            );
        }
    });
}
