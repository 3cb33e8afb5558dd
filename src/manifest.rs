//! The manifest render keeps in the output folder: which files it generated, with their hashes
//! and execute bits, so that it can remove what it no longer generates and tell a hand edit from
//! its own output. Both [`crate::diff`] (which reads it) and [`crate::write`] (which writes it)
//! use this module; neither depends on the other for it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::render::Files;

/// The manifest's file name, in the output folder.
pub const MANIFEST: &str = ".runnergen-manifest.json";

/// What runnergen generated in an output folder: each file's path, hash and execute bit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Says what the file is, for people who find it.
    pub note: String,
    /// The runnergen version that wrote it.
    pub runnergen: String,
    /// Every generated file by its `/`-separated path in the output folder. Sorted.
    pub files: BTreeMap<String, Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub sha256: String,
    pub executable: bool,
}

impl Manifest {
    /// The manifest that describes rendered files once written.
    pub fn of(files: &Files) -> Self {
        Manifest {
            note: "Written by `runnergen render`: the files it generated here. Do not edit; commit it with them."
                .to_owned(),
            runnergen: env!("CARGO_PKG_VERSION").to_owned(),
            files: files
                .iter()
                .map(|(path, file)| {
                    (path.clone(), Entry { sha256: sha256_hex(file.contents.as_bytes()), executable: file.executable })
                })
                .collect(),
        }
    }

    /// The manifest's text: pretty JSON with sorted keys and a final newline.
    pub fn to_text(&self) -> Result<String, Error> {
        serde_json::to_string_pretty(self)
            .map(|s| s + "\n")
            .map_err(|e| Error::Manifest { path: MANIFEST.into(), reason: e.to_string() })
    }

    /// Parses a manifest's text; `path` names it in errors.
    pub fn parse(text: &[u8], path: &Path) -> Result<Self, Error> {
        serde_json::from_slice(text)
            .map_err(|e| Error::Manifest { path: path.display().to_string(), reason: e.to_string() })
    }
}

/// Lowercase hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}
