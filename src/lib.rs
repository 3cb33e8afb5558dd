//! runnergen: one YAML fleet spec in, the Packer and Terraform of a self-scaling GitLab Runner
//! fleet on AWS out.
//!
//! The pipeline, one module a stage: [`load`](mod@load) reads and parses the file, [`validate`] checks it
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
use std::sync::Arc;

pub use diagnostic::Error;
pub use model::Fleet;

/// A valid spec, resolved, with what is worth a warning in it.
pub struct Loaded {
    pub fleet: Fleet,
    source: Arc<diagnostic::SpecText>,
    warnings: Vec<diagnostic::Problem>,
}

impl Loaded {
    /// The warnings, drawn like problems; empty when there are none.
    pub fn warnings(&self, color: bool) -> String {
        diagnostic::render_problems(&self.source, &self.warnings, diagnostic::Severity::Warning, color)
    }
}

/// Load, validate and resolve a spec file.
pub fn load(path: &Path) -> Result<Loaded, Error> {
    let source = load::load(path)?;
    let spec = validate::validate(&source)?;
    let warnings = validate::warnings(&spec, &source.root);
    let fleet = resolve::resolve(spec, &header_name(path));
    Ok(Loaded { fleet, source: source.text, warnings })
}

/// Load, validate and resolve a spec file, ignoring warnings.
pub fn load_fleet(path: &Path) -> Result<Fleet, Error> {
    load(path).map(|loaded| loaded.fleet)
}

/// The spec's name as generated files' headers show it: its base name, made safe
/// ([`render::safe_name`]).
fn header_name(path: &Path) -> String {
    render::safe_name(&path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
}

/// Render a resolved fleet into its plan of files.
pub fn render_fleet(fleet: &Fleet) -> Result<render::Plan, Error> {
    render::render(fleet).map_err(|e| Error::Render { target: "templates".into(), reason: format!("{e:#}") })
}
