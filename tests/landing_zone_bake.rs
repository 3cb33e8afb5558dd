//! The instance side of a landing zone, run: the provision scripts' functions under bash with
//! stand-ins (the proxy's variables, the drop-ins, GitLab's CA in the trust store, the Docker
//! daemon's and the runner's Docker configuration, the CloudWatch agent's proxy), and the register
//! hook against the gitlab-runner stand-in, whose config.toml is read back as TOML.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;

use crate::common;
use crate::landing_zone::{EXAMPLE, IMDS, PROXY_URL, dropin_environment, landing_zone_copy, render};
use crate::lifecycle::{Aws, World, position};
use crate::provision::run_with;

/// The Docker Hub mirror and the ECR registry host that `examples/landing-zone/fleet.yaml` names.
const MIRROR: &str = "https://mirror.corp.example";
const ECR_REGISTRY: &str = "123456789012.dkr.ecr.eu-central-1.amazonaws.com";
/// Proxy user names with characters that mean something to bash, systemd or TOML.
const ODD_USERS: [&str; 6] = ["a$b", "c'd", "e%f\"g", "h;i", "j`k`", "l$(touch pwned)"];

/// The spec's proxy URL with `user` in it, as a YAML single-quoted scalar.
fn with_user(text: &str, user: &str) -> (String, String) {
    let url = format!("http://{user}@proxy.corp.example:3128");
    let yaml = format!("'{}'", url.replace('\'', "''"));
    (text.replace(&format!("url: {PROXY_URL}"), &format!("url: {yaml}")), url)
}

/// The functions `main` calls, in order, each stubbed to record its name (`log` and `die` kept).
fn main_calls(script: &str) -> Vec<String> {
    let body = script.split("\nmain() {\n").nth(1).and_then(|b| b.split("\n}\n").next()).expect("a main function");
    let names: Vec<&str> =
        body.lines().filter_map(|l| l.split_whitespace().next()).filter(|w| *w != "log" && *w != "local").collect();
    let stubs: String =
        names.iter().map(|n| format!("{n}() {{ printf '%s\\n' \"{n} $*\" >>\"$WORK/calls\"; }}\n")).collect();
    let (out, dir) = run_with(script, &[], &format!("{stubs}main"));
    common::assert_success(&out, "main with its steps stubbed");
    std::fs::read_to_string(dir.path().join("calls")).expect("calls").lines().map(str::to_owned).collect()
}

fn index(calls: &[String], step: &str) -> usize {
    calls.iter().position(|c| c.split(' ').next() == Some(step)).unwrap_or_else(|| panic!("{step} not in {calls:#?}"))
}

/// Runs the one `printf` of `script` that writes `target` (a `printf` of JSON or TOML lines) with the
/// file written to `$WORK/out` instead, and returns what it wrote.
fn written_by_line(script: &str, function: &str, target: &str) -> String {
    let body = script.split(&format!("\n{function}() {{\n")).nth(1).expect("the function").split("\n}\n").next();
    let body = body.expect("its body");
    // The printf may continue over lines ending in a backslash.
    let mut command = String::new();
    let mut lines = body.lines();
    while let Some(line) = lines.next() {
        if !line.trim_start().starts_with("printf '%s\\n'") {
            continue;
        }
        command = format!("{line}\n");
        let mut last = line;
        while last.ends_with('\\') {
            last = lines.next().expect("the continued line");
            command.push_str(last);
            command.push('\n');
        }
        if command.contains(target) {
            break;
        }
    }
    assert!(command.contains(target), "no printf into {target} in {function}:\n{body}");
    let command = command.replace(&format!(">{target}"), ">\"$WORK/out\"");
    let (out, dir) = run_with(script, &[], &command);
    common::assert_success(&out, &format!("{function}'s printf into {target}"));
    std::fs::read_to_string(dir.path().join("out")).expect("written")
}

