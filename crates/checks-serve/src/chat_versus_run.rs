use crate::chat::{ask, body};
use crate::serving::{Kept, Session, apr_f32};
use apr_client::{RunRequest, parse};
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

declare_check! {
    /// A chat through apr serve (`/v1/chat/completions`, one user turn, greedy) generates the
    /// tokens `apr run --chat` generates on the same f32 `.apr`: both apply the model's chat
    /// template to the same conversation. Where they differ the message says how many prompt
    /// tokens each counted, which tells a template difference from a decoding one.
    pub ChatVersusRun {
        code: "SRV008",
        name: "serve-chat-differs-from-apr-run",
        suite: "serve",
        scope: Scope::ModelPrompt,
        summary: "a greedy chat through apr serve generates what apr run --chat does",
    }
}

impl Check for ChatVersusRun {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        crate::serving::outside_api_fails(judge(cx))
    }
}

fn judge(cx: &dyn Context) -> Result<Verdict, CheckError> {
    let session = Session::open(cx, apr_f32())?;
    let (client, mut transcript) = (session.client(), session.transcript());
    let prompt = cx.prompt()?;
    let n = cx.max_new_tokens();
    let (_, served) = ask(&client, &mut transcript, &body(&prompt.text, n, 1))?;
    let choice = served
        .choices
        .first()
        .ok_or_else(|| CheckError::NoEvidence("the chat reply has no choice".into()))?;
    let served_text = choice.message.content.clone().unwrap_or_default();
    let served_ids = choice.token_ids();
    let run = parse::run(
        &*cx.apr(
            &RunRequest::new(&session.file, &prompt.text)
                .max_tokens(n)
                .chat(true)
                .build()?,
        )?,
    )?
    .value;
    let run_text = run.text.clone().unwrap_or_default();
    let facts = json!({ "serve_ids": served_ids, "run_ids": run.tokens, "serve_text": served_text, "run_text": run_text });
    let (same, compared, what) = match &served_ids {
        Some(ids) => (
            *ids == run.tokens,
            ids.len().max(run.tokens.len()),
            "tokens",
        ),
        None => (
            served_text.trim() == run_text.trim(),
            served_text.len().max(run_text.len()),
            "characters",
        ),
    };
    if same {
        return Ok(Verdict::pass(
            Evidence::new(compared, what),
            format!("apr serve's chat and apr run --chat generate the same {compared} {what}"),
        )
        .kept(&transcript, facts.clone()));
    }
    let counts = match (served.usage, run.prompt_tokens) {
        (Some(u), Some(p)) if u.prompt_tokens != p => format!(
            " apr serve counts {} prompt tokens and apr run {p}: they render the conversation differently.",
            u.prompt_tokens
        ),
        (Some(u), Some(_)) => format!(" Both count {} prompt tokens.", u.prompt_tokens),
        _ => String::new(),
    };
    Ok(Verdict::fail(
        Evidence::new(compared, what),
        format!(
            "apr serve's chat answers {served_text:?}, apr run --chat {run_text:?}.{counts}{}",
            transcript.reproduce()
        ),
    )
    .kept(&transcript, facts.clone()))
}
