//! tmgt's own reading of a model's source `model.safetensors`: the header (names, dtypes,
//! shapes) and, on demand, one tensor's values as f32. Only the header and the asked-for
//! tensor are read, so a large local model costs no more than a tiny one.

use safetensors::tensor::{Dtype, Metadata};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use tmgt_check::{CheckError, Context};

/// The largest header tmgt accepts (the safetensors crate's own limit).
const MAX_HEADER_BYTES: u64 = 100_000_000;

/// Why a source safetensors file, or a tensor of it, could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot open {}: {source}", path.display())]
    Open { path: PathBuf, source: io::Error },
    #[error("{}: no safetensors header length: {source}", path.display())]
    NoHeaderLength { path: PathBuf, source: io::Error },
    #[error("{}: header of {len} bytes is implausible", path.display())]
    ImplausibleHeader { path: PathBuf, len: u64 },
    #[error("{}: truncated header: {source}", path.display())]
    TruncatedHeader { path: PathBuf, source: io::Error },
    #[error("{}: bad safetensors header: {source}", path.display())]
    BadHeader {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// The file's size could not be read; its message has never named the file.
    #[error(transparent)]
    Stat(io::Error),
    #[error("{}: header declares {declared} data bytes but the file holds {held}", path.display())]
    DataLength {
        path: PathBuf,
        declared: u64,
        held: u64,
    },
    #[error(
        "{} holds a sharded model; tmgt reads single-file safetensors only",
        dir.display()
    )]
    Sharded { dir: PathBuf },
    #[error("{} has no model.safetensors", dir.display())]
    Missing { dir: PathBuf },
    #[error("{} has no tensor `{name}`", path.display())]
    NoTensor { path: PathBuf, name: String },
    /// Seeking to a tensor failed; its message has never named the file.
    #[error(transparent)]
    Seek(io::Error),
    #[error("`{name}` has dtype {dtype:?}, which tmgt does not decode")]
    Undecodable { name: String, dtype: Dtype },
    #[error("{}: cannot read `{name}`: {source}", path.display())]
    ReadTensor {
        path: PathBuf,
        name: String,
        source: io::Error,
    },
}

/// One tensor as the source header declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceTensor {
    pub name: String,
    /// The safetensors dtype name (`F32`, `BF16`, ...).
    pub dtype: String,
    pub shape: Vec<usize>,
}

