//! The fleet's monitoring (`monitoring.tf`): the groups' own metrics, metric filters that count
//! the helpers' messages in the pools' log groups, alarms with a runbook line each, and one
//! CloudWatch dashboard with a row per pool. Every metric the dashboard shows is one the fleet
//! publishes: the Auto Scaling group metrics its groups enable, EC2's CPU by group, the busy
//! share the metrics helper sends, and the counts of the metric filters here.
//!
//! Alarms must not fire on a healthy fleet at night, when a schedule scales pools to zero: the
//! counted messages have no data point when nothing happens (the filters set no default value),
//! so missing data is `notBreaching`; the ceiling alarm compares the group's desired size with
//! its maximum only while the group can grow (maximum above minimum), which a pool at 0 of 0, or
//! a fixed-size pool, never is.

use serde::Serialize;
use serde_json::{Value, json};

use super::packer::HELPERS;
use crate::model::{self, Fleet, Pool};
use crate::settings;

/// The Auto Scaling group metrics every group of a monitored fleet enables (EC2 Auto Scaling
/// user guide, "Amazon CloudWatch metrics for Amazon EC2 Auto Scaling"); AWS publishes them
/// every minute, also while the group has no instance. A superset of what a spot fallback's alarm
/// reads, so that a group has one list.
pub const GROUP_METRICS: &[&str] = &[
    "GroupDesiredCapacity",
    "GroupInServiceInstances",
    "GroupMaxSize",
    "GroupMinSize",
    "GroupPendingInstances",
    "GroupStandbyInstances",
    "GroupTerminatingInstances",
    "GroupTotalInstances",
];

/// The lifecycle helper's heartbeat, in the pool's namespace with the runner group as
/// `AutoScalingGroupName`, every `HEARTBEAT_METRIC_SECONDS`.
pub const HEARTBEAT_METRIC: &str = "LifecycleHeartbeat";
pub const HEARTBEAT_METRIC_SECONDS: u32 = 60;
/// The heartbeat alarm's period, and the heartbeats per instance in service below which it
/// counts the period as missing (of `HEARTBEAT_PERIOD_SECONDS / HEARTBEAT_METRIC_SECONDS`).
pub const HEARTBEAT_PERIOD_SECONDS: u32 = 300;
pub const HEARTBEATS_PER_INSTANCE: u32 = 3;

/// The namespace and dimension of the group metrics.
pub const GROUP_NAMESPACE: &str = "AWS/AutoScaling";
pub const GROUP_DIMENSION: &str = "AutoScalingGroupName";

/// A count of messages in a pool's log group: a metric filter publishes 1 for each event that
/// holds one of `messages`, each a writer and the start of what it writes. A helper's lines start
/// with its name and a colon (`log` in packer/files/_base.sh.j2); systemd's about a unit with the
/// unit's name and a colon.
#[derive(Debug)]
pub struct LogSignal {
    /// The metric's name in the pool's namespace.
    pub metric: &'static str,
    /// Each writer and the start of its message; with no writer, words from within a message.
    pub messages: &'static [(&'static str, &'static str)],
    /// The dashboard's legend.
    pub label: &'static str,
}

/// What systemd writes when a unit's stop timeout ends and it kills what is left
/// (systemd src/core/service.c, `service_dispatch_timer`, state `stop-sigterm`).
pub const STOP_TIMED_OUT: &str = "State 'stop-sigterm' timed out. Killing.";

pub const REGISTRATIONS: LogSignal =
    LogSignal { metric: "Registrations", messages: &[(HELPERS.register, "registered")], label: "registered" };
