//! Stage 1: read the spec file and parse it into a located YAML tree. The only stage that reads
//! from disk. Refuses what is not a plausible spec (a directory, a huge file, binary data)
//! with one clear line.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use crate::Error;
use crate::diagnostic::{LocatedProblem, SpecText};
use crate::yaml::{self, Node};

/// Largest spec accepted. A fleet of 500 pools is about 250 KiB.
pub const MAX_BYTES: u64 = 2 * 1024 * 1024;

/// The text of a spec and its parsed tree.
pub struct Source {
    /// The name shown in diagnostics: the path as given.
    pub name: String,
    pub text: Arc<SpecText>,
    pub root: Node,
}

impl Source {
    /// An error made of problems in this source.
    pub fn error(&self, problems: Vec<LocatedProblem>) -> Error {
        Error::Spec { file: self.text.clone(), problems }
    }
}

pub fn load(path: &Path) -> Result<Source, Error> {
    let read = read_text(path)?;
    parse(read.name, read.text)
}

/// A file's text and the name diagnostics show for it.
pub struct Text {
    pub name: String,
    pub text: String,
}

/// Reads a text file of at most [`MAX_BYTES`]: one clear line for a directory, a huge file or
/// one that is not UTF-8.
pub fn read_text(path: &Path) -> Result<Text, Error> {
    let name = crate::diagnostic::printable(&path.display().to_string());
    let read_error = |reason: String| Error::Read { path: name.clone(), reason, source: None };
    let io_error = |e: std::io::Error| Error::Read { path: name.clone(), reason: io_reason(&e), source: Some(e) };
    let meta = std::fs::metadata(path).map_err(io_error)?;
    if meta.is_dir() {
        return Err(read_error("it is a directory; expected a fleet spec file such as fleet.yaml".into()));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path).and_then(|f| f.take(MAX_BYTES + 1).read_to_end(&mut bytes)).map_err(io_error)?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(read_error(format!("it is larger than {} MiB; a fleet spec is far smaller", MAX_BYTES >> 20)));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
        let col = valid.iter().rev().take_while(|b| **b != b'\n').count() + 1;
        read_error(format!("it is not UTF-8 text (invalid byte at line {line}, column {col})"))
    })?;
    Ok(Text { name, text })
}

/// Parses spec text that came from somewhere other than a file.
pub fn parse(name: String, text: String) -> Result<Source, Error> {
    let source = Arc::new(SpecText::new(&name, text));
    let spec_error = |problem| Error::Spec { file: source.clone(), problems: vec![problem] };
    let root = match yaml::parse(&source.text) {
        Ok(Some(root)) => root,
        Ok(None) => {
            return Err(Error::Read {
                path: name,
                reason: "it is empty; expected a fleet spec that starts with `version: 1`".into(),
                source: None,
            });
        }
        Err(e) => {
            let mut problem = LocatedProblem::new(e.span, e.message, e.label);
            if let Some(first) = e.first {
                problem = problem.related(first, "first defined here").help("each key may appear once in a mapping");
            }
            return Err(spec_error(problem));
        }
    };
    if !matches!(root.kind, yaml::Kind::Map(_)) {
        return Err(spec_error(
            LocatedProblem::new(root.span.clone(), "the spec must be a mapping of keys", "not a mapping")
                .help("start the file with `version: 1`, then `name:`, `aws:`, `gitlab:`, `image:` and `pools:`"),
        ));
    }
    Ok(Source { name, text: source, root })
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}
