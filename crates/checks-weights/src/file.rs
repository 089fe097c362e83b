//! A converted file's tensors, APR v2 or GGUF alike: names, numpy-order shapes, how each is
//! stored, and its values as float32, read one tensor at a time by tmgt's own readers.

use crate::map::Target;
use std::fmt;
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use tmgt_apr::{AprDtype, AprFile, Packing};
use tmgt_gguf::{GgmlType, GgufFile};

/// Why a file's tensors could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} has no tensor `{name}`", path.display())]
    NoTensor { path: PathBuf, name: String },
    #[error("{} is neither APR v2 nor GGUF (magic {magic:02x?})", path.display())]
    UnknownFormat { path: PathBuf, magic: [u8; 4] },
    #[error(transparent)]
    Apr(#[from] tmgt_apr::AprError),
    #[error(transparent)]
    Gguf(#[from] tmgt_gguf::GgufError),
}

/// How a tensor's values are stored, which sets how far they may depart from the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    F32,
    F16,
    BF16,
    /// apr's 8-bit format: one scale for the whole tensor.
    AprQ8,
    /// apr's 4-bit format: a scale per 32 values, blocks running over the values in order.
    AprQ4,
    /// ggml blocks over rows of `row` values, each zero-padded to `padded` before blocking
    /// (a GGUF's rows are whole blocks; apr may quantize a tensor as one flat row).
    Ggml {
        kind: GgmlType,
        row: usize,
        padded: usize,
    },
}

impl fmt::Display for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Storage::F32 => f.write_str("F32"),
            Storage::F16 => f.write_str("F16"),
            Storage::BF16 => f.write_str("BF16"),
            Storage::AprQ8 => f.write_str("APR_Q8"),
            Storage::AprQ4 => f.write_str("APR_Q4"),
            Storage::Ggml { kind, .. } => write!(f, "{kind}"),
        }
    }
}

/// One tensor of a converted file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTensor {
    pub name: String,
    /// numpy order (a GGUF's dims reversed).
    pub shape: Vec<usize>,
    /// `Err` with the type's name when tmgt cannot decode it.
    pub storage: Result<Storage, String>,
}

/// An opened `.apr` or `.gguf`.
#[derive(Debug)]
pub struct ConvertedFile {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Apr(AprFile),
    Gguf(GgufFile),
}

impl ConvertedFile {
    /// Opens either format, by its magic.
    pub fn open(path: &Path) -> Result<ConvertedFile, FileError> {
        let mut magic = [0u8; 4];
        std::fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut magic))
            .map_err(|source| FileError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        let inner = match &magic {
            b"APR\0" => Inner::Apr(AprFile::open(path)?),
            b"GGUF" => Inner::Gguf(GgufFile::open(path)?),
            _ => {
                return Err(FileError::UnknownFormat {
                    path: path.to_path_buf(),
                    magic,
                });
            }
        };
        Ok(ConvertedFile { inner })
    }

    /// Which map of names and layouts the file follows: a GGUF's is llama.cpp's; an `.apr`
    /// apr imported from a GGUF keeps llama.cpp's names, and with them llama.cpp's layout.
    pub fn target(&self) -> Target {
        match &self.inner {
            Inner::Apr(f) if !f.tensors().iter().any(|t| is_llama_cpp_name(&t.name)) => Target::Apr,
            _ => Target::Gguf,
        }
    }

    pub fn tensors(&self) -> Vec<StoredTensor> {
        match &self.inner {
            Inner::Apr(f) => f
                .tensors()
                .iter()
                .map(|t| StoredTensor {
                    name: t.name.clone(),
                    shape: t.shape.iter().map(|&d| d as usize).collect(),
                    storage: apr_storage(t),
                })
                .collect(),
            Inner::Gguf(f) => f
                .tensors()
                .iter()
                .map(|t| StoredTensor {
                    name: t.name.clone(),
                    shape: t.dims.iter().rev().map(|&d| d as usize).collect(),
                    storage: ggml_storage(t.kind, t.dims.first().copied().unwrap_or(1) as usize),
                })
                .collect(),
        }
    }

    /// Values `elements` of one tensor, in row-major order of its numpy shape.
    pub fn read_range(&self, name: &str, elements: Range<usize>) -> Result<Vec<f32>, FileError> {
        let range = elements.start as u64..elements.end as u64;
        match &self.inner {
            Inner::Apr(f) => {
                let t = f.tensor(name).ok_or_else(|| missing(f.path(), name))?;
                Ok(f.read_f32_range(t, range)?)
            }
            Inner::Gguf(f) => {
                let t = f.tensor(name).ok_or_else(|| missing(f.path(), name))?;
                Ok(f.read_f32_range(t, range)?)
            }
        }
    }
}

fn is_llama_cpp_name(name: &str) -> bool {
    name == "token_embd.weight" || name.starts_with("blk.")
}

fn missing(path: &Path, name: &str) -> FileError {
    FileError::NoTensor {
        path: path.to_path_buf(),
        name: name.to_string(),
    }
}

fn apr_storage(t: &tmgt_apr::AprTensor) -> Result<Storage, String> {
    match t.dtype {
        AprDtype::F32 => Ok(Storage::F32),
        AprDtype::F16 => Ok(Storage::F16),
        AprDtype::BF16 => Ok(Storage::BF16),
        AprDtype::AprQ8 => Ok(Storage::AprQ8),
        AprDtype::AprQ4 => Ok(Storage::AprQ4),
        AprDtype::Q4K | AprDtype::Q6K => {
            let kind = t.dtype.ggml().ok_or_else(|| t.dtype.to_string())?;
            let row = t.shape.last().copied().unwrap_or(1) as usize;
            match t.packing() {
                Some(Packing::RowPadded { padded, .. }) => Ok(Storage::Ggml {
                    kind,
                    row,
                    padded: padded as usize,
                }),
                // Blocks over all values in order: the whole tensor is one padded row.
                Some(Packing::Flat) => {
                    let all = t.elements() as usize;
                    let block = kind.block().map_or(1, |(b, _)| b as usize);
                    Ok(Storage::Ggml {
                        kind,
                        row: all,
                        padded: all.div_ceil(block) * block,
                    })
                }
                None => Err(format!("{} with a size that fits no packing", t.dtype)),
            }
        }
        other => Err(other.to_string()),
    }
}

fn ggml_storage(kind: GgmlType, row: usize) -> Result<Storage, String> {
    match kind {
        GgmlType::F32 => Ok(Storage::F32),
        GgmlType::F16 => Ok(Storage::F16),
        GgmlType::BF16 => Ok(Storage::BF16),
        other if other.block().is_some() => Ok(Storage::Ggml {
            kind: other,
            row,
            padded: row,
        }),
        other => Err(other.to_string()),
    }
}
