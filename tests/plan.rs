//! `runnergen plan`: the week's integral on small specs whose figures are worked out by hand
//! here, the JSON of every example and the text of one pinned, prices and baselines, and the
//! command's errors.

use std::path::{Path, PathBuf};

use runnergen::week::{Hours, Plan};

use crate::common;

const HEAD: &str = "version: 1\nname: wk\naws:\n  region: eu-west-1\n  vpc_id: vpc-0123456789abcdef0\n  \
                    subnet_ids: [subnet-0123456789abcdef0]\ngitlab:\n  url: https://gitlab.example.com\nimage:\n  \
                    os: ubuntu-24.04\n  arch: x86_64\n  runner_version: 19.3.0\n  fleeting_plugin_version: 1.0.0\npools:\n";

/// A pool of base capacity `base` and the given windows (YAML flow mappings).
fn pool(base: &str, windows: &[&str]) -> String {
    let mut text = format!(
        "  - name: p\n    executor: shell\n    instance_types: [t3.small]\n    capacity: {base}\n    \
         token_parameter: /wk/p\n    scaling: {{cpu_percent: 50}}\n"
    );
    if !windows.is_empty() {
        text.push_str("    schedule:\n      time_zone: Europe/Berlin\n      windows:\n");
        for w in windows {
            text.push_str(&format!("        - {w}\n"));
        }
    }
    text
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

fn plan_of(pools: &str) -> Plan {
    let dir = tempfile::tempdir().expect("a temp dir");
    let spec = write(dir.path(), "fleet.yaml", &format!("{HEAD}{pools}"));
    let fleet = runnergen::load_spec(&spec).map(|l| l.fleet).unwrap_or_else(|e| panic!("{}", e.render(false)));
    Plan::new(&fleet, None).expect("plans")
}

fn hours(min: f64, desired: f64, max: f64) -> Hours {
    Hours { min, desired, max }
}

#[test]
fn a_pool_without_a_schedule_has_its_base_all_week() {
    let plan = plan_of(&pool("{min: 1, max: 4, desired: 2}", &[]));
    assert_eq!(plan.pools[0].instance_hours, hours(168.0, 336.0, 672.0));
    assert_eq!(plan.pools[0].always_on_max_hours, 672.0);
    assert_eq!(plan.total.instance_hours, hours(168.0, 336.0, 672.0));
}

#[test]
fn several_windows_on_different_days_add_up() {
    // Base 0; MON 08:00-12:00 at 2 (4 h), WED and FRI 13:30-14:00 at 4 (2 x 0.5 h).
    let plan = plan_of(&pool(
        "{min: 0, max: 1}",
        &[
            r#"{days: MON, from: "08:00", to: "12:00", capacity: {min: 2, max: 3}}"#,
            r#"{days: [WED, FRI], from: "13:30", to: "14:00", capacity: {min: 4, max: 4}}"#,
        ],
    ));
    // min = desired: 2 x 4 + 4 x 1 = 12; max: 3 x 4 + 4 x 1 + 1 x (168 - 5) = 179.
    assert_eq!(plan.pools[0].instance_hours, hours(12.0, 12.0, 179.0));
    // Always-on at the highest max in force (4, on Wednesday and Friday afternoons): 4 x 168.
    assert_eq!(plan.pools[0].always_on_max_hours, 672.0);
}

#[test]
fn a_window_across_midnight_runs_into_the_next_day() {
    // MON-FRI 22:00-06:00 at 2 over base 1: 8 h a night, 5 nights, 1 more instance.
    let plan = plan_of(&pool(
        "{min: 1, max: 1}",
        &[r#"{days: MON-FRI, from: "22:00", to: "06:00", capacity: {min: 2, max: 2}}"#],
    ));
    assert_eq!(plan.pools[0].instance_hours, hours(208.0, 208.0, 208.0));
    // The last night ends on Saturday morning.
    let week = &plan.pools[0].week;
    let saturday = |h: u32| runnergen::week::at(week, (5 * 24 + h) * 60).desired;
    assert_eq!((saturday(5), saturday(6)), (2, 1));
}

#[test]
fn a_sunday_night_window_wraps_into_monday() {
    // SUN 20:00-04:00 at 3 over base 0: Sunday 20:00-24:00 and Monday 00:00-04:00.
    let plan =
        plan_of(&pool("{min: 0, max: 1}", &[r#"{days: SUN, from: "20:00", to: "04:00", capacity: {min: 3, max: 3}}"#]));
    assert_eq!(plan.pools[0].instance_hours.desired, 24.0);
    let week = &plan.pools[0].week;
    assert_eq!(runnergen::week::at(week, 3 * 60).desired, 3, "Monday 03:00");
    assert_eq!(runnergen::week::at(week, 4 * 60).desired, 0, "Monday 04:00");
    assert_eq!(runnergen::week::at(week, 6 * 24 * 60 + 20 * 60).desired, 3, "Sunday 20:00");
}

#[test]
fn adjacent_windows_hand_over_without_a_gap() {
    // MON-FRI 07:00-12:00 at 2, then 12:00-19:00 at 3; base 0: 5 x (2 x 5 + 3 x 7) = 155.
    let plan = plan_of(&pool(
        "{min: 0, max: 1}",
        &[
            r#"{days: MON-FRI, from: "07:00", to: "12:00", capacity: {min: 2, max: 4}}"#,
            r#"{days: MON-FRI, from: "12:00", to: "19:00", capacity: {min: 3, max: 4}}"#,
        ],
    ));
    assert_eq!(plan.pools[0].instance_hours.desired, 155.0);
    let week = &plan.pools[0].week;
    assert_eq!(runnergen::week::at(week, 12 * 60 - 1).desired, 2);
    assert_eq!(runnergen::week::at(week, 12 * 60).desired, 3);
    // A window at 0 over a base of 1 takes the pool to 0 only while it runs: 168 - 2 x 23.
    let plan = plan_of(&pool(
        "{min: 1, max: 1}",
        &[r#"{days: SAT-SUN, from: "00:00", to: "23:00", capacity: {min: 0, max: 0}}"#],
    ));
    assert_eq!(plan.pools[0].instance_hours.desired, 122.0);
}

#[test]
fn an_autoscaler_pool_counts_its_manager_and_its_warm_workers() {
    // A manager all week; idle 3 slots on workers of 2 (2 workers) MON 09:00-17:00, else 0;
    // 10 workers at most.
    let text = "  - name: a\n    topology: autoscaler\n    executor: docker\n    token_parameter: /wk/a\n    \
                workers: {instance_types: [c7i.large], max_instances: 10, capacity_per_instance: 2}\n    \
                schedule:\n      windows:\n        - {days: MON, from: \"09:00\", to: \"17:00\", idle: {count: 3}}\n";
    let plan = plan_of(text);
    let p = &plan.pools[0];
    let a = p.autoscaler.expect("autoscaler hours");
    assert_eq!((a.manager, a.worker_floor, a.worker_ceiling), (168.0, 16.0, 1680.0));
    assert_eq!(p.instance_hours, hours(184.0, 184.0, 1848.0));
    assert_eq!(p.always_on_max_hours, 1848.0);
}

#[test]
fn prices_give_each_pool_and_the_fleet_a_weekly_cost() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let prices = write(
        dir.path(),
        "prices.yaml",
        "currency: EUR\ninstance_types:\n  m7g.large: {on_demand: 0.1, spot: 0.04}\n  m6g.large: {on_demand: 0.09}\n  \
         t4g.medium: {on_demand: 0.05}\n",
    );
    let spec = common::root().join("examples/multi-pool/fleet.yaml");
    let out = common::run(common::runnergen().args(["plan", "--format", "json", "--prices"]).arg(&prices).arg(&spec));
    common::assert_success(&out, "plan --prices");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    // docker: spot, priced at its first type's spot price, and with its fallback to on-demand at
    // the on-demand price at its ceiling, the worst case; shell: on-demand.
    let docker = &json["pools"][0];
    assert_eq!(docker["currency"], "EUR");
    assert_eq!(docker["cost_per_week"]["desired"].as_f64(), Some(120.0 * 0.04));
    assert_eq!(docker["cost_per_week"]["max"].as_f64(), Some(1680.0 * 0.1));
    assert_eq!(docker["cost_max_at"], "on-demand");
    assert_eq!(json["pools"][1]["cost_per_week"]["desired"].as_f64(), Some(168.0 * 0.05));
    assert_eq!(json["total"]["cost_per_week"]["desired"].as_f64(), Some(4.8 + 8.4));

    // A type without a price names itself, the pool and the file.
    let partial = write(dir.path(), "partial.yaml", "currency: EUR\ninstance_types:\n  m7g.large: {on_demand: 0.1}\n");
    let out = common::run(common::runnergen().args(["plan", "--prices"]).arg(&partial).arg(&spec));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("has no price for `t4g.medium`, which pool `shell` runs on"), "{stderr}");
    assert!(stderr.contains("partial.yaml"), "{stderr}");

    // A price list that is not one is located like a spec.
    let bad = write(dir.path(), "bad.yaml", "currency: EUR\ninstance_types:\n  m7g.large: {on_demand: cheap}\n");
    let out = common::run(common::runnergen().args(["plan", "--prices"]).arg(&bad).arg(&spec));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.yaml:3:"), "{stderr}");
    assert!(stderr.contains("not a price list"), "{stderr}");
}

#[test]
fn a_baseline_shows_what_a_change_adds() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let base = std::fs::read_to_string(common::root().join("examples/multi-pool/fleet.yaml")).expect("read");
    let wider = base.replace("to: \"19:00\"", "to: \"21:00\"");
    assert_ne!(base, wider);
    let old = write(dir.path(), "old.yaml", &base);
    let new = write(dir.path(), "new.yaml", &wider);
    let out = common::run(common::runnergen().args(["plan", "--format", "json", "--baseline"]).arg(&old).arg(&new));
    common::assert_success(&out, "plan --baseline");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    // Two more hours a weekday at min 1 / desired 2 / max 10 instead of the base 0 / 0 / 10.
    assert_eq!(json["delta"]["pools"][0]["name"], "docker");
    assert_eq!(json["delta"]["pools"][0]["instance_hours"]["min"].as_f64(), Some(10.0));
    assert_eq!(json["delta"]["pools"][0]["instance_hours"]["desired"].as_f64(), Some(20.0));
    assert_eq!(json["delta"]["pools"][0]["instance_hours"]["max"].as_f64(), Some(0.0));
    assert_eq!(json["delta"]["total"]["instance_hours"]["desired"].as_f64(), Some(20.0));
    assert_eq!(json["baseline"]["total"]["instance_hours"]["desired"].as_f64(), Some(288.0));
    let out = common::run(common::runnergen().args(["plan", "--color", "never", "--baseline"]).arg(&old).arg(&new));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Change from "), "{text}");
    assert!(text.lines().any(|l| l.starts_with("docker") && l.contains("+10.0") && l.contains("+20.0")), "{text}");
}

#[test]
fn every_examples_json_is_pinned() {
    for (name, spec) in common::examples() {
        let out = common::run(common::runnergen().args(["plan", "--format", "json"]).arg(&spec));
        common::assert_success(&out, &format!("plan {name}"));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(json["week_hours"], 168);
        insta::assert_snapshot!(format!("plan-json-{name}"), String::from_utf8_lossy(&out.stdout));
    }
}

#[test]
fn the_multi_pool_text_is_pinned() {
    let spec = common::root().join("examples/multi-pool/fleet.yaml");
    let out = common::run(common::runnergen().args(["plan", "--color", "never"]).arg(&spec));
    common::assert_success(&out, "plan");
    insta::assert_snapshot!("plan-text-multi-pool", String::from_utf8_lossy(&out.stdout));
    // Colour is only escape codes around the same characters.
    let coloured = common::run(common::runnergen().args(["plan", "--color", "always"]).arg(&spec));
    let stripped =
        String::from_utf8_lossy(&coloured.stdout).replace("\x1b[2m", "").replace("\x1b[32m", "").replace("\x1b[0m", "");
    assert_eq!(stripped, String::from_utf8_lossy(&out.stdout));
}

#[test]
fn plan_fails_like_validate_on_a_bad_spec() {
    let spec = common::root().join("tests/spec_errors/overlapping-windows.yaml");
    let plan = common::run(common::runnergen().arg("plan").arg(&spec));
    let validate = common::run(common::runnergen().arg("validate").arg(&spec));
    assert_eq!(plan.status.code(), Some(2));
    assert_eq!(plan.stderr, validate.stderr);
    assert!(plan.stdout.is_empty());
}

/// The README shows what `plan` prints for examples/multi-pool, and the chart it draws.
#[test]
fn the_readme_shows_what_plan_prints() {
    let spec = common::root().join("examples/multi-pool/fleet.yaml");
    let dir = tempfile::tempdir().expect("a temp dir");
    let svg = dir.path().join("week.svg");
    let out = common::run(common::runnergen().args(["plan", "--color", "never", "--svg"]).arg(&svg).arg(&spec));
    common::assert_success(&out, "plan");
    let readme = std::fs::read_to_string(common::root().join("README.md")).expect("README");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        readme.contains(&format!("```text\n{text}```")),
        "README.md shows other figures than (`scripts/bless` writes them):\n{text}"
    );
    let committed = std::fs::read_to_string(common::root().join("docs/plan-multi-pool.svg")).expect("the chart");
    assert_eq!(
        committed,
        std::fs::read_to_string(&svg).expect("drawn"),
        "docs/plan-multi-pool.svg is not what plan draws; run `scripts/bless`"
    );
}

/// A pool that sleeps outside its windows (base `max: 0`) is measured against the peak it
/// reaches, not its base, and the month is the week times 730 / 168; figures worked out by hand.
#[test]
fn a_sleeping_pools_share_and_the_month() {
    // Base {0, 0}; MON-FRI 07:00-20:00 (13 h) at min 1, desired 2, max 12.
    let text = format!(
        "{HEAD}{}",
        pool(
            "{min: 0, max: 0}",
            &[r#"{days: MON-FRI, from: "07:00", to: "20:00", capacity: {min: 1, max: 12, desired: 2}}"#]
        )
    );
    let dir = tempfile::tempdir().expect("a temp dir");
    let spec = write(dir.path(), "fleet.yaml", &text);
    let fleet = runnergen::load_spec(&spec).map(|l| l.fleet).unwrap_or_else(|e| panic!("{}", e.render(false)));
    let plan = Plan::new(&fleet, None).expect("plans");
    // min 5 x 13 x 1 = 65, desired 5 x 13 x 2 = 130, max 5 x 13 x 12 = 780.
    assert_eq!(plan.pools[0].instance_hours, hours(65.0, 130.0, 780.0));
    // Always-on: 12 instances x 168 h = 2016; share 130 / 2016 = 6.45 %.
    assert_eq!(plan.pools[0].always_on_max_hours, 2016.0);
    assert!((runnergen::week::share(&plan.pools[0].instance_hours, 2016.0) - 6.448).abs() < 0.001);
    // A month: 65 x 730 / 168 = 282.44, 130 x 730 / 168 = 564.88, 780 x 730 / 168 = 3389.29.
    let month = runnergen::week::monthly(plan.total.instance_hours);
    for (got, want) in [(month.min, 282.44), (month.desired, 564.88), (month.max, 3389.29)] {
        assert!((got - want).abs() < 0.005, "{got} != {want}");
    }
    let out = common::run(common::runnergen().args(["plan", "--color", "never"]).arg(&spec));
    common::assert_success(&out, "plan");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(stdout.contains("2016.0  6.4 %"), "{stdout}");
    assert!(
        stdout.contains("A month (730 h, 4.35 weeks): 282.4 min, 564.9 desired, 3389.3 max instance-hours."),
        "{stdout}"
    );
}

/// `--demand POOL=HOURS` narrows an autoscaler pool's range: desired becomes its warm floor plus
/// the worker-hours its jobs take (job-hours / capacity_per_instance), never past the ceiling,
/// and the cost follows. Figures by hand for examples/autoscaler: `build` keeps 2 warm workers
/// 12 h on 5 days (120 h) beside its manager (168 h), one job per worker, at most 20 workers.
#[test]
fn demand_narrows_an_autoscaler_pools_range() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let spec = common::root().join("examples/autoscaler/fleet.yaml");
    let prices = write(
        dir.path(),
        "prices.yaml",
        "currency: USD\ninstance_types:\n  t4g.small: {on_demand: 0.02}\n  c7g.large: {on_demand: 0.08, spot: 0.03}\n  \
         t4g.medium: {on_demand: 0.04}\n",
    );
    let plan = |args: &[&str]| {
        let out = common::run(
            common::runnergen().args(["plan", "--format", "json", "--prices"]).arg(&prices).args(args).arg(&spec),
        );
        common::assert_success(&out, "plan");
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("JSON")
    };
    let without = plan(&[]);
    let with = plan(&["--demand", "build=120"]);
    let build = |json: &serde_json::Value| json["pools"][0].clone();
    assert_eq!(build(&without)["instance_hours"]["desired"].as_f64(), Some(168.0 + 120.0));
    assert_eq!(build(&with)["instance_hours"]["min"].as_f64(), Some(168.0 + 120.0));
    assert_eq!(build(&with)["instance_hours"]["desired"].as_f64(), Some(168.0 + 120.0 + 120.0));
    assert_eq!(build(&with)["instance_hours"]["max"].as_f64(), Some(168.0 + 20.0 * 168.0));
    assert_eq!(build(&with)["demand_job_hours"].as_f64(), Some(120.0));
    // The manager on demand, the workers at the spot price: 168 * 0.02 + 240 * 0.03.
    let cost = build(&with)["cost_per_week"]["desired"].as_f64().expect("a cost");
    assert!((cost - (168.0 * 0.02 + 240.0 * 0.03)).abs() < 1e-9, "{cost}");
    assert!(build(&without).get("demand_job_hours").is_none());
    // More demand than 20 workers can take all week: the ceiling.
    let huge = plan(&["--demand", "build=100000"]);
    assert_eq!(build(&huge)["instance_hours"]["desired"].as_f64(), Some(168.0 + 20.0 * 168.0));

    for (arg, message) in [
        (
            "deploy=10",
            "--demand names `deploy`, which is not an autoscaler pool of fleet acme-ci (its autoscaler pools: build)",
        ),
        ("nosuch=10", "--demand names `nosuch`"),
        ("build", "expected POOL=HOURS"),
        ("build=-3", "a number of 0 or more"),
        ("build=many", "expected POOL=HOURS"),
    ] {
        let out = common::run(common::runnergen().args(["plan", "--demand", arg]).arg(&spec));
        assert_eq!(out.status.code(), Some(2), "{arg}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{arg}: {stderr}");
    }
}
