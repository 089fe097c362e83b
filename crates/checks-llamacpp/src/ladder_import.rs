use apr_client::{AprError, Invocation, parse};
use checks_inference::RuntimeThresholds;
use checks_inference::compare::with_stop_written_out;
use checks_weights::map::{self, Arch, Target, Transform};
use serde_json::json;
use std::collections::HashMap;
use std::path::Path;
use tmgt_check::{
    ArtifactKind, Check, CheckError, Context, Evidence, Scope, Verdict, declare_check, first_few,
};
use tmgt_gguf::GgufFile;

declare_check! {
    /// `apr import` of a quantization rung (and with `--preserve-q4k`, which switches to
    /// another converter) either refuses it, naming the type, or writes an `.apr` that holds
    /// the rung's values and runs like it. tmgt reads every tensor of the `.apr` with its own
    /// reader and holds its decoded values against the GGUF's: a tensor stored under another
    /// type's label decodes to other numbers, which no run needs to show. Then the `.apr`
    /// continues every prompt as the rung's oracles do (a flip only where the oracle nearly
    /// ties).
    pub LadderImport {
        code: "LAD002",
        name: "rung-import-unfaithful",
        suite: "ladder",
        scope: Scope::Model,
        summary: "apr import of a quantization rung refuses it by type or keeps its values and its tokens",
        cost: 4,
    }
}

/// The largest |difference| a decoded value may show, relative to the tensor's largest
/// magnitude: the same blocks dequantized in another order of float operations.
const SAME_VALUES: f64 = 1e-5;

/// Values compared at a time: 4 MB of each side.
const CHUNK: u64 = 1 << 20;

/// One import path of apr.
#[derive(Debug, Clone, Copy)]
enum Mode {
    Default,
    PreserveBlocks,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::Default => "apr import",
            Mode::PreserveBlocks => "apr import --preserve-q4k",
        }
    }

    fn invocation(self, gguf: &Path, out: &Path) -> Result<Invocation, AprError> {
        match self {
            Mode::Default => Invocation::import(gguf, out, None),
            Mode::PreserveBlocks => Invocation::import_preserving_blocks(gguf, out),
        }
    }
}

/// What one import path did with the rung.
struct Outcome {
    /// What it shows, for the message.
    said: String,
    faithful: bool,
    compared: usize,
    facts: serde_json::Value,
}

impl Check for LadderImport {
    fn run(&self, cx: &dyn Context) -> Result<Verdict, CheckError> {
        let (model, rung) = crate::ladder::rung_of(cx)?;
        let file = cx.artifact(ArtifactKind::Gguf)?;
        let gguf = GgufFile::open(&file).map_err(|e| CheckError::Input {
            what: file.display().to_string(),
            reason: e.to_string(),
        })?;
        let renamed = apr_names(cx)?;
        let scratch = cx.scratch_dir()?;
        let mut outcomes = Vec::new();
        for mode in [Mode::Default, Mode::PreserveBlocks] {
            let out = scratch.join(format!("{}-{}.apr", model.name, outcomes.len()));
            let outcome = import(cx, mode, &file, &gguf, &renamed, &out)?;
            if !cx.keep_scratch() {
                let _ = std::fs::remove_file(&out);
            }
            outcomes.push((mode, outcome));
        }
        let compared: usize = outcomes.iter().map(|(_, o)| o.compared).sum();
        let ok = outcomes.iter().all(|(_, o)| o.faithful);
        let message = format!(
            "{} rung: {}",
            rung.ftype,
            outcomes
                .iter()
                .map(|(mode, o)| format!("{}: {}", mode.label(), o.said))
                .collect::<Vec<_>>()
                .join("; ")
        );
        let facts = json!(
            outcomes
                .iter()
                .map(|(mode, o)| (mode.label().to_string(), o.facts.clone()))
                .collect::<serde_json::Map<_, _>>()
        );
        Ok(Verdict::judge(
            ok,
            Evidence::new(compared.max(1), "tensors and tokens"),
            message,
        )
        .with_facts(facts))
    }
}

/// For each GGUF tensor name, apr's own name for the tensor and how the GGUF's values become
/// its layout: apr keeps llama.cpp's names for some architectures and gives others its own
/// (HF-derived) names, in HF's layout. Both maps come from the model's source tensors.
type Renamed = HashMap<String, (String, Vec<usize>, Transform, Transform)>;

fn apr_names(cx: &dyn Context) -> Result<Renamed, CheckError> {
    let Some(source) = checks_structure::source::source_model(cx)? else {
        return Ok(Renamed::new());
    };
    let facts = &cx.model()?.facts;
    let arch = Arch::of(facts);
    let tensors = source.tensors();
    let input = |reason: String| CheckError::Input {
        what: format!("the tensors of {}", source.path().display()),
        reason,
    };
    let in_gguf = map::expected(Target::Gguf, &arch, &tensors).map_err(input)?;
    let in_apr = map::expected(Target::Apr, &arch, &tensors).map_err(input)?;
    Ok(in_gguf
        .into_iter()
        .filter_map(|g| {
            let a = in_apr.iter().find(|a| a.source == g.source)?;
            Some((
                g.name,
                (a.name.clone(), a.shape.clone(), g.transform, a.transform),
            ))
        })
        .collect())
}

