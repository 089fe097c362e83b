use crate::greedy::generate;
use crate::serving::{Kept, Session, apr_f32};
use checks_inference::generate_for;
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

declare_check! {
    /// apr serve and `apr run` on the same f32 `.apr` and prompt generate the same greedy
    /// tokens: one engine behind two front ends. Where they differ, the message says which
    /// of the two leaves the oracle and where, so a serving bug (prompt handling, stop set,
    /// defaults) is told apart from a runtime bug both share.
    pub VersusRun {
        code: "SRV005",
        name: "serve-differs-from-apr-run",
        suite: "serve",
        scope: Scope::ModelPrompt,
        summary: "apr serve and apr run generate the same greedy tokens on the same file",
    }
}

impl Check for VersusRun {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        crate::serving::outside_api_fails(judge(cx))
    }
}

fn judge(cx: &dyn Context) -> Result<Verdict, CheckError> {
    let oracle = cx.oracle()?;
    let session = Session::open(cx, apr_f32())?;
    let (client, mut transcript) = (session.client(), session.transcript());
    let prompt = cx.prompt()?;
    let served = generate(&client, &mut transcript, prompt, cx.max_new_tokens())?;
    let run = generate_for(cx, &session.file, prompt, false)?;
    let departs = |tokens: &[u32]| {
        tokens
            .iter()
            .zip(&oracle.tokens)
            .position(|(a, b)| a != b)
            .or((tokens.len() < oracle.tokens.len()).then_some(tokens.len()))
    };
    let compared = served.tokens.len().max(run.tokens.len());
    let facts = json!({ "serve": served.tokens, "run": run.tokens, "oracle": oracle.tokens });
    if served.tokens == run.tokens {
        return Ok(Verdict::pass(
            Evidence::new(compared, "tokens"),
            format!("apr serve and apr run generate the same {compared} tokens"),
        )
        .kept(&transcript, facts.clone()));
    }
    let at = served
        .tokens
        .iter()
        .zip(&run.tokens)
        .position(|(a, b)| a != b)
        .unwrap_or(served.tokens.len().min(run.tokens.len()));
    let who = |d: Option<usize>| match d {
        None => "agrees with the oracle".to_string(),
        Some(step) => format!("leaves the oracle at step {step}"),
    };
    let message = format!(
        "apr serve and apr run part at step {at} ({:?} against {:?}): apr serve {}, apr run {}.{}",
        served.tokens.get(at),
        run.tokens.get(at),
        who(departs(&served.tokens)),
        who(departs(&run.tokens)),
        transcript.reproduce()
    );
    Ok(Verdict::fail(Evidence::new(compared, "tokens"), message).kept(&transcript, facts.clone()))
}
