use crate::completion;
use crate::greedy::generate;
use crate::serving::{Kept, Session, apr_f32};
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

declare_check! {
    /// A greedy `/v1/completions` is the generation `/generate` gives (whose tokens SRV003
    /// holds against the oracle) and accounts for itself exactly: the same text,
    /// `completion_tokens` the number of tokens that generation has, `total_tokens` is
    /// prompt plus completion, and `finish_reason` is `length` when it used all of
    /// `max_tokens` and `stop` when it ended early. Billing, rate limits and retries are built
    /// on these numbers.
    pub Usage {
        code: "SRV019",
        name: "serve-usage-or-finish-wrong",
        suite: "serve",
        scope: Scope::ModelPrompt,
        summary: "usage and finish_reason of a greedy completion are exact",
    }
}

impl Check for Usage {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        crate::serving::outside_api_fails(judge(cx))
    }
}

fn judge(cx: &dyn Context) -> Result<Verdict, CheckError> {
    let session = Session::open(cx, apr_f32())?;
    let (client, mut transcript) = (session.client(), session.transcript());
    let prompt = cx.prompt()?;
    let n = cx.max_new_tokens();
    let generated = generate(&client, &mut transcript, prompt, n)?;
    let (_, completion) =
        completion::complete(&client, &mut transcript, &completion::body(&prompt.text, n))?;
    let finish = completion
        .choices
        .first()
        .and_then(|c| c.finish_reason.clone());
    let Some(usage) = completion.usage else {
        return Ok(Verdict::fail(
            Evidence::new(1, "completions"),
            "no usage in the completion".to_string(),
        ));
    };
    let mut problems = Vec::new();
    let generated_n = generated.tokens.len() as u64;
    // The same greedy request on both routes: /generate's tokens are judged against the
    // oracle (SRV003), so the completion's text must be theirs.
    let text = completion.choices.first().map_or("", |c| c.text.as_str());
    if text != generated.text {
        problems.push(format!(
            "the completion's text {text:?} is not the same greedy generation's {:?}",
            generated.text
        ));
    }
    if usage.completion_tokens != generated_n {
        problems.push(format!(
            "completion_tokens {} where the same greedy generation gives {generated_n}",
            usage.completion_tokens
        ));
    }
    if usage.total_tokens != usage.prompt_tokens + usage.completion_tokens {
        problems.push(format!(
            "total_tokens {} is not prompt {} + completion {}",
            usage.total_tokens, usage.prompt_tokens, usage.completion_tokens
        ));
    }
    let want = if usage.completion_tokens >= u64::from(n) {
        "length"
    } else {
        "stop"
    };
    if finish.as_deref() != Some(want) {
        problems.push(format!(
            "finish_reason {finish:?} after {} of {n} tokens (expected {want:?})",
            usage.completion_tokens
        ));
    }
    let message = if problems.is_empty() {
        format!(
            "usage {} + {} = {}, finish_reason {want:?}, as the generation was",
            usage.prompt_tokens, usage.completion_tokens, usage.total_tokens
        )
    } else {
        format!("{}{}", problems.join("; "), transcript.reproduce())
    };
    Ok(Verdict::judge(problems.is_empty(), Evidence::new(3, "usage fields"), message)
        .kept(&transcript, json!({ "usage": [usage.prompt_tokens, usage.completion_tokens, usage.total_tokens], "finish_reason": finish })))
}
