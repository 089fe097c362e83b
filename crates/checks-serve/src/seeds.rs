use crate::serving::{Kept, Session, apr_f32};
use apr_serve::api;
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

/// The two seeds compared.
const SEEDS: [u64; 2] = [7, 8];

declare_check! {
    /// `seed` makes sampling reproducible and is honoured, on `/v1/completions` and on
    /// `/v1/chat/completions`: at temperature 1 the same seed gives the same text twice, and
    /// two seeds give different texts on at least one prompt. Sample: every prompt, the run's tokens each; a working sampler gives two
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
    let (mut problems, mut requests) = (Vec::new(), 0);
    let (mut said, mut failing) = (Vec::new(), None);
    for endpoint in [Endpoint::Completions, Endpoint::Chat] {
        let (mut differ, mut unstable) = (0, Vec::new());
        for prompt in cx.prompts() {
            let mut texts = Vec::new();
            for seed in [SEEDS[0], SEEDS[0], SEEDS[1]] {
                let reply = client.post_json(
                    endpoint.path(),
                    &endpoint.body(&prompt.text, cx.max_new_tokens(), seed),
                )?;
                transcript.keep(&reply.exchange);
                requests += 1;
                texts.push(endpoint.text(&reply)?);
            }
            if texts[0] != texts[1] {
                unstable.push(format!(
                    "{} `{}`: seed {} gave {:?} then {:?}",
                    endpoint.path(),
                    prompt.name,
                    SEEDS[0],
                    texts[0],
                    texts[1]
                ));
            }
            differ += usize::from(texts[0] != texts[2]);
        }
        if differ == 0 || !unstable.is_empty() {
            failing.get_or_insert(endpoint.path());
        }
        problems.extend(unstable);
        if differ == 0 {
            problems.push(format!(
                "{}: seeds {} and {} give the same text on all {} prompts: the seed is ignored",
                endpoint.path(),
                SEEDS[0],
                SEEDS[1],
                cx.prompts().len()
            ));
        } else {
            said.push(format!(
                "{} on {differ} of {}",
                endpoint.path(),
                cx.prompts().len()
            ));
        }
    }
    let message = if problems.is_empty() {
        format!(
            "a seed reproduces its text on every prompt, on both endpoints; seeds {} and {} differ ({})",
            SEEDS[0],
            SEEDS[1],
            said.join(", ")
        )
    } else {
        format!(
            "{}{}",
            problems.join("; "),
            transcript.reproduce_on(failing.unwrap_or_default())
        )
    };
    Ok(Verdict::judge(
        problems.is_empty(),
        Evidence::new(requests, "sampled replies"),
        message,
    )
    .kept(&transcript, json!({ "seeds": SEEDS })))
}

/// The two routes a client samples from.
#[derive(Clone, Copy)]
enum Endpoint {
    Completions,
    Chat,
}

impl Endpoint {
    fn path(self) -> &'static str {
        match self {
            Endpoint::Completions => "/v1/completions",
            Endpoint::Chat => "/v1/chat/completions",
        }
    }

    fn body(self, prompt: &str, max_tokens: u32, seed: u64) -> serde_json::Value {
        let mut body = match self {
            Endpoint::Completions => crate::completion::body(prompt, max_tokens),
            Endpoint::Chat => crate::chat::body(prompt, max_tokens, 0),
        };
        body["temperature"] = json!(1.0);
        body["seed"] = json!(seed);
        body
    }

    fn text(self, reply: &apr_serve::Reply) -> Result<String, CheckError> {
        Ok(match self {
            Endpoint::Completions => api::completion(reply)?
                .value
                .choices
                .first()
                .map(|c| c.text.clone()),
            Endpoint::Chat => api::chat(reply)?
                .value
                .choices
                .first()
                .and_then(|c| c.message.content.clone()),
        }
        .unwrap_or_default())
    }
}
