use crate::completion;
use crate::serving::{Kept, Session, apr_f32};
use apr_serve::api;
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

declare_check! {
    /// `stop` ends a completion where the stop sequence begins, given as an array and as a
    /// string (both legal in the OpenAI API): the text is the greedy text cut before the stop,
    /// `finish_reason` is `stop`, and `usage.completion_tokens` counts fewer tokens than the
    /// uncut completion (generation ended there, it was not cut afterwards).
    pub StopSequences {
        code: "SRV011",
        name: "serve-stop-sequence-mishandled",
        suite: "serve",
        scope: Scope::Model,
        summary: "stop sequences, as an array and as a string, end the completion where they begin",
    }
}

impl Check for StopSequences {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        crate::serving::outside_api_fails(judge(cx))
    }
}

fn judge(cx: &dyn Context) -> Result<Verdict, CheckError> {
    let session = Session::open(cx, apr_f32())?;
    let (client, mut transcript) = (session.client(), session.transcript());
    for prompt in cx.prompts() {
        let body = completion::body(&prompt.text, cx.max_new_tokens());
        let (_, whole) = completion::complete(&client, &mut transcript, &body)?;
        let text = whole
            .choices
            .first()
            .map(|c| c.text.clone())
            .unwrap_or_default();
        // The stop: the second word of the greedy text, with the space before it.
        let Some(at) = text
            .trim_start()
            .find(' ')
            .map(|i| i + text.len() - text.trim_start().len())
        else {
            continue;
        };
        let word: String = text[at + 1..]
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect();
        if word.is_empty() {
            continue;
        }
        let stop = format!(" {word}");
        let cut = &text[..text.find(&stop).unwrap_or(at)];
        let full_tokens = whole.usage.map_or(0, |u| u.completion_tokens);
        let mut problems = Vec::new();
        for (form, value) in [("an array", json!([stop])), ("a string", json!(stop))] {
            let mut asked = body.clone();
            asked["stop"] = value;
            let reply = client.post_json("/v1/completions", &asked)?;
            transcript.keep(&reply.exchange);
            if reply.status != 200 {
                problems.push(format!(
                    "stop as {form} is refused with {} ({})",
                    reply.status,
                    reply.body.chars().take(120).collect::<String>()
                ));
                continue;
            }
            let got = api::completion(&reply)?.value;
            let choice = got.choices.first();
            let got_text = choice.map(|c| c.text.as_str()).unwrap_or("");
            if got_text != cut {
                problems.push(format!(
                    "stop as {form}: text {got_text:?}, expected {cut:?}"
                ));
            }
            let finish = choice.and_then(|c| c.finish_reason.as_deref());
            if finish != Some("stop") {
                problems.push(format!(
                    "stop as {form}: finish_reason {finish:?}, expected \"stop\""
                ));
            }
            if let Some(u) = got.usage
                && full_tokens > 0
                && u.completion_tokens >= full_tokens
            {
                problems.push(format!(
                    "stop as {form}: usage counts {} completion tokens, as many as without the stop: the stop was applied after generating",
                    u.completion_tokens
                ));
            }
        }
        let facts = json!({ "prompt": prompt.name, "stop": stop, "greedy": text, "expected": cut });
        let message = if problems.is_empty() {
            format!(
                "`{}` with stop {stop:?}, as an array and as a string: {cut:?}, finish_reason stop, fewer tokens counted",
                prompt.name
            )
        } else {
            format!(
                "`{}` with stop {stop:?}: {}{}",
                prompt.name,
                problems.join("; "),
                transcript.reproduce()
            )
        };
        return Ok(Verdict::judge(
            problems.is_empty(),
            Evidence::new(2, "requests with a stop"),
            message,
        )
        .kept(&transcript, facts.clone()));
    }
    Err(CheckError::NoEvidence(
        "no prompt's greedy completion has a second word to stop at".into(),
    ))
}
