//! Whether tmgt can vouch for an oracle before it is written: the folder transformers ran
//! against the file it came from ([`checks_metadata::vouch_derived_folder`]), and an
//! independent runtime (llama.cpp) on the same file against the oracle's continuations.

use std::path::{Path, PathBuf};

/// The oracle's margin (top-1 minus top-2 logit) above which llama.cpp choosing another token
/// is a departure and not float noise. The oracle and llama.cpp run the same weights (the
/// file dequantized, or llama.cpp's own conversion of the folder); what separates them is
/// llama.cpp's activation rounding (8-bit activations for quantized matrices) and its summing
/// order, which move logits by hundredths, not by a whole logit.
pub(crate) const SECOND_VOICE_MARGIN: f64 = 1.0;

/// The most the oracle's perplexity of the evaluation text and llama.cpp's on the same ids may
/// differ, as a ratio either way: on the same weights the two agree to 1e-5 (SiLU models) or
/// 2e-3 (GELU through ggml's f16 table), and a quantized file's 8-bit activations move them
/// apart by about a percent. A model run with a lost RoPE base or scaling, or the wrong BOS
/// convention, is tens of percent off.
pub(crate) const SECOND_VOICE_PERPLEXITY_RATIO: f64 = 1.05;

/// What llama.cpp said about one oracle folder.
#[derive(Debug, Default)]
pub(crate) struct SecondVoice {
    /// Prompt ids and tokens compared over every prompt.
    pub compared: usize,
    /// One line per prompt the file's own tokenizer encodes otherwise than the oracle's.
    pub encodings: Vec<String>,
    /// One line per prompt where llama.cpp departs at a confident step.
    pub departures: Vec<String>,
    /// One line per prompt where it departs at a near-tie, told but not held against the
    /// oracle.
    pub near_ties: Vec<String>,
    /// The evaluation text's perplexity: the oracle's, and llama.cpp's on the same ids.
    pub perplexity: Option<(f64, f64)>,
}

/// Encodes every prompt with the file's own tokenizer (one call) and runs llama.cpp greedily
/// on `file` from each prompt oracle's conventional prompt ids in `folder`, holding both
/// against the oracle.
pub(crate) fn second_voice(
    file: &Path,
    folder: &Path,
    prompts: &[String],
) -> Result<SecondVoice, String> {
    let mut voice = SecondVoice::default();
    continuations(file, folder, prompts, &mut voice)?;
    voice.perplexity = perplexity_voice(file, folder, &mut voice.departures)?;
    Ok(voice)
}

/// The same for a model's long-context oracles (`<oracle>/long/`): every prefix and position
/// continuation and the copy prompt, then the text's per-token log-likelihood by quarter, so a position
/// where one run's RoPE or cache goes wrong shows as the quarter where the two part.
pub(crate) fn long_voice(file: &Path, oracle_dir: &Path) -> Result<SecondVoice, String> {
    let folder = oracle_dir.join(tmgt_oracle::LONG_DIR);
    let prefixes = tmgt_oracle::long_prefixes(oracle_dir);
    let positions = tmgt_oracle::long_positions(oracle_dir);
    let mut names: Vec<String> = prefixes
        .iter()
        .map(|n| format!("prefix-{n}"))
        .chain(positions.iter().map(|n| format!("position-{n}")))
        .collect();
    names.push("copy".into());
    let mut voice = SecondVoice::default();
    continuations(file, &folder, &names, &mut voice)?;
    let nll = tmgt_oracle::load_nll(oracle_dir).map_err(|e| e.to_string())?;
    let scores = llamacpp_runtime::score(file, &nll.token_ids)
        .map_err(|e| format!("llama.cpp scoring the long text on {}: {e}", file.display()))?;
    voice.compared += scores.len();
    let quarter = nll.nll.len().div_ceil(4).max(1);
    for (i, (ours, theirs)) in nll
        .nll
        .chunks(quarter)
        .zip(scores.chunks(quarter))
        .enumerate()
    {
        let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len() as f64;
        let (oracle, llama) = (mean(ours), -mean(theirs));
        let ratio = (oracle - llama).exp();
        if ratio.max(1.0 / ratio) > SECOND_VOICE_PERPLEXITY_RATIO {
            let from = 1 + i * quarter;
            voice.departures.push(format!(
                "the long text, positions {from}-{}: the oracle's cross-entropy is {oracle:.4} \
                 where llama.cpp's on the same ids is {llama:.4} (perplexity ratio {ratio:.3})",
                from + ours.len() - 1
            ));
        }
    }
    Ok(voice)
}

/// The same for a model's chat oracles (`<oracle>/chat/<template>/`): llama.cpp encodes every
/// rendered conversation and continues it from the oracle's ids.
pub(crate) fn chat_voice(file: &Path, oracle_dir: &Path) -> Result<SecondVoice, String> {
    let mut voice = SecondVoice::default();
    let chat = oracle_dir.join(tmgt_oracle::CHAT_DIR);
    // Each template's folder, and each dialogue's folder inside it.
    let subfolders = |dir: &Path| -> Result<Vec<PathBuf>, String> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        found.sort();
        Ok(found)
    };
    let mut folders = Vec::new();
    for template in subfolders(&chat)? {
        let dialogues = subfolders(&template)?;
        folders.push(template);
        folders.extend(dialogues);
    }
    for folder in folders {
        let mut names: Vec<String> = std::fs::read_dir(&folder)
            .map_err(|e| format!("{}: {e}", folder.display()))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with(".refused.json"))
            .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
            .collect();
        names.sort();
        let template = folder
            .strip_prefix(&chat)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut one = SecondVoice::default();
        continuations(file, &folder, &names, &mut one)?;
        voice.compared += one.compared;
        let tag = |line: String| format!("chat/{template}/{line}");
        voice.encodings.extend(one.encodings.into_iter().map(tag));
        voice.departures.extend(one.departures.into_iter().map(tag));
        voice.near_ties.extend(one.near_ties.into_iter().map(tag));
    }
    Ok(voice)
}

