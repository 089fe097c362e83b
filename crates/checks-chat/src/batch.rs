use crate::cases;
use apr_client::{Invocation, parse};
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

declare_check! {
    /// `apr run --batch-jsonl`, apr's batch chat surface, answers every single-user-turn
    /// conversation on a GGUF carrying each of the model's chat templates with the text HF's
    /// rendering continues to (greedy, as many tokens as the chat oracles hold; the text as
    /// HF decodes it without special tokens, both trimmed, a BOS-prefixed run counting too).
    /// The same conversations CHT002 holds on `apr run --chat`: a departure here alone is the
    /// batch path's rendering.
    pub Batch {
        code: "CHT004",
        name: "batch-chat-differs",
        suite: "chat",
        scope: Scope::Model,
        summary: "apr run --batch-jsonl answers each templated conversation as HF continues it",
        cost: 3,
    }
}

impl Check for Batch {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let mut compared = 0usize;
        let mut departures = Vec::new();
        let mut judged = Vec::new();
        for template in cases::templates(cx)? {
            let rendered = cases::single_turns(&template);
            let Some((_, _, first)) = rendered.first() else {
                continue;
            };
            let gguf = cases::grafted(cx, &template)?;
            let prompts = gguf.with_extension("jsonl");
            let lines: Vec<(&str, &str)> = rendered.iter().map(|(c, t, _)| (*c, *t)).collect();
            cases::write_batch(&prompts, &lines)?;
            let tokens = u32::try_from(first.max_new_tokens).unwrap_or(u32::MAX);
            let invocation =
                Invocation::run_batch(&gguf, &prompts, tokens, &apr_client::Sampling::default())?;
            let answers = parse::run_batch(&*cx.apr(&invocation)?)?.value;
            for (conversation, _, oracle) in &rendered {
                let label = format!("{}/{conversation}", template.template.name);
                let Some(answer) = answers.iter().find(|a| a.task_id == *conversation) else {
                    departures.push(format!("{label}: no answer line"));
                    continue;
                };
                compared += 1;
                let got = answer.text.as_deref().unwrap_or_default().trim();
                let hf = [
                    Some(oracle.text.as_str()),
                    oracle.bos.as_ref().map(|b| b.text.as_str()),
                ];
                let agrees = hf.iter().flatten().any(|want| want.trim() == got);
                if !agrees {
                    departures.push(format!(
                        "{label}: batch answers {got:?} where HF's rendering continues {:?}",
                        oracle.text.trim()
                    ));
                }
                judged.push(json!({ "case": label, "equal": agrees }));
            }
        }
        if compared == 0 {
            return Err(CheckError::NoEvidence(
                "apr's batch answered no single-user-turn conversation".into(),
            ));
        }
        let message = if departures.is_empty() {
            format!("apr's batch answers all {compared} conversations as HF continues them")
        } else {
            format!(
                "{} of {} batch answers depart from HF's continuation of its rendering: {}",
                departures.len(),
                judged.len(),
                tmgt_check::first_few(&departures, 3, "; ")
            )
        };
        Ok(Verdict::judge(
            departures.is_empty(),
            Evidence::new(compared, "answers"),
            message,
        )
        .with_facts(json!({ "conversations": judged })))
    }
}
