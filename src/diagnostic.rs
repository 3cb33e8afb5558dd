//! Errors for people: every failure of the tool, each with a one-line cause, and spec
//! problems as located diagnostics (`file:line:col`, the YAML underlined, a help line).

use std::ops::Range;
use std::sync::Arc;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, SourceSpan};

pub use miette::Severity;

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

/// A place in the spec, as the keys and indexes that lead to it: stages before the end report
/// problems by path, and [`locate`] turns every path into a span of the YAML in one step.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SpecPath(pub Vec<Seg>);

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

impl SpecPath {
    pub fn root() -> Self {
        SpecPath(Vec::new())
    }
    /// This path and then a key.
    pub fn key(&self, key: &str) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Key(key.to_owned()));
        p
    }
    /// This path and then an index.
    pub fn index(&self, i: usize) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }
    /// A path from a JSON pointer's segments (all text): numbers under a list are indexes.
    pub fn of(keys: &[&str]) -> Self {
        SpecPath(keys.iter().map(|k| Seg::Key((*k).to_owned())).collect())
    }
    /// The path serde_path_to_error reports a refused value at.
    pub fn of_serde(path: &serde_path_to_error::Path) -> Self {
        SpecPath(
            path.iter()
                .filter_map(|s| match s {
                    serde_path_to_error::Segment::Seq { index } => Some(Seg::Index(*index)),
                    serde_path_to_error::Segment::Map { key } => Some(Seg::Key(key.clone())),
                    serde_path_to_error::Segment::Enum { variant } => Some(Seg::Key(variant.clone())),
                    serde_path_to_error::Segment::Unknown => None,
                })
                .collect(),
        )
    }
    /// The path as JSON-pointer segments: keys, and indexes as numbers.
    pub fn segments(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|seg| match seg {
                Seg::Key(k) => k.clone(),
                Seg::Index(i) => i.to_string(),
            })
            .collect()
    }
    /// Whether one path leads to or through the other.
    pub fn overlaps(&self, other: &SpecPath) -> bool {
        let n = self.0.len().min(other.0.len());
        self.0[..n] == other.0[..n]
    }
    /// `pools[0].docker.image`, or `the spec` at the top, as messages show it.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for seg in &self.0 {
            match seg {
                Seg::Index(i) => out.push_str(&format!("[{i}]")),
                Seg::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
            }
        }
        if out.is_empty() { "the spec".into() } else { format!("`{out}`") }
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

/// A problem found by a stage that knows paths, not spans: located by [`locate`].
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
    pub fn mark(mut self, mark: Mark) -> Self {
        self.mark = mark;
        self
    }
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
    pub fn related(mut self, path: SpecPath, mark: Mark, label: impl Into<String>) -> Self {
        self.related.push((path, mark, label.into()));
        self
    }
}

/// Turns findings into located problems, in the order of the text.
pub fn locate(root: &crate::yaml::Node, findings: Vec<Finding>) -> Vec<Problem> {
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
    let mut problems: Vec<Problem> = findings
        .into_iter()
        .map(|f| Problem {
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
    Spec { file: Arc<SpecText>, problems: Vec<Problem> },
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

/// Lines longer than this (in bytes) are clipped around the spans drawn on them, and characters
/// a terminal cannot draw in place are shown as `�`, so a drawing always fits: miette panics on a
/// column past 65 535, and a stray control character would garble the picture.
const MAX_LINE_BYTES: usize = 200;
/// Bytes kept before the first span on a clipped line.
const CLIP_BEFORE: usize = 60;

/// One original line as the drawing shows it.
struct LineMap {
    /// Byte range of the line's text in the original (line break excluded).
    start: usize,
    end: usize,
    /// Where the line's text starts in the drawn text.
    drawn_start: usize,
    /// For a clipped or cleaned line: pairs of (original, drawn) offsets at each kept character
    /// boundary, in order; `None` when the line is drawn as it is.
    pairs: Option<Vec<(usize, usize)>>,
}

/// The text miette draws: the spec with long lines clipped and undrawable characters replaced,
/// every line break kept, so line numbers stay right; columns are mapped back to the original.
struct Drawn<'a> {
    name: &'a str,
    text: String,
    lines: Vec<LineMap>,
}

fn undrawable(c: char) -> bool {
    (c.is_control() && c != '\t') || matches!(c, '\u{feff}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}')
}

impl<'a> Drawn<'a> {
    fn new(spec: &'a SpecText, spans: &[Range<usize>]) -> Self {
        let source = spec.text.as_str();
        let mut text = String::with_capacity(source.len().min(64 * 1024));
        let mut lines = Vec::new();
        let mut start = 0;
        while start <= source.len() {
            let rest = &source[start..];
            let (end, next) = match rest.find(['\n', '\r']) {
                Some(i) if rest[i..].starts_with("\r\n") => (start + i, start + i + 2),
                Some(i) => (start + i, start + i + 1),
                None => (source.len(), source.len() + 1),
            };
            let line = &source[start..end];
            let drawn_start = text.len();
            let pairs = if line.len() <= MAX_LINE_BYTES && !line.chars().any(undrawable) {
                text.push_str(line);
                None
            } else {
                let focus = spans.iter().map(|s| s.start).filter(|s| (start..=end).contains(s)).min().unwrap_or(start);
                let mut from = focus.saturating_sub(CLIP_BEFORE).max(start);
                while !source.is_char_boundary(from) {
                    from -= 1;
                }
                let mut to = (from + MAX_LINE_BYTES).min(end);
                while !source.is_char_boundary(to) {
                    to -= 1;
                }
                let mut pairs = Vec::new();
                if from > start {
                    text.push('…');
                }
                for (i, c) in source[from..to].char_indices() {
                    pairs.push((from + i, text.len()));
                    text.push(if undrawable(c) { '�' } else { c });
                }
                pairs.push((to, text.len()));
                if to < end {
                    text.push('…');
                }
                Some(pairs)
            };
            lines.push(LineMap { start, end, drawn_start, pairs });
            if next <= source.len() {
                text.push_str(&source[end..next]);
            }
            start = next;
        }
        Drawn { name: &spec.name, text, lines }
    }

    fn line_of(&self, offset: usize, key: impl Fn(&LineMap) -> usize) -> &LineMap {
        let i = self.lines.partition_point(|l| key(l) <= offset).saturating_sub(1);
        &self.lines[i]
    }

    /// An original offset in the drawn text: clamped into its line's kept part.
    fn to_drawn(&self, offset: usize) -> usize {
        let line = self.line_of(offset, |l| l.start);
        let offset = offset.min(line.end);
        match &line.pairs {
            None => line.drawn_start + (offset - line.start),
            Some(pairs) => {
                let i = pairs.partition_point(|(o, _)| *o <= offset).saturating_sub(1);
                pairs[i].1
            }
        }
    }

    /// A drawn offset back in the original text.
    fn to_original(&self, offset: usize) -> usize {
        let line = self.line_of(offset, |l| l.drawn_start);
        match &line.pairs {
            None => (line.start + (offset - line.drawn_start)).min(line.end),
            Some(pairs) => {
                let i = pairs.partition_point(|(_, d)| *d <= offset).saturating_sub(1);
                pairs[i].0
            }
        }
    }

    fn span(&self, range: &Range<usize>) -> SourceSpan {
        let start = self.to_drawn(range.start);
        let end = self.to_drawn(range.end).max(start);
        SourceSpan::new(start.into(), end - start)
    }
}

impl miette::SourceCode for Drawn<'_> {
    fn read_span<'b>(
        &'b self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'b> + 'b>, miette::MietteError> {
        let inner = self.text.read_span(span, before, after)?;
        // The header's `line:col` comes from a read without context: give the original column.
        let column = if before == 0 {
            let original = self.to_original(span.offset());
            original - self.line_of(original, |l| l.start).start
        } else {
            inner.column()
        };
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.to_owned(),
            inner.data(),
            *inner.span(),
            inner.line(),
            column,
            inner.line_count(),
        )))
    }
}

