//! One file held against its source, tensor by tensor and chunk by chunk: present once, same
//! shape, values within the bound of the file's storage type, and each departure classified.

use crate::bound::Bounds;
use crate::classify::{Departure, close, close_all};
use crate::file::{ConvertedFile, FileError, Storage, StoredTensor};
use crate::map::{self, Arch, Expected, Transform, apply};
use checks_structure::source::{SourceError, SourceModel};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;

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

/// Values a buffer holds at a time: a real model's 113 MB embedding is compared 4 MB at a time.
pub const CHUNK_VALUES: usize = 1 << 20;

/// Holds `file` against `source`, a chunk of rows at a time, so memory stays a few chunks
/// whatever the model.
pub fn judge_file(
    source: &SourceModel,
    arch: &Arch,
    file: &ConvertedFile,
) -> Result<FileJudgement, JudgeError> {
    judge_file_in_chunks(source, arch, file, CHUNK_VALUES)
}

/// [`judge_file`] with chunks of at most `chunk_values` values (rounded up to whole heads and
/// blocks): tests use small ones to reach the chunked paths on tiny models.
pub fn judge_file_in_chunks(
    source: &SourceModel,
    arch: &Arch,
    file: &ConvertedFile,
    chunk_values: usize,
) -> Result<FileJudgement, JudgeError> {
    let source_tensors = source.tensors();
    let expected = map::expected(file.target(), arch, &source_tensors).map_err(JudgeError::Map)?;
    let stored: HashMap<String, StoredTensor> = file
        .tensors()
        .into_iter()
        .map(|t| (t.name.clone(), t))
        .collect();
    let source_shapes: HashMap<&str, &[usize]> = source_tensors
        .iter()
        .map(|t| (t.name.as_str(), t.shape.as_slice()))
        .collect();
    let io = Io {
        source,
        file,
        source_shapes: &source_shapes,
        chunk_values,
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
        let plan = io.plan(e, storage)?;
        let tally = io.tally(&plan)?;
        j.tensors_compared += 1;
        j.elements_compared += elements as u64;
        if tally.departing == 0 {
            j.agreeing += 1;
            continue;
        }
        let departure = io.classify(&plan, &tally, &expected, &stored)?;
        j.departing.push(Departing {
            tensor: e.name.clone(),
            source: e.source.clone(),
            storage: storage.to_string(),
            departure,
        });
    }

    let known: HashSet<&str> = expected.iter().map(|e| e.name.as_str()).collect();
    let mut extras: Vec<&StoredTensor> = stored
        .values()
        .filter(|t| !known.contains(t.name.as_str()))
        .collect();
    extras.sort_by(|a, b| a.name.cmp(&b.name));
    for t in extras {
        let mut equals = None;
        if let Ok(storage) = t.storage {
            for c in expected
                .iter()
                .filter(|c| c.shape == t.shape)
                .take(MAX_CANDIDATES)
            {
                let plan = io.plan(c, storage)?;
                if io.holds(&plan, &t.name, &Hypothesis::Same)? {
                    equals = Some(c.name.clone());
                    break;
                }
            }
        }
        j.extra.push(Extra {
            tensor: t.name.clone(),
            equals,
        });
    }
    Ok(j)
}

/// Rows searched for a moved row; more departing rows than this is not a permutation.
const MAX_ROWS_SEARCHED: usize = 64;
/// The largest departing tensor tested for a transpose, which needs it whole (16 MB): every
/// projection of a 135M model, not its embedding.
const MAX_TRANSPOSED_VALUES: usize = 1 << 22;

/// How one expected tensor is read and bounded, chunk by chunk.
#[derive(Clone, Copy)]
struct Plan<'a> {
    e: &'a Expected,
    storage: Storage,
    rows: usize,
    width: usize,
    /// Rows per chunk: whole heads for a RoPE permutation, whole blocks of the storage.
    step: usize,
    /// APR_Q8's step, from the whole tensor's largest value.
    uniform: Option<f32>,
}

/// What the file's values might be instead of the expected ones, each tested chunk by chunk.
enum Hypothesis {
    /// The expected values themselves (another tensor's, for a swap or an extra).
    Same,
    /// The source as stored, before the transform the layout asks for (the RoPE permutation,
    /// Gemma's norm shift).
    Untransformed,
    /// The permutation applied to the expected values once more.
    RopeTwice,
    Scaled(f64),
    Offset(f64),
}

