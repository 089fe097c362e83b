use crate::serving::{Session, Transcript};
use apr_serve::{Client, api};
use checks_inference::compare::{Produced, judge_tokens};
use checks_inference::{RuntimeThresholds, TokenThresholds};
use serde_json::json;
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, Prompt, Scope, Status, Verdict, declare_check,
};

declare_check! {
    /// apr serve's greedy tokens (`POST /generate`, temperature 0) on the `.apr` at each level
    /// are the oracle's, judged exactly as `apr run`'s are (RUN001 at f32, TOK001's per-level
    /// mismatch budget otherwise): a stop written out, a divergence located and classified, a
    /// near-tie forgiven.
    pub GreedyApr {
        code: "SRV003",
        name: "serve-greedy-diverges",
        suite: "serve",
        scope: Scope::ModelQuantPrompt,
        summary: "apr serve of each .apr level reproduces the oracle's greedy tokens within its budget",
    }
}

impl Check for GreedyApr {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        crate::serving::outside_api_fails(judge(cx))
    }
}

fn judge(cx: &dyn Context) -> Result<Verdict, CheckError> {
    let quant = cx.quant()?;
    let allowed = cx.thresholds().get::<TokenThresholds>()?.for_quant(quant);
    judge_greedy(
        cx,
        ArtifactKind::Apr(quant),
        &format!("apr serve of the {quant} .apr"),
        allowed,
    )
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
    allowed: usize,
) -> Result<Verdict, CheckError> {
    judge_greedy_on(cx, Session::open(cx, kind)?, what, allowed)
}

/// SRV003's judgement of `session`'s server.
pub(crate) fn judge_greedy_on(
    cx: &dyn Context,
    session: Session,
    what: &str,
    allowed: usize,
) -> Result<Verdict, CheckError> {
    let oracle = cx.oracle()?;
    let (client, mut transcript) = (session.client(), session.transcript());
    let served = generate(&client, &mut transcript, cx.prompt()?, cx.max_new_tokens())?;
    let trajectory = oracle.conventional().ok();
    let mut verdict = judge_tokens(
        what,
        oracle.conventional_tokens(),
        &served.produced(),
        trajectory.as_ref(),
        allowed,
        cx.thresholds().get::<RuntimeThresholds>()?.tie_margin,
    );
    // The token judgement is the result's detail; the request goes with a failure's message.
    if verdict.status != Status::Pass {
        verdict.message += &transcript.reproduce();
    }
    Ok(verdict.with_requests(transcript.records()))
}
