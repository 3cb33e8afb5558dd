//! The boot test: the baked units and helpers, as rendered from the tree's current templates, run
//! under a real systemd as PID 1 (issue 18, "How to show it: boot the instance").
//!
//! Each scenario boots a Debian 12 container (`systemd-nspawn -b`) whose root is an overlay on the
//! root filesystem that tests/boot/build-rootfs.sh builds once into target/tools/boot-rootfs
//! (debootstrap; scripts/test builds or refreshes it). Into each fresh overlay it installs the
//! rendered units and helpers exactly where, and with the modes, the rendered provision script
//! installs them, and enables what it enables. User data is run as cloud-final would run it:
//! after multi-user.target (Ubuntu) or concurrently with the boot (Amazon Linux).
//!
//! The container lives in a network namespace of its own, made on the host: there, on the real
//! metadata address 169.254.169.254:80, a stand-in IMDS (tests/standins/imds.py through
//! tests/boot/imds.py) serves the instance id, the target lifecycle state and, once the host writes
//! it, a spot interruption notice; on 127.0.0.1 moto answers the real AWS CLI (awscli 1.46.3 inside
//! the container, pointed there by /root/.aws/config only), with tests/standins/lifecycle_actions.py
//! in front of it for the two lifecycle calls moto lacks. gitlab-runner is the stand-in
//! tests/boot/gitlab-runner, which logs every call and signal to a folder the host bind-mounts and
//! runs fake jobs when the host asks. The CloudWatch agent's control script and docker.service are
//! stand-ins too. Nothing of the rendered units or helpers is changed; only polling (and, where a
//! scenario's claim is not about it, the heartbeat interval) is shortened through systemd's
//! DefaultEnvironment.
//!
//! The scenarios use the `multi-pool` example's docker pool: it has a cache and logs (so user data
//! writes every kind of file), and its region is the one tests/standins/lifecycle_actions.py checks
//! lifecycle calls against (eu-central-1).
//!
//! Needs root, systemd-nspawn, nsenter, ip, overlayfs, moto and the AWS CLI in
//! target/tools/aws-venv; a missing one fails the test. The scenarios take the machine in turn (a
//! global lock). Measured on the 2-core test machine, shared with other builds: 229 s for all 11
//! scenarios when they pass (each boot, with moto seeded, about 10 s; the drain 53 s, the spot
//! notice during a drain 50 s), up to about 6 minutes when the bounded waits of failing ones run
//! out; excluding the one-time root filesystem build (152 to 183 s). `RUNNERGEN_BOOT_EVIDENCE=1`
//! with `--nocapture` prints what each scenario saw even when it passes.
//!
//! How it differs from EC2: Debian 12's systemd 252 rather than Ubuntu's or Amazon Linux 2023's,
//! no cloud-init (a unit runs user data in cloud-final's place, in either ordering), stand-ins for
//! gitlab-runner, the metadata service, Docker and the CloudWatch agent, and moto for AWS.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::common;

const TOKEN: &str = "glrt-boot-standin-secret-0123456789";
const EXAMPLE: &str = "multi-pool";
const POOL: &str = "docker";
const MOTO_PORT: u16 = 5000;
/// What PATH inside the container is for commands the host runs there.
const CONTAINER_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The scenarios share the machine (the CPU, the names of network namespaces): one at a time.
fn machine_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs_f64()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Runs a command; panics with its output when it fails.
fn must(cmd: &mut Command, what: &str) -> String {
    let out = common::run(cmd);
    common::assert_success(&out, what);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ip(args: &[&str]) {
    must(common::tool("ip").args(args), &format!("ip {}", args.join(" ")));
}

/// The root filesystem tests/boot/build-rootfs.sh built, checked against that script's hash.
fn base_rootfs() -> PathBuf {
    use sha2::Digest;
    let script = std::fs::read(common::root().join("tests/boot/build-rootfs.sh")).expect("build-rootfs.sh");
    let want: String = sha2::Sha256::digest(&script).iter().map(|b| format!("{b:02x}")).collect();
    let rootfs = common::root().join("target/tools/boot-rootfs");
    let stamp = std::fs::read_to_string(rootfs.join(".runnergen-boot-rootfs")).unwrap_or_default();
    assert_eq!(
        stamp.trim(),
        want,
        "{} is missing or older than tests/boot/build-rootfs.sh; run scripts/test (or that script), which builds it",
        rootfs.display()
    );
    rootfs
}

/// How cloud-final runs user data relative to the boot.
#[derive(Clone, Copy, Debug, PartialEq)]
enum CloudFinal {
    /// Ubuntu: cloud-final.service is ordered after multi-user.target.
    Ubuntu,
    /// Amazon Linux 2023: cloud-final.service is not ordered after multi-user.target, so user data
    /// runs while the boot's own units start.
    AmazonLinux,
}

struct Options {
    cloud_final: CloudFinal,
    /// systemd's DefaultEnvironment in the container: the helpers' test knobs.
    knobs: Vec<(&'static str, &'static str)>,
    /// How long the stand-in docker.service takes to start.
    docker_seconds: u32,
    /// How long the stand-in CloudWatch agent control script takes.
    cloudwatch_seconds: u32,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            cloud_final: CloudFinal::Ubuntu,
            knobs: vec![("RUNNERGEN_TEST_POLL_SECONDS", "1")],
            docker_seconds: 0,
            cloudwatch_seconds: 0,
        }
    }
}

