//! Scheduled actions and the capacity apply leaves to them, each on a small spec of its own,
//! read back from the generated HCL.

use std::collections::BTreeMap;

use hcl::{Body, Expression};

use crate::tf::{attr, number, render_pools, resource, string};

/// A scheduled action as generated: (name, recurrence, time zone, min, max, desired).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Action {
    name: String,
    recurrence: String,
    time_zone: String,
    sizes: (i64, i64, i64),
    group: String,
}

fn schedules(files: &BTreeMap<String, Body>) -> Vec<Action> {
    let Some(body) = files.get("schedules.tf") else { return Vec::new() };
    body.blocks()
        .filter(|b| b.identifier() == "resource" && b.labels()[0].as_str() == "aws_autoscaling_schedule")
        .map(|b| {
            let body = b.body();
            Action {
                name: string(body, "scheduled_action_name"),
                recurrence: string(body, "recurrence"),
                time_zone: string(body, "time_zone"),
                sizes: (number(body, "min_size"), number(body, "max_size"), number(body, "desired_capacity")),
                group: attr(body, "autoscaling_group_name").to_string(),
            }
        })
        .collect()
}

#[test]
fn a_window_crossing_midnight_ends_on_the_following_day() {
    let files = render_pools(
        r#"
  - name: nightly
    executor: shell
    instance_types: [t3.large]
    capacity: {min: 0, max: 6, desired: 0}
    token_parameter: /sched/nightly/token
    schedule:
      time_zone: Europe/Dublin
      windows:
        - days: MON-FRI
          from: "22:00"
          to: "06:00"
          capacity: {min: 2, max: 6, desired: 3}
"#,
    );
    let actions = schedules(&files);
    assert_eq!(actions.len(), 2, "{actions:#?}");
    let start = actions.iter().find(|a| a.name.ends_with("-start")).expect("a start action");
    let end = actions.iter().find(|a| a.name.ends_with("-end")).expect("an end action");
    // MON-FRI at 22:00 sets the window's capacity; TUE-SAT at 06:00 restores the base.
    assert_eq!(start.recurrence, "0 22 * * 1-5");
    assert_eq!(start.sizes, (2, 6, 3));
    assert_eq!(end.recurrence, "0 6 * * 2-6");
    assert_eq!(end.sizes, (0, 6, 0));
    for a in &actions {
        assert_eq!(a.group, "aws_autoscaling_group.nightly.name");
    }
}

#[test]
fn where_one_window_ends_as_another_starts_only_the_start_runs() {
    let files = render_pools(
        r#"
  - name: day
    executor: shell
    instance_types: [t3.large]
    capacity: {min: 0, max: 8, desired: 0}
    token_parameter: /sched/day/token
    schedule:
      time_zone: UTC
      windows:
        - days: MON-FRI
          from: "08:00"
          to: "12:00"
          capacity: {min: 2, max: 8, desired: 4}
        - days: [MON]
          from: "12:00"
          to: "18:00"
          capacity: {min: 1, max: 8, desired: 2}
"#,
    );
    let actions = schedules(&files);
    // On Monday at 12:00 only window 2's start runs; on TUE-FRI window 1's end still does.
    let at_noon: Vec<&Action> = actions.iter().filter(|a| a.recurrence.starts_with("0 12 ")).collect();
    assert_eq!(at_noon.len(), 2, "{at_noon:#?}");
    let start = at_noon.iter().find(|a| a.name.ends_with("window-2-start")).expect("window 2 starts at 12:00");
    assert_eq!(start.recurrence, "0 12 * * 1");
    assert_eq!(start.sizes, (1, 8, 2));
    let end = at_noon.iter().find(|a| a.name.ends_with("window-1-end")).expect("window 1 ends on TUE-FRI");
    assert_eq!(end.recurrence, "0 12 * * 2-5");
    // No two actions share a minute of any day.
    let mut seen = std::collections::BTreeSet::new();
    for a in &actions {
        let fields: Vec<&str> = a.recurrence.split(' ').collect();
        for day in expand_days(fields[4]) {
            assert!(seen.insert((fields[0].to_owned(), fields[1].to_owned(), day)), "two actions at {a:?}");
        }
    }
    assert_eq!(actions.len(), 4, "{actions:#?}");
}

#[test]
fn adjacent_windows_on_the_same_days_emit_one_action_at_the_shared_minute() {
    let files = render_pools(
        r#"
  - name: office
    executor: shell
    instance_types: [t3.large]
    capacity: {min: 0, max: 8, desired: 0}
    token_parameter: /sched/office/token
    schedule:
      windows:
        - days: MON-FRI
          from: "08:00"
          to: "12:00"
          capacity: {min: 2, max: 8, desired: 4}
        - days: MON-FRI
          from: "12:00"
          to: "18:00"
          capacity: {min: 1, max: 8, desired: 2}
"#,
    );
    let actions = schedules(&files);
    let at_noon: Vec<&Action> = actions.iter().filter(|a| a.recurrence == "0 12 * * 1-5").collect();
    assert_eq!(at_noon.len(), 1, "{actions:#?}");
    assert!(at_noon[0].name.ends_with("window-2-start"));
    assert_eq!(at_noon[0].sizes, (1, 8, 2));
    assert_eq!(actions.len(), 3, "{actions:#?}");
}

fn expand_days(field: &str) -> Vec<u32> {
    field
        .split(',')
        .flat_map(|part| match part.split_once('-') {
            Some((a, b)) => (a.parse::<u32>().expect("a day")..=b.parse().expect("a day")).collect::<Vec<_>>(),
            None => vec![part.parse().expect("a day")],
        })
        .collect()
}

