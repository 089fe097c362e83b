//! Naming the outlier among three runtimes' token sequences.
//!
//! The common-prefix length is an ultrametric: of the three pairwise first divergences, the
//! two earliest are always equal. So either all three part at the same step (no two agree
//! there: no outlier can be named), or one runtime leaves the other two at step `k` while
//! they still agree past it: that runtime is the outlier from step `k`.

use serde::Serialize;
use tmgt_check::outcome::TokenComparison;

/// One of the three sides of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Runtime {
    /// HuggingFace transformers, float32, greedy.
    Oracle,
    LlamaCpp,
    Apr,
}

impl Runtime {
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Oracle => "the oracle",
            Runtime::LlamaCpp => "llama.cpp",
            Runtime::Apr => "apr",
        }
    }
}

impl std::fmt::Display for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How three sequences relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ThreeWay {
    /// All three are equal.
    Agree { len: usize },
    /// `outlier` leaves the other two at `from_step`; they agree until `others_part_at`
    /// (`None`: to the end).
    Outlier {
        outlier: Runtime,
        from_step: usize,
        others_part_at: Option<usize>,
    },
    /// All three differ from `from_step` on: no two agree there.
    NoMajority { from_step: usize },
}

impl ThreeWay {
    /// Compares the oracle's, llama.cpp's and apr's sequences (token or prompt ids).
    pub fn of(oracle: &[u32], llamacpp: &[u32], apr: &[u32]) -> ThreeWay {
        let d = |a: &[u32], b: &[u32]| TokenComparison::new(a, b).first_divergence;
        let ol = d(oracle, llamacpp);
        let oa = d(oracle, apr);
        let la = d(llamacpp, apr);
        // `None` (never part) sorts after every step.
        let key = |x: Option<usize>| x.unwrap_or(usize::MAX);
        let candidates = [
            (Runtime::Oracle, ol, oa, la),
            (Runtime::LlamaCpp, ol, la, oa),
            (Runtime::Apr, oa, la, ol),
        ];
        for (runtime, with_first, with_second, between_others) in candidates {
            if let (Some(a), Some(b)) = (with_first, with_second) {
                if a == b && key(between_others) > a {
                    return ThreeWay::Outlier {
                        outlier: runtime,
                        from_step: a,
                        others_part_at: between_others,
                    };
                }
            }
        }
        match ol.or(oa).or(la) {
            None => ThreeWay::Agree { len: oracle.len() },
            // Ultrametric: with no single outlier, all three first divergences are equal.
            Some(step) => ThreeWay::NoMajority { from_step: step },
        }
    }

    /// The runtime the others outvote, if there is one.
    pub fn outlier(&self) -> Option<Runtime> {
        match self {
            ThreeWay::Outlier { outlier, .. } => Some(*outlier),
            _ => None,
        }
    }

    /// A sentence, with `unit` naming what the positions count ("step", "prompt position").
    pub fn describe(&self, unit: &str) -> String {
        match self {
            ThreeWay::Agree { len } => {
                format!("apr, llama.cpp and the oracle agree on all {len} {unit}s")
            }
            ThreeWay::Outlier {
                outlier,
                from_step,
                others_part_at,
            } => {
                let (a, b) = others(*outlier);
                let mut s = format!("{outlier} disagrees with {a} and {b} from {unit} {from_step}");
                if let Some(k) = others_part_at {
                    s.push_str(&format!(" ({a} and {b} part later, at {unit} {k})"));
                }
                s
            }
            ThreeWay::NoMajority { from_step } => format!(
                "apr, llama.cpp and the oracle all differ from {unit} {from_step}: no two agree there, so no outlier can be named"
            ),
        }
    }
}

