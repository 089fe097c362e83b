//! The texts whose tokenization is judged, and the ids HF's tokenizer gives them: the run's
//! prompts, the evaluation text and a committed stress text (digits, runs of spaces, unicode,
//! code, special-token look-alikes). HF's ids come from HF's own tokenizers library, held
//! first against the ids the oracles recorded from transformers, so a difference is the file's.

use crate::judge::{model_files, source_of};
use crate::source::Source;
use std::path::PathBuf;
use tmgt_check::{CheckError, Context};
use tokenizers::Tokenizer;

/// The stress text, committed beside this crate.
const STRESS: &str = include_str!("../tokenizer-stress.txt");

/// One text with HF's ids for it.
#[derive(Debug)]
pub struct Truth {
    pub name: String,
    pub text: String,
    /// Without special tokens.
    pub ids: Vec<u32>,
    /// With the special tokens HF adds around a text.
    pub with_specials: Vec<u32>,
}

fn encode(tokenizer: &Tokenizer, text: &str, special: bool) -> Result<Vec<u32>, CheckError> {
    tokenizer
        .encode(text, special)
        .map(|e| e.get_ids().to_vec())
        .map_err(|e| CheckError::Input {
            what: "HF tokenizers".into(),
            reason: format!("cannot encode {text:?}: {e}"),
        })
}

/// HF's ids of every text, after checking the library reproduces the oracles' prompt and
/// evaluation-text ids.
fn truths(cx: &dyn Context, source: &Source) -> Result<Vec<Truth>, CheckError> {
    let tokenizer = source.tokenizer();
    let mut out = Vec::new();
    for (i, prompt) in cx.prompts().iter().enumerate() {
        let ids = encode(tokenizer, &prompt.text, false)?;
        let oracle = cx.prompt_oracle(i)?;
        if let Some(want) = &oracle.prompt_token_ids {
            if *want != ids {
                return Err(CheckError::Input {
                    what: oracle.path.display().to_string(),
                    reason: format!(
                        "HF tokenizers gives prompt `{}` the ids {ids:?}, the oracle recorded {want:?}: tmgt's tokenizer library is not the one the oracle used",
                        prompt.name
                    ),
                });
            }
        }
        out.push(Truth {
            name: format!("prompt `{}`", prompt.name),
            with_specials: encode(tokenizer, &prompt.text, true)?,
            text: prompt.text.clone(),
            ids,
        });
    }
    let eval = cx.eval_text()?;
    let ids = encode(tokenizer, &eval, false)?;
    let ppl = cx.perplexity_oracle()?;
    if let Some(want) = &ppl.token_ids {
        if !ids.starts_with(want) {
            return Err(CheckError::Input {
                what: ppl.path.display().to_string(),
                reason:
                    "HF tokenizers splits the evaluation text otherwise than the oracle recorded"
                        .into(),
            });
        }
    }
    out.push(Truth {
        name: "the evaluation text".into(),
        with_specials: encode(tokenizer, &eval, true)?,
        text: eval.to_string(),
        ids,
    });
    out.push(Truth {
        name: "the stress text".into(),
        with_specials: encode(tokenizer, STRESS, true)?,
        text: STRESS.to_string(),
        ids: encode(tokenizer, STRESS, false)?,
    });
    Ok(out)
}

/// What both tokenizer checks judge: the source, HF's ids of every text, the model's GGUFs.
#[derive(Debug)]
pub(crate) struct GgufTexts {
    pub source: Source,
    pub truths: Vec<Truth>,
    pub ggufs: Vec<PathBuf>,
    /// The files that could not be had, and why.
    pub missing: Vec<String>,
}

/// The instance's model's GGUFs with HF's ids of every text; not applicable to a hub model or
/// a model without a GGUF.
pub(crate) fn gguf_texts(cx: &dyn Context) -> Result<GgufTexts, CheckError> {
    let Some(source) = source_of(cx)? else {
        return Err(CheckError::NotApplicable(
            "the model comes from the hub; tmgt reads the HF files of local models only".into(),
        ));
    };
    let truths = truths(cx, &source)?;
    let (files, missing) = model_files(cx)?;
    let ggufs: Vec<PathBuf> = files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "gguf"))
        .collect();
    if ggufs.is_empty() {
        return Err(CheckError::NotApplicable(format!(
            "no GGUF of this model ({})",
            missing.join("; ")
        )));
    }
    Ok(GgufTexts {
        source,
        truths,
        ggufs,
        missing,
    })
}

