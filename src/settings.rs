//! The contract between the Terraform target's user data and the Packer target's scripts:
//! the settings file that user data writes on each instance and the runner's unit reads.
//! Both targets take the path and every key name from here; nothing else names them.
//!
//! The file is a bash fragment of `KEY=value` lines, each value one shell word (lists are
//! bash arrays), sourced by the helper scripts. It holds no secret: the token stays in SSM.

use crate::model::{Fleet, Pool};
use crate::spec::spelling;

/// Where user data writes the settings file.
pub const PATH: &str = "/etc/runnergen/runner.env";

/// The drop-in user data writes to give the runner unit the pool's stop timeout.
pub const STOP_TIMEOUT_DROPIN: &str = "/etc/systemd/system/runnergen-runner.service.d/50-stop-timeout.conf";

/// The baked units that user data starts once it has written the settings file. They are
/// enabled in the image with `ConditionPathExists=` on [`PATH`], so they also start on reboot.
pub const RUNNER_UNIT: &str = "runnergen-runner.service";
pub const LIFECYCLE_UNIT: &str = "runnergen-lifecycle.service";
pub const METRICS_TIMER: &str = "runnergen-metrics.timer";
/// The timer that applies a manager's live settings (`render::runner_template::live`).
pub const MANAGER_SETTINGS_TIMER: &str = "runnergen-manager-settings.timer";

/// Where a manager keeps the live settings it last read from their SSM parameter.
pub const MANAGER_SETTINGS: &str = "/etc/runnergen/manager-settings.toml";

/// With `logs`: where user data writes the CloudWatch agent's configuration, which it then hands
/// to the agent (`amazon-cloudwatch-agent-ctl -a fetch-config`).
pub const CLOUDWATCH_AGENT_CONFIG: &str = "/etc/runnergen/cloudwatch-agent.json";

/// With the runner's metrics: where user data writes the CloudWatch agent's Prometheus scrape
/// configuration (JSON, which YAML reads as it is).
pub const PROMETHEUS_CONFIG: &str = "/etc/runnergen/prometheus.yaml";

/// Where an instance pool's user data writes its runner's `[runners.cache]` (with a cache), which
/// the register hook merges into config.toml.
pub const RUNNER_TEMPLATE: &str = "/etc/runnergen/runner-template.toml";

/// Where an autoscaler pool's user data writes the manager's `[runners.autoscaler]`, which the
/// register hook merges into config.toml. Only managers have it: the manager gate and the metric
/// timer key on it.
pub const AUTOSCALER_CONFIG: &str = "/etc/runnergen/autoscaler.toml";

/// One key of the settings file: its name and its value for a pool.
pub struct Setting {
    pub key: &'static str,
    value: fn(&Fleet, &Pool) -> Value,
}

/// Whether the pool's runner has live settings, which then hold its default job image.
fn live(pool: &Pool) -> bool {
    pool.live_settings_parameter().is_some()
}

fn word(text: impl Into<String>) -> Value {
    Value::Word(text.into())
}

