//! runnergen: one YAML fleet spec in, the Packer and Terraform of a self-scaling GitLab Runner
//! fleet on AWS out.
//!
//! The pipeline, one module a stage: [`load`](mod@load) reads the file and parses it
//! ([`yaml`]), [`shape`] checks it against the schema and runnergen's types, [`resolve`] applies
//! every default into the [`model`], [`rules`] checks what a schema cannot say over that model,
//! [`render`] turns the model into an in-memory plan of files, [`diff`] compares that plan with
//! the output folder, and [`write`](mod@write) applies the difference. [`plan`] adds up a
//! fleet's week in instance-hours (and cost) instead of rendering it. Problems found before
//! rendering name spec paths; [`diagnostic::locate`] turns them into spans of the YAML at the end.

pub mod cli;
pub mod diagnostic;
pub mod diff;
pub mod error;
pub mod impact;
pub mod import;
pub mod init;
pub mod load;
pub mod manifest;
pub mod model;
pub mod plan;
pub mod quote;
pub mod render;
pub mod resolve;
pub mod rules;
pub mod settings;
pub mod shape;
pub mod spec;
pub mod write;
pub mod yaml;

use std::path::Path;
use std::sync::Arc;

pub use error::Error;
pub use model::Fleet;

/// A valid spec, resolved, with what is worth a warning in it.
pub struct Loaded {
    pub fleet: Fleet,
    source: Arc<diagnostic::SpecText>,
    warnings: Vec<diagnostic::LocatedProblem>,
}

impl Loaded {
    /// The warnings, drawn like problems; empty when there are none.
    pub fn warnings(&self, color: bool) -> String {
        diagnostic::render_problems(&self.source, &self.warnings, diagnostic::Severity::Warning, color)
    }
}

/// Load, check and resolve a spec file.
pub fn load(path: &Path) -> Result<Loaded, Error> {
    check(&load::load(path)?, &header_name(path))
}

/// Load, check and resolve a spec file, ignoring warnings.
pub fn load_fleet(path: &Path) -> Result<Fleet, Error> {
    load(path).map(|loaded| loaded.fleet)
}

/// Shapes, resolves and checks a parsed spec; `spec_file` names it in generated headers. Every
/// problem of every stage is reported at once: a value that fails the schema only keeps the rules
/// that read it from running.
pub fn check(source: &load::Source, spec_file: &str) -> Result<Loaded, Error> {
    let shaped = shape::shape(&source.root);
    let mut findings = shaped.findings;
    if let Some(spec) = shaped.spec {
        let fleet = resolve::resolve(spec, spec_file);
        findings.extend(rules::check(&fleet, &shaped.poisoned));
        if findings.is_empty() {
            let warnings = diagnostic::locate(&source.root, rules::warnings(&fleet));
            return Ok(Loaded { fleet, source: source.text.clone(), warnings });
        }
    }
    Err(source.error(diagnostic::locate(&source.root, findings)))
}

/// The spec's name as generated files' headers show it: its base name, made safe
/// ([`quote::safe_name`]).
fn header_name(path: &Path) -> String {
    quote::safe_name(&path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
}

/// Render a resolved fleet into its plan of files.
pub fn render_fleet(fleet: &Fleet) -> Result<render::Plan, Error> {
    render::render(fleet)
}
