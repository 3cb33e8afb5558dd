//! Drawing located problems with miette: long lines clipped around their spans, characters a
//! terminal cannot draw replaced, and miette's panics caught so a problem that cannot be drawn
//! falls back to one plain line.

use std::ops::Range;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, Severity, SourceSpan};

use super::{LocatedProblem, SpecText, printable};

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
    problem: &'a LocatedProblem,
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
pub fn render_problems(spec: &SpecText, problems: &[LocatedProblem], severity: Severity, color: bool) -> String {
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
fn plain(spec: &SpecText, problem: &LocatedProblem, severity: Severity) -> String {
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
