use crate::cases;
use apr_client::{ChatRequest, RunRequest, Sampling, parse};
use apr_serve::Client;
use checks_inference::{RuntimeThresholds, run_generation};
use serde_json::{Value, json};
use std::time::Duration;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};
use tmgt_oracle::{Oracle, Trajectory};
use tmgt_outcome::{Classification, TokenComparison};

/// One request's allowance on the server.
const REQUEST_LIMIT: Duration = Duration::from_secs(120);
/// The four ways apr takes a chat, in the order the table shows them.
const SURFACES: [&str; 4] = ["apr run --chat", "apr chat", "--batch-jsonl", "apr serve"];

declare_check! {
    /// One conversation, four surfaces: every single-user-turn conversation of each of the
    /// model's chat templates that all of them can take (one line of text) goes through
    /// `apr run --chat`, `apr chat`, `apr run --batch-jsonl` and `apr serve`'s
    /// `/v1/chat/completions` on the same grafted GGUF, greedy. Each is held against HF: the
    /// prompt it fed (ids, or their count where that is all a surface tells) and the reply
    /// (tokens up to a near-tie where the surface gives them, the text where it gives only
    /// that). The table in the facts has one row per conversation; the message names, for the
    /// conversations where the surfaces disagree, the ones that depart from HF and how.
    pub Surfaces {
        code: "CHT007",
        name: "chat-surfaces-disagree",
        suite: "chat",
        scope: Scope::Model,
        summary: "apr run --chat, apr chat, --batch-jsonl and apr serve give HF's prompt and reply for the same conversation",
        cost: 4,
    }
}

impl Check for Surfaces {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let tie = cx.thresholds().get::<RuntimeThresholds>()?.tie_margin;
        let mut rows = Vec::new();
        let mut compared = 0usize;
        for template in cases::templates(cx)? {
            let turns: Vec<_> = cases::single_turns(&template)
                .into_iter()
                .filter(|(_, content, _)| cases::one_chat_line(content))
                .collect();
            let Some(grafted) = cases::Grafted::of(cx, &template, &turns)? else {
                continue;
            };
            let (gguf, tokens) = (&grafted.gguf, grafted.tokens);
            let batch = grafted.batch(cx, &Sampling::default())?;
            // A server that does not start answers no conversation: its column says why.
            let server = apr_serve::scoped(gguf);
            let client = server
                .as_ref()
                .ok()
                .map(|s| Client::new(s.server(), REQUEST_LIMIT));
            let unserved = server.as_ref().err().map(|e| {
                let text = e.to_string();
                let cause = text.lines().rev().find(|l| !l.trim().is_empty());
                format!(
                    "no answer: apr serve did not start ({})",
                    cause.unwrap_or("").trim()
                )
            });
            for (name, content, oracle) in &turns {
                let label = format!("{}/{name}", template.template.name);
                let judged = [
                    by_run(cx, gguf, content, tokens, oracle, tie)?,
                    by_chat(cx, gguf, content, tokens, oracle)?,
                    by_text(batch.get(*name).map(String::as_str), oracle, None),
                    match (&client, &unserved) {
                        (Some(client), _) => by_server(client, content, tokens, oracle, tie)?,
                        (None, why) => why.clone().unwrap_or_default(),
                    },
                ];
                compared += judged.len();
                let row: serde_json::Map<String, Value> = SURFACES
                    .iter()
                    .zip(&judged)
                    .map(|(s, j)| ((*s).to_string(), json!(j)))
                    .collect();
                rows.push((label, row));
            }
        }
        verdict(rows, compared)
    }
}

/// "hf" where the surface gave HF's prompt and reply, else what departs.
type Judged = String;

const AGREES: &str = "hf";

fn by_run(
    cx: &dyn Context,
    gguf: &std::path::Path,
    content: &str,
    tokens: u32,
    oracle: &Oracle,
    tie: f64,
) -> Result<Judged, CheckError> {
    let invocation = RunRequest::new(gguf, content)
        .chat(true)
        .max_tokens(tokens)
        .logprobs(Some(1))
        .build()?;
    let generation = run_generation(cx, &invocation, true)?;
    let fed = generation.prompt_ids.unwrap_or_default();
    Ok(match oracle.trajectory_for_prompt(&fed) {
        None => format!(
            "prompt: {} ids where HF has {}",
            fed.len(),
            plain_len(oracle)
        ),
        Some(t) => by_tokens(&generation.tokens, &t, tie),
    })
}

