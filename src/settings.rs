//! The contract between the Terraform target's user data and the Packer target's scripts:
//! the settings file that user data writes on each instance and the runner's unit reads.
//! Both targets take the path and every key name from here; nothing else names them.
//!
//! The file is a bash fragment of `KEY=value` lines, each value one shell word (lists are
//! bash arrays), sourced by the helper scripts. It holds no secret: the token stays in SSM.

use crate::model::{Executor, Fleet, Pool, PullPolicy};

/// Where user data writes the settings file.
pub const PATH: &str = "/etc/runnergen/runner.env";

/// The drop-in user data writes to give the runner unit the pool's stop timeout.
pub const STOP_TIMEOUT_DROPIN: &str = "/etc/systemd/system/runnergen-runner.service.d/50-stop-timeout.conf";

/// The baked units that user data starts once it has written the settings file. They are
/// enabled in the image with `ConditionPathExists=` on [`PATH`], so they also start on reboot.
pub const RUNNER_UNIT: &str = "runnergen-runner.service";
pub const LIFECYCLE_UNIT: &str = "runnergen-lifecycle.service";
pub const METRICS_TIMER: &str = "runnergen-metrics.timer";
pub const START_UNITS: &[&str] = &[RUNNER_UNIT, LIFECYCLE_UNIT, METRICS_TIMER];

/// Every key of the settings file, with what it holds.
pub const KEYS: &[(&str, &str)] = &[
    ("RUNNERGEN_FLEET", "fleet name"),
    ("RUNNERGEN_POOL", "pool name"),
    ("RUNNERGEN_REGION", "AWS region of the SSM parameter, the group and the metrics"),
    ("RUNNERGEN_GITLAB_URL", "GitLab base URL the runner registers with"),
    ("RUNNERGEN_TOKEN_PARAMETER", "SSM SecureString parameter holding the glrt- token"),
    ("RUNNERGEN_EXECUTOR", "docker or shell"),
    ("RUNNERGEN_CONCURRENT", "jobs this instance runs at once"),
    ("RUNNERGEN_JOB_TIMEOUT_SECONDS", "longest job; how long a drain waits"),
    ("RUNNERGEN_DOCKER_IMAGE", "default job image (docker executor; empty for shell)"),
    ("RUNNERGEN_DOCKER_PRIVILEGED", "true or false"),
    ("RUNNERGEN_DOCKER_PULL_POLICY", "always, if-not-present or never"),
    ("RUNNERGEN_DOCKER_VOLUMES", "bash array of extra job volumes"),
    ("RUNNERGEN_ASG_NAME", "the pool's Auto Scaling group"),
    ("RUNNERGEN_LIFECYCLE_HOOK", "the group's terminating lifecycle hook"),
    ("RUNNERGEN_METRIC_NAMESPACE", "CloudWatch namespace of the busy-slot metric"),
];

/// The key names, for templates: `{{ keys.RUNNERGEN_POOL }}` fails to render if a key is renamed.
pub fn key_names() -> std::collections::BTreeMap<&'static str, &'static str> {
    KEYS.iter().map(|(k, _)| (*k, *k)).collect()
}

/// One value of the settings file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Word(String),
    List(Vec<String>),
}

/// The settings of one pool's instances, in `KEYS` order.
pub fn for_pool(fleet: &Fleet, pool: &Pool) -> Vec<(&'static str, Value)> {
    let word = |s: &str| Value::Word(s.to_owned());
    let docker = pool.docker.as_ref();
    let pull = |p: PullPolicy| match p {
        PullPolicy::Always => "always",
        PullPolicy::IfNotPresent => "if-not-present",
        PullPolicy::Never => "never",
    };
    let values = [
        word(&fleet.name),
        word(&pool.name),
        word(&fleet.region),
        word(&fleet.gitlab_url),
        word(&pool.token_parameter),
        word(match pool.executor {
            Executor::Docker => "docker",
            Executor::Shell => "shell",
        }),
        word(&pool.concurrent.to_string()),
        word(&(u64::from(pool.job_timeout_minutes) * 60).to_string()),
        word(docker.map_or("", |d| d.image.as_str())),
        word(if docker.is_some_and(|d| d.privileged) { "true" } else { "false" }),
        word(docker.map_or("always", |d| pull(d.pull_policy))),
        Value::List(docker.map(|d| d.volumes.clone()).unwrap_or_default()),
        word(&pool.id),
        word(&pool.lifecycle_hook_name()),
        word(&fleet.metric_namespace(pool)),
    ];
    KEYS.iter().map(|(k, _)| *k).zip(values).collect()
}

/// The settings file's text: every value quoted as one shell word, so sourcing it runs nothing.
pub fn render(settings: &[(&'static str, Value)]) -> String {
    let mut out =
        String::from("# runnergen pool settings, read by the gitlab-runner unit's helpers. No secrets here.\n");
    for (key, value) in settings {
        let text = match value {
            Value::Word(w) => shell_word(w),
            Value::List(items) => format!("({})", items.iter().map(|i| shell_word(i)).collect::<Vec<_>>().join(" ")),
        };
        out.push_str(&format!("{key}={text}\n"));
    }
    out
}

/// One bash word that means exactly `text`, always on one line: a line break in a value could
/// otherwise end the here-document user data writes the settings with.
pub fn shell_word(text: &str) -> String {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./-_".contains(&b)) {
        return text.to_owned();
    }
    if text.chars().any(char::is_control) {
        // ANSI-C quoting: every control character as an escape, so the word stays one line.
        let mut out = String::from("$'");
        for c in text.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\'' => out.push_str("\\'"),
                // Its UTF-8 bytes, which bash writes as they are whatever the locale.
                c if c.is_control() => {
                    let mut bytes = [0; 4];
                    for b in c.encode_utf8(&mut bytes).bytes() {
                        out.push_str(&format!("\\x{b:02x}"));
                    }
                }
                c => out.push(c),
            }
        }
        out.push('\'');
        return out;
    }
    // Single quotes keep everything literal; a quote ends, is escaped, restarts.
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_survive_bash() {
        for text in ["plain", "", "it's", "$(touch /tmp/x) `id` ${HOME}", "a\nb", "-n", "*", "x\r\n'\\\u{7f}\u{85}é"] {
            assert!(!shell_word(text).contains(['\n', '\r']), "{text:?}");
            let script = format!("printf %s {}", shell_word(text));
            let out = std::process::Command::new("bash").arg("-c").arg(&script).output().expect("bash runs");
            assert_eq!(String::from_utf8_lossy(&out.stdout), text, "{script}");
        }
    }
}
