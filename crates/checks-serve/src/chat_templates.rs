use crate::serving::Transcript;
use apr_serve::Client;
use apr_serve::api::chat;
use checks_chat::cases;
use checks_inference::RuntimeThresholds;
use serde_json::json;
use std::time::Duration;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};
use tmgt_oracle::{ChatCase, ChatOracle};
use tmgt_outcome::{Classification, TokenComparison};

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
        let mut tally = Tally::default();
        let mut kept = Vec::new();
        for template in cases::templates(cx)? {
            let all: Vec<&ChatCase> = template
                .cases
                .iter()
                .chain(template.dialogues.iter().flat_map(|d| &d.turns))
                .collect();
            let gguf = cases::grafted(cx, &template)?;
            let server = apr_serve::scoped(&gguf)?;
            let client = Client::new(server.server(), REQUEST_LIMIT);
            let mut transcript = Transcript::of(server.server());
            for case in &all {
                let label = format!("{}/{}", template.template.name, case.conversation());
                let tokens = match case {
                    ChatCase::Rendered(r) => {
                        u32::try_from(r.oracle.max_new_tokens).unwrap_or(u32::MAX)
                    }
                    ChatCase::Refused(_) => 1,
                };
                let body = apr_serve::api::chat_body(&json!(case.messages()), tokens, 1);
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
    let Some(counted) = served.usage.as_ref().map(|u| u.prompt_tokens as usize) else {
        tally.fault(format!("{label}: the reply has no usage.prompt_tokens"));
        return;
    };
    // The count tells the trajectory: the plain prompt's, or one more with apr's own BOS.
    let Some(trajectory) = oracle.trajectory_led_by(counted, &[]) else {
        tally.fault(format!(
            "{label}: apr serve counts {counted} prompt tokens where HF's rendering has {}",
            oracle.prompt_token_ids.as_ref().map_or(0, Vec::len)
        ));
        return;
    };
    let Some(ids) = served.token_ids() else {
        tally.fault(format!(
            "{label}: the reply has no token ids in its log-probs"
        ));
        return;
    };
    tally.ids += counted + ids.len();
    let Some(at) = TokenComparison::new(trajectory.tokens, &ids).first_divergence else {
        return;
    };
    match Classification::at(at, trajectory.margin(at), tie_margin) {
        Classification::TieFlip { margin, .. } => tally
            .near_ties
            .push(format!("{label}: step {} (margin {margin:.3})", at + 1)),
        _ => tally.fault(format!(
            "{label}: apr serve generates {:?} where HF continues {:?}, from step {}",
            ids,
            trajectory.tokens,
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
