//! The metadata and tokenizer suites: whether a converted file tells a runtime what its source
//! tells transformers. Tensors can be right while the file is wrong: a RoPE base, a norm
//! epsilon, a BOS flag, a pre-tokenizer name or a merge list changes tokens, sometimes only on
//! longer prompts or only in another runtime that honours the field.
//!
//! `metadata` reads each file with tmgt's own readers (a GGUF's key/value section, an `.apr`'s
//! JSON metadata) and compares every behaviour-relevant field with the source's config.json,
//! generation_config.json, tokenizer_config.json and tokenizer.json, one check per family of
//! fields, each difference naming the file's key, both values and the source file. A field a
//! format cannot carry is skipped with the reason; a key whose absence leaves a runtime to
//! assume a value is judged by that value, and the message says who assumes it.
//!
//! `tokenizer` applies each GGUF's own tokenizer (llama.cpp's, and apr's encoder) to the
//! prompts, the evaluation text and a committed stress text, and compares the ids with HF's,
//! showing the first differing position with both pieces.

mod chat_template;
mod field;
mod file;
mod judge;
mod numerics;
mod shape;
mod source;
mod special_tokens;
mod spelling;
mod texts;
mod vouch;
pub use vouch::{FieldStanding, Standing, VouchError, Vouching, vouch_derived_folder};

pub use texts::{
    Truth, first_difference, first_difference_for_model, first_difference_spelled, hf_texts,
};
mod tokens_apr;
mod tokens_llamacpp;
mod value;
mod vocabulary;
