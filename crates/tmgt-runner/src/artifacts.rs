//! Artifact preparation: the `.apr` and `.gguf` files checks run apr on.
//!
//! Each artifact is made once per run, on first request, and kept in a cache folder under a
//! name keyed by the source's content, the apr binary and the arguments, so a second run
//! reuses it and a different apr rebuilds it. Files appear under their final name only once
//! apr finished successfully (written into a partial folder under that name, then renamed):
//! the same source and apr make the same bytes, run after run.

use crate::engine::{Engine, UsedCall};
use apr_client::{Invocation, Termination};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use tmgt_check::Memo;
use tmgt_check::{ArtifactKind, CheckError, ModelSource, ModelUnderTest, NativeGguf, Quant};

/// How tmgt makes artifacts, in every cache key: a change to the way they are made that alters
/// their bytes bumps it, so no cache keeps files made the old way (version 2: apr writes into
/// a partial folder under the final name, which it records in the model's metadata).
const ARTIFACT_LAYOUT: &str = "tmgt-artifacts/2";

/// A prepared artifact.
#[derive(Debug, Clone, Serialize)]
pub struct Prepared {
    pub path: PathBuf,
    /// Found in the cache: no apr work was done for it in this run.
    pub cached: bool,
    /// The apr call that made it, when it was made in this run.
    pub call: Option<usize>,
}

/// Why an artifact could not be made, and the apr call that failed making it, if one did.
#[derive(Debug, Clone)]
struct Unprepared {
    reason: String,
    call: Option<usize>,
    /// The run was interrupted while the artifact was being made: the checks that needed it
    /// did not run, which is not the artifact's failure.
    interrupted: bool,
}

impl From<PrepareError> for Unprepared {
    fn from(e: PrepareError) -> Unprepared {
        Unprepared {
            reason: e.to_string(),
            call: None,
            interrupted: false,
        }
    }
}

/// Why tmgt itself could not make or find an artifact (apr's own failures are told with its
/// call instead). File errors keep the system's words, so a memoized failure can be cloned.
#[derive(Debug, Clone, thiserror::Error)]
enum PrepareError {
    #[error("{} has no folder", .0.display())]
    NoFolder(PathBuf),
    #[error("cannot create {}: {reason}", path.display())]
    Create { path: PathBuf, reason: String },
    #[error("cannot list {}: {reason}", path.display())]
    List { path: PathBuf, reason: String },
    #[error("cannot read {}: {reason}", path.display())]
    Read { path: PathBuf, reason: String },
    #[error("cannot move {} into place: {reason}", path.display())]
    Move { path: PathBuf, reason: String },
    #[error("llama.cpp's native GGUFs are not made by apr (see Artifacts::native)")]
    NotAprArtifact,
    #[error("F32 is converted, not quantized")]
    NotQuantized,
    #[error("{0}")]
    Quantize(String),
    #[error("{0}")]
    Invocation(String),
    #[error(
        "hub model hf://{id} is not available locally; download it (for example with \
         `huggingface-cli download {id} --local-dir models/{model}`) and set its `source` to that folder"
    )]
    HubNotLocal { id: String, model: String },
    #[error("{} (remembered from an earlier run; delete {} to retry)", reason.trim(), refused.display())]
    Remembered { reason: String, refused: PathBuf },
    #[error("no native GGUF for hub model {model}: download it and convert it with {NATIVE_HELP}")]
    NativeForHub { model: String },
    #[error("cannot read {}: {reason}; {NATIVE_HELP}", path.display())]
    NativeMissing { path: PathBuf, reason: String },
    #[error("{} is not a native provenance: {reason}", path.display())]
    NotProvenance { path: PathBuf, reason: String },
    #[error("{} has sha256 {sha}, its provenance records {recorded}", file.display())]
    NativeChanged {
        file: PathBuf,
        sha: String,
        recorded: String,
    },
    #[error("{} lists no model files", .0.display())]
    NoModelFiles(PathBuf),
    #[error(
        "{} was converted from another {name} than {} holds (sha256 {expected} there, {actual} now): the model was regenerated; rerun {NATIVE_HELP}",
        file.display(),
        source_dir.display()
    )]
    ConvertedFromOther {
        file: PathBuf,
        name: String,
        source_dir: PathBuf,
        expected: String,
        actual: String,
    },
}

