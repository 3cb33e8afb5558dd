//! Stage 1 helper: the one module that parses YAML.
//!
//! serde_yaml cannot say where a value came from, and it is archived upstream, so the spec is
//! read with `saphyr-parser` (the maintained successor of yaml-rust), whose events carry spans.
//! This module builds a small tree with a byte span on every node, resolves plain scalars by the
//! YAML 1.2 core schema, rejects duplicate keys, and expands aliases under a fixed budget so an
//! alias bomb fails fast. It reads nothing from disk.

use std::collections::HashMap;
use std::ops::Range;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

use serde_json::{Map, Number, Value};

/// Most nodes a document may expand to, aliases included. A few hundred pools need ~50 000.
const NODE_BUDGET: usize = 1_000_000;
/// Deepest nesting accepted; a fleet spec needs 6.
const MAX_DEPTH: usize = 64;

/// A parsed YAML value with the byte range it came from.
#[derive(Debug, Clone)]
pub struct Node {
    pub span: Range<usize>,
    pub kind: Kind,
    /// Nodes in this subtree, itself included (for the alias budget).
    size: usize,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Scalar(Value),
    Seq(Vec<Node>),
    /// Entries in document order: key text, key span, value.
    Map(Vec<(String, Range<usize>, Node)>),
}

/// Why a document could not be read as a tree.
#[derive(Debug)]
pub struct YamlError {
    pub message: String,
    pub span: Range<usize>,
    pub label: String,
    /// Where the first of two duplicate keys stands.
    pub first: Option<Range<usize>>,
}

impl YamlError {
    fn at(span: Range<usize>, message: impl Into<String>, label: impl Into<String>) -> Self {
        Self { message: message.into(), span, label: label.into(), first: None }
    }
}

/// Parses one YAML document. `None` when the text holds no document at all.
pub fn parse(text: &str) -> Result<Option<Node>, YamlError> {
    let offsets = CharOffsets::new(text);
    let mut builder = Builder { offsets: &offsets, stack: Vec::new(), anchors: HashMap::new(), total: 0, root: None };
    let mut documents = 0;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| {
            let at = offsets.byte(e.marker().index());
            YamlError::at(at..at, format!("malformed YAML: {}", e.info()), "here")
        })?;
        match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    let at = offsets.span(span);
                    return Err(YamlError::at(
                        at,
                        "the file holds more than one YAML document",
                        "a second document starts here",
                    ));
                }
            }
            other => builder.event(other, span)?,
        }
    }
    Ok(builder.root)
}

/// saphyr counts characters; miette wants bytes.
struct CharOffsets {
    bytes: Vec<usize>,
}

impl CharOffsets {
    fn new(text: &str) -> Self {
        let mut bytes: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        bytes.push(text.len());
        Self { bytes }
    }
    fn byte(&self, char_index: usize) -> usize {
        self.bytes.get(char_index).copied().unwrap_or_else(|| self.bytes.last().copied().unwrap_or(0))
    }
    fn span(&self, span: Span) -> Range<usize> {
        self.byte(span.start.index())..self.byte(span.end.index())
    }
}

enum Frame {
    Seq {
        start: Range<usize>,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        start: Range<usize>,
        anchor: usize,
        entries: Vec<(String, Range<usize>, Node)>,
        key: Option<(String, Range<usize>)>,
    },
}

struct Builder<'a> {
    offsets: &'a CharOffsets,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    total: usize,
    root: Option<Node>,
}

