//! The boot test: the baked units and helpers, as rendered from the tree's current templates, run
//! under a real systemd as PID 1.
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
//! Six more boot the manager of the `autoscaler` example's `build` pool (the same
//! region): its gate (runnergen-manager-gate.service) waits while moto's manager group
//! holds a predecessor that is InService and running in EC2, passes once it leaves the group or EC2
//! stops it, retries a metadata service that answers the instance id with errors for its first
//! seconds (tests/boot/imds.py's `failing/` switch), and fails, keeping the runner from starting,
//! when the metadata service never answers within its bound (shortened for that scenario only) or
//! when its own instance is terminated, while the watcher completes the hook; and once registered,
//! a changed live settings parameter (seeded from terraform/manager-settings/build.toml under the
//! name the pool's `aws_ssm_parameter` gives it, as Terraform would) reaches config.toml without
//! restarting gitlab-runner. Elsewhere only polling is shortened: the gate's bound stays the pool's
//! own (4800 s), so a gate that passes within seconds did not give up on it. The worker group and the
//! fleeting plugin are not exercised: the stand-in's `fleeting list` only loads the file as TOML.
//!
//! Needs root, systemd-nspawn, nsenter, ip, overlayfs, moto and the AWS CLI in
//! target/tools/aws-venv; a missing one fails the test. The scenarios take the machine in turn (a
//! global lock). Measured on the 2-core test machine: 326 s for all 17 scenarios when they pass
//! (each boot, with moto seeded, about 10 s; the drain 53 s, the spot notice during a drain 50 s;
//! the manager's six 131 s), longer when the bounded waits of failing ones run out; excluding the
//! one-time root filesystem build (152 to 183 s). `RUNNERGEN_BOOT_EVIDENCE=1`
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
/// The autoscaler pool whose manager the manager scenarios boot.
const MANAGER_EXAMPLE: &str = "autoscaler";
const MANAGER_POOL: &str = "build";
const GATE: &str = "runnergen-manager-gate.service";
const MOTO_PORT: u16 = 5000;
/// What PATH inside the container is for commands the host runs there.
const CONTAINER_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The scenarios share the machine (the CPU, the names of network namespaces): one at a time.
fn machine_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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
    /// The example and the pool whose instance boots.
    pool: (&'static str, &'static str),
    /// Whether the group holds another instance besides this one, InService and running in EC2:
    /// an autoscaler manager's predecessor, still draining.
    predecessor: bool,
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
            pool: (EXAMPLE, POOL),
            predecessor: false,
            cloud_final: CloudFinal::Ubuntu,
            knobs: vec![("RUNNERGEN_TEST_POLL_SECONDS", "1")],
            docker_seconds: 0,
            cloudwatch_seconds: 0,
        }
    }
}