/// How a native F32 GGUF is made, for the messages that find it missing or stale.
const NATIVE_HELP: &str =
    "tools/fixtures/make-native-gguf.py makes it (see tools/fixtures/README.md)";

impl Unprepared {
    /// An artifact this one is made from was unavailable: the same call failed both.
    fn upstream(e: CheckError) -> Unprepared {
        let call = match &e {
            CheckError::ArtifactUnavailable { call, .. } => *call,
            _ => None,
        };
        Unprepared {
            reason: e.to_string(),
            call,
            interrupted: e.class() == tmgt_check::ErrorClass::Interrupted,
        }
    }

    fn into_error(self, model: &ModelUnderTest, kind: ArtifactKind) -> CheckError {
        if self.interrupted {
            return CheckError::Interrupted;
        }
        CheckError::ArtifactUnavailable {
            artifact: format!("{}/{kind}", model.name),
            reason: self.reason,
            call: self.call,
        }
    }
}

#[derive(Debug)]
pub struct Artifacts {
    dir: PathBuf,
    made: Memo<(String, ArtifactKind), Result<Prepared, Unprepared>>,
    source_keys: Memo<String, Result<String, PrepareError>>,
    /// This process's partial folders, removed (when empty) once the artifacts go away: a
    /// folder removed as soon as one conversion ends could vanish under another's.
    partial_folders: Mutex<BTreeSet<PathBuf>>,
}

impl Drop for Artifacts {
    fn drop(&mut self) {
        let folders = self
            .partial_folders
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        for folder in folders.iter() {
            let _ = std::fs::remove_dir(folder);
        }
    }
}

impl Artifacts {
    pub fn new(dir: PathBuf) -> Artifacts {
        Artifacts {
            dir,
            made: Memo::default(),
            source_keys: Memo::default(),
            partial_folders: Mutex::default(),
        }
    }

    /// Where a file is made before it is renamed to `final_path`: a folder of this process
    /// beside it, under the final file name. apr records the output's file stem in the
    /// model's metadata (`general.name`), so a temporary file *name* would leak into the
    /// artifact and make the bytes of every conversion differ.
    fn partial_path(&self, final_path: &Path) -> Result<PathBuf, PrepareError> {
        let (Some(folder), Some(name)) = (final_path.parent(), final_path.file_name()) else {
            return Err(PrepareError::NoFolder(final_path.to_path_buf()));
        };
        let partial_folder = folder.join(format!(".partial-{}", std::process::id()));
        create_dir(&partial_folder)?;
        let partial = partial_folder.join(name);
        let _ = std::fs::remove_file(&partial);
        self.partial_folders
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(partial_folder);
        Ok(partial)
    }

    /// The artifact, made now if this run has not made or found it yet. The error names
    /// apr's failure so every check that needed the artifact can say why it is missing.
    /// The second value says whether this request is the one that made (or found) it.
    pub fn get(
        &self,
        engine: &Engine,
        model: &ModelUnderTest,
        kind: ArtifactKind,
    ) -> Result<(Prepared, bool), CheckError> {
        if let Some(file) = &model.provided {
            return provided(file, model, kind).map(|path| {
                let prepared = Prepared {
                    path,
                    cached: true,
                    call: None,
                };
                (prepared, false)
            });
        }
        let (prepared, here) = self.made.get_or_init((model.name.clone(), kind), || {
            self.make(engine, model, kind)
        });
        prepared
            .map(|p| (p, here))
            .map_err(|u| u.into_error(model, kind))
    }

