use crate::judge::judge_prompt;
use crate::llama::{generate, inspect};
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, NativeGguf, Scope, Status, Verdict, declare_check,
};

declare_check! {
    /// llama.cpp, reading the tokenizer apr wrote into its GGUF (vocabulary, merges,
    /// pre-tokenizer, special ids), encodes the prompt into the HF tokenizer's ids. A GGUF
    /// whose tokenizer metadata is wrong loads fine and then feeds every other runtime a
    /// different prompt: a conversion bug only a second runtime shows.
    pub LoadsAprPrompt {
        code: "LLA002",
        name: "llamacpp-tokenizes-apr-gguf-differently",
        suite: "llamacpp-loads-apr-gguf",
        scope: Scope::ModelPrompt,
        summary: "llama.cpp encodes the prompt from apr's GGUF as the HF tokenizer does",
    }
}

impl Check for LoadsAprPrompt {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let oracle = cx.oracle()?;
        let Ok(plain) = oracle.plain() else {
            return Ok(Verdict::skip(
                "the oracle records no prompt token ids (a reference oracle)",
            ));
        };
        let gguf = cx.artifact(ArtifactKind::Gguf)?;
        let generation = match generate(cx, &gguf)? {
            Ok(g) => g,
            Err(reason) => {
                return Ok(Verdict::skip(format!(
                    "llama.cpp cannot run apr's GGUF (LLA001 reports it): {reason}"
                )));
            }
        };
        let bos = oracle.with_bos().ok().and_then(|t| t.bos);
        let verdict = judge_prompt(
            "apr's F32 GGUF",
            plain.prompt_token_ids,
            bos,
            &generation.prompt_ids,
        );
        if verdict.status != Status::Fail {
            return Ok(verdict);
        }
        // Name the pre-tokenizer each GGUF declares: a wrong one splits text differently.
        let pre = |path: &std::path::Path| {
            inspect(path)
                .ok()
                .and_then(Result::ok)
                .map(|i| i.tokenizer_pre.clone())
        };
        let apr_pre = pre(&gguf).unwrap_or_default();
        let native_pre = cx
            .artifact(ArtifactKind::Native(NativeGguf::F32))
            .ok()
            .and_then(|p| pre(&p));
        let hint = match native_pre {
            Some(native) if native != apr_pre => format!(
                "; apr's GGUF declares pre-tokenizer `{apr_pre}`, llama.cpp's own converter writes `{native}` for this tokenizer"
            ),
            _ => format!("; apr's GGUF declares pre-tokenizer `{apr_pre}`"),
        };
        let message = format!("{}{hint}", verdict.message);
        Ok(Verdict::fail(verdict.evidence, message).with_details(verdict.details))
    }
}
