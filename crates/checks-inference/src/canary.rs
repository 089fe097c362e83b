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
        tmgt_check::require_level(cx, Quant::Int8)?;
        let oracle = cx.oracle()?;
        let model = cx.artifact(ArtifactKind::Apr(Quant::Int8))?;
        let generation = generate(cx, &model, false)?;
        let expected = oracle.text.trim();
        // Where the oracle stops at EOS, where the text ends is evidence too: an empty
        // completion that stops where the oracle stops says the same thing.
        let oracle_stops = oracle.plain().ok().and_then(|t| t.stopped_at()).is_some();
        let evidence = Evidence::new(
            expected
                .chars()
                .count()
                .max(generation.text.chars().count())
                + usize::from(oracle_stops),
            if oracle_stops {
                "characters and the end of text"
            } else {
                "characters"
            },
        );
        let same_stop = !oracle_stops || generation.stopped;
        let same = generation.text == expected && same_stop;
        let message = if same {
            format!(
                "Int8 text equals the oracle's ({} characters{})",
                expected.chars().count(),
                if oracle_stops { ", then EOS" } else { "" }
            )
        } else if generation.text == expected {
            format!(
                "Int8 text equals the oracle's {:?} but apr did not stop there as the oracle does",
                expected
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
            .with_facts(json!({ "oracle_text": expected, "apr_text": generation.text })))
    }
}