    fn make(
        &self,
        engine: &Engine,
        model: &ModelUnderTest,
        kind: ArtifactKind,
    ) -> Result<Prepared, Unprepared> {
        let (input, quant) = match kind {
            ArtifactKind::Apr(quant) => (self.source_input(model)?, Some(quant)),
            ArtifactKind::Gguf => (
                self.get(engine, model, ArtifactKind::Apr(Quant::F32))
                    .map_err(Unprepared::upstream)?
                    .0
                    .path,
                None,
            ),
            ArtifactKind::RoundTrip => (
                self.get(engine, model, ArtifactKind::Gguf)
                    .map_err(Unprepared::upstream)?
                    .0
                    .path,
                None,
            ),
            ArtifactKind::Native(_) => return Err(PrepareError::NotAprArtifact.into()),
        };
        let extension = if kind == ArtifactKind::Gguf {
            "gguf"
        } else {
            "apr"
        };
        let key = self.cache_key(engine, model, kind, &input)?;
        let folder = self.dir.join(&model.name);
        let final_path = folder.join(format!("{}-{kind}-{}.{extension}", model.name, &key[..16]));
        if final_path.is_file() {
            return Ok(Prepared {
                path: final_path,
                cached: true,
                call: None,
            });
        }
        // apr refused this exact input before: the same apr would refuse it again.
        let refused = final_path.with_extension("refused.txt");
        if let Ok(reason) = std::fs::read_to_string(&refused) {
            return Err(PrepareError::Remembered { reason, refused }.into());
        }
        create_dir(&folder)?;
        let partial = self.partial_path(&final_path)?;
        let invocation = match kind {
            ArtifactKind::Apr(q) => {
                Invocation::import(&input, &partial, quant.and_then(|_| q.apr_quantize()))
            }
            ArtifactKind::Gguf => Invocation::export_gguf(&input, &partial),
            ArtifactKind::RoundTrip => Invocation::import(&input, &partial, None),
            ArtifactKind::Native(_) => return Err(PrepareError::NotAprArtifact.into()),
        }
        .map_err(|e| PrepareError::Invocation(e.to_string()))?;
        let result = engine.call(&invocation);
        let outcome = match result {
            Ok((captured, UsedCall { id, .. })) => match captured.termination {
                Termination::Exited(0) if partial.is_file() => {
                    match std::fs::rename(&partial, &final_path) {
                        Ok(()) => {
                            engine.kept_as(id, &partial, &final_path);
                            Ok(Prepared {
                                path: final_path,
                                cached: false,
                                call: Some(id),
                            })
                        }
                        Err(e) => Err(PrepareError::Move {
                            path: partial.clone(),
                            reason: e.to_string(),
                        }
                        .into()),
                    }
                }
                Termination::Exited(0) => Err(Unprepared {
                    reason: format!(
                        "`{}` exited 0 but wrote no file (call #{id})",
                        invocation.display()
                    ),
                    call: Some(id),
                    interrupted: false,
                }),
                other => {
                    let reason = format!(
                        "`{}` failed ({}, call #{id}): {}",
                        invocation.display(),
                        crate::engine::describe(other),
                        captured.stderr_tail(4).trim()
                    );
                    // Only apr's own verdict is remembered, never a timeout or a signal.
                    if matches!(other, Termination::Exited(_)) {
                        let _ = tmgt_report::write_atomic(&refused, reason.as_bytes());
                    }
                    Err(Unprepared {
                        reason,
                        call: Some(id),
                        interrupted: matches!(other, Termination::Cancelled),
                    })
                }
            },
            Err(e) => Err(Unprepared::upstream(e)),
        };
        if outcome.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        outcome
    }

