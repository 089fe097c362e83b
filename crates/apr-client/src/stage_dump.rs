//! The stage tensors `apr trace --save-tensor` writes (apr 0.72.3, `realizar`
//! `inference_trace/save_tensor.rs`).
//!
//! Layout of one file, little-endian throughout:
//!
//! | bytes   | field                                                             |
//! |---------|-------------------------------------------------------------------|
//! | 0..4    | magic `APRT`                                                      |
//! | 4..8    | u32 layer index, `0xFFFFFFFF` for `final_norm` and `lm_head`      |
//! | 8..12   | u32 element count N                                               |
//! | 12..    | N f32 values (NaN and infinities kept as they are)               |
//!
//! No shape is stored: the reader of a stage rebuilds it from the model's configuration and
//! the number of traced tokens. Files are named `layer-K/<stage>.bin`, except `final_norm.bin`
//! and `lm_head.bin` at the top of the folder.

use std::path::{Path, PathBuf};

const MAGIC: &[u8; 4] = b"APRT";
const HEADER: usize = 12;
const NO_LAYER: u32 = u32::MAX;

/// One dumped stage.
#[derive(Clone, Debug, PartialEq)]
pub struct StageDump {
    /// The layer it belongs to (`None` for `final_norm` and `lm_head`).
    pub layer: Option<u32>,
    pub values: Vec<f32>,
}

/// Why a stage file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum StageDumpError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not an apr stage dump (expected the magic `APRT`, found {found:02x?})")]
    Magic { path: PathBuf, found: Vec<u8> },
    #[error(
        "{path}: the header announces {count} values ({expected} bytes) but the file has {actual}"
    )]
    Length {
        path: PathBuf,
        count: u32,
        expected: usize,
        actual: usize,
    },
}

/// Reads one stage file.
///
/// # Errors
/// The file cannot be read, lacks the magic, or its length disagrees with its count.
pub fn read(path: &Path) -> Result<StageDump, StageDumpError> {
    let bytes = std::fs::read(path).map_err(|source| StageDumpError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &bytes)
}

fn parse(path: &Path, bytes: &[u8]) -> Result<StageDump, StageDumpError> {
    if bytes.len() < HEADER || &bytes[..4] != MAGIC {
        return Err(StageDumpError::Magic {
            path: path.to_path_buf(),
            found: bytes[..bytes.len().min(4)].to_vec(),
        });
    }
    let word =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let layer = word(4);
    let count = word(8);
    let expected = HEADER + 4 * count as usize;
    if bytes.len() != expected {
        return Err(StageDumpError::Length {
            path: path.to_path_buf(),
            count,
            expected,
            actual: bytes.len(),
        });
    }
    let values = bytes[HEADER..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok(StageDump {
        layer: (layer != NO_LAYER).then_some(layer),
        values,
    })
}

/// Where apr writes `stage` of `layer` (`None`: the model-level stages) under `dir`.
#[must_use]
pub fn path(dir: &Path, layer: Option<u32>, stage: &str) -> PathBuf {
    match layer {
        Some(k) => dir.join(format!("layer-{k}")).join(format!("{stage}.bin")),
        None => dir.join(format!("{stage}.bin")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(layer: u32, values: &[f32]) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        b.extend(layer.to_le_bytes());
        b.extend(u32::try_from(values.len()).unwrap().to_le_bytes());
        for v in values {
            b.extend(v.to_le_bytes());
        }
        b
    }

    #[test]
    fn reads_layer_and_values_and_keeps_non_finite_values() {
        let p = Path::new("/t/layer-3/attn_norm.bin");
        let dump = parse(p, &file(3, &[1.5, f32::NAN, -0.0])).unwrap();
        assert_eq!(dump.layer, Some(3));
        assert_eq!(dump.values[0], 1.5);
        assert!(dump.values[1].is_nan());
        assert_eq!(dump.values[2].to_bits(), (-0.0f32).to_bits());
        let head = parse(Path::new("/t/lm_head.bin"), &file(NO_LAYER, &[2.0])).unwrap();
        assert_eq!(head.layer, None);
    }

    #[test]
    fn refuses_a_foreign_or_cut_file_naming_it() {
        let p = Path::new("/t/x.bin");
        let err = parse(p, b"GGUF\0\0\0\0\0\0\0\0").unwrap_err();
        assert!(err.to_string().contains("/t/x.bin") && err.to_string().contains("APRT"));
        let mut cut = file(0, &[1.0, 2.0]);
        cut.pop();
        let err = parse(p, &cut).unwrap_err();
        assert!(matches!(
            err,
            StageDumpError::Length {
                count: 2,
                expected: 20,
                actual: 19,
                ..
            }
        ));
    }

    #[test]
    fn names_files_as_apr_does() {
        let d = Path::new("/d");
        assert_eq!(
            path(d, Some(1), "qkv_matmul"),
            Path::new("/d/layer-1/qkv_matmul.bin")
        );
        assert_eq!(path(d, None, "lm_head"), Path::new("/d/lm_head.bin"));
    }
}
