//! Small text helpers shared by the reporters.

use std::fmt::Write;

/// The first line of a message.
pub fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

/// At most `max` characters, with an ellipsis when cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Text safe inside one Markdown table cell: one line, pipes escaped, HTML-like text inert.
pub fn md_cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace(['\n', '\r'], " ")
}

/// An inline Markdown code span that survives backticks in the text.
pub fn md_code(s: &str) -> String {
    let ticks = longest_backtick_run(s);
    if ticks > 0 {
        let fence = "`".repeat(ticks + 1);
        format!("{fence} {s} {fence}")
    } else {
        format!("`{s}`")
    }
}

fn longest_backtick_run(s: &str) -> usize {
    s.as_bytes()
        .split(|b| *b != b'`')
        .map(<[u8]>::len)
        .max()
        .unwrap_or(0)
}

/// A fenced Markdown code block whose fence is longer than any backtick run inside.
pub fn md_block(lang: &str, body: &str) -> String {
    let ticks = longest_backtick_run(body);
    let fence = "`".repeat((ticks + 1).max(3));
    let body = body.trim_end_matches('\n');
    format!("{fence}{lang}\n{body}\n{fence}\n")
}

/// The shell quoting apr-client's reproduction lines use, so every line a report prints
/// quotes alike.
pub use apr_client::shell_quote;

/// A result's server requests as a script: each server's command once, then its requests, each
/// with how it was answered.
pub(crate) fn requests_script(requests: &[tmgt_outcome::RequestRecord]) -> String {
    let mut script = String::new();
    let mut server = "";
    for r in requests {
        if r.server != server {
            server = &r.server;
            let _ = writeln!(script, "# server (started by tmgt): {server}");
        }
        let _ = writeln!(
            script,
            "# request: {} {} answered {} in {} ms\n{}",
            r.method, r.path, r.status, r.ms, r.curl
        );
    }
    script
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(
            html("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(md_cell("a|b\nc<d"), "a\\|b c&lt;d");
        assert_eq!(md_code("x"), "`x`");
        assert_eq!(md_code("a`b"), "`` a`b ``");
        assert_eq!(md_block("", "``` x"), "````\n``` x\n````\n");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(shell_quote("model=a|b"), "'model=a|b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