/// Every key of the settings file, each with its own value: nothing pairs them by position.
pub const SETTINGS: &[Setting] = &[
    // Fleet name.
    Setting { key: "RUNNERGEN_FLEET", value: |f, _| word(&f.name) },
    // Pool name.
    Setting { key: "RUNNERGEN_POOL", value: |_, p| word(&p.name) },
    // AWS region of the SSM parameter, the group and the metrics.
    Setting { key: "RUNNERGEN_REGION", value: |f, _| word(&f.region) },
    // GitLab base URL the runner registers with.
    Setting { key: "RUNNERGEN_GITLAB_URL", value: |f, _| word(&f.gitlab_url) },
    // SSM SecureString parameter holding the glrt- token.
    Setting { key: "RUNNERGEN_TOKEN_PARAMETER", value: |_, p| word(&p.token_parameter) },
    // The runner's executor: docker or shell on an instance pool, docker-autoscaler or instance
    // on an autoscaler pool's manager.
    Setting { key: "RUNNERGEN_EXECUTOR", value: |_, p| word(p.runner_executor()) },
    // Jobs this instance runs at once.
    Setting { key: "RUNNERGEN_CONCURRENT", value: |_, p| word(p.concurrent().to_string()) },
    // Longest job; how long a drain waits.
    Setting {
        key: "RUNNERGEN_JOB_TIMEOUT_SECONDS",
        value: |_, p| word((u64::from(p.job_timeout_minutes) * 60).to_string()),
    },
    // Default job image (docker executor; empty for shell, and on a manager, whose live settings
    // hold it).
    Setting {
        key: "RUNNERGEN_DOCKER_IMAGE",
        value: |_, p| word(p.docker.as_ref().filter(|_| !live(p)).map_or("", |d| d.image.as_str())),
    },
    // True or false.
    Setting {
        key: "RUNNERGEN_DOCKER_PRIVILEGED",
        value: |_, p| word(p.docker.as_ref().is_some_and(|d| d.privileged).to_string()),
    },
    // Bash arrays of the image patterns that may run privileged; empty: every one.
    Setting {
        key: "RUNNERGEN_DOCKER_ALLOWED_PRIVILEGED_IMAGES",
        value: |_, p| Value::List(p.docker.as_ref().map(|d| d.allowed_privileged_images.clone()).unwrap_or_default()),
    },
    Setting {
        key: "RUNNERGEN_DOCKER_ALLOWED_PRIVILEGED_SERVICES",
        value: |_, p| Value::List(p.docker.as_ref().map(|d| d.allowed_privileged_services.clone()).unwrap_or_default()),
    },
    // Always, if-not-present or never (on a manager: empty, its live settings hold it).
    Setting {
        key: "RUNNERGEN_DOCKER_PULL_POLICY",
        value: |_, p| {
            word(if live(p) {
                String::new()
            } else {
                p.docker.as_ref().map_or("always".to_owned(), |d| spelling(d.pull_policy))
            })
        },
    },
    // Bash array of extra job volumes.
    Setting {
        key: "RUNNERGEN_DOCKER_VOLUMES",
        value: |_, p| Value::List(p.docker.as_ref().map(|d| d.volumes.clone()).unwrap_or_default()),
    },
    // The Auto Scaling group of the runner instances: the pool's group, or its manager group.
    Setting { key: "RUNNERGEN_ASG_NAME", value: |_, p| word(p.runner_group()) },
    // The group's terminating lifecycle hook.
    Setting { key: "RUNNERGEN_LIFECYCLE_HOOK", value: |_, p| word(p.lifecycle_hook_name()) },
    // An autoscaler pool's SSM parameter of live settings (empty elsewhere).
    Setting {
        key: "RUNNERGEN_MANAGER_SETTINGS_PARAMETER",
        value: |_, p| word(p.live_settings_parameter().unwrap_or_default()),
    },
    // CloudWatch namespace of the pool's busy-slot metric.
    Setting { key: "RUNNERGEN_METRIC_NAMESPACE", value: |f, p| word(f.metric_namespace(p)) },
];

/// The key names, for templates: `{{ keys.RUNNERGEN_POOL }}` fails to render if a key is renamed.
pub fn key_names() -> std::collections::BTreeMap<&'static str, &'static str> {
    SETTINGS.iter().map(|s| (s.key, s.key)).collect()
}

/// One value of the settings file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Word(String),
    List(Vec<String>),
}

/// The settings of one pool's instances, in [`SETTINGS`] order.
pub fn for_pool(fleet: &Fleet, pool: &Pool) -> Vec<(&'static str, Value)> {
    SETTINGS.iter().map(|s| (s.key, (s.value)(fleet, pool))).collect()
}

/// The settings file's text: every value quoted as one shell word, so sourcing it runs nothing.
pub fn render(settings: &[(&'static str, Value)]) -> String {
    let mut out =
        String::from("# runnergen pool settings, read by the gitlab-runner unit's helpers. No secrets here.\n");
    for (key, value) in settings {
        let text = match value {
            Value::Word(w) => crate::quote::shell_word(w),
            Value::List(items) => {
                format!("({})", items.iter().map(|i| crate::quote::shell_word(i)).collect::<Vec<_>>().join(" "))
            }
        };
        out.push_str(&format!("{key}={text}\n"));
    }
    out
}
