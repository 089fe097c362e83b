use crate::oracles;
use apr_client::parse::FinishReason;
use apr_client::{Captured, Invocation, Termination, parse};
use serde_json::json;
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, Evidence, Quant, Scope, Verdict, declare_check,
};
use tmgt_oracle::BoundaryCase;

declare_check! {
    /// The edge of the model's declared context C, with prompts of exactly C-33, C-2, C-1, C
    /// and C+1 tokens (a BOS makes C-2 of them C-1 ids). `apr run` on the GGUF must generate min(32, C - p) tokens for a prompt of
    /// p ids it fed (BOS included), ending with `finish_reason` "length" where the context cut
    /// it short, and refuse a prompt of C or more ids with an error, never a panic or a silent
    /// truncation. `apr eval` of C+1 tokens must refuse too, on the GGUF and the f32 `.apr`:
    /// scoring past the context reads positions the model was never given.
    pub Boundary {
        code: "LNG005",
        name: "context-boundary-mishandled",
        suite: "long",
        scope: Scope::Model,
        summary: "apr generates up to the declared context and refuses past it, without panicking",
        cost: 4,
    }
}

impl Check for Boundary {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let Some(oracle) = oracles::boundary(cx)? else {
            return Err(CheckError::NotApplicable(format!(
                "{}'s declared context is longer than the long text: no prompt reaches it",
                cx.model()?.name
            )));
        };
        let context = oracle.context;
        let gguf = cx.artifact(ArtifactKind::Gguf)?;
        let budget = cx.max_new_tokens();
        let mut cases = Vec::new();
        // How many ids apr adds to a prompt (a BOS), read from the first run it answers.
        let mut added: Option<usize> = None;
        for case in &oracle.cases {
            let captured = cx.apr(&Invocation::run(&gguf, &case.prompt, budget, Some(1))?)?;
            let (ok, said) = judge_run(&captured, case, context, budget as usize, &mut added)?;
            cases.push(json!({ "run": case.tokens, "ok": ok, "outcome": said }));
        }
        let past = oracle
            .cases
            .iter()
            .find(|c| c.tokens > context)
            .ok_or_else(|| CheckError::NoEvidence("no case past the context".into()))?;
        let mut files = vec![("GGUF", gguf.clone())];
        // An entry checked as a ready-made file has no .apr of tmgt's making: its GGUF alone.
        match cx.artifact(ArtifactKind::Apr(Quant::F32)) {
            Ok(apr) => files.push(("f32 .apr", apr)),
            Err(CheckError::OutsideEntry(_)) => {}
            Err(e) => return Err(e),
        }
        for (label, file) in files {
            let eval = Invocation::eval_text(&file, &past.prompt, past.tokens as u32 + 10)?;
            let captured = cx.apr(&eval)?;
            let (ok, said) = judge_eval(&captured, past.tokens, context)?;
            cases.push(json!({ "eval": label, "ok": ok, "outcome": said }));
        }
        let failed: Vec<String> = cases
            .iter()
            .filter(|c| c["ok"] == false)
            .map(describe)
            .collect();
        let message = if failed.is_empty() {
            format!(
                "context {context}: {}",
                cases.iter().map(describe).collect::<Vec<_>>().join("; ")
            )
        } else {
            format!(
                "context {context}: {} of {} cases mishandled: {}",
                failed.len(),
                cases.len(),
                failed.join("; ")
            )
        };
        Ok(Verdict::judge(
            failed.is_empty(),
            Evidence::new(cases.len(), "cases"),
            message,
        )
        .with_facts(json!({ "context": context, "cases": cases })))
    }
}

fn describe(case: &serde_json::Value) -> String {
    let what = match (case["run"].as_u64(), case["eval"].as_str()) {
        (Some(n), _) => format!("run of {n} tokens"),
        (_, Some(file)) => format!("eval past the context on the {file}"),
        _ => "case".into(),
    };
    format!("{what}: {}", case["outcome"].as_str().unwrap_or_default())
}

