use crate::{LongThresholds, oracles};
use apr_client::{Invocation, parse};
use checks_inference::PerplexityThresholds;
use serde_json::json;
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, Evidence, Scope, Verdict, declare_check,
};

declare_check! {
    /// `apr eval --max-tokens N` of the long text on the GGUF, for N a quarter, a half and all
    /// of the longest prefix (`[thresholds.long] max_prefix`), against HF's per-token negative
    /// log-likelihood of the same ids (no BOS, as `apr eval` encodes; `apr tokenize encode`
    /// first shows apr scores HF's ids, else the failure is the tokenizer's). From the cumulative
    /// cross-entropies the per-segment ones follow (positions 1 to N/4, N/4 to N/2, N/2 to
    /// N): each segment's perplexity ratio must stay within `[thresholds.perplexity]
    /// max_ratio`, and the message says from which positions apr departs.
    pub EvalPositions {
        code: "LNG004",
        name: "long-eval-departs-by-position",
        suite: "long",
        scope: Scope::Model,
        summary: "apr eval's perplexity of the long text by position matches HF's",
        cost: 8,
    }
}

impl Check for EvalPositions {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let oracle = oracles::nll(cx)?;
        let limit = cx.thresholds().get::<LongThresholds>()?.max_prefix as usize;
        let max_ratio = cx.thresholds().get::<PerplexityThresholds>()?.max_ratio;
        let top = limit.min(oracle.token_ids.len());
        let mut points: Vec<usize> = [top / 4, top / 2, top]
            .into_iter()
            .filter(|n| *n >= 2)
            .collect();
        points.dedup();
        let gguf = cx.artifact(ArtifactKind::Gguf)?;
        // Other ids would make every segment differ, at no position in particular.
        let captured = cx.apr(&Invocation::tokenize_encode(&gguf, &oracle.text)?)?;
        let encoded = parse::tokenize_encode(&captured)?.value;
        let got = &encoded.ids[..encoded.ids.len().min(top)];
        if let Some(difference) =
            checks_metadata::first_difference_for_model(cx, got, &oracle.token_ids[..top])?
        {
            let agree = got
                .iter()
                .zip(&oracle.token_ids)
                .take_while(|(a, b)| a == b)
                .count();
            return Ok(Verdict::fail(
                Evidence::new(agree + 1, "ids"),
                format!(
                    "apr's encoder ({}) gives the long text {difference}: apr eval would score \
                     other tokens than HF's (a tokenizer fault, not a position one)",
                    encoded.path
                ),
            ));
        }
        let mut scored = Vec::new();
        for &n in &points {
            let captured = cx.apr(&Invocation::eval_text(&gguf, &oracle.text, n as u32)?)?;
            let reply = parse::eval(&captured)?;
            let out = reply.value;
            if out.tokens_evaluated != n as u64 {
                return Ok(Verdict::fail(
                    Evidence::new(n, "tokens"),
                    format!(
                        "apr eval --max-tokens {n} scored {} tokens of the long text: it splits \
                         or cuts the text otherwise than HF's {} ids",
                        out.tokens_evaluated,
                        oracle.token_ids.len()
                    ),
                ));
            }
            let want = oracle
                .cross_entropy(n)
                .ok_or_else(|| CheckError::NoEvidence(format!("no HF score of {n} tokens")))?;
            scored.push((n, out.cross_entropy, want));
        }
        let segments = segments(&scored);
        let departs = segments
            .iter()
            .find(|s| (s.apr - s.hf).abs() > max_ratio.ln());
        let listed: Vec<String> = segments
            .iter()
            .map(|s| {
                format!(
                    "positions {}-{}: apr {:.4}, HF {:.4} nats",
                    s.from, s.to, s.apr, s.hf
                )
            })
            .collect();
        let message = match departs {
            None => format!(
                "apr eval agrees with HF at every position up to {top}: {} (segment perplexity \
                 ratios within {max_ratio})",
                listed.join("; ")
            ),
            Some(s) => format!(
                "apr eval departs from HF from positions {}-{} on (segment perplexity ratio \
                 {:.4}, allowed {max_ratio}): {}",
                s.from,
                s.to,
                (s.apr - s.hf).exp(),
                listed.join("; ")
            ),
        };
        Ok(Verdict::judge(
            departs.is_none(),
            Evidence::new(top - 1, "predictions"),
            message,
        )
        .with_facts(json!({ "segments": segments, "points": points })))
    }
}

/// Mean negative log-likelihood of the predictions between two cut points.
#[derive(Debug, Clone, serde::Serialize)]
struct Segment {
    from: usize,
    to: usize,
    apr: f64,
    hf: f64,
}

/// Per-segment means from cumulative ones: `(n, apr, hf)` means over the first `n - 1`
/// predictions, ascending in `n`.
fn segments(scored: &[(usize, f64, f64)]) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut before = (1usize, 0.0f64, 0.0f64);
    for &(n, apr, hf) in scored {
        let count = (n - 1) as f64;
        let prior = (before.0 - 1) as f64;
        let span = count - prior;
        out.push(Segment {
            from: before.0,
            to: n - 1,
            apr: (apr * count - before.1 * prior) / span,
            hf: (hf * count - before.2 * prior) / span,
        });
        before = (n, apr, hf);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_undo_the_running_means() {
        // Predictions 1..=3 score 1 nat each and 4..=7 score 2: means 1 over 3, 11/7 over 7.
        let s = segments(&[(4, 1.0, 1.0), (8, 11.0 / 7.0, 1.0)]);
        assert_eq!((s[0].from, s[0].to), (1, 3));
        assert_eq!((s[1].from, s[1].to), (4, 7));
        assert!((s[0].apr - 1.0).abs() < 1e-12);
        assert!((s[1].apr - 2.0).abs() < 1e-12, "{}", s[1].apr);
        assert!((s[1].hf - 1.0).abs() < 1e-12);
    }
}
