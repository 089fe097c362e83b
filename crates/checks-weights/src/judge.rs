//! One file held against its source, tensor by tensor: present once, same shape, values within
//! the bound of the file's storage type, and each departure classified.

use crate::bound::Bounds;
use crate::classify::{Case, Departure, close_all};
use crate::file::{ConvertedFile, FileError, StoredTensor};
use crate::map::{self, Arch, Expected, Transform, apply};
use checks_structure::source::{SourceError, SourceModel};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Other source tensors tried as the origin of a departing tensor's values.
const MAX_CANDIDATES: usize = 24;

/// Why a file could not be judged.
#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    File(#[from] FileError),
    #[error("the source's tensors have no map to this file's format: {0}")]
    Map(String),
}

/// A departing tensor.
#[derive(Debug, Clone, Serialize)]
pub struct Departing {
    pub tensor: String,
    pub source: String,
    pub storage: String,
    pub departure: Departure,
}

/// A tensor the map does not expect, and which expected tensor's values it holds, if any.
#[derive(Debug, Clone, Serialize)]
pub struct Extra {
    pub tensor: String,
    pub equals: Option<String>,
}

/// The judgement of one file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FileJudgement {
    pub expected: usize,
    pub tensors_compared: usize,
    pub elements_compared: u64,
    pub agreeing: usize,
    pub departing: Vec<Departing>,
    pub missing: Vec<String>,
    pub extra: Vec<Extra>,
    /// `name [found] (expected [shape])`, where the element counts differ.
    pub reshaped: Vec<String>,
    /// `name (type)`: tensors whose storage tmgt cannot decode.
    pub unjudged: Vec<String>,
    /// How many tensors the file stores in each type.
    pub storage: BTreeMap<String, usize>,
}

impl FileJudgement {
    /// Whether every expected tensor is present, shaped and within its bound. Extra tensors
    /// are listed, not held against the file: llama.cpp writes some of its own
    /// (`rope_freqs.weight`) and a copy of a tied head changes no output.
    pub fn faithful(&self) -> bool {
        self.departing.is_empty() && self.missing.is_empty() && self.reshaped.is_empty()
    }

    /// One sentence a ticket can carry: what departs, grouped by kind and tensor role.
    pub fn summary(&self) -> String {
        let broken = self.departing.len() + self.missing.len() + self.reshaped.len();
        let mut parts = Vec::new();
        let mut groups: BTreeMap<(String, &str), (usize, String)> = BTreeMap::new();
        for d in &self.departing {
            let entry = groups
                .entry((role(&d.tensor), d.departure.label()))
                .or_insert((0, d.departure.to_string()));
            entry.0 += 1;
        }
        for ((role, _), (count, said)) in &groups {
            parts.push(if *count > 1 {
                format!("{role} in {count} layers {said}")
            } else {
                let tensor = &self
                    .departing
                    .iter()
                    .find(|d| self::role(&d.tensor) == *role)
                    .map_or(role.as_str(), |d| d.tensor.as_str());
                format!("{tensor} {said}")
            });
        }
        if !self.missing.is_empty() {
            parts.push(format!(
                "{} missing ({})",
                self.missing.len(),
                tmgt_check::first_few(&self.missing, 5, ", ")
            ));
        }
        if !self.reshaped.is_empty() {
            parts.push(format!(
                "{} reshaped ({})",
                self.reshaped.len(),
                tmgt_check::first_few(&self.reshaped, 5, ", ")
            ));
        }
        let extras: Vec<String> = self
            .extra
            .iter()
            .map(|e| match &e.equals {
                Some(other) => format!("{} (it holds {other}'s values)", e.tensor),
                None => e.tensor.clone(),
            })
            .collect();
        match extras.len() {
            0 => {}
            1 => parts.push(format!("{} is extra", extras[0])),
            n => parts.push(format!(
                "{n} extra: {}",
                tmgt_check::first_few(&extras, 3, ", ")
            )),
        }
        if !self.unjudged.is_empty() {
            parts.push(format!(
                "{} not compared, stored in types tmgt does not decode ({})",
                self.unjudged.len(),
                tmgt_check::first_few(&self.unjudged, 5, ", ")
            ));
        }
        let head = if broken == 0 {
            format!(
                "all {} tensors agree with the source ({} values compared)",
                self.agreeing, self.elements_compared
            )
        } else {
            format!("{broken} of {} tensors depart", self.expected)
        };
        match parts.is_empty() {
            true => head,
            false => format!("{head}: {}", parts.join("; ")),
        }
    }
}

/// A tensor's role: its name with the layer number replaced by `*`.
fn role(name: &str) -> String {
    let mut out = Vec::new();
    let mut after_layer_prefix = false;
    for part in name.split('.') {
        if after_layer_prefix && part.chars().all(|c| c.is_ascii_digit()) {
            out.push("*");
        } else {
            out.push(part);
        }
        after_layer_prefix = part == "blk" || part == "layers" || part == "h";
    }
    out.join(".")
}

/// The layer number in a tensor name, if any.
fn layer(name: &str) -> Option<&str> {
    let mut parts = name.split('.');
    while let Some(p) = parts.next() {
        if p == "blk" || p == "layers" || p == "h" {
            return parts.next();
        }
    }
    None
}

