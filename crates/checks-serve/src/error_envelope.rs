use crate::bad_input::{Answer, send_all};
use crate::serving::Kept;
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

declare_check! {
    /// apr serve's errors speak the OpenAI API every client library parses: the status OpenAI
    /// answers each bad request with (400 for a malformed or invalid request, 404 for an
    /// unknown model) and the envelope `{"error": {"message": "...", "type": "...", ...}}`.
    /// A client library reads a 422 or a bare `{"error": "..."}` as an unexpected failure and
    /// loses the message.
    pub ErrorEnvelope {
        code: "SRV014",
        name: "serve-errors-unlike-openai",
        suite: "serve",
        scope: Scope::Model,
        summary: "error statuses and bodies are OpenAI's",
    }
}

impl Check for ErrorEnvelope {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        crate::serving::outside_api_fails(judge(cx))
    }
}

fn judge(cx: &dyn Context) -> Result<Verdict, CheckError> {
    let sent = send_all(cx)?;
    let mut off = Vec::new();
    for (name, want, answer) in &sent.replies {
        let Answer::Reply(reply) = answer else {
            off.push(format!("{name}: no answer, where OpenAI answers {want}"));
            continue;
        };
        let body = reply.json().ok();
        let error = body.as_ref().and_then(|b| b.get("error"));
        let enveloped = error.is_some_and(|e| {
            e.get("message").is_some_and(|m| m.is_string()) && e.get("type").is_some()
        });
        let mut said = Vec::new();
        if reply.status != *want {
            said.push(format!(
                "status {} where OpenAI answers {want}",
                reply.status
            ));
        }
        if !enveloped {
            said.push(match error {
                Some(e) if e.is_string() => "a bare string error".to_string(),
                Some(_) => "an error without message and type".to_string(),
                None => "no error object".to_string(),
            });
        }
        if !said.is_empty() {
            off.push(format!("{name}: {}", said.join(", ")));
        }
    }
    let message = if off.is_empty() {
        format!(
            "all {} errors carry OpenAI's status and envelope",
            sent.replies.len()
        )
    } else {
        format!(
            "{} of {} errors unlike OpenAI's: {}",
            off.len(),
            sent.replies.len(),
            off.join("; ")
        )
    };
    Ok(Verdict::judge(
        off.is_empty(),
        Evidence::new(sent.replies.len(), "errors"),
        message,
    )
    .kept(&sent.transcript, json!({})))
}
