use crate::{judge, oracles};
use tmgt_check::{ArtifactKind, Check, CheckError, Context, Scope, Verdict, declare_check};

declare_check! {
    /// apr on the GGUF continues the long-range copy prompt (48 words of the long text in a
    /// seeded order, a newline, the first 8 of them again) as HF does. A model that copies
    /// continues with the rest of the list, which anyone can read; the right answer must be
    /// reached by attending back across the whole list, so a position or cache error shows at
    /// once. The message says whether HF itself copies.
    pub CopyGguf {
        code: "LNG003",
        name: "long-copy-gguf-diverges",
        suite: "long",
        scope: Scope::Model,
        summary: "apr continues a long-range copy prompt on the GGUF as HF does",
    }
}

impl Check for CopyGguf {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let oracle = oracles::copy(cx)?;
        let gguf = cx.artifact(ArtifactKind::Gguf)?;
        let verdict = judge::continuation(cx, "copy prompt", &gguf, &oracle)?;
        let expected = copy_continuation(&oracle.path)?;
        let copies = !expected.is_empty() && {
            let words: Vec<&str> = expected.split_whitespace().take(4).collect();
            oracle.text.split_whitespace().take(4).eq(words)
        };
        Ok(Verdict {
            message: format!(
                "{} (HF {} the list: it continues {:?}, the list goes on {:?})",
                verdict.message,
                if copies { "copies" } else { "does not copy" },
                first_words(&oracle.text),
                first_words(&expected),
            ),
            ..verdict
        })
    }
}

/// What a model that copies continues with, as the oracle records it.
fn copy_continuation(path: &std::path::Path) -> Result<String, CheckError> {
    let text = std::fs::read_to_string(path).map_err(|e| CheckError::file(path, e))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| CheckError::file(path, e))?;
    json["copy_continuation"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| CheckError::file(path, "no copy_continuation"))
}

fn first_words(text: &str) -> String {
    text.split_whitespace()
        .take(6)
        .collect::<Vec<_>>()
        .join(" ")
}
