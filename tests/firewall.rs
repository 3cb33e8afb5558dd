//! The jobs' firewall, loaded by the real `nft` into network namespaces of the test's own. As on
//! EC2, the metadata service is off the instance: a stand-in answers on 169.254.169.254 in a
//! namespace of its own, which the "instance" namespace routes to. A shell job is a process of
//! another user on the instance; a docker job is a third namespace whose traffic the instance
//! forwards, as Docker's bridge does. Nothing leaves these namespaces (documentation addresses).

use std::path::Path;
use std::process::{Command, Output};

use crate::common;

/// Three namespaces and a web server, removed when dropped.
struct Instance {
    imds: String,
    host: String,
    job: String,
    server: Option<std::process::Child>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
        for ns in [&self.imds, &self.host, &self.job] {
            let _ = Command::new(common::tool_path("ip")).args(["netns", "delete", ns]).output();
        }
    }
}

fn ip(args: &[&str]) {
    let out = common::run(common::tool("ip").args(args));
    common::assert_success(&out, &format!("ip {}", args.join(" ")));
}

impl Instance {
    fn new(www: &Path) -> Instance {
        let id = std::process::id();
        let mut instance = Instance {
            imds: format!("rg-fw-imds-{id}"),
            host: format!("rg-fw-host-{id}"),
            job: format!("rg-fw-job-{id}"),
            server: None,
        };
        let (imds, host, job) = (instance.imds.as_str(), instance.host.as_str(), instance.job.as_str());
        for ns in [imds, host, job] {
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        // The metadata service, one link away from the instance.
        ip(&["link", "add", "rgfw-i", "netns", host, "type", "veth", "peer", "name", "rgfw-m", "netns", imds]);
        ip(&["-n", host, "addr", "add", "192.0.2.5/30", "dev", "rgfw-i"]);
        ip(&["-n", host, "link", "set", "rgfw-i", "up"]);
        ip(&["-n", imds, "addr", "add", "192.0.2.6/30", "dev", "rgfw-m"]);
        ip(&["-n", imds, "addr", "add", "169.254.169.254/32", "dev", "lo"]);
        ip(&["-n", imds, "link", "set", "rgfw-m", "up"]);
        ip(&["-n", imds, "route", "add", "192.0.2.0/30", "via", "192.0.2.5"]);
        ip(&["-n", host, "route", "add", "169.254.169.254/32", "via", "192.0.2.6"]);
        // A container: its own namespace, routed through the instance.
        ip(&["link", "add", "rgfw-h", "netns", host, "type", "veth", "peer", "name", "rgfw-j", "netns", job]);
        ip(&["-n", host, "addr", "add", "192.0.2.1/30", "dev", "rgfw-h"]);
        ip(&["-n", host, "link", "set", "rgfw-h", "up"]);
        ip(&["-n", job, "addr", "add", "192.0.2.2/30", "dev", "rgfw-j"]);
        ip(&["-n", job, "link", "set", "rgfw-j", "up"]);
        ip(&["-n", job, "route", "add", "default", "via", "192.0.2.1"]);
        ip(&["netns", "exec", host, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]);
        let server = common::tool("ip")
            .args(["netns", "exec", imds, "python3", "-m", "http.server", "80", "--bind", "169.254.169.254"])
            .arg("--directory")
            .arg(www)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the stand-in metadata service starts");
        instance.server = Some(server);
        instance
    }

    /// Fetches the stand-in's page from a namespace, as user and group `uid` (root when `None`).
    #[allow(clippy::unused_self, reason = "a namespace of this world's, called as its method")]
    fn fetch(&self, ns: &str, uid: Option<&str>) -> Output {
        let mut cmd = common::tool("ip");
        cmd.args(["netns", "exec", ns]);
        if let Some(uid) = uid {
            cmd.arg(common::tool_path("setpriv")).args(["--reuid", uid, "--regid", uid, "--clear-groups", "--"]);
        }
        cmd.arg(common::tool_path("curl")).args([
            "-fsS",
            "--max-time",
            "3",
            "http://169.254.169.254/latest/meta-data/instance-id",
        ]);
        common::run(&mut cmd)
    }

    /// Waits until root on the instance gets an answer (the server has started).
    fn wait_for_server(&self) {
        for _ in 0..50 {
            if self.fetch(&self.host, None).status.success() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the stand-in metadata service never answered");
    }
}

const NOBODY: &str = "65534";

#[test]
fn jobs_cannot_reach_the_metadata_service_and_the_runner_can() {
    let spec = common::root().join("examples/multi-pool/fleet.yaml");
    let dir = common::render_to_temp(&spec);
    let rules = std::fs::read_to_string(dir.path().join("packer/files/jobs-firewall.nft")).expect("the rules");
    assert!(rules.contains("meta skuid \"gitlab-runner\""), "{rules}");
    // This machine has no gitlab-runner user: the test's job user is nobody (uid 65534).
    let rules_here = dir.path().join("rules.nft");
    std::fs::write(&rules_here, rules.replace("\"gitlab-runner\"", "\"nobody\"")).expect("write");

    let www = tempfile::tempdir().expect("a temp dir");
    std::fs::create_dir_all(www.path().join("latest/meta-data")).expect("mkdir");
    std::fs::write(www.path().join("latest/meta-data/instance-id"), "i-0123456789abcdef0").expect("write");
    let instance = Instance::new(www.path());
    instance.wait_for_server();
    let answer = |out: &Output| String::from_utf8_lossy(&out.stdout).into_owned();

    // Without the rules everyone gets through, so what follows is the rules' doing.
    assert_eq!(answer(&instance.fetch(&instance.host, Some(NOBODY))), "i-0123456789abcdef0");
    assert_eq!(answer(&instance.fetch(&instance.job, None)), "i-0123456789abcdef0");

    // Loaded as the unit does, twice: reloading replaces the table instead of failing.
    for _ in 0..2 {
        let out = common::run(
            common::tool("ip")
                .args(["netns", "exec", &instance.host])
                .arg(common::tool_path("nft"))
                .arg("-f")
                .arg(&rules_here),
        );
        common::assert_success(&out, "nft -f");
    }
    let listed = common::run(
        common::tool("ip")
            .args(["netns", "exec", &instance.host])
            .arg(common::tool_path("nft"))
            .args(["list", "ruleset"]),
    );
    assert_eq!(String::from_utf8_lossy(&listed.stdout).matches("table inet runnergen").count(), 1);

    // The runner and the helpers (root) keep the metadata service.
    let root = instance.fetch(&instance.host, None);
    assert_eq!(answer(&root), "i-0123456789abcdef0", "{}", String::from_utf8_lossy(&root.stderr));
    // A shell job (the job user on the instance) does not.
    let shell_job = instance.fetch(&instance.host, Some(NOBODY));
    assert!(!shell_job.status.success() && answer(&shell_job).is_empty(), "a shell job reached the metadata service");
    // A container (forwarded by the instance) does not, whatever its user.
    let container = instance.fetch(&instance.job, None);
    assert!(!container.status.success() && answer(&container).is_empty(), "a container reached the metadata service");
}
