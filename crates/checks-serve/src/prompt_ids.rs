use crate::serving::{Kept, Session, apr_f32};
use apr_serve::api;
use serde_json::json;
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, Evidence, Scope, Verdict, declare_check,
};

declare_check! {
    /// apr serve encodes every text into HF's ids: `POST /tokenize` gives HF's ids of the
    /// prompts, the evaluation text and the stress text, and `/v1/completions` counts as many in
    /// `usage.prompt_tokens`. A server that encodes prompts differently from `apr run` and
    /// from the model's own tokenizer generates from other ids whatever its kernels do. The
    /// first difference is named with both pieces.
    pub PromptIdsApr {
        code: "SRV001",
        name: "serve-prompt-ids-differ-from-hf",
        suite: "serve",
        scope: Scope::Model,
        summary: "apr serve of the f32 .apr encodes every text into HF's ids",
    }
}

impl Check for PromptIdsApr {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        crate::serving::outside_api_fails(judge(cx))
    }
}

fn judge(cx: &dyn Context) -> Result<Verdict, CheckError> {
    judge_prompt_ids(cx, apr_f32(), "apr serve of the f32 .apr")
}

/// SRV001's judgement of the server of `kind`.
pub(crate) fn judge_prompt_ids(
    cx: &dyn Context,
    kind: ArtifactKind,
    what: &str,
) -> Result<Verdict, CheckError> {
    let Some((tokenizer, truths)) = checks_metadata::hf_texts(cx)? else {
        return Ok(Verdict::skip(
            "the model comes from the hub; tmgt holds encoders against the HF files of local models only",
        ));
    };
    let session = Session::open(cx, kind)?;
    let (client, mut transcript) = (session.client(), session.transcript());
    let (mut compared, mut problems, mut per_text) = (0usize, Vec::new(), Vec::new());
    for truth in &truths {
        let reply = client.post_json("/tokenize", &json!({ "text": truth.text }))?;
        transcript.keep(&reply.exchange);
        let served_ids = api::tokenized(&reply)?.value.token_ids;
        compared += truth.ids.len();
        if let Some(at) = checks_metadata::first_difference(&tokenizer, &served_ids, &truth.ids) {
            problems.push(format!("{}: {at}", truth.name));
        }
        // Completions count the prompt as they encoded it.
        if truth.name.starts_with("prompt") {
            let body = crate::completion::body(&truth.text, 1);
            let (_, completed) = crate::completion::complete(&client, &mut transcript, &body)?;
            match completed.usage {
                Some(u) if u.prompt_tokens == truth.ids.len() as u64 => {}
                Some(u) => problems.push(format!(
                    "{}: usage.prompt_tokens {} where HF has {} ids",
                    truth.name,
                    u.prompt_tokens,
                    truth.ids.len()
                )),
                None => problems.push(format!("{}: /v1/completions gives no usage", truth.name)),
            }
        }
        per_text
            .push(json!({ "text": truth.name, "hf": truth.ids.len(), "served": served_ids.len() }));
    }
    let message = if problems.is_empty() {
        format!(
            "{what}: every text ({} of them, {compared} ids) encodes into HF's ids, usage agreeing",
            truths.len()
        )
    } else {
        format!("{what}: {}", problems.join("; "))
    };
    Ok(
        Verdict::judge(problems.is_empty(), Evidence::new(compared, "ids"), message)
            .kept(&transcript, json!({ "texts": per_text })),
    )
}