/// A crash, a panic or a hang, in words; `None` when apr ended on its own without one.
fn crashed(captured: &Captured) -> Result<Option<String>, CheckError> {
    let stderr = captured.stderr_text();
    let panic = stderr
        .lines()
        .find(|l| l.contains("panicked at"))
        .map(str::trim);
    Ok(match captured.termination {
        Termination::Cancelled => return Err(CheckError::Interrupted),
        Termination::Exited(101) => Some(format!("panicked: {}", panic.unwrap_or("exit 101"))),
        Termination::Exited(_) => panic.map(|p| format!("panicked: {p}")),
        Termination::Signaled(signal) => Some(format!("killed by signal {signal}")),
        Termination::TimedOut(after) => Some(format!("no answer within {}s", after.as_secs())),
        Termination::OutputLimit(bytes) => Some(format!("flooded {bytes} bytes of output")),
    })
}

/// The last non-empty line apr wrote on stderr.
fn last_words(captured: &Captured) -> String {
    captured
        .stderr_text()
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("nothing on stderr")
        .trim()
        .to_string()
}

/// One `apr run` of `case` against what a context of `context` allows.
fn judge_run(
    captured: &Captured,
    case: &BoundaryCase,
    context: usize,
    budget: usize,
    added: &mut Option<usize>,
) -> Result<(bool, String), CheckError> {
    if let Some(crash) = crashed(captured)? {
        return Ok((false, crash));
    }
    let code = captured.exit_code().unwrap_or(-1);
    // A run that generated prints its document whatever its exit (apr exits 8 for a completion
    // that trims to empty text); without one, apr refused.
    let Some(out) = parse::run(captured)
        .ok()
        .map(|reply| reply.value)
        .filter(|out| out.logprobs.is_some())
    else {
        let fed = case.tokens + added.unwrap_or(0);
        let refusal = format!("refused (exit {code}): {}", last_words(captured));
        return Ok(if code != 0 && fed >= context {
            (true, refusal)
        } else {
            (
                false,
                format!("{refusal}, though its {fed} ids leave room in the context"),
            )
        });
    };
    let fed = out
        .logprobs
        .as_ref()
        .map(|lp| lp.prompt_token_ids.len())
        .ok_or_else(|| CheckError::Schema {
            command: "run --logprobs 1".into(),
            detail: "no prompt_token_ids".into(),
        })?;
    added.get_or_insert(fed.saturating_sub(case.tokens));
    let generated = out.tokens.len();
    if fed >= context {
        return Ok((
            false,
            format!(
                "answered a prompt of {fed} ids with {generated} tokens (exit {code}): at or past \
                 the context, where it must refuse"
            ),
        ));
    }
    let room = context - fed;
    let want = budget.min(room);
    let stopped = out.finish_reason == Some(FinishReason::Stop);
    let reason = match &out.finish_reason {
        Some(FinishReason::Stop) => "stop".to_string(),
        Some(FinishReason::Length) => "length".to_string(),
        Some(FinishReason::Other(other)) => other.clone(),
        None => "none".to_string(),
    };
    let exit = if code == 0 {
        String::new()
    } else {
        format!(", exit {code} ({})", last_words(captured))
    };
    let said = format!(
        "{fed} ids fed, {generated} tokens generated (room for {room}), finish_reason {reason}{exit}"
    );
    let right_count = generated == want || (stopped && generated < want);
    let right_reason = stopped || out.finish_reason == Some(FinishReason::Length);
    Ok(if right_count && right_reason {
        (true, said)
    } else {
        (false, format!("{said}: {want} expected"))
    })
}

/// One `apr eval` of `tokens` tokens, more than `context`.
fn judge_eval(
    captured: &Captured,
    tokens: usize,
    context: usize,
) -> Result<(bool, String), CheckError> {
    if let Some(crash) = crashed(captured)? {
        return Ok((false, crash));
    }
    let code = captured.exit_code().unwrap_or(-1);
    if code != 0 {
        return Ok((
            true,
            format!("refused (exit {code}): {}", last_words(captured)),
        ));
    }
    let scored = parse::eval(captured)
        .map(|r| r.value.tokens_evaluated.to_string())
        .unwrap_or_else(|_| "some".into());
    Ok((
        false,
        format!(
            "scored {scored} of {tokens} tokens (exit 0), past a context of {context}, without a word"
        ),
    ))
}