/// The six proxy variables as the bake exports them.
fn exported(script: &str) -> BTreeMap<String, String> {
    let names = ["http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"];
    let print: String = names.iter().map(|n| format!("printf '%s=%s\\0' {n} \"${n}\"\n")).collect();
    let (out, dir) = run_with(script, &[], &format!("{print}env | grep -c -i '^https\\?_proxy=' >&2"));
    common::assert_success(&out, "the bake's definitions");
    // No value ran as a command (one user name holds `$(touch pwned)`): not in the working folder.
    assert!(!dir.path().join("pwned").exists(), "a proxy value ran as a command");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8");
    let pairs = stdout.split('\0').filter(|s| !s.is_empty()).map(|s| s.split_once('=').expect("NAME=VALUE"));
    let exported: BTreeMap<String, String> = pairs.map(|(n, v)| (n.to_owned(), v.to_owned())).collect();
    // Exported, so that every child (apt, curl, gitlab-runner, the AWS CLI) sees all four.
    assert_eq!(String::from_utf8_lossy(&out.stderr).trim(), "4");
    exported
}

#[test]
fn both_bakes_export_the_proxy_exactly_as_written() {
    for user in ODD_USERS {
        let (_dir, spec) = landing_zone_copy(|text| with_user(text, user).0);
        let url = with_user("", user).1;
        let files = render(&spec);
        for script in ["packer/gitlab-runner-provision.sh", "packer/worker-provision.sh"] {
            let env = exported(&files[script].contents);
            for name in ["http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"] {
                assert_eq!(env[name], url, "{script}: {name}");
            }
            // The units get the very same values as the bake.
            let dropin = dropin_environment(&files["packer/files/runnergen-proxy.conf"].contents);
            assert_eq!(env, dropin, "{script}");
            assert!(env["no_proxy"].split(',').any(|h| h == IMDS), "{script}: {}", env["no_proxy"]);
        }
    }
}

