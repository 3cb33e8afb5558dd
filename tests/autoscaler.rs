//! The boot-time autoscaler settings of an autoscaler pool's manager (the `[[runners]]` template
//! its user data writes and registration merges into config.toml), rendered from specs and read
//! back as TOML.

use runnergen::topology::Topology;

fn config(spec: &str) -> (runnergen::Fleet, toml::Table) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("fleet.yaml");
    std::fs::write(&path, spec).expect("write spec");
    let fleet = runnergen::load_spec(&path).map(|l| l.fleet).unwrap_or_else(|e| panic!("{}", e.render(false)));
    let table = parse(&fleet);
    (fleet, table)
}

fn parse(fleet: &runnergen::Fleet) -> toml::Table {
    let pool = fleet.pools.iter().find(|p| matches!(p.topology, Topology::Autoscaler(_))).expect("an autoscaler pool");
    // What the manager registers with: user data's template, then the live settings' tables
    // (their file without the lines through its `[[runners]]`), as the register hook joins them.
    let live = runnergen::render::runner_template::live(fleet, pool).expect("renders").expect("live settings");
    let tables = live.split_once("[[runners]]\n").expect("a [[runners]] line").1;
    let text = runnergen::render::runner_template::render(fleet, pool).expect("renders").expect("a template") + tables;
    text.parse::<toml::Table>().unwrap_or_else(|e| panic!("not TOML: {e}\n{text}"))
}

/// The one `[runners.autoscaler]` table.
fn autoscaler(table: &toml::Table) -> &toml::Table {
    let runners = table["runners"].as_array().expect("[[runners]]");
    assert_eq!(runners.len(), 1, "a template holds exactly one runner (gitlab-runner register)");
    assert_eq!(table.len(), 1, "no global settings in a template: {table:?}");
    runners[0]["autoscaler"].as_table().expect("[runners.autoscaler]")
}

const HEAD: &str = "version: 1\nname: acme-ci\naws:\n  region: eu-central-1\n  vpc_id: vpc-0a1b2c3d4e5f60718\n  \
                    subnet_ids: [subnet-0a1b2c3d4e5f60718]\ngitlab:\n  url: https://gitlab.example.com\nimage:\n  \
                    os: ubuntu-24.04\n  arch: arm64\n  runner_version: 19.3.0\n  fleeting_plugin_version: 1.0.0\n";

#[test]
fn windows_become_policies_in_order_with_minutes_and_midnight() {
    let spec = format!(
        "{HEAD}pools:\n  - name: vm\n    topology: autoscaler\n    executor: shell\n    token_parameter: /a/vm\n    \
         workers: {{instance_types: [c7g.large], max_instances: 4, capacity_per_instance: 2, max_use_count: 0, shared: true}}\n    \
         idle: {{count: 1, time: 1h30m}}\n    schedule:\n      windows:\n        \
         - {{days: MON-FRI, from: \"07:30\", to: \"18:00\", idle: {{count: 4}}}}\n        \
         - {{days: SAT, from: \"22:00\", to: \"02:15\", idle: {{count: 2, time: 45s}}}}\n"
    );
    let (_, table) = config(&spec);
    let a = autoscaler(&table);
    assert_eq!(a["capacity_per_instance"].as_integer(), Some(2));
    assert_eq!(a["max_use_count"].as_integer(), Some(0));
    // The instance executor has no Docker to wait for.
    assert!(!a.contains_key("instance_ready_command"));
    let policies = a["policy"].as_array().expect("policies");
    let periods: Vec<Vec<String>> = policies.iter().map(|p| strings(&p["periods"])).collect();
    assert_eq!(
        periods,
        [
            vec!["* * * * *"],
            vec!["30-59 7 * * 1-5", "* 8-17 * * 1-5"],
            vec!["* 22-23 * * 6", "* 0-1 * * 0", "0-14 2 * * 0"],
        ]
    );
    let zones: Vec<Option<&str>> = policies.iter().map(|p| p["timezone"].as_str()).collect();
    assert_eq!(zones, [Some("Etc/UTC"); 3], "UTC is written canonically");
    let idle: Vec<(i64, &str)> = policies
        .iter()
        .map(|p| (p["idle_count"].as_integer().expect("count"), p["idle_time"].as_str().expect("time")))
        .collect();
    // A window's idle time defaults to the pool's.
    assert_eq!(idle, [(1, "1h30m0s"), (4, "1h30m0s"), (2, "45s")]);
    // Bursts are taken at once in every policy, warm workers or not.
    for p in policies {
        assert_eq!(p["preemptive_mode"].as_bool(), Some(false), "{p:?}");
    }
    // Shell jobs run as the worker image's unprivileged user, never the default one.
    assert_eq!(a["connector_config"]["username"].as_str(), Some("runner-job"));
}