    /// llama.cpp's own GGUF of `model` at `level`: the committed F32 conversion under
    /// `native_root/<model>/` (checked against the model files it was converted from), or
    /// llama.cpp's quantization of it, made once into the cache (keyed by the F32 file's
    /// content, the level and the llama.cpp bindings version). No apr call is involved.
    pub fn native(
        &self,
        native_root: &Path,
        model: &ModelUnderTest,
        level: NativeGguf,
    ) -> Result<Prepared, CheckError> {
        let kind = ArtifactKind::Native(level);
        if model.provided.is_some() {
            return Err(CheckError::OutsideEntry(format!(
                "{} is checked as given; llama.cpp's native GGUFs are made from an HF folder",
                model.name
            )));
        }
        let (prepared, _) = self.made.get_or_init((model.name.clone(), kind), || {
            let (f32_path, f32_sha) = native_f32(native_root, model)?;
            match level {
                NativeGguf::F32 => Ok(Prepared {
                    path: f32_path,
                    cached: true,
                    call: None,
                }),
                NativeGguf::Q8_0 | NativeGguf::Q4_0 => self
                    .quantize_native(model, &f32_path, &f32_sha, level)
                    .map_err(Unprepared::from),
            }
        });
        prepared.map_err(|u| u.into_error(model, kind))
    }

    fn quantize_native(
        &self,
        model: &ModelUnderTest,
        f32_path: &Path,
        f32_sha: &str,
        level: NativeGguf,
    ) -> Result<Prepared, PrepareError> {
        let ftype = match level {
            NativeGguf::Q8_0 => llamacpp_runtime::Ftype::Q8_0,
            NativeGguf::Q4_0 => llamacpp_runtime::Ftype::Q4_0,
            NativeGguf::F32 => return Err(PrepareError::NotQuantized),
        };
        let mut h = Sha256::new();
        h.update(f32_sha.as_bytes());
        h.update(ftype.as_str().as_bytes());
        h.update(llamacpp_runtime::BINDINGS_VERSION.as_bytes());
        let key = hex::encode(h.finalize());
        let kind = ArtifactKind::Native(level);
        let folder = self.dir.join(&model.name);
        let final_path = folder.join(format!("{}-{kind}-{}.gguf", model.name, &key[..16]));
        if final_path.is_file() {
            return Ok(Prepared {
                path: final_path,
                cached: true,
                call: None,
            });
        }
        create_dir(&folder)?;
        let partial = self.partial_path(&final_path)?;
        let outcome = llamacpp_runtime::quantize(f32_path, &partial, ftype)
            .map_err(|e| PrepareError::Quantize(e.to_string()))
            .and_then(|()| {
                std::fs::rename(&partial, &final_path).map_err(|e| PrepareError::Move {
                    path: partial.clone(),
                    reason: e.to_string(),
                })
            });
        if outcome.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        outcome?;
        Ok(Prepared {
            path: final_path,
            cached: false,
            call: None,
        })
    }

    /// The path apr imports from: the model folder, or the hub id for hub models.
    fn source_input(&self, model: &ModelUnderTest) -> Result<PathBuf, PrepareError> {
        match &model.source {
            ModelSource::Local { dir } => Ok(dir.clone()),
            ModelSource::Hub { id } => Err(PrepareError::HubNotLocal {
                id: id.clone(),
                model: model.name.clone(),
            }),
        }
    }

    /// sha256 over the source content, the apr binary, and what is made from it.
    fn cache_key(
        &self,
        engine: &Engine,
        model: &ModelUnderTest,
        kind: ArtifactKind,
        input: &Path,
    ) -> Result<String, PrepareError> {
        let (source, _) = self
            .source_keys
            .get_or_init(model.name.clone(), || hash_source(input, model));
        let source = source?;
        let mut h = Sha256::new();
        h.update(ARTIFACT_LAYOUT.as_bytes());
        h.update(source.as_bytes());
        h.update(engine.apr_sha256().as_bytes());
        h.update(kind.to_string().as_bytes());
        Ok(hex::encode(h.finalize()))
    }
}