/// Every unit that leaves the VPC gets the drop-in: runnergen's units that call GitLab or AWS
/// (each rendered service but the firewall, which calls nothing), the SSM agent, and the Docker
/// daemon before anything pulls. GitLab's CA is trusted before the first download.
#[test]
fn the_drop_in_reaches_every_unit_and_the_ca_comes_before_any_download() {
    let files = render(&common::root().join("examples").join(EXAMPLE).join("fleet.yaml"));
    let runner = &files["packer/gitlab-runner-provision.sh"].contents;
    let calls = main_calls(runner);
    let mut expected: Vec<String> = files
        .keys()
        .filter_map(|p| p.strip_prefix("packer/files/"))
        .filter(|p| p.ends_with(".service") && *p != "runnergen-firewall.service")
        .map(str::to_owned)
        .collect();
    // Ubuntu's SSM agent is a snap; snapd names its unit so.
    expected.push("snap.amazon-ssm-agent.amazon-ssm-agent.service".to_owned());
    expected.sort();
    let dropins = &calls[index(&calls, "install_proxy_dropins")];
    let mut units: Vec<String> = dropins.split(' ').skip(1).map(str::to_owned).collect();
    units.sort();
    assert_eq!(units, expected);
    let first_download = ["install_packages", "install_aws_cli", "install_fleeting_plugin", "install_cloudwatch_agent"]
        .iter()
        .map(|s| index(&calls, s))
        .min();
    assert_eq!(index(&calls, "wait_for_first_boot"), 0);
    assert_eq!(index(&calls, "install_gitlab_ca"), 1);
    assert!(first_download > Some(1), "{calls:#?}");

    let worker = &files["packer/worker-provision.sh"].contents;
    let calls = main_calls(worker);
    assert_eq!(index(&calls, "install_gitlab_ca"), 1, "{calls:#?}");
    assert!(index(&calls, "configure_docker") < index(&calls, "bake_helper_image"), "{calls:#?}");
    assert_eq!(
        calls[index(&calls, "install_proxy_dropins")],
        "install_proxy_dropins snap.amazon-ssm-agent.amazon-ssm-agent.service"
    );

    // The function itself: the uploaded drop-in, under each unit's .d folder.
    for script in [runner, worker] {
        let systemctl = ("systemctl", r#"printf '%s\n' "$*" >>"$WORK/systemctl""#);
        let call = "units_dir=$WORK/units upload_dir=$WORK/upload; mkdir -p \"$upload_dir\"; \
                    printf 'DROPIN\\n' >\"$upload_dir/runnergen-proxy.conf\"; install_proxy_dropins docker.service a.service";
        let (out, dir) = run_with(script, &[systemctl], call);
        common::assert_success(&out, "install_proxy_dropins");
        for unit in ["docker.service", "a.service"] {
            let path = dir.path().join(format!("units/{unit}.d/runnergen-proxy.conf"));
            assert_eq!(std::fs::read_to_string(&path).expect("the drop-in"), "DROPIN\n");
            assert_eq!(std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777, 0o644);
        }
        // Loaded for the next boot; nothing restarted under Packer's session.
        assert_eq!(std::fs::read_to_string(dir.path().join("systemctl")).expect("calls"), "daemon-reload\n");
    }
    // The Docker daemon's drop-in is installed where the daemon is configured, and the daemon is
    // restarted if the package started it, before the worker's helper image is pulled.
    let configure = worker.split("\nconfigure_docker() {\n").nth(1).and_then(|b| b.split("\n}\n").next()).expect("it");
    let dropin = configure.find("install_proxy_dropins docker.service").expect("the daemon's drop-in");
    assert!(dropin < configure.find("systemctl try-restart docker.service").expect("a restart"), "{configure}");
}

/// GitLab's CA file, split into one certificate per file on Ubuntu (update-ca-certificates links
/// each .crt file by its first certificate) and whole on Amazon Linux; a file without a
/// certificate stops the bake.
#[test]
fn the_ca_goes_into_the_trust_store_of_either_os() {
    let pem = std::fs::read_to_string(common::root().join("examples/landing-zone/certs/corp-ca.pem")).expect("CA");
    let bundle = format!("{pem}{pem}");
    let recorder = |name: &'static str| (name, r#"printf '%s\n' "${0##*/} $*" >>"$WORK/calls""#);
    for (os, tool) in [("ubuntu-24.04", "update-ca-certificates"), ("amazon-linux-2023", "update-ca-trust")] {
        let (_dir, spec) = landing_zone_copy(|text| text.replace("  os: ubuntu-24.04", &format!("  os: {os}")));
        std::fs::write(spec.parent().expect("a folder").join("certs/corp-ca.pem"), &bundle).expect("write");
        let files = render(&spec);
        for script in ["packer/gitlab-runner-provision.sh", "packer/worker-provision.sh"] {
            let script = &files[script].contents;
            let setup = "trust_anchors=$WORK/anchors upload_dir=$WORK/upload; mkdir -p \"$upload_dir\"; \
                         cp \"$WORK/ca\" \"$upload_dir/gitlab-ca.crt\"; install_gitlab_ca";
            let run = |ca: &str| {
                let call = format!("printf '%s' {} >\"$WORK/ca\"; {setup}", runnergen::quote::shell_word(ca));
                run_with(script, &[recorder(tool)], &call)
            };
            let (out, dir) = run(&files["packer/files/gitlab-ca.crt"].contents);
            common::assert_success(&out, &format!("{os}: install_gitlab_ca"));
            let calls = std::fs::read_to_string(dir.path().join("calls")).expect("calls");
            let mut anchors: Vec<_> = std::fs::read_dir(dir.path().join("anchors"))
                .expect("the anchors")
                .map(|e| e.expect("an entry").path())
                .collect();
            anchors.sort();
            let texts: Vec<String> = anchors.iter().map(|p| std::fs::read_to_string(p).expect("read")).collect();
            if tool == "update-ca-certificates" {
                assert_eq!(calls, "update-ca-certificates \n");
                assert_eq!(texts, [pem.clone(), pem.clone()], "{anchors:?}");
                assert!(anchors.iter().all(|p| p.extension().is_some_and(|e| e == "crt")), "{anchors:?}");
            } else {
                assert_eq!(calls, "update-ca-trust extract\n");
                assert_eq!(texts, std::slice::from_ref(&bundle), "{anchors:?}");
            }
            let (out, _dir) = run("not a certificate\n");
            assert!(!out.status.success(), "{os}: a file without a certificate was trusted");
            assert!(String::from_utf8_lossy(&out.stderr).contains("holds no certificate"));
        }
    }
}

/// register gives the runner GitLab's CA where the bake installs it, and the proxy as its
/// jobs' environment, exactly, whatever the user name holds.
#[test]
fn the_runner_registers_with_the_ca_and_the_proxy_for_its_jobs() {
    let files = render(&common::root().join("examples").join(EXAMPLE).join("fleet.yaml"));
    // Where the bake puts files/gitlab-ca.crt.
    let script = &files["packer/gitlab-runner-provision.sh"].contents;
    let install = ("install", r#"printf '%s\n' "$*" >>"$WORK/installs""#);
    let systemctl = ("systemctl", "true");
    let (out, dir) = run_with(script, &[install, systemctl], "upload_dir=/tmp/files; install_runnergen");
    common::assert_success(&out, "install_runnergen");
    let installs = std::fs::read_to_string(dir.path().join("installs")).expect("installs");
    let ca_line = installs.lines().find(|l| l.contains("/tmp/files/gitlab-ca.crt")).expect("the CA is installed");
    let installed = ca_line.split(' ').next_back().expect("its destination");
    assert!(ca_line.starts_with("-m 0644 "), "{ca_line}");

    // The autoscaler pool's manager (its jobs run on workers) and the instance pool's runner.
    let (build, deploy) = (0, 1);
    let cases = [("svc-ci", build)].into_iter().chain(["svc-ci"].into_iter().chain(ODD_USERS).map(|u| (u, deploy)));
    for (user, pool) in cases {
        let (_dir, spec) = landing_zone_copy(|text| with_user(text, user).0);
        let url = with_user("", user).1;
        let world = World::with(&spec, pool, Aws::StandIn);
        let (ok, out) = world.run("runnergen-register", &[]);
        assert!(ok, "{out}");
        let config: toml::Table = world.config().parse().unwrap_or_else(|e| panic!("{e}\n{}", world.config()));
        let entry = &config["runners"].as_array().expect("[[runners]]")[0];
        assert_eq!(entry["tls-ca-file"].as_str(), Some(installed), "{user}");
        let environment: Vec<&str> = entry["environment"]
            .as_array()
            .expect("environment")
            .iter()
            .map(|v| v.as_str().expect("a string"))
            .collect();
        let dropin = dropin_environment(&render(&spec)["packer/files/runnergen-proxy.conf"].contents);
        let mut expected: Vec<String> = dropin.iter().map(|(n, v)| format!("{n}={v}")).collect();
        let mut got: Vec<String> = environment.iter().map(|s| (*s).to_owned()).collect();
        expected.sort();
        got.sort();
        assert_eq!(got, expected, "{user}");
        assert!(environment.contains(&format!("https_proxy={url}").as_str()), "{user}: {environment:?}");
        assert!(environment.iter().any(|e| e.starts_with("no_proxy=") && e.split([',', '=']).any(|h| h == IMDS)));
        let calls = world.calls();
        assert!(
            calls[position(&calls, "gitlab-runner register")].contains("--tls-ca-file /etc/runnergen/gitlab-ca.crt")
        );
    }
}

/// daemon.json on both images: valid JSON with live-restore and the mirror, whatever the mirror's
/// address holds; without a mirror, live-restore alone.
#[test]
fn daemon_json_has_the_mirror_on_every_docker_host() {
    let odd = r#"https://mir"ror\x.corp.example"#;
    for (mirror, yaml) in [(MIRROR, MIRROR.to_owned()), (odd, format!("'{odd}'"))] {
        let (_dir, spec) =
            landing_zone_copy(|text| text.replace(&format!("mirror: {MIRROR}"), &format!("mirror: {yaml}")));
        let files = render(&spec);
        for script in ["packer/gitlab-runner-provision.sh", "packer/worker-provision.sh"] {
            let text = written_by_line(&files[script].contents, "configure_docker", "/etc/docker/daemon.json");
            let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
            assert_eq!(json, serde_json::json!({"live-restore": true, "registry-mirrors": [mirror]}), "{script}");
        }
    }
    let (_dir, spec) = landing_zone_copy(|text| text.replace(&format!("  mirror: {MIRROR}\n"), ""));
    let files = render(&spec);
    let text =
        written_by_line(&files["packer/worker-provision.sh"].contents, "configure_docker", "/etc/docker/daemon.json");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&text).expect("JSON"),
        serde_json::json!({"live-restore": true})
    );
}