pub const REGISTRATION_FAILURES: LogSignal = LogSignal {
    metric: "RegistrationFailures",
    // The second message follows the token parameter's name, which the pattern cannot know.
    messages: &[(HELPERS.register, "registration failed"), ("", "does not hold a runner authentication token")],
    label: "registration failed",
};
pub const DRAINS: LogSignal = LogSignal {
    metric: "Drains",
    messages: &[(HELPERS.lifecycle, "the group is terminating this instance")],
    label: "drains started",
};
pub const DRAINS_AT_BOUND: LogSignal = LogSignal {
    metric: "DrainsAtBound",
    messages: &[
        (HELPERS.lifecycle, "the runner is still stopping after the pool's job timeout"),
        (settings::RUNNER_UNIT, STOP_TIMED_OUT),
    ],
    label: "drains at their bound",
};
pub const SPOT_INTERRUPTIONS: LogSignal = LogSignal {
    metric: "SpotInterruptions",
    messages: &[(HELPERS.lifecycle, "spot interruption notice")],
    label: "spot interruption notices",
};
pub const JOBS_ABORTED: LogSignal = LogSignal {
    metric: "SpotJobsAborted",
    messages: &[(HELPERS.lifecycle, "jobs still running: aborting them")],
    label: "jobs aborted by a reclaim",
};
pub const LIFECYCLE_ACTION_FAILURES: LogSignal = LogSignal {
    metric: "LifecycleActionFailures",
    messages: &[(HELPERS.lifecycle, "could not complete the lifecycle action")],
    label: "lifecycle actions not completed",
};

/// Every counted message, in the order the dashboard shows them.
pub const LOG_SIGNALS: &[&LogSignal] = &[
    &REGISTRATIONS,
    &REGISTRATION_FAILURES,
    &DRAINS,
    &DRAINS_AT_BOUND,
    &SPOT_INTERRUPTIONS,
    &JOBS_ABORTED,
    &LIFECYCLE_ACTION_FAILURES,
];

impl LogSignal {
    /// The CloudWatch Logs filter pattern: each message, with its helper's name, as a quoted term
    /// (matched anywhere in the event, whatever the agent wraps around the journal's message);
    /// several are alternatives (`?"..." ?"..."`). Filter and Pattern Syntax, CloudWatch Logs
    /// user guide: a term with characters other than letters and digits goes in double quotes.
    pub fn pattern(&self) -> String {
        let terms: Vec<String> = self
            .messages
            .iter()
            .map(|(writer, m)| if writer.is_empty() { format!("\"{m}\"") } else { format!("\"{writer}: {m}\"") })
            .collect();
        if terms.len() == 1 {
            terms.concat()
        } else {
            terms.iter().map(|t| format!("?{t}")).collect::<Vec<_>>().join(" ")
        }
    }
}

/// What monitoring.tf and the groups read.
#[derive(Debug, Serialize)]
pub struct MonitoringContext {
    /// The group metrics every group enables.
    pub group_metrics: &'static [&'static str],
    /// The dashboard's name and its body (JSON), when the spec asks for it.
    pub dashboard: Option<Dashboard>,
    /// The alarms' destination, when the spec has alarms: an existing topic, or a topic
    /// created for an address.
    pub alarms: Option<AlarmsContext>,
    pub pools: Vec<PoolMonitoring>,
}

#[derive(Debug, Serialize)]
pub struct Dashboard {
    pub name: String,
    /// The body's file, relative to the output folder, and beside the module.
    pub file: &'static str,
    pub module_file: &'static str,
    #[serde(skip)]
    pub body: String,
}

#[derive(Debug, Serialize)]
pub struct AlarmsContext {
    pub sns_topic_arn: Option<String>,
    pub email: Option<String>,
    /// The name of the topic created for `email`.
    pub topic_name: String,
    pub at_ceiling_minutes: u32,
}

/// One pool's metric filters and alarms.
#[derive(Debug, Serialize)]
pub struct PoolMonitoring {
    pub name: String,
    pub label: String,
    /// The pool's log group, when the journals are shipped: the filters read it.
    pub log_group: Option<String>,
    pub namespace: String,
    pub filters: Vec<Filter>,
    /// Alarms on the filters' counts: any count in five minutes fires.
    pub count_alarms: Vec<CountAlarm>,
    /// The group watched against its maximum, and its alarm.
    pub ceiling: CeilingAlarm,
    pub heartbeat: HeartbeatAlarm,
    /// The log group of the runner's metrics, with `runner_metrics`.
    pub runner_metrics_log_group: Option<String>,
    /// The queue-time alarm, with `queue_seconds_p90`.
    pub queue: Option<QueueAlarm>,
}

