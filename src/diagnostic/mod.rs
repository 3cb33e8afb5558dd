//! Spec problems as located diagnostics (`file:line:col`, the YAML underlined, a help line):
//! [`Finding`]s name spec paths, [`locate`] turns them into [`LocatedProblem`]s with spans of the
//! YAML, and [`render_problems`] draws those.

mod draw;

use std::ops::Range;

pub use draw::{render_problems, report_panic};
pub use miette::Severity;

pub use crate::yaml::{Seg, SpecPath};

/// One problem found in a spec, located by a span of its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatedProblem {
    pub message: String,
    pub span: Range<usize>,
    pub label: String,
    pub help: Option<String>,
    /// Other places that explain the problem, such as the first of two duplicates.
    pub related: Vec<(Range<usize>, String)>,
}

impl LocatedProblem {
    pub fn new(span: Range<usize>, message: impl Into<String>, label: impl Into<String>) -> Self {
        Self { message: message.into(), span, label: label.into(), help: None, related: Vec::new() }
    }
    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
    #[must_use]
    pub fn related(mut self, span: Range<usize>, label: impl Into<String>) -> Self {
        self.related.push((span, label.into()));
        self
    }
}

/// What of the node at a path a finding underlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// The value.
    Value,
    /// The key that names the value (the value itself in a list).
    Key,
    /// The key that names the value, or the value's first character in a list: for a mapping that
    /// lacks a key, underlining all of it is noise.
    KeyOrFirst,
}

/// A problem located by a spec path, found by a stage that knows paths, not spans: [`locate`]
/// gives it a span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub path: SpecPath,
    pub mark: Mark,
    pub message: String,
    pub label: String,
    pub help: Option<String>,
    pub related: Vec<(SpecPath, Mark, String)>,
}

impl Finding {
    pub fn new(path: SpecPath, message: impl Into<String>, label: impl Into<String>) -> Self {
        Finding {
            path,
            mark: Mark::Value,
            message: message.into(),
            label: label.into(),
            help: None,
            related: Vec::new(),
        }
    }
    #[must_use]
    pub fn mark(mut self, mark: Mark) -> Self {
        self.mark = mark;
        self
    }
    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
    #[must_use]
    pub fn related(mut self, path: SpecPath, mark: Mark, label: impl Into<String>) -> Self {
        self.related.push((path, mark, label.into()));
        self
    }
}

/// Turns findings into located problems, in the order of the text.
pub fn locate(root: &crate::yaml::Node, findings: Vec<Finding>) -> Vec<LocatedProblem> {
    let span = |path: &SpecPath, mark: Mark| {
        let at = root.locate(&path.0);
        match mark {
            Mark::Value => at.value,
            Mark::Key => at.key.unwrap_or(at.value),
            // At the top, a point where the missing key would go.
            Mark::KeyOrFirst if path.0.is_empty() => at.value.start..at.value.start,
            Mark::KeyOrFirst => {
                at.key.unwrap_or(at.value.start..at.value.start + usize::from(at.value.end > at.value.start))
            }
        }
    };
    let mut problems: Vec<LocatedProblem> = findings
        .into_iter()
        .map(|f| LocatedProblem {
            span: span(&f.path, f.mark),
            related: f.related.iter().map(|(p, m, l)| (span(p, *m), l.clone())).collect(),
            message: f.message,
            label: f.label,
            help: f.help,
        })
        .collect();
    problems.sort_by(|a, b| (a.span.start, &a.message).cmp(&(b.span.start, &b.message)));
    problems.dedup();
    problems
}

pub fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") }
}

/// A spec's text and the name diagnostics show for it.
#[derive(Debug)]
pub struct SpecText {
    /// The path as given, with control characters escaped: a file name can hold a line break.
    pub name: String,
    pub text: String,
}

impl SpecText {
    pub fn new(name: &str, text: String) -> Self {
        SpecText { name: printable(name), text }
    }
}

/// `text` with every control character escaped (`\n`, `\u{1b}`), for showing untrusted names.
pub fn printable(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}