/// The runner's Docker configuration names ecr-login for each registry of registries.ecr, is
/// root's alone, and the bake stops if the package brought no helper.
#[test]
fn the_runner_pulls_from_ecr_through_the_credential_helper() {
    let files = render(&common::root().join("examples").join(EXAMPLE).join("fleet.yaml"));
    let script = &files["packer/gitlab-runner-provision.sh"].contents;
    let helper = ("docker-credential-ecr-login", "exit 0");
    let call = "ecr_docker_config=$WORK/root/.docker/config.json; configure_ecr_credentials";
    let (out, dir) = run_with(script, &[helper], call);
    common::assert_success(&out, "configure_ecr_credentials");
    let path = dir.path().join("root/.docker/config.json");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("JSON");
    assert_eq!(json, serde_json::json!({"credHelpers": {ECR_REGISTRY: "ecr-login"}}));
    assert_eq!(std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(path.parent().expect("dir")).expect("stat").permissions().mode() & 0o777, 0o700);
    // Where gitlab-runner looks: the home of root, which it runs as.
    assert!(script.contains("ecr_docker_config=/root/.docker/config.json\n"));
    assert!(script.contains("install_base_packages unzip nftables procps amazon-ecr-credential-helper\n"));

    let (out, _dir) = run_with(script, &[], call.replace("configure", "PATH=/usr/bin:/bin configure").as_str());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("installed no docker-credential-ecr-login"));
}