/// More than a tenth of the jobs started in 15 minutes waited longer than `seconds`.
#[derive(Debug, Serialize)]
pub struct QueueAlarm {
    pub name: String,
    pub group: String,
    pub seconds: u32,
    pub exceeded: &'static str,
    pub started: &'static str,
    pub description: String,
}

#[derive(Debug, Serialize)]
pub struct Filter {
    pub label: String,
    pub name: String,
    pub pattern: String,
    pub metric: &'static str,
}

#[derive(Debug, Serialize)]
pub struct CountAlarm {
    pub label: String,
    /// The label of the metric filter that counts.
    pub filter: String,
    pub name: String,
    pub metric: &'static str,
    pub description: String,
}

/// The lifecycle helpers are silent on the pool's runner instances.
#[derive(Debug, Serialize)]
pub struct HeartbeatAlarm {
    pub name: String,
    /// The runner group, whose instances run the helper.
    pub group: String,
    pub metric: &'static str,
    pub period: u32,
    pub per_instance: u32,
    pub description: String,
}

#[derive(Debug, Serialize)]
pub struct CeilingAlarm {
    pub name: String,
    pub group: String,
    pub description: String,
}

/// The longest alarm description AWS takes (PutMetricAlarm, `AlarmDescription`).
pub const MAX_DESCRIPTION: usize = 1024;

/// Alarm names start with the pool's id.
fn alarm_name(pool: &Pool, what: &str) -> String {
    format!("{}-{what}", pool.id)
}

impl MonitoringContext {
    pub fn new(fleet: &Fleet, monitoring: &model::Monitoring) -> Self {
        let alarms = monitoring.alarms.as_ref();
        MonitoringContext {
            group_metrics: GROUP_METRICS,
            dashboard: monitoring.dashboard.then(|| Dashboard {
                name: fleet.name.clone(),
                file: DASHBOARD_FILE,
                module_file: DASHBOARD_FILE.trim_start_matches("terraform/"),
                body: {
                    let mut text = serde_json::to_string_pretty(&dashboard_body(fleet)).unwrap_or_default();
                    text.push('\n');
                    text
                },
            }),
            alarms: alarms.map(|a| AlarmsContext {
                sns_topic_arn: a.sns_topic_arn.clone(),
                email: a.email.clone(),
                topic_name: format!("{}-alarms", fleet.name),
                at_ceiling_minutes: a.at_ceiling_minutes,
            }),
            pools: fleet.pools.iter().map(|p| pool_monitoring(fleet, p, monitoring)).collect(),
        }
    }
}