/// The two runtimes other than `r`, in a fixed reading order.
fn others(r: Runtime) -> (Runtime, Runtime) {
    match r {
        Runtime::Oracle => (Runtime::Apr, Runtime::LlamaCpp),
        Runtime::LlamaCpp => (Runtime::Apr, Runtime::Oracle),
        Runtime::Apr => (Runtime::LlamaCpp, Runtime::Oracle),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORACLE: [u32; 6] = [10, 11, 12, 13, 14, 15];

    #[test]
    fn three_equal_sequences_agree() {
        assert_eq!(
            ThreeWay::of(&ORACLE, &ORACLE, &ORACLE),
            ThreeWay::Agree { len: 6 }
        );
        assert_eq!(
            ThreeWay::Agree { len: 6 }.describe("token"),
            "apr, llama.cpp and the oracle agree on all 6 tokens"
        );
    }

    #[test]
    fn apr_alone_leaves_at_step_four() {
        let apr = [10, 11, 12, 13, 99, 98];
        let w = ThreeWay::of(&ORACLE, &ORACLE, &apr);
        assert_eq!(
            w,
            ThreeWay::Outlier {
                outlier: Runtime::Apr,
                from_step: 4,
                others_part_at: None
            }
        );
        assert_eq!(
            w.describe("step"),
            "apr disagrees with llama.cpp and the oracle from step 4"
        );
    }

    #[test]
    fn apr_leaves_first_then_llamacpp_parts_from_the_oracle_later() {
        let llama = [10, 11, 12, 13, 14, 77];
        let apr = [10, 11, 99, 13, 14, 15];
        let w = ThreeWay::of(&ORACLE, &llama, &apr);
        assert_eq!(
            w,
            ThreeWay::Outlier {
                outlier: Runtime::Apr,
                from_step: 2,
                others_part_at: Some(5)
            }
        );
        assert_eq!(
            w.describe("step"),
            "apr disagrees with llama.cpp and the oracle from step 2 (llama.cpp and the oracle part later, at step 5)"
        );
    }

    #[test]
    fn llamacpp_can_be_the_outlier() {
        let llama = [10, 50, 51, 52, 53, 54];
        let w = ThreeWay::of(&ORACLE, &llama, &ORACLE);
        assert_eq!(w.outlier(), Some(Runtime::LlamaCpp));
        assert_eq!(
            w.describe("step"),
            "llama.cpp disagrees with apr and the oracle from step 1"
        );
    }

    #[test]
    fn both_runtimes_against_the_oracle_make_the_oracle_the_outlier() {
        let runtimes = [10, 11, 12, 40, 41, 42];
        let w = ThreeWay::of(&ORACLE, &runtimes, &runtimes);
        assert_eq!(
            w,
            ThreeWay::Outlier {
                outlier: Runtime::Oracle,
                from_step: 3,
                others_part_at: None
            }
        );
        assert_eq!(
            w.describe("step"),
            "the oracle disagrees with apr and llama.cpp from step 3"
        );
    }

    #[test]
    fn three_different_choices_at_one_step_name_no_outlier() {
        let llama = [10, 11, 20, 21, 22, 23];
        let apr = [10, 11, 30, 31, 32, 33];
        let w = ThreeWay::of(&ORACLE, &llama, &apr);
        assert_eq!(w, ThreeWay::NoMajority { from_step: 2 });
        assert_eq!(w.outlier(), None);
        assert!(w.describe("step").contains("no outlier can be named"));
    }

    #[test]
    fn a_runtime_that_stops_early_is_the_outlier_where_it_stops() {
        let apr = [10, 11, 12];
        let w = ThreeWay::of(&ORACLE, &ORACLE, &apr);
        assert_eq!(
            w,
            ThreeWay::Outlier {
                outlier: Runtime::Apr,
                from_step: 3,
                others_part_at: None
            }
        );
        let silent = ThreeWay::of(&ORACLE, &ORACLE, &[]);
        assert_eq!(silent.outlier(), Some(Runtime::Apr));
    }

    #[test]
    fn prompt_ids_with_a_bos_only_on_apr_name_apr_at_position_zero() {
        let hf = [5, 6, 7];
        let apr = [0, 5, 6, 7];
        assert_eq!(
            ThreeWay::of(&hf, &hf, &apr).describe("prompt position"),
            "apr disagrees with llama.cpp and the oracle from prompt position 0"
        );
    }

    #[test]
    fn every_permutation_names_the_odd_one_out() {
        let odd = [10, 11, 12, 0, 0, 0];
        for (o, l, a, expected) in [
            (&odd, &ORACLE, &ORACLE, Runtime::Oracle),
            (&ORACLE, &odd, &ORACLE, Runtime::LlamaCpp),
            (&ORACLE, &ORACLE, &odd, Runtime::Apr),
        ] {
            assert_eq!(ThreeWay::of(o, l, a).outlier(), Some(expected));
        }
    }
}
