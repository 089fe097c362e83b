use crate::cases;
use apr_client::parse::ChatTurn;
use apr_client::{ChatRequest, parse};
use checks_inference::RuntimeThresholds;
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};
use tmgt_oracle::{ChatCase, ChatOracle, Dialogue, Trajectory};

/// How many bytes of the rendered prompt and ids of it `apr chat --trace` prints.
const TRACED_BYTES: usize = 500;
const TRACED_IDS: usize = 50;

declare_check! {
    /// `apr chat`, on a copy of llama.cpp's GGUF carrying each of the model's chat templates,
    /// fed every dialogue of the chat oracles (the system prompt by `--system`, one user line
    /// per turn on stdin), greedy, as many tokens a reply as the oracles hold. With `--trace`,
    /// each turn's rendered prompt (its length and the first 500 bytes apr prints) and its ids
    /// (the count and the first 50) must be HF's rendering of the same history, a leading BOS
    /// apr adds accepted; each reply, traced and in the plain session that reuses the KV cache,
    /// must be HF's continuation as a chat keeps it. Turn k+1 is judged only where turn k's
    /// reply was HF's (its history holds apr's reply), and not where HF's own reply passes a
    /// near-tie. A renderer fallback, or a reply to a turn the template refuses, fails.
    pub Session {
        code: "CHT005",
        name: "chat-session-differs",
        suite: "chat",
        scope: Scope::Model,
        summary: "apr chat renders each turn of a dialogue as HF does and replies as HF continues",
        cost: 4,
    }
}

impl Check for Session {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let tie_margin = cx.thresholds().get::<RuntimeThresholds>()?.tie_margin;
        let mut tally = Tally::default();
        for template in cases::templates(cx)? {
            let dialogues = &template.dialogues;
            if dialogues.is_empty() {
                continue;
            }
            let gguf = cases::grafted(cx, &template)?;
            for dialogue in dialogues {
                let label = format!("{}/{}", template.template.name, dialogue.name);
                let request = |trace: bool| {
                    let tokens = dialogue.turns.iter().find_map(|t| match t {
                        ChatCase::Rendered(r) => Some(r.oracle.max_new_tokens),
                        ChatCase::Refused(_) => None,
                    });
                    ChatRequest::new(&gguf, &dialogue.user_turns())
                        .system(dialogue.system())
                        .max_tokens(u32::try_from(tokens.unwrap_or(1)).unwrap_or(u32::MAX))
                        .trace(trace)
                        .build()
                };
                let traced_call = cx.apr(&request(true)?)?;
                if let Some(line) = cases::fallback_line(&traced_call.stderr) {
                    tally.fault(format!("{label}: apr's renderer failed: \"{line}\""));
                }
                let traced = parse::chat(&traced_call)?.value;
                let plain = parse::chat(&*cx.apr(&request(false)?)?)?.value;
                judge(
                    cx, &label, dialogue, &traced, &plain, tie_margin, &mut tally,
                )?;
            }
        }
        tally.verdict()
    }
}

/// Judges every turn of one dialogue, in order, until one departs.
fn judge(
    cx: &dyn Context,
    label: &str,
    dialogue: &Dialogue,
    traced: &[ChatTurn],
    plain: &[ChatTurn],
    tie_margin: f64,
    tally: &mut Tally,
) -> Result<(), CheckError> {
    for (k, case) in dialogue.turns.iter().enumerate() {
        let turn_label = format!("{label} turn {}", k + 1);
        let rendered = match case {
            ChatCase::Refused(refused) => {
                tally.compared += 1;
                if traced.get(k).is_some_and(|t| !t.reply.starts_with('[')) {
                    tally.fault(format!(
                        "{turn_label}: the template refuses this history (HF: {}), apr replied",
                        refused.render_error
                    ));
                }
                tally.judged(&turn_label, "refused");
                return Ok(());
            }
            ChatCase::Rendered(rendered) => rendered,
        };
        let Some(turn) = traced.get(k) else {
            tally.fault(format!("{turn_label}: apr chat gave no reply to it"));
            return Ok(());
        };
        let faults_before = tally.faults.len();
        let trajectory = rendered_prompt(cx, &turn_label, rendered, turn, tally)?;
        let (Some(trajectory), false) = (trajectory, tally.faults.len() > faults_before) else {
            tally.judged(&turn_label, "departs");
            tally.not_judged.push(format!(
                "{label}: the reply to turn {} and later turns, whose prompt already departs",
                k + 1
            ));
            return Ok(());
        };
        let want = hf_reply(&trajectory);
        tally.compared += 1;
        let replies_agree = turn.reply == want;
        if !replies_agree {
            let near_tie = trajectory.steps.iter().find(|s| s.margin < tie_margin);
            match near_tie {
                Some(step) => {
                    tally.not_judged.push(format!(
                        "{turn_label} (HF's reply passes a near-tie, margin {:.3})",
                        step.margin
                    ));
                    return Ok(());
                }
                None => tally.fault(format!(
                    "{turn_label}: apr chat replies {:?} where HF continues {want:?}",
                    turn.reply
                )),
            }
        }
        if let Some(other) = plain.get(k).filter(|p| p.reply != turn.reply) {
            tally.fault(format!(
                "{turn_label}: the session without --trace (KV cache reused) replies {:?}, \
                 the traced one {:?}",
                other.reply, turn.reply
            ));
        }
        let outcome = if tally.faults.len() == faults_before {
            "equal"
        } else {
            "departs"
        };
        tally.judged(&turn_label, outcome);
        if !replies_agree {
            let left = dialogue.turns.len() - k - 1;
            if left > 0 {
                tally.not_judged.push(format!(
                    "{label}: {left} later turn(s), whose history holds apr's departing reply"
                ));
            }
            return Ok(());
        }
    }
    Ok(())
}

