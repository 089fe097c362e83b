use std::path::PathBuf;

/// Why an APR file, or one of its tensors, could not be read. Every message names the file
/// and the byte or tensor it tripped on: tmgt reads damaged files on purpose.
#[derive(Debug, thiserror::Error)]
pub enum AprError {
    #[error("{path}: {context}: {source}")]
    Io {
        path: PathBuf,
        context: String,
        source: std::io::Error,
    },
    #[error("{path}: not an APR v2 file (magic {found:02x?} at byte 0, expected \"APR\\0\")")]
    BadMagic { path: PathBuf, found: [u8; 4] },
    #[error("{path}: {problem} (at byte {offset})")]
    Malformed {
        path: PathBuf,
        offset: u64,
        problem: String,
    },
    #[error(
        "{path}: header flags {flags:#06x} say the tensor data is {what}; tmgt reads plain \
         tensor data only (write the file without compression to check its weights)"
    )]
    Encoded {
        path: PathBuf,
        flags: u16,
        what: &'static str,
    },
    #[error("{path}: tensor {tensor}: dtype {dtype} holds no float weights tmgt decodes")]
    UnsupportedDtype {
        path: PathBuf,
        tensor: String,
        dtype: crate::AprDtype,
    },
    #[error("{path}: tensor {tensor}: {reason}")]
    BadTensor {
        path: PathBuf,
        tensor: String,
        reason: String,
    },
}
