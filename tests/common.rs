//! Shared test helpers: the CLI under test, the examples, and the real external tools. Both test
//! targets use it, each only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every bundled example's spec, by example name.
pub fn examples() -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(root().join("examples"))
        .expect("examples/ exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("fleet.yaml").is_file())
        .map(|p| (p.file_name().expect("a name").to_string_lossy().into_owned(), p.join("fleet.yaml")))
        .collect();
    out.sort();
    assert!(out.len() >= 3, "expected at least three examples");
    out
}

/// The runnergen binary built for these tests.
pub fn runnergen() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_runnergen"));
    cmd.env_remove("NO_COLOR").env("RUST_BACKTRACE", "0");
    cmd
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("the command starts")
}

/// Renders a spec through the library and writes the plan into a fresh temporary folder.
pub fn render_to_temp(spec: &Path) -> tempfile::TempDir {
    let fleet = runnergen::load_spec(spec).map(|l| l.fleet).unwrap_or_else(|e| panic!("{}", e.render(false)));
    let plan = runnergen::render::render(&fleet).unwrap_or_else(|e| panic!("{}", e.render(false)));
    let dir = tempfile::tempdir().expect("a temp dir");
    for (path, file) in &plan {
        let target = dir.path().join(path);
        std::fs::create_dir_all(target.parent().expect("a parent")).expect("mkdir");
        std::fs::write(&target, &file.contents).expect("write");
        if file.executable {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
    }
    dir
}

/// A real external tool. Missing tools fail the test: `scripts/test` installs them.
pub fn tool(name: &str) -> Command {
    Command::new(tool_path(name))
}

/// Where a real external tool is; fails the test when it is missing.
pub fn tool_path(name: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    // Tools in sbin (nft, ip) are not on every user's PATH.
    dirs.extend(["/usr/sbin", "/sbin"].map(PathBuf::from));
    dirs.into_iter()
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("`{name}` is not installed; run the tests through scripts/test, which installs it"))
}

/// HashiCorp's HCL parser and formatter (tools/hclcheck), built once per test run.
pub fn hclcheck() -> Command {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let bin = BUILT.get_or_init(|| {
        let out = root().join("target/tools/hclcheck");
        let status = tool("go")
            .args(["build", "-o"])
            .arg(&out)
            .arg("./tools/hclcheck")
            .current_dir(root())
            .env("GOPATH", "/usr/share/gocode")
            .env("GO111MODULE", "off")
            .env("GOCACHE", root().join("target/tools/gocache"))
            .status()
            .expect("go runs");
        assert!(status.success(), "building tools/hclcheck failed (needs golang-github-hashicorp-hcl-v2-dev)");
        out
    });
    Command::new(bin)
}

/// Asserts that a command succeeded, showing its output when it did not.
pub fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// What a user would write in place of each placeholder, by the key it stands at.
pub fn fill(spec: &str) -> String {
    let mut out = String::new();
    for line in spec.lines() {
        let Some(at) = line.find("\"FILL-IN") else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let key = line[..at].trim().trim_start_matches("- ").trim_end_matches(':').trim();
        let value = match key {
            "name" => "acme",
            "region" => "eu-central-1",
            "vpc_id" => "vpc-0a1b2c3d4e5f60718",
            "subnet_ids" => "[subnet-0a1b2c3d4e5f60718]",
            "tags" => "{team: ci}",
            "url" => "https://gitlab.example.com",
            "os" => "ubuntu-24.04",
            "arch" => "x86_64",
            "runner_version" => "19.3.0",
            "fleeting_plugin_version" => "1.2.0",
            "instance_types" => "[m5.large]",
            "max_instances" => "10",
            "time_zone" => "UTC",
            other => panic!("no fill-in value for `{other}` in: {line}"),
        };
        out.push_str(&format!("{}{value}\n", &line[..at]));
    }
    out
}

/// Every input under `tests/import/`, imported and filled in as a user would, by name (`import-`
/// and the input's file name), written into a folder of the caller's own.
pub fn imported() -> (tempfile::TempDir, Vec<(String, PathBuf)>) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(root().join("tests/import"))
        .expect("tests/import exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "tf" || e == "toml"))
        .collect();
    inputs.sort();
    let mut out = Vec::new();
    for input in inputs {
        let name = format!("import-{}", input.file_name().expect("a name").to_string_lossy().replace('.', "-"));
        let imported = runnergen::import::import(&input).unwrap_or_else(|e| panic!("{}", e.render(false)));
        let path = dir.path().join(&name).join("fleet.yaml");
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(&path, fill(&imported.spec)).expect("write spec");
        out.push((name, path));
    }
    (dir, out)
}

/// An expression as JSON: literals as they are, references and calls as their HCL text, and
/// `jsonencode(x)` as `x`.
pub fn hcl_json(e: &hcl::Expression) -> serde_json::Value {
    match e {
        hcl::Expression::String(s) => serde_json::json!(s),
        hcl::Expression::Number(n) => {
            n.as_i64().map_or_else(|| serde_json::json!(n.as_f64()), |i| serde_json::json!(i))
        }
        hcl::Expression::Bool(b) => serde_json::json!(b),
        hcl::Expression::Array(items) => serde_json::Value::Array(items.iter().map(hcl_json).collect()),
        hcl::Expression::Object(map) => serde_json::Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let key = match k {
                        hcl::ObjectKey::Identifier(i) => i.to_string(),
                        hcl::ObjectKey::Expression(hcl::Expression::String(s)) => s.clone(),
                        other => other.to_string(),
                    };
                    (key, hcl_json(v))
                })
                .collect(),
        ),
        hcl::Expression::TemplateExpr(t) => match t.as_ref() {
            hcl::TemplateExpr::QuotedString(s) => serde_json::json!(s),
            other @ hcl::TemplateExpr::Heredoc(_) => serde_json::json!(other.to_string()),
        },
        hcl::Expression::FuncCall(call) if call.name.to_string() == "jsonencode" => hcl_json(&call.args[0]),
        other => serde_json::json!(other.to_string()),
    }
}
