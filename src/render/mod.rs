//! Stage 5: render every target into the in-memory [`Files`]. No I/O happens here; the
//! templates are embedded in the binary and see only the per-target context their module
//! builds from the resolved model.

pub mod hcl_format;
pub mod monitoring;
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
pub type Files = BTreeMap<String, File>;

/// Every template, embedded: its id is its path under `templates/`.
static TEMPLATES: include_dir::Dir<'static> = include_dir::include_dir!("$CARGO_MANIFEST_DIR/templates");

/// Every template in the folder, by id, each file with its text.
fn templates() -> impl Iterator<Item = (String, &'static str)> {
    fn walk(dir: &'static include_dir::Dir<'static>, out: &mut Vec<(String, &'static str)>) {
        for entry in dir.entries() {
            match entry {
                include_dir::DirEntry::Dir(sub) => walk(sub, out),
                include_dir::DirEntry::File(file) => {
                    if let Some(text) = file.contents_utf8() {
                        out.push((file.path().to_string_lossy().replace('\\', "/"), text));
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(&TEMPLATES, &mut out);
    out.into_iter()
}

/// Renders the whole fleet: the Packer target first, whose image-definition hash the Terraform
/// target filters the AMI by, then the next steps.
pub fn render(fleet: &Fleet) -> Result<Files, Error> {
    let env = environment(fleet).map_err(template_error)?;
    let (packer, image_hash) = packer::render(fleet, &env).map_err(template_error)?;
    let terraform = terraform::render(fleet, &image_hash, &env).map_err(template_error)?;
    let steps = next_steps::render(fleet, &env).map_err(template_error)?;
    Ok(packer.into_iter().chain(terraform).chain([steps]).collect())
}

/// A template's failure, with the template and line it happened in.
pub(crate) fn template_error(e: minijinja::Error) -> Error {
    Error::Render { template: e.name().unwrap_or("(environment)").to_owned(), line: e.line().unwrap_or(0), source: e }
}

/// One file a target renders: its template (its path under `templates/`), its path under the output
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
pub(crate) fn environment(fleet: &Fleet) -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_syntax(SyntaxConfig::builder().trim_blocks(true).lstrip_blocks(true).keep_trailing_newline(true).build()?);
    for (id, source) in templates() {
        env.add_template_owned(id, source)?;
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
    env.add_global("runner_tag", crate::model::TAG_RUNNER);
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
    fn every_template_parses() {
        let mut env = Environment::new();
        let mut count = 0;
        for (id, source) in templates() {
            env.add_template_owned(id.clone(), source).unwrap_or_else(|e| panic!("{id}: {e}"));
            count += 1;
        }
        assert!(count >= 40, "{count} templates embedded");
        assert!(env.get_template("terraform/instance/pool.tf.j2").is_ok());
    }
}