#[test]
fn hostile_values_stay_toml_strings() {
    let spec = std::fs::read_to_string(crate::common::root().join("examples/autoscaler/fleet.yaml")).expect("example");
    let (mut fleet, _) = config(&spec);
    // Past validation, straight into the model: quotes, backslashes, a line break, a bracket.
    let id = "acme\"ci\\1\n[runners]\u{7f}";
    for pool in &mut fleet.pools {
        pool.id = id.to_owned();
        if let Topology::Autoscaler(a) = &mut pool.topology
            && let Some(s) = &mut a.schedule
        {
            s.time_zone = "Europe/\"Berlin\"\t".to_owned();
        }
    }
    let table = parse(&fleet);
    let a = autoscaler(&table);
    assert_eq!(a["plugin_config"]["name"].as_str(), Some(format!("{id}-workers").as_str()));
    assert_eq!(a["policy"][1]["timezone"].as_str(), Some("Europe/\"Berlin\"\t"));
}

fn strings(value: &toml::Value) -> Vec<String> {
    value.as_array().expect("an array").iter().map(|v| v.as_str().expect("a string").to_owned()).collect()
}

/// The distributed cache's section at boot: S3 in the fleet's region with the role's own
/// credentials, the pool's prefix (or the shared one), no keys; beside an autoscaler's section
/// on a manager; none for a pool of shell jobs on instances.
#[test]
fn each_runner_caches_in_s3_under_its_pools_prefix_with_the_roles_credentials() {
    let spec = std::fs::read_to_string(crate::common::root().join("examples/multi-pool/fleet.yaml")).expect("example");
    for shared in [false, true] {
        let text = spec.replace("  expiration_days: 14\n", &format!("  expiration_days: 14\n  shared: {shared}\n"));
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("fleet.yaml");
        std::fs::write(&path, text).expect("write");
        let fleet = runnergen::load_spec(&path).map(|l| l.fleet).unwrap_or_else(|e| panic!("{}", e.render(false)));
        let docker = &fleet.pools[0];
        let table = runnergen::render::runner_template::render(&fleet, docker)
            .expect("renders")
            .expect("a template")
            .parse::<toml::Table>()
            .expect("TOML");
        let runners = table["runners"].as_array().expect("[[runners]]");
        assert_eq!(runners.len(), 1);
        let cache = runners[0]["cache"].as_table().expect("[runners.cache]");
        assert_eq!(cache["Type"].as_str(), Some("s3"));
        assert_eq!(cache["Path"].as_str(), Some(if shared { "shared" } else { "docker" }));
        assert_eq!(cache["Shared"].as_bool(), Some(shared));
        let s3 = cache["s3"].as_table().expect("[runners.cache.s3]");
        assert_eq!(s3["BucketName"].as_str(), fleet.cache.as_ref().map(|c| c.bucket.as_str()));
        assert_eq!(s3["BucketLocation"].as_str(), Some("eu-central-1"));
        assert_eq!(s3["AuthenticationType"].as_str(), Some("iam"));
        for secret in ["AccessKey", "SecretKey", "SessionToken", "ServerAddress"] {
            assert!(!s3.contains_key(secret), "{secret}");
        }
        // The shell pool keeps its cache on its instance: its template holds only the runner's
        // queue-time count, for the example's queue alarm.
        let shell =
            runnergen::render::runner_template::render(&fleet, &fleet.pools[1]).expect("renders").expect("a template");
        let shell = shell.parse::<toml::Table>().expect("TOML");
        assert!(shell["runners"][0].get("cache").is_none());
        assert!(shell["runners"][0].get("monitoring").is_some());
    }
    // A manager's template holds both sections in one [[runners]] entry.
    let spec = std::fs::read_to_string(crate::common::root().join("examples/autoscaler/fleet.yaml")).expect("example");
    let (fleet, _) = config(&format!("{spec}cache: {{bucket: acme-ci-shared-cache}}\n"));
    let pool = fleet.pools.iter().find(|p| matches!(p.topology, Topology::Autoscaler(_))).expect("an autoscaler pool");
    let table = runnergen::render::runner_template::render(&fleet, pool)
        .expect("renders")
        .expect("a template")
        .parse::<toml::Table>()
        .expect("TOML");
    let runner = &table["runners"][0];
    assert_eq!(runner["cache"]["Path"].as_str(), Some("build"));
    assert_eq!(runner["cache"]["s3"]["BucketName"].as_str(), Some("acme-ci-shared-cache"));
    assert_eq!(runner["autoscaler"]["plugin"].as_str(), Some("aws:1.0.0"));
}

