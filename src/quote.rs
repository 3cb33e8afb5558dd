//! Quoting for every language the targets write: each value escaped for the place it lands in
//! (an HCL string, a shell word, a systemd setting, a comment), so that no value is ever read as
//! code there, whatever validation let through. Templates reach these as filters.

/// A quoted HCL string literal meaning exactly `text`: escapes quotes, backslashes and control
/// characters, and turns `${` and `%{` into their literal forms so no value becomes a template.
pub fn hcl_string(text: &str) -> String {
    if !text.bytes().any(|b| b.is_ascii_control() || b >= 0x80 || matches!(b, b'"' | b'\\' | b'$' | b'%')) {
        return format!("\"{text}\"");
    }
    format!("\"{}\"", hcl_template_text(&escape_hcl_chars(text)))
}

/// A quoted HCL string for a map key that `=` signs align on: every character outside ASCII
/// written as its `\u` escape. hclwrite aligns on a key's width in grapheme clusters, which
/// depends on the Unicode version of the formatter (Terraform's, Packer's, an editor's differ for
/// some scripts); an ASCII key has one width everywhere. Terraform, Packer and AWS read the same
/// key.
pub fn hcl_key(text: &str) -> String {
    let quoted = hcl_string(text);
    let mut out = String::with_capacity(quoted.len());
    for c in quoted.chars() {
        match c as u32 {
            0..=0x7f => out.push(c),
            n @ 0x80..=0xffff => out.push_str(&format!("\\u{n:04x}")),
            n => out.push_str(&format!("\\U{n:08x}")),
        }
    }
    out
}

fn escape_hcl_chars(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Text for an HCL string template: `${` and `%{` become `$${` and `%%{`.
fn hcl_template_text(text: &str) -> String {
    text.replace("${", "$${").replace("%{", "%%{")
}

/// The text of an HCL quoted string without its quotes, for a value inside a string template
/// such as `"arn:${local.partition}:ssm:REGION:..."`: the same escapes as [`hcl_string`].
pub fn hcl_in_string(text: &str) -> String {
    let quoted = hcl_string(text);
    quoted[1..quoted.len() - 1].to_owned()
}

/// Free text for a systemd setting such as `Description=`: one line, `%` specifiers escaped,
/// no quotes added (systemd would show them).
pub fn systemd_text(text: &str) -> String {
    comment_text(text).replace('%', "%%")
}

/// One quoted systemd value, such as an `Environment=` assignment: C-style escapes in double
/// quotes (systemd.syntax(7)), `%` specifiers escaped, control characters as `\x` escapes.
pub fn systemd_quoted(text: &str) -> String {
    double_quoted(text, |c| match c {
        '%' => Some("%%".to_owned()),
        c if c.is_ascii_control() => Some(format!("\\x{:02x}", c as u32)),
        _ => None,
    })
}

/// A TOML basic string (toml.io, v1.0.0): `"` and `\` escaped, control characters as `\u`.
pub fn toml_string(text: &str) -> String {
    double_quoted(text, |c| c.is_control().then(|| format!("\\u{:04X}", c as u32)))
}

/// `text` in double quotes with `"` and `\` escaped by a backslash, and each character that
/// `escape` has another spelling for spelled so.
fn double_quoted(text: &str, escape: impl Fn(char) -> Option<String>) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => match escape(c) {
                Some(spelled) => out.push_str(&spelled),
                None => out.push(c),
            },
        }
    }
    out.push('"');
    out
}

/// Free text for a comment in any target language: one line, every control character replaced.
pub fn comment_text(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// One bash word that means exactly `text`, always on one line: a line break in a value could
/// otherwise end the here-document user data writes the settings with.
pub fn shell_word(text: &str) -> String {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./-_".contains(&b)) {
        return text.to_owned();
    }
    if text.chars().any(char::is_control) {
        // ANSI-C quoting: every control character as an escape, so the word stays one line.
        let mut out = String::from("$'");
        for c in text.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\'' => out.push_str("\\'"),
                // Its UTF-8 bytes, which bash writes as they are whatever the locale.
                c if c.is_control() => {
                    let mut bytes = [0; 4];
                    for b in c.encode_utf8(&mut bytes).bytes() {
                        out.push_str(&format!("\\x{b:02x}"));
                    }
                }
                c => out.push(c),
            }
        }
        out.push('\'');
        return out;
    }
    // Single quotes keep everything literal; a quote ends, is escaped, restarts.
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Inline code in Markdown (CommonMark, code spans) meaning exactly `text`: fenced by one
/// backtick more than the longest run of backticks inside, with a space inside each fence where
/// the text begins or ends with a backtick; one line. Not for table cells, where `|` ends a
/// cell even in code.
pub fn markdown_code(text: &str) -> String {
    let text = comment_text(text);
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') { " " } else { "" };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// A file name as the generated headers show it: every character outside letters, digits and
/// `. _ + -` replaced by `_`, so that it cannot leave a comment in any target language.
pub fn safe_name(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || "._+-".contains(c) { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hcl_strings_cannot_open_templates_or_end_early() {
        assert_eq!(hcl_string(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(hcl_string("${var.x} %{if}"), r#""$${var.x} %%{if}""#);
        assert_eq!(hcl_string("a\nb"), r#""a\nb""#);
        assert_eq!(hcl_string("$${x}"), r#""$$${x}""#);
    }

    #[test]
    fn hcl_keys_are_ascii() {
        assert_eq!(hcl_key("team"), "\"team\"");
        assert_eq!(hcl_key("टीम"), r#""\u091f\u0940\u092e""#);
        assert_eq!(hcl_key("a\"😀${x}"), r#""a\"\U0001f600$${x}""#);
    }

    #[test]
    fn systemd_values_are_one_quoted_word() {
        assert_eq!(systemd_quoted("AWS_REGION=eu-central-1"), r#""AWS_REGION=eu-central-1""#);
        assert_eq!(systemd_quoted("a\"b\\c%d\ne"), r#""a\"b\\c%%d\x0ae""#);
    }

    #[test]
    fn markdown_code_spans_hold_any_text() {
        assert_eq!(markdown_code("docker"), "`docker`");
        assert_eq!(markdown_code("a`b"), "``a`b``");
        assert_eq!(markdown_code("`x``"), "``` `x`` ```");
        assert_eq!(markdown_code("a|b\nc"), "`a|b?c`");
    }

    #[test]
    fn shell_words_survive_bash() {
        for text in ["plain", "", "it's", "$(touch /tmp/x) `id` ${HOME}", "a\nb", "-n", "*", "x\r\n'\\\u{7f}\u{85}é"] {
            assert!(!shell_word(text).contains(['\n', '\r']), "{text:?}");
            let script = format!("printf %s {}", shell_word(text));
            let out = std::process::Command::new("bash").arg("-c").arg(&script).output().expect("bash runs");
            assert_eq!(String::from_utf8_lossy(&out.stdout), text, "{script}");
        }
    }
}
