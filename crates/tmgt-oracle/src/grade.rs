//! How close a remade oracle file is to the committed one.
//!
//! Byte-identical is the strongest answer, but not the only acceptable one: another CPU sums
//! in another order and moves log-probabilities by about 1e-6. So everything discrete
//! (tokens, prompt ids, stops, texts, keys, lengths) must be identical, and every float may
//! differ by at most [`FLOAT_TOLERANCE`]; the largest difference and where it lies are
//! reported either way.

use std::fmt;

/// The largest difference of one float (a log-probability, a margin, a perplexity, an
/// activation) that still counts as the same oracle: absolute for values up to 1, relative
/// to the committed value above (a norm of 118 carries float32 noise of 1e-5). About ten
/// times the float noise seen across CPUs (up to 1.2e-5), ten times below the smallest
/// tolerance a check judges apr by (`[thresholds.runtime] max_logprob_diff` 1e-3).
pub const FLOAT_TOLERANCE: f64 = 1e-4;

/// What [`FLOAT_TOLERANCE`] allows around `committed`.
fn allowed(committed: f64) -> f64 {
    FLOAT_TOLERANCE * committed.abs().max(1.0)
}

/// The answer for one file.
#[derive(Debug, Clone, PartialEq)]
pub enum Grade {
    /// The same bytes.
    Identical,
    /// The same discrete content; floats within [`FLOAT_TOLERANCE`] (relative above 1).
    Equivalent { largest: FloatDifference },
    /// Something discrete differs, or a float is past the tolerance.
    Differs { first: String },
}

/// The largest float difference found, and where.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FloatDifference {
    pub at: String,
    pub committed: f64,
    pub remade: f64,
}

impl FloatDifference {
    #[must_use]
    pub fn size(&self) -> f64 {
        (self.committed - self.remade).abs()
    }
}

impl fmt::Display for Grade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Grade::Identical => f.write_str("identical byte for byte"),
            Grade::Equivalent { largest } if largest.at.is_empty() => {
                f.write_str("equivalent: the same values, written otherwise")
            }
            Grade::Equivalent { largest } => write!(
                f,
                "equivalent: every token, id and stop the same; the largest float difference \
                 {:.2e} at {} ({} committed, {} remade), within {FLOAT_TOLERANCE:e} (relative \
                 above 1)",
                largest.size(),
                largest.at,
                largest.committed,
                largest.remade
            ),
            Grade::Differs { first } => write!(f, "differs: {first}"),
        }
    }
}

/// Grades a remade file against the committed one: JSON oracles by their values,
/// safetensors stage files by their tensors, anything else by its bytes.
#[must_use]
pub fn grade(name: &str, committed: &[u8], remade: &[u8]) -> Grade {
    if committed == remade {
        return Grade::Identical;
    }
    let mut walk = Walk::default();
    let compared = if name.ends_with(".json") {
        match (
            serde_json::from_slice::<serde_json::Value>(committed),
            serde_json::from_slice::<serde_json::Value>(remade),
        ) {
            (Ok(a), Ok(b)) => {
                walk.json("", &a, &b);
                Ok(())
            }
            (Err(e), _) => Err(format!("the committed file is not JSON ({e})")),
            (_, Err(e)) => Err(format!("the remade file is not JSON ({e})")),
        }
    } else if name.ends_with(".safetensors") {
        walk.safetensors(committed, remade)
    } else {
        Err("the bytes differ".to_string())
    };
    match (compared, walk.first) {
        (Err(why), _) | (Ok(()), Some(why)) => Grade::Differs { first: why },
        (Ok(()), None) => Grade::Equivalent {
            largest: walk.largest,
        },
    }
}

/// A parallel walk of two documents: the first discrete difference, the largest float one.
#[derive(Debug, Default)]
struct Walk {
    first: Option<String>,
    largest: FloatDifference,
}

impl Walk {
    fn differ(&mut self, why: String) {
        self.first.get_or_insert(why);
    }

    fn float(&mut self, at: &str, committed: f64, remade: f64) {
        let d = FloatDifference {
            at: path(at).to_string(),
            committed,
            remade,
        };
        let size = d.size();
        if size.is_nan() || size > allowed(committed) {
            self.differ(format!(
                "{}: {committed} committed, {remade} remade (more than {:e} apart)",
                path(at),
                allowed(committed)
            ));
        } else if size > self.largest.size() {
            self.largest = d;
        }
    }

    fn json(&mut self, at: &str, a: &serde_json::Value, b: &serde_json::Value) {
        use serde_json::Value as J;
        if self.first.is_some() {
            return;
        }
        match (a, b) {
            (J::Number(x), J::Number(y)) if x.is_f64() || y.is_f64() => {
                match (x.as_f64(), y.as_f64()) {
                    (Some(x), Some(y)) => self.float(at, x, y),
                    _ => self.differ(format!("{}: {x} committed, {y} remade", path(at))),
                }
            }
            (J::Array(x), J::Array(y)) => {
                if x.len() != y.len() {
                    self.differ(format!(
                        "{}: {} items committed, {} remade",
                        path(at),
                        x.len(),
                        y.len()
                    ));
                    return;
                }
                for (i, (x, y)) in x.iter().zip(y).enumerate() {
                    self.json(&format!("{at}[{i}]"), x, y);
                }
            }
            (J::Object(x), J::Object(y)) => {
                if let Some(key) = x.keys().find(|k| !y.contains_key(*k)) {
                    self.differ(format!("{at}.{key}: committed, not remade"));
                    return;
                }
                if let Some(key) = y.keys().find(|k| !x.contains_key(*k)) {
                    self.differ(format!("{at}.{key}: remade, not committed"));
                    return;
                }
                for (key, x) in x {
                    self.json(&format!("{at}.{key}"), x, &y[key]);
                }
            }
            (x, y) if x == y => {}
            (x, y) => self.differ(format!("{}: {x} committed, {y} remade", path(at))),
        }
    }

