use crate::judge::judge_prompt;
use crate::llama::generate_native;
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, NativeGguf, Scope, Verdict, declare_check,
};

declare_check! {
    /// llama.cpp encodes the prompt on its own F32 GGUF into the HF tokenizer's ids (a
    /// leading BOS the GGUF asks for aside: the oracle has a BOS-prefixed trajectory for it).
    /// Every llama.cpp token comparison rests on this; a difference here is a tokenizer
    /// conversion or pre-tokenizer problem, not a runtime one, so it is reported once here.
    pub TextPrompt {
        code: "LCT001",
        name: "llamacpp-tokenizes-prompt-differently",
        suite: "llamacpp-text",
        scope: Scope::ModelPrompt,
        summary: "llama.cpp's prompt ids on the native GGUF equal the HF tokenizer's",
    }
}

impl Check for TextPrompt {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let oracle = cx.oracle()?;
        let Ok(plain) = oracle.plain() else {
            return Ok(Verdict::skip(
                "the oracle records no prompt token ids (a reference oracle)",
            ));
        };
        let native = cx.artifact(ArtifactKind::Native(NativeGguf::F32))?;
        let generation = generate_native(cx, &native)?;
        let bos = oracle.with_bos().ok().and_then(|t| t.bos);
        Ok(judge_prompt(
            "the native F32 GGUF",
            plain.prompt_token_ids,
            bos,
            &generation.prompt_ids,
        ))
    }
}