/// One located problem, as miette sees it.
#[derive(Debug, thiserror::Error)]
#[error("{}", .problem.message)]
struct Located<'a> {
    drawn: &'a Drawn<'a>,
    problem: &'a Problem,
    severity: Severity,
}

impl std::fmt::Debug for Drawn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl Diagnostic for Located<'_> {
    fn severity(&self) -> Option<Severity> {
        Some(self.severity)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(self.drawn)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let primary =
            LabeledSpan::new_primary_with_span(Some(self.problem.label.clone()), self.drawn.span(&self.problem.span));
        let related = self
            .problem
            .related
            .iter()
            .map(|(s, label)| LabeledSpan::new_with_span(Some(label.clone()), self.drawn.span(s)));
        Some(Box::new(std::iter::once(primary).chain(related)))
    }
    fn help(&self) -> Option<Box<dyn std::fmt::Display + '_>> {
        self.problem.help.as_ref().map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }
}

/// Draws located problems: the YAML around each, underlined, with its help line. A problem that
/// cannot be drawn falls back to `file:line:col: message`.
pub fn render_problems(spec: &SpecText, problems: &[Problem], severity: Severity, color: bool) -> String {
    let theme = if color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100).with_links(false);
    let mut out = String::new();
    for problem in problems {
        let spans: Vec<Range<usize>> =
            std::iter::once(problem.span.clone()).chain(problem.related.iter().map(|(s, _)| s.clone())).collect();
        let drawn = Drawn::new(spec, &spans);
        let located = Located { drawn: &drawn, problem, severity };
        let mut drawing = String::new();
        QUIET_PANICS.with(|q| q.set(true));
        let drawn_ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            handler.render_report(&mut drawing, &located).is_ok()
        }))
        .unwrap_or(false);
        QUIET_PANICS.with(|q| q.set(false));
        if drawn_ok {
            out.push_str(&drawing);
        } else {
            out.push_str(&plain(spec, problem, severity));
        }
        out.push('\n');
    }
    out
}

thread_local! {
    /// Set while a drawing is attempted: a panic there is caught and replaced by a plain line.
    static QUIET_PANICS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The panic hook of the command line: one line for people instead of Rust's message and
/// backtrace, and nothing for a panic that a drawing's fallback already handles.
pub fn report_panic(info: &std::panic::PanicHookInfo<'_>) {
    if QUIET_PANICS.with(std::cell::Cell::get) {
        return;
    }
    let message = info
        .payload()
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| info.payload().downcast_ref::<String>().cloned())
        .unwrap_or_default();
    let place = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
    eprintln!("error: internal error in runnergen{place}: {}; please report it with the spec", printable(&message));
}

/// `file:line:col: error: message`, then the help: what is shown when no drawing can be made.
fn plain(spec: &SpecText, problem: &Problem, severity: Severity) -> String {
    let before = &spec.text.as_bytes()[..problem.span.start.min(spec.text.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let column = before.iter().rev().take_while(|b| **b != b'\n').count() + 1;
    let kind = if severity == Severity::Warning { "warning" } else { "error" };
    let mut out = format!("{}:{line}:{column}: {kind}: {}\n", spec.name, printable(&problem.message));
    if let Some(help) = &problem.help {
        out.push_str(&format!("  help: {}\n", printable(help)));
    }
    out
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
