//! Stage 1: read the spec file and parse it into a located YAML tree. The only stage that reads
//! from disk. Refuses what is not a plausible spec (a directory, a huge file, binary data, an
//! empty file, a document that is not a mapping) with one clear line.

pub mod attachments;
pub mod file;

use std::path::Path;

use crate::Error;
pub use file::{MAX_BYTES, Source, Text};

/// A fleet spec, in the words of the errors that refuse a file.
pub const SPEC: file::Expected = file::Expected {
    file: "a fleet spec file such as fleet.yaml",
    kind: "a fleet spec",
    empty: "a fleet spec that starts with `version: 1`",
    not_mapping: "the spec must be a mapping of keys",
    not_mapping_help: "start the file with `version: 1`, then `name:`, `aws:`, `gitlab:`, `image:` and `pools:`",
};

/// Reads and parses a spec file.
pub fn read_spec(path: &Path) -> Result<Source, Error> {
    file::read_mapping(path, &SPEC)
}

/// Reads a text file the way a spec is read, with a spec's one-line errors.
pub fn read_text(path: &Path) -> Result<Text, Error> {
    file::read_text(path, &SPEC)
}

/// Parses spec text that came from somewhere other than a file.
pub fn parse(name: String, text: String) -> Result<Source, Error> {
    file::parse_mapping(name, text, &SPEC)
}