/// HF's ids of every text the tokenizer checks judge (prompts, evaluation text, stress text)
/// and HF's tokenizer, for any suite that holds an encoder against HF; `None` for a hub model.
pub fn hf_texts(cx: &dyn Context) -> Result<Option<(Tokenizer, Vec<Truth>)>, CheckError> {
    let Some(source) = source_of(cx)? else {
        return Ok(None);
    };
    let truths = truths(cx, &source)?;
    Ok(Some((source.tokenizer().clone(), truths)))
}

/// Where `got` first departs from `want` for the instance's model: with both pieces where its
/// folder has `tokenizer.json`, by id otherwise; `None` when equal.
pub fn first_difference_for_model(
    cx: &dyn Context,
    got: &[u32],
    want: &[u32],
) -> Result<Option<String>, CheckError> {
    let tokenizer = match cx.model()?.local_dir() {
        Some(dir) => {
            let path = dir.join("tokenizer.json");
            Some(Tokenizer::from_file(&path).map_err(|e| CheckError::file(&path, e))?)
        }
        None => None,
    };
    Ok(match tokenizer {
        Some(tokenizer) => first_difference(&tokenizer, got, want),
        None => first_difference_spelled(&|id| format!("id {id}"), got, want),
    })
}

/// Where `got` first departs from `want`, with both pieces as HF's vocabulary spells them;
/// `None` when equal.
pub fn first_difference(tokenizer: &Tokenizer, got: &[u32], want: &[u32]) -> Option<String> {
    first_difference_spelled(
        &|id| {
            format!(
                "{:?} ({id})",
                tokenizer.id_to_token(id).unwrap_or_else(|| "?".into())
            )
        },
        got,
        want,
    )
}

/// [`first_difference`] with each id written by `spell` (by number alone, where no tokenizer
/// is at hand).
pub fn first_difference_spelled(
    spell: &dyn Fn(u32) -> String,
    got: &[u32],
    want: &[u32],
) -> Option<String> {
    let piece = |id: Option<&u32>| match id {
        Some(id) => spell(*id),
        None => "the end".into(),
    };
    let at = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .or_else(|| (got.len() != want.len()).then(|| got.len().min(want.len())))?;
    Some(format!(
        "{} ids where HF has {}; at position {at}: {} where HF has {}",
        got.len(),
        want.len(),
        piece(got.get(at)),
        piece(want.get(at))
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_llama() -> Tokenizer {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../models/tiny-llama/tokenizer.json"
        );
        Tokenizer::from_file(path).unwrap()
    }

    #[test]
    fn the_first_difference_shows_both_pieces_and_a_length_difference_shows_the_end() {
        let t = tiny_llama();
        assert_eq!(first_difference(&t, &[508, 8], &[508, 8]), None);
        assert_eq!(
            first_difference(&t, &[508, 8, 9], &[508, 850]).unwrap(),
            "3 ids where HF has 2; at position 1: \"(\" (8) where HF has \"(n\" (850)"
        );
        assert_eq!(
            first_difference(&t, &[508], &[508, 850]).unwrap(),
            "1 ids where HF has 2; at position 1: the end where HF has \"(n\" (850)"
        );
    }

    #[test]
    fn the_stress_text_exercises_what_tokenizers_get_wrong() {
        for needle in [
            "   ",
            "\t",
            "日本語",
            "🙂",
            "<|endoftext|>",
            "don't",
            "1234567",
        ] {
            assert!(STRESS.contains(needle), "{needle:?}");
        }
        let ids = encode(&tiny_llama(), STRESS, false).unwrap();
        assert!(ids.len() > 300, "{}", ids.len());
    }
}