impl SourceTensor {
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A parsed `model.safetensors` header.
#[derive(Debug, Clone)]
pub struct SourceModel {
    path: PathBuf,
    /// Where the data section starts (8 + header length).
    data_start: u64,
    metadata: Metadata,
}

impl SourceModel {
    /// Reads the header of a `.safetensors` file.
    pub fn open(path: &Path) -> Result<SourceModel, SourceError> {
        let mut file = File::open(path).map_err(|source| SourceError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let mut len = [0u8; 8];
        file.read_exact(&mut len)
            .map_err(|source| SourceError::NoHeaderLength {
                path: path.to_path_buf(),
                source,
            })?;
        let header_len = u64::from_le_bytes(len);
        let header_size = usize::try_from(header_len)
            .ok()
            .filter(|_| header_len <= MAX_HEADER_BYTES)
            .ok_or_else(|| SourceError::ImplausibleHeader {
                path: path.to_path_buf(),
                len: header_len,
            })?;
        let mut header = vec![0u8; header_size];
        file.read_exact(&mut header)
            .map_err(|source| SourceError::TruncatedHeader {
                path: path.to_path_buf(),
                source,
            })?;
        let metadata: Metadata =
            serde_json::from_slice(&header).map_err(|source| SourceError::BadHeader {
                path: path.to_path_buf(),
                source,
            })?;
        let data_start = 8 + header_len;
        let file_len = file.metadata().map_err(SourceError::Stat)?.len();
        let data_len = metadata.data_len() as u64;
        if data_start + data_len != file_len {
            return Err(SourceError::DataLength {
                path: path.to_path_buf(),
                declared: data_len,
                held: file_len.saturating_sub(data_start),
            });
        }
        Ok(SourceModel {
            path: path.to_path_buf(),
            data_start,
            metadata,
        })
    }

    /// The `model.safetensors` of an HF folder. Sharded models are not read.
    pub fn open_dir(dir: &Path) -> Result<SourceModel, SourceError> {
        let single = dir.join("model.safetensors");
        if single.is_file() {
            return SourceModel::open(&single);
        }
        let dir = dir.to_path_buf();
        if dir.join("model.safetensors.index.json").is_file() {
            return Err(SourceError::Sharded { dir });
        }
        Err(SourceError::Missing { dir })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every tensor, sorted by name.
    pub fn tensors(&self) -> Vec<SourceTensor> {
        let mut out: Vec<SourceTensor> = self
            .metadata
            .tensors()
            .into_iter()
            .map(|(name, info)| SourceTensor {
                name,
                dtype: format!("{:?}", info.dtype),
                shape: info.shape.clone(),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    pub fn tensor(&self, name: &str) -> Option<SourceTensor> {
        self.metadata.info(name).map(|info| SourceTensor {
            name: name.to_string(),
            dtype: format!("{:?}", info.dtype),
            shape: info.shape.clone(),
        })
    }

    /// One tensor's values converted to f32, whole (the tests' view of [`Self::visit_f32`]).
    #[cfg(test)]
    pub fn read_f32(&self, name: &str) -> Result<Vec<f32>, SourceError> {
        let mut values = Vec::new();
        self.visit_f32(name, &mut |block| values.extend_from_slice(block))?;
        Ok(values)
    }

    /// Hands one tensor's values, converted to f32, to `each` a block at a time: a real
    /// model's token embedding is over 100 MB and is never held whole.
    pub fn visit_f32(&self, name: &str, each: &mut dyn FnMut(&[f32])) -> Result<(), SourceError> {
        let (info, width) = self.decodable(name)?;
        let (start, end) = info.data_offsets;
        let mut file = File::open(&self.path).map_err(|source| SourceError::Open {
            path: self.path.clone(),
            source,
        })?;
        file.seek(SeekFrom::Start(self.data_start + start as u64))
            .map_err(SourceError::Seek)?;
        let mut left = end - start;
        let mut bytes = vec![0u8; BLOCK.min(left) / width * width];
        while left > 0 {
            let n = bytes.len().min(left);
            file.read_exact(&mut bytes[..n])
                .map_err(|source| SourceError::ReadTensor {
                    path: self.path.clone(),
                    name: name.to_string(),
                    source,
                })?;
            if let Some(values) = decode(info.dtype, &bytes[..n]) {
                each(&values);
            }
            left -= n;
        }
        Ok(())
    }
}

impl SourceModel {
    /// The values `elements` (in row-major order) of one tensor, converted to f32: a slice of a
    /// tensor too large to hold whole.
    pub fn read_range(
        &self,
        name: &str,
        elements: std::ops::Range<usize>,
    ) -> Result<Vec<f32>, SourceError> {
        let (info, width) = self.decodable(name)?;
        let (start, end) = info.data_offsets;
        let from = start + elements.start * width;
        let to = start + elements.end * width;
        if elements.start > elements.end || to > end {
            return Err(SourceError::ReadTensor {
                path: self.path.clone(),
                name: name.to_string(),
                source: io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "values {elements:?} are outside its {} values",
                        (end - start) / width
                    ),
                ),
            });
        }
        let mut file = File::open(&self.path).map_err(|source| SourceError::Open {
            path: self.path.clone(),
            source,
        })?;
        let mut bytes = vec![0u8; to - from];
        file.seek(SeekFrom::Start(self.data_start + from as u64))
            .map_err(SourceError::Seek)?;
        file.read_exact(&mut bytes)
            .map_err(|source| SourceError::ReadTensor {
                path: self.path.clone(),
                name: name.to_string(),
                source,
            })?;
        Ok(decode(info.dtype, &bytes).unwrap_or_default())
    }

    /// A tensor's header entry and the bytes of one of its values, for a dtype tmgt decodes.
    fn decodable(
        &self,
        name: &str,
    ) -> Result<(&safetensors::tensor::TensorInfo, usize), SourceError> {
        let info = self
            .metadata
            .info(name)
            .ok_or_else(|| SourceError::NoTensor {
                path: self.path.clone(),
                name: name.to_string(),
            })?;
        let width = match info.dtype {
            Dtype::F32 => 4,
            Dtype::BF16 | Dtype::F16 => 2,
            dtype => {
                return Err(SourceError::Undecodable {
                    name: name.to_string(),
                    dtype,
                });
            }
        };
        Ok((info, width))
    }
}

/// Bytes of a tensor read at a time.
const BLOCK: usize = 1 << 20;

/// Little-endian floats to f32.
fn decode(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
    match dtype {
        Dtype::F32 => Some(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ),
        Dtype::BF16 => Some(
            bytes
                .chunks_exact(2)
                .map(|c| f32::from_bits(u32::from(u16::from_le_bytes([c[0], c[1]])) << 16))
                .collect(),
        ),
        Dtype::F16 => Some(
            bytes
                .chunks_exact(2)
                .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
        ),
        _ => None,
    }
}

/// IEEE 754 half to single precision, exactly (every half value is a single value).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let mant = u32::from(h & 0x3ff);
    let bits = match (exp, mant) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal: value = m * 2^-24.
            let v = m as f32 * f32::from_bits(0x3380_0000);
            return if sign != 0 { -v } else { v };
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 112) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

/// The source model of the instance, or `Ok(None)` for a hub model (tmgt has no local copy
/// to read; the caller skips).
pub fn source_model(cx: &dyn Context) -> Result<Option<SourceModel>, CheckError> {
    let model = cx.model()?;
    let Some(dir) = model.local_dir() else {
        return Ok(None);
    };
    SourceModel::open_dir(dir)
        .map(Some)
        .map_err(|e| CheckError::Input {
            what: format!("the source of {}", model.name),
            reason: e.to_string(),
        })
}

/// The skip reason for a model without a local source.
pub const NO_LOCAL_SOURCE: &str =
    "the model comes from the hub; tmgt reads the source safetensors of local models only";

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::tensor::TensorView;
    use std::collections::HashMap;

    pub(crate) fn write_model(
        dir: &Path,
        tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)],
    ) -> PathBuf {
        let views: HashMap<String, TensorView<'_>> = tensors
            .iter()
            .map(|(n, d, s, b)| {
                (
                    (*n).to_string(),
                    TensorView::new(*d, s.clone(), b).expect("valid view"),
                )
            })
            .collect();
        let path = dir.join("model.safetensors");
        safetensors::serialize_to_file(&views, None, &path).expect("write safetensors");
        path
    }

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn a_tensor_bigger_than_a_block_is_visited_in_blocks_and_its_stats_match_the_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let big: Vec<f32> = (0..700_001)
            .map(|i| (i % 977) as f32 * 0.25 - 60.0)
            .collect();
        let path = write_model(
            dir.path(),
            &[("w", Dtype::F32, vec![700_001], f32_bytes(&big))],
        );
        let m = SourceModel::open(&path).expect("open");
        let mut blocks = Vec::new();
        let mut seen = Vec::new();
        m.visit_f32("w", &mut |b| {
            blocks.push(b.len());
            seen.extend_from_slice(b);
        })
        .expect("visit");
        assert!(blocks.len() >= 3, "{blocks:?}");
        assert!(blocks.iter().all(|n| *n <= BLOCK / 4));
        assert_eq!(seen, big);
        let streamed = crate::stats::TensorStats::of_blocks(|each| m.visit_f32("w", each))
            .expect("read")
            .expect("finite");
        assert_eq!(Some(streamed), crate::stats::TensorStats::of(&big));
    }

    #[test]
    fn reads_header_and_one_tensor() {
        let dir = tempfile::tempdir().expect("tempdir");
        let emb: Vec<f32> = (0..12).map(|i| i as f32 * 0.5 - 1.0).collect();
        let norm = vec![1.0f32; 4];
        let bf16: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|x| ((x.to_bits() >> 16) as u16).to_le_bytes())
            .collect();
        let f16: Vec<u8> = [0x3c00u16, 0xc000, 0x0001]
            .iter()
            .flat_map(|h| h.to_le_bytes())
            .collect();
        write_model(
            dir.path(),
            &[
                (
                    "model.embed_tokens.weight",
                    Dtype::F32,
                    vec![3, 4],
                    f32_bytes(&emb),
                ),
                ("model.norm.weight", Dtype::F32, vec![4], f32_bytes(&norm)),
                ("b", Dtype::BF16, vec![2], bf16),
                ("h", Dtype::F16, vec![3], f16),
            ],
        );
        let m = SourceModel::open_dir(dir.path()).expect("open");
        let names: Vec<String> = m.tensors().into_iter().map(|t| t.name).collect();
        assert_eq!(
            names,
            ["b", "h", "model.embed_tokens.weight", "model.norm.weight"]
        );
        let t = m.tensor("model.embed_tokens.weight").expect("present");
        assert_eq!(
            (t.dtype.as_str(), t.shape.as_slice(), t.elements()),
            ("F32", &[3usize, 4][..], 12)
        );
        assert_eq!(m.read_f32("model.embed_tokens.weight").expect("read"), emb);
        assert_eq!(m.read_f32("model.norm.weight").expect("read"), norm);
        assert_eq!(m.read_f32("b").expect("read"), [1.5, -2.0]);
        let h = m.read_f32("h").expect("read");
        assert_eq!(&h[..2], &[1.0, -2.0]);
        assert!((h[2] - 5.960_464_5e-8).abs() < 1e-12);
        assert!(m.read_f32("missing").is_err());
    }

    #[test]
    fn rejects_missing_and_truncated_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(
            SourceModel::open_dir(dir.path())
                .unwrap_err()
                .to_string()
                .contains("no model.safetensors")
        );
        let path = write_model(
            dir.path(),
            &[("w", Dtype::F32, vec![8], f32_bytes(&[0.0; 8]))],
        );
        let bytes = std::fs::read(&path).expect("read");
        std::fs::write(&path, &bytes[..bytes.len() - 4]).expect("truncate");
        assert!(
            SourceModel::open(&path)
                .unwrap_err()
                .to_string()
                .contains("data bytes")
        );
        std::fs::write(&path, b"xx").expect("write");
        assert!(SourceModel::open(&path).is_err());
    }
}
