//! runnergen: one YAML fleet spec in, the Packer and Terraform of a self-scaling GitLab Runner
//! fleet on AWS out.
//!
//! The pipeline, one module a stage: (1) [`load`] reads the file and parses it ([`yaml`]),
//! (2) [`shape`] checks it against the schema and runnergen's types, (3) [`resolve`] applies
//! every default into the [`model`], (4) [`rules`] checks what a schema cannot say over that
//! model, (5) [`render`] turns the model into in-memory [`render::Files`], (6) [`diff`] compares
//! them with the output folder, and (7) [`write`](mod@write) applies the difference. [`week`]
//! adds up a fleet's week in instance-hours (and cost) instead of rendering it. Problems found before
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
pub mod quote;
pub mod render;
pub mod resolve;
pub mod rules;
pub mod settings;
pub mod shape;
pub mod spec;
pub mod topology;
pub mod week;
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

/// Reads, checks and resolves a spec file: the fleet, with its warnings.
pub fn load_spec(path: &Path) -> Result<Loaded, Error> {
    check(&load::read_spec(path)?, &header_name(path))
}

/// Shapes, resolves and checks a parsed spec; `spec_file` names it in generated headers. Every
/// problem of every stage is reported at once: a value that fails the schema only keeps the rules
/// that read it from running.
pub fn check(source: &load::Source, spec_file: &str) -> Result<Loaded, Error> {
    let shaped = shape::shape(&source.root);
    let mut findings = shaped.findings;
    if let Some(spec) = shaped.spec {
        let (attachments, problems) = load::attachments::read(&spec, &source.dir);
        findings.extend(problems);
        let fleet = resolve::resolve(spec, attachments, spec_file);
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