impl Options {
    /// The manager of the `autoscaler` example's `build` pool (region eu-central-1, the one
    /// tests/standins/lifecycle_actions.py checks against), with or without a predecessor in its
    /// group. Only polling is shortened: the gate's bound stays the pool's own (its job timeout
    /// plus 20 minutes), far beyond any scenario.
    fn manager(predecessor: bool) -> Options {
        Options { pool: (MANAGER_EXAMPLE, MANAGER_POOL), predecessor, ..Options::default() }
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
                    let mut seen = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
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
        self.lines.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
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
    /// The group's other instance (Options::predecessor), or empty.
    predecessor: String,
    /// An autoscaler manager's live settings: their SSM parameter's name and the value Terraform
    /// writes there (terraform/manager-settings/POOL.toml).
    manager_settings: Option<(String, String)>,
    /// The pool whose instance this is.
    pool: &'static str,
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
    #[allow(clippy::needless_pass_by_value, reason = "each scenario builds its options in the call")]
    fn new(options: Options) -> Machine {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        for tool in ["ip", "systemd-nspawn", "nsenter", "mount", "umount", "systemctl", "journalctl", "python3"] {
            let _ = common::tool_path(tool);
        }
        let lower = base_rootfs();
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
            predecessor: String::new(),
            manager_settings: None,
            pool: options.pool.1,
            user_data_files: Vec::new(),
            started: Instant::now(),
        };
        // The tree's current templates, rendered now.
        let (example, pool) = options.pool;
        let spec = common::root().join("examples").join(example).join("fleet.yaml");
        let rendered = common::render_to_temp(&spec);
        let out = rendered.path().to_path_buf();
        let user_data =
            std::fs::read_to_string(out.join(format!("terraform/user-data/{pool}.sh"))).expect("the pool's user data");
        machine.settings = settings_of(&user_data);
        machine.user_data_files = files_written_by(&user_data);
        for sub in ["upper", "work", "root", "standin/jobs", "imds/latest/meta-data/autoscaling"] {
            std::fs::create_dir_all(machine.path(sub)).expect("mkdir");
        }
        machine.network();
        machine.seed_moto(&out, options.predecessor);
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
    /// group with its terminating hook and one instance, whose id the IMDS stand-in serves (two
    /// with a predecessor: the first is this one). An autoscaler manager's live settings too, as
    /// its Terraform writes them.
    fn seed_moto(&mut self, out: &Path, predecessor: bool) {
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
            if predecessor { "2" } else { "1" },
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
        let listing = self.aws(&[
            "autoscaling",
            "describe-auto-scaling-groups",
            "--auto-scaling-group-names",
            &group,
            "--query",
            "AutoScalingGroups[0].Instances[].InstanceId",
        ]);
        let ids: Vec<&str> = listing.split_whitespace().collect();
        assert!(
            ids.len() == 1 + usize::from(predecessor) && ids.iter().all(|id| id.starts_with("i-")),
            "moto's instances of {group}: {listing}"
        );
        ids[0].clone_into(&mut self.instance);
        if predecessor {
            ids[1].clone_into(&mut self.predecessor);
            let state = self.ec2_state(&self.predecessor);
            assert_eq!(state, "running", "the predecessor {} runs in EC2", self.predecessor);
        }
        // Empty on an instance pool's instances.
        let parameter =
            self.settings.get("RUNNERGEN_MANAGER_SETTINGS_PARAMETER").filter(|p| !p.trim_matches('\'').is_empty());
        if let Some(parameter) = parameter.cloned() {
            let (name, value) = manager_settings_parameter(out, self.pool);
            assert_eq!(name, parameter, "user data and Terraform name the same live settings parameter");
            self.aws(&["ssm", "put-parameter", "--name", &name, "--type", "String", "--value", &value]);
            self.manager_settings = Some((name, value));
        }
    }

    /// An instance's state in EC2 (moto).
    fn ec2_state(&self, id: &str) -> String {
        self.aws(&[
            "ec2",
            "describe-instances",
            "--instance-ids",
            id,
            "--query",
            "Reservations[0].Instances[0].State.Name",
        ])
    }

    /// The lifecycle states of the group's instances, as "id state" lines.
    fn group_instances(&self) -> String {
        self.aws(&[
            "autoscaling",
            "describe-auto-scaling-groups",
            "--auto-scaling-group-names",
            &self.setting("RUNNERGEN_ASG_NAME"),
            "--query",
            "AutoScalingGroups[0].Instances[].[InstanceId,LifecycleState]",
        ])
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
        // A landing zone's proxy drop-in goes into the `.d` folder of each unit its calls name.
        let dropin_units: Vec<&str> = provision
            .lines()
            .filter_map(|l| l.trim().strip_prefix("install_proxy_dropins "))
            .flat_map(str::split_whitespace)
            .collect();
        for (mode, source, target) in &steps.installs {
            let targets: Vec<String> = if target.contains("$unit") {
                dropin_units.iter().map(|unit| target.replace("$unit", unit)).collect()
            } else {
                vec![target.clone()]
            };
            for target in targets {
                let target = root.join(target.trim_start_matches('/'));
                std::fs::create_dir_all(target.parent().expect("a parent")).expect("mkdir");
                std::fs::copy(out.join("packer/files").join(source), &target)
                    .unwrap_or_else(|e| panic!("installing files/{source}: {e}"));
                set_mode(&target, *mode);
            }
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

        // The test knobs, for every unit. The container shares the host's /proc/uptime: the
        // instance's uptime (which bounds its scale-in protection) is an hour's, whatever the
        // host's.
        write(&root.join("etc/runnergen-boot-uptime"), "3600.00 1800.00\n");
        let mut knobs: Vec<String> = options.knobs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        knobs.push("RUNNERGEN_TEST_UPTIME_FILE=/etc/runnergen-boot-uptime".to_owned());
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
            match self.nspawn.as_mut().map(std::process::Child::try_wait) {
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
            assert!(Instant::now() < deadline, "waited {} s for {what} in vain\n{}", limit.as_secs(), self.evidence());
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
            .map(Tail::lines)
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

    /// What a unit's own processes logged (not PID 1 about it), each message with its time.
    fn unit_log(&self, unit: &str) -> Vec<(f64, String)> {
        let out = common::run(common::tool("journalctl").arg("-D").arg(self.root().join("var/log/journal")).args([
            "--no-pager",
            "-o",
            "json",
            "-u",
            unit,
        ]));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| e["_SYSTEMD_UNIT"] == unit && e["_PID"] != "1")
            .filter_map(|e| {
                let time = e["__REALTIME_TIMESTAMP"].as_str()?.parse::<f64>().ok()? / 1e6;
                Some((time, e["MESSAGE"].as_str()?.to_owned()))
            })
            .collect()
    }

    /// When a unit's own processes first logged a line containing `what`.
    fn logged(&self, unit: &str, what: &str) -> Option<f64> {
        self.unit_log(unit).into_iter().find(|(_, m)| m.contains(what)).map(|(t, _)| t)
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
        let group = match self.aws_output(&[
            "autoscaling",
            "describe-auto-scaling-groups",
            "--auto-scaling-group-names",
            &self.setting("RUNNERGEN_ASG_NAME"),
            "--query",
            "AutoScalingGroups[0].Instances[].[InstanceId,LifecycleState]",
        ]) {
            out if out.status.success() => String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            out => text(&out),
        };
        let journal_tail: Vec<&str> = journal.lines().rev().take(120).collect::<Vec<_>>().into_iter().rev().collect();
        let console = std::fs::read_to_string(self.path(&format!("console-{}.log", self.boots))).unwrap_or_default();
        let console_tail: Vec<&str> = console.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect();
        format!(
            "--- instance {} (pool {}; predecessor {}) in {} after {:.0} s; times in s after the stand-ins' first log line (epoch {t0:.3})\n--- the group's instances in moto now:\n{group}\n--- stand-in log (tests/boot/gitlab-runner):\n{}\n--- lifecycle calls the proxy accepted (time the host saw them):\n{}\n--- units:\n{states}\n--- journal (runnergen units, cloud-final stand-in, docker stand-in), last 120 lines:\n{}\n--- IMDS requests, last 8 (newest first):\n{}\n--- console, last 15 lines:\n{}",
            self.instance,
            self.pool,
            if self.predecessor.is_empty() { "none" } else { &self.predecessor },
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
    // The script's constants first: a shared function may name one its script sets later.
    let constant = |line: &str| {
        line.split_once('=')
            .filter(|(k, v)| !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_') && !v.contains(' '))
            .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
    };
    vars.extend(script.lines().filter_map(|l| constant(l.trim())));
    for line in script.lines() {
        let line = line.trim();
        if constant(line).is_some() {
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
            steps
                .enables
                .extend(words[2..].iter().filter(|w| !w.starts_with('-')).map(std::string::ToString::to_string));
        }
    }
    steps
}

/// The name of an autoscaler manager's live settings parameter and the value Terraform writes
/// there, as the pool's Terraform says: `aws_ssm_parameter.POOL_manager_settings`, whose value is
/// `file("${path.module}/manager-settings/POOL.toml")`.
fn manager_settings_parameter(out: &Path, pool: &str) -> (String, String) {
    let tf = std::fs::read_to_string(out.join(format!("terraform/pool-{pool}.tf"))).expect("the pool's Terraform");
    let body: hcl::Body = hcl::from_str(&tf).expect("HCL");
    let label = format!("{pool}_manager_settings");
    let block = body
        .blocks()
        .find(|b| {
            b.identifier() == "resource"
                && b.labels().iter().map(hcl::BlockLabel::as_str).eq(["aws_ssm_parameter", &label])
        })
        .unwrap_or_else(|| panic!("no aws_ssm_parameter.{label} in pool-{pool}.tf"));
    let attribute = |key: &str| {
        block
            .body()
            .attributes()
            .find(|a| a.key() == key)
            .map(|a| a.expr().clone())
            .unwrap_or_else(|| panic!("aws_ssm_parameter.{label} has no {key}"))
    };
    let name = match attribute("name") {
        hcl::Expression::String(name) => name,
        other => panic!("aws_ssm_parameter.{label}'s name: {other:?}"),
    };
    let value = attribute("value");
    let prefix = "${path.module}/";
    let file = match &value {
        hcl::Expression::FuncCall(call) if call.name.to_string() == "file" && call.args.len() == 1 => {
            match &call.args[0] {
                hcl::Expression::TemplateExpr(t) => t.to_string().trim_matches('"').to_owned(),
                other => panic!("aws_ssm_parameter.{label}'s file(): {other:?}"),
            }
        }
        other => panic!("aws_ssm_parameter.{label}'s value is not file(...): {other:?}"),
    };
    let file = file.strip_prefix(prefix).unwrap_or_else(|| panic!("{file} is not under {prefix}"));
    let value = std::fs::read_to_string(out.join("terraform").join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    (name, value)
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

/// The `landing-zone` example's `deploy` pool: its units get the proxy from their drop-in, under a
/// real systemd, and the helpers still reach AWS (moto on 127.0.0.1) while that proxy does not
/// exist: only `no_proxy` lets them through. The runner registers with GitLab's CA as its
/// `tls-ca-file` and the proxy in its jobs' environment.
#[test]
fn a_landing_zone_instance_registers_past_its_proxy_with_gitlabs_ca() {
    let _lock = machine_lock();
    let mut m = Machine::new(Options { pool: ("landing-zone", "deploy"), ..Options::default() });
    m.boot();
    m.wait_for_runner();
    wait_for_watcher(&m, Duration::from_secs(30));

    let mut v = Verdict::new();
    let proxy = "http://proxy.corp.example:3128";
    for unit in ["runnergen-runner.service", "runnergen-lifecycle.service", "runnergen-metrics.service"] {
        let out = m.exec(&["systemctl", "show", "--property=Environment", "--value", unit]);
        let environment = String::from_utf8_lossy(&out.stdout).into_owned();
        let vars: BTreeMap<&str, &str> =
            environment.split_whitespace().filter_map(|pair| pair.split_once('=')).collect();
        for name in ["http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"] {
            v.check(vars.get(name) == Some(&proxy), format!("{unit}: {name} in systemd's environment: {environment}"));
        }
        for name in ["no_proxy", "NO_PROXY"] {
            let hosts: Vec<&str> = vars.get(name).map(|l| l.split(',').collect()).unwrap_or_default();
            v.check(
                hosts.contains(&"169.254.169.254") && hosts.contains(&"127.0.0.1"),
                format!("{unit}: {name} holds the metadata service and the loopback: {hosts:?}"),
            );
        }
    }
    let registers = m.calls("register");
    v.check(registers.len() == 1, format!("one `register` call, not {}", registers.len()));
    if let Some(register) = registers.first() {
        for arg in ["--tls-ca-file /etc/runnergen/gitlab-ca.crt", &format!("--env https_proxy={proxy}")] {
            v.check(register.what.contains(arg), format!("register has {arg}: {}", register.what));
        }
    }
    let spec_ca = std::fs::read_to_string(common::root().join("examples/landing-zone/certs/corp-ca.pem")).expect("CA");
    let baked = std::fs::read_to_string(m.root().join("etc/runnergen/gitlab-ca.crt")).unwrap_or_default();
    v.check(baked == spec_ca, "the runner's tls-ca-file is the spec's CA, byte for byte");
    v.check(
        count(&m.events(), "register: saw a glrt- token in CI_SERVER_TOKEN") == 1,
        "register read the token from SSM (moto) past the proxy, through no_proxy",
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
        for a in &actions {
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

// --- An autoscaler pool's manager: the gate, and its live settings -----------------------------

/// When the gate first said it waits for the predecessor: the gate runs once user data has written
/// the autoscaler settings and started the runner, which requires it.
fn wait_for_the_gate_to_wait(m: &Machine) -> f64 {
    let waiting = format!("waiting for the other manager of {}", m.setting("RUNNERGEN_ASG_NAME"));
    m.wait_for("the manager gate to wait for the predecessor", Duration::from_secs(90), |m| m.logged(GATE, &waiting))
}

/// The gate's lines, for a failure's message.
fn gate_log(m: &Machine, t0: f64) -> String {
    let lines: Vec<String> = m.unit_log(GATE).iter().map(|(t, l)| format!("  {} {l}", after(t0, *t))).collect();
    format!("--- {GATE}, s after {t0:.3}:\n{}", lines.join("\n"))
}

/// Checks that the gate held the runner's ExecStartPre back while the predecessor was alive
/// (until `released`), that the runner then started and registered this instance once, and that
/// the gate never gave up on its bound.
fn gate_held_then_passed(m: &Machine, v: &mut Verdict, waiting: f64, released: f64, limit: f64) {
    let events = m.events();
    let before: Vec<&Event> =
        events.iter().filter(|e| e.what.starts_with("call: gitlab-runner") && e.time < released).collect();
    v.check(
        before.is_empty(),
        format!("no gitlab-runner call (`fleeting list`, `register`) while the predecessor was alive: {before:?}"),
    );
    let starts = m.unit_starts("runnergen-runner.service");
    v.check(
        !starts.is_empty() && starts.iter().all(|&s| s > released),
        format!(
            "the runner's ExecStartPre started only after the predecessor left ({}): {:?}",
            after(waiting, released),
            starts.iter().map(|&s| after(waiting, s)).collect::<Vec<_>>()
        ),
    );
    let registers = m.calls("register");
    v.check(registers.len() == 1, format!("one `register` call, not {}", registers.len()));
    if let Some(r) = registers.first() {
        v.check(
            r.time - released <= limit,
            format!("registered {} after the predecessor left (at most {limit} s)", after(released, r.time)),
        );
        let name = format!("--name {}-{MANAGER_POOL}-{}", m.setting("RUNNERGEN_FLEET"), m.instance);
        v.check(r.what.contains(&name), format!("register names this instance ({name}): {}", r.what));
        v.check(r.what.contains("--template-config"), format!("register merges the autoscaler template: {}", r.what));
    }
    let passed = m.logged(GATE, "alive; starting the runner");
    v.check(
        passed.is_some_and(|p| p > released),
        format!("the gate said no other manager is alive, after the predecessor left: {passed:?}"),
    );
    v.check(m.logged(GATE, "starting the runner anyway").is_none(), "the gate did not give up on its bound");
    let gate = m.unit_state(GATE);
    v.check(gate == "active", format!("{GATE} is active (exited 0), not {gate}"));
    v.check(m.first("run: taking jobs").is_some(), "the runner runs");
}

/// Holds the predecessor in the group for `seconds` past the gate's first wait, checking meanwhile
/// that the runner does not start; returns when the gate first waited.
fn hold_the_gate(m: &Machine, v: &mut Verdict, seconds: f64) -> f64 {
    let waiting = wait_for_the_gate_to_wait(m);
    let until = waiting + seconds;
    while now() < until {
        std::thread::sleep(Duration::from_millis(500));
    }
    let gate = m.unit_state(GATE);
    let runner = m.unit_state("runnergen-runner.service");
    v.check(gate == "activating", format!("{GATE} still waits {seconds} s on, not {gate}"));
    v.check(runner == "inactive", format!("runnergen-runner.service has not started, not {runner}"));
    let waits = m.unit_log(GATE).iter().filter(|(_, l)| l.contains("waiting for the other manager")).count();
    // Each poll takes the AWS CLI's two calls (2 to 3 s here) besides the 1 s sleep.
    v.check(waits >= 2, format!("the gate polled the group again meanwhile: {waits} waits logged in {seconds} s"));
    let names = m.logged(GATE, &format!("{} InService", m.predecessor));
    v.check(names.is_some(), format!("the gate names the predecessor {} and its state InService", m.predecessor));
    waiting
}

#[test]
fn a_manager_gate_waits_for_a_live_predecessor_then_registers_once() {
    let _lock = machine_lock();
    let mut m = Machine::new(Options::manager(true));
    m.boot();
    let mut v = Verdict::new();
    let waiting = hold_the_gate(&m, &mut v, 10.0);
    // The predecessor's drain ends: the group removes it (as its completed hook lets it).
    let released = now();
    m.aws(&[
        "autoscaling",
        "terminate-instance-in-auto-scaling-group",
        "--instance-id",
        &m.predecessor,
        "--should-decrement-desired-capacity",
    ]);
    m.wait_for("the runner to take jobs once the predecessor left", Duration::from_secs(60), |m| {
        m.first("run: taking jobs")
    });
    // A few more polls: nothing registers again.
    std::thread::sleep(Duration::from_secs(3));

    v.note(gate_log(&m, waiting));
    gate_held_then_passed(&m, &mut v, waiting, released, 15.0);
    let group = m.group_instances();
    v.check(!group.contains(&m.predecessor), format!("the predecessor left the group: {group}"));
    // The registration merged the autoscaler settings and the live settings into one entry.
    let config = m.config();
    v.check(config.matches("[[runners]]").count() == 1, format!("config.toml has one [[runners]]:\n{config}"));
    let table: toml::Table = toml::from_str(&config).unwrap_or_default();
    let autoscaler = table.get("runners").and_then(|r| r.get(0)).and_then(|r| r.get("autoscaler"));
    v.check(
        autoscaler.and_then(|a| a.get("plugin")).and_then(|p| p.as_str()) == Some("aws:1.0.0")
            && policies(&m).is_ok_and(|p| p.len() == 2),
        format!("config.toml loads, its entry with the plugin and both windows' policies: {autoscaler:?}"),
    );
    v.done(&m);
}

#[test]
fn a_manager_gate_passes_a_predecessor_that_ec2_no_longer_runs() {
    let _lock = machine_lock();
    let mut m = Machine::new(Options::manager(true));
    m.boot();
    let mut v = Verdict::new();
    let waiting = hold_the_gate(&m, &mut v, 6.0);
    // EC2 stops the predecessor; its group still lists it InService (its hook never ran).
    let released = now();
    m.aws(&["ec2", "stop-instances", "--instance-ids", &m.predecessor]);
    m.wait_for("the runner to take jobs once the predecessor stopped", Duration::from_secs(60), |m| {
        m.first("run: taking jobs")
    });
    std::thread::sleep(Duration::from_secs(2));

    v.note(gate_log(&m, waiting));
    // The bound is the pool's own, 3600 + 1200 s: passing within seconds is not the bound.
    gate_held_then_passed(&m, &mut v, waiting, released, 15.0);
    let group = m.group_instances();
    v.check(
        group.contains(&format!("{}\tInService", m.predecessor)),
        format!("the group still lists the predecessor InService: {group}"),
    );
    let state = m.ec2_state(&m.predecessor);
    v.check(state == "stopped", format!("EC2 has the predecessor stopped, not {state}"));
    let gone = m.logged(GATE, &format!("{} is not running in EC2 (stopped): gone", m.predecessor));
    v.check(gone.is_some_and(|g| g > released), "the gate said the stopped predecessor is gone");
    v.done(&m);
}

#[test]
fn a_manager_gate_retries_the_metadata_service() {
    let _lock = machine_lock();
    let mut m = Machine::new(Options::manager(false));
    // The instance id answers 500 for 8 s from the first request of it (the gate's).
    m.imds("failing/latest/meta-data/instance-id", "8");
    m.boot();
    // The gate ends one way or the other; once it passed, the runner registers and runs.
    let gate_ended = m.wait_for("the manager gate to end", Duration::from_secs(90), |m| {
        m.unit_starts(GATE).first().and_then(|_| match m.unit_state(GATE).as_str() {
            "active" | "failed" | "inactive" => Some(now()),
            _ => None,
        })
    });
    m.wait_until(gate_ended + 30.0, |m| m.first("run: taking jobs").is_some());
    std::thread::sleep(Duration::from_secs(2));

    let mut v = Verdict::new();
    let requests = std::fs::read_to_string(m.path("imds/requests.log")).unwrap_or_default();
    let failed =
        requests.lines().filter(|l| l == &"GET /latest/meta-data/instance-id 500 (failing on purpose)").count();
    let retries: Vec<f64> = m
        .unit_log(GATE)
        .iter()
        .filter(|(_, l)| l.contains("cannot read this instance's id from the metadata service; trying again"))
        .map(|(t, _)| *t)
        .collect();
    let t0 = retries.first().copied().unwrap_or_else(now);
    v.note(gate_log(&m, t0));
    v.check(failed >= 3, format!("the metadata service failed the instance id {failed} times"));
    v.check(retries.len() >= 3, format!("the gate logged {} retries of the metadata service", retries.len()));
    let passed = m.logged(GATE, "alive; starting the runner");
    v.check(
        passed.is_some_and(|p| retries.iter().all(|&r| r < p)),
        format!("the gate then passed (no other manager is alive): {passed:?}"),
    );
    let gate = m.unit_state(GATE);
    v.check(gate == "active", format!("{GATE} is active (exited 0), not {gate}"));
    let starts = m.unit_starts("runnergen-runner.service");
    v.check(
        starts.len() == 1 && passed.is_some_and(|p| starts[0] >= p),
        format!("the runner's ExecStartPre started once, after the gate passed: {starts:?}"),
    );
    let registers = m.calls("register");
    v.check(registers.len() == 1, format!("one `register` call, not {}", registers.len()));
    if let Some(r) = registers.first() {
        let name = format!("--name {}-{MANAGER_POOL}-{}", m.setting("RUNNERGEN_FLEET"), m.instance);
        v.check(r.what.contains(&name), format!("register names this instance ({name}): {}", r.what));
    }
    v.check(m.first("run: taking jobs").is_some(), "the runner runs");
    v.done(&m);
}

/// The other way the gate fails closed (docs/autoscaler.md): the metadata service never gives this
/// instance's id within the gate's bound (shortened to 6 s), so it cannot tell its predecessor from
/// itself: the gate fails, at priority err, and the runner, which requires it, never starts.
#[test]
fn a_manager_gate_fails_closed_when_the_metadata_service_never_answers() {
    let _lock = machine_lock();
    let mut m = Machine::new(Options {
        knobs: vec![("RUNNERGEN_TEST_POLL_SECONDS", "1"), ("RUNNERGEN_TEST_GATE_LIMIT_SECONDS", "6")],
        ..Options::manager(false)
    });
    m.imds("failing/latest/meta-data/instance-id", "3600");
    m.boot();
    let failed = m.wait_until(now() + 90.0, |m| m.unit_state(GATE) == "failed");
    // Long enough for anything that would start the runner to do so.
    std::thread::sleep(Duration::from_secs(6));

    let mut v = Verdict::new();
    v.note(gate_log(&m, m.unit_starts(GATE).first().copied().unwrap_or_else(now)));
    let gate = m.unit_state(GATE);
    v.check(failed, format!("{GATE} ended failed, not {gate}"));
    let errors = m.journal(&["-u", GATE, "-p", "err"]);
    v.check(
        errors.contains("the metadata service did not answer for"),
        format!("the gate said so at priority err: {errors}"),
    );
    let calls: Vec<String> =
        m.events().iter().filter(|e| e.what.starts_with("call: gitlab-runner")).map(|e| e.what.clone()).collect();
    v.check(calls.is_empty(), format!("gitlab-runner was never called (no register, no run): {calls:?}"));
    let starts = m.unit_starts("runnergen-runner.service");
    v.check(starts.is_empty(), format!("the runner's ExecStartPre never started: {starts:?}"));
    let runner = m.unit_state("runnergen-runner.service");
    v.check(runner == "inactive" || runner == "failed", format!("the runner unit is stopped, not {runner}"));
    v.done(&m);
}

#[test]
fn a_gated_manager_that_is_terminated_never_starts_its_runner_and_completes_its_hook() {
    let _lock = machine_lock();
    let mut m = Machine::new(Options::manager(true));
    m.boot();
    let mut v = Verdict::new();
    let waiting = hold_the_gate(&m, &mut v, 3.0);
    wait_for_watcher(&m, Duration::from_secs(30));
    let terminated = now();
    m.imds("latest/meta-data/autoscaling/target-lifecycle-state", "Terminated");
    let completed = m.wait_until(terminated + 60.0, |m| !m.completions().is_empty());
    let failed = m.wait_until(now() + 10.0, |m| m.unit_state(GATE) == "failed");
    // Long enough for anything that would start the runner to do so.
    std::thread::sleep(Duration::from_secs(4));

    v.note(gate_log(&m, waiting));
    v.check(completed, "the lifecycle action was completed within 60 s of Terminated");
    let completions = m.completions();
    v.check(completions.len() == 1, format!("one CompleteLifecycleAction, not {}", completions.len()));
    if let Some(c) = completions.first() {
        v.check(c.fields["LifecycleActionResult"] == "CONTINUE", "the action's result is CONTINUE");
        v.check(
            c.fields["AutoScalingGroupName"] == m.setting("RUNNERGEN_ASG_NAME").as_str()
                && c.fields["LifecycleHookName"] == m.setting("RUNNERGEN_LIFECYCLE_HOOK").as_str()
                && c.fields["InstanceId"] == m.instance.as_str(),
            format!("it names the manager group, its drain hook and this instance: {}", c.fields),
        );
        v.check(c.time - terminated <= 60.0, format!("completed {} after Terminated", after(terminated, c.time)));
    }
    let gate = m.unit_state(GATE);
    v.check(failed, format!("{GATE} ended failed, not {gate}"));
    v.check(
        m.logged(GATE, "this manager is being terminated itself").is_some_and(|t| t > terminated),
        "the gate said this manager is being terminated",
    );
    let calls: Vec<String> =
        m.events().iter().filter(|e| e.what.starts_with("call: gitlab-runner")).map(|e| e.what.clone()).collect();
    v.check(calls.is_empty(), format!("gitlab-runner was never called (no register, no run): {calls:?}"));
    let starts = m.unit_starts("runnergen-runner.service");
    v.check(starts.is_empty(), format!("the runner's ExecStartPre never started: {starts:?}"));
    let runner = m.unit_state("runnergen-runner.service");
    v.check(runner == "inactive" || runner == "failed", format!("the runner unit is stopped, not {runner}"));
    let config = m.config();
    v.check(!config.contains("[[runners]]"), format!("config.toml holds no runner:\n{config}"));
    v.done(&m);
}

/// The policies of config.toml's runner entry, read from the container's root.
fn policies(m: &Machine) -> Result<Vec<toml::Value>, String> {
    let config = m.config();
    let table: toml::Table =
        toml::from_str(&config).map_err(|e| format!("config.toml does not load: {e}\n{config}"))?;
    table
        .get("runners")
        .and_then(|r| r.get(0))
        .and_then(|r| r.get("autoscaler"))
        .and_then(|a| a.get("policy"))
        .and_then(|p| p.as_array())
        .cloned()
        .ok_or_else(|| format!("config.toml has no runners[0].autoscaler.policy:\n{config}"))
}

#[test]
fn live_settings_reach_the_registered_manager_without_restarting_the_runner() {
    let _lock = machine_lock();
    let mut m = Machine::new(Options::manager(false));
    m.boot();
    m.wait_for_runner();
    let (parameter, seeded) = m.manager_settings.clone().expect("the manager's live settings");
    let parse = |text: &str| -> Vec<toml::Value> {
        let table: toml::Table = toml::from_str(text).unwrap_or_else(|e| panic!("live settings: {e}\n{text}"));
        table["runners"][0]["autoscaler"]["policy"].as_array().cloned().expect("policies")
    };
    let before = policies(&m);
    let pid_before = m.exec(&["systemctl", "show", "--property=MainPID", "--value", "runnergen-runner.service"]);
    // An operator changes the office-hours window and its idle count; Terraform overwrites the
    // parameter.
    let changed = seeded
        .replace("periods = [\"* 7-18 * * 1-5\"]", "periods = [\"* 6-20 * * 1-6\"]")
        .replace("idle_count = 2", "idle_count = 5");
    assert!(changed.contains("* 6-20 * * 1-6") && changed.contains("idle_count = 5"), "the seeded settings:\n{seeded}");
    let wanted = parse(&changed);
    let put = now();
    m.aws(&["ssm", "put-parameter", "--name", &parameter, "--type", "String", "--overwrite", "--value", &changed]);
    // The timer's run, now (a run the timer started before the change may be under way: again).
    let mut runs = Vec::new();
    let applied = (0..3).any(|_| {
        runs.push(text(&m.exec(&["systemctl", "start", "runnergen-manager-settings.service"])));
        policies(&m).is_ok_and(|p| p == wanted)
    });
    std::thread::sleep(Duration::from_secs(4));

    let mut v = Verdict::new();
    v.note(format!("--- runnergen-manager-settings.service runs: {runs:?}\n--- config.toml now:\n{}", m.config()));
    v.check(
        before.as_ref().is_ok_and(|p| *p == parse(&seeded)),
        format!("registration wrote the seeded policies: {before:?}"),
    );
    v.check(applied, format!("config.toml holds the changed policies {wanted:?}: {:?}", policies(&m)));
    let config: toml::Table = toml::from_str(&m.config()).unwrap_or_default();
    let runner = &config.get("runners").and_then(|r| r.get(0)).cloned().unwrap_or(toml::Value::Boolean(false));
    v.check(
        config.get("runners").and_then(|r| r.as_array()).map(Vec::len) == Some(1)
            && runner.get("autoscaler").and_then(|a| a.get("plugin")).and_then(|p| p.as_str()) == Some("aws:1.0.0")
            && runner.get("docker").and_then(|d| d.get("image")).and_then(|i| i.as_str()) == Some("alpine:3.20")
            && runner.get("token").is_some(),
        format!("the rest of the entry stays as registered (one runner, its plugin, image, token): {runner}"),
    );
    let check = m.events().into_iter().find(|e| e.time > put && e.what.starts_with("call: gitlab-runner fleeting"));
    v.check(
        check.as_ref().is_some_and(|c| c.what.contains("/etc/gitlab-runner/.config.toml.")),
        format!("gitlab-runner's loader checked the new config.toml before it replaced the old: {check:?}"),
    );
    v.check(
        m.logged("runnergen-manager-settings.service", "applied the live settings").is_some_and(|t| t > put),
        "the helper said it applied the live settings",
    );
    let events = m.events();
    v.check(
        m.calls("run").len() == 1,
        format!("gitlab-runner ran once (not restarted): {} `run`", m.calls("run").len()),
    );
    v.check(count(&events, "signal: ") == 0, "the runner got no signal");
    let pid_after = m.exec(&["systemctl", "show", "--property=MainPID", "--value", "runnergen-runner.service"]);
    v.check(
        text(&pid_before) == text(&pid_after) && m.unit_state("runnergen-runner.service") == "active",
        format!("the runner's main process is the same: {} then {}", text(&pid_before).trim(), text(&pid_after).trim()),
    );
    v.check(m.calls("register").len() == 1, "registered once");
    v.done(&m);
}
