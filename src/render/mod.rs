//! Stage 4: render every target into an in-memory plan of files. No I/O happens here; the
//! templates are embedded in the binary and see only the per-target context their module
//! builds from the resolved model.

pub mod hcl_format;
pub mod next_steps;
pub mod packer;
pub mod runner_template;
pub mod terraform;

use std::collections::BTreeMap;

use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, UndefinedBehavior};

use crate::Error;
use crate::model::Fleet;
use crate::quote;

/// One generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub contents: String,
    /// Scripts get the execute bit.
    pub executable: bool,
}

/// Every generated file, by its `/`-separated path relative to the output folder. Sorted.
pub type Plan = BTreeMap<String, File>;

/// Every template, by id (its path under `templates/`). A test checks that this list and the
/// folder agree.
pub const TEMPLATES: &[(&str, &str)] = &templates![
    "packer/gitlab-runner.pkr.hcl.j2",
    "packer/gitlab-runner-provision.sh.j2",
    "packer/worker-provision.sh.j2",
    "packer/_provision.sh.j2",
    "packer/files/_base.sh.j2",
    "packer/files/_settings.sh.j2",
    "packer/files/_imds.sh.j2",
    "packer/files/_config.sh.j2",
    "packer/files/_unregister.sh.j2",
    "packer/files/_leaving.sh.j2",
    "packer/files/register.j2",
    "packer/files/manager-gate.j2",
    "packer/files/manager-gate.service.j2",
    "packer/files/_manager_settings.sh.j2",
    "packer/files/manager-settings.j2",
    "packer/files/manager-settings.service.j2",
    "packer/files/manager-settings.timer.j2",
    "packer/files/lifecycle.j2",
    "packer/files/metrics.j2",
    "packer/files/runner.service.j2",
    "packer/files/lifecycle.service.j2",
    "packer/files/metrics.service.j2",
    "packer/files/metrics.timer.j2",
    "packer/files/firewall.service.j2",
    "packer/files/jobs-firewall.nft.j2",
    "packer/files/aws-cli.asc",
    "terraform/_macros.tf.j2",
    "terraform/_runner_policy.tf.j2",
    "terraform/_spot_fallback.tf.j2",
    "terraform/cache.tf.j2",
    "terraform/gitlab.tf.j2",
    "terraform/logs.tf.j2",
    "terraform/iam.tf.j2",
    "terraform/main.tf.j2",
    "terraform/outputs.tf.j2",
    "terraform/schedules.tf.j2",
    "terraform/instance/iam.tf.j2",
    "terraform/instance/outputs.tf.j2",
    "terraform/instance/pool.tf.j2",
    "terraform/_user-data.sh.j2",
    "terraform/instance/user-data.sh.j2",
    "terraform/autoscaler/user-data.sh.j2",
    "terraform/autoscaler/iam.tf.j2",
    "terraform/autoscaler/outputs.tf.j2",
    "terraform/autoscaler/pool.tf.j2",
    "terraform/autoscaler/manager-settings.toml.j2",
    "terraform/versions.tf.j2",
    "NEXT-STEPS.md.j2",
];

macro_rules! templates {
    ($($id:literal),* $(,)?) => {
        [$(($id, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/", $id)))),*]
    };
}
use templates;

/// Renders the whole fleet: the Packer target first, whose image-definition hash the Terraform
/// target filters the AMI by, then the next steps.
pub fn render(fleet: &Fleet) -> Result<Plan, Error> {
    let env = environment(fleet).map_err(template_error)?;
    let (packer, image_hash) = packer::render(fleet, &env).map_err(template_error)?;
    let terraform = terraform::render(fleet, &image_hash, &env).map_err(template_error)?;
    let steps = next_steps::render(fleet, &env).map_err(template_error)?;
    Ok(packer.into_iter().chain(terraform).chain([steps]).collect())
}

/// A template's failure, with the template and line it happened in.
fn template_error(e: minijinja::Error) -> Error {
    Error::Render { template: e.name().unwrap_or("(environment)").to_owned(), line: e.line().unwrap_or(0), source: e }
}

/// One file a target renders: its template (an id in [`TEMPLATES`]), its path under the output
/// folder (`{pool}` stands for a pool's name), and whether it is a script.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub template: &'static str,
    pub path: &'static str,
    pub executable: bool,
}

impl Output {
    pub const fn file(template: &'static str, path: &'static str) -> Self {
        Output { template, path, executable: false }
    }
    pub const fn script(template: &'static str, path: &'static str) -> Self {
        Output { template, path, executable: true }
    }
    /// Renders this output with a context; HCL files are put into canonical form.
    pub fn render(
        &self,
        env: &Environment,
        ctx: minijinja::Value,
        pool: &str,
    ) -> Result<(String, File), minijinja::Error> {
        let mut contents = env.get_template(self.template)?.render(ctx)?;
        let path = self.path.replace("{pool}", pool);
        if path.ends_with(".hcl") || path.ends_with(".tf") {
            contents = hcl_format::canonical_hcl(&contents);
        }
        Ok((path, File { contents, executable: self.executable }))
    }
}

/// A serializable context as a template value.
pub fn to_value<T: serde::Serialize + ?Sized>(value: &T) -> minijinja::Value {
    minijinja::Value::from(minijinja::value::Serde(value))
}

/// The template environment: strict about undefined values, no HTML escaping (nothing here is
/// HTML), and one escaping filter per target language (`crate::quote`) that templates must use
/// on every value.
fn environment(fleet: &Fleet) -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_syntax(SyntaxConfig::builder().trim_blocks(true).lstrip_blocks(true).keep_trailing_newline(true).build()?);
    for (id, source) in TEMPLATES {
        env.add_template(id, source)?;
    }
    env.add_filter("hcl", |s: &str| quote::hcl_string(s));
    env.add_filter("hcl_key", |s: &str| quote::hcl_key(s));
    env.add_filter("hcl_in_string", |s: &str| quote::hcl_in_string(s));
    env.add_filter("sh", |s: &str| quote::shell_word(s));
    env.add_filter("systemd_text", |s: &str| quote::systemd_text(s));
    env.add_filter("systemd_quoted", |s: &str| quote::systemd_quoted(s));
    env.add_filter("toml", |s: &str| quote::toml_string(s));
    env.add_filter("comment", |s: &str| quote::comment_text(s));
    env.add_filter("md", |s: &str| quote::markdown_code(s));
    env.add_global("header", header(fleet));
    Ok(env)
}

/// The first line of every generated file (after a comment marker). No version: an upgrade that
/// changes nothing else leaves the files alone; the manifest records the version.
pub fn header(fleet: &Fleet) -> String {
    format!(
        "Generated by runnergen from {}. Do not edit: change the spec and run `runnergen render`.",
        quote::safe_name(&fleet.spec_file)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_is_listed_and_parses() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");
        let mut on_disk: Vec<String> = walkdir::WalkDir::new(dir)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(|e| e.path().strip_prefix(dir).expect("under templates").to_string_lossy().replace('\\', "/"))
            .collect();
        on_disk.sort();
        let mut listed: Vec<String> = TEMPLATES.iter().map(|(id, _)| id.to_string()).collect();
        listed.sort();
        assert_eq!(on_disk, listed);
        let mut env = Environment::new();
        for (id, source) in TEMPLATES {
            env.add_template(id, source).unwrap_or_else(|e| panic!("{id}: {e}"));
        }
    }
}
