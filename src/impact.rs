//! What applying a change set does to the fleet's running jobs, for `runnergen diff`: which
//! pools' instances an apply replaces, which managers stop the pool's job intake while they are
//! replaced, which settings reach a running manager without a replacement, which runners are made
//! anew in GitLab, and which pools drain away. Read from the files that change, so it says what
//! this very apply does; a line per pool, in spec order, removed pools last.

use std::collections::BTreeMap;

use crate::diff::{Change, ChangeSet};
use crate::model::{Fleet, Pool, STOP_MARGIN_SECONDS};

/// The changed files' old and new text, by path (`None` where there is none).
pub struct Texts<'a> {
    changes: BTreeMap<&'a str, (Option<String>, Option<&'a str>)>,
}

impl<'a> Texts<'a> {
    fn new(set: &'a ChangeSet) -> Texts<'a> {
        let changes = set
            .changes
            .iter()
            .map(|change| {
                let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
                let (old, new) = match change {
                    Change::Added { new, .. } => (None, Some(new.contents.as_str())),
                    Change::Modified { old, new, .. } => (Some(text(&old.bytes)), Some(new.contents.as_str())),
                    Change::Removed { old, .. } => (Some(text(&old.bytes)), None),
                };
                (change.path(), (old, new))
            })
            .collect();
        Texts { changes }
    }

    pub fn changed(&self, path: &str) -> bool {
        self.changes.contains_key(path)
    }

    /// Whether a resource block of a changed file differs between the old and the new text (a
    /// block that is only on one side counts as changed; an unchanged file, as unchanged).
    pub fn block_changed(&self, path: &str, resource: &str, label: &str) -> bool {
        let Some((old, new)) = self.changes.get(path) else {
            return false;
        };
        block(old.as_deref(), resource, label) != block(*new, resource, label)
    }

    /// The lines of a block that start with one of `keys`, old and new.
    fn block_keys(&self, path: &str, resource: &str, label: &str, keys: &[&str]) -> (Vec<String>, Vec<String>) {
        let Some((old, new)) = self.changes.get(path) else {
            return (Vec::new(), Vec::new());
        };
        let pick = |text: Option<&str>| -> Vec<String> {
            block(text, resource, label)
                .into_iter()
                .flat_map(|b| b.lines().map(str::trim).map(str::to_owned).collect::<Vec<_>>())
                .filter(|line| keys.iter().any(|k| line.split_whitespace().next() == Some(k)))
                .collect()
        };
        (pick(old.as_deref()), pick(*new))
    }
}

/// A `resource "TYPE" "LABEL" { ... }` block of runnergen's own HCL (canonical form: the block
/// ends at the first line that is exactly `}`).
fn block<'t>(text: Option<&'t str>, resource: &str, label: &str) -> Option<&'t str> {
    let text = text?;
    let start = text.find(&format!("resource \"{resource}\" \"{label}\" {{"))?;
    let end = text[start..].find("\n}\n").map_or(text.len(), |e| start + e + 3);
    Some(&text[start..end])
}

/// One line per pool whose running jobs or job intake an apply of `set` touches; empty when it
/// touches none.
pub fn impact(set: &ChangeSet, fleet: &Fleet) -> Vec<String> {
    let texts = Texts::new(set);
    let image = set.changes.iter().any(|c| c.path().starts_with("packer/"));
    let mut lines = Vec::new();
    for pool in &fleet.pools {
        let pool_tf = format!("terraform/pool-{}.tf", pool.name);
        if set.changes.iter().any(|c| matches!(c, Change::Added { path, .. } if *path == pool_tf)) {
            lines.push(format!("pool {}: new; its instances start as the apply creates it", pool.name));
            continue;
        }
        let recreated = runner_recreated(&texts, pool);
        let apply = Apply {
            texts: &texts,
            pool_tf: &pool_tf,
            user_data: texts.changed(&format!("terraform/user-data/{}.sh", pool.name)),
            recreated,
            image,
            drain_minutes: pool.job_timeout_minutes + STOP_MARGIN_SECONDS / 60,
        };
        lines.extend(pool.topology.kind().impact(pool, &apply));
        if recreated {
            lines.push(format!(
                "pool {}: its runner is made anew in GitLab (its scope, group or project changes) and the old one deleted as soon as the new one exists: the old instances stop taking jobs; jobs already running there finish and report with their own job tokens, but those instances cannot remove their runner managers (GitLab drops them after 7 days)",
                pool.name
            ));
        }
    }
    for change in &set.changes {
        if let Change::Removed { path, .. } = change
            && let Some(name) = path.strip_prefix("terraform/pool-").and_then(|p| p.strip_suffix(".tf"))
            && !fleet.pools.iter().any(|p| p.name == name)
        {
            lines.push(format!(
                "pool {name}: removed: `terraform apply` deletes its group, draining every instance first, and waits for their running jobs"
            ));
        }
    }
    lines
}

/// What an apply changes for one pool, for its topology to say what that does to its jobs.
pub struct Apply<'a> {
    pub texts: &'a Texts<'a>,
    /// The pool's Terraform file.
    pub pool_tf: &'a str,
    pub user_data: bool,
    /// Its runner is made anew in GitLab.
    pub recreated: bool,
    /// The image changes (the Packer files do).
    pub image: bool,
    /// How long its instances' drain may take, in minutes.
    pub drain_minutes: u32,
}

impl Apply<'_> {
    /// Why a launch template gets a new version, if it does: a new runner (a new token), its user
    /// data or its own block, or a new image.
    pub fn why(&self, launch_template: bool) -> Option<&'static str> {
        if self.recreated {
            Some("its runner is made anew")
        } else if self.user_data || launch_template {
            Some("its launch template changes")
        } else if self.image {
            Some("the image changes (after `packer build`)")
        } else {
            None
        }
    }
}

/// Whether the pool's `gitlab_user_runner` is replaced: the provider makes a new runner when its
/// `runner_type`, `group_id` or `project_id` changes (they require replacement).
fn runner_recreated(texts: &Texts, pool: &Pool) -> bool {
    let (old, new) = texts.block_keys(
        "terraform/gitlab.tf",
        "gitlab_user_runner",
        &pool.name,
        &["runner_type", "group_id", "project_id"],
    );
    !old.is_empty() && !new.is_empty() && old != new
}

/// The impact lines as `diff` prints them after the files' diff; empty when there are none.
pub fn render(lines: &[String]) -> String {
    if lines.is_empty() {
        return String::new();
    }
    let mut out = String::from("\nWhat applying this does to running jobs:\n");
    for line in lines {
        out.push_str(&format!("  - {line}\n"));
    }
    out
}
