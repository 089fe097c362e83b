use crate::serving::{Kept, Session, apr_f32};
use apr_serve::api;
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

/// The two seeds compared.
const SEEDS: [u64; 2] = [7, 8];

declare_check! {
    /// `seed` makes sampling reproducible and is honoured: at temperature 1 the same seed
    /// gives the same completion twice, and two seeds give different completions on at least
    /// one prompt. Sample: every prompt, the run's tokens each; a working sampler gives two
    /// seeds the same tokens on every prompt with a probability far below any alpha that
    /// matters (each of the tiny models' steps has many tokens above 1% probability), so
    /// identical texts mean the seed is ignored.
    pub Seeds {
        code: "SRV012",
        name: "serve-seed-ignored",
        suite: "serve",
        scope: Scope::Model,
        summary: "at temperature 1 a seed reproduces its completion and two seeds differ",
    }
}

impl Check for Seeds {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        crate::serving::outside_api_fails(judge(cx))
    }
}

fn judge(cx: &dyn Context) -> Result<Verdict, CheckError> {
    let session = Session::open(cx, apr_f32())?;
    let (client, mut transcript) = (session.client(), session.transcript());
    let (mut unstable, mut differ, mut requests) = (Vec::new(), 0, 0);
    for prompt in cx.prompts() {
        let mut texts = Vec::new();
        for seed in [SEEDS[0], SEEDS[0], SEEDS[1]] {
            let reply = client.post_json(
                "/v1/completions",
                &json!({ "model": "default", "prompt": prompt.text, "max_tokens": cx.max_new_tokens(), "temperature": 1.0, "seed": seed }),
            )?;
            transcript.keep(&reply.exchange);
            requests += 1;
            texts.push(
                api::completion(&reply)?
                    .value
                    .choices
                    .first()
                    .map(|c| c.text.clone())
                    .unwrap_or_default(),
            );
        }
        if texts[0] != texts[1] {
            unstable.push(format!(
                "`{}`: seed {} gave {:?} then {:?}",
                prompt.name, SEEDS[0], texts[0], texts[1]
            ));
        }
        differ += usize::from(texts[0] != texts[2]);
    }
    let mut problems = unstable;
    if differ == 0 {
        problems.push(format!(
            "seeds {} and {} give the same completion on all {} prompts: the seed is ignored",
            SEEDS[0],
            SEEDS[1],
            cx.prompts().len()
        ));
    }
    let message = if problems.is_empty() {
        format!(
            "a seed reproduces its completion on every prompt; seeds {} and {} differ on {differ} of {}",
            SEEDS[0],
            SEEDS[1],
            cx.prompts().len()
        )
    } else {
        format!("{}{}", problems.join("; "), transcript.reproduce())
    };
    Ok(Verdict::judge(
        problems.is_empty(),
        Evidence::new(requests, "sampled completions"),
        message,
    )
    .kept(&transcript, json!({ "seeds": SEEDS })))
}
