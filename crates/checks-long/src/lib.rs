//! Suite `long`: how far apr reads. Every other suite sends prompts of a few tokens and stops
//! at 32; this one continues a prefix of hundreds to thousands of tokens of one text, copies a
//! word list back across a long distance, scores the text by position with `apr eval`, walks
//! the edge of the model's declared context, and continues prompts of chosen lengths to name
//! the length where a runtime first departs (a RoPE scaling or sliding window it ignores). Its oracles are `<oracle>/long/`, which
//! `tmgt oracle` makes from `[long] text` with `tools/oracle/long.py`.

mod boundary;
mod copy_gguf;
mod eval_positions;
mod judge;
mod oracles;
mod positions;
mod positions_apr;
mod positions_gguf;
mod positions_llamacpp;
mod positions_native;
mod prefix_apr;
mod prefix_gguf;
mod prefix_native;

use serde::{Deserialize, Serialize};

/// `[thresholds.long]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LongThresholds {
    /// The longest prefix (tokens) the suite continues and scores: of the prefixes a model's
    /// oracles hold, the longest within this. A few hundred tokens cost apr minutes on a real
    /// model; the `long` profile raises it.
    pub max_prefix: u32,
    /// The longest prompt the position checks continue: of the lengths a model's position
    /// oracles hold, those within this. On a real model's `.apr` every prompt token costs
    /// apr a share of a second.
    pub max_position: u32,
}

impl Default for LongThresholds {
    fn default() -> Self {
        LongThresholds {
            max_prefix: 512,
            max_position: 256,
        }
    }
}

tmgt_check::declare_thresholds!(LongThresholds, suite: "long");