/// The first pass's findings about one tensor.
#[derive(Default)]
struct Tally {
    departing: usize,
    nan: usize,
    inf: usize,
    first_non_finite: Option<usize>,
    all_zero: bool,
    dot: f64,
    norm: f64,
    diff: f64,
    diff2: f64,
    worst: (usize, f32, f32, f32),
    /// Rows with a value outside its bound.
    departing_rows: Vec<usize>,
    /// Each expected row's sum, to find where a moved row came from.
    row_sums: Vec<f64>,
    /// The largest tolerance of any value.
    tolerance: f32,
}

struct Io<'a> {
    source: &'a SourceModel,
    file: &'a ConvertedFile,
    source_shapes: &'a HashMap<&'a str, &'a [usize]>,
    chunk_values: usize,
}

impl Io<'_> {
    fn plan<'e>(&self, e: &'e Expected, storage: Storage) -> Result<Plan<'e>, JudgeError> {
        let elements = e.elements();
        let rows = e.shape.first().copied().unwrap_or(1).max(1);
        let width = (elements / rows).max(1);
        let head_rows = match e.transform {
            Transform::RopeRows { heads } if heads > 0 && rows % heads == 0 => rows / heads,
            _ => 1,
        };
        // Values a chunk must start on: a block of a type whose blocks run over the values.
        let span = match storage {
            Storage::AprQ4 => 32,
            Storage::Ggml { kind, row, .. } if row >= elements && elements > width => {
                kind.block().map_or(1, |(b, _)| b as usize)
            }
            _ => 1,
        };
        let block_rows = span / gcd(span, width);
        let unit = lcm(head_rows, block_rows);
        let step = match e.transform {
            // Whole: a transpose moves values across rows, and a 1-D slice has no rows.
            Transform::Transpose => rows,
            Transform::Slice { .. } if e.shape.len() < 2 => rows,
            _ => (self.chunk_values / width / unit).max(1) * unit,
        };
        let mut plan = Plan {
            e,
            storage,
            rows,
            width,
            step: step.min(rows).max(1),
            uniform: None,
        };
        if storage == Storage::AprQ8 {
            let mut amax = 0.0f32;
            for r0 in (0..rows).step_by(plan.step) {
                let (_, want) = self.want(&plan, r0..(r0 + plan.step).min(rows))?;
                amax = want.iter().fold(amax, |m, v| m.max(v.abs()));
            }
            plan.uniform = Some(amax / 127.0);
        }
        Ok(plan)
    }

    /// Rows `rows` of the source as stored (where a transform changes them) and as the file
    /// should hold them.
    fn want(&self, p: &Plan<'_>, rows: Range<usize>) -> Result<(Vec<f32>, Vec<f32>), JudgeError> {
        let shape = self
            .source_shapes
            .get(p.e.source.as_str())
            .copied()
            .unwrap_or(&[]);
        let n = rows.end - rows.start;
        Ok(match p.e.transform {
            Transform::Same => (
                Vec::new(),
                self.source
                    .read_range(&p.e.source, rows.start * p.width..rows.end * p.width)?,
            ),
            Transform::RopeRows { heads } => {
                let raw = self
                    .source
                    .read_range(&p.e.source, rows.start * p.width..rows.end * p.width)?;
                let in_chunk = heads * n / p.rows;
                let want = map::rope_rows(&raw, &[n, p.width], in_chunk, false);
                (raw, want)
            }
            Transform::Slice { .. } if shape.len() < 2 => {
                let raw = self
                    .source
                    .read_range(&p.e.source, 0..shape.iter().product())?;
                (Vec::new(), apply(p.e.transform, &raw, shape))
            }
            Transform::Slice { .. } => {
                let source_width = shape.last().copied().unwrap_or(1);
                let raw = self.source.read_range(
                    &p.e.source,
                    rows.start * source_width..rows.end * source_width,
                )?;
                let want = apply(p.e.transform, &raw, &[n, source_width]);
                (Vec::new(), want)
            }
            Transform::Transpose => {
                let all: usize = shape.iter().product();
                let raw = self.source.read_range(&p.e.source, 0..all)?;
                (Vec::new(), apply(Transform::Transpose, &raw, shape))
            }
            Transform::PlusOne => {
                let raw = self
                    .source
                    .read_range(&p.e.source, rows.start * p.width..rows.end * p.width)?;
                let want = apply(Transform::PlusOne, &raw, &[n, p.width]);
                (raw, want)
            }
        })
    }

    /// Rows `rows` of the file's tensor `name`.
    fn got(&self, p: &Plan<'_>, name: &str, rows: Range<usize>) -> Result<Vec<f32>, JudgeError> {
        Ok(self
            .file
            .read_range(name, rows.start * p.width..rows.end * p.width)?)
    }

    /// The tolerances of a chunk of expected values.
    fn bounds(&self, p: &Plan<'_>, want: &[f32]) -> Bounds {
        if let Some(step) = p.uniform {
            return Bounds::uniform(step);
        }
        let storage = match p.storage {
            // Blocks over all the values: the chunk starts on a block and is its own row.
            Storage::Ggml { kind, row, .. }
                if row >= p.rows * p.width && p.rows * p.width > p.width =>
            {
                let block = kind.block().map_or(1, |(b, _)| b as usize);
                Storage::Ggml {
                    kind,
                    row: want.len(),
                    padded: want.len().div_ceil(block) * block,
                }
            }
            other => other,
        };
        Bounds::new(storage, want)
    }

    fn chunks(p: &Plan<'_>) -> impl Iterator<Item = Range<usize>> {
        let (rows, step) = (p.rows, p.step);
        (0..rows)
            .step_by(step)
            .map(move |r0| r0..(r0 + step).min(rows))
    }

    /// The first pass: agreement, and the statistics the explanations need.
    fn tally(&self, p: &Plan<'_>) -> Result<Tally, JudgeError> {
        let mut t = Tally {
            all_zero: true,
            row_sums: Vec::with_capacity(p.rows),
            ..Tally::default()
        };
        let mut worst_by = -1.0f32;
        for rows in Self::chunks(p) {
            let (_, want) = self.want(p, rows.clone())?;
            let got = self.got(p, &p.e.name, rows.clone())?;
            let bounds = self.bounds(p, &want);
            t.tolerance = t.tolerance.max(bounds.largest(&want));
            let base = rows.start * p.width;
            for (k, row) in want.chunks(p.width).enumerate() {
                t.row_sums.push(row.iter().map(|&v| f64::from(v)).sum());
                let at = k * p.width;
                let mut departs = false;
                for (i, (&w, &g)) in row.iter().zip(&got[at..at + row.len()]).enumerate() {
                    let i = at + i;
                    if !bounds.holds(i, w, g) {
                        departs = true;
                        t.departing += 1;
                    }
                    if !g.is_finite() {
                        t.nan += usize::from(g.is_nan());
                        t.inf += usize::from(g.is_infinite());
                        t.first_non_finite.get_or_insert(base + i);
                        continue;
                    }
                    t.all_zero &= g == 0.0;
                    let d = g - w;
                    t.dot += f64::from(g) * f64::from(w);
                    t.norm += f64::from(w) * f64::from(w);
                    t.diff += f64::from(d);
                    t.diff2 += f64::from(d) * f64::from(d);
                    if d.abs() > worst_by {
                        worst_by = d.abs();
                        t.worst = (base + i, d.abs(), g, w);
                    }
                }
                if departs {
                    t.departing_rows.push(rows.start + k);
                }
            }
        }
        Ok(t)
    }

    /// Whether every chunk of the file's `name` holds `h` of `p`'s expected values.
    fn holds(&self, p: &Plan<'_>, name: &str, h: &Hypothesis) -> Result<bool, JudgeError> {
        for rows in Self::chunks(p) {
            let (raw, want) = self.want(p, rows.clone())?;
            let tol = self.bounds(p, &want).largest(&want);
            let got = self.got(p, name, rows.clone())?;
            let n = rows.end - rows.start;
            let fits = match *h {
                Hypothesis::Same => close_all(&got, &want, tol),
                Hypothesis::Untransformed => close_all(&got, &raw, tol),
                Hypothesis::RopeTwice => {
                    let Transform::RopeRows { heads } = p.e.transform else {
                        return Ok(false);
                    };
                    let twice = map::rope_rows(&want, &[n, p.width], heads * n / p.rows, false);
                    close_all(&got, &twice, tol)
                }
                Hypothesis::Scaled(a) => got
                    .iter()
                    .zip(&want)
                    .all(|(&g, &w)| close(g, (a * f64::from(w)) as f32, tol * a.abs() as f32)),
                Hypothesis::Offset(b) => got
                    .iter()
                    .zip(&want)
                    .all(|(&g, &w)| close(g, (f64::from(w) + b) as f32, tol)),
            };
            if !fits {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn classify(
        &self,
        p: &Plan<'_>,
        t: &Tally,
        expected: &[Expected],
        stored: &HashMap<String, StoredTensor>,
    ) -> Result<Departure, JudgeError> {
        if t.nan + t.inf > 0 {
            return Ok(Departure::NonFinite {
                nan: t.nan,
                inf: t.inf,
                first: t.first_non_finite.unwrap_or(0),
            });
        }
        if t.all_zero {
            return Ok(Departure::Zeroed);
        }
        match p.e.transform {
            Transform::RopeRows { .. } => {
                if self.holds(p, &p.e.name, &Hypothesis::Untransformed)? {
                    return Ok(Departure::RopeMissing);
                }
                if self.holds(p, &p.e.name, &Hypothesis::RopeTwice)? {
                    return Ok(Departure::RopeTwice);
                }
            }
            Transform::PlusOne if self.holds(p, &p.e.name, &Hypothesis::Untransformed)? => {
                return Ok(Departure::NormShiftMissing);
            }
            _ => {}
        }
        if p.e.shape.len() == 2 && p.rows * p.width <= MAX_TRANSPOSED_VALUES {
            let whole = Plan { step: p.rows, ..*p };
            let (_, want) = self.want(&whole, 0..p.rows)?;
            let got = self.got(&whole, &p.e.name, 0..p.rows)?;
            if close_all(&got, &map::transpose(&want, &p.e.shape), t.tolerance) {
                return Ok(Departure::Transposed);
            }
        }
        if t.norm > 0.0 {
            let factor = t.dot / t.norm;
            if (factor - 1.0).abs() > 1e-6
                && self.holds(p, &p.e.name, &Hypothesis::Scaled(factor))?
            {
                return Ok(Departure::Scaled { factor });
            }
        }
        let by = t.diff / (p.rows * p.width).max(1) as f64;
        if by.abs() > f64::from(t.tolerance) && self.holds(p, &p.e.name, &Hypothesis::Offset(by))? {
            return Ok(Departure::Offset { by });
        }
        for c in candidates(expected, p.e) {
            let theirs = self.plan(c, p.storage)?;
            if self.holds(&theirs, &p.e.name, &Hypothesis::Same)? {
                let swapped =
                    stored.contains_key(&c.name) && self.holds(p, &c.name, &Hypothesis::Same)?;
                return Ok(Departure::EqualsOther {
                    other: c.name.clone(),
                    swapped,
                });
            }
        }
        if let Some(d) = self.rows(p, t)? {
            return Ok(d);
        }
        let (worst, _, got, want) = t.worst;
        Ok(Departure::Unexplained {
            rel_l2: (t.diff2 / t.norm.max(f64::MIN_POSITIVE)).sqrt(),
            departing: t.departing,
            worst,
            got,
            want,
        })
    }

    /// Rows that moved or changed while the others agree.
    fn rows(&self, p: &Plan<'_>, t: &Tally) -> Result<Option<Departure>, JudgeError> {
        let departing = &t.departing_rows;
        if departing.len() * 2 > p.rows {
            return Ok(None);
        }
        if departing.len() <= MAX_ROWS_SEARCHED {
            let mut moved = Vec::new();
            for &r in departing {
                let got = self.got(p, &p.e.name, r..r + 1)?;
                let sum: f64 = got.iter().map(|&v| f64::from(v)).sum();
                let slack = f64::from(t.tolerance) * p.width as f64 + 1e-5 * sum.abs().max(1.0);
                let mut from = None;
                for j in (0..p.rows).filter(|&j| j != r && (t.row_sums[j] - sum).abs() <= slack) {
                    let chunk = j / p.step * p.step;
                    let (_, want) = self.want(p, chunk..(chunk + p.step).min(p.rows))?;
                    let at = (j - chunk) * p.width;
                    if close_all(&got, &want[at..at + p.width], t.tolerance) {
                        from = Some(j);
                        break;
                    }
                }
                match from {
                    Some(j) => moved.push((r, j)),
                    None => break,
                }
            }
            if moved.len() == departing.len() {
                return Ok(Some(Departure::RowsPermuted { rows: moved }));
            }
        }
        Ok(
            (departing.len() * 4 <= p.rows).then(|| Departure::RowsChanged {
                rows: departing.clone(),
                of: p.rows,
            }),
        )
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a.max(1) } else { gcd(b, a % b) }
}

fn lcm(a: usize, b: usize) -> usize {
    a / gcd(a, b) * b
}

/// Expected tensors that could have lent `e` its values: same shape, the same layer first,
/// then the same role in other layers, then the rest.
fn candidates<'a>(expected: &'a [Expected], e: &'a Expected) -> impl Iterator<Item = &'a Expected> {
    let same_size = move |c: &&Expected| c.name != e.name && c.shape == e.shape;
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
