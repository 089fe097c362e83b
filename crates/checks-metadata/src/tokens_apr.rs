use crate::judge::one_at_a_time;
use crate::texts::{GgufTexts, first_difference, gguf_texts};
use apr_client::{Invocation, parse};
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

declare_check! {
    /// apr's own encoder (`apr tokenize encode`, the one `apr run` uses) gives each GGUF's
    /// prompts, evaluation text and stress text HF's ids. apr reports which path it took; a
    /// greedy fallback is named in the message. apr encodes GGUF files only, so an `.apr` is
    /// not judged here.
    pub TokensApr {
        code: "TKN002",
        name: "tokenizer-apr-differs-from-hf",
        suite: "tokenizer",
        scope: Scope::Model,
        summary: "apr's encoder gives each GGUF's texts HF's ids",
    }
}

impl Check for TokensApr {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let _one = one_at_a_time();
        let GgufTexts {
            source,
            truths,
            ggufs,
            missing,
        } = gguf_texts(cx)?;
        let mut compared = 0;
        let mut problems = Vec::new();
        let mut paths = Vec::new();
        for path in &ggufs {
            let name = path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            for truth in &truths {
                let captured = cx.apr(&Invocation::tokenize_encode(path, &truth.text)?)?;
                let encoded = match parse::tokenize_encode(&captured) {
                    Ok(reply) if reply.exit_code == 0 => reply.value,
                    Ok(reply) => {
                        problems.push(format!(
                            "{name}: {}: apr exited {}",
                            truth.name, reply.exit_code
                        ));
                        continue;
                    }
                    Err(e @ apr_client::AprError::Exit { .. }) => {
                        problems.push(format!("{name}: {}: apr refused: {e}", truth.name));
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                };
                compared += truth.ids.len();
                if !paths.contains(&encoded.path) {
                    paths.push(encoded.path.clone());
                }
                if let Some(d) = first_difference(source.tokenizer(), &encoded.ids, &truth.ids) {
                    problems.push(format!(
                        "{name}: {}: {d} (apr's path: {})",
                        truth.name, encoded.path
                    ));
                }
            }
        }
        let message = if problems.is_empty() {
            format!(
                "{} texts on {} GGUFs: every id is HF's ({compared} compared; apr's path: {})",
                truths.len(),
                ggufs.len(),
                paths.join(", ")
            )
        } else {
            tmgt_check::first_few(&problems, 3, "; ")
        };
        Ok(Verdict::judge(problems.is_empty(), Evidence::new(compared, "token ids"), message)
            .with_facts(serde_json::json!({ "files": ggufs, "apr_paths": paths, "problems": problems, "missing": missing })))
    }
}
