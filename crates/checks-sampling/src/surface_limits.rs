use crate::draw::sampling;
use crate::surfaces::{Conversations, passes_near_tie};
use checks_chat::cases::one_chat_line;
use serde_json::json;
use tmgt_check::{Check, CheckError, Context, Evidence, Scope, Verdict, declare_check};

/// Below this margin a flip at temperature 1e-3 is a near-tie, not the sampler's fault.
const COLD_MARGIN: f64 = 1e-2;

declare_check! {
    /// apr's two other sampling surfaces keep the sampler's limits: `apr run --batch-jsonl` at
    /// temperature 1 with top-k 1, at temperature 1 with top-k off and top-p 1e-6, and at
    /// temperature 1e-3; `apr chat` (which has no `--top-k`) at temperature 1 with top-p 1e-6
    /// and at temperature 1e-3. Each must answer every single-turn conversation of the model's
    /// first chat template exactly as the same surface answers it greedily, so a departure is
    /// the sampler's whatever the surface renders (CHT004 and CHT005 hold the renderings
    /// against HF). At temperature 1e-3 a conversation whose HF continuation passes a margin
    /// under 1e-2 is not judged.
    pub SurfaceLimits {
        code: "SMP006",
        name: "surface-limits-not-greedy",
        suite: "sampling",
        scope: Scope::Model,
        summary: "apr chat and --batch-jsonl at top-k 1, top-p 1e-6 and temperature 1e-3 answer as they do greedily",
        cost: 3,
    }
}

impl Check for SurfaceLimits {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let conversations = Conversations::of(cx)?;
        let turns = conversations.turns();
        let mut compared = 0usize;
        let mut departures = Vec::new();
        let mut not_judged = Vec::new();
        let mut judge = |surface: &str, limit: &str, name: &str, got: &str, greedy: &str| {
            let cold = limit.starts_with("temperature 1e-3");
            let oracle = turns.iter().find(|(c, _, _)| *c == name).map(|t| t.2);
            if got == greedy {
                compared += 1;
            } else if cold && oracle.is_some_and(|o| passes_near_tie(o, COLD_MARGIN)) {
                not_judged.push(format!("{surface} {name} at {limit} (a near-tie)"));
            } else {
                compared += 1;
                departures.push(format!(
                    "{surface}, {limit}, {name}: answers {got:?} where it answers {greedy:?} greedily"
                ));
            }
        };

        let greedy = conversations.batch(cx, &apr_client::Sampling::default())?;
        for (limit, flags) in [
            ("temperature 1, top-k 1", sampling(1.0, 1, None, None)),
            (
                "temperature 1, top-p 1e-6",
                sampling(1.0, 0, Some(1e-6), None),
            ),
            ("temperature 1e-3", sampling(1e-3, 0, None, None)),
        ] {
            let answers = conversations.batch(cx, &flags)?;
            for (name, want) in &greedy {
                let got = answers.get(name).map_or("[no answer]", String::as_str);
                judge("--batch-jsonl", limit, name, got, want);
            }
        }

        for (name, content, _) in &turns {
            if !one_chat_line(content) {
                continue;
            }
            let want = conversations.chat(cx, content, 0.0, None)?;
            for (limit, temperature, top_p) in [
                ("temperature 1, top-p 1e-6", 1.0, Some(1e-6)),
                ("temperature 1e-3", 1e-3, None),
            ] {
                let got = conversations.chat(cx, content, temperature, top_p)?;
                judge("apr chat", limit, name, &got, &want);
            }
        }

        if compared == 0 {
            return Err(CheckError::NoEvidence(
                "no answer of apr chat or --batch-jsonl was compared".into(),
            ));
        }
        let skipped = if not_judged.is_empty() {
            String::new()
        } else {
            format!(
                " Not judged: {}.",
                tmgt_check::first_few(&not_judged, 3, "; ")
            )
        };
        let message = if departures.is_empty() {
            format!(
                "apr chat and --batch-jsonl keep every limit: {compared} answers equal to their \
                 greedy ones ({}).{skipped}",
                conversations.template.template.name
            )
        } else {
            format!(
                "{} of {} answers at a limit leave the surface's greedy answer: {}.{skipped}",
                departures.len(),
                compared,
                tmgt_check::first_few(&departures, 3, "; ")
            )
        };
        Ok(Verdict::judge(
            departures.is_empty(),
            Evidence::new(compared, "answers"),
            message,
        )
        .with_facts(json!({
            "template": conversations.template.template.name,
            "departures": departures,
            "not_judged": not_judged,
        })))
    }
}