#[test]
fn every_action_runs_in_its_window_time_zone() {
    let files = render_pools(
        r#"
  - name: tokyo
    executor: shell
    instance_types: [t3.large]
    capacity: {min: 0, max: 4}
    token_parameter: /sched/tokyo/token
    schedule:
      time_zone: Asia/Tokyo
      windows:
        - days: MON-FRI
          from: "09:00"
          to: "18:00"
          capacity: {min: 1, max: 4, desired: 1}
        - days: SAT
          from: "23:30"
          to: "01:15"
          capacity: {min: 1, max: 2, desired: 1}
  - name: berlin
    executor: shell
    instance_types: [t3.large]
    capacity: {min: 0, max: 4}
    token_parameter: /sched/berlin/token
    schedule:
      time_zone: Europe/Berlin
      windows:
        - days: [MON, WED]
          from: "07:00"
          to: "19:00"
          capacity: {min: 2, max: 4, desired: 2}
  - name: utc
    executor: shell
    instance_types: [t3.large]
    capacity: {min: 0, max: 4}
    token_parameter: /sched/utc/token
    schedule:
      windows:
        - days: SUN
          from: "00:00"
          to: "06:00"
          capacity: {min: 1, max: 4, desired: 1}
"#,
    );
    let actions = schedules(&files);
    assert_eq!(actions.len(), 8, "{actions:#?}");
    for a in &actions {
        let expected = match a.group.as_str() {
            "aws_autoscaling_group.tokyo.name" => "Asia/Tokyo",
            "aws_autoscaling_group.berlin.name" => "Europe/Berlin",
            // The spec's UTC is a link in the IANA database; AWS takes canonical names.
            "aws_autoscaling_group.utc.name" => "Etc/UTC",
            other => panic!("unexpected group {other}"),
        };
        assert_eq!(a.time_zone, expected, "{a:?}");
    }
    // Saturday 23:30 to Sunday 01:15: the end runs on Sunday, cron day 0.
    let sat_end = actions.iter().find(|a| a.name == "sched-tokyo-window-2-end").expect("its end");
    assert_eq!(sat_end.recurrence, "15 1 * * 0");
}

#[test]
fn apply_never_changes_the_capacity_that_schedules_and_scaling_set() {
    let files = render_pools(
        r#"
  - name: scheduled
    executor: shell
    instance_types: [t3.large, t3a.large]
    spot: true
    capacity: {min: 0, max: 4}
    token_parameter: /sched/scheduled/token
    schedule:
      windows:
        - days: MON-FRI
          from: "08:00"
          to: "18:00"
          capacity: {min: 1, max: 4, desired: 2}
  - name: always
    executor: shell
    instance_types: [t3.large]
    capacity: {min: 1, max: 3, desired: 2}
    token_parameter: /sched/always/token
    scaling: {cpu_percent: 50}
"#,
    );
    let ignored = |pool: &str| -> Vec<String> {
        let body = &files[&format!("pool-{pool}.tf")];
        let group = resource(body, "aws_autoscaling_group", pool);
        let lifecycle = group.body().blocks().find(|b| b.identifier() == "lifecycle").expect("a lifecycle block");
        match attr(lifecycle.body(), "ignore_changes") {
            Expression::Array(items) => items.iter().map(ToString::to_string).collect(),
            other => panic!("ignore_changes is not a list: {other}"),
        }
    };
    // Schedules set all three sizes, and scaling the desired capacity: apply leaves them alone.
    let mut scheduled = ignored("scheduled");
    scheduled.sort();
    assert_eq!(scheduled, ["desired_capacity", "max_size", "min_size"]);
    // Without a schedule Terraform owns min and max (spec changes apply at once), scaling the rest.
    assert_eq!(ignored("always"), ["desired_capacity"]);

    // Both pools scale on demand, against the group they belong to.
    for (pool, busy) in [("scheduled", true), ("always", false)] {
        let body = &files[&format!("pool-{pool}.tf")];
        let policy = resource(body, "aws_autoscaling_policy", &format!("{pool}_demand"));
        assert_eq!(string(policy.body(), "policy_type"), "TargetTrackingScaling");
        let tracking = policy.body().blocks().find(|b| b.identifier() == "target_tracking_configuration").expect("tt");
        let kinds: Vec<&str> = tracking.body().blocks().map(hcl::Block::identifier).collect();
        let expected = if busy { "customized_metric_specification" } else { "predefined_metric_specification" };
        assert_eq!(kinds, [expected], "{pool}");
    }

    // The spot pool has a mixed instances policy with every type as an override.
    let body = &files["pool-scheduled.tf"];
    let group = resource(body, "aws_autoscaling_group", "scheduled");
    let mixed = group.body().blocks().find(|b| b.identifier() == "mixed_instances_policy").expect("mixed policy");
    let distribution = mixed.body().blocks().find(|b| b.identifier() == "instances_distribution").expect("dist");
    assert_eq!(string(distribution.body(), "spot_allocation_strategy"), "price-capacity-optimized");
    let template = mixed.body().blocks().find(|b| b.identifier() == "launch_template").expect("launch_template");
    let overrides: Vec<String> = template
        .body()
        .blocks()
        .filter(|b| b.identifier() == "override")
        .map(|b| string(b.body(), "instance_type"))
        .collect();
    assert_eq!(overrides, ["t3.large", "t3a.large"]);
    assert_eq!(attr(group.body(), "capacity_rebalance").to_string(), "true");
}
