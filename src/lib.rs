//! runnergen: one YAML fleet spec in, the Packer and Terraform of a self-scaling GitLab Runner
//! fleet on AWS out.
//!
//! The pipeline, one module a stage: [`load`] reads and parses the file, [`validate`] checks it
//! against the schema and the rules a schema cannot say, [`resolve`] applies every default into
//! the [`model`], [`render`] turns the model into an in-memory plan of files, [`diff`] compares
//! that plan with the output folder, and [`write`](mod@write) applies the difference.

pub mod diagnostic;
pub mod diff;
pub mod load;
pub mod model;
pub mod render;
pub mod resolve;
pub mod settings;
pub mod spec;
pub mod validate;
pub mod write;
pub mod yaml;

use std::path::Path;

pub use diagnostic::Error;
pub use model::Fleet;

/// Load, validate and resolve a spec file.
pub fn load_fleet(path: &Path) -> Result<Fleet, Error> {
    let source = load::load(path)?;
    let spec = validate::validate(&source)?;
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(resolve::resolve(spec, &file_name))
}

/// Render a resolved fleet into its plan of files.
pub fn render_fleet(fleet: &Fleet) -> Result<render::Plan, Error> {
    render::render(fleet).map_err(|e| Error::Render { target: "templates".into(), reason: format!("{e:#}") })
}