/// The GGUF's values in the layout of apr's own tensor: back to HF's layout, then to apr's;
/// `None` where a transform cannot be undone (a fused projection's part).
fn relayout(
    values: Vec<f32>,
    shape: &[usize],
    gguf: Transform,
    apr: Transform,
) -> Option<Vec<f32>> {
    let hf = match gguf {
        Transform::Same => values,
        Transform::RopeRows { heads } => map::rope_rows(&values, shape, heads, true),
        Transform::PlusOne => values.into_iter().map(|v| v - 1.0).collect(),
        Transform::Transpose | Transform::Slice { .. } => return None,
    };
    match apr {
        Transform::Same => Some(hf),
        _ => None,
    }
}

fn import(
    cx: &dyn Context,
    mode: Mode,
    file: &Path,
    gguf: &GgufFile,
    renamed: &Renamed,
    out: &Path,
) -> Result<Outcome, CheckError> {
    let captured = cx.apr(&mode.invocation(file, out)?)?;
    let code = captured.exit_code();
    if code != Some(0) || !out.is_file() {
        let reason = captured.stderr_tail(2).trim().to_string();
        let types = stored_types(gguf);
        let names_type = types
            .iter()
            .any(|(name, id)| reason.contains(name.as_str()) || names_type_id(&reason, *id));
        let said = format!(
            "refused (exit {}){}: {}",
            code.map_or("none".into(), |c| c.to_string()),
            if names_type {
                ""
            } else {
                " without naming the type"
            },
            reason.lines().last().unwrap_or_default()
        );
        return Ok(Outcome {
            said,
            faithful: names_type,
            compared: 1,
            facts: json!({ "refused": true, "exit_code": code, "stderr": reason }),
        });
    }
    let apr = tmgt_apr::AprFile::open(out).map_err(|e| CheckError::Input {
        what: out.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut departs = Vec::new();
    let mut labels = serde_json::Map::new();
    let mut compared = 0usize;
    for tensor in gguf.tensors() {
        // Under llama.cpp's name with its values as they are, or under apr's own name in
        // HF's layout.
        let (stored, layout) = match apr.tensor(&tensor.name) {
            Some(stored) => (stored, None),
            None => match renamed
                .get(&tensor.name)
                .and_then(|(name, shape, g, a)| Some((apr.tensor(name)?, Some((shape, *g, *a)))))
            {
                Some(found) => found,
                None => {
                    departs.push(format!("{} is missing", tensor.name));
                    continue;
                }
            },
        };
        labels.insert(
            tensor.name.clone(),
            json!({ "gguf": format!("{:?}", tensor.kind), "apr": stored.dtype.to_string(), "apr_name": stored.name }),
        );
        // A tensor kept in the file's own layout is compared a chunk at a time (a real
        // model's embedding is 28 million values); one apr moved to HF's layout, whole.
        let chunk: u64 = match layout {
            Some((_, Transform::Same, Transform::Same)) | None => CHUNK,
            Some(_) => tensor.elements(),
        };
        if stored.elements() != tensor.elements() {
            compared += 1;
            departs.push(format!(
                "{} ({:?}) is stored as {} with {} values for {}",
                tensor.name,
                tensor.kind,
                stored.dtype,
                stored.elements(),
                tensor.elements()
            ));
            continue;
        }
        let (mut worst, mut scale) = (0.0f64, 0.0f64);
        let (mut done, mut gave_up, mut undecodable) = (0u64, false, None);
        while done < tensor.elements() {
            let range = done..(done + chunk).min(tensor.elements());
            let Ok(want) = gguf.read_f32_range(tensor, range.clone()) else {
                gave_up = true; // tmgt cannot decode the GGUF's type
                break;
            };
            let want = match layout {
                Some((shape, g, a)) if chunk == tensor.elements() => {
                    match relayout(want, shape, g, a) {
                        Some(values) => values,
                        None => {
                            gave_up = true; // a layout tmgt cannot undo
                            break;
                        }
                    }
                }
                _ => want,
            };
            let got = match apr.read_f32_range(stored, range.clone()) {
                Ok(values) => values,
                Err(e) => {
                    undecodable = Some(e.to_string());
                    break;
                }
            };
            scale = want.iter().fold(scale, |m, v| m.max(f64::from(v.abs())));
            worst = want
                .iter()
                .zip(&got)
                .map(|(a, b)| f64::from((a - b).abs()))
                // A value that decodes to NaN departs as far as a value can.
                .fold(
                    worst,
                    |m, d| if d.is_nan() { f64::INFINITY } else { m.max(d) },
                );
            done = range.end;
        }
        if gave_up {
            continue;
        }
        compared += 1;
        if let Some(reason) = undecodable {
            // The reason without the scratch file's path, which is gone after the check.
            let reason = reason
                .rsplit_once(": ")
                .map_or(reason.as_str(), |(_, last)| last)
                .to_string();
            departs.push(format!(
                "{} ({:?}) is stored as {}, which does not decode: {reason}",
                tensor.name, tensor.kind, stored.dtype
            ));
            continue;
        }
        let same = worst <= SAME_VALUES * scale.max(f64::MIN_POSITIVE);
        if !same {
            departs.push(format!(
                "{} ({:?}) is stored as {} and decodes {:.2e} away (its largest magnitude is \
                 {scale:.2e})",
                tensor.name, tensor.kind, stored.dtype, worst
            ));
        }
    }
    if !departs.is_empty() {
        return Ok(Outcome {
            said: format!(
                "{} of {} tensors do not hold the rung's values: {}",
                departs.len(),
                gguf.tensors().len(),
                first_few(&departs, 3, "; ")
            ),
            faithful: false,
            compared,
            facts: json!({ "types": labels, "departs": departs }),
        });
    }
    let (tokens, departures) = run_like_oracle(cx, out)?;
    let said = match departures.first() {
        None => format!(
            "every tensor holds the rung's values ({compared} compared) and the .apr continues \
             every prompt as the oracles do ({tokens} tokens)"
        ),
        Some(first) => format!(
            "every tensor holds the rung's values ({compared} compared), but the .apr leaves the \
             oracles: {first}{}",
            if departures.len() > 1 {
                format!(" (and {} more prompts)", departures.len() - 1)
            } else {
                String::new()
            }
        ),
    };
    Ok(Outcome {
        said,
        faithful: departures.is_empty(),
        compared: compared + tokens,
        facts: json!({ "types": labels, "departures": departures }),
    })
}

/// The type names and ggml ids the GGUF stores its tensors in, for recognising a refusal that
/// names them.
/// Whether `text` names ggml type `id` by number: right after the word `type`, as in
/// "quantization type: 23", "dtype 2" or "ggml_type=29".
fn names_type_id(text: &str, id: u32) -> bool {
    let id = id.to_string();
    text.match_indices("type").any(|(at, _)| {
        text[at + 4..]
            .trim_start_matches([' ', ':', '='])
            .split(|c: char| !c.is_ascii_digit())
            .next()
            == Some(id.as_str())
    })
}

fn stored_types(gguf: &GgufFile) -> Vec<(String, u32)> {
    let mut types: Vec<(String, u32)> = gguf
        .tensors()
        .iter()
        .map(|t| (format!("{:?}", t.kind), t.kind.id()))
        .collect();
    types.sort();
    types.dedup();
    types
}

/// Runs the `.apr` on every prompt; the tokens compared, and each prompt's departure from the
/// oracle's conventional continuation where the oracle was sure.
fn run_like_oracle(cx: &dyn Context, apr: &Path) -> Result<(usize, Vec<String>), CheckError> {
    let bound: RuntimeThresholds = cx.thresholds().get()?;
    let (mut tokens, mut departures) = (0usize, Vec::new());
    for (i, prompt) in cx.prompts().iter().enumerate() {
        let oracle = cx.prompt_oracle(i)?;
        let trajectory = oracle.conventional()?;
        let captured = cx.apr(&Invocation::run(
            apr,
            &prompt.text,
            cx.max_new_tokens(),
            None,
        )?)?;
        let ran = match parse::run(&captured) {
            // A stop at EOS written out as the oracle lists it (apr drops it on some paths).
            Ok(reply) => with_stop_written_out(
                &reply.value.tokens,
                reply.value.stopped_at_eos(),
                trajectory.eos,
            ),
            Err(AprError::Exit { code, .. }) => {
                departures.push(format!(
                    "`{}`: apr run exits {code}: {}",
                    prompt.name,
                    captured.stderr_tail(1).trim()
                ));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        tokens += ran.len();
        let first = trajectory
            .tokens
            .iter()
            .zip(&ran)
            .position(|(a, b)| a != b)
            .or((ran.len() != trajectory.tokens.len())
                .then_some(ran.len().min(trajectory.tokens.len())));
        if let Some(step) = first {
            let margin = trajectory
                .steps
                .get(step)
                .map_or(f64::INFINITY, |s| s.margin);
            if margin >= bound.tie_margin {
                departures.push(format!(
                    "`{}` at step {step} (oracle margin {margin:.2}): {:?} where the oracle has {:?}",
                    prompt.name,
                    &ran[step.min(ran.len())..(step + 4).min(ran.len())],
                    &trajectory.tokens[step..(step + 4).min(trajectory.tokens.len())]
                ));
            }
        }
    }
    Ok((tokens, departures))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_type_is_named_by_its_id_after_the_word_type() {
        for text in [
            "Unsupported quantization type: 23",
            "bad dtype 23 in blk.0",
            "no kernel for ggml_type=23 layout=row_major",
        ] {
            assert!(names_type_id(text, 23), "{text}");
            assert!(!names_type_id(text, 2), "{text}");
        }
        assert!(!names_type_id("23 tensors of an unknown type", 23));
    }
}