fn pool_monitoring(fleet: &Fleet, pool: &Pool, monitoring: &model::Monitoring) -> PoolMonitoring {
    let log_group = fleet.logs.map(|_| fleet.log_group(pool));
    let filters = match &log_group {
        Some(_) => LOG_SIGNALS
            .iter()
            .map(|s| Filter {
                label: filter_label(pool, s),
                name: format!("{}-{}", pool.id, s.metric),
                pattern: s.pattern(),
                metric: s.metric,
            })
            .collect(),
        None => Vec::new(),
    };
    let group = log_group.as_deref().unwrap_or_default();
    let mut count_alarms = Vec::new();
    if monitoring.alarms.is_some() && log_group.is_some() {
        count_alarms.push(CountAlarm {
            label: format!("{}_registration_failing", pool.name.replace('-', "_")),
            filter: filter_label(pool, &REGISTRATION_FAILURES),
            name: alarm_name(pool, "registration-failing"),
            metric: REGISTRATION_FAILURES.metric,
            description: {
                let said = |token: &str| {
                    format!(
                        "An instance of pool {pool_name} could not register with GitLab, so it takes no jobs. Runbook: \
                         in log group {group}, filter {helper} for the attempts; check that {token} holds the pool's \
                         glrt- token and that the runner still exists in GitLab; an instance that fails keeps retrying.",
                        pool_name = pool.name,
                        helper = HELPERS.register,
                    )
                };
                // AWS takes 1024 characters of description: a long parameter name is left out.
                let full = said(&format!("SSM parameter {}", pool.token_parameter));
                if full.chars().count() <= MAX_DESCRIPTION { full } else { said("the pool's token_parameter") }
            },
        });
        count_alarms.push(CountAlarm {
            label: format!("{}_drain_at_bound", pool.name.replace('-', "_")),
            filter: filter_label(pool, &DRAINS_AT_BOUND),
            name: alarm_name(pool, "drain-at-bound"),
            metric: DRAINS_AT_BOUND.metric,
            description: format!(
                "A drain in pool {pool_name} outlasted the pool's job timeout and its margin: the instance left \
                 with a job still running, which GitLab records as failed. Runbook: in log group {group}, filter \
                 {helper} for the instance; find the job that hung, or raise the pool's job_timeout_minutes if \
                 jobs legitimately run that long.",
                pool_name = pool.name,
                helper = HELPERS.lifecycle,
            ),
        });
    }
    let capacity_group = pool.topology.kind().capacity_group(pool);
    let runner_group = pool.runner_group();
    PoolMonitoring {
        runner_metrics_log_group: monitoring.runner_metrics.then(|| fleet.runner_metrics_log_group(pool)),
        queue: monitoring.alarms.as_ref().and_then(|a| a.queue_seconds_p90).map(|seconds| QueueAlarm {
            name: alarm_name(pool, "queue-time"),
            group: runner_group.clone(),
            seconds,
            exceeded: QUEUE_EXCEEDED,
            started: JOBS_STARTED,
            description: format!(
                "More than a tenth of the jobs pool {pool_name} started in the last 15 minutes had waited over \
                 {seconds} s in GitLab's queue: the pool is too small or too slow to start. Runbook: check the \
                 dashboard's capacity row (at its maximum? instances pending?) and registrations; raise the pool's \
                 maximum or its warm capacity in the busy windows.",
                pool_name = pool.name,
            ),
        }),
        heartbeat: HeartbeatAlarm {
            name: alarm_name(pool, "lifecycle-helper-silent"),
            description: format!(
                "The lifecycle helpers of pool {pool_name} (group {runner_group}) sent fewer than {per} heartbeats per \
                 instance in service in {minutes} minutes, twice in a row: an instance without its helper ignores \
                 scale-in and spot notices and kills jobs when it goes. Runbook: on an instance, `systemctl status \
                 {unit}` and `journalctl -u {unit}`; a helper that fails on every instance means a broken image: \
                 roll back the AMI.",
                pool_name = pool.name,
                per = HEARTBEATS_PER_INSTANCE,
                minutes = HEARTBEAT_PERIOD_SECONDS / 60,
                unit = settings::LIFECYCLE_UNIT,
            ),
            group: runner_group,
            metric: HEARTBEAT_METRIC,
            period: HEARTBEAT_PERIOD_SECONDS,
            per_instance: HEARTBEATS_PER_INSTANCE,
        },
        name: pool.name.clone(),
        label: pool.name.replace('-', "_"),
        namespace: fleet.metric_namespace(pool),
        filters,
        count_alarms,
        ceiling: CeilingAlarm {
            name: alarm_name(pool, "at-ceiling"),
            description: format!(
                "Pool {pool_name} has wanted its maximum size for {minutes} minutes (group {capacity_group}): jobs \
                 probably queue. Runbook: check the dashboard's capacity row; raise the maximum in the spec (capacity, \
                 its windows, or workers.max_instances), or look for instances that fail to register.",
                pool_name = pool.name,
                minutes = monitoring.alarms.as_ref().map_or(0, |a| a.at_ceiling_minutes),
            ),
            group: capacity_group,
        },
        log_group,
    }
}

/// The Terraform label of a pool's metric filter.
fn filter_label(pool: &Pool, signal: &LogSignal) -> String {
    format!("{}_{}", pool.name.replace('-', "_"), snake(signal.metric))
}

