//! The files a spec names besides itself (`gitlab.ca_file`, `image.provision_script`), read
//! relative to the spec and checked to be what their keys expect. Problems name the key's spec
//! path, like the rules' findings, so they are drawn at its value.

use std::path::Path;

use crate::diagnostic::{Finding, SpecPath};
use crate::model::Attachment;
use crate::spec::Spec;

/// The files a spec names, each read and checked.
#[derive(Debug, Default)]
pub struct Attachments {
    pub gitlab_ca: Option<Attachment>,
    pub provision_script: Option<Attachment>,
}

/// Why a file is refused: the message and the help.
type Refusal = (String, String);

/// Reads the files `spec` names, relative to `dir`.
pub fn read(spec: &Spec, dir: &Path) -> (Attachments, Vec<Finding>) {
    let mut findings = Vec::new();
    let root = SpecPath::root();
    let mut read_one = |written: Option<&String>, path: SpecPath, check: fn(&str) -> Result<(), Refusal>| {
        let written = written?;
        match read_text(&dir.join(written)).and_then(|text| check(&text).map(|()| text)) {
            Ok(text) => Some(Attachment { written: written.clone(), text }),
            Err((message, help)) => {
                findings.push(Finding::new(path, message, "this file").help(help));
                None
            }
        }
    };
    let attachments = Attachments {
        gitlab_ca: read_one(spec.gitlab.ca_file.as_ref(), root.key("gitlab").key("ca_file"), check_ca),
        provision_script: read_one(
            spec.image.provision_script.as_ref(),
            root.key("image").key("provision_script"),
            check_script,
        ),
    };
    (attachments, findings)
}

/// What a named file is expected to be, in the words of the errors that refuse it (a text file
/// read as a spec is, with the same limits).
const ATTACHMENT: super::file::Expected = super::file::Expected {
    file: "a file beside the spec",
    kind: "a CA file or a bake script",
    empty: "",
    not_mapping: "",
    not_mapping_help: "",
};

/// The file's text, or why it cannot be read: the reading of [`super::file::read_text`].
fn read_text(path: &Path) -> Result<String, Refusal> {
    let relative = || "paths are relative to the folder of the spec".to_owned();
    super::file::read_text(path, &ATTACHMENT).map(|read| read.text).map_err(|e| match e {
        crate::Error::Read { path, reason, .. } => (format!("cannot read {path}: {reason}"), relative()),
        other => (other.to_string(), relative()),
    })
}

/// A CA file holds one or more PEM certificates and nothing else that is PEM (never a key).
fn check_ca(text: &str) -> Result<(), Refusal> {
    let help = "expected one or more PEM certificates, each between -----BEGIN CERTIFICATE----- and \
                -----END CERTIFICATE-----, such as your CA's root and intermediate certificates"
        .to_owned();
    let blocks = pem::parse_many(text).map_err(|e| (format!("the file is not PEM: {e}"), help.clone()))?;
    if blocks.is_empty() {
        return Err(("the file holds no PEM certificate".to_owned(), help));
    }
    for (i, block) in blocks.iter().enumerate() {
        let n = i + 1;
        if block.tag() != "CERTIFICATE" {
            let key = block.tag().contains("PRIVATE KEY");
            return Err((
                format!("PEM block {n} is a {}, not a CERTIFICATE", block.tag()),
                if key {
                    "a private key must never be baked into an image or handed to jobs: keep only the CA's \
                     certificates in this file"
                        .to_owned()
                } else {
                    help
                },
            ));
        }
        // A DER certificate is an ASN.1 SEQUENCE.
        if block.contents().first() != Some(&0x30) {
            return Err((format!("PEM block {n} does not hold a DER certificate"), help));
        }
    }
    Ok(())
}

/// A bake step is a non-empty bash script; it runs with `set -euo pipefail` whatever it starts with.
fn check_script(text: &str) -> Result<(), Refusal> {
    if text.trim().is_empty() {
        return Err(("the script is empty".to_owned(), "expected a bash script".to_owned()));
    }
    if text.contains('\0') {
        return Err(("the script holds a NUL byte".to_owned(), "expected a bash script".to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &str = "-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n";

    #[test]
    fn a_ca_file_is_certificates_only() {
        assert!(check_ca(CERT).is_ok());
        assert!(check_ca(&format!("# corp root\n{CERT}{CERT}")).is_ok());
        assert!(check_ca("hello").unwrap_err().0.contains("no PEM certificate"));
        let key = "-----BEGIN PRIVATE KEY-----\nMAMCAQA=\n-----END PRIVATE KEY-----\n";
        let (message, help) = check_ca(&format!("{CERT}{key}")).unwrap_err();
        assert_eq!(message, "PEM block 2 is a PRIVATE KEY, not a CERTIFICATE");
        assert!(help.contains("never"));
        let not_der = "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n";
        assert!(check_ca(not_der).unwrap_err().0.contains("DER"));
    }
}
