//! The damaged copies: which bytes each corruption family changes, derived from the file's
//! own layout (never from guessed offsets) and a fixed seed, so every run makes the same files.

use crate::layout::{APR_HEADER_LEN, Format, Layout, LayoutError};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The seed of the header byte flips ("tmgt" in ASCII).
const FLIP_SEED: u64 = 0x746d_6774;
/// The most bytes of a tensor overwritten with NaN or Inf (all of it for the tiny models).
const MAX_OVERWRITE: u64 = 16 * 1024 * 1024;

/// Why a damaged copy could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DamageError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// [`remake`] was asked for a label the file has no copy under.
    #[error(
        "no damaged copy `{label}` of {}: its copies are {}",
        original.display(),
        copies.join(", ")
    )]
    NoSuchCopy {
        label: String,
        original: PathBuf,
        copies: Vec<String>,
    },
}

/// Why a family has no damaged copy of a file: the check skips, with this as its reason.
#[derive(Debug, thiserror::Error)]
#[error("the {0} file has no float32 tensor to overwrite")]
pub struct NoF32Tensor(Format);

/// A kind of damage, as the corruption suite's checks are split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Cut inside the fixed header, the metadata, the tensor index, the tensor data, and one
    /// byte before the end of the last tensor.
    Truncated,
    /// The magic bytes reversed (the APR header checksum recomputed, so only the magic is
    /// wrong).
    Magic,
    /// A length field of the header wrong (APR: the metadata size past the end of the file and
    /// halved, checksum recomputed; GGUF: the key/value count impossible and one too many).
    HeaderLength,
    /// One byte of each numeric header field XORed with a seeded mask.
    HeaderFlip,
    /// Zero bytes.
    Empty,
    /// The intact file under the other format's extension.
    WrongExtension,
    /// The largest float32 tensor overwritten with NaN, then with +Inf.
    NonFinite,
    /// The largest tensor's type code replaced by one its format does not define: what a file
    /// made by a newer writer, or a type a reader has no decoder for, looks like to a reader.
    UnknownType,
}

/// A ggml type id no ggml defines (its ids end below 64).
pub const UNKNOWN_GGML_TYPE: u32 = 250;
/// An APR dtype code APR does not define (it uses 0 to 30, 128 and 129).
pub const UNKNOWN_APR_DTYPE: u8 = 200;

/// One damaged copy to make.
#[derive(Debug, Clone, PartialEq)]
pub struct Corruption {
    /// File stem and report label, kebab-case (`truncated-in-tensor-index`).
    pub label: String,
    /// What was done, for messages.
    pub description: String,
    pub extension: &'static str,
    edit: Edit,
}

#[derive(Debug, Clone, PartialEq)]
enum Edit {
    /// Keep this many leading bytes (only they are copied).
    Truncate(u64),
    /// Overwrite bytes at these offsets.
    Patch(Vec<(u64, Vec<u8>)>),
    /// Overwrite `len` bytes from `offset` with a repeated 4-byte value, written a block at a
    /// time (a real model's largest tensor is hundreds of megabytes).
    Fill {
        offset: u64,
        len: u64,
        value: [u8; 4],
    },
    /// An empty file.
    Empty,
    /// An unchanged copy.
    Copy,
}

/// The block the fill writes at a time.
const FILL_BLOCK: u64 = 64 * 1024;

impl Corruption {
    fn new(label: &str, description: String, extension: &'static str, edit: Edit) -> Corruption {
        Corruption {
            label: label.to_string(),
            description,
            extension,
            edit,
        }
    }

    /// The file name of the copy: its label and extension.
    pub fn file_name(&self) -> String {
        format!("{}.{}", self.label, self.extension)
    }

    /// Writes the damaged copy of `original` into `dir` and returns its path.
    pub fn write(&self, original: &Path, dir: &Path) -> Result<PathBuf, DamageError> {
        let path = dir.join(self.file_name());
        self.write_to(original, &path)?;
        Ok(path)
    }