fn by_chat(
    cx: &dyn Context,
    gguf: &std::path::Path,
    content: &str,
    tokens: u32,
    oracle: &Oracle,
) -> Result<Judged, CheckError> {
    let invocation = ChatRequest::new(gguf, &[content.to_string()])
        .max_tokens(tokens)
        .trace(true)
        .build()?;
    let turns = parse::chat(&*cx.apr(&invocation)?)?.value;
    let Some(turn) = turns.first() else {
        return Ok("no reply".into());
    };
    let count = turn.prompt_token_count.unwrap_or_default();
    Ok(
        match oracle.trajectory_led_by(count, &turn.prompt_ids_head) {
            None => format!("prompt: {count} ids where HF has {}", plain_len(oracle)),
            Some(t) => by_text(Some(&turn.reply), oracle, Some(&t)),
        },
    )
}

fn by_server(
    client: &Client<'_>,
    content: &str,
    tokens: u32,
    oracle: &Oracle,
    tie: f64,
) -> Result<Judged, CheckError> {
    let messages = json!([{ "role": "user", "content": content }]);
    let body = apr_serve::api::chat_body(&messages, tokens, 1);
    let reply = client.post_json("/v1/chat/completions", &body)?;
    let served = apr_serve::api::chat(&reply)?.value;
    let count = served.usage.map_or(0, |u| u.prompt_tokens as usize);
    let Some(trajectory) = oracle.trajectory_led_by(count, &[]) else {
        return Ok(format!(
            "prompt: {count} ids where HF has {}",
            plain_len(oracle)
        ));
    };
    Ok(match served.token_ids() {
        Some(ids) => by_tokens(&ids, &trajectory, tie),
        None => "reply: no token ids".into(),
    })
}

/// Generated ids against a trajectory: equal, or first different at a tie-flip, agree.
fn by_tokens(ids: &[u32], trajectory: &Trajectory<'_>, tie: f64) -> Judged {
    let Some(at) = TokenComparison::new(trajectory.tokens, ids).first_divergence else {
        return AGREES.into();
    };
    if Classification::at(at, trajectory.margin(at), tie).is_tie_flip() {
        AGREES.into()
    } else {
        format!("reply: departs at step {}", at + 1)
    }
}

/// A reply's text against HF's (the trajectory's, or either), both trimmed.
fn by_text(text: Option<&str>, oracle: &Oracle, only: Option<&Trajectory<'_>>) -> Judged {
    let Some(text) = text else {
        return "no reply".into();
    };
    let agrees = match only {
        Some(t) => t.text.trim() == text.trim(),
        None => oracle.trajectory_saying(text).is_some(),
    };
    if agrees {
        AGREES.into()
    } else {
        "reply: other text".into()
    }
}

fn plain_len(oracle: &Oracle) -> usize {
    oracle.prompt_token_ids.as_ref().map_or(0, Vec::len)
}

fn verdict(
    rows: Vec<(String, serde_json::Map<String, Value>)>,
    compared: usize,
) -> Result<Verdict, CheckError> {
    if rows.is_empty() {
        return Err(CheckError::NoEvidence(
            "no conversation every surface can take (one line of text)".into(),
        ));
    }
    let departs = |row: &serde_json::Map<String, Value>, surface: &str| row[surface] != AGREES;
    let per_surface: Vec<String> = SURFACES
        .iter()
        .map(|s| {
            let n = rows.iter().filter(|(_, row)| departs(row, s)).count();
            format!("{s} {n}")
        })
        .collect();
    let disagreements: Vec<String> = rows
        .iter()
        .filter(|(_, row)| SURFACES.iter().any(|s| departs(row, s)))
        .map(|(label, row)| {
            let named: Vec<String> = SURFACES
                .iter()
                .filter(|s| departs(row, s))
                .map(|s| format!("{s} ({})", row[*s].as_str().unwrap_or_default()))
                .collect();
            format!("{label}: {}", named.join(", "))
        })
        .collect();
    let message = if disagreements.is_empty() {
        format!(
            "all four surfaces give HF's prompt and reply on all {} conversations",
            rows.len()
        )
    } else {
        format!(
            "the surfaces depart from HF on {} of {} conversations (departures per surface: \
             {}): {}",
            disagreements.len(),
            rows.len(),
            per_surface.join(", "),
            tmgt_check::first_few(&disagreements, 3, "; ")
        )
    };
    let table: serde_json::Map<String, Value> = rows
        .into_iter()
        .map(|(label, row)| (label, Value::Object(row)))
        .collect();
    Ok(Verdict::judge(
        disagreements.is_empty(),
        Evidence::new(compared, "surface answers"),
        message,
    )
    .with_facts(json!({ "surfaces": SURFACES, "table": table })))
}
