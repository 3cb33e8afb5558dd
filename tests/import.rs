//! `runnergen import`: each input under `tests/import/` (cattle-ops module blocks, config.toml
//! files) imports with exit 0, its spec and report pinned as a snapshot; the spec's placeholders
//! are refused by `validate` until filled in; once filled in (`common::fill`), the spec validates
//! and renders Terraform whose pools, instance types, spot, idle settings and windows are the
//! input's (read from the input here, independently of the importer). The real-tool tests
//! (`tools`) check the filled-in specs' output like the examples' (`common::imported`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::common::{fill, root, run, runnergen};

fn inputs() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root().join("tests/import"))
        .expect("tests/import exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "tf" || e == "toml"))
        .collect();
    out.sort();
    out
}

fn import(path: &Path) -> (String, String) {
    let relative = path.strip_prefix(root()).expect("under the project");
    let out = run(runnergen().arg("import").arg(relative).current_dir(root()));
    let stdout = String::from_utf8(out.stdout).expect("UTF-8");
    let stderr = String::from_utf8(out.stderr).expect("UTF-8");
    assert_eq!(out.status.code(), Some(0), "{}: {stderr}", relative.display());
    (stdout, stderr)
}

#[test]
fn every_input_imports_with_a_pinned_spec_and_report() {
    let mut count = 0;
    insta::glob!("import/*.{tf,toml}", |path| {
        count += 1;
        let (spec, report) = import(path);
        insta::assert_snapshot!(format!("{spec}---\n{report}"));
    });
    assert!(count >= 9, "the corpus holds {count} inputs; expected at least 9");
}

#[test]
fn secrets_are_never_copied() {
    for path in inputs() {
        let (spec, report) = import(&path);
        for secret in ["not-a-real", "AKIANOTAREALKEY", "GR1348941"] {
            assert!(!spec.contains(secret) && !report.contains(secret), "{}: {secret} leaked", path.display());
        }
    }
}

#[test]
fn placeholders_are_refused_at_their_line_until_filled_in() {
    let dir = tempfile::tempdir().expect("temp dir");
    for path in inputs() {
        let (spec, _) = import(&path);
        let fill_ins = spec.lines().filter(|l| l.contains("\"FILL-IN")).count();
        let file = dir.path().join("fleet.yaml");
        std::fs::write(&file, &spec).expect("write");
        let out = run(runnergen().arg("validate").arg(&file));
        let stderr = String::from_utf8(out.stderr).expect("UTF-8");
        if fill_ins == 0 {
            assert_eq!(out.status.code(), Some(0), "{}: {stderr}", path.display());
            continue;
        }
        assert_eq!(out.status.code(), Some(2), "{}", path.display());
        assert_eq!(
            stderr.matches("this value is still a placeholder: fill it in").count(),
            fill_ins,
            "{}: {stderr}",
            path.display()
        );
        // Every placeholder and nothing else about those values.
        let filled = fill(&spec);
        std::fs::write(&file, &filled).expect("write");
        let out = run(runnergen().arg("validate").arg(&file));
        let stderr = String::from_utf8(out.stderr).expect("UTF-8");
        assert_eq!(out.status.code(), Some(0), "{}: filled in:\n{filled}\n{stderr}", path.display());
    }
}

/// One pool as the input describes it, read here from the input itself.
#[derive(Debug, Default)]
struct Expected {
    /// Literal instance types, where the input has them (else the filled-in m5.large).
    types: Option<Vec<String>>,
    spot: Option<bool>,
    autoscaler: bool,
    /// (idle count, idle seconds) outside every window.
    idle: Option<(u64, u64)>,
    /// Each window: the (weekday 0-6 from Sunday, hour) pairs it covers, and its idle count.
    windows: Vec<(BTreeSet<(u32, u32)>, u64)>,
}

/// The (weekday, hour) pairs a cron period covers: 5 fields, or 7 with seconds and year.
fn cover(period: &str) -> BTreeSet<(u32, u32)> {
    let f: Vec<&str> = period.split_whitespace().collect();
    let (hour, dow) = if f.len() == 7 { (f[2], f[5]) } else { (f[1], f[4]) };
    let expand = |field: &str, max: u32, name: &dyn Fn(&str) -> u32| -> Vec<u32> {
        if field == "*" {
            return (0..=max).collect();
        }
        field
            .split(',')
            .flat_map(|item| match item.split_once('-') {
                Some((a, b)) => (name(a)..=name(b)).collect::<Vec<_>>(),
                None => vec![name(item)],
            })
            .collect()
    };
    let day = |s: &str| {
        ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
            .iter()
            .position(|d| d.eq_ignore_ascii_case(s))
            .map_or_else(|| s.parse::<u32>().expect("a day") % 7, |p| p as u32)
    };
    let hours = expand(hour, 23, &|s| s.parse().expect("an hour"));
    let days = expand(dow, 6, &day);
    days.iter().flat_map(|d| hours.iter().map(move |h| (*d, *h))).collect()
}