/// The CloudWatch agent's common configuration: valid TOML with the proxy as written, installed
/// where the agent reads it, with the agent's package.
#[test]
fn the_cloudwatch_agent_takes_the_proxy_from_its_common_configuration() {
    for user in ODD_USERS {
        let (_dir, spec) = landing_zone_copy(|text| with_user(text, user).0);
        let url = with_user("", user).1;
        let files = render(&spec);
        let text = &files["packer/files/cloudwatch-agent-common-config"].contents;
        let toml: toml::Table = text.parse().unwrap_or_else(|e| panic!("{e}\n{text}"));
        let proxy = toml["proxy"].as_table().expect("[proxy]");
        assert_eq!(proxy["http_proxy"].as_str(), Some(url.as_str()), "{user}");
        assert_eq!(proxy["https_proxy"].as_str(), Some(url.as_str()), "{user}");
        let direct = proxy["no_proxy"].as_str().expect("no_proxy");
        assert!(direct.split(',').any(|h| h == IMDS), "{direct}");
    }
    // The bake's step, its download and package tools stood in for.
    let files = render(&common::root().join("examples").join(EXAMPLE).join("fleet.yaml"));
    let script = &files["packer/gitlab-runner-provision.sh"].contents;
    let record = r#"printf '%s\n' "${0##*/} $*" >>"$WORK/calls""#;
    let standins = [
        ("install", record),
        ("dpkg", record),
        ("apt-mark", record),
        ("systemctl", record),
        ("dpkg-query", r#"printf '%s-1' "$VERSION""#),
    ];
    let call = "fetch_cloudwatch_agent() { :; }; upload_dir=/tmp/files; \
                VERSION=$cloudwatch_agent_version install_cloudwatch_agent";
    let (out, dir) = run_with(script, &standins, call);
    common::assert_success(&out, "install_cloudwatch_agent");
    let calls = std::fs::read_to_string(dir.path().join("calls")).expect("calls");
    // (The script's own first lines install its throwaway gpg home.)
    let install = calls.lines().position(|l| l.starts_with("install -m")).expect("an install");
    assert_eq!(
        calls.lines().nth(install),
        Some(
            "install -m 0644 /tmp/files/cloudwatch-agent-common-config \
             /opt/aws/amazon-cloudwatch-agent/etc/common-config.toml"
        ),
        "{calls}"
    );
    assert!(calls.lines().position(|l| l.starts_with("dpkg -i")) < Some(install), "{calls}");
}
