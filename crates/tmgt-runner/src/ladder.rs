//! The quantization ladder's files: llama.cpp's `llama_model_quantize` of a model's F32 GGUF to
//! each file type of its `ladder`, made before any apr work (one thread, so byte-for-byte
//! reproducible) and made again only when what it is made from changes: the F32 file's
//! content, the type or the llama.cpp bindings. The rung's oracles are keyed by the file's
//! sha256, so a file that changes names the oracles to remake instead of being judged by stale
//! ones.

use llamacpp_runtime::Ftype;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tmgt_oracle::sha256_file;

/// One rung's file and what it is made from.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RungFile {
    /// The rung's entry (`<model>@<type>`).
    pub model: String,
    pub ftype: Ftype,
    /// The base model's F32 GGUF (`native/<model>/f32.gguf`).
    pub f32: PathBuf,
    pub target: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum LadderError {
    #[error("{model}: there is no F32 GGUF at {path} to quantize")]
    NoF32 { model: String, path: PathBuf },
    #[error("{model}: llama.cpp could not quantize {f32} to {ftype}: {detail}")]
    Quantize {
        model: String,
        f32: PathBuf,
        ftype: Ftype,
        detail: String,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl LadderError {
    pub fn help(&self) -> &'static str {
        match self {
            LadderError::NoF32 { .. } => {
                "a bundled model's F32 GGUF is committed under native/ (tools/fixtures/make-native-gguf.py); a fetched model's is made by `tmgt fetch`"
            }
            LadderError::Quantize { .. } => {
                "run `cargo build --bin tmgt-llama-worker` if the worker is stale; the message is llama.cpp's"
            }
            LadderError::Io { .. } => "check the artifacts folder's free space and permissions",
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LadderError + '_ {
    move |source| LadderError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Makes every rung whose file is missing or was made from other inputs, and says on stderr
/// what it made. Each F32 file is hashed once.
pub fn ensure_all(rungs: &[RungFile]) -> Result<(), LadderError> {
    let mut f32_sha: HashMap<&Path, String> = HashMap::new();
    for rung in rungs {
        if !rung.f32.is_file() {
            return Err(LadderError::NoF32 {
                model: rung.model.clone(),
                path: rung.f32.clone(),
            });
        }
        let sha = match f32_sha.get(rung.f32.as_path()) {
            Some(sha) => sha.clone(),
            None => {
                let sha = sha256_file(&rung.f32).map_err(io(&rung.f32))?;
                f32_sha.insert(&rung.f32, sha.clone());
                sha
            }
        };
        let started = std::time::Instant::now();
        if ensure(rung, &inputs_key(&sha, rung.ftype))? {
            let size = std::fs::metadata(&rung.target).map_or(0, |m| m.len());
            eprintln!(
                "ladder: made {} ({:.1} MB, {:.1} s)",
                rung.target.display(),
                size as f64 / 1e6,
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}

/// What a rung's file is made from, as one digest.
fn inputs_key(f32_sha: &str, ftype: Ftype) -> String {
    let mut h = Sha256::new();
    h.update(f32_sha.as_bytes());
    h.update(ftype.as_str().as_bytes());
    h.update(llamacpp_runtime::BINDINGS_VERSION.as_bytes());
    hex::encode(h.finalize())
}

/// The file beside a rung that records the inputs key it was made from.
fn key_path(target: &Path) -> PathBuf {
    let mut name = target.as_os_str().to_os_string();
    name.push(".inputs");
    PathBuf::from(name)
}

/// Makes the rung unless its file was made from the same inputs; true when it made it.
fn ensure(rung: &RungFile, key: &str) -> Result<bool, LadderError> {
    let key_file = key_path(&rung.target);
    let made_from = std::fs::read_to_string(&key_file).unwrap_or_default();
    if rung.target.is_file() && made_from.trim() == key {
        return Ok(false);
    }
    if let Some(dir) = rung.target.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let _ = std::fs::remove_file(&key_file);
    let mut partial = rung.target.as_os_str().to_os_string();
    partial.push(format!(".partial-{}", std::process::id()));
    let partial = PathBuf::from(partial);
    let made = llamacpp_runtime::quantize(&rung.f32, &partial, rung.ftype)
        .map_err(|e| LadderError::Quantize {
            model: rung.model.clone(),
            f32: rung.f32.clone(),
            ftype: rung.ftype,
            detail: e.to_string(),
        })
        .and_then(|()| std::fs::rename(&partial, &rung.target).map_err(io(&rung.target)));
    if made.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    made?;
    std::fs::write(&key_file, format!("{key}\n")).map_err(io(&key_file))?;
    Ok(true)
}
