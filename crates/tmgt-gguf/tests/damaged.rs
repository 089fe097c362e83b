//! A damaged GGUF is an error, never a panic: byte flips anywhere in the header, metadata and
//! tensor index of a real file, and cuts at any length, read and dequantized tensor by tensor.
//! tmgt reads files it is handed to judge, inside its own process; a panic here would cost a
//! result, an abort the run.

use proptest::prelude::*;
use std::path::{Path, PathBuf};
use tmgt_gguf::GgufFile;

fn native(model: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../native")
        .join(model)
        .join("f32.gguf")
}

/// Opens `bytes` as a GGUF and reads every tensor; what matters is that it returns.
fn read_all(bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.gguf");
    std::fs::write(&path, bytes).unwrap();
    if let Ok(file) = GgufFile::open(&path) {
        for tensor in file.tensors() {
            let _ = file.read_f32(tensor);
        }
    }
}

/// Where the tensor data starts: flips before it reach the parser, flips after it only values.
fn header_len(path: &Path) -> usize {
    usize::try_from(GgufFile::open(path).unwrap().data_offset()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn flipped_header_bytes_are_errors_not_panics(
        model in prop::sample::select(vec!["tiny-llama", "tiny-qwen2", "tiny-gpt2"]),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..8),
    ) {
        let mut bytes = std::fs::read(native(model)).unwrap();
        let header = header_len(&native(model));
        for (at, mask) in flips {
            bytes[at.index(header)] ^= mask;
        }
        read_all(&bytes);
    }

    #[test]
    fn a_cut_anywhere_is_an_error_not_a_panic(
        model in prop::sample::select(vec!["tiny-llama", "tiny-qwen2", "tiny-gpt2"]),
        keep in any::<prop::sample::Index>(),
    ) {
        let bytes = std::fs::read(native(model)).unwrap();
        read_all(&bytes[..keep.index(bytes.len())]);
    }
}
