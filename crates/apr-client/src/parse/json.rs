//! Finding the JSON document in apr's stdout.
//!
//! Most subcommands print exactly one document. Some print human text before it (`hex` on
//! GGUF) or after it (`inspect --vocab`), and a few hand-roll their JSON with `println!`
//! (`rosetta diff-tensors`, `rosetta fingerprint`): paths are not escaped and non-finite floats
//! appear as `NaN`/`inf`. The lenient pass repairs those two defects only.

use serde_json::Value;

/// A document found in a text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Found {
    pub value: Value,
    /// Text before the document (trimmed), if any.
    pub prefix: String,
    /// Text after the document (trimmed), if any.
    pub suffix: String,
    /// Whether the lenient repair was needed.
    pub repaired: bool,
}

/// How many candidate start positions are tried before giving up.
const MAX_CANDIDATES: usize = 64;

/// Byte offsets of lines whose first non-blank character opens an object or array.
fn candidates(text: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let indent = line.len() - line.trim_start_matches([' ', '\t', '\r']).len();
        if matches!(line.as_bytes().get(indent), Some(b'{' | b'[')) {
            out.push(line_start + indent);
            if out.len() >= MAX_CANDIDATES {
                break;
            }
        }
        line_start += line.len();
    }
    out
}

/// First JSON value at the start of `text` and the byte length it took.
fn first_value(text: &str) -> Option<(Value, usize)> {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    match stream.next() {
        Some(Ok(v)) => Some((v, stream.byte_offset())),
        _ => None,
    }
}

/// Finds the document: a value followed only by whitespace is preferred; otherwise the first
/// value that parses (human text may follow it). Strict JSON first, then the lenient repair.
pub(crate) fn find_document(text: &str) -> Option<Found> {
    let starts = candidates(text);
    let mut partial: Option<Found> = None;
    for &start in &starts {
        if let Some((value, len)) = first_value(&text[start..]) {
            let found = Found {
                value,
                prefix: text[..start].trim().to_string(),
                suffix: text[start + len..].trim().to_string(),
                repaired: false,
            };
            if found.suffix.is_empty() {
                return Some(found);
            }
            partial.get_or_insert(found);
        }
    }
    if partial.is_some() {
        return partial;
    }
    for &start in &starts {
        let repaired = repair(&text[start..]);
        if let Some((value, len)) = first_value(&repaired) {
            return Some(Found {
                value,
                prefix: text[..start].trim().to_string(),
                suffix: repaired[len..].trim().to_string(),
                repaired: true,
            });
        }
    }
    None
}

/// Repairs hand-rolled JSON: bare `NaN`/`inf`/`Infinity` outside strings become the strings
/// `"NaN"`/`"inf"`/`"-inf"`; inside strings, invalid escapes and raw control characters are
/// escaped, and a quote that is not followed by `,` `:` `}` `]` or the end is taken as a literal
/// quote of an unescaped path.
pub(crate) fn repair(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 16);
    let mut i = 0;
    let mut in_string = false;
    while i < chars.len() {
        let c = chars[i];
        if in_string {
            match c {
                '\\' => match chars.get(i + 1) {
                    Some(&n @ ('"' | '\\' | '/' | 'b' | 'f' | 'n' | 'r' | 't')) => {
                        out.push('\\');
                        out.push(n);
                        i += 1;
                    }
                    Some('u')
                        if chars.len() > i + 5
                            && chars[i + 2..i + 6].iter().all(char::is_ascii_hexdigit) =>
                    {
                        out.push('\\');
                    }
                    _ => out.push_str("\\\\"),
                },
                '"' => {
                    let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
                    if matches!(next, None | Some(',' | ':' | '}' | ']')) {
                        in_string = false;
                        out.push('"');
                    } else {
                        out.push_str("\\\"");
                    }
                }
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
            i += 1;
            continue;
        }
        if c == '"' {
            in_string = true;
            out.push(c);
            i += 1;
            continue;
        }
        // Non-finite number spellings, at a token boundary.
        let boundary = i == 0 || !chars[i - 1].is_alphanumeric();
        if boundary {
            let rest: String = chars[i..chars.len().min(i + 9)].iter().collect();
            let table: [(&str, &str); 8] = [
                ("-Infinity", "\"-inf\""),
                ("Infinity", "\"inf\""),
                ("-NaN", "\"NaN\""),
                ("-nan", "\"NaN\""),
                ("NaN", "\"NaN\""),
                ("nan", "\"NaN\""),
                ("-inf", "\"-inf\""),
                ("inf", "\"inf\""),
            ];
            if let Some((word, replacement)) = table.iter().find(|(w, _)| {
                rest.starts_with(w)
                    && !chars
                        .get(i + w.chars().count())
                        .is_some_and(|c| c.is_alphanumeric())
            }) {
                out.push_str(replacement);
                i += word.chars().count();
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_plain_document() {
        let f = find_document("{\"a\": 1}\n").unwrap();
        assert_eq!(f.value, json!({"a": 1}));
        assert!(f.prefix.is_empty() && f.suffix.is_empty() && !f.repaired);
    }

    #[test]
    fn skips_human_header() {
        let text = "=== GGUF ===\nTensors: 3 [F32]\n[\n  {\"name\": \"x\"}\n]\n";
        let f = find_document(text).unwrap();
        assert_eq!(f.value, json!([{"name": "x"}]));
        assert_eq!(f.prefix, "=== GGUF ===\nTensors: 3 [F32]");
    }

    #[test]
    fn keeps_trailing_text() {
        let f = find_document("{\"a\": 1}\nVocab: 3 tokens\n").unwrap();
        assert_eq!(f.suffix, "Vocab: 3 tokens");
    }

    #[test]
    fn repairs_nan_and_paths() {
        let text = "{\"model_a\": \"/m/a\"b.apr\", \"p\": \"C:\\x\", \"v\": NaN, \"w\": -inf}";
        let f = find_document(text).unwrap();
        assert!(f.repaired);
        assert_eq!(
            f.value,
            json!({"model_a": "/m/a\"b.apr", "p": "C:\\x", "v": "NaN", "w": "-inf"})
        );
    }

    #[test]
    fn nothing_in_plain_text() {
        assert!(find_document("error: nope\n").is_none());
        assert!(find_document("").is_none());
    }
}