/// A file's lines as they appear, each with the time the host first saw it (polled every 50 ms):
/// for logs whose writer puts no time in them (the lifecycle-action stand-in's).
struct Tail {
    lines: Arc<Mutex<Vec<(f64, String)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Tail {
    fn new(path: PathBuf) -> Tail {
        let lines: Arc<Mutex<Vec<(f64, String)>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, stopped) = (lines.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut count = 0;
            while !stopped.load(Ordering::Relaxed) {
                let content = std::fs::read_to_string(&path).unwrap_or_default();
                let all: Vec<&str> = content.lines().collect();
                if all.len() > count && content.ends_with('\n') {
                    let t = now();
                    let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
                    for line in &all[count..] {
                        seen.push((t, (*line).to_owned()));
                    }
                    count = all.len();
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Tail { lines, stop, thread: Some(thread) }
    }

    fn lines(&self) -> Vec<(f64, String)> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One line of the stand-ins' log (tests/boot/gitlab-runner): when, which process, what.
#[derive(Clone, Debug)]
struct Event {
    time: f64,
    what: String,
}

/// A lifecycle call the stand-in accepted, with the time the host saw it.
struct Action {
    time: f64,
    fields: serde_json::Value,
}

/// One booted (or bootable) instance: its network namespace with IMDS, moto and the lifecycle
/// proxy, its overlay root with the rendered output installed, and the container. Everything is
/// stopped and removed when dropped, whether the scenario passed or not.
struct Machine {
    dir: tempfile::TempDir,
    netns: String,
    services: Vec<Child>,
    mounted: bool,
    nspawn: Option<Child>,
    leader: Option<u32>,
    boots: u32,
    proxy: Option<Tail>,
    /// The pool's settings, as its user data writes them.
    settings: BTreeMap<String, String>,
    /// The instance id moto gave the group's instance, which the IMDS stand-in serves.
    instance: String,
    /// The paths user data writes, in the order it writes them.
    user_data_files: Vec<String>,
    started: Instant,
}

impl Drop for Machine {
    fn drop(&mut self) {
        self.kill_container();
        self.proxy = None;
        if self.mounted {
            let root = self.root();
            let unmounted = Command::new("umount").arg(&root).status().map(|s| s.success()).unwrap_or(false);
            if !unmounted {
                let _ = Command::new("umount").arg("-l").arg(&root).status();
            }
            self.mounted = false;
        }
        for service in &mut self.services {
            let _ = service.kill();
            let _ = service.wait();
        }
        let _ = Command::new(common::tool_path("ip")).args(["netns", "delete", &self.netns]).output();
    }
}

impl Machine {
    fn new(options: Options) -> Machine {
        for tool in ["ip", "systemd-nspawn", "nsenter", "mount", "umount", "systemctl", "journalctl", "python3"] {
            let _ = common::tool_path(tool);
        }
        let lower = base_rootfs();
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let dir = tempfile::Builder::new().prefix("runnergen-boot-").tempdir().expect("a temp dir");
        let mut machine = Machine {
            dir,
            netns: format!("rgboot-{}-{n}", std::process::id()),
            services: Vec::new(),
            mounted: false,
            nspawn: None,
            leader: None,
            boots: 0,
            proxy: None,
            settings: BTreeMap::new(),
            instance: String::new(),
            user_data_files: Vec::new(),
            started: Instant::now(),
        };
        // The tree's current templates, rendered now.
        let spec = common::root().join("examples").join(EXAMPLE).join("fleet.yaml");
        let rendered = common::render_to_temp(&spec);
        let out = rendered.path().to_path_buf();
        let user_data =
            std::fs::read_to_string(out.join(format!("terraform/user-data/{POOL}.sh"))).expect("the pool's user data");
        machine.settings = settings_of(&user_data);
        machine.user_data_files = files_written_by(&user_data);
        for sub in ["upper", "work", "root", "standin/jobs", "imds/latest/meta-data/autoscaling"] {
            std::fs::create_dir_all(machine.path(sub)).expect("mkdir");
        }
        machine.network();
        machine.seed_moto();
        machine.imds("latest/meta-data/instance-id", &machine.instance.clone());
        machine.imds("latest/meta-data/autoscaling/target-lifecycle-state", "InService");

        let options_root = machine.path("root");
        must(
            Command::new("mount")
                .args(["-t", "overlay", "overlay", "-o"])
                .arg(format!(
                    "lowerdir={},upperdir={},workdir={}",
                    lower.display(),
                    machine.path("upper").display(),
                    machine.path("work").display()
                ))
                .arg(&options_root),
            "mounting the container's overlay root",
        );
        machine.mounted = true;
        machine.install(&out, &user_data, &options);
        drop(rendered);
        machine
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn root(&self) -> PathBuf {
        self.path("root")
    }

    fn setting(&self, key: &str) -> String {
        self.settings.get(key).cloned().unwrap_or_else(|| panic!("user data sets no {key}: {:#?}", self.settings))
    }

    /// The namespace: lo, the metadata address on it, the IMDS stand-in on that address, moto and
    /// the lifecycle-action proxy on 127.0.0.1.
    fn network(&mut self) {
        let ns = self.netns.clone();
        ip(&["netns", "add", &ns]);
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        // On lo: this machine's kernel has no dummy links. The address is local to the namespace
        // either way, and the helpers reach it by its real address.
        ip(&["-n", &ns, "addr", "add", "169.254.169.254/32", "dev", "lo"]);

        let mut imds = common::tool("ip")
            .args(["netns", "exec", &ns, "python3"])
            .arg(common::root().join("tests/boot/imds.py"))
            .args(["169.254.169.254", "80"])
            .arg(self.path("imds"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("the IMDS stand-in starts");
        let mut line = String::new();
        BufReader::new(imds.stdout.take().expect("stdout")).read_line(&mut line).expect("its port");
        self.services.push(imds);
        assert_eq!(line.trim(), "80", "the IMDS stand-in did not start on port 80");

        let moto_server = common::tool_path("moto_server");
        let moto = common::tool("ip")
            .args(["netns", "exec", &ns])
            .arg(&moto_server)
            .args(["-H", "127.0.0.1", "-p", &MOTO_PORT.to_string()])
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        self.services.push(moto);
        let moto_url = format!("http://127.0.0.1:{MOTO_PORT}");
        let up = (0..150).any(|_| {
            std::thread::sleep(Duration::from_millis(100));
            common::run(
                common::tool("ip")
                    .args(["netns", "exec", &ns, "curl", "-fsS", "-o", "/dev/null"])
                    .arg(format!("{moto_url}/moto-api/")),
            )
            .status
            .success()
        });
        assert!(up, "moto_server did not answer on {moto_url} in the namespace");

        let log = self.path("lifecycle-actions.log");
        let mut proxy = common::tool("ip")
            .args(["netns", "exec", &ns, "python3"])
            .arg(common::root().join("tests/standins/lifecycle_actions.py"))
            .arg(&moto_url)
            .arg(&log)
            .stdout(Stdio::piped())
            .spawn()
            .expect("the lifecycle-action stand-in starts");
        let mut line = String::new();
        BufReader::new(proxy.stdout.take().expect("stdout")).read_line(&mut line).expect("its port");
        self.services.push(proxy);
        let proxy_port: u16 = line.trim().parse().expect("a port");
        std::fs::write(self.path("proxy-port"), proxy_port.to_string()).expect("write");
        self.proxy = Some(Tail::new(log));
    }

    /// The host's AWS CLI against moto, in the namespace.
    fn aws_output(&self, args: &[&str]) -> Output {
        let aws = common::tool_path("moto_server").parent().expect("a folder").join("aws");
        assert!(aws.is_file(), "the AWS CLI is not installed beside moto_server; run scripts/test");
        let port = std::fs::read_to_string(self.path("proxy-port")).expect("the proxy's port");
        let mut cmd = common::tool("ip");
        cmd.args(["netns", "exec", &self.netns])
            .arg(aws)
            .args(["--region", &self.setting("RUNNERGEN_REGION"), "--output", "text"])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{MOTO_PORT}"))
            .env("AWS_ENDPOINT_URL_AUTO_SCALING", format!("http://127.0.0.1:{port}"));
        common::run(&mut cmd)
    }

    fn aws(&self, args: &[&str]) -> String {
        let out = self.aws_output(args);
        common::assert_success(&out, &format!("aws {}", args.join(" ")));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// The account as tests/aws_emulator.rs sets it up: the token as a SecureString, the pool's
    /// group with its terminating hook and one instance, whose id the IMDS stand-in serves.
    fn seed_moto(&mut self) {
        let group = self.setting("RUNNERGEN_ASG_NAME");
        self.aws(&[
            "ssm",
            "put-parameter",
            "--name",
            &self.setting("RUNNERGEN_TOKEN_PARAMETER"),
            "--type",
            "SecureString",
            "--value",
            TOKEN,
        ]);
        let image = self.aws(&["ec2", "describe-images", "--owners", "amazon", "--query", "Images[0].ImageId"]);
        let subnet = self.aws(&["ec2", "describe-subnets", "--query", "Subnets[0].SubnetId"]);
        let data = format!("{{\"ImageId\":\"{image}\",\"InstanceType\":\"m7g.large\"}}");
        self.aws(&["ec2", "create-launch-template", "--launch-template-name", &group, "--launch-template-data", &data]);
        self.aws(&[
            "autoscaling",
            "create-auto-scaling-group",
            "--auto-scaling-group-name",
            &group,
            "--launch-template",
            &format!("LaunchTemplateName={group}"),
            "--min-size",
            "0",
            "--max-size",
            "2",
            "--desired-capacity",
            "1",
            "--vpc-zone-identifier",
            &subnet,
        ]);
        self.aws(&[
            "autoscaling",
            "put-lifecycle-hook",
            "--auto-scaling-group-name",
            &group,
            "--lifecycle-hook-name",
            &self.setting("RUNNERGEN_LIFECYCLE_HOOK"),
            "--lifecycle-transition",
            "autoscaling:EC2_INSTANCE_TERMINATING",
            "--default-result",
            "CONTINUE",
        ]);
        self.instance = self.aws(&[
            "autoscaling",
            "describe-auto-scaling-instances",
            "--query",
            "AutoScalingInstances[0].InstanceId",
        ]);
        assert!(self.instance.starts_with("i-"), "moto's instance: {}", self.instance);
    }

    /// Writes a file the IMDS stand-in serves (ROOT/PATH).
    fn imds(&self, rel: &str, contents: &str) {
        let path = self.path("imds").join(rel);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, contents).expect("write");
        std::fs::rename(tmp, path).expect("rename");
    }

    /// Installs the rendered output into the container's root as the provision script does, the
    /// stand-ins, the AWS CLI's configuration, the test knobs and user data's cloud-final.
    fn install(&self, out: &Path, user_data: &str, options: &Options) {
        let root = self.root();
        let provision =
            std::fs::read_to_string(out.join("packer/gitlab-runner-provision.sh")).expect("the provision script");
        let steps = provision_steps(&provision);
        assert!(!steps.installs.is_empty() && !steps.enables.is_empty(), "nothing installed: {provision}");
        for dir in &steps.dirs {
            std::fs::create_dir_all(root.join(dir.trim_start_matches('/'))).expect("mkdir");
        }
        for (mode, source, target) in &steps.installs {
            let target = root.join(target.trim_start_matches('/'));
            std::fs::create_dir_all(target.parent().expect("a parent")).expect("mkdir");
            std::fs::copy(out.join("packer/files").join(source), &target)
                .unwrap_or_else(|e| panic!("installing files/{source}: {e}"));
            set_mode(&target, *mode);
        }

        // The stand-ins: gitlab-runner, the CloudWatch agent's control script, docker.service.
        let boot = common::root().join("tests/boot");
        let install_standin = |source: &str, target: &str| {
            let target = root.join(target);
            std::fs::create_dir_all(target.parent().expect("a parent")).expect("mkdir");
            std::fs::copy(boot.join(source), &target).expect("copy a stand-in");
            set_mode(&target, 0o755);
        };
        install_standin("gitlab-runner", "usr/bin/gitlab-runner");
        install_standin(
            "amazon-cloudwatch-agent-ctl",
            "opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl",
        );
        std::fs::write(self.path("standin/cloudwatch-agent-seconds"), options.cloudwatch_seconds.to_string())
            .expect("write");
        write(
            &root.join("etc/systemd/system/docker.service"),
            &format!(
                "# Stand-in for Docker's daemon (the boot test): takes {} s to start.\n[Unit]\nDescription=stand-in docker\n\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/bin/sleep {}\n\n[Install]\nWantedBy=multi-user.target\n",
                options.docker_seconds, options.docker_seconds
            ),
        );

        // The real AWS CLI reaches moto, and the proxy for Auto Scaling, through its configuration.
        let port = std::fs::read_to_string(self.path("proxy-port")).expect("the proxy's port");
        write(
            &root.join("root/.aws/config"),
            &format!(
                "[default]\nregion = {}\nendpoint_url = http://127.0.0.1:{MOTO_PORT}\nservices = runnergen-boot-test\n\n[services runnergen-boot-test]\nauto_scaling =\n  endpoint_url = http://127.0.0.1:{port}\n",
                self.setting("RUNNERGEN_REGION")
            ),
        );
        write(
            &root.join("root/.aws/credentials"),
            "[default]\naws_access_key_id = testing\naws_secret_access_key = testing\n",
        );

        // The test knobs, for every unit.
        let knobs: Vec<String> = options.knobs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        write(
            &root.join("etc/systemd/system.conf.d/50-runnergen-boot-test.conf"),
            &format!("[Manager]\nDefaultEnvironment={}\n", knobs.join(" ")),
        );

        // User data, run once per instance as cloud-init's scripts-user module does.
        let part = root.join("var/lib/cloud/instance/scripts/part-001");
        write(&part, user_data);
        set_mode(&part, 0o700);
        std::fs::create_dir_all(root.join("var/lib/cloud/instance/sem")).expect("mkdir");
        let ordering = match options.cloud_final {
            CloudFinal::Ubuntu => "After=network-online.target multi-user.target",
            CloudFinal::AmazonLinux => "After=network-online.target",
        };
        write(
            &root.join("etc/systemd/system/runnergen-test-cloud-final.service"),
            &format!(
                "# Stand-in for cloud-final.service ({:?}): runs user data once per instance.\n[Unit]\nDescription=cloud-final stand-in\nWants=network-online.target\n{ordering}\nConditionPathExists=!/var/lib/cloud/instance/sem/config_scripts_user\n\n[Service]\nType=oneshot\nExecStart=/var/lib/cloud/instance/scripts/part-001\nExecStartPost=/usr/bin/touch /var/lib/cloud/instance/sem/config_scripts_user\nRemainAfterExit=yes\nTimeoutSec=0\nKillMode=process\nStandardOutput=journal+console\n\n[Install]\nWantedBy=multi-user.target\n",
                options.cloud_final
            ),
        );

        let mut enable = common::tool("systemctl");
        enable.arg("--root").arg(&root).arg("enable").arg("runnergen-test-cloud-final.service");
        for unit in &steps.enables {
            enable.arg(unit);
        }
        must(&mut enable, "systemctl --root enable");
    }

    /// Boots the container (again, on the same root, for a reboot) and waits until its systemd
    /// answers.
    fn boot(&mut self) {
        assert!(self.nspawn.is_none(), "already booted");
        self.boots += 1;
        let console = std::fs::File::create(self.path(&format!("console-{}.log", self.boots))).expect("console log");
        let nspawn = common::tool("systemd-nspawn")
            // Neither registered with nor scoped by the host's systemd (there may be none).
            .args(["--quiet", "--register=no", "--keep-unit", "--boot", "--link-journal=no", "--console=read-only"])
            // The jobs' firewall is loaded by the real nft, into the scenario's own namespace.
            .arg("--capability=CAP_NET_ADMIN")
            .arg(format!("--machine={}", self.netns))
            .arg(format!("--network-namespace-path=/run/netns/{}", self.netns))
            .arg(format!("--bind={}:/standin", self.path("standin").display()))
            .arg("--directory")
            .arg(self.root())
            .stdin(Stdio::null())
            .stdout(console.try_clone().expect("dup"))
            .stderr(console)
            .spawn()
            .expect("systemd-nspawn starts");
        let nspawn_pid = nspawn.id();
        self.nspawn = Some(nspawn);
        // The leader: nspawn's child that runs systemd as the container's PID 1.
        let leader = self.wait_for("the container's systemd to start", Duration::from_secs(30), |_| {
            let children =
                std::fs::read_to_string(format!("/proc/{nspawn_pid}/task/{nspawn_pid}/children")).unwrap_or_default();
            children.split_whitespace().filter_map(|p| p.parse::<u32>().ok()).find(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm")).map(|c| c.trim() == "systemd").unwrap_or(false)
            })
        });
        self.leader = Some(leader);
        self.wait_for("the container's systemd to answer", Duration::from_secs(60), |m| {
            let out = m.exec(&["systemctl", "is-system-running"]);
            let state = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            ["initializing", "starting", "running", "degraded"].contains(&state.as_str()).then_some(())
        });
    }

    /// Runs a command inside the booted container, in all its namespaces.
    fn exec(&self, args: &[&str]) -> Output {
        let leader = self.leader.expect("booted");
        common::run(
            common::tool("nsenter")
                .args(["-t", &leader.to_string(), "-a", "--", "/usr/bin/env", "-i", CONTAINER_PATH])
                .args(args),
        )
    }

    fn unit_state(&self, unit: &str) -> String {
        let out = self.exec(&["systemctl", "show", "--property=ActiveState", "--value", unit]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Powers the container off from inside and waits for it (bounded); kills it if it hangs.
    fn poweroff(&mut self) -> bool {
        let _ = self.exec(&["systemctl", "poweroff", "--no-block"]);
        let clean = self.wait_for_exit(Duration::from_secs(45));
        self.kill_container();
        clean
    }

    fn wait_for_exit(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            match self.nspawn.as_mut().map(|c| c.try_wait()) {
                None | Some(Ok(Some(_))) => return true,
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
        false
    }

    /// Stops the container at once: SIGKILL to its PID 1 ends its PID namespace, then nspawn.
    fn kill_container(&mut self) {
        if let Some(mut nspawn) = self.nspawn.take() {
            if let Ok(None) = nspawn.try_wait() {
                if let Some(leader) = self.leader {
                    let _ = Command::new("kill").args(["-KILL", &leader.to_string()]).status();
                }
                let deadline = Instant::now() + Duration::from_secs(10);
                while Instant::now() < deadline && matches!(nspawn.try_wait(), Ok(None)) {
                    std::thread::sleep(Duration::from_millis(100));
                }
                let _ = nspawn.kill();
            }
            let _ = nspawn.wait();
        }
        self.leader = None;
    }

    /// Polls `check` every 200 ms until it gives a value; panics with the evidence after `limit`.
    fn wait_for<T>(&self, what: &str, limit: Duration, mut check: impl FnMut(&Machine) -> Option<T>) -> T {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(value) = check(self) {
                return value;
            }
            if Instant::now() >= deadline {
                panic!("waited {} s for {what} in vain\n{}", limit.as_secs(), self.evidence());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Polls `check` until it holds (true) or the deadline, an epoch time, passes (false).
    fn wait_until(&self, deadline: f64, mut check: impl FnMut(&Machine) -> bool) -> bool {
        loop {
            if check(self) {
                return true;
            }
            if now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The stand-ins' log (tests/boot/gitlab-runner and the CloudWatch stand-in).
    fn events(&self) -> Vec<Event> {
        let log = std::fs::read_to_string(self.path("standin/calls.log")).unwrap_or_default();
        assert!(!log.contains(TOKEN), "the token reached the stand-in's log:\n{log}");
        log.lines()
            .filter_map(|line| {
                let mut parts = line.splitn(3, ' ');
                let time = parts.next()?.parse().ok()?;
                let _pid = parts.next()?;
                Some(Event { time, what: parts.next()?.to_owned() })
            })
            .collect()
    }

    fn calls(&self, prefix: &str) -> Vec<Event> {
        let prefix = format!("call: gitlab-runner {prefix}");
        self.events().into_iter().filter(|e| e.what.starts_with(&prefix)).collect()
    }

    fn first(&self, what: &str) -> Option<f64> {
        self.events().iter().find(|e| e.what.starts_with(what)).map(|e| e.time)
    }

    fn actions(&self) -> Vec<Action> {
        self.proxy
            .as_ref()
            .map(|tail| tail.lines())
            .unwrap_or_default()
            .into_iter()
            .map(|(time, line)| Action { time, fields: serde_json::from_str(&line).expect("JSON") })
            .collect()
    }

    fn completions(&self) -> Vec<Action> {
        self.actions().into_iter().filter(|a| a.fields["Action"] == "CompleteLifecycleAction").collect()
    }

    fn config(&self) -> String {
        std::fs::read_to_string(self.root().join("etc/gitlab-runner/config.toml")).unwrap_or_default()
    }

    /// Asks the stand-in runner for a fake job of `seconds`.
    fn start_job(&self, name: &str, seconds: u32) {
        let jobs = self.path("standin/jobs");
        std::fs::write(jobs.join(format!("{name}.tmp")), seconds.to_string()).expect("write");
        std::fs::rename(jobs.join(format!("{name}.tmp")), jobs.join(format!("{name}.job"))).expect("rename");
        let started = format!("job {name}: started");
        self.wait_for(&format!("the runner to start job {name}"), Duration::from_secs(20), |m| m.first(&started));
    }

    /// Waits until the runner runs (registered, `run` taking jobs) and the watcher is active.
    fn wait_for_runner(&self) {
        self.wait_for("the runner to take jobs", Duration::from_secs(120), |m| m.first("run: taking jobs"));
    }

    fn journal(&self, args: &[&str]) -> String {
        let out = common::run(
            common::tool("journalctl")
                .arg("-D")
                .arg(self.root().join("var/log/journal"))
                .args(["--no-pager", "-o", "short-precise"])
                .args(args),
        );
        text(&out)
    }

    /// Each time PID 1 logged "Starting UNIT" (the start of its first ExecStartPre or ExecStart).
    fn unit_starts(&self, unit: &str) -> Vec<f64> {
        let out = common::run(common::tool("journalctl").arg("-D").arg(self.root().join("var/log/journal")).args([
            "--no-pager",
            "-o",
            "json",
            "_PID=1",
        ]));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| {
                e["UNIT"] == unit && e["MESSAGE"].as_str().is_some_and(|m| m.starts_with(&format!("Starting {unit}")))
            })
            .filter_map(|e| e["__REALTIME_TIMESTAMP"].as_str()?.parse::<f64>().ok())
            .map(|us| us / 1e6)
            .collect()
    }

    /// Everything that shows what happened, for a failure's message.
    fn evidence(&self) -> String {
        let t0 = self.events().first().map(|e| e.time).unwrap_or(0.0);
        let events: Vec<String> = self.events().iter().map(|e| format!("  {:>9.3} {}", e.time - t0, e.what)).collect();
        let actions: Vec<String> = self
            .actions()
            .iter()
            .map(|a| {
                format!(
                    "  {:>9.3} {} {}",
                    a.time - t0,
                    a.fields["Action"].as_str().unwrap_or("?"),
                    a.fields["LifecycleActionResult"].as_str().unwrap_or("")
                )
            })
            .collect();
        let imds = std::fs::read_to_string(self.path("imds/requests.log")).unwrap_or_default();
        let imds_tail: Vec<&str> = imds.lines().rev().take(8).collect();
        let states = if self.leader.is_some() {
            let out = self.exec(&[
                "systemctl",
                "list-units",
                "--all",
                "--no-pager",
                "--plain",
                "runnergen-*",
                "docker.service",
                "runnergen-test-cloud-final.service",
            ]);
            let jobs = self.exec(&["systemctl", "list-jobs", "--no-pager"]);
            format!("{}\n{}", text(&out), text(&jobs))
        } else {
            "(not running)".to_owned()
        };
        let journal =
            self.journal(&["-u", "runnergen-*", "-u", "runnergen-test-cloud-final.service", "-u", "docker.service"]);
        let journal_tail: Vec<&str> = journal.lines().rev().take(120).collect::<Vec<_>>().into_iter().rev().collect();
        let console = std::fs::read_to_string(self.path(&format!("console-{}.log", self.boots))).unwrap_or_default();
        let console_tail: Vec<&str> = console.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect();
        format!(
            "--- instance {} in {} after {:.0} s; times in s after the stand-ins' first log line (epoch {t0:.3})\n--- stand-in log (tests/boot/gitlab-runner):\n{}\n--- lifecycle calls the proxy accepted (time the host saw them):\n{}\n--- units:\n{states}\n--- journal (runnergen units, cloud-final stand-in, docker stand-in), last 120 lines:\n{}\n--- IMDS requests, last 8 (newest first):\n{}\n--- console, last 15 lines:\n{}",
            self.instance,
            self.netns,
            self.started.elapsed().as_secs_f64(),
            events.join("\n"),
            actions.join("\n"),
            journal_tail.join("\n"),
            imds_tail.join("\n"),
            console_tail.join("\n"),
        )
    }
}

/// Collects a scenario's failed checks, so that one failure does not hide the others; panics with
/// all of them and the evidence at the end.
struct Verdict {
    failures: Vec<String>,
    notes: Vec<String>,
}

impl Verdict {
    fn new() -> Verdict {
        Verdict { failures: Vec::new(), notes: Vec::new() }
    }

    /// Evidence of the scenario's own (a timeline), shown with the failures.
    fn note(&mut self, note: String) {
        self.notes.push(note);
    }

    fn check(&mut self, ok: bool, claim: impl Into<String>) {
        if !ok {
            self.failures.push(claim.into());
        }
    }

    fn done(self, machine: &Machine) {
        // RUNNERGEN_BOOT_EVIDENCE=1 (with --nocapture) shows what a passing scenario saw, too.
        let notes = self.notes.join("\n");
        if std::env::var_os("RUNNERGEN_BOOT_EVIDENCE").is_some() {
            eprintln!("{notes}\n{}", machine.evidence());
        }
        assert!(
            self.failures.is_empty(),
            "{} failed check(s):\n- {}\n\n{notes}\n{}",
            self.failures.len(),
            self.failures.join("\n- "),
            machine.evidence()
        );
    }
}

fn write(path: &Path, contents: &str) {
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
    std::fs::write(path, contents).expect("write");
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// The KEY=value lines of user data's settings file.
fn settings_of(user_data: &str) -> BTreeMap<String, String> {
    user_data
        .lines()
        .filter(|l| l.starts_with("RUNNERGEN_"))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The absolute paths user data writes: renamed into place (`mv -f "$tmp" PATH`) or redirected to
/// (`>PATH`), in order.
fn files_written_by(user_data: &str) -> Vec<String> {
    let mut files = Vec::new();
    for line in user_data.lines() {
        let line = line.trim();
        let target = if let Some(rest) = line.strip_prefix("mv -f \"$tmp\" ") {
            Some(rest.trim())
        } else {
            line.rsplit_once('>').map(|(_, t)| t.trim()).filter(|t| t.starts_with('/') && !t.starts_with("/dev/"))
        };
        if let Some(t) = target {
            let t = t.trim_matches('"').to_owned();
            if !files.contains(&t) {
                files.push(t);
            }
        }
    }
    files
}

/// What the provision script's runnergen steps do: folders, installed files (mode, source under
/// files/, target) and enabled units.
struct ProvisionSteps {
    dirs: Vec<String>,
    installs: Vec<(u32, String, String)>,
    enables: Vec<String>,
}

fn provision_steps(script: &str) -> ProvisionSteps {
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    let mut steps = ProvisionSteps { dirs: Vec::new(), installs: Vec::new(), enables: Vec::new() };
    let expand = |word: &str, vars: &BTreeMap<String, String>| {
        let mut word = word.trim_matches('"').to_owned();
        for (k, v) in vars {
            word = word.replace(&format!("${{{k}}}"), v).replace(&format!("${k}"), v);
        }
        word
    };
    for line in script.lines() {
        let line = line.trim();
        if let Some((k, v)) = line.split_once('=')
            && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            && !k.is_empty()
            && !v.contains(' ')
        {
            vars.insert(k.to_owned(), v.trim_matches('"').to_owned());
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() == Some(&"install") {
            let mut mode = 0o755;
            let mut dir = false;
            let mut operands = Vec::new();
            let mut i = 1;
            while i < words.len() {
                match words[i] {
                    "-m" => {
                        mode = u32::from_str_radix(words[i + 1], 8).expect("an octal mode");
                        i += 1;
                    }
                    "-d" => dir = true,
                    w if w.starts_with('-') => {}
                    w => operands.push(expand(w, &vars)),
                }
                i += 1;
            }
            let upload = vars.get("upload_dir").cloned().unwrap_or_else(|| "/tmp/files".to_owned());
            if dir {
                steps.dirs.extend(operands.into_iter().filter(|d| d.starts_with("/etc") || d.starts_with("/usr")));
            } else if operands.len() == 2 && operands[0].starts_with(&format!("{upload}/")) {
                let source = operands[0][upload.len() + 1..].to_owned();
                steps.installs.push((mode, source, operands[1].clone()));
            }
        } else if words.len() > 2 && words[0] == "systemctl" && words[1] == "enable" {
            steps.enables.extend(words[2..].iter().filter(|w| !w.starts_with('-')).map(|w| w.to_string()));
        }
    }
    steps
}

/// ctime of a file in the container's root: when it last appeared or changed (a rename sets it).
fn ctime(root: &Path, path: &str) -> Option<f64> {
    let meta = std::fs::metadata(root.join(path.trim_start_matches('/'))).ok()?;
    Some(meta.ctime() as f64 + meta.ctime_nsec() as f64 / 1e9)
}

fn count(events: &[Event], prefix: &str) -> usize {
    events.iter().filter(|e| e.what.starts_with(prefix)).count()
}

/// Seconds from `from` to `to`, for messages.
fn after(from: f64, to: f64) -> String {
    format!("{:.1} s", to - from)
}

fn times(events: &[Event], prefix: &str) -> Vec<f64> {
    events.iter().filter(|e| e.what.starts_with(prefix)).map(|e| e.time).collect()
}

/// The watcher reads the lifecycle state only while it runs: scenarios that change it wait for
/// the watcher first (and fail, with the evidence, when it never starts).
fn wait_for_watcher(m: &Machine, limit: Duration) {
    m.wait_for("runnergen-lifecycle.service to be active", limit, |m| {
        (m.unit_state("runnergen-lifecycle.service") == "active").then_some(())
    });
}

#[test]
fn first_boot_registers_exactly_once() {
    let _lock = machine_lock();
    let mut m = Machine::new(Options::default());
    m.boot();
    m.wait_for_runner();
    wait_for_watcher(&m, Duration::from_secs(30));
    // A restart of the runner (a crash, an operator) keeps the registration too.
    let restart = m.exec(&["systemctl", "restart", "runnergen-runner.service"]);
    m.wait_for("the restarted runner to take jobs", Duration::from_secs(60), |m| {
        (count(&m.events(), "run: taking jobs") >= 2).then_some(())
    });

    let mut v = Verdict::new();
    v.check(restart.status.success(), format!("systemctl restart runnergen-runner.service: {}", text(&restart)));
    let registers = m.calls("register");
    v.check(registers.len() == 1, format!("one `register` call, not {}", registers.len()));
    if let Some(register) = registers.first() {
        let name = format!("--name {}-{POOL}-{}", m.setting("RUNNERGEN_FLEET"), m.instance);
        v.check(register.what.contains(&name), format!("register names this instance ({name}): {}", register.what));
    }
    v.check(
        count(&m.events(), "register: saw a glrt- token in CI_SERVER_TOKEN") == 1,
        "register got the token from SSM in CI_SERVER_TOKEN",
    );
    let config = m.config();
    v.check(config.matches("[[runners]]").count() == 1, format!("config.toml has one [[runners]]:\n{config}"));
    v.check(m.calls("unregister").is_empty(), "no `unregister` call");
    v.check(
        m.journal(&["-u", "runnergen-runner.service"]).contains("already registered"),
        "the restart's register hook said it was already registered",
    );
    for unit in ["runnergen-firewall.service", "runnergen-lifecycle.service", "runnergen-metrics.timer"] {
        let state = m.unit_state(unit);
        v.check(state == "active", format!("{unit} is active, not {state}"));
    }
    v.done(&m);
}

#[test]
fn a_reboot_neither_registers_again_nor_unregisters() {
    let _lock = machine_lock();
    let mut m = Machine::new(Options::default());
    m.boot();
    m.wait_for_runner();
    wait_for_watcher(&m, Duration::from_secs(30));
    let clean = m.poweroff();
    let first_boot_events = m.events().len();
    m.boot();
    m.wait_for("the runner to take jobs after the reboot", Duration::from_secs(90), |m| {
        (count(&m.events(), "run: taking jobs") >= 2).then_some(())
    });
    wait_for_watcher(&m, Duration::from_secs(30));
    // The watcher polls every second: give it a few polls to do anything it would do.
    std::thread::sleep(Duration::from_secs(3));

    let mut v = Verdict::new();
    v.check(clean, "the first boot powered off within 45 s");
    v.check(
        m.calls("register").len() == 1,
        format!("one `register` call in both boots, not {}", m.calls("register").len()),
    );
    v.check(m.calls("unregister").is_empty(), "no `unregister` call at the poweroff or the reboot");
    let config = m.config();
    v.check(config.matches("[[runners]]").count() == 1, format!("config.toml still has one [[runners]]:\n{config}"));
    let second: Vec<String> = m.events()[first_boot_events..].iter().map(|e| e.what.clone()).collect();
    v.check(
        second.iter().any(|e| e.starts_with("call: gitlab-runner run")),
        format!("the runner ran again: {second:#?}"),
    );
    v.check(
        m.journal(&["-b", "-u", "runnergen-runner.service"]).contains("already registered"),
        "the second boot's register hook said it was already registered",
    );
    v.check(m.completions().is_empty(), "no lifecycle action was completed");
    v.done(&m);
}

#[test]
fn a_scale_in_with_a_running_job_drains_heartbeats_unregisters_then_completes() {
    let _lock = machine_lock();
    // Heartbeats every 10 s instead of 300 s, so that a 40 s job sees some.
    let mut m = Machine::new(Options {
        knobs: vec![("RUNNERGEN_TEST_POLL_SECONDS", "1"), ("RUNNERGEN_TEST_HEARTBEAT_SECONDS", "10")],
        ..Options::default()
    });
    m.boot();
    m.wait_for_runner();
    wait_for_watcher(&m, Duration::from_secs(30));
    m.start_job("build-1", 40);
    let terminated = now();
    m.imds("latest/meta-data/autoscaling/target-lifecycle-state", "Terminated");
    let done = m.wait_until(terminated + 120.0, |m| !m.completions().is_empty());
    std::thread::sleep(Duration::from_secs(2));

    let mut v = Verdict::new();
    v.check(done, "the lifecycle action was completed within 120 s of Terminated");
    let events = m.events();
    let sigquit = times(&events, "signal: SIGQUIT");
    let finished = times(&events, "job build-1: finished");
    let aborted = times(&events, "job build-1: aborted");
    let unregisters = m.calls("unregister");
    let actions = m.actions();
    let heartbeats: Vec<&Action> =
        actions.iter().filter(|a| a.fields["Action"] == "RecordLifecycleActionHeartbeat").collect();
    let completions = m.completions();
    v.check(
        sigquit.len() == 1 && sigquit[0] > terminated,
        format!("the runner got SIGQUIT once after Terminated: {sigquit:?}"),
    );
    v.check(finished.len() == 1 && aborted.is_empty(), "the job finished, and was not aborted");
    v.check(!heartbeats.is_empty(), "lifecycle heartbeats were recorded during the drain");
    v.check(unregisters.len() == 1, format!("one `unregister` call, not {}", unregisters.len()));
    v.check(completions.len() == 1, format!("one CompleteLifecycleAction, not {}", completions.len()));
    if let (Some(&q), Some(&f), Some(u), Some(c)) =
        (sigquit.first(), finished.first(), unregisters.first(), completions.first())
    {
        v.check(
            q < f,
            format!("SIGQUIT ({}) before the job finished ({})", after(terminated, q), after(terminated, f)),
        );
        v.check(
            heartbeats.iter().all(|h| h.time > q) && heartbeats.first().is_some_and(|h| h.time < f),
            "the heartbeats came after SIGQUIT, the first while the job ran",
        );
        v.check(
            f < u.time,
            format!("unregister ({}) after the job finished ({})", after(terminated, u.time), after(terminated, f)),
        );
        v.check(
            u.time < c.time,
            format!(
                "CompleteLifecycleAction ({}) after unregister ({})",
                after(terminated, c.time),
                after(terminated, u.time)
            ),
        );
        v.check(
            u.what.contains("--all-runners"),
            format!("unregister removes this machine's runner manager only: {}", u.what),
        );
        v.check(c.fields["LifecycleActionResult"] == "CONTINUE", "the action's result is CONTINUE");
        for a in actions.iter() {
            v.check(
                a.fields["AutoScalingGroupName"] == m.setting("RUNNERGEN_ASG_NAME").as_str()
                    && a.fields["LifecycleHookName"] == m.setting("RUNNERGEN_LIFECYCLE_HOOK").as_str()
                    && a.fields["InstanceId"] == m.instance.as_str(),
                format!("a lifecycle call names this group, hook and instance: {}", a.fields),
            );
        }
    }
    v.check(!m.config().contains("[[runners]]"), "config.toml holds no runner any more");
    v.done(&m);
}

/// The spot notice as IMDS serves it, two minutes ahead.
fn spot_notice(m: &Machine) -> f64 {
    let t = now();
    let reclaim =
        must(common::tool("date").args(["-u", "+%Y-%m-%dT%H:%M:%SZ", "-d", &format!("@{}", t as i64 + 120)]), "date");
    let reclaim = reclaim.trim();
    m.imds("latest/meta-data/spot/instance-action", &format!("{{\"action\":\"terminate\",\"time\":\"{reclaim}\"}}"));
    t
}

#[test]
fn a_spot_notice_while_idle_aborts_and_unregisters_within_two_minutes() {
    let _lock = machine_lock();
    // The real spot grace and shutdown timeout; only polling is shortened.
    let mut m = Machine::new(Options::default());
    m.boot();
    m.wait_for_runner();
    wait_for_watcher(&m, Duration::from_secs(30));
    let notice = spot_notice(&m);
    let unregistered = m.wait_until(notice + 120.0, |m| !m.calls("unregister").is_empty());
    std::thread::sleep(Duration::from_secs(2));

    let mut v = Verdict::new();
    v.check(unregistered, "unregistered within 120 s of the notice");
    let events = m.events();
    let signals: Vec<&Event> = events.iter().filter(|e| e.what.starts_with("signal: ") && e.time > notice).collect();
    let exited = times(&events, "run: exiting");
    let unregisters = m.calls("unregister");
    v.check(!signals.is_empty(), "the runner got a signal after the notice");
    v.check(exited.iter().any(|&t| t > notice), "the runner stopped after the notice");
    v.check(unregisters.len() == 1, format!("one `unregister` call, not {}", unregisters.len()));
    if let (Some(&x), Some(u)) = (exited.last(), unregisters.first()) {
        v.check(
            x < u.time,
            format!("the runner stopped ({}) before unregister ({})", after(notice, x), after(notice, u.time)),
        );
        v.check(u.time - notice <= 120.0, format!("unregister {} after the notice", after(notice, u.time)));
    }
    let state = m.unit_state("runnergen-runner.service");
    v.check(state == "inactive" || state == "failed", format!("the runner unit is stopped, not {state}"));
    v.done(&m);
}

#[test]
fn a_spot_notice_during_a_drain_aborts_unregisters_and_completes_within_two_minutes() {
    let _lock = machine_lock();
    let mut m = Machine::new(Options::default());
    m.boot();
    m.wait_for_runner();
    wait_for_watcher(&m, Duration::from_secs(30));
    m.start_job("long", 600);
    let terminated = now();
    m.imds("latest/meta-data/autoscaling/target-lifecycle-state", "Terminated");
    m.wait_for("the drain's SIGQUIT", Duration::from_secs(30), |m| m.first("signal: SIGQUIT"));
    std::thread::sleep(Duration::from_secs(5));
    let notice = spot_notice(&m);
    let completed = m.wait_until(notice + 120.0, |m| !m.completions().is_empty());
    std::thread::sleep(Duration::from_secs(1));

    let mut v = Verdict::new();
    v.check(completed, "the lifecycle action was completed within 120 s of the spot notice");
    let events = m.events();
    let sigterm = times(&events, "signal: SIGTERM");
    let aborted = times(&events, "job long: aborted");
    let unregisters = m.calls("unregister");
    let completions = m.completions();
    v.check(
        sigterm.iter().any(|&t| t > notice && t - notice <= 120.0),
        format!(
            "SIGTERM reached the runner within 120 s of the notice: {:?}",
            sigterm.iter().map(|&t| after(notice, t)).collect::<Vec<_>>()
        ),
    );
    v.check(aborted.len() == 1 && aborted[0] - notice <= 120.0, "the job was aborted within 120 s of the notice");
    v.check(times(&events, "job long: finished").is_empty(), "the job did not run to its end");
    v.check(unregisters.len() == 1, format!("one `unregister` call, not {}", unregisters.len()));
    v.check(completions.len() == 1, format!("one CompleteLifecycleAction, not {}", completions.len()));
    if let (Some(u), Some(c)) = (unregisters.first(), completions.first()) {
        v.check(
            u.time < c.time && c.time - notice <= 120.0,
            format!(
                "unregister ({}) then CompleteLifecycleAction ({}), both within 120 s of the notice",
                after(notice, u.time),
                after(notice, c.time)
            ),
        );
        v.check(c.fields["LifecycleActionResult"] == "CONTINUE", "the action's result is CONTINUE");
    }
    v.check(terminated < notice, "Terminated came first");
    v.done(&m);
}

/// The group terminates the instance while its registration hangs (an endpoint that never
/// answers) or keeps failing and retrying: the lifecycle action is completed within 60 s, and the
/// runner unit stops instead of sitting in `deactivating` until its stop timeout.
fn termination_during_registration(standin_file: &str, waiting_for: &str) {
    let _lock = machine_lock();
    let mut m = Machine::new(Options::default());
    std::fs::write(m.path("standin").join(standin_file), "").expect("write");
    m.boot();
    m.wait_for(&format!("{waiting_for} ({standin_file})"), Duration::from_secs(90), |m| m.first(waiting_for));
    // Issue 18 (5): the watcher runs from boot, independently of the runner's start job.
    std::thread::sleep(Duration::from_secs(2));
    let watcher = m.unit_state("runnergen-lifecycle.service");
    let terminated = now();
    m.imds("latest/meta-data/autoscaling/target-lifecycle-state", "Terminated");
    let completed = m.wait_until(terminated + 60.0, |m| !m.completions().is_empty());
    let stopped = m.wait_until(now() + 5.0, |m| {
        matches!(m.unit_state("runnergen-runner.service").as_str(), "inactive" | "failed")
    });
    let runner = m.unit_state("runnergen-runner.service");
    let left = text(&m.exec(&["pgrep", "-a", "-f", "gitlab-runner register"]));
    let registers_after = m.calls("register").iter().filter(|c| c.time > terminated + 1.0).count();

    let mut v = Verdict::new();
    v.check(
        watcher == "active",
        format!("the lifecycle watcher was active while registration was under way, not {watcher}"),
    );
    v.check(completed, "the lifecycle action was completed within 60 s of Terminated");
    if let Some(c) = m.completions().first() {
        v.check(c.fields["LifecycleActionResult"] == "CONTINUE", "the action's result is CONTINUE");
    }
    v.check(
        stopped,
        format!(
            "the runner unit stopped (inactive or failed), not stuck in {runner}, {:.0} s after Terminated",
            now() - terminated
        ),
    );
    v.check(left.trim().is_empty(), format!("no `gitlab-runner register` is left running: {left}"));
    v.check(
        registers_after == 0,
        format!("registration was not tried again on a leaving instance: {registers_after} call(s)"),
    );
    v.done(&m);
}

#[test]
fn a_termination_while_registration_hangs_completes_promptly() {
    termination_during_registration("register-hangs", "register: hanging");
}

#[test]
fn a_termination_while_registration_retries_completes_promptly() {
    termination_during_registration("register-fails", "register: failing");
}

/// Runs user data as cloud-final would, with a slow docker.service and a slow CloudWatch agent,
/// and checks that every file user data writes exists before the runner's ExecStartPre starts.
fn user_data_comes_first(cloud_final: CloudFinal) {
    let _lock = machine_lock();
    let mut m = Machine::new(Options { cloud_final, docker_seconds: 3, cloudwatch_seconds: 5, ..Options::default() });
    m.boot();
    m.wait_for_runner();
    m.wait_for("user data to finish", Duration::from_secs(60), |m| {
        (m.unit_state("runnergen-test-cloud-final.service") == "active").then_some(())
    });

    let mut v = Verdict::new();
    let files = m.user_data_files.clone();
    // The multi-pool docker pool has a cache and logs: user data writes all four kinds of file.
    for wanted in ["/etc/runnergen/runner.env", "runner-template", "cloudwatch", "runnergen-runner.service.d/"] {
        v.check(files.iter().any(|f| f.contains(wanted)), format!("user data writes a {wanted} file: {files:?}"));
    }
    let starts = m.unit_starts("runnergen-runner.service");
    let registers = m.calls("register");
    let root = m.root();
    let t0 = m.events().first().map(|e| e.time).unwrap_or(0.0);
    let mut timeline = vec![];
    for f in &files {
        timeline.push((ctime(&root, f), format!("user data wrote {f}")));
    }
    for s in &starts {
        timeline.push((Some(*s), "runnergen-runner.service: Starting (ExecStartPre)".to_owned()));
    }
    for e in m
        .events()
        .iter()
        .filter(|e| e.what.contains("cloudwatch-agent-ctl") || e.what.starts_with("call: gitlab-runner register"))
    {
        timeline.push((Some(e.time), e.what.clone()));
    }
    timeline.sort_by(|a, b| a.0.unwrap_or(f64::MAX).total_cmp(&b.0.unwrap_or(f64::MAX)));
    let timeline: Vec<String> = timeline
        .iter()
        .map(|(t, what)| match t {
            Some(t) => format!("{:>8.3} {what}", t - t0),
            None => format!("  absent {what}"),
        })
        .collect();
    let timeline = timeline.join("\n");
    v.note(format!(
        "--- user data ({cloud_final:?} ordering) and the runner, s after the stand-ins' first log line:\n{timeline}"
    ));
    match starts.first() {
        None => v.check(false, "the runner's ExecStartPre started"),
        Some(&start) => {
            for f in &files {
                let written = ctime(&root, f);
                v.check(
                    written.is_some_and(|w| w < start),
                    format!("{f} existed before the runner's ExecStartPre started ({cloud_final:?})"),
                );
            }
        }
    }
    v.check(registers.len() == 1, format!("one `register` call, not {}", registers.len()));
    if let Some(r) = registers.first() {
        v.check(r.what.contains("--template-config"), format!("registration merged the cache template: {}", r.what));
    }
    v.done(&m);
}

#[test]
fn user_data_writes_everything_before_the_runner_starts_after_multi_user_ubuntu() {
    user_data_comes_first(CloudFinal::Ubuntu);
}

#[test]
fn user_data_writes_everything_before_the_runner_starts_during_the_boot_amazon_linux() {
    user_data_comes_first(CloudFinal::AmazonLinux);
}

#[test]
fn busy_and_idle_toggle_scale_in_protection() {
    let _lock = machine_lock();
    let mut m = Machine::new(Options::default());
    m.boot();
    m.wait_for_runner();
    let protected = |m: &Machine| {
        m.aws(&[
            "autoscaling",
            "describe-auto-scaling-instances",
            "--instance-ids",
            &m.instance,
            "--query",
            "AutoScalingInstances[0].ProtectedFromScaleIn",
        ])
    };
    let publish = |m: &Machine| text(&m.exec(&["systemctl", "start", "runnergen-metrics.service"]));
    let before = protected(&m);
    m.start_job("busy", 15);
    let busy_run = publish(&m);
    let busy = protected(&m);
    m.wait_for("the job to finish", Duration::from_secs(30), |m| m.first("job busy: finished"));
    let idle_run = publish(&m);
    let idle = protected(&m);

    let mut v = Verdict::new();
    v.check(before == "False", format!("a new instance is not protected: {before}"));
    v.check(busy == "True", format!("with a job running, the instance is protected from scale-in: {busy} {busy_run}"));
    v.check(idle == "False", format!("idle again, it is not: {idle} {idle_run}"));
    v.done(&m);
}