fn seconds(go: &str) -> u64 {
    let mut total = 0;
    let mut n = String::new();
    for c in go.chars() {
        match c {
            '0'..='9' => n.push(c),
            'h' | 'm' | 's' => {
                let v: u64 = n.parse().expect("a number");
                total += v * match c {
                    'h' => 3600,
                    'm' => 60,
                    _ => 1,
                };
                n.clear();
            }
            _ => panic!("{go}"),
        }
    }
    total
}

/// A literal expression as JSON; `local.NAME` is the literal a `locals` block gives it.
fn literal(e: &hcl::Expression, locals: &serde_json::Map<String, serde_json::Value>) -> Option<serde_json::Value> {
    match e {
        hcl::Expression::Traversal(t) => match (&t.expr, t.operators.as_slice()) {
            (hcl::Expression::Variable(v), [hcl::TraversalOperator::GetAttr(name)]) if v.as_str() == "local" => {
                locals.get(name.as_str()).cloned()
            }
            _ => None,
        },
        hcl::Expression::String(s) => Some(s.clone().into()),
        hcl::Expression::Number(n) => n.as_u64().map(Into::into).or_else(|| n.as_f64().map(Into::into)),
        hcl::Expression::Bool(b) => Some((*b).into()),
        hcl::Expression::Array(items) => {
            items.iter().map(|i| literal(i, locals)).collect::<Option<Vec<_>>>().map(Into::into)
        }
        hcl::Expression::Object(o) => o
            .iter()
            .map(|(k, v)| {
                let key = match k {
                    hcl::ObjectKey::Identifier(i) => i.to_string(),
                    hcl::ObjectKey::Expression(hcl::Expression::String(s)) => s.clone(),
                    _ => return None,
                };
                // A reference inside an object is null here, so that its literal siblings still read.
                Some((key, literal(v, locals).unwrap_or(serde_json::Value::Null)))
            })
            .collect::<Option<serde_json::Map<_, _>>>()
            .map(Into::into),
        _ => None,
    }
}