/// llama.cpp's greedy continuation of each named prompt oracle of `folder` on `file`, and its
/// encoding of each prompt, held against the oracle.
fn continuations(
    file: &Path,
    folder: &Path,
    prompts: &[String],
    voice: &mut SecondVoice,
) -> Result<(), String> {
    let oracles = prompts
        .iter()
        .map(|prompt| tmgt_oracle::load(folder, prompt).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let texts: Vec<&str> = oracles.iter().map(|o| o.prompt.as_str()).collect();
    let encodings = llamacpp_runtime::tokenize(file, &texts)
        .map_err(|e| format!("llama.cpp's tokenizer of {}: {e}", file.display()))?;
    for ((prompt, oracle), encoding) in prompts.iter().zip(&oracles).zip(&encodings) {
        let plain = oracle.plain().map_err(|e| e.to_string())?;
        voice.compared += plain.prompt_token_ids.len();
        if encoding.plain != plain.prompt_token_ids {
            voice.encodings.push(format!(
                "{prompt}: the HF tokenizer encodes the prompt as {:?} where the file's own \
                 tokenizer (llama.cpp) gives {:?}",
                plain.prompt_token_ids, encoding.plain
            ));
        }
        let trajectory = oracle.conventional().map_err(|e| e.to_string())?;
        let request = llamacpp_runtime::GenerateRequest {
            model: file.to_path_buf(),
            prompt: llamacpp_runtime::PromptInput::Tokens(trajectory.prompt_token_ids.to_vec()),
            max_new_tokens: u32::try_from(trajectory.tokens.len()).unwrap_or(u32::MAX),
            top_k: 2,
        };
        let generation = llamacpp_runtime::generate(&request)
            .map_err(|e| format!("llama.cpp on {}: {e}", file.display()))?;
        voice.compared += trajectory.tokens.len().max(generation.tokens.len());
        // A continuation that ends early (at an end-of-generation token the oracle did not
        // choose) parts from the oracle where it ends.
        let (expected, got) = (trajectory.tokens, &generation.tokens);
        let first = expected
            .iter()
            .zip(got)
            .position(|(a, b)| a != b)
            .or((got.len() != expected.len()).then(|| got.len().min(expected.len())));
        let Some(step) = first else { continue };
        let margin = trajectory.margin(step).unwrap_or(f64::INFINITY);
        let line = format!(
            "{prompt}: llama.cpp parts from the oracle at step {step} (the oracle's margin \
             {margin:.3}): the oracle continues {:?}, llama.cpp {:?}",
            trajectory.text, generation.text
        );
        if margin > SECOND_VOICE_MARGIN {
            voice.departures.push(line);
        } else {
            voice.near_ties.push(line);
        }
    }
    Ok(())
}

/// llama.cpp's perplexity of the ids the perplexity oracle scored, held against the oracle's:
/// the two far apart is a departure, whatever the continuations say (the model the oracle ran
/// is not the file's).
fn perplexity_voice(
    file: &Path,
    folder: &Path,
    departures: &mut Vec<String>,
) -> Result<Option<(f64, f64)>, String> {
    let oracle = tmgt_oracle::load_perplexity(folder).map_err(|e| e.to_string())?;
    let Some(ids) = oracle.token_ids.as_deref().filter(|ids| ids.len() > 1) else {
        return Ok(None);
    };
    let scores = llamacpp_runtime::score(file, ids).map_err(|e| {
        format!(
            "llama.cpp scoring the evaluation text on {}: {e}",
            file.display()
        )
    })?;
    let llama = (-scores.iter().sum::<f64>() / scores.len() as f64).exp();
    let ratio = oracle.perplexity / llama;
    if ratio.max(1.0 / ratio) > SECOND_VOICE_PERPLEXITY_RATIO {
        departures.push(format!(
            "the evaluation text ({} ids): the oracle's perplexity is {:.3} where llama.cpp's \
             on the same ids is {llama:.3}, {ratio:.3} times it (within {:.3} to \
             {SECOND_VOICE_PERPLEXITY_RATIO} on the same weights)",
            ids.len(),
            oracle.perplexity,
            1.0 / SECOND_VOICE_PERPLEXITY_RATIO
        ));
    }
    Ok(Some((oracle.perplexity, llama)))
}

/// Adds `vouching` to the provenance of every oracle file in `folder` (the prompt oracles and
/// the perplexity oracle): what was restored from the file, and what `--force` kept.
pub(crate) fn record_in_provenance(
    folder: &Path,
    key: &str,
    value: &serde_json::Value,
) -> Result<(), String> {
    let entries = std::fs::read_dir(folder).map_err(|e| format!("{}: {e}", folder.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut oracle: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if let Some(provenance) = oracle
            .get_mut("provenance")
            .and_then(serde_json::Value::as_object_mut)
        {
            provenance.insert(key.into(), value.clone());
        }
        let mut text = serde_json::to_string_pretty(&oracle).unwrap_or_default();
        text.push('\n');
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}
