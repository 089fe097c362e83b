use crate::cases;
use apr_client::{RunRequest, parse};
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};
use tmgt_oracle::ChatCase;

declare_check! {
    /// `apr run --chat` of every single-user-turn conversation, on a copy of llama.cpp's GGUF
    /// that carries each of the model's chat templates, feeds the ids HF's
    /// `apply_chat_template` and tokenizer give the rendered text (the oracle's; a leading BOS
    /// apr adds is accepted, as the oracle has that trajectory too). The first difference is
    /// named with both pieces. A warning that apr's renderer failed and it used a built-in
    /// template instead is a failure whatever the ids, and so is rendering a conversation the
    /// template itself refuses.
    pub RenderedIds {
        code: "CHT001",
        name: "chat-rendered-ids-differ",
        suite: "chat",
        scope: Scope::Model,
        summary: "apr run --chat feeds the ids HF's apply_chat_template renders, on every template",
        cost: 4,
    }
}

impl Check for RenderedIds {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let mut compared = 0usize;
        let mut judged = Vec::new();
        let mut faults = Vec::new();
        for template in cases::templates(cx)? {
            let gguf = cases::grafted(cx, &template)?;
            for case in &template.cases {
                let Some(content) = case.single_user_turn() else {
                    continue;
                };
                let label = format!("{}/{}", template.template.name, case.conversation());
                let invocation = RunRequest::new(&gguf, content)
                    .chat(true)
                    .max_tokens(1)
                    .logprobs(Some(1))
                    .build()?;
                let captured = cx.apr(&invocation)?;
                let fallback = cases::fallback_line(&captured.stderr);
                let rendered = match case {
                    ChatCase::Refused(refused) => {
                        let reply = parse::run(&captured);
                        if reply.as_ref().is_ok_and(|r| r.exit_code == 0) {
                            faults.push(format!(
                                "{label}: the template refuses this conversation (HF: {}), apr \
                                 rendered something and answered, exit 0",
                                refused.render_error
                            ));
                        }
                        compared += 1;
                        judged.push(json!({ "case": label, "refused": true }));
                        continue;
                    }
                    ChatCase::Rendered(rendered) => rendered,
                };
                let reply = parse::run(&captured)?;
                let Some(fed) = reply.value.logprobs.map(|l| l.prompt_token_ids) else {
                    return Err(CheckError::Schema {
                        command: "run --chat --logprobs".into(),
                        detail: format!("{label}: no `logprobs.prompt_token_ids` in the reply"),
                    });
                };
                let plain = rendered.oracle.prompt_token_ids.clone().unwrap_or_default();
                compared += plain.len();
                let matched = rendered.oracle.trajectory_for_prompt(&fed).is_some();
                if let Some(line) = &fallback {
                    faults.push(format!("{label}: apr's renderer failed: \"{line}\""));
                }
                if !matched {
                    // Told against the trajectory apr's ids follow further (plain first).
                    let shared =
                        |ids: &[u32]| ids.iter().zip(&fed).take_while(|(a, b)| a == b).count();
                    let want = match &rendered.oracle.bos {
                        Some(bos) if shared(&bos.prompt_token_ids) > shared(&plain) => {
                            bos.prompt_token_ids.clone()
                        }
                        _ => plain.clone(),
                    };
                    let difference = checks_metadata::first_difference_for_model(cx, &fed, &want)?
                        .unwrap_or_default();
                    faults.push(format!("{label}: apr feeds {difference}"));
                }
                judged.push(json!({
                    "case": label,
                    "hf_ids": plain.len(),
                    "apr_ids": fed.len(),
                    "equal": matched,
                    "fallback": fallback,
                }));
            }
        }
        if judged.is_empty() {
            return Err(CheckError::NoEvidence(
                "no single-user-turn conversation in the chat oracles".into(),
            ));
        }
        let message = if faults.is_empty() {
            format!(
                "apr run --chat feeds HF's rendered ids on all {} conversations ({compared} ids)",
                judged.len()
            )
        } else {
            let departing: std::collections::BTreeSet<&str> =
                faults.iter().filter_map(|f| f.split(':').next()).collect();
            format!(
                "{} of {} conversations depart from HF's rendering: {}",
                departing.len(),
                judged.len(),
                tmgt_check::first_few(&faults, 4, "; ")
            )
        };
        Ok(
            Verdict::judge(faults.is_empty(), Evidence::new(compared, "ids"), message)
                .with_facts(json!({ "conversations": judged })),
        )
    }
}
