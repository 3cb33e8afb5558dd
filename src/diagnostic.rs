//! Errors for people: every failure of the tool, each with a one-line cause, and spec
//! problems as located diagnostics (`file:line:col`, the YAML underlined, a help line).

use std::ops::Range;
use std::sync::Arc;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};

/// One problem found in a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub message: String,
    pub span: Range<usize>,
    pub label: String,
    pub help: Option<String>,
    /// Other places that explain the problem, such as the first of two duplicates.
    pub related: Vec<(Range<usize>, String)>,
}

impl Problem {
    pub fn new(span: Range<usize>, message: impl Into<String>, label: impl Into<String>) -> Self {
        Self { message: message.into(), span, label: label.into(), help: None, related: Vec::new() }
    }
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
    pub fn related(mut self, span: Range<usize>, label: impl Into<String>) -> Self {
        self.related.push((span, label.into()));
        self
    }
}

/// Everything that stops runnergen. Each prints as one line, or as located diagnostics.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{0}")]
    Usage(String),
    #[error("{} in {}", plural(.problems.len(), "problem"), .file.name())]
    Spec { file: Arc<NamedSource<String>>, problems: Vec<Problem> },
    #[error("internal error while rendering {target}: {reason}")]
    Render { target: String, reason: String },
    #[error("cannot write {path}: {reason}")]
    Write { path: String, reason: String },
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
    #[error("render would overwrite changes made by hand to {}: {}; nothing was written. Move the changes into the spec, or run `runnergen render --force` to overwrite them", plural(.paths.len(), "file"), .paths.join(", "))]
    HandEdited { paths: Vec<String> },
}

pub fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") }
}

/// One located problem, as miette sees it.
#[derive(Debug, thiserror::Error)]
#[error("{}", .problem.message)]
struct Located<'a> {
    file: Arc<NamedSource<String>>,
    problem: &'a Problem,
}

impl Diagnostic for Located<'_> {
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(self.file.as_ref())
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let primary = LabeledSpan::new_primary_with_span(Some(self.problem.label.clone()), span(&self.problem.span));
        let related =
            self.problem.related.iter().map(|(s, label)| LabeledSpan::new_with_span(Some(label.clone()), span(s)));
        Some(Box::new(std::iter::once(primary).chain(related)))
    }
    fn help(&self) -> Option<Box<dyn std::fmt::Display + '_>> {
        self.problem.help.as_ref().map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }
}

fn span(range: &Range<usize>) -> SourceSpan {
    SourceSpan::new(range.start.into(), range.end.saturating_sub(range.start))
}

impl Error {
    /// The error as people read it: `error: ...` lines, and a drawing per spec problem.
    pub fn render(&self, color: bool) -> String {
        let theme = if color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
        let handler = GraphicalReportHandler::new_themed(theme).with_width(100).with_links(false);
        let mut out = String::new();
        if let Error::Spec { file, problems } = self {
            for problem in problems {
                let located = Located { file: file.clone(), problem };
                if handler.render_report(&mut out, &located).is_err() {
                    out.push_str(&format!("{}\n", problem.message));
                }
                out.push('\n');
            }
        }
        out.push_str(&format!("error: {self}\n"));
        out
    }
}