/// `RegistrationFailures` as `registration_failures`.
fn snake(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The dashboard's body, beside the module's files.
pub const DASHBOARD_FILE: &str = "terraform/dashboard.json";

/// The dashboard grid's width (CloudWatch's dashboard body structure: 24 columns).
pub const GRID_COLUMNS: u32 = 24;
const ROW_HEIGHT: u32 = 6;
const HEADER_HEIGHT: u32 = 2;

/// A metric line: namespace, name, dimension pairs, then its options (CloudWatch's dashboard body
/// structure, "Metric widget: metrics array format").
fn line(namespace: &str, name: &str, dimensions: &[(&str, &str)], options: Value) -> Value {
    let mut row = vec![json!(namespace), json!(name)];
    for (key, value) in dimensions {
        row.push(json!(key));
        row.push(json!(value));
    }
    row.push(options);
    Value::Array(row)
}

fn metric_widget(fleet: &Fleet, title: String, at: (u32, u32, u32), metrics: Vec<Value>, extra: Value) -> Value {
    let (x, y, width) = at;
    let mut properties = json!({
        "region": fleet.region,
        "view": "timeSeries",
        "stacked": false,
        "period": 60,
    });
    if let Some(object) = properties.as_object_mut() {
        object.insert("title".into(), Value::String(title));
        object.insert("metrics".into(), Value::Array(metrics));
    }
    if let (Some(object), Value::Object(more)) = (properties.as_object_mut(), extra) {
        object.extend(more);
    }
    json!({"type": "metric", "x": x, "y": y, "width": width, "height": ROW_HEIGHT, "properties": properties})
}

/// The lifecycle helpers heartbeating in a minute: as many as instances in service when all is well.
/// A spot fallback's switches of the group to on-demand and back, beside its capacity: the
/// Automation document counts each one (`SpotFallbackSwitches`, by group and direction).
fn fallback_lines(f: &crate::render::terraform::Fallback) -> [Value; 2] {
    let switch = |to: &str, label: &str| {
        line(
            &f.namespace,
            f.switch_metric,
            &[(GROUP_DIMENSION, &f.group_name), ("To", to)],
            json!({"label": label, "stat": "Sum"}),
        )
    };
    [switch("on-demand", "spot fallback: to on-demand"), switch("spot", "spot fallback: back to spot")]
}

fn heartbeat_line(fleet: &Fleet, pool: &Pool) -> Value {
    line(
        &fleet.metric_namespace(pool),
        HEARTBEAT_METRIC,
        &[(GROUP_DIMENSION, &pool.runner_group())],
        json!({"label": "lifecycle helpers heartbeating", "stat": "SampleCount", "period": HEARTBEAT_METRIC_SECONDS}),
    )
}

/// The dashboard: per pool, a header with its schedule in words, then its capacity (desired,
/// in service, pending, terminating against the group's minimum and maximum, which move with
/// the schedule's windows), its busy job slots, and with logs its drains and spot notices and its
/// registrations.
pub fn dashboard_body(fleet: &Fleet) -> Value {
    let mut widgets = Vec::new();
    let mut y = 0;
    for pool in &fleet.pools {
        let kind = pool.topology.kind();
        let windows = kind.windows();
        let schedule = if windows.is_empty() {
            "no schedule".to_owned()
        } else {
            let zone = kind.time_zone().unwrap_or("UTC");
            format!(
                "windows ({zone}): {}",
                windows.iter().map(|(_, w)| w.as_str()).collect::<Vec<_>>().join("; ").replace(['*', '_', '`'], " ")
            )
        };
        widgets.push(json!({
            "type": "text", "x": 0, "y": y, "width": GRID_COLUMNS, "height": HEADER_HEIGHT,
            "properties": {"markdown": format!("## Pool {}\n{}", pool.name, schedule)},
        }));
        y += HEADER_HEIGHT;
        let columns = if fleet.logs.is_some() { 4 } else { 2 };
        let width = GRID_COLUMNS / columns;
        let group = kind.capacity_group(pool);
        let g = |name: &str, label: &str| {
            line(GROUP_NAMESPACE, name, &[(GROUP_DIMENSION, &group)], json!({"label": label, "stat": "Maximum"}))
        };
        widgets.push(metric_widget(
            fleet,
            format!("{}: capacity ({group})", pool.name),
            (0, y, width),
            vec![
                g("GroupDesiredCapacity", "desired"),
                g("GroupInServiceInstances", "in service"),
                g("GroupPendingInstances", "pending"),
                g("GroupTerminatingInstances", "terminating"),
                g("GroupMinSize", "min"),
                g("GroupMaxSize", "max"),
            ]
            .into_iter()
            .chain((group == pool.runner_group()).then(|| heartbeat_line(fleet, pool)))
            .chain(kind.spot_fallback(fleet, pool).into_iter().flat_map(|f| fallback_lines(&f)))
            .collect(),
            json!({}),
        ));
        let runner_group = pool.runner_group();
        let busy = if kind.publishes_busy_slots() {
            let namespace = fleet.metric_namespace(pool);
            metric_widget(
                fleet,
                format!("{}: busy job slots and CPU, %", pool.name),
                (width, y, width),
                vec![
                    line(
                        &namespace,
                        model::BUSY_METRIC,
                        &[(model::BUSY_METRIC_DIMENSION, &runner_group)],
                        json!({"label": "busy job slots", "stat": "Average"}),
                    ),
                    line(
                        "AWS/EC2",
                        "CPUUtilization",
                        &[(GROUP_DIMENSION, &runner_group)],
                        json!({"label": "CPU", "stat": "Average", "period": 300}),
                    ),
                ],
                json!({"yAxis": {"left": {"min": 0, "max": 100}}}),
            )
        } else {
            metric_widget(
                fleet,
                format!("{}: manager ({runner_group})", pool.name),
                (width, y, width),
                vec![
                    line(
                        GROUP_NAMESPACE,
                        "GroupInServiceInstances",
                        &[(GROUP_DIMENSION, &runner_group)],
                        json!({"label": "manager in service", "stat": "Maximum"}),
                    ),
                    heartbeat_line(fleet, pool),
                ],
                json!({}),
            )
        };
        widgets.push(busy);
        if fleet.logs.is_some() {
            let namespace = fleet.metric_namespace(pool);
            let count = |s: &LogSignal| line(&namespace, s.metric, &[], json!({"label": s.label, "stat": "Sum"}));
            widgets.push(metric_widget(
                fleet,
                format!("{}: drains and spot notices", pool.name),
                (2 * width, y, width),
                [&DRAINS, &DRAINS_AT_BOUND, &SPOT_INTERRUPTIONS, &JOBS_ABORTED, &LIFECYCLE_ACTION_FAILURES]
                    .into_iter()
                    .map(count)
                    .collect(),
                json!({"period": 300}),
            ));
            widgets.push(metric_widget(
                fleet,
                format!("{}: registrations", pool.name),
                (3 * width, y, width),
                [&REGISTRATIONS, &REGISTRATION_FAILURES].into_iter().map(count).collect(),
                json!({"period": 300}),
            ));
        }
        y += ROW_HEIGHT;
        if fleet.runner_metrics() {
            let namespace = fleet.metric_namespace(pool);
            let r = |name: &str, label: &str, stat: &str| {
                line(&namespace, name, &[(GROUP_DIMENSION, &runner_group)], json!({"label": label, "stat": stat}))
            };
            let mut jobs = vec![
                r("gitlab_runner_jobs", "jobs running", "Sum"),
                r("gitlab_runner_concurrent", "job slots", "Sum"),
                r(JOBS_STARTED, "jobs started", "Sum"),
                r(QUEUE_EXCEEDED, "jobs that waited too long", "Sum"),
            ];
            if fleet.queue_seconds().is_none() {
                jobs.pop();
            }
            widgets.push(metric_widget(
                fleet,
                format!("{}: the runner's jobs", pool.name),
                (0, y, GRID_COLUMNS / 2),
                jobs,
                json!({}),
            ));
            widgets.push(metric_widget(
                fleet,
                format!("{}: the runner's errors and requests to GitLab", pool.name),
                (GRID_COLUMNS / 2, y, GRID_COLUMNS / 2),
                vec![
                    r("gitlab_runner_errors_total", "errors and warnings logged", "Sum"),
                    r("gitlab_runner_api_request_statuses_total", "requests to GitLab", "Sum"),
                    r("gitlab_runner_worker_feed_failures_total", "job requests failed", "Sum"),
                    r("gitlab_runner_request_concurrency_exceeded_total", "job requests over the concurrency", "Sum"),
                ],
                json!({"period": 300}),
            ));
            y += ROW_HEIGHT;
        }
    }
    json!({"widgets": widgets})
}

/// The dashboard's grid as an SVG picture: each widget a box at its place, with its title.
pub fn dashboard_svg(body: &Value) -> String {
    const CELL: u32 = 40;
    const ROW: u32 = 30;
    let widgets = body.get("widgets").and_then(Value::as_array).cloned().unwrap_or_default();
    let number = |w: &Value, key: &str| w.get(key).and_then(Value::as_u64).unwrap_or(0) as u32;
    let bottom = widgets.iter().map(|w| number(w, "y") + number(w, "height")).max().unwrap_or(0);
    let (width, height) = (GRID_COLUMNS * CELL, bottom * ROW);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" \
         font-family=\"sans-serif\" font-size=\"13\">\n<rect width=\"{width}\" height=\"{height}\" fill=\"#f4f5f7\"/>\n"
    );
    for w in &widgets {
        let (x, y, wd, ht) =
            (number(w, "x") * CELL, number(w, "y") * ROW, number(w, "width") * CELL, number(w, "height") * ROW);
        let kind = w.get("type").and_then(Value::as_str).unwrap_or_default();
        let properties = w.get("properties");
        let title = match kind {
            "text" => properties
                .and_then(|p| p.get("markdown"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .trim_start_matches("## ")
                .replace('\n', " · "),
            _ => properties.and_then(|p| p.get("title")).and_then(Value::as_str).unwrap_or_default().to_owned(),
        };
        let fill = if kind == "text" { "#dde3ea" } else { "#ffffff" };
        svg.push_str(&format!(
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{fill}\" stroke=\"#8592a3\"/>\n",
            x + 2,
            y + 2,
            wd.saturating_sub(4),
            ht.saturating_sub(4)
        ));
        svg.push_str(&format!("<text x=\"{}\" y=\"{}\">{}</text>\n", x + 10, y + 22, escape(&title)));
        if kind == "metric" {
            let lines =
                properties.and_then(|p| p.get("metrics")).and_then(Value::as_array).cloned().unwrap_or_default();
            for (i, m) in lines.iter().enumerate() {
                let label = m
                    .as_array()
                    .and_then(|parts| parts.last())
                    .and_then(|o| o.get("label"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                svg.push_str(&format!(
                    "<text x=\"{}\" y=\"{}\" fill=\"#44505e\" font-size=\"11\">— {}</text>\n",
                    x + 14,
                    y + 42 + 15 * i as u32,
                    escape(label)
                ));
            }
        }
    }
    svg.push_str("</svg>\n");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The runner's Prometheus metrics shipped to CloudWatch, each with its type and the file of
/// gitlab-runner 19.3.0 that defines it. Gauges and counters only: the CloudWatch agent drops
/// histograms ("Prometheus metric type conversion by the CloudWatch agent", Amazon CloudWatch
/// user guide), so `gitlab_runner_job_queue_duration_seconds` and
/// `gitlab_runner_job_duration_seconds` cannot go this way. The agent sends a counter's increase
/// since its last scrape.
pub const RUNNER_METRICS: &[(&str, &str, &str)] = &[
    ("gitlab_runner_jobs", "gauge", "commands/builds_helper.go"),
    ("gitlab_runner_concurrent", "gauge", "commands/multi.go"),
    ("gitlab_runner_limit", "gauge", "commands/multi.go"),
    ("gitlab_runner_jobs_total", "counter", "commands/builds_helper.go"),
    ("gitlab_runner_acceptable_job_queuing_duration_exceeded_total", "counter", "commands/builds_helper.go"),
    ("gitlab_runner_request_concurrency_exceeded_total", "counter", "commands/builds_helper.go"),
    ("gitlab_runner_worker_feed_failures_total", "counter", "commands/multi.go"),
    ("gitlab_runner_errors_total", "counter", "helpers/prometheus/log_hook.go"),
    ("gitlab_runner_api_request_statuses_total", "counter", "network/api_requests_collector.go"),
];

/// The runner's count of jobs that waited over the configured queue time, and of jobs it took.
pub const QUEUE_EXCEEDED: &str = "gitlab_runner_acceptable_job_queuing_duration_exceeded_total";
pub const JOBS_STARTED: &str = "gitlab_runner_jobs_total";

/// The scrape's job name, which the agent's metric declaration selects on.
pub const SCRAPE_JOB: &str = "gitlab-runner";

/// The CloudWatch agent's Prometheus scrape of the runner on the instance (listen_address in
/// config.toml, 127.0.0.1), every minute, labelled with the pool's runner group: the one
/// dimension of every metric, so that the runner's own labels (runner, system_id, state...)
/// never multiply them. JSON, which YAML reads as it is (Prometheus' scrape configuration:
/// `global`, `scrape_configs[].static_configs[].targets` and `labels`).
pub fn prometheus_config(pool: &Pool) -> String {
    let config = json!({
        "global": {"scrape_interval": "1m", "scrape_timeout": "10s"},
        "scrape_configs": [{
            "job_name": SCRAPE_JOB,
            "sample_limit": 10000,
            "static_configs": [{
                "targets": [format!("127.0.0.1:{}", super::packer::METRICS_PORT)],
                "labels": {GROUP_DIMENSION: pool.runner_group()},
            }],
        }],
    });
    let mut text = serde_json::to_string(&config).unwrap_or_default();
    text.push('\n');
    text
}

/// The agent's `logs.metrics_collected.prometheus` (aws/amazon-cloudwatch-agent, "Set up and
/// configure Prometheus metrics collection on Amazon EC2 instances"): the scrape above, written
/// as embedded metric format events into the pool's runner-metrics log group, from which
/// CloudWatch extracts [`RUNNER_METRICS`] into the pool's namespace with the runner group as
/// their one dimension.
pub fn agent_prometheus(fleet: &Fleet, pool: &Pool) -> Value {
    let selectors: Vec<String> = RUNNER_METRICS.iter().map(|(name, _, _)| format!("^{name}$")).collect();
    json!({"prometheus": {
        "log_group_name": fleet.runner_metrics_log_group(pool),
        "prometheus_config_path": crate::settings::PROMETHEUS_CONFIG,
        "emf_processor": {
            "metric_declaration_dedup": true,
            "metric_namespace": fleet.metric_namespace(pool),
            "metric_declaration": [{
                "source_labels": ["job"],
                "label_matcher": format!("^{SCRAPE_JOB}$"),
                "dimensions": [[GROUP_DIMENSION]],
                "metric_selectors": selectors,
            }],
        },
    }})
}

/// What a fleet's monitoring creates that CloudWatch charges for, counted from what this module
/// renders: the custom metrics (each metric filter's count and the heartbeat of each pool), the
/// metrics in alarms (a metric math alarm counts each of its metrics), the dashboards; and the
/// heartbeats' PutMetricData requests for each runner instance-hour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    pub custom_metrics: u32,
    pub alarm_metrics: u32,
    pub dashboards: u32,
    pub requests_per_instance_hour: u32,
}

pub fn usage(fleet: &Fleet) -> Option<Usage> {
    let monitoring = fleet.monitoring.as_ref()?;
    let context = MonitoringContext::new(fleet, monitoring);
    let alarms = monitoring.alarms.is_some();
    Some(Usage {
        custom_metrics: context
            .pools
            .iter()
            .map(|p| {
                p.filters.len() as u32
                    + 1
                    + if p.runner_metrics_log_group.is_some() { RUNNER_METRICS.len() as u32 } else { 0 }
            })
            .sum(),
        // A count alarm has one metric; the ceiling three (desired, max, min); the heartbeat two.
        // The queue alarm two (jobs waited too long, jobs started).
        alarm_metrics: if alarms {
            context
                .pools
                .iter()
                .map(|p| p.count_alarms.len() as u32 + 3 + 2 + if p.queue.is_some() { 2 } else { 0 })
                .sum()
        } else {
            0
        },
        dashboards: u32::from(context.dashboard.is_some()),
        requests_per_instance_hour: 3600 / HEARTBEAT_METRIC_SECONDS,
    })
}
