//! The provision script's supply chain: what it pins, where it downloads from, and its
//! verification functions run for real (gpg, unzip) with a stand-in `curl` that serves local files
//! for the download addresses. A key or signature that is not the expected one stops the bake.

use std::path::Path;
use std::process::Output;

use crate::common;

fn provision(example: &str) -> String {
    let spec = common::root().join("examples").join(example).join("fleet.yaml");
    let fleet = runnergen::load_spec(&spec).map(|l| l.fleet).expect("loads");
    runnergen::render::render(&fleet).expect("renders")["packer/gitlab-runner-provision.sh"].contents.clone()
}

#[test]
fn the_bake_pins_every_package_and_uses_current_key_addresses() {
    for example in ["minimal", "multi-pool", "amazon-linux"] {
        let text = provision(example);
        assert!(text.contains("repo_key_url=https://packages.gitlab.com/gpgkey/gpg.key\n"), "{example}");
        assert!(!text.contains("packages.gitlab.com/gpg.key"), "{example}: the retired key address");
        assert!(text.contains("repo_key_fingerprint=F6403F6544A38863DAA0B6E03F01618A51312F3F\n"), "{example}");
        assert!(text.contains("aws_cli_version=2.36.7\n"), "{example}");
        assert!(text.contains("aws_cli_key_fingerprint=FB5DB77FD5C118B80511ADA8A6310ACC4672475C\n"), "{example}");
        assert!(!text.contains("snap "), "{example}: the AWS CLI must not come from a self-refreshing snap");
        assert!(!text.contains("latest"), "{example}");
        if example == "amazon-linux" {
            assert!(text.contains("'gpgcheck=1'") && text.contains("'repo_gpgcheck=1'"), "{example}");
            assert!(text.contains("package_key_fingerprint=931DA69CFA3AFEBBC97DAA8C6C57C29C6BA75A4E\n"), "{example}");
            assert!(text.contains("awscli-exe-linux-x86_64-$aws_cli_version.zip"), "{example}");
        } else {
            assert!(text.contains("'APT::Periodic::Unattended-Upgrade \"0\";'"), "{example}");
            assert!(text.contains("systemctl mask apt-daily.timer apt-daily-upgrade.timer"), "{example}");
            assert!(text.contains("apt-mark hold docker.io containerd runc"), "{example}");
        }
        assert!(text.contains("'  \"live-restore\": true'"), "{example}");
    }
    assert!(provision("multi-pool").contains("awscli-exe-linux-aarch64-$aws_cli_version.zip"));
}

/// A world for the provision script's functions: the script without its last line (`main "$@"`),
/// a stand-in curl serving `urls/<address with / replaced by _>`, and a throwaway signing key.
struct Bake {
    dir: tempfile::TempDir,
    script: String,
    /// The fingerprint of the throwaway key.
    fingerprint: String,
}

