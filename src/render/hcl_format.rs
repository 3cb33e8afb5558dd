//! The canonical form of HCL, as `terraform fmt` and `packer fmt` write it (hclwrite.Format):
//! both targets' HCL passes through [`canonical_hcl`] before it is written.

/// Puts rendered HCL into the canonical form of `terraform fmt` (hclwrite.Format): indentation
/// of two spaces a bracket level, and the `=` of consecutive single-line attributes aligned one
/// space after the longest name, measured in grapheme clusters as hclwrite does. Also drops
/// trailing spaces, repeated blank lines and blank lines just inside brackets, which templates
/// leave behind. Templates keep every token on the line it belongs to; this only changes
/// whitespace, as hclwrite does.
pub fn canonical_hcl(text: &str) -> String {
    struct Line<'a> {
        body: &'a str,
        net: i32,
        /// Byte length of the name before `=` when the line is a one-line attribute.
        assign: Option<usize>,
    }
    // Blank-line cleanup first, so alignment chains see the final lines.
    let mut kept: Vec<&str> = Vec::new();
    for raw in text.lines() {
        let body = raw.trim();
        if body.is_empty() {
            let after_open = kept.last().is_none_or(|l| l.ends_with('{') || l.ends_with('[') || l.is_empty());
            if after_open {
                continue;
            }
        } else if (body.starts_with('}') || body.starts_with(']')) && kept.last().is_some_and(|l| l.is_empty()) {
            kept.pop();
        }
        kept.push(body);
    }
    while kept.last().is_some_and(|l| l.is_empty()) {
        kept.pop();
    }
    let lines: Vec<Line> = kept
        .iter()
        .map(|body| {
            let (net, eq) = scan(body);
            let assign = eq.filter(|_| net == 0).map(|i| body[..i].trim_end().len());
            Line { body, net, assign }
        })
        .collect();

    // Indentation, as hclwrite's formatIndent: a line opening brackets is indented at the
    // current level and pushes one; a line closing them pops first.
    let mut indents: Vec<i32> = Vec::new();
    let mut levels = Vec::with_capacity(lines.len());
    for line in &lines {
        if line.body.is_empty() {
            levels.push(0);
            continue;
        }
        match line.net {
            n if n > 0 => {
                levels.push(indents.len());
                indents.push(n);
            }
            n if n < 0 => {
                let mut closed = -n;
                while closed > 0 {
                    let Some(top) = indents.last_mut() else { break };
                    if closed >= *top {
                        closed -= *top;
                        indents.pop();
                    } else {
                        *top -= closed;
                        closed = 0;
                    }
                }
                levels.push(indents.len());
            }
            _ => levels.push(indents.len()),
        }
    }

    // Alignment, as hclwrite's formatCells: consecutive attribute lines form a chain.
    let mut out = String::with_capacity(text.len() + 256);
    let mut i = 0;
    while i < lines.len() {
        if lines[i].assign.is_none() {
            push_line(&mut out, levels[i], lines[i].body);
            i += 1;
            continue;
        }
        let start = i;
        while i < lines.len() && lines[i].assign.is_some() {
            i += 1;
        }
        // hclwrite measures a name in grapheme clusters (tokens.go, Columns with textseg).
        let width = |j: usize| {
            use unicode_segmentation::UnicodeSegmentation;
            let name = lines[j].assign.map_or("", |n| &lines[j].body[..n]);
            levels[j] * 2 + if name.is_ascii() { name.len() } else { name.graphemes(true).count() }
        };
        let widths: Vec<usize> = (start..i).map(width).collect();
        let max = widths.iter().copied().max().unwrap_or(0);
        for (j, w) in (start..i).zip(widths) {
            let name_len = lines[j].assign.unwrap_or(0);
            let rest = lines[j].body[name_len..].trim_start();
            let value = rest.strip_prefix('=').unwrap_or(rest).trim_start();
            indent(&mut out, levels[j]);
            out.push_str(&lines[j].body[..name_len]);
            out.extend(std::iter::repeat_n(' ', max - w + 1));
            out.push_str("= ");
            out.push_str(value);
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, level: usize) {
    out.extend(std::iter::repeat_n(' ', level * 2));
}

fn push_line(out: &mut String, level: usize, body: &str) {
    if !body.is_empty() {
        indent(out, level);
        out.push_str(body);
    }
    out.push('\n');
}

/// The net change in bracket depth of one line (strings and comments skipped) and the byte
/// offset of its first top-level `=` after a leading name, if the line starts with one.
fn scan(body: &str) -> (i32, Option<usize>) {
    let bytes = body.as_bytes();
    let mut net = 0;
    let mut eq = None;
    let mut i = 0;
    let mut tokens_before = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                tokens_before += 1;
            }
            b'#' => break,
            b'{' | b'[' | b'(' => {
                net += 1;
                tokens_before += 1;
            }
            b'}' | b']' | b')' => {
                net -= 1;
                tokens_before += 1;
            }
            b'=' if eq.is_none() && tokens_before > 0 && net == 0 => {
                let next = bytes.get(i + 1).copied();
                let prev = if i > 0 { bytes[i - 1] } else { b' ' };
                if next != Some(b'=') && next != Some(b'>') && !b"!<>=".contains(&prev) {
                    eq = Some(i);
                }
                tokens_before += 1;
            }
            b' ' | b'\t' => {}
            _ => {
                // Count a run of word characters as one token.
                while i + 1 < bytes.len() && !b" \t\"#{}[]()=,".contains(&bytes[i + 1]) {
                    i += 1;
                }
                tokens_before += 1;
            }
        }
        i += 1;
    }
    // hclwrite treats `=` as an attribute only when it follows at least one token; a line such
    // as `a = {` (net +1) is not one-line and is handled by the caller.
    (net, eq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quote::hcl_string;

    #[test]
    fn canonical_form_indents_and_aligns() {
        let text = "a {\nx = 1\n\n  long_name = \"{\"\n\n\n}\n\n";
        assert_eq!(canonical_hcl(text), "a {\n  x = 1\n\n  long_name = \"{\"\n}\n");
        let text = "b {\nx = 1\nlong = [1, 2]\nt = {\n\"k\" = \"v\"\n}\n}\n";
        assert_eq!(canonical_hcl(text), "b {\n  x    = 1\n  long = [1, 2]\n  t = {\n    \"k\" = \"v\"\n  }\n}\n");
    }

    #[test]
    fn map_entries_align_on_the_longest_key() {
        let text = format!(
            "tags = {{\n{} = {}\n{} = {}\n}}\n",
            hcl_string("a"),
            hcl_string("1"),
            hcl_string("runnergen:fleet"),
            hcl_string("x\"y")
        );
        assert_eq!(
            canonical_hcl(&text),
            "tags = {\n  \"a\"               = \"1\"\n  \"runnergen:fleet\" = \"x\\\"y\"\n}\n"
        );
    }
}
