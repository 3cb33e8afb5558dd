//! Validators of the names AWS, GitLab and Docker accept: S3 buckets, SSM parameters, tags,
//! image references, instance types, GitLab URLs and host names. Pure functions of the text.

use crate::diagnostic::{Finding, SpecPath};
use crate::model::Arch;

/// S3's rules for a general purpose bucket's name ("Bucket naming rules", Amazon S3 user guide).
pub(super) fn check_bucket_name(name: &str) -> Result<(), String> {
    let chars_ok = name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    if !(3..=63).contains(&name.len()) {
        return Err(format!("it has {} characters", name.len()));
    }
    if !chars_ok {
        return Err("only lowercase letters, digits, dots and hyphens are allowed".into());
    }
    let edge = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !edge(name.as_bytes().first()) || !edge(name.as_bytes().last()) {
        return Err("it must start and end with a letter or digit".into());
    }
    if name.contains("..") {
        return Err("it has two dots in a row".into());
    }
    if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return Err("it looks like an IP address".into());
    }
    for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(prefix) {
            return Err(format!("it starts with the reserved `{prefix}`"));
        }
    }
    for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if name.ends_with(suffix) {
            return Err(format!("it ends with the reserved `{suffix}`"));
        }
    }
    Ok(())
}

/// A GitLab instance's base URL: https, a valid host and port, no credentials, query or API path.
pub(super) fn check_gitlab_url(text: &str) -> Result<(), String> {
    let url = url::Url::parse(text).map_err(|e| e.to_string())?;
    if url.scheme() != "https" {
        return Err(format!("it uses {}, not https", url.scheme()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("it holds credentials; tokens belong in SSM".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("it has a query or fragment".into());
    }
    match url.host() {
        None => return Err("it has no host".into()),
        Some(url::Host::Domain(domain)) => check_host_name(domain)?,
        Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => {}
    }
    // The parser drops an empty port (`host:/`), and would keep port 0.
    let authority = text["https://".len().min(text.len())..].split(['/', '?', '#']).next().unwrap_or_default();
    if authority.ends_with(':') {
        return Err("it has an empty port".into());
    }
    if url.port() == Some(0) {
        return Err("port 0 is not a port".into());
    }
    check_gitlab_path(&url)
}

/// A GitLab instance is served at its host's root or under one relative URL root
/// (`https://example.com/gitlab`); runnergen appends `/api/v4` and the like to it. A path that
/// holds GitLab's own routes is a page or the API, never that root.
fn check_gitlab_path(url: &url::Url) -> Result<(), String> {
    let segments: Vec<&str> = url.path_segments().map(|s| s.filter(|s| !s.is_empty()).collect()).unwrap_or_default();
    let origin = url.origin().ascii_serialization();
    let root = |n: usize| format!("{origin}{}", segments[..n].iter().map(|s| format!("/{s}")).collect::<String>());
    let api = segments.windows(2).position(|w| {
        w[0] == "api" && w[1].strip_prefix('v').is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
    });
    if let Some(at) = api {
        return Err(format!(
            "it points at GitLab's API (`/{}/{}`), which runnergen adds itself: write `{}`",
            segments[at],
            segments[at + 1],
            root(at)
        ));
    }
    if segments.contains(&"-") {
        return Err(format!(
            "`/-/` is in the address of a project's or group's page, not of GitLab: write the instance's address, \
             such as `{origin}`"
        ));
    }
    if segments.last().is_some_and(|s| s.ends_with(".git")) {
        return Err(format!(
            "it names a repository, not GitLab's address: write the instance's address, such as `{origin}`"
        ));
    }
    if url.host_str() == Some("gitlab.com") && !segments.is_empty() {
        return Err("GitLab.com is served at the root of its host, not under a path: write `https://gitlab.com`".into());
    }
    Ok(())
}

/// A DNS host name: labels of letters, digits and hyphens (internationalised names arrive here in
/// their `xn--` form), 1 to 63 characters each, not starting or ending with a hyphen, 253 in all.
fn check_host_name(domain: &str) -> Result<(), String> {
    let name = domain.strip_suffix('.').unwrap_or(domain);
    if name.is_empty() || name.len() > 253 {
        return Err("its host name is empty or longer than 253 characters".into());
    }
    for label in name.split('.') {
        let ldh = label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if label.is_empty() || label.len() > 63 || !ldh || label.starts_with('-') || label.ends_with('-') {
            return Err(format!(
                "`{domain}` is not a host name (each dot-separated part: 1 to 63 letters, digits or inner hyphens)"
            ));
        }
    }
    Ok(())
}

/// Whether an instance family runs on Graviton: `a1`, and families whose attribute letters
/// after the generation include `g` (t4g, m7g, c6gn, x2gd, im4gn, is4gen, hpc7g, g5g).
pub fn is_graviton(instance_type: &str) -> bool {
    let family = instance_type.split('.').next().unwrap_or_default();
    let letters = family.trim_start_matches(|c: char| c.is_ascii_lowercase());
    let attributes = letters.trim_start_matches(|c: char| c.is_ascii_digit());
    family == "a1" || attributes.split('-').next().unwrap_or_default().contains('g')
}

/// An EC2 instance type of the form FAMILY.SIZE, of the image's architecture.
pub(crate) fn check_instance_type(text: &str, arch: Arch, at: &SpecPath, out: &mut Vec<Finding>) {
    let (family, size) = text.split_once('.').unwrap_or((text, ""));
    let family_ok = {
        let rest = family.trim_start_matches(|c: char| c.is_ascii_lowercase());
        rest.len() < family.len() && rest.starts_with(|c: char| c.is_ascii_digit())
    };
    let size_ok = matches!(size, "nano" | "micro" | "small" | "medium" | "large" | "xlarge" | "metal")
        || size.strip_suffix("xlarge").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        || size.strip_prefix("metal-").is_some_and(|n| n.ends_with("xl"));
    if !family_ok || !size_ok {
        out.push(
            Finding::new(at.clone(), format!("`{text}` is not an EC2 instance type"), "malformed instance type")
                .help("expected FAMILY.SIZE such as m7g.large, c6i.2xlarge or t3.medium"),
        );
        return;
    }
    let graviton = is_graviton(text);
    let wanted = match arch {
        Arch::Arm64 if !graviton => Some("arm64 (Graviton, such as m7g.large or t4g.medium)"),
        Arch::X86_64 if graviton => Some("x86_64 (such as m7i.large or t3.medium)"),
        _ => None,
    };
    if let Some(wanted) = wanted {
        let is = if graviton { Arch::Arm64 } else { Arch::X86_64 }.name();
        out.push(
            Finding::new(
                at.clone(),
                format!("`{text}` is an {is} instance type, but the image is built for another architecture"),
                format!("{is} instance type"),
            )
            .help(format!("`image.arch` asks for {wanted}; every instance type must run the one AMI")),
        );
    }
}

/// An SSM parameter name: an absolute path of at most 15 levels, not under aws or ssm.
pub(super) fn check_ssm_name(name: &str) -> Result<(), String> {
    let segments: Vec<&str> = name.strip_prefix('/').ok_or("it must start with /")?.split('/').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err("it has an empty segment (// or a trailing /)".into());
    }
    if segments.len() > 15 {
        return Err(format!("it has {} levels; SSM allows 15", segments.len()));
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || "_.-/".contains(*c))) {
        return Err(format!("`{bad}` is not allowed"));
    }
    let first = segments[0].to_ascii_lowercase();
    if first.starts_with("aws") || first.starts_with("ssm") {
        return Err("names starting with aws or ssm are reserved".into());
    }
    Ok(())
}

/// A tag every resource takes: IAM, the strictest of the services the tags reach, allows
/// `[\p{L}\p{Z}\p{N}_.:/=+\-@]` (IAM API reference, Tag): letters, numbers and spaces of any
/// script, but not the combining marks many scripts write vowels with. Line and paragraph
/// separators (\p{Zl}, \p{Zp}) are refused too.
pub(super) fn check_tag(key: &str, value: &str) -> Result<(), String> {
    use unicode_general_category::{GeneralCategory as G, get_general_category};
    let allowed = |c: char| {
        "_.:/=+-@".contains(c)
            || matches!(
                get_general_category(c),
                G::UppercaseLetter
                    | G::LowercaseLetter
                    | G::TitlecaseLetter
                    | G::ModifierLetter
                    | G::OtherLetter
                    | G::DecimalNumber
                    | G::LetterNumber
                    | G::OtherNumber
                    | G::SpaceSeparator
            )
    };
    if key.is_empty() || key.chars().count() > 128 {
        return Err("a key has 1 to 128 characters".into());
    }
    if value.chars().count() > 256 {
        return Err("a value has at most 256 characters".into());
    }
    if key.to_ascii_lowercase().starts_with("aws:") {
        return Err("keys starting with aws: are reserved by AWS".into());
    }
    if key.to_ascii_lowercase().starts_with("runnergen:") {
        return Err("keys starting with runnergen: are runnergen's own, which it finds the AMI and the pools by".into());
    }
    if key == "Name" {
        return Err("runnergen names each resource itself".into());
    }
    if let Some(bad) = key.chars().chain(value.chars()).find(|c| !allowed(*c)) {
        return Err(format!("`{bad}` (U+{:04X}) is not allowed", bad as u32));
    }
    Ok(())
}

/// A docker image reference: `[registry[:port]/]name[:tag][@digest]`, as the distribution
/// reference grammar (distribution/reference, reference.go) defines it, in ASCII.
pub fn check_image_reference(text: &str) -> Result<(), String> {
    if text.len() > 255 {
        return Err("it is longer than 255 characters".into());
    }
    let (rest, digest) = match text.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (text, None),
    };
    if let Some(digest) = digest {
        let (algorithm, hex) = digest.split_once(':').ok_or("its digest has no algorithm (sha256:...)")?;
        let algorithm_ok = !algorithm.is_empty()
            && algorithm
                .split(['+', '.', '_', '-'])
                .all(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        if !algorithm_ok || hex.len() < 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("`{digest}` is not a digest"));
        }
    }
    // A tag is what follows the last colon when no slash comes after it.
    let (name, tag) = match rest.rfind(':') {
        Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
        _ => (rest, None),
    };
    if let Some(tag) = tag {
        let tag_ok = !tag.is_empty()
            && tag.len() <= 128
            && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !tag_ok {
            return Err(format!("`{tag}` is not a tag (letters, digits, _ . -, at most 128)"));
        }
    }
    let mut components: Vec<&str> = name.split('/').collect();
    // The first component is a registry when it has a dot, a colon or is localhost.
    if components.len() > 1 {
        let first = components[0];
        if first.contains(['.', ':']) || first == "localhost" {
            let (host, port) = match first.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (first, None),
            };
            let host_ok = !host.is_empty()
                && host.split('.').all(|l| {
                    !l.is_empty()
                        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                });
            let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
            if !host_ok || !port_ok {
                return Err(format!("`{first}` is not a registry host"));
            }
            components.remove(0);
        }
    }
    for component in components {
        // [a-z0-9]+ separated by ., _, __ or one or more -.
        let separators_ok = !component.is_empty()
            && component.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && component.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && !component.contains("..")
            && !component.contains("___")
            && !component.contains("._")
            && !component.contains("_.")
            && !component.contains(".-")
            && !component.contains("-.")
            && !component.contains("_-")
            && !component.contains("-_");
        let chars_ok = component.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        if !separators_ok || !chars_ok {
            return Err(format!(
                "`{component}` is not a repository name part (lowercase letters and digits, joined by . _ __ or -)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitlab_urls_need_a_real_host_and_port() {
        for good in [
            "https://gitlab.com",
            "https://gitlab.example.com:8443/",
            "https://gitlab.example.com/sub/path",
            "https://example.com/gitlab/",
            "https://gitlab.example.com/api",
            "https://gitlab.example.com/apiv4",
            "https://gitlab",
            "https://10.0.0.5",
            "https://[2001:db8::1]:444",
            "https://bücher.example",
            "https://gitlab.example.com.",
        ] {
            assert_eq!(check_gitlab_url(good), Ok(()), "{good}");
        }
        for bad in [
            "https://\"}",
            "https://${var.x}",
            "https://$((1+1))",
            "https://*",
            "https://a..b",
            "https://-a.example",
            "https://a-.example",
            "https://gitlab.example.com:0",
            "https://gitlab.example.com:/",
            "https://gitlab.example.com:",
            "https://gitlab.example.com:65536",
            "https://user:pw@gitlab.example.com",
            "https://gitlab.example.com/?x=1",
            "https://gitlab.example.com/#x",
            "https://gitlab.example.com/api/v4",
            "https://gitlab.example.com/api/v4/",
            "https://example.com/gitlab/api/v4",
            "https://gitlab.example.com/group/project/-/tree/main",
            "https://gitlab.example.com/group/project.git",
            "https://gitlab.com/mygroup",
            "http://gitlab.example.com",
            "https://",
            &format!("https://{}.example", "a".repeat(64)),
        ] {
            assert!(check_gitlab_url(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn bucket_names() {
        for good in ["abc", "acme-ci-cache-3d5a0d4b", "a.b-c.d", &"a".repeat(63)] {
            assert_eq!(check_bucket_name(good), Ok(()), "{good}");
        }
        for bad in [
            "ab",
            &"a".repeat(64),
            "Acme",
            "a_b",
            "-ab",
            "ab-",
            "a..b",
            "192.168.5.4",
            "xn--ab",
            "sthree-a",
            "ab-s3alias",
            "ab--ol-s3",
        ] {
            assert!(check_bucket_name(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn image_references() {
        for good in [
            "alpine",
            "alpine:3.20",
            "docker.io/library/debian:bookworm-slim",
            "registry.example.com:5000/team/image:v1.2",
            "localhost/x",
            "ghcr.io/a_b/c__d/e-f---g:latest",
            "alpine@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "a/b:c@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(check_image_reference(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "Alpine",
            "alpine:",
            "alpine:.x",
            "alpine::3",
            "a//b",
            "-a",
            "a-",
            "a..b",
            "a@sha256:xyz",
            "a@notadigest",
            "registry-.example.com/x",
            "reg.example.com:port/x",
            "al pine",
            "ünicode",
            "a/b:c/d",
        ] {
            assert!(check_image_reference(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn graviton_families() {
        for t in [
            "t4g.medium",
            "m7g.large",
            "c6gn.xlarge",
            "x2gd.large",
            "im4gn.large",
            "is4gen.large",
            "a1.large",
            "hpc7g.4xlarge",
            "g5g.xlarge",
            "m8g.large",
        ] {
            assert!(is_graviton(t), "{t}");
        }
        for t in [
            "t3.medium",
            "m7i.large",
            "c5.2xlarge",
            "g4dn.xlarge",
            "m7i-flex.large",
            "r7iz.large",
            "inf2.xlarge",
            "c6in.large",
        ] {
            assert!(!is_graviton(t), "{t}");
        }
    }
}
