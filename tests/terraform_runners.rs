//! Runners created by Terraform (`gitlab.runners: terraform`), and none in external mode.

use crate::common;
use crate::tf::{RUNNERS_SPEC, attr, block, labeled_one, number, render_spec, resource, string, strings, tf_files};

/// Each scope's runner with the spec's settings, its token written to the pool's parameter
/// through the write-only argument, re-created before it is destroyed, and tied to the pool's
/// launch template and group.
#[test]
fn runners_are_created_with_their_settings_for_every_scope() {
    let files = render_spec(RUNNERS_SPEC);
    let gitlab = &files["gitlab.tf"];
    let provider = labeled_one(gitlab, "provider", "gitlab").body();
    assert_eq!(string(provider, "base_url"), "https://gitlab.example.com/gitlab/api/v4/");
    assert!(provider.attributes().all(|a| a.key() != "token"), "the provider token belongs in GITLAB_TOKEN");
    let versions = &files["versions.tf"];
    let terraform = versions.blocks().find(|b| b.identifier() == "terraform").expect("terraform block");
    assert_eq!(string(terraform.body(), "required_version"), ">= 1.11.0");
    let providers = block(terraform.body(), "required_providers").body();
    let gitlab_provider = attr(providers, "gitlab").to_string();
    assert!(gitlab_provider.contains("gitlabhq/gitlab") && gitlab_provider.contains("~> 18.6"), "{gitlab_provider}");

    let expected = [
        ("shared", "instance_type", None, None, "rt shared", vec![], true, true, "not_protected", 3600, false),
        (
            "team",
            "group_type",
            Some(42),
            None,
            "team \"builds\" ${x}",
            vec!["docker", "linux"],
            false,
            true,
            "not_protected",
            1200,
            true,
        ),
        (
            "release",
            "project_type",
            None,
            Some(7),
            "rt release",
            vec!["release"],
            true,
            false,
            "ref_protected",
            1800,
            false,
        ),
    ];
    for (p, ty, group, project, description, tags, untagged, locked, access, timeout, paused) in expected {
        let r = resource(gitlab, "gitlab_user_runner", p).body();
        assert_eq!(string(r, "runner_type"), ty, "{p}");
        let id = |key: &str| r.attributes().find(|a| a.key() == key).map(|a| a.expr().to_string());
        assert_eq!(id("group_id"), group.map(|g: i64| g.to_string()), "{p}");
        assert_eq!(id("project_id"), project.map(|g: i64| g.to_string()), "{p}");
        assert_eq!(string(r, "description"), description, "{p}");
        assert_eq!(strings(r, "tag_list"), tags, "{p}");
        for (key, value) in [("untagged", untagged), ("locked", locked), ("paused", paused)] {
            assert_eq!(attr(r, key).to_string(), value.to_string(), "{p}: {key}");
        }
        assert_eq!(string(r, "access_level"), access, "{p}");
        assert_eq!(number(r, "maximum_timeout"), timeout, "{p}");
        assert_eq!(attr(block(r, "lifecycle").body(), "create_before_destroy").to_string(), "true", "{p}");

        let parameter = resource(gitlab, "aws_ssm_parameter", &format!("{p}_token")).body();
        assert_eq!(string(parameter, "name"), format!("/rt/{p}/token"));
        assert_eq!(string(parameter, "type"), "SecureString");
        assert_eq!(attr(parameter, "value_wo").to_string(), format!("gitlab_user_runner.{p}.token"));
        assert!(attr(parameter, "value_wo_version").to_string().contains(&format!("gitlab_user_runner.{p}.id")));
        assert!(parameter.attributes().all(|a| a.key() != "value" && a.key() != "insecure_value"), "{p}");
        assert!(parameter.attributes().all(|a| a.key() != "key_id"), "{p}: no fleet key, the account's");

        // A new runner makes a new launch template version, after its token is in SSM.
        let pool = &files[&format!("pool-{p}.tf")];
        let template = resource(pool, "aws_launch_template", p).body();
        let instance_tags = template
            .blocks()
            .find(|b| b.identifier() == "tag_specifications" && string(b.body(), "resource_type") == "instance")
            .map(|b| attr(b.body(), "tags").to_string())
            .expect("instance tags");
        assert!(instance_tags.contains(&format!("gitlab_user_runner.{p}.id")), "{instance_tags}");
        let depends = attr(resource(pool, "aws_autoscaling_group", p).body(), "depends_on").to_string();
        assert!(depends.contains(&format!("aws_ssm_parameter.{p}_token")), "{depends}");
        let output = labeled_one(&files["outputs.tf"], "output", &format!("{p}_runner_id"));
        assert_eq!(attr(output.body(), "value").to_string(), format!("gitlab_user_runner.{p}.id"));
    }
    // No output, anywhere, hands out a token.
    for b in files["outputs.tf"].blocks() {
        assert!(!attr(b.body(), "value").to_string().contains(".token"), "an output shows a token");
    }
}

/// External mode (the default) has no GitLab provider and no runner resources at all.
#[test]
fn external_mode_creates_nothing_in_gitlab() {
    for (name, spec) in common::examples() {
        let fleet = runnergen::load_spec(&spec).map(|l| l.fleet).unwrap_or_else(|e| panic!("{}", e.render(false)));
        let dir = common::render_to_temp(&spec);
        let terraform_mode = fleet.runners == runnergen::model::RunnerMode::Terraform;
        assert_eq!(dir.path().join("terraform/gitlab.tf").exists(), terraform_mode, "{name}");
        if terraform_mode {
            continue;
        }
        for file in tf_files(dir.path()) {
            let text = std::fs::read_to_string(&file).expect("read");
            assert!(!text.contains("gitlab_user_runner") && !text.contains("gitlabhq/gitlab"), "{}", file.display());
        }
    }
}

/// The provider's token comes from the environment when Terraform runs: rendering never reads
/// it, and it reaches no file.
#[test]
fn the_gitlab_token_never_reaches_a_file() {
    let spec = common::root().join("examples/gitlab-runners/fleet.yaml");
    let out = tempfile::tempdir().expect("a temp dir");
    let sentinel = "glpat-SENTINEL-never-in-a-file";
    let run = common::run(
        common::runnergen()
            .args(["render", "--out"])
            .arg(out.path())
            .arg(&spec)
            .env("GITLAB_TOKEN", sentinel)
            .env("TF_VAR_gitlab_token", sentinel),
    );
    common::assert_success(&run, "render");
    let mut files = 0;
    for entry in
        walkdir::WalkDir::new(out.path()).into_iter().filter_map(Result::ok).filter(|e| e.file_type().is_file())
    {
        let text = std::fs::read_to_string(entry.path()).expect("read");
        assert!(!text.contains(sentinel) && !text.contains("glpat-"), "{}", entry.path().display());
        files += 1;
    }
    assert!(files > 20, "{files}");
}
