//! `apr chat`'s session: the replies it prints on stdout, and with `--trace` what each turn fed
//! the model (apr prints no JSON for a chat).

use serde::Serialize;

use super::{Reply, exit_code, exit_error};
use crate::AprError;
use crate::process::Captured;

/// The marker of a reply on stdout.
const REPLY: &str = "\nAssistant: ";
/// The trace line that starts a turn: `[APR-TRACE] Formatted prompt (N chars):`.
const FORMATTED: &str = "[APR-TRACE] Formatted prompt (";
/// The trace line of the ids: `[APR-TRACE] Prompt tokens (N tokens): [first 50]`.
const TOKENS: &str = "[APR-TRACE] Prompt tokens (";

/// One turn of an `apr chat` session.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ChatTurn {
    /// The reply as apr printed it (and keeps it in its history): after `Assistant: `, up to
    /// the next prompt.
    pub reply: String,
    /// With `--trace`: the rendered prompt's length in bytes.
    pub rendered_bytes: Option<usize>,
    /// With `--trace`: the rendered prompt's first 500 bytes.
    pub rendered_head: Option<String>,
    /// With `--trace`: how many ids the prompt encoded to.
    pub prompt_token_count: Option<usize>,
    /// With `--trace`: the first 50 of them.
    pub prompt_ids_head: Vec<u32>,
}

/// `apr chat` with its turns on stdin: one [`ChatTurn`] per reply printed, the trace of the
/// same turn beside it.
///
/// # Errors
/// A timeout or signal as the module rules say; a non-zero exit.
pub fn chat(c: &Captured) -> Result<Reply<Vec<ChatTurn>>, AprError> {
    let code = exit_code(c)?;
    if code != 0 {
        return Err(exit_error(c, code));
    }
    let stdout = String::from_utf8_lossy(&c.stdout);
    let mut turns: Vec<ChatTurn> = replies(&stdout)
        .into_iter()
        .map(|reply| ChatTurn {
            reply,
            ..ChatTurn::default()
        })
        .collect();
    let traced = traces(&String::from_utf8_lossy(&c.stderr));
    for (turn, trace) in turns.iter_mut().zip(traced) {
        turn.rendered_bytes = trace.rendered_bytes;
        turn.rendered_head = trace.rendered_head;
        turn.prompt_token_count = trace.prompt_token_count;
        turn.prompt_ids_head = trace.prompt_ids_head;
    }
    Ok(Reply {
        value: turns,
        exit_code: code,
        drift: Vec::new(),
    })
}

/// Each reply: from `Assistant: ` to the blank line before the next `You: ` (or the goodbye).
fn replies(stdout: &str) -> Vec<String> {
    let text = format!("\n{stdout}");
    text.split(REPLY)
        .skip(1)
        .map(|chunk| {
            let end = ["\n\nYou: ", "\nYou: ", "\nGoodbye!"]
                .iter()
                .filter_map(|m| chunk.find(m))
                .min()
                .unwrap_or(chunk.len());
            chunk[..end].trim_end_matches(['\n', '\r']).to_string()
        })
        .collect()
}

/// The trace of each turn, in order: a turn starts at its `Formatted prompt` line.
fn traces(stderr: &str) -> Vec<ChatTurn> {
    let mut turns: Vec<ChatTurn> = Vec::new();
    let mut lines = stderr.lines();
    while let Some(line) = lines.next() {
        if let Some(rest) = line.strip_prefix(FORMATTED) {
            let bytes = rest.split_once(' ').and_then(|(n, _)| n.parse().ok());
            let head = lines
                .next()
                .and_then(|l| l.strip_prefix("[APR-TRACE] "))
                .and_then(unquote_debug);
            turns.push(ChatTurn {
                rendered_bytes: bytes,
                rendered_head: head,
                ..ChatTurn::default()
            });
        } else if let Some(rest) = line.strip_prefix(TOKENS)
            && let Some(turn) = turns.last_mut()
            && turn.prompt_token_count.is_none()
        {
            let Some((count, ids)) = rest.split_once(" tokens): ") else {
                continue;
            };
            turn.prompt_token_count = count.parse().ok();
            turn.prompt_ids_head = ids
                .trim_matches(['[', ']'])
                .split(", ")
                .filter_map(|id| id.trim().parse().ok())
                .collect();
        }
    }
    turns
}

/// A string as Rust's `{:?}` prints it, read back: the quotes removed and the escapes undone.
fn unquote_debug(quoted: &str) -> Option<String> {
    let inner = quoted.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            '0' => out.push('\0'),
            'u' => {
                let code: String = chars.by_ref().skip(1).take_while(|&c| c != '}').collect();
                out.push(char::from_u32(u32::from_str_radix(&code, 16).ok()?)?);
            }
            other => out.push(other),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STDOUT: &str = "\n=== Model Chat (GGUF Format) ===\n\nLoading model...\nYou: [0.2s, ~19 tok/s]\nAssistant:     if x:\n\n\nYou: [0.2s, ~33 tok/s]\nAssistant: two\nlines\n\nYou: \nGoodbye!\n{\"backend\":{}}\n";

    #[test]
    fn replies_keep_leading_spaces_and_inner_lines() {
        assert_eq!(replies(STDOUT), vec!["    if x:", "two\nlines"]);
    }

    #[test]
    fn traces_read_the_rendered_head_and_ids_of_each_turn() {
        let stderr = "Inference tracing enabled\n[APR-TRACE] Formatted prompt (12 chars):\n[APR-TRACE] \"a\\nb \\\"q\\\" \\u{200b}\"\n[APR-TRACE] Prompt tokens (3 tokens): [1, 2, 3]\n[APR-TRACE] Decoded: \"x\"\n[APR-TRACE] Prompt tokens (9 tokens): [9]\n[APR-TRACE] Formatted prompt (20 chars):\n[APR-TRACE] \"c\"\n[APR-TRACE] Prompt tokens (5 tokens): [4, 5]\n";
        let t = traces(stderr);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].rendered_bytes, Some(12));
        assert_eq!(t[0].rendered_head.as_deref(), Some("a\nb \"q\" \u{200b}"));
        assert_eq!(t[0].prompt_token_count, Some(3));
        assert_eq!(t[0].prompt_ids_head, vec![1, 2, 3]);
        assert_eq!(t[1].prompt_token_count, Some(5));
        assert_eq!(t[1].prompt_ids_head, vec![4, 5]);
    }

    #[test]
    fn a_malformed_escape_reads_as_nothing() {
        assert_eq!(unquote_debug("\"a\\"), None);
        assert_eq!(unquote_debug("no quotes"), None);
    }
}