/// Holds `file` against `source`, one tensor in memory at a time (plus a candidate's, while
/// a departure is classified).
pub fn judge_file(
    source: &SourceModel,
    arch: &Arch,
    file: &ConvertedFile,
) -> Result<FileJudgement, JudgeError> {
    let source_tensors = source.tensors();
    let expected = map::expected(file.target(), arch, &source_tensors).map_err(JudgeError::Map)?;
    let stored: HashMap<String, StoredTensor> = file
        .tensors()
        .into_iter()
        .map(|t| (t.name.clone(), t))
        .collect();
    let source_shape: HashMap<&str, &[usize]> = source_tensors
        .iter()
        .map(|t| (t.name.as_str(), t.shape.as_slice()))
        .collect();
    // The source tensor as stored, and as the file should hold it; the first is kept only
    // where a transform made the second, so an untransformed tensor is in memory once.
    let want_of = |e: &Expected| -> Result<(Vec<f32>, Vec<f32>), SourceError> {
        let shape = source_shape.get(e.source.as_str()).copied().unwrap_or(&[]);
        let mut raw = Vec::with_capacity(shape.iter().product());
        source.visit_f32(&e.source, &mut |block| raw.extend_from_slice(block))?;
        Ok(match e.transform {
            Transform::Same => (Vec::new(), raw),
            other => {
                let want = apply(other, &raw, shape);
                (raw, want)
            }
        })
    };

    let mut j = FileJudgement {
        expected: expected.len(),
        ..FileJudgement::default()
    };
    for t in stored.values() {
        let label = match &t.storage {
            Ok(s) => s.to_string(),
            Err(s) => s.clone(),
        };
        *j.storage.entry(label).or_default() += 1;
    }
    for e in &expected {
        let Some(t) = stored.get(&e.name) else {
            j.missing.push(e.name.clone());
            continue;
        };
        let storage = match t.storage {
            Ok(s) => s,
            Err(ref kind) => {
                j.unjudged.push(format!("{} ({kind})", e.name));
                continue;
            }
        };
        let elements: usize = t.shape.iter().product();
        if elements != e.elements() {
            j.reshaped
                .push(format!("{} {:?} (expected {:?})", e.name, t.shape, e.shape));
            continue;
        }
        let (raw, want) = want_of(e)?;
        let got = file.read(&e.name)?;
        let bounds = Bounds::new(storage, &want);
        let case = Case {
            want: &want,
            got: &got,
            shape: &e.shape,
            bounds: &bounds,
            transform: e.transform,
            source: &raw,
        };
        j.tensors_compared += 1;
        j.elements_compared += want.len() as u64;
        if case.agrees() {
            j.agreeing += 1;
            continue;
        }
        let mut failure = None;
        let mut others = || {
            let tol = bounds.largest(&want);
            let found = candidates(&expected, e).find(|c| match want_of(c) {
                Ok((_, other)) => close_all(&got, &other, tol),
                Err(err) => {
                    failure = Some(err);
                    false
                }
            })?;
            let swapped = file
                .read(&found.name)
                .is_ok_and(|theirs| close_all(&theirs, &want, tol));
            Some(Departure::EqualsOther {
                other: found.name.clone(),
                swapped,
            })
        };
        let departure = case.classify(&mut others);
        if let Some(err) = failure {
            return Err(err.into());
        }
        j.departing.push(Departing {
            tensor: e.name.clone(),
            source: e.source.clone(),
            storage: storage.to_string(),
            departure,
        });
    }

    let known: std::collections::HashSet<&str> = expected.iter().map(|e| e.name.as_str()).collect();
    let mut extras: Vec<&StoredTensor> = stored
        .values()
        .filter(|t| !known.contains(t.name.as_str()))
        .collect();
    extras.sort_by(|a, b| a.name.cmp(&b.name));
    for t in extras {
        let elements: usize = t.shape.iter().product();
        let equals = match t.storage {
            Ok(storage) => {
                let got = file.read(&t.name)?;
                let mut found = None;
                for c in expected
                    .iter()
                    .filter(|c| c.elements() == elements)
                    .take(MAX_CANDIDATES)
                {
                    let (_, other) = want_of(c)?;
                    if close_all(&got, &other, Bounds::new(storage, &other).largest(&other)) {
                        found = Some(c.name.clone());
                        break;
                    }
                }
                found
            }
            Err(_) => None,
        };
        j.extra.push(Extra {
            tensor: t.name.clone(),
            equals,
        });
    }
    Ok(j)
}

/// Expected tensors that could have lent `e` its values: same element count, the same layer
/// first, then the same role in other layers, then the rest.
fn candidates<'a>(expected: &'a [Expected], e: &'a Expected) -> impl Iterator<Item = &'a Expected> {
    let same_size = move |c: &&Expected| c.name != e.name && c.elements() == e.elements();
    let same_layer = expected
        .iter()
        .filter(same_size)
        .filter(move |c| layer(&c.name) == layer(&e.name));
    let same_role = expected
        .iter()
        .filter(same_size)
        .filter(move |c| layer(&c.name) != layer(&e.name) && role(&c.name) == role(&e.name));
    let rest = expected
        .iter()
        .filter(same_size)
        .filter(move |c| layer(&c.name) != layer(&e.name) && role(&c.name) != role(&e.name));
    same_layer.chain(same_role).chain(rest).take(MAX_CANDIDATES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_hide_the_layer_number_only() {
        assert_eq!(role("blk.12.attn_q.weight"), "blk.*.attn_q.weight");
        assert_eq!(
            role("model.layers.3.mlp.up_proj.weight"),
            "model.layers.*.mlp.up_proj.weight"
        );
        assert_eq!(role("token_embd.weight"), "token_embd.weight");
        assert_eq!(layer("blk.12.attn_q.weight"), Some("12"));
    }
}