impl Builder<'_> {
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), YamlError> {
        let at = self.offsets.span(span);
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let tag = check_tag(tag.as_deref(), &["str", "int", "bool", "null", "float"], &at)?;
                let value = if style == ScalarStyle::Plain && tag != Some("str") {
                    resolve_plain(&text)
                } else {
                    Value::String(text.into_owned())
                };
                self.push(Node { span: at, kind: Kind::Scalar(value), size: 1 }, anchor)
            }
            Event::SequenceStart(anchor, tag) => {
                check_tag(tag.as_deref(), &["seq"], &at)?;
                self.open(Frame::Seq { start: at, anchor, items: Vec::new() })
            }
            Event::MappingStart(anchor, tag) => {
                check_tag(tag.as_deref(), &["map"], &at)?;
                self.open(Frame::Map { start: at, anchor, entries: Vec::new(), key: None })
            }
            Event::SequenceEnd => match self.stack.pop() {
                Some(Frame::Seq { start, anchor, items }) => {
                    let size = 1 + items.iter().map(|n| n.size).sum::<usize>();
                    let span = start.start..at.end.max(items.last().map_or(start.end, |n| n.span.end));
                    self.push(Node { span, kind: Kind::Seq(items), size }, anchor)
                }
                _ => Err(YamlError::at(at, "malformed YAML: unbalanced sequence", "here")),
            },
            Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Map { start, anchor, entries, .. }) => {
                    let size = 1 + entries.iter().map(|(_, _, n)| n.size).sum::<usize>();
                    let span = start.start..at.end.max(entries.last().map_or(start.end, |(_, _, n)| n.span.end));
                    self.push(Node { span, kind: Kind::Map(entries), size }, anchor)
                }
                _ => Err(YamlError::at(at, "malformed YAML: unbalanced mapping", "here")),
            },
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(node) => {
                    let mut node = node.clone();
                    node.span = at;
                    self.push(node, 0)
                }
                None => Err(YamlError::at(at, "malformed YAML: alias to an unknown anchor", "unknown anchor")),
            },
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart(_) | Event::DocumentEnd => {
                Ok(())
            }
        }
    }

    fn open(&mut self, frame: Frame) -> Result<(), YamlError> {
        if self.stack.len() >= MAX_DEPTH {
            let span = match &frame {
                Frame::Seq { start, .. } | Frame::Map { start, .. } => start.clone(),
            };
            return Err(YamlError::at(span, format!("the YAML nests deeper than {MAX_DEPTH} levels"), "too deep"));
        }
        self.stack.push(frame);
        Ok(())
    }

    fn push(&mut self, node: Node, anchor: usize) -> Result<(), YamlError> {
        self.total += node.size;
        if self.total > NODE_BUDGET {
            return Err(YamlError::at(
                node.span,
                format!("the YAML expands to more than {NODE_BUDGET} values (an alias bomb?)"),
                "expansion passes the limit here",
            ));
        }
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                Some((name, key_span)) => entries.push((name, key_span, node)),
                None => {
                    let name = match &node.kind {
                        Kind::Scalar(Value::String(s)) => s.clone(),
                        Kind::Scalar(Value::Null) => String::new(),
                        Kind::Scalar(v) => v.to_string(),
                        _ => {
                            return Err(YamlError::at(node.span, "a mapping key must be a plain value", "complex key"));
                        }
                    };
                    if let Some((_, first, _)) = entries.iter().find(|(k, _, _)| *k == name) {
                        return Err(YamlError {
                            message: format!("duplicate key `{name}`"),
                            span: node.span,
                            label: "defined again here".into(),
                            first: Some(first.clone()),
                        });
                    }
                    *key = Some((name, node.span));
                }
            },
        }
        Ok(())
    }
}

/// Accepts only the core-schema tags that fit the node (`!!str` on a scalar, `!!map` on a
/// mapping...); returns the tag's suffix.
fn check_tag<'t>(tag: Option<&'t Tag>, allowed: &[&str], at: &Range<usize>) -> Result<Option<&'t str>, YamlError> {
    match tag {
        None => Ok(None),
        Some(tag) if tag.is_yaml_core_schema() && allowed.contains(&tag.suffix.as_str()) => Ok(Some(&tag.suffix)),
        Some(tag) => {
            let shown = if tag.is_yaml_core_schema() { format!("!!{}", tag.suffix) } else { tag.to_string() };
            Err(YamlError::at(at.clone(), format!("unsupported YAML tag `{shown}`"), "remove this tag"))
        }
    }
}

/// YAML 1.2 core schema resolution of a plain scalar.
fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let digits = |s: &str, radix| !s.is_empty() && s.chars().all(|c| c.is_digit(radix));
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits(unsigned, 10)
        && let Ok(n) = text.parse::<i64>()
    {
        return Value::Number(n.into());
    }
    for (prefix, radix) in [("0o", 8), ("0x", 16)] {
        if let Some(body) = text.strip_prefix(prefix)
            && digits(body, radix)
            && let Ok(n) = i64::from_str_radix(body, radix)
        {
            return Value::Number(n.into());
        }
    }
    let float_like = unsigned.chars().any(|c| c.is_ascii_digit())
        && unsigned.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        && unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.');
    if float_like && let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
        return Value::Number(n);
    }
    Value::String(text.to_owned())
}

