//! Reading a YAML file safely: at most [`MAX_BYTES`] of UTF-8 text, parsed into a located YAML
//! tree whose top is a mapping. What is not a plausible file of the expected kind (a directory,
//! a huge file, binary data, an empty file) gets one clear line that says what was expected.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use crate::Error;
use crate::diagnostic::{LocatedProblem, SpecText};
use crate::yaml::{self, Node};

/// Largest file accepted. A fleet of 500 pools is about 250 KiB.
pub const MAX_BYTES: u64 = 2 * 1024 * 1024;

/// The text of a YAML file and its parsed tree.
pub struct Source {
    /// The name shown in diagnostics: the path as given.
    pub name: String,
    pub text: Arc<SpecText>,
    pub root: Node,
    /// The folder the paths the file names are relative to: the file's own, or the current one
    /// for text that came from elsewhere.
    pub dir: std::path::PathBuf,
}

impl Source {
    /// An error made of problems in this source.
    pub fn error(&self, problems: Vec<LocatedProblem>) -> Error {
        Error::Spec { file: self.text.clone(), problems }
    }
}

/// What a file is expected to hold, in the words of the errors that refuse it.
pub struct Expected {
    /// Said of a directory, such as "a fleet spec file such as fleet.yaml".
    pub file: &'static str,
    /// Said of a file over [`MAX_BYTES`], such as "a fleet spec".
    pub kind: &'static str,
    /// Said of an empty file, such as "a fleet spec that starts with `version: 1`".
    pub empty: &'static str,
    /// The message for a file whose top is not a mapping.
    pub not_mapping: &'static str,
    /// The help for a file whose top is not a mapping.
    pub not_mapping_help: &'static str,
}

/// Reads and parses a YAML file whose top is a mapping.
pub fn read_mapping(path: &Path, expected: &Expected) -> Result<Source, Error> {
    let read = read_text(path, expected)?;
    let mut source = parse_mapping(read.name, read.text, expected)?;
    source.dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    Ok(source)
}

/// A file's text and the name diagnostics show for it.
pub struct Text {
    pub name: String,
    pub text: String,
}

/// Reads a text file of at most [`MAX_BYTES`]: one clear line for a directory, a huge file or
/// one that is not UTF-8.
pub fn read_text(path: &Path, expected: &Expected) -> Result<Text, Error> {
    let name = crate::diagnostic::printable(&path.display().to_string());
    let read_error = |reason: String| Error::Read { path: name.clone(), reason, source: None };
    let io_error = |e: std::io::Error| Error::Read { path: name.clone(), reason: io_reason(&e), source: Some(e) };
    let meta = std::fs::metadata(path).map_err(io_error)?;
    if meta.is_dir() {
        return Err(read_error(format!("it is a directory; expected {}", expected.file)));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path).and_then(|f| f.take(MAX_BYTES + 1).read_to_end(&mut bytes)).map_err(io_error)?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(read_error(format!("it is larger than {} MiB; {} is far smaller", MAX_BYTES >> 20, expected.kind)));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
        let col = valid.iter().rev().take_while(|b| **b != b'\n').count() + 1;
        read_error(format!("it is not UTF-8 text (invalid byte at line {line}, column {col})"))
    })?;
    Ok(Text { name, text })
}

/// Parses YAML text whose top must be a mapping; `name` is what diagnostics call it.
pub fn parse_mapping(name: String, text: String, expected: &Expected) -> Result<Source, Error> {
    let source = Arc::new(SpecText::new(&name, text));
    let spec_error = |problem| Error::Spec { file: source.clone(), problems: vec![problem] };
    let root = match yaml::parse(&source.text) {
        Ok(Some(root)) => root,
        Ok(None) => {
            return Err(Error::Read {
                path: name,
                reason: format!("it is empty; expected {}", expected.empty),
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
            LocatedProblem::new(root.span.clone(), expected.not_mapping, "not a mapping")
                .help(expected.not_mapping_help),
        ));
    }
    Ok(Source { name, text: source, root, dir: std::path::PathBuf::new() })
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}
