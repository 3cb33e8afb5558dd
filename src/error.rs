//! Everything that stops runnergen, each with a one-line cause; a spec's problems are drawn as
//! located diagnostics.

use std::sync::Arc;

use crate::diagnostic::{LocatedProblem, Severity, SpecText, plural, render_problems};

/// Everything that stops runnergen. Each prints as one line, or as located diagnostics.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec or a file in the output folder could not be read, or is not what it must be.
    #[error("cannot read {path}: {reason}")]
    Read {
        path: String,
        reason: String,
        #[source]
        source: Option<std::io::Error>,
    },
    /// The spec has problems: all of them, located.
    #[error("{} in {}", plural(.problems.len(), "problem"), .file.name)]
    Spec { file: Arc<SpecText>, problems: Vec<LocatedProblem> },
    /// A template failed: a bug in runnergen, never in the spec.
    #[error("internal error in template {template}, line {line}: {source}")]
    Render {
        template: String,
        line: usize,
        #[source]
        source: minijinja::Error,
    },
    /// Writing (or removing) in the output folder failed.
    #[error("{path} exists; `runnergen init` never overwrites a file: give another name, or remove it first")]
    Exists { path: String },
    #[error("{path} exists; nothing was written: give another --out, or --force to overwrite it")]
    OutExists { path: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the output path {path} is not a folder: pass --out with a folder (it is created when missing)")]
    OutputNotFolder { path: String },
    #[error(
        "refusing to follow the symlink {path} inside the output folder: runnergen never writes or deletes through a symlink; replace it with a real folder or file"
    )]
    Symlink { path: String },
    #[error("{path} is in the way: {reason}; nothing was written")]
    InTheWay { path: String, reason: String },
    #[error("internal error: a template produced the unsafe path `{path}` ({reason}); nothing was written")]
    UnsafePath { path: String, reason: String },
    #[error(
        "the manifest {path} is damaged ({reason}): restore it from version control, or delete it and run `runnergen render --force`"
    )]
    Manifest { path: String, reason: String },
    /// Standard output went away or failed.
    #[error("cannot write to standard output: {source}")]
    Output {
        #[source]
        source: std::io::Error,
    },
    /// `plan` cannot price a pool (`--prices`), or its `--demand` is off.
    #[error("{message}")]
    Price { message: String },
    #[error("render would overwrite changes made by hand to {}: {}; nothing was written. Move the changes into the spec, or run `runnergen render --force` to overwrite them", plural(.paths.len(), "file"), .paths.join(", "))]
    HandEdited { paths: Vec<String> },
}

impl Error {
    /// The error as people read it: `error: ...` lines, and a drawing per spec problem.
    pub fn render(&self, color: bool) -> String {
        let mut out = String::new();
        if let Error::Spec { file, problems } = self {
            out.push_str(&render_problems(file, problems, Severity::Error, color));
        }
        out.push_str(&format!("error: {self}\n"));
        out
    }
}