/// A changed window, idle count or default job image changes only the pool's live settings (their
/// SSM parameter), never the manager's launch template or user data: the manager is not replaced
/// and the pool keeps taking jobs. A changed `max_instances` does replace it: gitlab-runner's
/// taskscaler takes it only when it is made (executors/internal/autoscaler/provider.go, init).
#[test]
fn routine_changes_reach_the_manager_without_replacing_it() {
    let example =
        std::fs::read_to_string(crate::common::root().join("examples/autoscaler/fleet.yaml")).expect("example");
    let render = |spec: &str| {
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::write(dir.path().join("fleet.yaml"), spec).expect("write");
        let fleet = runnergen::load_spec(&dir.path().join("fleet.yaml"))
            .map(|l| l.fleet)
            .unwrap_or_else(|e| panic!("{}", e.render(false)));
        runnergen::render::render(&fleet).expect("renders")
    };
    let manager_template = |plan: &runnergen::render::Files| {
        let tf = &plan["terraform/pool-build.tf"].contents;
        let start = tf.find("resource \"aws_launch_template\" \"build_manager\"").expect("the manager's template");
        let end = start + tf[start..].find("\n}\n").expect("its end");
        tf[start..end].to_owned()
    };
    let before = render(&example);
    for (what, from, to) in [
        ("a window", "from: \"07:00\", to: \"19:00\"", "from: \"06:00\", to: \"22:00\""),
        ("an idle count", "idle: {count: 2, time: 30m}", "idle: {count: 6, time: 30m}"),
        ("the default image", "docker: {image: \"alpine:3.20\"}", "docker: {image: \"alpine:3.21\"}"),
    ] {
        assert!(example.contains(from), "{what}: {from}");
        let after = render(&example.replace(from, to));
        assert_eq!(manager_template(&after), manager_template(&before), "{what}");
        assert_eq!(after["terraform/user-data/build.sh"], before["terraform/user-data/build.sh"], "{what}");
        assert_ne!(
            after["terraform/manager-settings/build.toml"], before["terraform/manager-settings/build.toml"],
            "{what} reaches the live settings"
        );
    }
    let after = render(&example.replace("max_instances: 20", "max_instances: 30"));
    assert_ne!(after["terraform/user-data/build.sh"], before["terraform/user-data/build.sh"]);
}