    /// Writes the damaged copy of `original` at `path`. Only a truncation's kept bytes are
    /// read; patches and fills copy the file (the kernel's `copy_file_range`, no buffer in
    /// tmgt) and then write their bytes in place.
    pub fn write_to(&self, original: &Path, path: &Path) -> Result<(), DamageError> {
        let fail = |source: io::Error| DamageError::Write {
            path: path.to_path_buf(),
            source,
        };
        match &self.edit {
            Edit::Empty => std::fs::write(path, b"").map_err(fail)?,
            Edit::Copy => {
                std::fs::copy(original, path).map_err(fail)?;
            }
            Edit::Truncate(len) => {
                let source = File::open(original).map_err(|source| DamageError::Read {
                    path: original.to_path_buf(),
                    source,
                })?;
                let mut out = File::create(path).map_err(fail)?;
                io::copy(&mut source.take(*len), &mut out).map_err(fail)?;
            }
            Edit::Patch(patches) => {
                std::fs::copy(original, path).map_err(fail)?;
                let mut file = OpenOptions::new().write(true).open(path).map_err(fail)?;
                for (offset, bytes) in patches {
                    file.seek(SeekFrom::Start(*offset)).map_err(fail)?;
                    file.write_all(bytes).map_err(fail)?;
                }
            }
            Edit::Fill { offset, len, value } => {
                std::fs::copy(original, path).map_err(fail)?;
                let mut file = OpenOptions::new().write(true).open(path).map_err(fail)?;
                file.seek(SeekFrom::Start(*offset)).map_err(fail)?;
                let block: Vec<u8> = value
                    .iter()
                    .copied()
                    .cycle()
                    .take(FILL_BLOCK as usize)
                    .collect();
                let mut left = *len;
                while left > 0 {
                    let n = left.min(FILL_BLOCK);
                    file.write_all(&block[..n as usize]).map_err(fail)?;
                    left -= n;
                }
            }
        }
        Ok(())
    }
}

/// Every family, in the order the suite's checks are listed.
pub const FAMILIES: [Family; 8] = [
    Family::Truncated,
    Family::Magic,
    Family::HeaderLength,
    Family::HeaderFlip,
    Family::Empty,
    Family::WrongExtension,
    Family::NonFinite,
    Family::UnknownType,
];

/// The labels of every damaged copy the corruption suite makes of `original`, for
/// [`remake`]: what a test hands other readers to prove they survive the same damage.
pub fn labels(original: &Path) -> Result<Vec<String>, DamageError> {
    Ok(every_corruption(&Layout::read(original)?)
        .map(|c| c.label)
        .collect())
}

/// Every damaged copy of every family that applies to a file.
fn every_corruption(layout: &Layout) -> impl Iterator<Item = Corruption> + '_ {
    FAMILIES
        .iter()
        .filter_map(|f| corruptions(*f, layout).ok())
        .flatten()
}

/// Remakes the damaged copy labelled `label` of `original` at `out`: the copies are made from
/// the file's own layout, so the label and the artifact are all a ticket needs to name.
pub fn remake(original: &Path, label: &str, out: &Path) -> Result<String, DamageError> {
    let layout = Layout::read(original)?;
    let found = every_corruption(&layout).find(|c| c.label == label);
    let Some(corruption) = found else {
        let copies = every_corruption(&layout).map(|c| c.label).collect();
        return Err(DamageError::NoSuchCopy {
            label: label.to_string(),
            original: original.to_path_buf(),
            copies,
        });
    };
    corruption.write_to(original, out)?;
    Ok(corruption.description)
}

/// The damaged copies of one family for a file, and why there are none when there are none.
pub fn corruptions(family: Family, layout: &Layout) -> Result<Vec<Corruption>, NoF32Tensor> {
    let ext = layout.format.extension();
    let out = match family {
        Family::Truncated => truncations(layout),
        Family::Magic => {
            let magic = layout.format.magic();
            let reversed: Vec<u8> = magic.iter().rev().copied().collect();
            let patched = header_with(layout, &[(0, reversed.clone())]);
            vec![Corruption::new(
                "magic-reversed",
                format!(
                    "magic {:?} replaced by {:?}",
                    ascii(&magic),
                    ascii(&reversed)
                ),
                ext,
                Edit::Patch(vec![(0, patched)]),
            )]
        }
        Family::HeaderLength => header_lengths(layout),
        Family::HeaderFlip => flips(layout),
        Family::Empty => vec![Corruption::new(
            "empty",
            "an empty file".into(),
            ext,
            Edit::Empty,
        )],
        Family::WrongExtension => {
            let other = match layout.format {
                Format::Apr => Format::Gguf,
                Format::Gguf => Format::Apr,
            };
            vec![Corruption::new(
                "intact-wrong-extension",
                format!(
                    "the intact {} file named .{}",
                    layout.format,
                    other.extension()
                ),
                other.extension(),
                Edit::Copy,
            )]
        }
        Family::NonFinite => {
            let Some(tensor) = layout.largest_f32() else {
                return Err(NoF32Tensor(layout.format));
            };
            let len = (tensor.bytes.end - tensor.bytes.start).min(MAX_OVERWRITE) / 4 * 4;
            [("nan", f32::NAN), ("inf", f32::INFINITY)]
                .into_iter()
                .map(|(word, value)| {
                    Corruption::new(
                        &format!("tensor-{word}"),
                        format!(
                            "{} values of `{}` (F32) overwritten with {value}",
                            len / 4,
                            tensor.name
                        ),
                        ext,
                        Edit::Fill {
                            offset: tensor.bytes.start,
                            len,
                            value: value.to_le_bytes(),
                        },
                    )
                })
                .collect()
        }
        Family::UnknownType => {
            let Some(tensor) = layout
                .tensors
                .iter()
                .max_by_key(|t| t.bytes.end - t.bytes.start)
            else {
                return Ok(Vec::new());
            };
            let (code, bytes) = match layout.format {
                Format::Apr => (u32::from(UNKNOWN_APR_DTYPE), vec![UNKNOWN_APR_DTYPE]),
                Format::Gguf => (UNKNOWN_GGML_TYPE, UNKNOWN_GGML_TYPE.to_le_bytes().to_vec()),
            };
            vec![Corruption::new(
                "tensor-type-unknown",
                format!(
                    "the type of `{}` ({}) replaced by {code}, which {} does not define",
                    tensor.name, tensor.dtype, layout.format
                ),
                ext,
                Edit::Patch(vec![(tensor.type_at, bytes)]),
            )]
        }
    };
    Ok(out)
}