/// Holds the traced rendering and ids of one turn against HF's; returns the trajectory apr's
/// ids follow, if any.
fn rendered_prompt<'a>(
    cx: &dyn Context,
    turn_label: &str,
    rendered: &'a ChatOracle,
    turn: &ChatTurn,
    tally: &mut Tally,
) -> Result<Option<Trajectory<'a>>, CheckError> {
    let (Some(bytes), Some(head), Some(count)) = (
        turn.rendered_bytes,
        &turn.rendered_head,
        turn.prompt_token_count,
    ) else {
        return Err(CheckError::Schema {
            command: "chat --trace".into(),
            detail: format!("{turn_label}: no rendered prompt or prompt ids in the trace"),
        });
    };
    let hf_text = &rendered.oracle.prompt;
    tally.compared += head.len() + turn.prompt_ids_head.len();
    let shown = head.len() >= hf_text.len().min(TRACED_BYTES).saturating_sub(3);
    if bytes != hf_text.len() || !hf_text.starts_with(head.as_str()) || !shown {
        let at = head
            .char_indices()
            .zip(hf_text.chars())
            .find(|((_, a), b)| a != b)
            .map_or(head.len().min(hf_text.len()), |((i, _), _)| i);
        let piece = |s: &str| {
            s.get(at..)
                .unwrap_or("")
                .chars()
                .take(40)
                .collect::<String>()
        };
        tally.fault(format!(
            "{turn_label}: apr renders {bytes} bytes where HF renders {}; from byte {at} apr has \
             {:?}, HF {:?}",
            hf_text.len(),
            piece(head),
            piece(hf_text)
        ));
    }
    // The trajectory apr's ids are (plain, or with the tokenizer's BOS in front); where they
    // are neither, the difference is told against the plain one.
    let trajectory = rendered
        .oracle
        .trajectory_led_by(count, &turn.prompt_ids_head);
    if trajectory.is_none() {
        let plain = rendered.oracle.prompt_token_ids.clone().unwrap_or_default();
        let want_head = &plain[..plain.len().min(TRACED_IDS)];
        let difference =
            checks_metadata::first_difference_for_model(cx, &turn.prompt_ids_head, want_head)?
                .unwrap_or_else(|| "the same first ids".to_string());
        tally.fault(format!(
            "{turn_label}: apr feeds {count} ids where HF's rendering has {}; among the first \
             {TRACED_IDS}: {difference}",
            plain.len()
        ));
    }
    Ok(trajectory)
}

/// HF's reply to a turn as a chat keeps it: decoded without special tokens, the line breaks
/// before it and the whitespace after it dropped (of the trajectory apr's ids follow).
fn hf_reply(trajectory: &Trajectory<'_>) -> String {
    trajectory
        .text
        .trim_start_matches(['\r', '\n'])
        .trim_end()
        .to_string()
}

/// What the dialogues gave, across templates.
#[derive(Default)]
struct Tally {
    compared: usize,
    faults: Vec<String>,
    judged: Vec<serde_json::Value>,
    not_judged: Vec<String>,
}

impl Tally {
    fn fault(&mut self, message: String) {
        self.faults.push(message);
    }

    fn judged(&mut self, turn: &str, outcome: &str) {
        self.judged
            .push(json!({ "turn": turn, "outcome": outcome }));
    }

    fn verdict(self) -> Result<Verdict, CheckError> {
        if self.judged.is_empty() {
            return Err(CheckError::NoEvidence(
                "the chat oracles hold no dialogue (`dialogues` in the conversations file)".into(),
            ));
        }
        let skipped = if self.not_judged.is_empty() {
            String::new()
        } else {
            format!(
                " Not judged: {}.",
                tmgt_check::first_few(&self.not_judged, 3, "; ")
            )
        };
        let message = if self.faults.is_empty() {
            format!(
                "apr chat renders and answers all {} turns as HF does ({} bytes, ids and \
                 replies).{skipped}",
                self.judged.len(),
                self.compared
            )
        } else {
            format!(
                "{} departures over {} turns: {}.{skipped}",
                self.faults.len(),
                self.judged.len(),
                tmgt_check::first_few(&self.faults, 3, "; ")
            )
        };
        Ok(Verdict::judge(
            self.faults.is_empty(),
            Evidence::new(self.compared, "bytes, ids and replies"),
            message,
        )
        .with_facts(json!({
            "turns": self.judged,
            "departures": self.faults,
            "not_judged": self.not_judged
        })))
    }
}