/// Content hash of a model folder: every file's name and bytes, in name order.
fn hash_source(input: &Path, model: &ModelUnderTest) -> Result<String, PrepareError> {
    let dir = match &model.source {
        ModelSource::Local { dir } => dir.as_path(),
        ModelSource::Hub { .. } => input,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| PrepareError::List {
            path: dir.to_path_buf(),
            reason: e.to_string(),
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut h = Sha256::new();
    for file in files {
        let digest = tmgt_oracle::sha256_file(&file).map_err(|e| PrepareError::Read {
            path: file.clone(),
            reason: e.to_string(),
        })?;
        h.update(file.file_name().unwrap_or_default().as_encoded_bytes());
        h.update(digest.as_bytes());
    }
    Ok(hex::encode(h.finalize()))
}

/// What `tools/fixtures/make-native-gguf.py` records beside each native F32 GGUF.
#[derive(Debug, serde::Deserialize)]
struct NativeProvenance {
    file: String,
    file_sha256: String,
    /// Model file name to sha256, as in the oracles' provenance.
    model_files: std::collections::BTreeMap<String, String>,
}

/// The committed native F32 GGUF of `model` and its sha256, refused when it was converted
/// from other model files than the ones configured (the fixture was regenerated since).
fn native_f32(
    native_root: &Path,
    model: &ModelUnderTest,
) -> Result<(PathBuf, String), PrepareError> {
    let dir = native_root.join(&model.name);
    let Some(source) = model.local_dir() else {
        return Err(PrepareError::NativeForHub {
            model: model.name.clone(),
        });
    };
    let provenance_path = dir.join("provenance.json");
    let text =
        std::fs::read_to_string(&provenance_path).map_err(|e| PrepareError::NativeMissing {
            path: provenance_path.clone(),
            reason: e.to_string(),
        })?;
    let provenance: NativeProvenance =
        serde_json::from_str(&text).map_err(|e| PrepareError::NotProvenance {
            path: provenance_path.clone(),
            reason: e.to_string(),
        })?;
    let file = dir.join(&provenance.file);
    let sha = tmgt_oracle::sha256_file(&file).map_err(|e| PrepareError::NativeMissing {
        path: file.clone(),
        reason: e.to_string(),
    })?;
    if sha != provenance.file_sha256 {
        return Err(PrepareError::NativeChanged {
            file,
            sha,
            recorded: provenance.file_sha256,
        });
    }
    if provenance.model_files.is_empty() {
        return Err(PrepareError::NoModelFiles(provenance_path));
    }
    for (name, expected) in &provenance.model_files {
        let path = source.join(name);
        let actual = tmgt_oracle::sha256_file(&path).map_err(|e| PrepareError::Read {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if &actual != expected {
            return Err(PrepareError::ConvertedFromOther {
                file,
                name: name.clone(),
                source_dir: source.to_path_buf(),
                expected: expected.clone(),
                actual,
            });
        }
    }
    Ok((file, sha))
}

fn create_dir(path: &Path) -> Result<(), PrepareError> {
    std::fs::create_dir_all(path).map_err(|e| PrepareError::Create {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// A model given as a ready-made file stands in for the artifact of its own format and level:
/// a `.gguf` for the GGUF, a `.apr` for the `.apr` of its single configured level. An instance
/// that needs any other artifact is outside the entry.
fn provided(
    file: &Path,
    model: &ModelUnderTest,
    kind: ArtifactKind,
) -> Result<PathBuf, CheckError> {
    let is = |ext: &str| file.extension().and_then(|e| e.to_str()) == Some(ext);
    let matches = match kind {
        ArtifactKind::Gguf => is("gguf"),
        ArtifactKind::Apr(q) => is("apr") && model.quants == [q],
        ArtifactKind::RoundTrip | ArtifactKind::Native(_) => false,
    };
    if matches {
        Ok(file.to_path_buf())
    } else {
        Err(CheckError::OutsideEntry(format!(
            "{} is checked as given; tmgt makes no {kind} for it",
            model.name
        )))
    }
}
