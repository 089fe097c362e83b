use crate::serving::Transcript;
use apr_serve::Client;
use apr_serve::api::chat;
use checks_chat::cases;
use checks_inference::RuntimeThresholds;
use serde_json::json;
use std::time::Duration;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};
use tmgt_oracle::{ChatCase, ChatOracle};

/// One request's allowance: the chat oracles' conversations are short and the models tiny.
const REQUEST_LIMIT: Duration = Duration::from_secs(120);

declare_check! {
    /// apr serve, as a chat surface: on a copy of llama.cpp's GGUF carrying each of the
    /// model's chat templates (a server of its own per template), every conversation of the
    /// chat oracles goes to `/v1/chat/completions` as OpenAI messages (system turns, fixed
    /// multi-turn histories and each dialogue turn with HF's own earlier replies), greedy, with
    /// log-probs for the token ids. `usage.prompt_tokens` must count HF's rendered ids (a BOS
    /// of apr's own accepted, as the oracle has that trajectory) and the generated ids must be
    /// HF's continuation up to a near-tie; a conversation the template refuses must be refused
    /// (an error status), not answered.
    pub ServedChatTemplates {
        code: "SRV020",
        name: "serve-chat-template-differs-from-hf",
        suite: "serve",
        scope: Scope::Model,
        summary: "apr serve renders and continues every templated conversation, system and multi-turn included, as HF does",
        cost: 4,
    }
}

impl Check for ServedChatTemplates {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let tie_margin = cx.thresholds().get::<RuntimeThresholds>()?.tie_margin;
        let model = cx.model()?;
        let mut tally = Tally::default();
        let mut kept = Vec::new();
        for template in cases::templates(cx)? {
            let mut all = template.cases.clone();
            let dialogues = tmgt_oracle::dialogues(&model.oracle_dir, &template.template.name)
                .map_err(|e| CheckError::Input {
                    what: format!("the dialogues of template `{}`", template.template.name),
                    reason: format!("{e}; make them with `tmgt oracle {}`", model.name),
                })?;
            all.extend(dialogues.into_iter().flat_map(|d| d.turns));
            let gguf = cases::grafted(cx, &template)?;
            let server = apr_serve::scoped(&gguf)?;
            let client = Client::new(server.server(), REQUEST_LIMIT);
            let mut transcript = Transcript::of(server.server());
            for case in &all {
                let label = format!("{}/{}", template.template.name, case.conversation());
                let tokens = match case {
                    ChatCase::Rendered(r) => r.oracle.max_new_tokens,
                    ChatCase::Refused(_) => 1,
                };
                let body = json!({
                    "model": "default",
                    "messages": case.messages(),
                    "max_tokens": tokens,
                    "temperature": 0,
                    "logprobs": true,
                    "top_logprobs": 1,
                });
                let reply = client.post_json("/v1/chat/completions", &body)?;
                transcript.keep(&reply.exchange);
                tally.compared += 1;
                match case {
                    ChatCase::Refused(refused) => {
                        if reply.status == 200 {
                            tally.fault(format!(
                                "{label}: the template refuses this conversation (HF: {}), apr \
                                 serve answered 200",
                                refused.render_error
                            ));
                        }
                    }
                    ChatCase::Rendered(rendered) => {
                        judge(
                            &label,
                            rendered,
                            &chat(&reply)?.value,
                            tie_margin,
                            &mut tally,
                        );
                    }
                }
            }
            kept.extend(transcript.records());
        }
        if tally.compared == 0 {
            return Err(CheckError::NoEvidence(
                "no conversation in the chat oracles".into(),
            ));
        }
        let message = if tally.faults.is_empty() {
            format!(
                "apr serve renders and continues all {} conversations as HF does ({} prompt and \
                 generated ids)",
                tally.compared, tally.ids
            )
        } else {
            format!(
                "{} of {} conversations depart from HF: {}",
                tally.faults.len(),
                tally.compared,
                tmgt_check::first_few(&tally.faults, 3, "; ")
            )
        };
        Ok(Verdict::judge(
            tally.faults.is_empty(),
            Evidence::new(tally.ids.max(tally.compared), "ids"),
            message,
        )
        .with_facts(json!({ "departures": tally.faults, "near_ties": tally.near_ties }))
        .with_requests(kept))
    }
}

/// The served prompt count and generated ids of one conversation against HF's.
fn judge(
    label: &str,
    rendered: &ChatOracle,
    served: &apr_serve::api::ChatCompletion,
    tie_margin: f64,
    tally: &mut Tally,
) {
    let oracle = &rendered.oracle;
    let plain = oracle.prompt_token_ids.as_ref().map_or(0, Vec::len);
    let with_bos = oracle.bos.as_ref().map(|b| b.prompt_token_ids.len());
    let Some(counted) = served.usage.as_ref().map(|u| u.prompt_tokens as usize) else {
        tally.fault(format!("{label}: the reply has no usage.prompt_tokens"));
        return;
    };
    let (tokens, steps) = match (&oracle.bos, Some(counted) == with_bos && counted != plain) {
        (Some(bos), true) => (&bos.tokens, Some(&bos.steps)),
        _ => (&oracle.tokens, oracle.steps.as_ref()),
    };
    if counted != plain && Some(counted) != with_bos {
        tally.fault(format!(
            "{label}: apr serve counts {counted} prompt tokens where HF's rendering has {plain}"
        ));
        return;
    }
    let ids: Option<Vec<u32>> = served
        .choices
        .first()
        .and_then(|c| c.logprobs.as_ref())
        .and_then(|l| l.content.iter().map(|t| t.token_id).collect());
    let Some(ids) = ids else {
        tally.fault(format!(
            "{label}: the reply has no token ids in its log-probs"
        ));
        return;
    };
    tally.ids += counted + ids.len();
    let Some(at) = (0..ids.len().max(tokens.len())).find(|&i| ids.get(i) != tokens.get(i)) else {
        return;
    };
    let margin = steps.and_then(|s| s.get(at)).map(|s| s.margin);
    match margin {
        Some(m) if m < tie_margin => tally
            .near_ties
            .push(format!("{label}: step {} (margin {m:.3})", at + 1)),
        _ => tally.fault(format!(
            "{label}: apr serve generates {:?} where HF continues {:?}, from step {}",
            ids,
            tokens,
            at + 1
        )),
    }
}

/// What the conversations gave, across templates.
#[derive(Default)]
struct Tally {
    compared: usize,
    ids: usize,
    faults: Vec<String>,
    near_ties: Vec<String>,
}

impl Tally {
    fn fault(&mut self, message: String) {
        self.faults.push(message);
    }
}
