use crate::draw::draw;
use apr_client::{Real, Sampling};
use checks_inference::judge_gguf_run;
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Status, Verdict, declare_check};

declare_check! {
    /// apr's repetition penalty, greedy (`--repeat-penalty P`, its default window of 64
    /// covering the prompt and every generated token, as HF's covers the whole sequence), gives
    /// HF's `generate(repetition_penalty=P)` continuation: tokens judged as the inference
    /// suites judge them, and the chosen tokens' log-probs, which both report after the
    /// penalty, within `[thresholds.runtime]`. Each penalty of the model's entry (`penalties`:
    /// 1.3 penalizes repeats through the positive-logit branch, 0.8 favours them through both).
    pub Penalty {
        code: "SMP004",
        name: "repetition-penalty-differs-from-hf",
        suite: "sampling",
        scope: Scope::ModelPrompt,
        summary: "apr's repetition penalty gives HF's penalized greedy continuation",
        cost: 2,
    }
}

impl Check for Penalty {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let model = cx.model()?;
        if model.penalties.is_empty() {
            return Err(CheckError::OutsideEntry(format!(
                "{} lists no repetition penalties (`penalties`)",
                model.name
            )));
        }
        let prompt = cx.prompt()?;
        let mut evidence = 0u64;
        let mut failures = Vec::new();
        let mut outcomes = Vec::new();
        for &p in &model.penalties {
            let dir = tmgt_oracle::penalty_dir(&model.oracle_dir, p);
            let oracle = tmgt_oracle::load(&dir, &prompt.name).map_err(|e| CheckError::Input {
                what: format!("the repetition-penalty oracle of {} at {p}", model.name),
                reason: format!("{e}; make it with `tmgt oracle {}`", model.name),
            })?;
            if let Some(folder) = model.local_dir() {
                oracle.verify_model(folder)?;
            }
            let flags = Sampling {
                temperature: Some(Real(0.0)),
                repeat_penalty: Some(Real(p)),
                ..Sampling::default()
            };
            let tokens = u32::try_from(oracle.max_new_tokens).unwrap_or(u32::MAX);
            let generation = draw(cx, &cx.prompt()?.text, flags, tokens, true)?;
            let fed = generation.prompt_ids.clone().unwrap_or_default();
            let Some(trajectory) = oracle.trajectory_for_prompt(&fed) else {
                return Ok(Verdict::skip(format!(
                    "apr feeds the prompt as {fed:?}, which matches no trajectory of the \
                     oracle: the prompt checks judge the encoding"
                )));
            };
            let label = format!("repetition penalty {p}");
            let verdict = judge_gguf_run(cx, &label, &trajectory, generation)?;
            evidence += verdict.evidence.count;
            if verdict.status == Status::Fail {
                failures.push(verdict.message.clone());
            }
            outcomes.push(
                json!({ "penalty": p, "verdict": verdict.status, "message": verdict.message }),
            );
        }
        let message = if failures.is_empty() {
            format!(
                "apr's penalized greedy continuation is HF's at {}",
                model
                    .penalties
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" and ")
            )
        } else {
            failures.join("; ")
        };
        Ok(Verdict::judge(
            failures.is_empty(),
            Evidence::new(evidence, "tokens and log-probs"),
            message,
        )
        .with_facts(json!({ "penalties": outcomes })))
    }
}
