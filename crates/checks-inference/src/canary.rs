use crate::generation::generate;
use serde_json::json;
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, Evidence, Quant, Scope, Verdict, declare_check,
};

declare_check! {
    /// The Int8 `.apr` decodes to exactly the oracle's text: the reference project's canary,
    /// the quickest sign that a conversion still says the same thing. apr trims the text it
    /// prints, so the oracle's text is trimmed the same way before comparing.
    pub Canary {
        code: "CAN001",
        name: "int8-text-differs",
        suite: "canary",
        scope: Scope::ModelPrompt,
        summary: "Int8 decoded text equals the oracle's text exactly",
    }
}

impl Check for Canary {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        if !cx.model()?.quants.contains(&Quant::Int8) {
            return Ok(Verdict::skip("the model has no int8 level in suites.toml"));
        }
        let oracle = cx.oracle()?;
        let model = cx.artifact(ArtifactKind::Apr(Quant::Int8))?;
        let generation = generate(cx, &model, false)?;
        let expected = oracle.text.trim();
        let evidence = Evidence::new(
            expected
                .chars()
                .count()
                .max(generation.text.chars().count()),
            "characters",
        );
        let same = generation.text == expected;
        let message = if same {
            format!(
                "Int8 text equals the oracle's ({} characters)",
                expected.chars().count()
            )
        } else {
            let at = expected
                .chars()
                .zip(generation.text.chars())
                .position(|(a, b)| a != b)
                .unwrap_or(
                    expected
                        .chars()
                        .count()
                        .min(generation.text.chars().count()),
                );
            format!(
                "Int8 text differs from character {at}: oracle {expected:?}, apr {:?}",
                generation.text
            )
        };
        Ok(Verdict::judge(same, evidence, message)
            .with_details(json!({ "oracle_text": expected, "apr_text": generation.text })))
    }
}