    fn safetensors(&mut self, committed: &[u8], remade: &[u8]) -> Result<(), String> {
        use safetensors::SafeTensors;
        let a = SafeTensors::deserialize(committed)
            .map_err(|e| format!("the committed file is not safetensors ({e})"))?;
        let b = SafeTensors::deserialize(remade)
            .map_err(|e| format!("the remade file is not safetensors ({e})"))?;
        let mut names: Vec<String> = a.names().into_iter().map(str::to_string).collect();
        names.sort();
        let mut other: Vec<String> = b.names().into_iter().map(str::to_string).collect();
        other.sort();
        if names != other {
            return Err("the tensors' names differ".into());
        }
        for name in &names {
            let (x, y) = (
                a.tensor(name).map_err(|e| e.to_string())?,
                b.tensor(name).map_err(|e| e.to_string())?,
            );
            if x.dtype() != y.dtype() || x.shape() != y.shape() {
                self.differ(format!(
                    "{name}: {:?} {:?} committed, {:?} {:?} remade",
                    x.dtype(),
                    x.shape(),
                    y.dtype(),
                    y.shape()
                ));
                continue;
            }
            match x.dtype() {
                safetensors::Dtype::F32 => {
                    let values = |d: &[u8]| -> Vec<f32> {
                        d.chunks_exact(4)
                            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                            .collect()
                    };
                    for (i, (p, q)) in values(x.data()).iter().zip(values(y.data())).enumerate() {
                        self.float(&format!("{name}[{i}]"), f64::from(*p), f64::from(q));
                    }
                }
                _ if x.data() == y.data() => {}
                dtype => self.differ(format!("{name}: its {dtype:?} values differ")),
            }
        }
        Ok(())
    }
}

/// A JSON path for messages: the document itself is `(top)`.
fn path(at: &str) -> &str {
    if at.is_empty() { "(top)" } else { at }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Vec<u8> {
        text.as_bytes().to_vec()
    }

    #[test]
    fn the_same_bytes_are_identical() {
        let a = json(r#"{"tokens":[1,2],"steps":[{"logprob":-0.5}]}"#);
        assert_eq!(grade("x.json", &a, &a), Grade::Identical);
    }

    #[test]
    fn float_noise_is_equivalent_and_its_largest_difference_is_named() {
        let a = json(r#"{"tokens":[1,2],"steps":[{"logprob":-0.5,"margin":1.25}]}"#);
        let b = json(r#"{"tokens":[1,2],"steps":[{"logprob":-0.5000076,"margin":1.250001}]}"#);
        let Grade::Equivalent { largest } = grade("x.json", &a, &b) else {
            panic!("not equivalent");
        };
        assert_eq!(largest.at, ".steps[0].logprob");
        assert!((largest.size() - 7.6e-6).abs() < 1e-9, "{largest:?}");
        let said = grade("x.json", &a, &b).to_string();
        assert!(said.contains("7.60e-6 at .steps[0].logprob"), "{said}");
    }

    #[test]
    fn a_different_token_differs_however_small_the_float_noise() {
        let a = json(r#"{"tokens":[1,2],"stop_reason":"eos"}"#);
        let b = json(r#"{"tokens":[1,3],"stop_reason":"eos"}"#);
        assert_eq!(
            grade("x.json", &a, &b),
            Grade::Differs {
                first: ".tokens[1]: 2 committed, 3 remade".into()
            }
        );
        let c = json(r#"{"tokens":[1,2],"stop_reason":"max_new_tokens"}"#);
        assert!(matches!(grade("x.json", &a, &c), Grade::Differs { .. }));
    }

    #[test]
    fn a_float_past_the_tolerance_a_missing_key_and_another_length_differ() {
        let a = json(r#"{"nll":[0.25,0.5],"perplexity":227.25}"#);
        let relative = json(r#"{"nll":[0.25,0.5],"perplexity":227.26}"#);
        assert!(matches!(
            grade("x.json", &a, &relative),
            Grade::Equivalent { .. }
        ));
        for b in [
            r#"{"nll":[0.25,0.5002],"perplexity":227.25}"#,
            r#"{"nll":[0.25],"perplexity":227.25}"#,
            r#"{"nll":[0.25,0.5],"perplexity":227.3}"#,
            r#"{"nll":[0.25,0.5],"perplexity":227.25,"extra":1}"#,
            r#"{}"#,
        ] {
            let g = grade("x.json", &a, &json(b));
            assert!(matches!(g, Grade::Differs { .. }), "{b}: {g}");
        }
    }

    #[test]
    fn stage_tensors_are_graded_value_by_value() {
        let file = |values: &[f32]| {
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            let view = safetensors::tensor::TensorView::new(
                safetensors::Dtype::F32,
                vec![values.len()],
                &bytes,
            )
            .unwrap();
            safetensors::serialize([("layer.0", view)], None).unwrap()
        };
        let a = file(&[1.0, -2.0]);
        assert!(matches!(
            grade("stages.safetensors", &a, &file(&[1.000_001, -2.0])),
            Grade::Equivalent { .. }
        ));
        assert!(matches!(
            grade("stages.safetensors", &a, &file(&[1.1, -2.0])),
            Grade::Differs { .. }
        ));
        assert!(matches!(
            grade("notes.txt", b"a", b"b"),
            Grade::Differs { .. }
        ));
    }
}
