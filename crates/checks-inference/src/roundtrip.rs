use crate::generation::generate;
use serde_json::json;
use tmgt_check::outcome::TokenComparison;
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, Evidence, Quant, Scope, Verdict, declare_check,
};

declare_check! {
    /// APR -> GGUF -> APR is lossless at f32: the re-imported `.apr` generates exactly the
    /// tokens of the original. A difference is a conversion bug (tensor names, layouts,
    /// metadata or tokenizer lost in the round trip), independent of the oracle.
    pub RoundTrip {
        code: "RTP001",
        name: "gguf-roundtrip-changes-tokens",
        suite: "roundtrip",
        scope: Scope::ModelPrompt,
        summary: "APR -> GGUF -> APR generates identical tokens",
        // Two generations, one on the slower round-trip file.
        cost: 3,
    }
}

impl Check for RoundTrip {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let original = generate(cx, &cx.artifact(ArtifactKind::Apr(Quant::F32))?, false)?;
        let back = generate(cx, &cx.artifact(ArtifactKind::RoundTrip)?, false)?;
        // Stops written out (with the oracle's EOS), so two runs that stop at once agree.
        let oracle = cx.oracle()?;
        let trajectory = oracle.conventional().ok();
        let original_tokens = original.produced().with_stop(trajectory.as_ref());
        let back_tokens = back.produced().with_stop(trajectory.as_ref());
        let cmp = TokenComparison::new(&original_tokens, &back_tokens);
        if original_tokens.is_empty() {
            return Err(CheckError::NoEvidence(format!(
                "the original .apr generated no tokens (exit {})",
                original.exit_code
            )));
        }
        let message = match cmp.first_divergence {
            None => format!("round trip generates the same {} tokens", cmp.expected_len),
            Some(at) => format!(
                "round trip changes the output from step {at}: original {:?}, round trip {:?}",
                &original_tokens[at.min(original_tokens.len())..],
                &back_tokens[at.min(back_tokens.len())..]
            ),
        };
        Ok(Verdict::judge(
            cmp.exact(),
            Evidence::new(cmp.evidence(), "tokens"),
            message,
        )
        .with_facts(
            json!({ "original": original_tokens, "roundtrip": back_tokens, "comparison": cmp }),
        ))
    }
}
