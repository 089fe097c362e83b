use crate::judge::one_at_a_time;
use crate::texts::{GgufTexts, first_difference, gguf_texts};
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

declare_check! {
    /// llama.cpp's tokenizer of each GGUF (its vocabulary, merges, pre-tokenizer and
    /// special-token flags as the file states them) encodes the prompts, the evaluation text
    /// and the stress text into HF's ids, with and without the special tokens a prompt gets.
    /// A file whose metadata misleads its tokenizer makes every GGUF runtime see other input.
    pub TokensLlamaCpp {
        code: "TKN001",
        name: "tokenizer-llamacpp-differs-from-hf",
        suite: "tokenizer",
        scope: Scope::Model,
        summary: "llama.cpp's tokenizer of each GGUF gives HF's ids",
    }
}

impl Check for TokensLlamaCpp {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let _one = one_at_a_time();
        let GgufTexts {
            source,
            truths,
            ggufs,
            missing,
        } = gguf_texts(cx)?;
        let texts: Vec<&str> = truths.iter().map(|t| t.text.as_str()).collect();
        let mut compared = 0;
        let mut problems = Vec::new();
        for path in &ggufs {
            let name = path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            let encoded = llamacpp_runtime::tokenize(path, &texts).map_err(|e| {
                CheckError::llama(format!("the vocabulary of {}", path.display()), e)
            })?;
            for (truth, got) in truths.iter().zip(&encoded) {
                compared += truth.ids.len() + truth.with_specials.len();
                if let Some(d) = first_difference(source.tokenizer(), &got.plain, &truth.ids) {
                    problems.push(format!("{name}: {}: {d}", truth.name));
                } else if let Some(d) =
                    first_difference(source.tokenizer(), &got.with_specials, &truth.with_specials)
                {
                    problems.push(format!(
                        "{name}: {} as a prompt (with special tokens): {d}",
                        truth.name
                    ));
                }
            }
        }
        let message = if problems.is_empty() {
            format!(
                "{} texts on {} GGUFs: every id is HF's ({compared} compared)",
                truths.len(),
                ggufs.len()
            )
        } else {
            tmgt_check::first_few(&problems, 3, "; ")
        };
        Ok(Verdict::judge(
            problems.is_empty(),
            Evidence::new(compared, "token ids"),
            message,
        )
        .with_facts(
            serde_json::json!({ "files": ggufs, "problems": problems, "missing": missing }),
        ))
    }
}
