//! Whether tmgt can vouch for an oracle before it is written: the folder transformers ran
//! against the file it came from ([`checks_metadata::vouch_derived_folder`]), and an
//! independent runtime (llama.cpp) on the same file against the oracle's continuations.

use std::path::Path;

/// The oracle's margin (top-1 minus top-2 logit) above which llama.cpp choosing another token
/// is a departure and not float noise. The oracle and llama.cpp run the same weights (the
/// file dequantized, or llama.cpp's own conversion of the folder); what separates them is
/// llama.cpp's activation rounding (8-bit activations for quantized matrices) and its summing
/// order, which move logits by hundredths, not by a whole logit.
pub(crate) const SECOND_VOICE_MARGIN: f64 = 1.0;

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
}

/// Encodes every prompt with the file's own tokenizer (one call) and runs llama.cpp greedily
/// on `file` from each prompt oracle's conventional prompt ids in `folder`, holding both
/// against the oracle.
pub(crate) fn second_voice(
    file: &Path,
    folder: &Path,
    prompts: &[String],
) -> Result<SecondVoice, String> {
    let oracles = prompts
        .iter()
        .map(|prompt| tmgt_oracle::load(folder, prompt).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let texts: Vec<&str> = oracles.iter().map(|o| o.prompt.as_str()).collect();
    let encodings = llamacpp_runtime::tokenize(file, &texts)
        .map_err(|e| format!("llama.cpp's tokenizer of {}: {e}", file.display()))?;
    let mut voice = SecondVoice::default();
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
    Ok(voice)
}

/// Adds `vouching` to the provenance of every oracle file in `folder` (the prompt oracles and
/// the perplexity oracle): what was restored from the file, and what `--force` kept.
pub(crate) fn record_vouching(folder: &Path, vouching: &serde_json::Value) -> Result<(), String> {
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
            provenance.insert("vouching".into(), vouching.clone());
        }
        let mut text = serde_json::to_string_pretty(&oracle).unwrap_or_default();
        text.push('\n');
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}
