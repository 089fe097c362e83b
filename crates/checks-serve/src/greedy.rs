use crate::serving::{Session, Transcript, apr_f32};
use apr_serve::{Client, api};
use checks_inference::RuntimeThresholds;
use checks_inference::compare::{Produced, judge_tokens};
use serde_json::json;
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, Prompt, Scope, Status, Verdict, declare_check,
};

declare_check! {
    /// apr serve's greedy tokens (`POST /generate`, temperature 0) on the f32 `.apr` are the
    /// oracle's, judged exactly as `apr run`'s are (RUN001): a stop written out, a divergence
    /// located and classified, a near-tie forgiven by `[thresholds.runtime]`.
    pub GreedyApr {
        code: "SRV003",
        name: "serve-greedy-diverges",
        suite: "serve",
        scope: Scope::ModelPrompt,
        summary: "apr serve of the f32 .apr reproduces the oracle's greedy tokens",
    }
}

impl Check for GreedyApr {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        crate::serving::outside_api_fails(judge(cx))
    }
}

fn judge(cx: &dyn Context) -> Result<Verdict, CheckError> {
    judge_greedy(cx, apr_f32(), "apr serve of the f32 .apr")
}

/// Greedy tokens of `/generate`, as `apr run`'s are judged.
pub(crate) struct Served {
    pub tokens: Vec<u32>,
    pub text: String,
    /// Fewer tokens than asked for: the server stopped at an end of sequence.
    pub stopped: bool,
}

impl Served {
    pub(crate) fn produced(&self) -> Produced<'_> {
        Produced {
            runtime: "apr serve",
            tokens: &self.tokens,
            text: &self.text,
            notes: String::new(),
            stopped: self.stopped,
        }
    }
}

/// `POST /generate` greedily for `max_tokens`.
pub(crate) fn generate(
    client: &Client<'_>,
    transcript: &mut Transcript,
    prompt: &Prompt,
    max_tokens: u32,
) -> Result<Served, CheckError> {
    let reply = client.post_json(
        "/generate",
        &json!({ "prompt": prompt.text, "max_tokens": max_tokens, "temperature": 0, "strategy": "greedy" }),
    )?;
    transcript.keep(&reply.exchange);
    let g = api::generated(&reply)?.value;
    let start = g.token_ids.len().saturating_sub(g.num_generated);
    Ok(Served {
        tokens: g.token_ids[start..].to_vec(),
        text: g.text,
        stopped: (g.num_generated as u32) < max_tokens,
    })
}

pub(crate) fn judge_greedy(
    cx: &dyn Context,
    kind: ArtifactKind,
    what: &str,
) -> Result<Verdict, CheckError> {
    let oracle = cx.oracle()?;
    let session = Session::open(cx, kind)?;
    let (client, mut transcript) = (session.client(), session.transcript());
    let served = generate(&client, &mut transcript, cx.prompt()?, cx.max_new_tokens())?;
    let trajectory = oracle.plain().ok();
    let mut verdict = judge_tokens(
        what,
        &oracle.tokens,
        &served.produced(),
        trajectory.as_ref(),
        0,
        cx.thresholds().get::<RuntimeThresholds>()?.tie_margin,
    );
    // The token judgement is the result's detail; the request goes with a failure's message.
    if verdict.status != Status::Pass {
        verdict.message += &transcript.reproduce();
    }
    Ok(verdict)
}