/// The pools of a Terraform file's cattle-ops module blocks.
fn expected_from_module(text: &str) -> Vec<Expected> {
    let body: hcl::Body = hcl::from_str(text).expect("HCL");
    let mut locals = serde_json::Map::new();
    for block in body.blocks().filter(|b| b.identifier() == "locals") {
        for a in block.body().attributes() {
            if let Some(v) = literal(a.expr(), &serde_json::Map::new()) {
                locals.insert(a.key().to_owned(), v);
            }
        }
    }
    let mut pools = Vec::new();
    for block in body.blocks().filter(|b| b.identifier() == "module") {
        let attr = |name: &str| block.body().attributes().find(|a| a.key() == name).map(|a| a.expr().clone());
        let source = attr("source")
            .and_then(|e| literal(&e, &locals))
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        if !(source.contains("gitlab-runner") || source.starts_with("../")) {
            continue;
        }
        let get = |path: &str| -> Option<serde_json::Value> {
            let mut parts = path.split('.');
            let first = attr(parts.next()?)?;
            let mut value = literal(&first, &locals);
            for p in parts {
                value = value.and_then(|v| v.get(p).cloned());
            }
            value
        };
        let strings = |path: &str| -> Option<Vec<String>> {
            get(path)?.as_array()?.iter().map(|v| v.as_str().map(str::to_owned)).collect()
        };
        let kind =
            get("runner_worker.type").and_then(|v| v.as_str().map(str::to_owned)).unwrap_or("docker+machine".into());
        let mut pool = Expected { autoscaler: kind != "docker", ..Expected::default() };
        match kind.as_str() {
            "docker" => {
                pool.types = Some(vec![
                    get("runner_instance.type")
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or("t3.micro".into()),
                ]);
                pool.spot = Some(get("runner_instance.spot_price").is_some());
            }
            "docker+machine" => {
                pool.types =
                    Some(strings("runner_worker_docker_machine_instance.types").unwrap_or(vec!["m5.large".into()]));
                pool.spot = Some(
                    get("runner_worker_docker_machine_instance_spot.enable").and_then(|v| v.as_bool()).unwrap_or(true),
                );
                let count =
                    get("runner_worker_docker_machine_instance.idle_count").and_then(|v| v.as_u64()).unwrap_or(0);
                let time =
                    get("runner_worker_docker_machine_instance.idle_time").and_then(|v| v.as_u64()).unwrap_or(600);
                pool.idle = Some((count, time.max(1)));
                for p in get("runner_worker_docker_machine_autoscaling_options")
                    .and_then(|v| v.as_array().cloned())
                    .unwrap_or_default()
                {
                    let periods: Vec<String> = p["periods"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect();
                    let covered: BTreeSet<(u32, u32)> = periods.iter().flat_map(|x| cover(x)).collect();
                    pool.windows.push((covered, p["idle_count"].as_u64().unwrap_or(count)));
                }
            }
            _ => {
                pool.types = match get("runner_worker_docker_autoscaler_asg.types") {
                    Some(serde_json::Value::Null) => None,
                    _ => Some(
                        strings("runner_worker_docker_autoscaler_asg.types")
                            .filter(|t| !t.is_empty())
                            .unwrap_or(vec!["m5.large".into()]),
                    ),
                };
                let mixed = get("runner_worker_docker_autoscaler_asg.enable_mixed_instances_policy")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false);
                let above = get("runner_worker_docker_autoscaler_asg.on_demand_percentage_above_base_capacity")
                    .and_then(|v| v.as_f64())
                    .unwrap_or(100.0);
                pool.spot = Some(mixed && above < 100.0);
                for p in get("runner_worker_docker_autoscaler_autoscaling_options")
                    .and_then(|v| v.as_array().cloned())
                    .unwrap_or_default()
                {
                    let periods: Vec<String> = p["periods"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect();
                    let count = p["idle_count"].as_u64().unwrap_or(0);
                    let time = p["idle_time"].as_str().map_or(600, seconds).max(1);
                    if periods == ["* * * * *"] {
                        pool.idle = Some((count, time));
                    } else {
                        pool.windows.push((periods.iter().flat_map(|x| cover(x)).collect(), count));
                    }
                }
            }
        }
        pools.push(pool);
    }
    pools
}

/// The pools of a config.toml's supported runners.
fn expected_from_toml(text: &str) -> Vec<Expected> {
    let config: toml::Table = toml::from_str(text).expect("TOML");
    let mut pools = Vec::new();
    for runner in config["runners"].as_array().expect("runners") {
        let executor = runner.get("executor").and_then(|e| e.as_str()).unwrap_or("");
        let mut pool = Expected::default();
        match executor {
            "docker" | "shell" => {}
            "docker+machine" => {
                pool.autoscaler = true;
                let machine = &runner["machine"];
                let options: Vec<&str> =
                    machine["MachineOptions"].as_array().expect("options").iter().filter_map(|o| o.as_str()).collect();
                let option = |k: &str| options.iter().find_map(|o| o.strip_prefix(&format!("{k}=")));
                pool.types = option("amazonec2-instance-type").map(|t| vec![t.to_owned()]);
                pool.spot = Some(option("amazonec2-request-spot-instance") == Some("true"));
                let count = machine.get("IdleCount").and_then(toml::Value::as_integer).unwrap_or(0) as u64;
                let time = machine.get("IdleTime").and_then(toml::Value::as_integer).unwrap_or(0) as u64;
                pool.idle = Some((count, time.max(1)));
                for p in machine.get("autoscaling").and_then(|a| a.as_array()).into_iter().flatten() {
                    let covered = p["Periods"]
                        .as_array()
                        .expect("Periods")
                        .iter()
                        .flat_map(|x| cover(x.as_str().expect("text")))
                        .collect();
                    pool.windows
                        .push((covered, p.get("IdleCount").and_then(toml::Value::as_integer).unwrap_or(0) as u64));
                }
            }
            "docker-autoscaler" | "instance" => {
                pool.autoscaler = true;
                for p in runner["autoscaler"].get("policy").and_then(|a| a.as_array()).into_iter().flatten() {
                    let count = p.get("idle_count").and_then(toml::Value::as_integer).unwrap_or(0) as u64;
                    let time = p.get("idle_time").and_then(|v| v.as_str()).map_or(600, seconds).max(1);
                    let periods: Vec<&str> = p
                        .get("periods")
                        .and_then(|v| v.as_array())
                        .into_iter()
                        .flatten()
                        .filter_map(|x| x.as_str())
                        .collect();
                    if periods.is_empty() || periods == ["* * * * *"] {
                        pool.idle = Some((count, time));
                    } else {
                        pool.windows.push((periods.iter().flat_map(|x| cover(x)).collect(), count));
                    }
                }
            }
            _ => continue,
        }
        pools.push(pool);
    }
    pools
}

/// One pool as rendered: read from the Terraform files and the manager's settings.
#[derive(Debug)]
struct Rendered {
    types: Vec<String>,
    spot: bool,
    idle: Option<(u64, u64)>,
    windows: Vec<(BTreeSet<(u32, u32)>, u64)>,
}

fn rendered(plan: &runnergen::render::Files, pool: &str, autoscaler: bool) -> Rendered {
    let tf = &plan.get(&format!("terraform/pool-{pool}.tf")).expect("the pool's Terraform").contents;
    let body: hcl::Body = hcl::from_str(tf).expect("HCL");
    // The pool's file holds one group of runners: the workers' of an autoscaler pool.
    let resource = |kind: &str| {
        body.blocks()
            .find(|b| {
                let labels = b.labels();
                b.identifier() == "resource"
                    && labels.len() == 2
                    && labels[0].as_str() == kind
                    && (labels[1].as_str().ends_with("_workers") == autoscaler)
                    && !labels[1].as_str().ends_with("_manager")
            })
            .unwrap_or_else(|| panic!("{kind} in pool-{pool}.tf"))
    };
    let asg = resource("aws_autoscaling_group");
    let mut types = Vec::new();
    let mut spot = false;
    if let Some(mixed) = asg.body().blocks().find(|b| b.identifier() == "mixed_instances_policy") {
        for b in mixed.body().blocks() {
            if b.identifier() == "instances_distribution" {
                let above = b.body().attributes().find(|a| a.key() == "on_demand_percentage_above_base_capacity");
                spot = above.is_some_and(|a| matches!(a.expr(), hcl::Expression::Number(n) if n.as_f64() == Some(0.0)));
            }
            for o in b.body().blocks().filter(|o| o.identifier() == "override") {
                for a in o.body().attributes().filter(|a| a.key() == "instance_type") {
                    if let hcl::Expression::String(s) = a.expr() {
                        types.push(s.clone());
                    }
                }
            }
        }
    }
    if types.is_empty() {
        let template = resource("aws_launch_template");
        for a in template.body().attributes().filter(|a| a.key() == "instance_type") {
            if let hcl::Expression::String(s) = a.expr() {
                types.push(s.clone());
            }
        }
    }
    let mut idle = None;
    let mut windows = Vec::new();
    if autoscaler {
        let settings =
            &plan.get(&format!("terraform/manager-settings/{pool}.toml")).expect("the manager's settings").contents;
        let config: toml::Table = toml::from_str(settings).expect("TOML");
        let runner = &config["runners"].as_array().expect("runners")[0];
        for p in runner["autoscaler"]["policy"].as_array().expect("policies") {
            let periods: Vec<&str> =
                p["periods"].as_array().expect("periods").iter().filter_map(|x| x.as_str()).collect();
            let count = p["idle_count"].as_integer().expect("idle_count") as u64;
            let time = seconds(p["idle_time"].as_str().expect("idle_time"));
            if periods == ["* * * * *"] {
                idle = Some((count, time));
            } else {
                windows.push((periods.iter().flat_map(|x| cover(x)).collect(), count));
            }
        }
    }
    Rendered { types, spot, idle, windows }
}

/// Windows as the hours of the week they cover, each with its idle count: periods may be split
/// or joined differently and still mean the same.
fn hours(windows: &[(BTreeSet<(u32, u32)>, u64)]) -> BTreeSet<(u32, u32, u64)> {
    windows.iter().flat_map(|(cover, count)| cover.iter().map(move |(d, h)| (*d, *h, *count))).collect()
}

#[test]
fn an_imported_and_filled_spec_renders_the_input_pools() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut checked = 0;
    for path in inputs() {
        let text = std::fs::read_to_string(&path).expect("readable");
        let expected = if path.extension().is_some_and(|e| e == "toml") {
            expected_from_toml(&text)
        } else {
            expected_from_module(&text)
        };
        let (spec, _) = import(&path);
        let file = dir.path().join("fleet.yaml");
        std::fs::write(&file, fill(&spec)).expect("write");
        let fleet = runnergen::load_spec(&file)
            .map(|l| l.fleet)
            .unwrap_or_else(|e| panic!("{}: {}", path.display(), e.render(false)));
        let plan = runnergen::render::render(&fleet).unwrap_or_else(|e| panic!("{}", e.render(false)));
        assert_eq!(fleet.pools.len(), expected.len(), "{}: pools", path.display());
        for (pool, want) in fleet.pools.iter().zip(&expected) {
            let got = rendered(&plan, &pool.name, want.autoscaler);
            let at = format!("{}: pool {}", path.display(), pool.name);
            if let Some(types) = &want.types {
                assert_eq!(&got.types, types, "{at}: instance types");
            }
            if let Some(spot) = want.spot {
                assert_eq!(got.spot, spot, "{at}: spot");
            }
            if want.autoscaler {
                assert_eq!(got.idle.unwrap_or((0, 600)), want.idle.unwrap_or((0, 600)), "{at}: idle outside windows");
                // A whole day ends at 23:59 in runnergen: the same hours are covered.
                assert_eq!(hours(&got.windows), hours(&want.windows), "{at}: windows");
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "checked {checked} pools");
}

#[test]
fn out_refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = root().join("tests/import/v9-several.tf");
    let out_file = dir.path().join("fleet.yaml");
    std::fs::write(&out_file, "mine\n").expect("write");
    let out = run(runnergen().arg("import").arg(&input).arg("--out").arg(&out_file));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("exists; nothing was written"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&out_file).expect("read"), "mine\n");
    let out = run(runnergen().arg("import").arg(&input).arg("--out").arg(&out_file).arg("--force"));
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty(), "the spec goes to --out only");
    assert!(std::fs::read_to_string(&out_file).expect("read").contains("pools:"));
}

