//! The quantization ladder as one table a person reads: per model and file type, the file's
//! size, what the quantization costs, apr's kernel error on top of it, llama.cpp's on the same
//! file, and apr's speed. Read from the ladder check's facts (`LAD001`), so every reporter
//! shows the numbers the verdicts rest on.

use crate::schema::{Report, ReportVerdict, ResultRecord};
use serde_json::Value;
use tmgt_outcome::Details;

/// The ladder check whose facts make the table.
const LADDER_CHECK: &str = "LAD001";

/// One rung's row; a number the check could not measure (apr refused the file) is `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub base: String,
    pub ftype: String,
    pub file_mb: Option<f64>,
    /// The rung oracle's perplexity over the float32 oracle's.
    pub cost_ppl_ratio: Option<f64>,
    /// Continuations of the rung's oracles that leave the float32 ones, of those compared.
    pub cost_flips: Option<(usize, usize)>,
    /// Largest chosen-token |Δ log-prob| and mean top-20 KL against the rung's oracles.
    pub apr: Option<(f64, f64)>,
    pub llamacpp: Option<(f64, f64)>,
    pub apr_tok_per_sec: Option<f64>,
    pub verdict: ReportVerdict,
    /// The verdict's message, for a row without numbers (apr refused the file).
    pub message: String,
}

/// The ladder's rows, in the order of the report.
pub fn rows(report: &Report) -> Vec<Row> {
    report
        .results
        .iter()
        .filter(|r| r.code == LADDER_CHECK)
        .filter_map(row)
        .collect()
}

fn row(r: &ResultRecord) -> Option<Row> {
    let Details::Facts(facts) = &r.details else {
        return None;
    };
    let num = |v: &Value| v.as_f64();
    let error = |side: &str| {
        let s = facts.get(side)?;
        Some((num(&s["max_chosen_logprob_diff"])?, num(&s["mean_kl"])?))
    };
    let cost = facts.get("cost");
    let flips = cost.and_then(|c| c["flips"].as_array()).map(|flips| {
        let left = flips.iter().filter(|f| !f[1].is_null()).count();
        (left, flips.len())
    });
    Some(Row {
        base: facts.get("base")?.as_str().unwrap_or_default().to_string(),
        ftype: facts.get("ftype")?.as_str()?.to_string(),
        file_mb: facts.get("file_bytes").and_then(num).map(|b| b / 1e6),
        cost_ppl_ratio: cost.and_then(|c| num(&c["ppl_ratio"])),
        cost_flips: flips,
        apr: error("apr"),
        llamacpp: error("llamacpp"),
        apr_tok_per_sec: facts.get("apr_tok_per_sec").and_then(num),
        verdict: r.verdict,
        message: r.message.clone(),
    })
}

/// The table's header cells, shared by the HTML and Markdown reporters.
pub const HEADER: [&str; 8] = [
    "model",
    "type",
    "file MB",
    "quantization cost: PPL ratio (continuations that leave F32)",
    "apr: max |Δ log-prob| / mean KL",
    "llama.cpp: max |Δ log-prob| / mean KL",
    "apr tok/s",
    "verdict",
];

impl Row {
    /// The row's cells, as text, in [`HEADER`]'s order (less the verdict).
    pub fn cells(&self) -> [String; 7] {
        let error = |e: Option<(f64, f64)>| {
            e.map_or_else(
                || "—".to_string(),
                |(diff, kl)| format!("{diff:.2e} / {kl:.1e}"),
            )
        };
        let apr = match self.apr {
            Some(_) => error(self.apr),
            None => format!("refused: {}", self.message),
        };
        [
            self.base.clone(),
            self.ftype.clone(),
            self.file_mb.map_or("—".into(), |mb| format!("{mb:.2}")),
            match (self.cost_ppl_ratio, self.cost_flips) {
                (Some(ratio), Some((left, of))) => format!("x{ratio:.4} ({left}/{of})"),
                (Some(ratio), None) => format!("x{ratio:.4}"),
                _ => "—".into(),
            },
            apr,
            error(self.llamacpp),
            self.apr_tok_per_sec
                .map_or("—".into(), |t| format!("{t:.0}")),
        ]
    }
}