fn truncations(layout: &Layout) -> Vec<Corruption> {
    let ext = layout.format.extension();
    let header_len = layout.header.len() as u64;
    let mid = |r: &std::ops::Range<u64>| r.start + (r.end - r.start) / 2;
    let points = [
        ("truncated-in-header", header_len / 2, "the fixed header"),
        (
            "truncated-in-metadata",
            mid(&layout.metadata),
            "the metadata",
        ),
        (
            "truncated-in-tensor-index",
            mid(&layout.index),
            "the tensor index",
        ),
        (
            "truncated-in-tensor-data",
            mid(&layout.data),
            "the tensor data",
        ),
        (
            "truncated-in-last-tensor",
            layout.data.end.saturating_sub(1),
            "the last tensor (one byte short)",
        ),
    ];
    points
        .into_iter()
        .filter(|(_, at, _)| *at < layout.file_len)
        .map(|(label, at, inside)| {
            Corruption::new(
                label,
                format!("cut at byte {at} of {}, inside {inside}", layout.file_len),
                ext,
                Edit::Truncate(at),
            )
        })
        .collect()
}

fn header_lengths(layout: &Layout) -> Vec<Corruption> {
    let ext = layout.format.extension();
    match layout.format {
        Format::Apr => {
            let size = layout.metadata.end - layout.metadata.start;
            let past_eof = u32::try_from(layout.file_len).unwrap_or(u32::MAX);
            let half = u32::try_from(size / 2).unwrap_or(u32::MAX);
            [
                (
                    "metadata-size-past-eof",
                    past_eof,
                    "past the end of the file",
                ),
                ("metadata-size-halved", half, "half its length"),
            ]
            .into_iter()
            .map(|(label, value, what)| {
                Corruption::new(
                    label,
                    format!(
                        "metadata_size {size} set to {value} ({what}), header checksum recomputed"
                    ),
                    ext,
                    Edit::Patch(vec![(
                        0,
                        header_with(layout, &[(20, value.to_le_bytes().to_vec())]),
                    )]),
                )
            })
            .collect()
        }
        Format::Gguf => {
            let count = u64::from_le_bytes(layout.header[16..24].try_into().unwrap_or([0; 8]));
            [
                (
                    "kv-count-impossible",
                    1u64 << 40,
                    "more keys than the file could hold",
                ),
                (
                    "kv-count-one-too-many",
                    count + 1,
                    "one key more than there are",
                ),
            ]
            .into_iter()
            .map(|(label, value, what)| {
                Corruption::new(
                    label,
                    format!("kv_count {count} set to {value} ({what})"),
                    ext,
                    Edit::Patch(vec![(16, value.to_le_bytes().to_vec())]),
                )
            })
            .collect()
        }
    }
}

fn flips(layout: &Layout) -> Vec<Corruption> {
    let ext = layout.format.extension();
    let mut rng = SplitMix64(FLIP_SEED);
    layout
        .fields
        .iter()
        .map(|field| {
            let at = field.offset + rng.next() % field.len;
            let mask = (rng.next() % 255 + 1) as u8;
            let before = layout.header[at as usize];
            Corruption::new(
                &format!("flipped-{}", field.name.replace('_', "-")),
                format!(
                    "header byte {at} ({}) {before:#04x} XOR {mask:#04x} = {:#04x}",
                    field.name,
                    before ^ mask
                ),
                ext,
                Edit::Patch(vec![(at, vec![before ^ mask])]),
            )
        })
        .collect()
}

