use crate::completion;
use crate::serving::{Kept, Session, apr_f32, first_prompt};
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

declare_check! {
    /// `logprobs` on `/v1/completions` is honoured (a `logprobs` object with one token and one
    /// log-prob per completion token) or refused with a 4xx, never silently dropped: a client
    /// that asked for log-probs and got a plain 200 computes nothing, or crashes, without
    /// knowing why.
    pub CompletionLogprobs {
        code: "SRV018",
        name: "serve-completion-logprobs-dropped",
        suite: "serve",
        scope: Scope::Model,
        summary: "logprobs on /v1/completions is honoured or refused, never dropped",
    }
}

impl Check for CompletionLogprobs {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        crate::serving::outside_api_fails(judge(cx))
    }
}

fn judge(cx: &dyn Context) -> Result<Verdict, CheckError> {
    let session = Session::open(cx, apr_f32())?;
    let (client, mut transcript) = (session.client(), session.transcript());
    let prompt = first_prompt(cx)?;
    let mut body = completion::body(&prompt.text, 8);
    body["logprobs"] = json!(2);
    let reply = client.post_json("/v1/completions", &body)?;
    transcript.keep(&reply.exchange);
    let evidence = Evidence::new(1, "requests");
    let facts = json!({});
    if (400..500).contains(&reply.status) {
        return Ok(
            Verdict::pass(evidence, format!("logprobs refused with {}", reply.status))
                .kept(&transcript, facts.clone()),
        );
    }
    let body = reply.json()?;
    let logprobs = &body["choices"][0]["logprobs"];
    let completion = body["usage"]["completion_tokens"].as_u64();
    let tokens = logprobs["tokens"].as_array().map(Vec::len);
    let values = logprobs["token_logprobs"].as_array().map(Vec::len);
    Ok(match (reply.status, tokens, values) {
        (200, Some(t), Some(v)) if Some(t as u64) == completion && t == v => {
            Verdict::pass(evidence, format!("logprobs honoured: {t} tokens with their log-probs")).kept(&transcript, facts.clone())
        }
        (200, None, _) | (200, _, None) => Verdict::fail(
            evidence,
            format!("logprobs 2 answered 200 without a logprobs object: dropped silently{}", transcript.reproduce()),
        )
        .kept(&transcript, facts.clone()),
        (status, t, v) => Verdict::fail(
            evidence,
            format!("logprobs 2 answered {status} with {t:?} tokens and {v:?} log-probs for {completion:?} completion tokens"),
        )
        .kept(&transcript, facts.clone()),
    })
}
