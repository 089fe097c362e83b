//! Ids shown as HF's vocabulary spells them, where the model has a local tokenizer.

use tmgt_check::{CheckError, Context};
use tokenizers::Tokenizer;

/// Where `got` first departs from `want`: with both pieces where the model's folder has
/// `tokenizer.json`, by id otherwise; `None` when equal.
pub fn first_difference(
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
        Some(tokenizer) => checks_metadata::first_difference(&tokenizer, got, want),
        None => checks_metadata::first_difference_spelled(&|id| format!("id {id}"), got, want),
    })
}