/// The fixed header with `patches` applied; for APR its checksum is recomputed so that only
/// the patched fields are wrong.
fn header_with(layout: &Layout, patches: &[(usize, Vec<u8>)]) -> Vec<u8> {
    let mut header = layout.header.clone();
    for (at, bytes) in patches {
        header[*at..at + bytes.len()].copy_from_slice(bytes);
    }
    if layout.format == Format::Apr && header.len() as u64 == APR_HEADER_LEN {
        let mut covered = header[..40].to_vec();
        covered.extend_from_slice(&header[44..64]);
        header[40..44].copy_from_slice(&crc32(&covered).to_le_bytes());
    }
    header
}

/// IEEE CRC-32 (zlib's), as APR v2 checksums its header. Bitwise: it runs over 60 bytes.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFF_u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn ascii(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// SplitMix64: a fixed, portable sequence for the flips.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{HeaderField, TensorSpan};

    #[test]
    fn crc32_matches_zlib() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    fn apr_layout() -> Layout {
        let mut header = vec![0u8; 64];
        header[..4].copy_from_slice(b"APR\0");
        header[20..24].copy_from_slice(&100u32.to_le_bytes());
        Layout {
            format: Format::Apr,
            file_len: 1000,
            header,
            fields: vec![
                HeaderField {
                    name: "tensor_count",
                    offset: 8,
                    len: 4,
                },
                HeaderField {
                    name: "checksum",
                    offset: 40,
                    len: 4,
                },
            ],
            metadata: 64..164,
            index: 164..300,
            data: 320..996,
            tensors: vec![TensorSpan {
                name: "w".into(),
                dtype: "F32".into(),
                is_f32: true,
                type_at: 300,
                bytes: 320..336,
            }],
        }
    }

    #[test]
    fn truncations_fall_inside_each_section() {
        let l = apr_layout();
        let cuts: Vec<(String, Edit)> = corruptions(Family::Truncated, &l)
            .unwrap()
            .into_iter()
            .map(|c| (c.label, c.edit))
            .collect();
        assert_eq!(
            cuts.iter().map(|(_, e)| e.clone()).collect::<Vec<_>>(),
            [32, 114, 232, 658, 995].map(Edit::Truncate).to_vec()
        );
        assert!(cuts.iter().all(|(l, _)| l.starts_with("truncated-in-")));
    }

    #[test]
    fn header_edits_keep_the_checksum_valid_and_flips_are_fixed() {
        let l = apr_layout();
        let c = &corruptions(Family::HeaderLength, &l).unwrap()[0];
        let Edit::Patch(p) = &c.edit else { panic!() };
        let h = &p[0].1;
        assert_eq!(&h[20..24], &1000u32.to_le_bytes());
        let mut covered = h[..40].to_vec();
        covered.extend_from_slice(&h[44..64]);
        assert_eq!(&h[40..44], &crc32(&covered).to_le_bytes());
        let a = corruptions(Family::HeaderFlip, &l).unwrap();
        let b = corruptions(Family::HeaderFlip, &l).unwrap();
        assert_eq!(a, b, "flips are deterministic");
        assert_eq!(a.len(), 2);
        for (c, field) in a.iter().zip(&l.fields) {
            let Edit::Patch(p) = &c.edit else { panic!() };
            let (at, bytes) = &p[0];
            assert!((field.offset..field.offset + field.len).contains(at));
            assert_ne!(bytes[0], l.header[*at as usize]);
        }
    }

    #[test]
    fn non_finite_overwrites_the_f32_tensor_and_files_are_written() {
        let l = apr_layout();
        let c = corruptions(Family::NonFinite, &l).unwrap();
        assert_eq!(c.len(), 2);
        let dir = tempfile::tempdir().unwrap();
        let original = dir.path().join("o.apr");
        std::fs::write(&original, vec![1u8; 1000]).unwrap();
        let path = c[0].write(&original, dir.path()).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 1000);
        assert!(f32::from_le_bytes(bytes[320..324].try_into().unwrap()).is_nan());
        assert_eq!(bytes[336], 1);
        let cut = corruptions(Family::Truncated, &l).unwrap()[0]
            .write(&original, dir.path())
            .unwrap();
        assert_eq!(std::fs::metadata(cut).unwrap().len(), 32);
        let mut no_f32 = l.clone();
        no_f32.tensors[0].is_f32 = false;
        assert!(corruptions(Family::NonFinite, &no_f32).is_err());
        let ext = corruptions(Family::WrongExtension, &l).unwrap();
        assert_eq!(ext[0].extension, "gguf");
    }
}