impl Node {
    /// The JSON value of this tree, for schema validation and serde.
    pub fn to_json(&self) -> Value {
        match &self.kind {
            Kind::Scalar(v) => v.clone(),
            Kind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Kind::Map(entries) => {
                Value::Object(entries.iter().map(|(k, _, v)| (k.clone(), v.to_json())).collect::<Map<_, _>>())
            }
        }
    }

    /// The span of the node at a path of keys and indexes, and of the key that names it. Walks
    /// as far as the path exists.
    pub fn locate(&self, path: &[Seg]) -> Located {
        let mut node = self;
        let mut key = None;
        for segment in path {
            let next = match (&node.kind, segment) {
                (Kind::Map(entries), Seg::Key(name)) => {
                    entries.iter().find(|(k, _, _)| k == name).map(|(_, ks, v)| (Some(ks.clone()), v))
                }
                // A JSON pointer names list items by number too.
                (Kind::Map(entries), Seg::Index(i)) => {
                    entries.iter().find(|(k, _, _)| *k == i.to_string()).map(|(_, ks, v)| (Some(ks.clone()), v))
                }
                (Kind::Seq(items), Seg::Index(i)) => items.get(*i).map(|v| (None, v)),
                (Kind::Seq(items), Seg::Key(k)) => {
                    k.parse::<usize>().ok().and_then(|i| items.get(i)).map(|v| (None, v))
                }
                _ => None,
            };
            match next {
                Some((k, v)) => {
                    key = k;
                    node = v;
                }
                None => break,
            }
        }
        Located { value: node.span.clone(), key }
    }
}

/// Where a path points: the value, and the key naming it when its parent is a mapping.
pub struct Located {
    pub value: Range<usize>,
    pub key: Option<Range<usize>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Value {
        parse(text).unwrap().unwrap().to_json()
    }

    #[test]
    fn core_schema_scalars() {
        let v = json("a: 1\nb: 07:00\nc: '1'\nd: true\ne: yes\nf: 19.3.0\ng: ~\nh: 1.5\ni: 0x1F\nj: on\n");
        assert_eq!(v["a"], 1);
        assert_eq!(v["b"], "07:00");
        assert_eq!(v["c"], "1");
        assert_eq!(v["d"], true);
        assert_eq!(v["e"], "yes");
        assert_eq!(v["f"], "19.3.0");
        assert_eq!(v["g"], Value::Null);
        assert_eq!(v["h"], 1.5);
        assert_eq!(v["i"], 31);
        assert_eq!(v["j"], "on");
        assert_eq!(json("a: !!str 123\n")["a"], "123");
        assert!(parse("a: !!set {x: ~}\n").is_err());
    }

    #[test]
    fn spans_are_bytes_after_multibyte_text() {
        let text = "a: \"äöü\"\nb: x\n";
        let root = parse(text).unwrap().unwrap();
        let at = root.locate(&[Seg::Key("b".into())]);
        assert_eq!(&text[at.value], "x");
        assert_eq!(&text[at.key.unwrap()], "b");
    }

    #[test]
    fn duplicate_keys_point_at_both() {
        let text = "a: 1\nb: 2\na: 3\n";
        let err = parse(text).unwrap_err();
        assert_eq!(err.message, "duplicate key `a`");
        assert_eq!(err.span, 10..11);
        assert_eq!(err.first, Some(0..1));
    }

    #[test]
    fn alias_bomb_stops_at_the_budget() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = parse(&text).unwrap_err();
        assert!(err.message.contains("alias bomb"), "{}", err.message);
    }

    #[test]
    fn small_aliases_expand() {
        assert_eq!(json("a: &x {k: 1}\nb: *x\n")["b"]["k"], 1);
    }

    #[test]
    fn empty_text_has_no_document() {
        assert!(parse("").unwrap().is_none());
        assert!(parse("# only a comment\n").unwrap().is_none());
    }
}

/// A place in the spec, as the keys and indexes that lead to it: stages before the end report
/// problems by path, and [`crate::diagnostic::locate`] turns every path into a span of the YAML in one step.
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
    #[must_use]
    pub fn key(&self, key: &str) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Key(key.to_owned()));
        p
    }
    /// This path and then an index.
    #[must_use]
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
