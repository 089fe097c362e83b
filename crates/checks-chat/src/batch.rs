use crate::cases;
use apr_client::Sampling;
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
            let Some(grafted) = cases::Grafted::of(cx, &template, &rendered)? else {
                continue;
            };
            let answers = grafted.batch(cx, &Sampling::default())?;
            for (conversation, _, oracle) in &rendered {
                let label = format!("{}/{conversation}", template.template.name);
                let Some(answer) = answers.get(*conversation) else {
                    departures.push(format!("{label}: no answer line"));
                    continue;
                };
                compared += 1;
                let got = answer.trim();
                let agrees = oracle.trajectory_saying(got).is_some();
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
