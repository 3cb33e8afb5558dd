//! The input of an import as one small tree with a byte span on every value, from HCL (a
//! Terraform file, with `hcl-edit`, which keeps spans) or TOML (a `config.toml`, with `toml`'s
//! spanned parser). A Terraform expression that is not a literal is kept as its own text
//! ([`V::Ref`]); `local.NAME` becomes the literal a `locals` block of the same file gives it.

use std::collections::HashMap;
use std::ops::Range;

use hcl::edit::Span as _;
use hcl::edit::expr::{Expression, ObjectKey};
use hcl::edit::structure::Body;

/// A value of the input.
#[derive(Debug, Clone)]
pub enum V {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
    List(Vec<At>),
    Obj(Vec<(String, At)>),
    /// An expression that is not a literal (a reference, a function call, a conditional, a
    /// template): its text as written.
    Ref(String),
}

/// A value and where it stands in the input.
#[derive(Debug, Clone)]
pub struct At {
    pub v: V,
    pub span: Range<usize>,
    /// For a value a `locals` block gave: `local.NAME`, and where that local is defined.
    pub via: Option<(String, Range<usize>)>,
}

impl At {
    pub fn new(v: V, span: Range<usize>) -> Self {
        At { v, span, via: None }
    }
    /// The entry `key` of an object.
    pub fn get(&self, key: &str) -> Option<&At> {
        match &self.v {
            V::Obj(entries) => entries.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    pub fn str(&self) -> Option<&str> {
        match &self.v {
            V::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn num(&self) -> Option<f64> {
        match &self.v {
            V::Num(n) => Some(*n),
            // Terraform and gitlab-runner's TOML both take "10" for 10 in places.
            V::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
    pub fn boolean(&self) -> Option<bool> {
        match &self.v {
            V::Bool(b) => Some(*b),
            V::Str(s) if s == "true" => Some(true),
            V::Str(s) if s == "false" => Some(false),
            _ => None,
        }
    }
    pub fn list(&self) -> Option<&[At]> {
        match &self.v {
            V::List(items) => Some(items),
            _ => None,
        }
    }
    pub fn entries(&self) -> &[(String, At)] {
        match &self.v {
            V::Obj(entries) => entries,
            _ => &[],
        }
    }
    /// The text of a reference, or of the first reference inside a literal list or object.
    pub fn reference(&self) -> Option<(&str, Range<usize>)> {
        match &self.v {
            V::Ref(text) => Some((text, self.span.clone())),
            V::List(items) => items.iter().find_map(At::reference),
            V::Obj(entries) => entries.iter().find_map(|(_, v)| v.reference()),
            _ => None,
        }
    }
    /// Whether this is a literal all through.
    pub fn literal(&self) -> bool {
        self.reference().is_none()
    }
}

/// A Terraform file's top-level blocks of one kind: (labels, body, span of the block's head).
pub fn blocks<'a>(body: &'a Body, ident: &'a str) -> impl Iterator<Item = (Vec<String>, &'a Body, Range<usize>)> + 'a {
    body.get_blocks(ident).map(|block| {
        let labels = block
            .labels
            .iter()
            .map(|l| match l {
                hcl::edit::structure::BlockLabel::Ident(i) => i.value().to_string(),
                hcl::edit::structure::BlockLabel::String(s) => s.value().clone(),
            })
            .collect();
        let span = block.ident.span().unwrap_or(0..0);
        (labels, &block.body, span)
    })
}

/// A block body's attributes as (name, name's span, value), in order.
pub fn attributes(body: &Body, text: &str, locals: &Locals) -> Vec<(String, Range<usize>, At)> {
    body.attributes()
        .map(|a| {
            let mut value = from_hcl(&a.value, text);
            locals.resolve(&mut value);
            (a.key.value().to_string(), a.key.span().unwrap_or(0..0), value)
        })
        .collect()
}

/// An HCL expression as a value: literals as they are, anything else as its text.
pub fn from_hcl(e: &Expression, text: &str) -> At {
    let span = e.span().unwrap_or(0..0);
    let v = match e {
        Expression::Null(_) => V::Null,
        Expression::Bool(b) => V::Bool(*b.value()),
        Expression::Number(n) => match n.value().as_f64() {
            Some(f) => V::Num(f),
            None => V::Ref(snippet(text, &span)),
        },
        Expression::String(s) => V::Str(s.value().clone()),
        Expression::Array(items) => V::List(items.iter().map(|i| from_hcl(i, text)).collect()),
        Expression::Object(object) => V::Obj(
            object
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        ObjectKey::Ident(i) => i.value().to_string(),
                        ObjectKey::Expression(Expression::String(s)) => s.value().clone(),
                        ObjectKey::Expression(other) => snippet(text, &other.span().unwrap_or(0..0)),
                    };
                    (key, from_hcl(v.expr(), text))
                })
                .collect(),
        ),
        Expression::Parenthesis(p) => return from_hcl(p.inner(), text),
        _ => V::Ref(snippet(text, &span)),
    };
    At::new(v, span)
}

/// The text of a span on one line, at most 80 characters.
fn snippet(text: &str, span: &Range<usize>) -> String {
    let raw = text.get(span.clone()).unwrap_or_default();
    let one_line = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 80 {
        format!("{}…", one_line.chars().take(79).collect::<String>())
    } else {
        one_line
    }
}

/// The literal values of a file's `locals` blocks, by name.
#[derive(Default)]
pub struct Locals(HashMap<String, At>);

impl Locals {
    pub fn of(body: &Body, text: &str) -> Self {
        let mut locals = Locals::default();
        for (_, block, _) in blocks(body, "locals") {
            for a in block.attributes() {
                let value = from_hcl(&a.value, text);
                if value.literal() {
                    locals.0.insert(a.key.value().to_string(), value);
                }
            }
        }
        locals
    }

    /// Replaces every `local.NAME` in a value by the literal of that name, where there is one.
    pub fn resolve(&self, value: &mut At) {
        match &mut value.v {
            V::Ref(text) => {
                let name = text
                    .strip_prefix("local.")
                    .filter(|n| n.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-'));
                if let Some(found) = name.and_then(|n| self.0.get(n)) {
                    let reference = text.clone();
                    let at = value.span.clone();
                    *value = At { v: found.v.clone(), span: at, via: Some((reference, found.span.clone())) };
                }
            }
            V::List(items) => items.iter_mut().for_each(|i| self.resolve(i)),
            V::Obj(entries) => entries.iter_mut().for_each(|(_, v)| self.resolve(v)),
            _ => {}
        }
    }
}

/// A TOML value as a value.
pub fn from_toml(value: &toml::Spanned<toml::de::DeValue<'_>>) -> At {
    use toml::de::DeValue;
    let span = value.span();
    let v = match value.get_ref() {
        DeValue::String(s) => V::Str(s.to_string()),
        DeValue::Integer(i) => match i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()) {
            Ok(n) => V::Num(n as f64),
            Err(_) => V::Str(i.as_str().to_owned()),
        },
        DeValue::Float(f) => f.as_str().replace('_', "").parse().map_or_else(|_| V::Str(f.as_str().to_owned()), V::Num),
        DeValue::Boolean(b) => V::Bool(*b),
        DeValue::Datetime(d) => V::Str(d.to_string()),
        DeValue::Array(items) => V::List(items.iter().map(from_toml).collect()),
        DeValue::Table(table) => V::Obj(table.iter().map(|(k, v)| (k.get_ref().to_string(), from_toml(v))).collect()),
    };
    At::new(v, span)
}

/// `line:col` (1-based, columns in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}
