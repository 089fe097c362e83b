//! A runtime's tokens judged against the oracle's.
//!
//! Greedy decoding feeds each token back in, so once two sequences differ everything after is
//! conditioned on different text: only the first divergence is an independent error. Its
//! cause is judged from the oracle's top-1/top-2 margin at that step: below the tie tolerance
//! float noise can flip it (`tie-flip`); above it the runtime computed something else
//! (`divergence`).

use serde::{Deserialize, Serialize};

/// What a token check compared: the oracle's tokens and one runtime's, and where they part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenJudgement {
    /// The runtime, as messages name it: `apr`, `llama.cpp`.
    pub runtime: String,
    pub oracle: Vec<u32>,
    /// The runtime's tokens as it printed them.
    pub tokens: Vec<u32>,
    /// The text the runtime decoded, where it prints one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The runtime says it stopped at an end-of-sequence token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<TokenComparison>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<Classification>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
    /// The BOS id a prompt check expected first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bos_token_id: Option<u32>,
    /// The runtime put a BOS before the prompt's ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adds_bos: Option<bool>,
    /// Where the tokens agree: the first step whose chosen-token log-probability differs from
    /// the oracle's by more than the bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprob_departure: Option<usize>,
}

impl TokenJudgement {
    /// The oracle's and a runtime's tokens, nothing judged yet.
    pub fn new(runtime: impl Into<String>, oracle: &[u32], tokens: &[u32]) -> TokenJudgement {
        TokenJudgement {
            runtime: runtime.into(),
            oracle: oracle.to_vec(),
            tokens: tokens.to_vec(),
            text: None,
            stopped: None,
            comparison: None,
            classification: None,
            window: None,
            bos_token_id: None,
            adds_bos: None,
            logprob_departure: None,
        }
    }

    pub fn first_divergence(&self) -> Option<usize> {
        self.comparison.as_ref()?.first_divergence
    }

    /// The first step where the runtime departs: its token, or else its chosen-token
    /// log-probability.
    pub fn first_departure(&self) -> Option<usize> {
        self.first_divergence().or(self.logprob_departure)
    }

    pub fn is_tie_flip(&self) -> bool {
        self.classification
            .as_ref()
            .is_some_and(Classification::is_tie_flip)
    }

    /// How the sequences part, by name; `divergence` where no class was judged.
    pub fn class_name(&self) -> &'static str {
        self.classification
            .as_ref()
            .map_or("divergence", Classification::name)
    }
}

/// How a runtime's tokens relate to the oracle's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenComparison {
    pub expected_len: usize,
    pub actual_len: usize,
    /// The reference project's count: differing positions plus the length difference.
    pub mismatches: usize,
    /// The first position that differs (or where one sequence ends early).
    pub first_divergence: Option<usize>,
}

impl TokenComparison {
    /// Positions the runtime left out count one each. Tokens it generated past the oracle's
    /// end count once at most: the oracle ends at EOS, so the first of them is the missed stop
    /// (a differing position already) and the rest are conditioned on text the oracle never
    /// produced.
    pub fn new(expected: &[u32], actual: &[u32]) -> TokenComparison {
        let common = expected.len().min(actual.len());
        let differing = expected.iter().zip(actual).filter(|(a, b)| a != b).count();
        let missing = expected.len().saturating_sub(actual.len());
        let extra = usize::from(actual.len() > expected.len() && differing == 0);
        let first_divergence = expected
            .iter()
            .zip(actual)
            .position(|(a, b)| a != b)
            .or((expected.len() != actual.len()).then_some(common));
        TokenComparison {
            expected_len: expected.len(),
            actual_len: actual.len(),
            mismatches: differing + missing + extra,
            first_divergence,
        }
    }

    pub fn exact(&self) -> bool {
        self.first_divergence.is_none()
    }

    /// Positions compared, counting both lengths (the evidence behind the verdict).
    pub fn evidence(&self) -> usize {
        self.expected_len.max(self.actual_len)
    }
}

/// Why the sequences part, judged by the oracle's margin at the first divergence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Classification {
    /// The oracle itself nearly tied there: noise can flip it.
    TieFlip { step: usize, margin: f64 },
    /// The oracle was confident there: the runtime computed something else.
    Divergence { step: usize, margin: f64 },
    /// The oracle records no margin at that step (a reference oracle, or the runtime ran
    /// longer).
    Unclassified { step: usize },
}

impl Classification {
    /// The class of a divergence at `step`, where the oracle's margin there is `margin`.
    pub fn at(step: usize, margin: Option<f64>, tie_margin: f64) -> Classification {
        match margin {
            Some(margin) if margin < tie_margin => Classification::TieFlip { step, margin },
            Some(margin) => Classification::Divergence { step, margin },
            None => Classification::Unclassified { step },
        }
    }

    pub fn is_tie_flip(&self) -> bool {
        matches!(self, Classification::TieFlip { .. })
    }

    /// Its name in a report: `tie-flip`, `divergence` or `unclassified`.
    pub fn name(&self) -> &'static str {
        match self {
            Classification::TieFlip { .. } => "tie-flip",
            Classification::Divergence { .. } => "divergence",
            Classification::Unclassified { .. } => "unclassified",
        }
    }
}

impl std::fmt::Display for Classification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Classification::TieFlip { step, margin } => {
                write!(
                    f,
                    "tie-flip at step {step} (oracle margin {margin:.3} logits)"
                )
            }
            Classification::Divergence { step, margin } => {
                write!(
                    f,
                    "divergence at step {step} (oracle margin {margin:.3} logits)"
                )
            }
            Classification::Unclassified { step } => {
                write!(f, "divergence at step {step} (oracle has no margin there)")
            }
        }
    }
}

/// The tokens around a position on both sides, with the oracle's margins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    pub start: usize,
    pub expected: Vec<u32>,
    pub actual: Vec<u32>,
    /// The oracle's top-1 minus top-2 logit at each step, where it records one.
    pub margins: Vec<Option<f64>>,
}

impl Window {
    /// `radius` steps either side of `at`; `margin(i)` is the oracle's margin at step `i`.
    pub fn around(
        expected: &[u32],
        actual: &[u32],
        at: usize,
        radius: usize,
        margin: impl Fn(usize) -> Option<f64>,
    ) -> Window {
        let start = at.saturating_sub(radius);
        let end = at + radius + 1;
        let slice = |s: &[u32]| s.get(start..end.min(s.len())).unwrap_or_default().to_vec();
        Window {
            start,
            expected: slice(expected),
            actual: slice(actual),
            margins: (start..end.min(expected.len())).map(margin).collect(),
        }
    }

    /// `steps 2..: oracle [..] / apr [..]`, naming the runtime that produced the other side.
    pub fn describe(&self, runtime: &str) -> String {
        format!(
            "steps {}..: oracle {:?} / {runtime} {:?}",
            self.start, self.expected, self.actual
        )
    }
}