impl Bake {
    fn new() -> Bake {
        let dir = tempfile::tempdir().expect("a temp dir");
        let text = provision("multi-pool");
        let script = text.strip_suffix("main \"$@\"\n").expect("ends by calling main").to_owned();
        for sub in ["bin", "urls", "upload", "gnupg"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("mkdir");
        }
        std::fs::set_permissions(dir.path().join("gnupg"), std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .expect("chmod");
        std::fs::write(
            dir.path().join("bin/curl"),
            "#!/usr/bin/env bash\n# Stand-in for curl: -o FILE, then the address; serves $URLS/<address>.\n\
             out=; url=\nwhile (($#)); do case $1 in -o) out=$2; shift 2 ;; -*) shift ;; *) url=$1; shift ;; esac; done\n\
             file=$URLS/${url//\\//_}\n[[ -f $file ]] || exit 22\ncp \"$file\" \"$out\"\n",
        )
        .expect("write curl");
        std::fs::set_permissions(dir.path().join("bin/curl"), std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        let gpg = |args: &[&str]| -> Output {
            common::run(
                common::tool("gpg").env("GNUPGHOME", dir.path().join("gnupg")).args(["--batch", "--quiet"]).args(args),
            )
        };
        let out =
            gpg(&["--passphrase", "", "--quick-gen-key", "Not AWS <not-aws@example.com>", "rsa2048", "sign", "1d"]);
        common::assert_success(&out, "gpg --quick-gen-key");
        let listed = gpg(&["--with-colons", "--list-keys"]);
        let fingerprint = String::from_utf8_lossy(&listed.stdout)
            .lines()
            .find(|l| l.starts_with("fpr:"))
            .and_then(|l| l.split(':').nth(9))
            .expect("a fingerprint")
            .to_owned();
        let out = gpg(&["--armor", "--output"]
            .into_iter()
            .chain([dir.path().join("throwaway.asc").to_str().expect("UTF-8"), "--export", &fingerprint])
            .collect::<Vec<_>>());
        common::assert_success(&out, "gpg --export");
        // A zip that holds an `aws/install`, signed by the throwaway key.
        let zip_dir = dir.path().join("zip");
        std::fs::create_dir_all(zip_dir.join("aws")).expect("mkdir");
        std::fs::write(zip_dir.join("aws/install"), "#!/bin/sh\necho installed >\"$TMPDIR/installed\"\n")
            .expect("write");
        let zip = dir.path().join("awscli.zip");
        common::assert_success(
            &common::run(common::tool("zip").arg("-qr").arg(&zip).arg("aws").current_dir(&zip_dir)),
            "zip",
        );
        let out = gpg(&[
            "--detach-sign",
            "--output",
            dir.path().join("awscli.zip.sig").to_str().expect("UTF-8"),
            zip.to_str().expect("UTF-8"),
        ]);
        common::assert_success(&out, "gpg --detach-sign");
        Bake { dir, script, fingerprint }
    }

    fn serve(&self, url: &str, file: &Path) {
        std::fs::copy(file, self.dir.path().join("urls").join(url.replace('/', "_"))).expect("serve");
    }

    /// Runs `call` after the script's definitions, with the upload folder holding `aws-cli.asc`.
    fn run(&self, aws_cli_key: &Path, call: &str) -> Output {
        std::fs::copy(aws_cli_key, self.dir.path().join("upload/aws-cli.asc")).expect("copy key");
        let script = format!("{}\nupload_dir={}\n{call}\n", self.script, self.dir.path().join("upload").display());
        let path = format!("{}:{}", self.dir.path().join("bin").display(), std::env::var("PATH").unwrap_or_default());
        common::run(
            common::tool("bash")
                .arg("-c")
                .arg(script)
                .env("PATH", path)
                .env("URLS", self.dir.path().join("urls"))
                .env("TMPDIR", self.dir.path()),
        )
    }
}

#[test]
fn the_bake_stops_on_a_key_or_signature_that_is_not_the_published_one() {
    let bake = Bake::new();
    let real_key = common::root().join("templates/packer/files/aws-cli.asc");
    let throwaway = bake.dir.path().join("throwaway.asc");
    let stderr = |out: &Output| String::from_utf8_lossy(&out.stderr).into_owned();

    // A key file that is not AWS's is refused before anything is downloaded.
    let out = bake.run(&throwaway, "install_aws_cli");
    assert!(!out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("files/aws-cli.asc is not the AWS CLI's signing key"), "{}", stderr(&out));

    // AWS's key, and a zip signed by someone else: refused, nothing installed.
    let url = "https://awscli.amazonaws.com/awscli-exe-linux-aarch64-2.36.7.zip";
    bake.serve(url, &bake.dir.path().join("awscli.zip"));
    bake.serve(&format!("{url}.sig"), &bake.dir.path().join("awscli.zip.sig"));
    let out = bake.run(&real_key, "install_aws_cli");
    assert!(!out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("the signature of {url} is not AWS's")), "{}", stderr(&out));
    assert!(!bake.dir.path().join("installed").exists(), "an unverified installer ran");

    // A missing download stops the bake too.
    std::fs::remove_file(bake.dir.path().join("urls").join(format!("{url}.sig").replace('/', "_"))).expect("rm");
    let out = bake.run(&real_key, "install_aws_cli");
    assert!(!out.status.success() && stderr(&out).contains("cannot download"), "{}", stderr(&out));

    // GitLab's repository key: another key at the address is refused; the expected one passes.
    let gitlab = "https://packages.gitlab.com/gpgkey/gpg.key";
    bake.serve(gitlab, &throwaway);
    let out = bake.run(
        &real_key,
        &format!("fetch_key \"$repo_key_url\" \"$repo_key_fingerprint\" {}/k.asc", bake.dir.path().display()),
    );
    assert!(!out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("the key at {gitlab} is not the expected key")), "{}", stderr(&out));
    let out = bake.run(
        &real_key,
        &format!("fetch_key \"$repo_key_url\" {} {}/k.asc", bake.fingerprint, bake.dir.path().display()),
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

// ---------------------------------------------------------------------------------------------
// With autoscaler pools: the plugin in the runner image, and the worker image's checks.

/// Runs `call` after the definitions of a rendered provision script (its `main "$@"` line cut),
/// with executables `standins` (name, bash body) first on PATH, in a folder of its own (`$WORK`,
/// also the working directory), which the stand-ins may write to. Returns the output and the folder.
pub(crate) fn run_with(script: &str, standins: &[(&str, &str)], call: &str) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    for (name, body) in standins {
        let path = bin.join(name);
        std::fs::write(&path, format!("#!/usr/bin/env bash\n{body}\n")).expect("write stand-in");
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    }
    let definitions = script.strip_suffix("main \"$@\"\n").expect("ends by calling main");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let out = common::run(
        common::tool("bash")
            .arg("-c")
            .arg(format!("{definitions}\n{call}\n"))
            .env("PATH", path)
            .env("WORK", dir.path())
            .env("TMPDIR", dir.path())
            .current_dir(dir.path()),
    );
    (out, dir)
}

fn rendered(example: &str, path: &str) -> String {
    let spec = common::root().join("examples").join(example).join("fleet.yaml");
    let fleet = runnergen::load_spec(&spec).map(|l| l.fleet).expect("loads");
    runnergen::render::render(&fleet).expect("renders")[path].contents.clone()
}

/// A stand-in gitlab-runner for `fleeting -c FILE install|list`: logs the call, the plugin path
/// it was given and the throwaway config's text; `install` writes a plugin binary
/// ($WORK/plugin, holding PLUGIN_BINARY), which `list` names as the real one does, and `list`
/// fails when $WORK/missing exists.
const FLEETING_STANDIN: &str = r#"printf '%s FLEETING_PLUGIN_PATH=%s\n' "$*" "${FLEETING_PLUGIN_PATH:-}" >>"$WORK/calls"
cat "$3" >>"$WORK/configs"
if [[ $4 == install ]]; then printf 'fake plugin\n' >"$WORK/plugin"; fi
if [[ $4 == list && -e $WORK/missing ]]; then echo "plugin not found" >&2; exit 1; fi
if [[ $4 == list ]]; then echo "runner: , plugin: aws:1.0.0, path: $WORK/plugin"; fi"#;
const PLUGIN_BINARY: &[u8] = b"fake plugin\n";

#[test]
fn the_runner_image_holds_the_pinned_plugin_where_the_runner_looks() {
    let script = rendered("autoscaler", "packer/gitlab-runner-provision.sh");
    // `install -d` of the plugin folder is recorded, not done, on this machine.
    let install = ("install", r#"printf 'install %s\n' "$*" >>"$WORK/calls""#);
    let (out, dir) = run_with(&script, &[("gitlab-runner", FLEETING_STANDIN), install], "install_fleeting_plugin");
    common::assert_success(&out, "install_fleeting_plugin");
    let calls = std::fs::read_to_string(dir.path().join("calls")).expect("calls");
    let path = "/usr/local/lib/gitlab-runner/fleeting";
    // (The script's own first lines install its throwaway gpg home.)
    let lines: Vec<&str> = calls.lines().filter(|l| !l.contains("/gnupg")).collect();
    assert_eq!(lines.len(), 3, "{calls}");
    assert_eq!(lines[0], format!("install -d -m 0755 {path}"));
    assert!(
        lines[1].starts_with("fleeting -c ") && lines[1].ends_with(&format!(" install FLEETING_PLUGIN_PATH={path}")),
        "{calls}"
    );
    assert!(
        lines[2].starts_with("fleeting -c ") && lines[2].ends_with(&format!(" list FLEETING_PLUGIN_PATH={path}")),
        "{calls}"
    );
    // The throwaway config lists only the pinned plugin, and does not stay behind.
    let configs = std::fs::read_to_string(dir.path().join("configs")).expect("configs");
    let stub = "[[runners]]\n  [runners.autoscaler]\n    plugin = \"aws:1.0.0\"\n";
    assert_eq!(configs, format!("{stub}{stub}"));
    let stub_path = lines[1].split(' ').nth(2).expect("the config's path");
    assert!(!Path::new(stub_path).exists(), "{stub_path} was left behind");

    // The runner looks where the bake put it.
    let unit = rendered("autoscaler", "packer/files/runnergen-runner.service");
    assert!(unit.contains(&format!("Environment=\"FLEETING_PLUGIN_PATH={path}\"\n")), "{unit}");
    assert!(unit.contains("Environment=\"AWS_REGION=eu-central-1\"\n"), "{unit}");

    // A plugin that `fleeting list` does not find stops the bake.
    let (out, _dir) = run_with(
        &script,
        &[("gitlab-runner", FLEETING_STANDIN), install],
        "touch \"$WORK/missing\"; install_fleeting_plugin",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("gitlab-runner fleeting list does not find aws:1.0.0"));
}

/// Without `image.fleeting_plugin_sha256` the plugin is pinned, and said to be not verified; with
/// it, the bake stops unless the installed binary has that SHA-256.
#[test]
fn the_plugin_is_verified_by_its_sha256_or_said_to_be_unverified() {
    use sha2::Digest as _;
    let install = ("install", r#"printf 'install %s\n' "$*" >>"$WORK/calls""#);
    let standins = [("gitlab-runner", FLEETING_STANDIN), install];
    let right: String = sha2::Sha256::digest(PLUGIN_BINARY).iter().map(|b| format!("{b:02x}")).collect();
    let wrong = "0".repeat(64);

    let script = rendered("autoscaler", "packer/gitlab-runner-provision.sh");
    assert!(script.contains("pinned by version, NOT verified"), "the header claims a check it does not make");
    let (out, _dir) = run_with(&script, &standins, "install_fleeting_plugin");
    common::assert_success(&out, "install_fleeting_plugin");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains(&format!("pinned by version, not verified: SHA-256 {right}")), "{log}");

    let example = std::fs::read_to_string(common::root().join("examples/autoscaler/fleet.yaml")).expect("example");
    for (sha, ok) in [(right.as_str(), true), (wrong.as_str(), false)] {
        let dir = tempfile::tempdir().expect("temp dir");
        let spec = example.replace(
            "  fleeting_plugin_version: 1.0.0\n",
            &format!("  fleeting_plugin_version: 1.0.0\n  fleeting_plugin_sha256: \"{sha}\"\n"),
        );
        assert_ne!(spec, example);
        std::fs::write(dir.path().join("fleet.yaml"), spec).expect("write");
        let fleet = runnergen::load_spec(&dir.path().join("fleet.yaml"))
            .map(|l| l.fleet)
            .unwrap_or_else(|e| panic!("{}", e.render(false)));
        let script =
            runnergen::render::render(&fleet).expect("renders")["packer/gitlab-runner-provision.sh"].contents.clone();
        assert!(!script.contains("NOT verified"), "{script}");
        let (out, _dir) = run_with(&script, &standins, "install_fleeting_plugin");
        let log = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.success(), ok, "{log}");
        if ok {
            assert!(log.contains(&format!("verified: SHA-256 {right}")), "{log}");
        } else {
            assert!(log.contains(&format!("has SHA-256 {right}, not the {wrong}")), "{log}");
        }
    }
}

#[test]
fn the_worker_image_is_checked_for_instance_connect_however_its_package_wires_it() {
    let script = rendered("autoscaler", "packer/worker-provision.sh");
    // The user that sshd runs the command as exists (unless $WORK/no-user); the command is an
    // executable in $WORK.
    let id = ("id", r"[[ $1 == ec2-instance-connect && ! -e $WORK/no-user ]]");
    let check = |sshd: &str, systemctl: &str, setup: &str| {
        let command =
            "printf '#!/bin/sh\\n' >\"$WORK/eic_run_authorized_keys\"; chmod +x \"$WORK/eic_run_authorized_keys\"";
        run_with(
            &script,
            &[("sshd", sshd), ("systemctl", systemctl), id],
            &format!("{command}\n{setup}\ncheck_instance_connect"),
        )
    };
    // Amazon Linux: in sshd's own configuration (sshd -T).
    let (out, _dir) = check(r#"echo "authorizedkeyscommand $WORK/eic_run_authorized_keys %u %f""#, "exit 1", "");
    common::assert_success(&out, "wired in sshd_config");
    // Ubuntu and the upstream deb: in a drop-in of ssh.service's ExecStart.
    let (out, _dir) = check(
        "echo 'authorizedkeysfile .ssh/authorized_keys'",
        r#"echo "ExecStart=/usr/sbin/sshd -D -o \"AuthorizedKeysCommand $WORK/eic_run_authorized_keys %%u %%f\"""#,
        "",
    );
    common::assert_success(&out, "wired in the unit");
    // Not wired, or its user missing: the bake stops.
    let (out, _dir) = check("echo 'authorizedkeysfile .ssh/authorized_keys'", "exit 1", "");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not sshd's AuthorizedKeysCommand"));
    let (out, _dir) = check(
        r#"echo "authorizedkeyscommand $WORK/eic_run_authorized_keys %u %f""#,
        "exit 1",
        "touch \"$WORK/no-user\"",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ec2-instance-connect is missing"));
}

/// The CloudWatch agent (fleets with `logs`): only AWS's agent key by its fingerprint, only a
/// package with a good signature by that key.
#[test]
fn the_bake_takes_the_cloudwatch_agent_only_signed_by_aws() {
    let bake = Bake::new();
    let real_key = common::root().join("templates/packer/files/aws-cli.asc");
    let throwaway = bake.dir.path().join("throwaway.asc");
    let stderr = |out: &Output| String::from_utf8_lossy(&out.stderr).into_owned();
    let key_url = "https://amazoncloudwatch-agent.s3.amazonaws.com/assets/amazon-cloudwatch-agent.gpg";
    let package =
        "https://amazoncloudwatch-agent.s3.amazonaws.com/ubuntu/arm64/1.300071.0b1720/amazon-cloudwatch-agent.deb";
    let target = format!("{}/agent.deb", bake.dir.path().display());
    bake.serve(key_url, &throwaway);
    bake.serve(package, &bake.dir.path().join("awscli.zip"));
    bake.serve(&format!("{package}.sig"), &bake.dir.path().join("awscli.zip.sig"));

    // Another key at the address: refused before the package is fetched.
    let out = bake.run(&real_key, &format!("fetch_cloudwatch_agent {target}"));
    assert!(!out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("the key at {key_url} is not the expected key")), "{}", stderr(&out));
    assert!(!Path::new(&target).exists());

    // The expected key (here the throwaway one, by its fingerprint) and its signature: accepted.
    let trusted = format!("cloudwatch_agent_key_fingerprint={}; fetch_cloudwatch_agent {target}", bake.fingerprint);
    let out = bake.run(&real_key, &trusted);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("CloudWatch agent 1.300071.0b1720 downloaded, signature verified"),
        "{}",
        stderr(&out)
    );

    // A package the signature is not for: refused.
    std::fs::write(bake.dir.path().join("other.deb"), "not the signed package").expect("write");
    bake.serve(package, &bake.dir.path().join("other.deb"));
    let out = bake.run(&real_key, &trusted);
    assert!(!out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("is not AWS's CloudWatch agent key's"), "{}", stderr(&out));
}

// ---------------------------------------------------------------------------------------------
// The user's own bake step (image.provision_script).

/// Each image's `main` runs the user's step after every step of runnergen's and just before the
/// image is sealed (`clean_identity`); the step runs in bash with -e, -u and -o pipefail whatever
/// it sets itself, and its failure fails the bake. Every other step of `main` is a recorder here.
#[test]
fn the_users_bake_step_runs_last_before_the_seal_strictly() {
    for path in ["packer/gitlab-runner-provision.sh", "packer/worker-provision.sh"] {
        let script = rendered("landing-zone", path);
        let uploaded = "/tmp/runnergen-provision-script.sh";
        assert!(script.contains(uploaded), "{path}");
        let script = script.replace(uploaded, "$WORK/user-step.sh");
        let main = script.split("\nmain() {\n").nth(1).expect("a main").split("\n}\n").next().expect("its end");
        let steps: Vec<&str> = main
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("log ") && !l.starts_with('#'))
            .collect();
        assert_eq!(steps.last(), Some(&"clean_identity"), "{path}: {steps:?}");
        // Each step by its function's name (some take arguments: the units a drop-in goes to).
        let steps: Vec<&str> = steps.iter().map(|s| s.split_whitespace().next().unwrap_or_default()).collect();
        let recorders: String = steps
            .iter()
            .filter(|s| **s != "run_provision_script")
            .map(|s| format!("{s}() {{ echo {s} >>\"$WORK/order\"; }}\n"))
            .collect();
        let run = |user_step: &str| {
            let call = format!("{recorders}cat >\"$WORK/user-step.sh\" <<'STEP'\n{user_step}\nSTEP\nmain");
            run_with(&script, &[], &call)
        };
        let (out, dir) = run("echo user-step >>\"$WORK/order\"");
        common::assert_success(&out, path);
        let order = std::fs::read_to_string(dir.path().join("order")).expect("order");
        let order: Vec<&str> = order.lines().collect();
        let user = order.iter().position(|s| *s == "user-step").expect("the user's step ran");
        assert_eq!(user, order.len() - 2, "{path}: {order:?}");
        assert_eq!(order[order.len() - 1], "clean_identity", "{path}");
        assert_eq!(order.len(), steps.len(), "{path}: every step of main ran once: {order:?}");
        assert!(!dir.path().join("user-step.sh").exists(), "{path}: the step is removed before the seal");

        // -e, -u and pipefail hold in the step, and its failure stops the bake before the seal.
        for failing in [
            "false; echo after >>\"$WORK/order\"",
            "echo \"$UNSET\" >>\"$WORK/order\"",
            "false | true; echo after >>\"$WORK/order\"",
        ] {
            let (out, dir) = run(failing);
            assert!(!out.status.success(), "{path}: `{failing}` did not fail the bake");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains("provision: image.provision_script failed with status"), "{path}: {stderr}");
            let order = std::fs::read_to_string(dir.path().join("order")).unwrap_or_default();
            assert!(!order.contains("after") && !order.contains("clean_identity"), "{path}: `{failing}`: {order}");
        }
    }
}