#[test]
fn nothing_to_import_and_unreadable_inputs_exit_2_located() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases = [
        ("vpc.tf", "module \"vpc\" {\n  source = \"terraform-aws-modules/vpc/aws\"\n}\n", "nothing to import"),
        ("empty.toml", "concurrent = 4\n", "holds no [[runners]]"),
        ("broken.tf", "module \"runner\" {\n  source = \n}\n", "broken.tf:2:"),
        ("broken.toml", "[[runners]]\nname = \n", "broken.toml:2:"),
    ];
    for (name, text, says) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        let out = run(runnergen().arg("import").arg(&path).env("NO_COLOR", "1"));
        let stderr = String::from_utf8(out.stderr).expect("UTF-8");
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(out.stdout.is_empty(), "{name}");
        assert!(stderr.contains(says), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    }
    let out = run(runnergen().arg("import").arg(dir.path().join("missing.tf")));
    assert_eq!(out.status.code(), Some(2));
}

/// Inputs cut short anywhere, or with hostile text put into a value, never panic the importer,
/// and whatever spec it writes is one YAML mapping whose values stayed values.
#[test]
fn truncated_and_hostile_inputs_never_panic_and_stay_yaml() {
    let hostile = ["\"\n- name: evil\n", "${jndi}\u{7}: #", "'; rm -rf / #", "\u{202e}\u{feff}ünï", "]]}{[["];
    for path in inputs() {
        let text = std::fs::read_to_string(&path).expect("readable");
        let name = path.file_name().expect("a name").to_string_lossy().into_owned();
        let mut cases: Vec<String> =
            (0..text.len()).step_by(7).filter(|i| text.is_char_boundary(*i)).map(|i| text[..i].to_owned()).collect();
        for h in hostile {
            let escaped = if name.ends_with(".toml") {
                toml::Value::from(h).to_string()
            } else {
                serde_json::Value::from(h).to_string().replace("${", "$${")
            };
            cases.push(text.replacen("\"https://gitlab.example.com\"", &escaped, 1).replacen(
                "\"https://gitlab.acme.example\"",
                &escaped,
                1,
            ));
        }
        for case in cases {
            let Ok(imported) = runnergen::import::import_text(&name, &case) else { continue };
            let parsed = runnergen::load::parse("fleet.yaml".into(), imported.spec.clone())
                .unwrap_or_else(|e| panic!("{name}: not YAML:\n{}\n{}", imported.spec, e.render(false)));
            let runnergen::yaml::Kind::Map(entries) = &parsed.root.kind else { panic!("{name}: not a mapping") };
            let keys: Vec<&str> = entries.iter().map(|(k, _, _)| k.as_str()).collect();
            assert!(
                keys.starts_with(&["version", "name", "aws", "gitlab", "image", "pools"])
                    || keys.starts_with(&["version", "aws"]),
                "{name}: {keys:?}"
            );
            let json = parsed.root.to_json();
            assert!(
                json["pools"].as_array().is_some_and(|p| p.iter().all(|p| p["name"].as_str() != Some("evil"))),
                "{name}: a value became structure"
            );
        }
    }
}
