use crate::cases;
use apr_client::RunRequest;
use checks_inference::{APR_TOP_K, judge_gguf_run, run_generation};
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Status, Verdict, declare_check};
use tmgt_oracle::ChatCase;

declare_check! {
    /// apr continues every single-user-turn conversation rendered by each of the model's chat
    /// templates (`apr run --chat`, greedy, as many tokens as the chat oracles hold) as HF
    /// continues its own rendering: tokens judged as the inference suites judge them (a flip
    /// below the tie margin is noise), chosen-token log-probs within `[thresholds.runtime]`. A
    /// conversation whose rendered ids already differ (CHT001) is not judged here.
    pub Continuation {
        code: "CHT002",
        name: "chat-continuation-diverges",
        suite: "chat",
        scope: Scope::Model,
        summary: "apr continues each templated conversation as HF does",
        cost: 4,
    }
}

impl Check for Continuation {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let mut evidence = 0u64;
        let mut failures = Vec::new();
        let mut judged = Vec::new();
        let mut not_judged = Vec::new();
        for template in cases::templates(cx)? {
            let gguf = cases::grafted(cx, &template)?;
            for case in &template.cases {
                let (ChatCase::Rendered(rendered), Some(content)) = (case, case.single_user_turn())
                else {
                    continue;
                };
                let label = format!("{}/{}", template.template.name, case.conversation());
                let oracle = &rendered.oracle;
                let invocation = RunRequest::new(&gguf, content)
                    .chat(true)
                    .max_tokens(u32::try_from(oracle.max_new_tokens).unwrap_or(u32::MAX))
                    .logprobs(Some(APR_TOP_K))
                    .build()?;
                let generation = run_generation(cx, &invocation, true)?;
                let fed = generation.prompt_ids.clone().unwrap_or_default();
                let Some(trajectory) = oracle.trajectory_for_prompt(&fed) else {
                    not_judged.push(label);
                    continue;
                };
                let verdict = judge_gguf_run(cx, &label, &trajectory, generation)?;
                evidence += verdict.evidence.count;
                if verdict.status == Status::Fail {
                    failures.push(verdict.message.clone());
                }
                judged.push(json!({ "case": label, "verdict": verdict.status }));
            }
        }
        let skipped = if not_judged.is_empty() {
            String::new()
        } else {
            format!(
                "; {} not judged, their rendered ids differ (CHT001): {}",
                not_judged.len(),
                tmgt_check::first_few(&not_judged, 4, ", ")
            )
        };
        if judged.is_empty() {
            return Ok(Verdict::skip(format!(
                "no templated conversation was fed as HF renders it{skipped}"
            )));
        }
        let message = if failures.is_empty() {
            format!(
                "apr continues all {} judged conversations as HF does{skipped}",
                judged.len()
            )
        } else {
            format!(
                "{} of {} judged conversations depart: {}{skipped}",
                failures.len(),
                judged.len(),
                tmgt_check::first_few(&failures, 3, "; ")
            )
        };
        Ok(Verdict::judge(
            failures.is_empty(),
            Evidence::new(evidence, "tokens and log-probs"),
            message,
        )
        .with_facts(json!({ "conversations": judged, "not_judged": not_judged })))
    }
}
